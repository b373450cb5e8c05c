//! The wordsmith's helper in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

#[test]
fn shout_upper_cases_text_and_refuses_anything_else() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    assert_eq!(
        host.call_helper("shout", json!({"text": "hello"})).unwrap(),
        json!("HELLO")
    );
    let err = host.call_helper("shout", json!({"text": 5})).unwrap_err();
    assert!(err.to_string().contains("text"), "{err}");
    assert!(host.call_helper("whisper", json!({})).is_err());
}
