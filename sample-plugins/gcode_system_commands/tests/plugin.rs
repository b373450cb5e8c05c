//! OCTO<n> commands on their way to the virtual printer, in a real host
//! (plinth-testkit).

#![cfg(unix)]

use plinth_testkit::{json, TestHost};

#[test]
fn a_defined_command_runs_and_never_reaches_the_printer() {
    let host = TestHost::start_with_config(
        plinth_testkit::plugin_library!(),
        "printer:\n  lines_per_second: 5000\n",
    )
    .unwrap();
    let marker = host.basedir().join("ran");
    host.set_setting(
        &["command_definitions"],
        json!([{"id": "7", "command": format!("echo \"$OCTOPRINT_GCODESYSTEMCOMMAND_ARGS\" > {}", marker.display())}]),
    )
    .unwrap();
    host.connect_printer().unwrap();
    let printer = &host.jobs().printer;
    printer
        .commands(&["OCTO7 hello there".into()], &[])
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !marker.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "hello there"
    );
    let terminal = printer.log_lines();
    assert!(
        terminal
            .iter()
            .any(|l| l.contains("Exec(GCodeSystemCommands): OCTO7")),
        "{terminal:?}"
    );
    assert!(
        !terminal.iter().any(|l| l.starts_with("Send: OCTO7")),
        "{terminal:?}"
    );
    // An undefined one is dropped too, and said so.
    printer.commands(&["OCTO8".into()], &[]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !host
        .logs()
        .iter()
        .any(|l| l.message == "no definition found for ID 8")
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", host.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
