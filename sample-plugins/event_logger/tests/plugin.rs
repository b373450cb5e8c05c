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

/// The host's own payloads, as a print fires them, decode into the SDK's
/// typed payloads (`plinth_sdk::payloads`).
#[test]
fn a_prints_events_decode_into_the_typed_payloads() {
    use plinth_sdk::payloads::{self, Event};
    let host = TestHost::start_with_config(
        plinth_testkit::plugin_library!(),
        "printer:\n  lines_per_second: 5000\n",
    )
    .unwrap();
    let uploads = host.basedir().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(
        uploads.join("tiny.gcode"),
        "G28\nT1\nG1 Z0.3\nG1 X10 Y10 Z0.6\n",
    )
    .unwrap();
    host.connect_printer().unwrap();
    let printer = &host.jobs().printer;
    printer.select("tiny.gcode", true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !host
        .logs()
        .iter()
        .any(|l| l.message.starts_with("event PrintDone"))
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", host.logs());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    host.fire_event("Flush", json!(null));
    let logged: Vec<(String, String)> = host
        .logs()
        .into_iter()
        .filter_map(|l| {
            let rest = l.message.strip_prefix("event ")?;
            let (name, payload) = rest.split_once(": ")?;
            Some((name.to_owned(), payload.to_owned()))
        })
        .collect();
    fn check<E: Event + std::fmt::Debug>(logged: &[(String, String)]) {
        let (_, payload) = logged
            .iter()
            .find(|(name, _)| name == E::NAME)
            .unwrap_or_else(|| panic!("no {} among {logged:?}", E::NAME));
        payloads::decode::<E>(E::NAME, payload.as_bytes())
            .unwrap()
            .unwrap_or_else(|e| panic!("{} {payload}: {e}", E::NAME));
    }
    check::<payloads::Connected>(&logged);
    check::<payloads::PrinterStateChanged>(&logged);
    check::<payloads::FileSelected>(&logged);
    check::<payloads::PrintStarted>(&logged);
    check::<payloads::ZChange>(&logged);
    check::<payloads::ToolChange>(&logged);
    check::<payloads::PrintDone>(&logged);
    let done = logged.iter().find(|(n, _)| n == "PrintDone").unwrap();
    let done: payloads::PrintDone = payloads::decode("PrintDone", done.1.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.name.as_str(), done.origin.as_str()),
        ("tiny.gcode", "local")
    );
}
