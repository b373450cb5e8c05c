//! The Hello World plugin in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

fn host() -> TestHost {
    TestHost::start(plinth_testkit::plugin_library!()).unwrap()
}

#[test]
fn it_greets_at_start_up_with_its_settings() {
    let host = host();
    let logs: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Hello World! (listening on")),
        "{logs:?}"
    );
    assert!(
        logs.contains(&"some_setting = foo, some_value = 23, sub.some_flag = true".to_owned()),
        "{logs:?}"
    );
}

#[test]
fn the_simple_api_answers_and_checks_its_parameters() {
    let host = host();
    let answer = host.api_get(&[]).unwrap().unwrap();
    assert_eq!(answer.body_json().unwrap(), json!({"foo": "bar"}));
    host.api_command("command2", json!({"some_parameter": "x"}))
        .unwrap();
    assert!(host
        .logs()
        .iter()
        .any(|l| l.message == "command2 called, some_parameter is x"));
    let err = host.api_command("command2", json!({})).unwrap_err();
    assert!(err.to_string().contains("some_parameter"), "{err}");
}

#[test]
fn only_what_differs_from_the_defaults_is_stored() {
    let host = host();
    host.set_setting(&["some_value"], json!(23)).unwrap();
    assert_eq!(host.stored_settings(), json!({}));
    host.set_setting(&["some_value"], json!(42)).unwrap();
    assert_eq!(host.setting(&["some_value"]), Some(json!(42)));
    assert_eq!(host.stored_settings(), json!({"some_value": 42}));
}
