//! The seed's UiPlugin in a real host (plinth-testkit).

use plinth_testkit::{json, methods, Request, TestHost};

fn request(user_agent: &str) -> Request {
    let mut request = Request {
        method: "GET".into(),
        path: "/".into(),
        ..Request::default()
    };
    request
        .headers
        .insert("user-agent".into(), user_agent.into());
    request
}

#[test]
fn phones_get_its_page_and_desktops_do_not() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let pm = host.manager();
    let iphone = request("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)");
    let desktop = request("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
    assert!(pm
        .call::<methods::WillHandleUi>(host.id(), &iphone)
        .unwrap());
    assert!(!pm
        .call::<methods::WillHandleUi>(host.id(), &desktop)
        .unwrap());
    let page = pm
        .call::<methods::OnUiRender>(host.id(), &("0".into(), iphone, json!({"display_version": "1.0", "debug": false, "templates": {"tab": []}, "pluginNames": ["a", "b"]})))
        .unwrap()
        .expect("a page");
    assert_eq!(page.status, 200);
    let html = page.body_text();
    assert!(
        html.contains("Installed Plugins: a, b") && html.contains("Version: 1.0"),
        "{html}"
    );
}
