//! The restart needer's blueprint in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

#[test]
fn items_are_answered_and_a_broken_one_fails() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    assert!(host.info().unwrap().restart_needing);
    let item = host.blueprint("GET", "/items/lamp", b"").unwrap();
    assert_eq!(item.body_json().unwrap(), json!({"item": "lamp"}));
    let err = host.blueprint("GET", "/items/broken", b"").unwrap_err();
    assert!(err.to_string().contains("this item is broken"), "{err}");
}
