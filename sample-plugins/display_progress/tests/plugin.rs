//! M117 progress messages while the virtual printer prints, in a real host
//! (plinth-testkit).

use std::time::Duration;

use plinth_testkit::{PrinterState, TestHost};

#[test]
fn a_print_shows_its_progress_on_the_display() {
    // A fast virtual printer: the test waits for a whole print.
    let host = TestHost::start_with_config(
        plinth_testkit::plugin_library!(),
        "printer:\n  lines_per_second: 5000\n",
    )
    .unwrap();
    let uploads = host.basedir().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let gcode: String = (0..1000)
        .map(|i| format!("G1 X{} Y{}\n", i % 100, i % 50))
        .collect();
    std::fs::write(uploads.join("square.gcode"), gcode).unwrap();
    host.connect_printer().unwrap();
    let printer = &host.jobs().printer;
    printer.select("square.gcode", true).unwrap();
    assert!(printer.wait_for(Duration::from_secs(60), |s| s == PrinterState::Printing));
    // Its messages, seen while the print runs (the terminal keeps the last
    // 300 lines).
    let mut shown: Vec<String> = Vec::new();
    while printer.state() == PrinterState::Printing {
        for line in printer.log_lines() {
            // `Send: N12 M117 [#         ]  10%%*93`: numbered while printing.
            if line.starts_with("Send: ") && line.contains(" M117 [") && !shown.contains(&line) {
                shown.push(line);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        shown
            .iter()
            .any(|l| l.contains("[#####") && l.contains('%')),
        "{shown:?} {:?}",
        host.logs()
    );
    assert!(shown.len() > 10, "one message per whole percent: {shown:?}");
}
