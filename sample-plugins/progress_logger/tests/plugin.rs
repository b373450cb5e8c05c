//! Progress steps in a real host (plinth-testkit).

use plinth_testkit::methods::OnPrintProgress;
use plinth_testkit::TestHost;

#[test]
fn print_progress_is_logged_and_appended_to_its_file() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    for p in [0u8, 42, 100] {
        host.manager()
            .call::<OnPrintProgress>(host.id(), &("local".into(), "cube.gcode".into(), p))
            .unwrap();
    }
    let file = host
        .basedir()
        .join("data")
        .join(host.id())
        .join("progress.log");
    let text = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "print local cube.gcode 0",
            "print local cube.gcode 42",
            "print local cube.gcode 100"
        ]
    );
    assert!(host
        .logs()
        .iter()
        .any(|l| l.message.contains("cube.gcode 42")));
}
