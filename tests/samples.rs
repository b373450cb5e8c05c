//! The sample plugins behave as the seed's examples they follow, in process
//! and isolated.

#[macro_use]
mod common;

use common::Sandbox;
use plinth::State;
use plinth_abi::json;
use plinth_abi::methods::plugin as m;

fn helloworld_follows_the_seeds_simple_api_settings_template_and_asset_examples_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("helloworld");
    let pm = sb.manager();
    pm.start("127.0.0.1", 5000);
    let info = pm.plugin("helloworld").unwrap();
    assert_eq!(info.state, State::Enabled, "{:?}", info.error);
    assert_eq!(
        info.mixins,
        [
            "Startup",
            "Shutdown",
            "Settings",
            "Template",
            "Asset",
            "SimpleApi"
        ]
    );

    let commands = pm.call::<m::GetApiCommands>("helloworld", &()).unwrap();
    assert_eq!(
        serde_json::to_value(commands).unwrap(),
        json!({"command1": [], "command2": ["some_parameter"]})
    );
    let get = pm
        .call::<m::OnApiGet>("helloworld", &Default::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            get.status,
            serde_json::from_slice::<plinth_abi::Value>(&get.body).unwrap()
        ),
        (200, json!({"foo": "bar"}))
    );
    let none = pm
        .call::<m::OnApiCommand>(
            "helloworld",
            &("command1".into(), json!({"command": "command1"})),
        )
        .unwrap();
    assert_eq!(none, None);

    let defaults = pm
        .call::<m::GetSettingsDefaults>("helloworld", &())
        .unwrap();
    assert_eq!(
        defaults,
        json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}})
    );

    let assets = pm.call::<m::GetAssets>("helloworld", &()).unwrap();
    for (kind, files) in &assets {
        for file in files {
            let bytes = pm.embedded_file("helloworld", &format!("static/{file}"));
            assert!(
                bytes.is_some_and(|b| !b.is_empty()),
                "{kind}: {file} is not embedded"
            );
        }
    }
    for t in ["navbar", "tab", "settings"] {
        let name = format!("templates/helloworld_{t}.jinja2");
        assert!(pm.embedded_file("helloworld", &name).is_some(), "{name}");
    }
    pm.shutdown();
}

fn myblueprintplugin_declares_the_seeds_blueprint_routes_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("myblueprintplugin");
    let pm = sb.manager();
    pm.start("127.0.0.1", 5000);
    let id = "myblueprintplugin";
    let spec = pm.call::<m::GetBlueprintSpec>(id, &()).unwrap();
    let rules: Vec<_> = spec
        .routes
        .iter()
        .map(|r| (r.methods[0].as_str(), r.rule.as_str(), r.csrf_exempt))
        .collect();
    assert_eq!(
        rules,
        [
            ("GET", "/echo", false),
            ("GET", "/hello_world", false),
            ("POST", "/hello_you", false),
            ("POST", "/hello_me", true)
        ]
    );
    assert!(pm.call::<m::IsBlueprintCsrfProtected>(id, &()).unwrap());
    let mut request = plinth_abi::Request {
        method: "GET".into(),
        path: "/echo".into(),
        ..Default::default()
    };
    request.query.insert("text".into(), "ping".into());
    let reply = pm
        .call::<m::HandleBlueprintRoute>(id, &(0, request.clone()))
        .unwrap();
    assert_eq!((reply.status, reply.body), (200, b"ping".to_vec()));
    request.query.clear();
    let reply = pm
        .call::<m::HandleBlueprintRoute>(id, &(0, request))
        .unwrap();
    assert_eq!(
        (reply.status, reply.body),
        (400, b"Expected a text to echo back.".to_vec())
    );
    pm.shutdown();
}

fn greeter_and_wordsmith_share_a_hook_and_a_helper_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("greeter").bundle_sample("wordsmith");
    let pm = sb.manager();
    pm.start("127.0.0.1", 5000);
    let replies = pm.call_hook("sample.greeting", &json!({}));
    let answers: Vec<_> = replies
        .iter()
        .map(|r| (r.plugin.as_str(), r.result.clone().unwrap()))
        .collect();
    assert_eq!(
        answers,
        [
            ("wordsmith", json!("wordsmith says hello")),
            ("greeter", json!("greeter says hello"))
        ]
    );
    assert_eq!(
        pm.call_helper("wordsmith", "shout", &json!({"text": "hi"}))
            .unwrap(),
        json!("HI")
    );
    let err = pm
        .call_helper("wordsmith", "shout", &json!({}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("failed"), "{err}");
    pm.shutdown();
}

in_both_modes! {
    helloworld_follows_the_seeds_simple_api_settings_template_and_asset_examples => helloworld_follows_the_seeds_simple_api_settings_template_and_asset_examples_in,
    myblueprintplugin_declares_the_seeds_blueprint_routes => myblueprintplugin_declares_the_seeds_blueprint_routes_in,
    greeter_and_wordsmith_share_a_hook_and_a_helper => greeter_and_wordsmith_share_a_hook_and_a_helper_in,
}
