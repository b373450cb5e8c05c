//! The printer through the real binary: the connection and its events, the
//! printer REST API with its refusals, the terminal and temperatures on the
//! push channel, the hooks the host calls, and the two ported OctoPrint
//! plugins (DisplayProgress, GCodeSystemCommands).

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{add_user, api_key, connect_printer, send, upload, Push, Sandbox, Server};
use plinth_abi::{json, Value};

/// Every terminal line the push channel carried so far.
fn terminal(push: &Push) -> Vec<String> {
    push.all()
        .iter()
        .filter_map(|m| m["current"]["logs"].as_array())
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

/// Waits (at most a minute) until a terminal line satisfies `what`.
fn wait_terminal(push: &Push, description: &str, what: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(line) = terminal(push).into_iter().find(|l| what(l)) {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no terminal line {description}: {:#?}",
            terminal(push)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most a minute) until `path` answers something `what` accepts.
fn wait_api(server: &Server, key: &str, path: &str, what: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = send(server, "GET", path, key, None);
        if status == 200 && what(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never fit: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn post(server: &Server, key: &str, path: &str, body: Value) -> (u16, Value) {
    send(server, "POST", path, key, Some(body))
}

fn start(sb: &Sandbox) -> (Server, String, Push) {
    add_user(sb, "ada", true);
    let key = api_key(sb, "ada");
    let server = Server::start(sb);
    let push = Push::connect(&server, &key);
    (server, key, push)
}

#[test]
fn the_printer_connects_answers_and_refuses_what_does_not_fit() {
    let sb = Sandbox::new();
    let (server, key, push) = start(&sb);

    // Offline until connected, as OctoPrint without autoconnect.
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["state"], "Offline");
    assert_eq!(connection["options"]["ports"], json!(["VIRTUAL"]));
    assert_eq!(connection["options"]["autoconnect"], false);
    assert_eq!(send(&server, "GET", "/api/printer", &key, None).0, 409);
    let target = json!({"command": "target", "targets": {"tool0": 200}});
    assert_eq!(
        post(&server, &key, "/api/printer/tool", target.clone()).0,
        409
    );
    let (status, body) = post(
        &server,
        &key,
        "/api/printer/command",
        json!({"command": "M105"}),
    );
    assert_eq!(status, 409, "{body}");

    // Bad connect requests name what is wrong and change nothing.
    for (request, needle) in [
        (json!({"command": "connect", "port": "COM9"}), "COM9"),
        (json!({"command": "connect", "baudrate": 1234}), "1234"),
        (
            json!({"command": "connect", "printerProfile": "nope"}),
            "nope",
        ),
        (json!({"command": "reboot"}), "reboot"),
        (
            json!({"command": "connect", "baudrate": "fast"}),
            "baudrate",
        ),
    ] {
        let (status, body) = post(&server, &key, "/api/connection", request.clone());
        assert_eq!(status, 400, "{request}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["state"], "Offline");

    connect_printer(&server, &key);
    let connected = push.wait_event("Connected");
    assert_eq!(
        (&connected["port"], &connected["baudrate"]),
        (&json!("VIRTUAL"), &json!(115200))
    );
    let firmware = push.wait_event("FirmwareData");
    assert_eq!(firmware["name"], "Plinth Virtual Printer");
    let events = push.events();
    let at = |name: &str| events.iter().position(|e| e == name).unwrap();
    assert!(at("Connecting") < at("Connected"), "{events:?}");
    let states: Vec<Value> = push
        .all()
        .iter()
        .filter(|m| m["event"]["type"] == "PrinterStateChanged")
        .map(|m| m["event"]["payload"]["state_id"].clone())
        .collect();
    assert_eq!(
        states,
        [
            json!("OPEN_SERIAL"),
            json!("CONNECTING"),
            json!("OPERATIONAL")
        ]
    );

    // Targets are followed by the heating model; the history grows.
    assert_eq!(post(&server, &key, "/api/printer/tool", target).0, 204);
    let bed = json!({"command": "target", "target": 60});
    assert_eq!(post(&server, &key, "/api/printer/bed", bed).0, 204);
    let printer = wait_api(&server, &key, "/api/printer?history=true&limit=5", |p| {
        p["temperature"]["tool0"]["target"] == 200.0
            && p["temperature"]["bed"]["target"] == 60.0
            && p["temperature"]["tool0"]["actual"].as_f64().unwrap() > 22.0
    });
    assert_eq!(printer["state"]["text"], "Operational");
    assert_eq!(printer["state"]["flags"]["ready"], true);
    let history = printer["temperature"]["history"].as_array().unwrap();
    assert!(!history.is_empty() && history.len() <= 5, "{history:?}");
    assert!(history[0]["time"].as_u64().is_some() && history[0]["tool0"]["actual"].is_number());

    // Bad requests: a clear 4xx, and nothing reaches the printer.
    let refusals = [
        (
            "/api/printer/tool",
            json!({"command": "target", "targets": {"tool0": 999}}),
            400,
            "range",
        ),
        (
            "/api/printer/tool",
            json!({"command": "target", "targets": {"tool0": -5}}),
            400,
            "range",
        ),
        (
            "/api/printer/tool",
            json!({"command": "target", "targets": {"tool3": 200}}),
            400,
            "tool3",
        ),
        (
            "/api/printer/tool",
            json!({"command": "target", "targets": {"tool0": "hot"}}),
            400,
            "tool0",
        ),
        (
            "/api/printer/tool",
            json!({"command": "offset", "offsets": {"tool0": 80}}),
            400,
            "-50 to 50",
        ),
        (
            "/api/printer/tool",
            json!({"command": "select", "tool": "tool1"}),
            400,
            "tool1",
        ),
        (
            "/api/printer/chamber",
            json!({"command": "target", "target": 40}),
            409,
            "chamber",
        ),
        (
            "/api/printer/bed",
            json!({"command": "target", "target": 400}),
            400,
            "range",
        ),
        (
            "/api/printer/printhead",
            json!({"command": "jog", "x": "ten"}),
            400,
            "`x`",
        ),
        (
            "/api/printer/printhead",
            json!({"command": "jog"}),
            400,
            "at least one",
        ),
        (
            "/api/printer/printhead",
            json!({"command": "home", "axes": ["q"]}),
            400,
            "home",
        ),
        (
            "/api/printer/printhead",
            json!({"command": "feedrate", "factor": 900}),
            400,
            "feed rate",
        ),
        (
            "/api/printer/command",
            json!({"command": "M104 S0\nM140 S0"}),
            400,
            "line break",
        ),
        (
            "/api/printer/command",
            json!({"commands": ["M104 S0", 7]}),
            400,
            "not text",
        ),
        (
            "/api/printer/command",
            json!({"script": "nope"}),
            404,
            "nope",
        ),
        (
            "/api/printer/command",
            json!({"script": "../config.yaml"}),
            400,
            "script name",
        ),
        ("/api/printer/sd", json!({"command": "init"}), 404, "SD"),
        (
            "/api/printer/chamber",
            json!({"command": "offset", "offset": 5}),
            409,
            "chamber",
        ),
    ];
    for (path, body, status, needle) in refusals {
        let (got, answer) = post(&server, &key, path, body.clone());
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{path} {body}: {answer}"
        );
    }
    let (status, answer) = send(&server, "GET", "/api/printer/nozzle", &key, None);
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("nozzle"));
    // Nothing of them reached the printer: the next line it gets is a marker.
    let before = terminal(&push).len();
    let marker = json!({"command": "M117 marker ; a comment goes"});
    assert_eq!(post(&server, &key, "/api/printer/command", marker).0, 204);
    wait_terminal(&push, "the marker", |l| l == "Send: M117 marker");
    let sent: Vec<String> = terminal(&push)[before..]
        .iter()
        .filter(|l| l.starts_with("Send:"))
        .cloned()
        .collect();
    assert_eq!(
        sent,
        ["Send: M117 marker"],
        "a refused request reached the printer"
    );
    let (_, printer) = send(&server, "GET", "/api/printer", &key, None);
    assert_eq!(printer["temperature"]["tool0"]["offset"], 0.0);
    // Comments only, or nothing: 400, nothing sent.
    for body in [
        json!({"command": "; just a note"}),
        json!({"commands": ["", "  "]}),
    ] {
        assert_eq!(
            post(&server, &key, "/api/printer/command", body.clone()).0,
            400,
            "{body}"
        );
    }
    // The send queue has a limit: a request past it is refused whole.
    let flood: Vec<String> = (0..10_001).map(|i| format!("M117 {i}")).collect();
    let (status, answer) = post(
        &server,
        &key,
        "/api/printer/command",
        json!({ "commands": flood }),
    );
    assert_eq!(status, 409, "{answer}");
    // OctoPrint's `parameters`.
    let with = json!({"command": "M117 %(who)s", "parameters": {"who": "parameters"}});
    assert_eq!(post(&server, &key, "/api/printer/command", with).0, 204);
    wait_terminal(&push, "the parameter", |l| l == "Send: M117 parameters");
    let both = json!({"command": "M105", "script": "afterPrintCancelled"});
    assert_eq!(post(&server, &key, "/api/printer/command", both).0, 400);
    let (_, printer) = send(&server, "GET", "/api/printer", &key, None);
    assert_eq!(printer["temperature"]["tool0"]["target"], 200.0);

    // The terminal shows what is sent and received.
    let body = json!({"commands": ["M117 Hello there", "G1 X10 Y5 Z2 F3000", "M114"]});
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "sending M117", |l| l == "Send: M117 Hello there");
    wait_terminal(&push, "echoing it", |l| l == "Recv: echo:Hello there");
    let position = push.wait_event("PositionUpdate");
    assert_eq!(
        (position["x"].clone(), position["y"].clone()),
        (json!(10.0), json!(5.0))
    );
    assert_eq!(push.wait_event("ZChange"), json!({"new": 2.0, "old": null}));
    assert_eq!(
        post(
            &server,
            &key,
            "/api/printer/printhead",
            json!({"command": "home", "axes": ["x", "y"]})
        )
        .0,
        204
    );
    push.wait_event("Home");
    wait_terminal(&push, "homing", |l| l == "Send: G28 X0 Y0");
    let jog = json!({"command": "jog", "x": 5, "z": -1, "speed": 1200});
    assert_eq!(post(&server, &key, "/api/printer/printhead", jog).0, 204);
    wait_terminal(&push, "the jog", |l| l == "Send: G1 X5 Z-1 F1200");
    let script = json!({"script": "afterPrintCancelled"});
    assert_eq!(post(&server, &key, "/api/printer/command", script).0, 204);
    wait_terminal(&push, "the cancel script", |l| l == "Send: M104 T0 S0");
    assert_eq!(
        post(
            &server,
            &key,
            "/api/connection",
            json!({"command": "fake_ack"})
        )
        .0,
        204
    );

    // The terminal's lines are for users with the terminal permission only.
    let mut child = std::process::Command::new(common::built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .args(["user", "add", "watcher", "--permissions", "status"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let watcher = Push::connect(&server, &api_key(&sb, "watcher"));
    let hidden = json!({"command": "M117 not for watchers"});
    assert_eq!(post(&server, &key, "/api/printer/command", hidden).0, 204);
    wait_terminal(&push, "the hidden line", |l| {
        l == "Send: M117 not for watchers"
    });
    watcher.wait_for("a current message", |m| m.get("current").is_some());
    std::thread::sleep(Duration::from_millis(600));
    assert!(terminal(&watcher).is_empty(), "{:?}", terminal(&watcher));

    // A firmware error closes the connection with the error named.
    let kill = json!({"command": "!!DEBUG:kill"});
    assert_eq!(post(&server, &key, "/api/printer/command", kill).0, 204);
    let error = push.wait_event("Error");
    assert_eq!(error["reason"], "firmware");
    push.wait_event("Disconnected");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["state"], "Offline after error");
    assert_eq!(send(&server, "GET", "/api/printer", &key, None).0, 409);

    // Connect again, then disconnect: Disconnecting before Disconnected.
    connect_printer(&server, &key);
    assert_eq!(
        post(
            &server,
            &key,
            "/api/connection",
            json!({"command": "disconnect"})
        )
        .0,
        204
    );
    common::wait_printer(&server, &key, "Offline");
    push.wait_for("the second Disconnected", |_| {
        count(&push, "Disconnected") == 2
    });
    let events = push.events();
    let last = |name: &str| events.iter().rposition(|e| e == name).unwrap();
    assert!(last("Disconnecting") < last("Disconnected"), "{events:?}");
}

#[test]
fn a_hook_plugin_that_crashes_leaves_the_line_and_the_printer_alone() {
    let sb = Sandbox::new();
    // A user plugin: isolated.
    sb.user_as(&common::built().fixture("hostile"), "hostile_segv_in_gcode");
    sb.write_config("serial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let body = json!({"commands": ["M9666 crash here", "M117 after"]});
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "the next command", |l| l == "Send: M117 after");
    assert!(
        terminal(&push)
            .iter()
            .any(|l| l == "Send: M9666 crash here"),
        "the line goes on unchanged: {:?}",
        terminal(&push)
    );
    let crashed = push.wait_event("PluginCrashed");
    assert_eq!(crashed["id"], "hostile_segv_in_gcode");
    assert!(
        crashed["reason"].as_str().unwrap().contains("SIGSEGV"),
        "{crashed}"
    );
    push.wait_event("PluginRestarted");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["state"], "Operational");
    // Restarted, it handles lines again.
    let body = json!({"command": "M117 again"});
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "a line after the restart", |l| {
        l == "Send: M117 again"
    });
}

#[test]
fn connect_saves_preferences_and_autoconnect_when_asked() {
    let sb = Sandbox::new();
    let (server, key, _push) = start(&sb);
    let body = json!({"command": "connect", "port": "VIRTUAL", "baudrate": 250000, "save": true, "autoconnect": true});
    assert_eq!(post(&server, &key, "/api/connection", body).0, 204);
    common::wait_printer(&server, &key, "Operational");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["baudrate"], 250000);
    assert_eq!(connection["options"]["baudratePreference"], 250000);
    assert_eq!(connection["options"]["autoconnect"], true);
    drop(server);
    // The next start connects by itself, at the saved baud rate.
    let server = Server::start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["baudrate"], 250000);
}

fn send_raw(server: &Server, key: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
    let agent = common::http();
    let url = server.url(path);
    let request = match method {
        "PATCH" => agent.patch(&url),
        _ => panic!("no such method {method}"),
    };
    let mut response = request
        .header("X-Api-Key", key)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn printer_profiles_are_listed_added_changed_used_and_removed() {
    let sb = Sandbox::new();
    let (server, key, _push) = start(&sb);
    add_user(&sb, "bob", false);
    let bob = api_key(&sb, "bob");
    let (status, list) = send(&server, "GET", "/api/printerprofiles", &bob, None);
    assert_eq!(status, 200, "{list}");
    let default = &list["profiles"]["_default"];
    assert_eq!(
        (default["default"].clone(), default["current"].clone()),
        (json!(true), json!(true))
    );
    assert!(default["resource"]
        .as_str()
        .unwrap()
        .ends_with("/api/printerprofiles/_default"));
    assert_eq!(default["extruder"]["count"], 1);

    let big = json!({"profile": {"id": "big", "name": "Big", "heatedChamber": true,
        "extruder": {"count": 2}, "volume": {"width": 300, "depth": 300}}});
    assert_eq!(
        post(&server, &bob, "/api/printerprofiles", big.clone()).0,
        403
    );
    let (status, added) = post(&server, &key, "/api/printerprofiles", big.clone());
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        added["profile"]["volume"]["height"], 200.0,
        "the rest from the default"
    );
    assert_eq!(post(&server, &key, "/api/printerprofiles", big).0, 409);
    for (body, needle) in [
        (
            json!({"profile": {"id": "x", "extruder": {"count": 0}}}),
            "extruder.count",
        ),
        (
            json!({"profile": {"id": "x", "volume": {"formFactor": "star"}}}),
            "formFactor",
        ),
        (json!({"profile": {"id": "../x"}}), "identifier"),
        (json!({"nothing": true}), "profile"),
        (json!({"profile": {"id": "x"}, "basedOn": "nope"}), "nope"),
    ] {
        let (status, answer) = post(&server, &key, "/api/printerprofiles", body.clone());
        assert!(status == 400 || status == 404, "{body}: {status} {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{answer}"
        );
    }
    assert_eq!(
        send(&server, "GET", "/api/printerprofiles/x", &key, None).0,
        404
    );

    // Connected with it, the printer has its heaters.
    let connect = json!({"command": "connect", "printerProfile": "big"});
    assert_eq!(post(&server, &key, "/api/connection", connect).0, 204);
    common::wait_printer(&server, &key, "Operational");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["printerProfile"], "big");
    let targets = json!({"command": "target", "targets": {"tool1": 210}});
    assert_eq!(post(&server, &key, "/api/printer/tool", targets).0, 204);
    let chamber = json!({"command": "target", "target": 45});
    assert_eq!(post(&server, &key, "/api/printer/chamber", chamber).0, 204);
    wait_api(&server, &key, "/api/printer", |p| {
        p["temperature"]["tool1"]["target"] == 210.0
            && p["temperature"]["chamber"]["target"] == 45.0
    });
    let unknown = json!({"command": "connect", "printerProfile": "nope"});
    assert_eq!(post(&server, &key, "/api/connection", unknown).0, 400);

    // The current and the default profile stay.
    assert_eq!(
        send(&server, "DELETE", "/api/printerprofiles/big", &key, None).0,
        409
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            "/api/printerprofiles/_default",
            &key,
            None
        )
        .0,
        409
    );
    let patch = json!({"profile": {"name": "Bigger", "default": true}});
    let (status, changed) = send_raw(&server, &key, "PATCH", "/api/printerprofiles/big", patch);
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["profile"]["name"].clone(),
            changed["profile"]["default"].clone()
        ),
        (json!("Bigger"), json!(true))
    );
    let bad = json!({"profile": {"heatedBed": "maybe"}});
    assert_eq!(
        send_raw(&server, &key, "PATCH", "/api/printerprofiles/big", bad).0,
        400
    );
    let (_, list) = send(&server, "GET", "/api/printerprofiles", &key, None);
    assert_eq!(list["profiles"]["_default"]["default"], false);
    assert_eq!(
        list["profiles"]["big"]["name"], "Bigger",
        "a refused change changes nothing"
    );
    let back = json!({"profile": {"default": true}});
    assert_eq!(
        send_raw(
            &server,
            &key,
            "PATCH",
            "/api/printerprofiles/_default",
            back
        )
        .0,
        200
    );
    assert_eq!(
        post(
            &server,
            &key,
            "/api/connection",
            json!({"command": "connect"})
        )
        .0,
        204
    );
    common::wait_printer(&server, &key, "Operational");
    assert_eq!(
        send(&server, "DELETE", "/api/printerprofiles/big", &key, None).0,
        204
    );
    assert!(!sb.basedir.join("printerProfiles/big.profile").exists());
}

/// A file of `n` moves, each raising Z every 50 lines.
fn moves(n: usize) -> String {
    let mut g = String::from("; a test print\nG28\nG90\n");
    for i in 0..n {
        g.push_str(&format!(
            "G1 X{} Y{} Z{:.1} E{i} F1500\n",
            i % 100,
            i % 50,
            0.2 * (i / 50) as f64
        ));
    }
    g
}

fn print_positions_resends_and_the_cancel_script_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.write_config("printer:\n  lines_per_second: 400\nserial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    assert_eq!(
        upload(&server, &key, "moves.gcode", moves(2000).as_bytes()).0,
        201
    );
    // A pause script of the user's sees where the head was.
    let scripts = sb.basedir.join("scripts").join("gcode");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(
        scripts.join("afterPrintPaused"),
        "M117 paused at {{ pause_position.x }} ; parked\n",
    )
    .unwrap();
    // The next numbered line arrives garbled: the printer asks for it again.
    let garble = json!({"command": "!!DEBUG:trigger_resend_checksum"});
    assert_eq!(post(&server, &key, "/api/printer/command", garble).0, 204);
    let select = json!({"command": "select", "print": true});
    assert_eq!(
        post(&server, &key, "/api/files/local/moves.gcode", select).0,
        204
    );
    assert_eq!(push.wait_event("FileSelected")["path"], "moves.gcode");
    let started = push.wait_event("PrintStarted");
    assert_eq!(
        (started["name"].clone(), started["user"].clone()),
        (json!("moves.gcode"), json!("ada"))
    );
    // (The terminal lines of a fast print reach the push channel thinned
    // out; the count of resends does not.)
    push.wait_for("a resend counted", |m| {
        m["current"]["resends"]["count"].as_u64() >= Some(1)
    });
    push.wait_event("ZChange");
    std::thread::sleep(Duration::from_millis(300));

    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "pause"})).0,
        204
    );
    let paused = push.wait_event("PrintPaused");
    assert!(
        paused["position"]["x"].is_number() && paused["position"]["z"].is_number(),
        "{paused}"
    );
    assert_eq!(paused["position"]["t"], 0);
    assert_eq!(paused["position"]["f"], 1500.0);
    let parked = format!("M117 paused at {}", paused["position"]["x"]);
    wait_terminal(&push, "the pause script", |l| l.contains(&parked));
    let filepos = paused["fileposition"].as_u64().unwrap();
    assert!(filepos > 0, "{paused}");
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(
        (job["state"].clone(), job["progress"]["filepos"].clone()),
        (json!("Paused"), json!(filepos))
    );
    // Manual controls work while paused; a line number reset typed in any
    // case does not break the print's numbering.
    let jog = json!({"command": "jog", "z": 5});
    assert_eq!(post(&server, &key, "/api/printer/printhead", jog).0, 204);
    let reset = json!({"command": "m110 n0"});
    assert_eq!(post(&server, &key, "/api/printer/command", reset).0, 204);
    // Paused after pausing, in that order.
    let states = |push: &Push| -> Vec<String> {
        push.all()
            .iter()
            .filter(|m| {
                m["event"]["type"] == "PrinterStateChanged"
                    || m["event"]["type"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("Print"))
            })
            .map(|m| match m["event"]["type"].as_str().unwrap() {
                "PrinterStateChanged" => m["event"]["payload"]["state_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                other => other.to_owned(),
            })
            .collect()
    };
    let seen = states(&push);
    let at = |name: &str| {
        seen.iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("no {name}: {seen:?}"))
    };
    assert!(
        at("PAUSING") < at("PrintPaused") && at("PrintPaused") < at("PAUSED") + 2,
        "{seen:?}"
    );

    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "resume"})).0,
        204
    );
    push.wait_event("PrintResumed");
    let z_changes = count(&push, "ZChange");
    push.wait_for("the print going on", |_| {
        count(&push, "ZChange") > z_changes
    });
    assert!(
        !push.events().contains(&"Error".to_owned()),
        "{:?}",
        push.events()
    );
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "cancel"})).0,
        204
    );
    let cancelling = push.wait_event("PrintCancelling");
    assert_eq!(cancelling["firmwareError"], Value::Null);
    let cancelled = push.wait_event("PrintCancelled");
    assert!(cancelled["position"]["x"].is_number(), "{cancelled}");
    assert!(cancelled["fileposition"].as_u64().unwrap() >= filepos);
    wait_terminal(&push, "the cancel script", |l| l.contains("M84"));
    let (_, current) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(current["state"], "Operational");
    // Cancelling, then cancelled, then failed with reason "cancelled" (as OctoPrint).
    let failed = push.wait_event("PrintFailed");
    assert_eq!(failed["reason"], "cancelled");
    let seen = states(&push);
    assert!(
        at_in(&seen, "PrintCancelling") < at_in(&seen, "PrintCancelled"),
        "{seen:?}"
    );
    assert!(
        at_in(&seen, "PrintCancelled") < at_in(&seen, "PrintFailed"),
        "{seen:?}"
    );

    // Restart: only a paused job, from its beginning, with no cancel.
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "restart"})).0,
        409
    );
    let started_before = count(&push, "PrintStarted");
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "start"})).0,
        204
    );
    push.wait_for("the second start", |_| {
        count(&push, "PrintStarted") > started_before
    });
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "pause"})).0,
        204
    );
    common::wait_printer(&server, &key, "Paused");
    let cancels = count(&push, "PrintCancelled");
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "restart"})).0,
        204
    );
    push.wait_for("the restart", |_| {
        count(&push, "PrintStarted") > started_before + 1
    });
    common::wait_printer(&server, &key, "Printing");
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert!(
        job["progress"]["completion"].as_f64().unwrap() < 50.0,
        "{job}"
    );
    assert_eq!(count(&push, "PrintCancelled"), cancels);

    // A cancel right after a start: cancelled, never done.
    assert_eq!(
        post(&server, &key, "/api/job", json!({"command": "cancel"})).0,
        204
    );
    common::wait_printer(&server, &key, "Operational");
    let cancels = count(&push, "PrintCancelled");
    let start = json!({"command": "start"});
    let cancel = json!({"command": "cancel"});
    assert_eq!(post(&server, &key, "/api/job", start).0, 204);
    assert_eq!(post(&server, &key, "/api/job", cancel).0, 204);
    push.wait_for("the quick cancel", |_| {
        count(&push, "PrintCancelled") > cancels
    });
    common::wait_printer(&server, &key, "Operational");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !push.events().contains(&"PrintDone".to_owned()),
        "{:?}",
        push.events()
    );
}

/// How many events named `name` the push channel carried so far.
fn count(push: &Push, name: &str) -> usize {
    push.events().iter().filter(|e| *e == name).count()
}

fn at_in(list: &[String], name: &str) -> usize {
    list.iter()
        .position(|e| e == name)
        .unwrap_or_else(|| panic!("no {name}: {list:?}"))
}

fn hooks_see_rewrite_expand_and_drop_every_line_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_as(&common::built().fixture("gcode_probe"), "gcode_probe");
    sb.write_config("serial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let commands = [
        "M9001",
        "M9002",
        "M9003",
        "M9004",
        "M9005",
        "M9006",
        "M117 secret plan",
        "M117 rename",
        "@pause now",
        "!!DEBUG:action_custom light on",
        "M400",
    ];
    let body = json!({ "commands": commands });
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "the last command", |l| l == "Send: M400");
    let data = sb.basedir.join("data").join("gcode_probe");
    let read = |file: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(data.join(file)).unwrap_or_default();
            if !text.is_empty() || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let sent: Vec<String> = read("sent.log").lines().map(str::to_owned).collect();
    let cmds: Vec<&str> = sent.iter().map(|l| l.split('|').next().unwrap()).collect();
    let at = |c: &str| {
        cmds.iter()
            .position(|x| *x == c)
            .unwrap_or_else(|| panic!("{c} not sent: {cmds:?}"))
    };
    // Expanded in order, dropped, rewritten; a panicking or malformed
    // handler and a late expansion leave the command as it was.
    assert!(at("M117 one") < at("M117 two") && at("M117 two") < at("M117 rewritten"));
    assert!(!cmds.contains(&"M9001") && !cmds.contains(&"M9002") && !cmds.contains(&"M9003"));
    for unchanged in ["M9004", "M9005", "M9006"] {
        at(unchanged);
    }
    assert!(
        !cmds.iter().any(|c| c.starts_with("@")),
        "@commands never reach the printer"
    );
    let one = &sent[at("M117 one")];
    for tag in [
        "source:api",
        "source:rewrite",
        "phase:queuing",
        "plugin:gcode_probe",
    ] {
        assert!(one.contains(tag), "{one}");
    }
    assert!(!sent[at("M9004")].contains("source:rewrite"));
    // Received lines: dropped and rewritten before the terminal sees them.
    wait_terminal(&push, "the renamed echo", |l| l == "Recv: echo:renamed");
    assert!(!terminal(&push).iter().any(|l| l.contains("echo:secret")));
    // Temperatures, firmware, capabilities, actions, @commands.
    wait_api(&server, &key, "/api/printer", |p| {
        p["temperature"]["bed"]["actual"] == 42.5
    });
    assert!(
        read("firmware.log").starts_with("Plinth Virtual Printer|"),
        "{}",
        read("firmware.log")
    );
    assert!(read("firmware.log").contains("FIRMWARE_NAME"));
    assert!(read("caps.log").contains("AUTOREPORT_TEMP"));
    assert_eq!(read("actions.log").trim(), "light|on");
    let at_log = read("atcommands.log");
    assert!(
        at_log.contains("queuing pause now") && at_log.contains("sending pause now"),
        "{at_log}"
    );
    // The panicking handler was logged under its plugin's name; the host is fine.
    let log = server.wait_for_log("gcode_probe");
    assert!(
        log.contains("octoprint.comm.protocol.gcode.queuing"),
        "{log}"
    );
    assert_eq!(send(&server, "GET", "/api/printer", &key, None).0, 200);
}

fn a_plugin_built_before_the_fast_gcode_call_is_called_with_json_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&common::built().fixture("legacy_abi"), "legacy_abi");
    sb.write_config("serial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let body = json!({"commands": ["M9100", "M117 plain"]});
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "the plain command", |l| l == "Send: M117 plain");
    let lines = terminal(&push);
    assert!(lines.iter().any(|l| l == "Send: M117 legacy"), "{lines:#?}");
    assert!(!lines.iter().any(|l| l == "Send: M9100"), "{lines:#?}");
}

fn offsets_reach_the_hooks_and_the_disconnect_script_is_sent_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_as(&common::built().fixture("gcode_probe"), "gcode_probe");
    sb.write_config("serial:\n  autoconnect: true\n");
    let scripts = sb.basedir.join("scripts").join("gcode");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(scripts.join("beforePrinterDisconnected"), "M117 bye\n").unwrap();
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let offsets = json!({"command": "offset", "offsets": {"tool0": 10}});
    assert_eq!(post(&server, &key, "/api/printer/tool", offsets).0, 204);
    let bed = json!({"command": "offset", "offset": -5});
    assert_eq!(post(&server, &key, "/api/printer/bed", bed).0, 204);
    let gcode = "M104 S200\nM140 S60\nG1 X1\n";
    assert_eq!(upload(&server, &key, "heat.gcode", gcode.as_bytes()).0, 201);
    let select = json!({"command": "select", "print": true});
    assert_eq!(
        post(&server, &key, "/api/files/local/heat.gcode", select).0,
        204
    );
    push.wait_event("PrintDone");
    // The file's targets carry the offsets when the hooks see them (as OctoPrint).
    let seen = std::fs::read_to_string(sb.basedir.join("data/gcode_probe/queuing.log")).unwrap();
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        ["M104 S210", "M140 S55"],
        "{seen}"
    );
    // A manual target does not get the offset.
    let manual = json!({"command": "M104 S100"});
    assert_eq!(post(&server, &key, "/api/printer/command", manual).0, 204);
    wait_terminal(&push, "the manual target", |l| l == "Send: M104 S100");
    // Disconnecting sends the user's script first.
    assert_eq!(
        post(
            &server,
            &key,
            "/api/connection",
            json!({"command": "disconnect"})
        )
        .0,
        204
    );
    common::wait_printer(&server, &key, "Offline");
    wait_terminal(&push, "the disconnect script", |l| l == "Send: M117 bye");
}

fn display_progress_shows_the_progress_on_the_printers_display_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("display_progress");
    sb.write_config("printer:\n  lines_per_second: 2000\nserial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    assert_eq!(
        upload(&server, &key, "cube.gcode", moves(1000).as_bytes()).0,
        201
    );
    let select = json!({"command": "select", "print": true});
    assert_eq!(
        post(&server, &key, "/api/files/local/cube.gcode", select).0,
        204
    );
    push.wait_event("PrintDone");
    // The original's default message, every percent, as printed lines.
    wait_terminal(&push, "0 %", |l| l.contains("M117 [          ]   0%%"));
    wait_terminal(&push, "50 %", |l| l.contains("M117 [#####     ]  50%%"));
    wait_terminal(&push, "100 %", |l| l.contains("M117 [##########] 100%%"));
    // 100 % is part of the print: sent before the printer is idle again.
    let lines = terminal(&push);
    let done = lines.iter().position(|l| l.contains("100%%")).unwrap();
    let idle = lines
        .iter()
        .rposition(|l| l == "Changing monitoring state to 'Operational'")
        .unwrap();
    assert!(done < idle, "{lines:#?}");
    let shown: Vec<String> = terminal(&push)
        .into_iter()
        .filter(|l| l.starts_with("Recv: echo:["))
        .collect();
    assert!(shown.len() >= 90, "{shown:?}");
    let (_, connection) = send(&server, "GET", "/api/connection", &key, None);
    assert_eq!(connection["current"]["state"], "Operational");
}

fn gcode_system_commands_run_instead_of_reaching_the_printer_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.bundle_sample("gcode_system_commands");
    let out = sb.basedir.join("octo-out.txt");
    sb.write_config(&format!(
        "serial:\n  autoconnect: true\nplugins:\n  gcode_system_commands:\n    command_definitions:\n    - id: '1'\n      command: echo \"$OCTOPRINT_GCODESYSTEMCOMMAND_ARGS\" > '{}'\n    - id: '2'\n      command: exit 3\n",
        out.display()
    ));
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let body = json!({"commands": ["OCTO1 hello world", "OCTO2", "OCTO7", "M117 after"]});
    assert_eq!(post(&server, &key, "/api/printer/command", body).0, 204);
    wait_terminal(&push, "the command after", |l| l == "Send: M117 after");
    assert_eq!(std::fs::read_to_string(&out).unwrap().trim(), "hello world");
    let lines = terminal(&push);
    let pos = |text: &str| {
        lines
            .iter()
            .position(|l| l == text)
            .unwrap_or_else(|| panic!("no {text:?}: {lines:#?}"))
    };
    assert!(pos("Exec(GCodeSystemCommands): OCTO1") < pos("Return(GCodeSystemCommands): ok"));
    assert!(pos("Exec(GCodeSystemCommands): OCTO2") < pos("Return(GCodeSystemCommands): error"));
    pos("Return(GCodeSystemCommands): undefined");
    assert!(
        !lines.iter().any(|l| l.starts_with("Send: OCTO")),
        "{lines:#?}"
    );
    // The definitions are an administrator's: a user sees none of them.
    add_user(&sb, "bob", false);
    let bob = api_key(&sb, "bob");
    let (_, settings) = send(&server, "GET", "/api/settings", &bob, None);
    assert_ne!(
        settings["plugins"]["gcode_system_commands"]["command_definitions"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{settings}"
    );
}

/// OctoPrint's `abortHeatupOnCancel`: a cancel during `M109` ends the wait
/// with `M108` at once (the virtual printer has an emergency parser), so
/// the hotend is still far from its target when the print is cancelled.
#[test]
fn a_cancel_breaks_a_heatup_wait_with_m108() {
    let sb = Sandbox::new();
    sb.write_config("printer:\n  lines_per_second: 1000\nserial:\n  autoconnect: true\n");
    let (server, key, push) = start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let (status, _) = upload(
        &server,
        &key,
        "heat.gcode",
        b"M109 S250\nG1 X10 F3000\nM104 S0\n",
    );
    assert_eq!(status, 201);
    let (status, body) = post(
        &server,
        &key,
        "/api/files/local/heat.gcode",
        json!({"command": "select", "print": true}),
    );
    assert_eq!(status, 204, "{body}");
    wait_terminal(&push, "sending M109", |l| {
        l.starts_with("Send: N") && l.contains("M109 S250")
    });
    let (status, _) = post(&server, &key, "/api/job", json!({"command": "cancel"}));
    assert_eq!(status, 204);
    push.wait_event("PrintCancelled");
    wait_terminal(&push, "M108", |l| l == "Send: M108");
    let state = wait_api(&server, &key, "/api/printer", |s| {
        s["temperature"]["tool0"]["actual"].is_number()
    });
    let actual = state["temperature"]["tool0"]["actual"].as_f64().unwrap();
    assert!(actual < 150.0, "the wait ran to its end: {state}");
    assert!(
        !terminal(&push).iter().any(|l| l.contains("G1 X10")),
        "the line after the wait is not printed"
    );
}

/// Waits (at most a minute) until the data file `file` of plugin `id` has
/// a line `what` accepts.
fn wait_data_line(sb: &Sandbox, id: &str, file: &str, what: impl Fn(&str) -> bool) -> String {
    let path = sb.basedir.join("data").join(id).join(file);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| what(l)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no such line in {}: {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn printer_callbacks_get_logs_temperatures_and_current_data_in(mode: &str) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&common::built().fixture("printer_watch"), "printer_watch");
    let (server, key, push) = start(&sb);
    connect_printer(&server, &key);
    let (status, _) = post(
        &server,
        &key,
        "/api/printer/command",
        json!({"commands": ["M117 hello watcher"]}),
    );
    assert_eq!(status, 204);
    wait_data_line(&sb, "printer_watch", "log.txt", |l| {
        l == "Send: M117 hello watcher"
    });
    wait_data_line(&sb, "printer_watch", "log.txt", |l| {
        l.starts_with("Recv: ok")
    });
    wait_data_line(&sb, "printer_watch", "states.txt", |l| l == "Operational");
    let sample = wait_data_line(&sb, "printer_watch", "temps.txt", |l| l.contains("tool0"));
    let sample: Value = serde_json::from_str(&sample).unwrap();
    assert!(sample["tool0"]["actual"].is_number(), "{sample}");
    assert!(sample["time"].is_number(), "{sample}");
    // Disabled, it hears nothing more.
    let (status, body) = post(
        &server,
        &key,
        "/api/plugins/printer_watch",
        json!({"command": "disable"}),
    );
    assert!(status == 200 || status == 204, "{body}");
    let log = sb.basedir.join("data/printer_watch/log.txt");
    let before = std::fs::read_to_string(&log).unwrap();
    let (status, _) = post(
        &server,
        &key,
        "/api/printer/command",
        json!({"commands": ["M117 after"]}),
    );
    assert_eq!(status, 204, "the command reaches the printer");
    wait_terminal(&push, "M117 after sent", |l| l == "Send: M117 after");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
}

in_both_modes! {
    printer_callbacks_get_logs_temperatures_and_current_data => printer_callbacks_get_logs_temperatures_and_current_data_in,
    offsets_reach_the_hooks_and_the_disconnect_script_is_sent => offsets_reach_the_hooks_and_the_disconnect_script_is_sent_in,
    a_plugin_built_before_the_fast_gcode_call_is_called_with_json => a_plugin_built_before_the_fast_gcode_call_is_called_with_json_in,
    print_positions_resends_and_the_cancel_script => print_positions_resends_and_the_cancel_script_in,
    hooks_see_rewrite_expand_and_drop_every_line => hooks_see_rewrite_expand_and_drop_every_line_in,
    display_progress_shows_the_progress_on_the_printers_display => display_progress_shows_the_progress_on_the_printers_display_in,
    gcode_system_commands_run_instead_of_reaching_the_printer => gcode_system_commands_run_instead_of_reaching_the_printer_in,
}
