//! Real OctoPrint client libraries from PyPI against the real binary:
//! octorest (a Python library: `tests/clients/octorest_flow.py` runs every
//! operation its documentation shows, the push channel included),
//! octoprint-cli (a command-line tool, run command by command) and
//! pyoctoprintapi, the library of Home Assistant's OctoPrint integration
//! (`tests/clients/pyoctoprintapi_flow.py`: every call it has, in Home
//! Assistant's order, the application key sign-up included).
//!
//! They live in a virtual environment that `scripts/test` makes
//! (`target/client-venv`, or `PLINTH_CLIENT_VENV`); octoprint-cli's update
//! check is off, so nothing leaves the machine.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{add_user, api_key, Sandbox, Server};

/// The virtual environment with the clients.
fn venv() -> PathBuf {
    let venv = std::env::var_os("PLINTH_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::built().root.join("target/client-venv"));
    assert!(
        venv.join("bin/python").exists(),
        "no client environment at {}: run scripts/test, which makes it (python3 -m venv, pip install octorest octoprint-cli pyoctoprintapi)",
        venv.display()
    );
    venv
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn octorest_does_everything_its_documentation_shows() {
    let venv = venv();
    let sb = Sandbox::new();
    sb.write_config("printer:\n  lines_per_second: 200\n");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let script = common::built().root.join("tests/clients/octorest_flow.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(server.url(""))
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "octorest failed:\n{}\n{}\n--- server log ---\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    assert!(text(&out.stdout).contains("every operation went as against OctoPrint"));
}

#[test]
fn octoprint_cli_drives_the_printer() {
    let venv = venv();
    let sb = Sandbox::new();
    sb.write_config("printer:\n  lines_per_second: 200\n");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let template =
        std::fs::read_to_string(common::built().root.join("tests/clients/octoprint-cli.ini"))
            .unwrap();
    let config = sb.basedir.join("octoprint-cli.ini");
    std::fs::write(
        &config,
        template
            .replace("SERVER", &server.url(""))
            .replace("KEY", &key),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(venv.join("bin/octoprint-cli"))
            .arg("-c")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        (out.status.code(), said)
    };
    let ok = |args: &[&str]| {
        let (code, said) = cli(args);
        assert_eq!(code, Some(0), "octoprint-cli {args:?}: {said}");
        said
    };
    assert!(ok(&["version"]).contains("OctoPrint v1."));
    ok(&["connection", "connect"]);
    common::wait_printer(&server, &key, "Operational");
    let status = ok(&["connection", "status"]);
    assert!(
        status.contains("Operational") && status.contains("Port: VIRTUAL"),
        "{status}"
    );
    ok(&["temp", "extruder", "200"]);
    ok(&["temp", "bed", "60"]);
    let status = ok(&["temp", "status"]);
    assert!(status.contains("200"), "{status}");
    ok(&["gcode", "M117 hello from octoprint-cli"]);

    let file = sb.basedir.join("part.gcode");
    std::fs::write(
        &file,
        "G28\n".to_owned() + &"G1 X10 Y10 F3000\nG1 X0 Y0\n".repeat(2000),
    )
    .unwrap();
    ok(&["files", "upload", file.to_str().unwrap()]);
    assert!(ok(&["files", "list"]).contains("part.gcode"));
    assert!(ok(&["files", "info", "part.gcode"]).contains("part.gcode"));
    assert!(ok(&["print", "select", "part.gcode"]).contains("has been loaded"));
    let (code, said) = cli(&["print", "select", "nothing.gcode"]);
    assert_eq!(code, Some(1), "{said}");
    ok(&["print", "start"]);
    assert!(ok(&["print", "status"]).contains("part.gcode"));
    ok(&["print", "pause"]);
    common::wait_printer(&server, &key, "Paused");
    ok(&["print", "resume"]);
    common::wait_printer(&server, &key, "Printing");
    ok(&["print", "cancel"]);
    common::wait_printer(&server, &key, "Operational");
    ok(&["connection", "disconnect"]);
    common::wait_printer(&server, &key, "Offline");
}

#[test]
fn pyoctoprintapi_signs_up_and_drives_the_printer_as_home_assistant() {
    let venv = venv();
    let sb = Sandbox::new();
    sb.write_config("printer:\n  lines_per_second: 200\n");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    sb.bundle_sample("testpicture");
    let server = Server::start(&sb);
    let script = common::built()
        .root
        .join("tests/clients/pyoctoprintapi_flow.py");
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(server.url(""))
        .arg(&key)
        .args(["ada", "pw"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyoctoprintapi failed:\n{}\n{}\n--- server log ---\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    assert!(text(&out.stdout).contains("every operation went as against OctoPrint"));
}
