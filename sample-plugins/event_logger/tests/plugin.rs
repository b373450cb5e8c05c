//! The event logger in a real host (plinth-testkit).

use plinth_testkit::{json, TestHost};

#[test]
fn every_event_is_logged_with_its_payload_in_firing_order() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    host.fire_event("PrintStarted", json!({"name": "cube.gcode"}));
    host.fire_event("PrintDone", json!({"name": "cube.gcode", "time": 12.5}));
    let lines: Vec<String> = host
        .logs()
        .into_iter()
        .map(|l| l.message)
        .filter(|m| m.starts_with("event Print"))
        .collect();
    assert_eq!(
        lines,
        [
            r#"event PrintStarted: {"name":"cube.gcode"}"#,
            r#"event PrintDone: {"name":"cube.gcode","time":12.5}"#
        ]
    );
    // The host's own events reach it too: Startup, at start-up.
    assert!(host
        .logs()
        .iter()
        .any(|l| l.message.starts_with("event Startup")));
}
