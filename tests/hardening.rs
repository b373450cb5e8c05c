//! The holes an attack from outside found (issue 11), each through the real
//! binary and its HTTP API: settings over the push channel, the push
//! channel's Origin check, lost saves, plugin failures while saving, the
//! login lock-out, host settings that bricked the server, hostile plugins.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, api_key, get, http, login, post, Sandbox, Server};
use plinth_abi::{json, Value};

/// A new user (`pw` as password) and an API key of theirs.
fn user_key(sb: &Sandbox, name: &str, admin: bool) -> String {
    add_user(sb, name, admin);
    api_key(sb, name)
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens `/ws` with extra request headers; the status of a refusal otherwise.
fn push_channel(server: &Server, query: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://127.0.0.1:{}/ws{query}", server.port)
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tungstenite::connect(request) {
        Ok((mut socket, _)) => {
            if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_mut() {
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
            }
            Ok(socket)
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("the upgrade failed: {e}"),
    }
}

/// Every text message the socket receives within `wait`.
fn messages_within(socket: &mut Socket, wait: Duration) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => out.push(text.to_string()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    out
}

#[test]
fn settings_updated_carries_hashes_and_no_restricted_value_reaches_push_clients() {
    let sb = Sandbox::new();
    sb.bundle_sample("restricted");
    let (admin, plain) = (user_key(&sb, "ada", true), user_key(&sb, "bob", false));
    let server = Server::start(&sb);
    let mut socket = push_channel(&server, &format!("?apikey={plain}"), &[]).unwrap();
    let secret = "s3cret-admin-value";
    let (status, _) = post(
        &server,
        "/api/settings",
        &admin,
        &json!({"plugins": {"restricted": {"some": {"admin_only": {"path": secret}}}}}).to_string(),
    )
    .clone();
    assert_eq!(status, 200);
    let received = messages_within(&mut socket, Duration::from_secs(2));
    let updated: Vec<Value> = received
        .iter()
        .map(|m| serde_json::from_str::<Value>(m).unwrap())
        .filter(|m| m["event"]["type"] == "SettingsUpdated")
        .collect();
    assert_eq!(updated.len(), 1, "{received:?}");
    let payload = updated[0]["event"]["payload"].as_object().unwrap();
    assert_eq!(
        payload.keys().collect::<Vec<_>>(),
        ["config_hash", "effective_hash"]
    );
    assert!(
        received.iter().all(|m| !m.contains(secret)),
        "a restricted value reached a plain user: {received:?}"
    );
    // The plain user reads the settings again: the value stays hidden.
    let (_, settings) = get(&server, "/api/settings", &plain);
    assert_eq!(
        settings["plugins"]["restricted"]["some"]["admin_only"]["path"],
        Value::Null
    );
    // The hash changes with the settings.
    post(
        &server,
        "/api/settings",
        &admin,
        r#"{"server": {"note": "changed"}}"#,
    );
    let again: Vec<Value> = messages_within(&mut socket, Duration::from_secs(2))
        .iter()
        .map(|m| serde_json::from_str::<Value>(m).unwrap())
        .filter(|m| m["event"]["type"] == "SettingsUpdated")
        .collect();
    assert_eq!(again.len(), 1);
    assert_ne!(
        again[0]["event"]["payload"]["config_hash"],
        updated[0]["event"]["payload"]["config_hash"]
    );
}

#[test]
fn the_push_channel_refuses_a_session_cookie_from_another_site() {
    let sb = Sandbox::new();
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let (cookie, _) = login(&server, "ada");
    let own = format!("http://127.0.0.1:{}", server.port);
    let with = |origin: &str| push_channel(&server, "", &[("Cookie", &cookie), ("Origin", origin)]);
    assert_eq!(with("http://evil.example").err(), Some(403));
    assert_eq!(
        with(&format!("http://127.0.0.1:{}", server.port + 1)).err(),
        Some(403)
    );
    assert_eq!(with("null").err(), Some(403));
    let mut socket = with(&own).expect("the server's own page");
    let hello = messages_within(&mut socket, Duration::from_secs(1));
    assert!(hello[0].contains("\"connected\""), "{hello:?}");
    // API keys are no ambient credentials: any Origin.
    assert!(push_channel(
        &server,
        &format!("?apikey={key}"),
        &[("Origin", "http://evil.example")]
    )
    .is_ok());
    // A user without the `status` permission gets nothing pushed.
    let mut command = std::process::Command::new(common::built().plinth());
    command.arg("--basedir").arg(&sb.basedir).args([
        "user",
        "add",
        "nobody",
        "--permissions",
        "files_list",
    ]);
    let mut child = command.stdin(std::process::Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let nobody = api_key(&sb, "nobody");
    assert_eq!(
        push_channel(&server, &format!("?apikey={nobody}"), &[]).err(),
        Some(403)
    );
}

#[test]
fn a_logged_out_session_loses_its_push_channel() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let (cookie, csrf) = login(&server, "ada");
    let own = format!("http://127.0.0.1:{}", server.port);
    let mut socket = push_channel(&server, "", &[("Cookie", &cookie), ("Origin", &own)]).unwrap();
    let response = http()
        .post(&server.url("/api/logout"))
        .header("Cookie", &cookie)
        .header("X-CSRF-Token", &csrf)
        .header("Content-Type", "application/json")
        .send("{}")
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let received = messages_within(&mut socket, Duration::from_secs(8));
    assert!(
        received.iter().any(|m| m.contains("reauthRequired")),
        "{received:?}"
    );
}

#[test]
fn a_save_acknowledged_after_another_process_changed_the_file_is_on_disk() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let on_disk = |path: &str| {
        let out = sb.plinth(&["config", "get", path, "--json"]);
        serde_json::from_str::<Value>(&common::stdout(&out)).unwrap_or(Value::Null)
    };
    for round in 0..5 {
        // Another process changes a host key and a plugin key…
        for (path, value) in [
            ("server.note", format!("cli-{round}")),
            ("plugins.helloworld.some_setting", format!("cli-{round}")),
        ] {
            let out = sb.plinth(&["config", "set", path, &value]);
            assert!(out.status.success(), "{}", common::stderr(&out));
        }
        // …and the server reads the disk's truth…
        let (_, settings) = get(&server, "/api/settings", &key);
        assert_eq!(settings["server"]["note"], format!("cli-{round}"));
        assert_eq!(
            settings["plugins"]["helloworld"]["some_setting"],
            format!("cli-{round}")
        );
        // …then an HTTP save sets both back: acknowledged means on disk.
        let (status, answer) = post(
            &server,
            "/api/settings",
            &key,
            r#"{"server": {"note": "web"}, "plugins": {"helloworld": {"some_setting": "web"}}}"#,
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["server"]["note"], "web");
        assert_eq!(on_disk("server.note"), "web", "round {round}");
        assert_eq!(
            on_disk("plugins.helloworld.some_setting"),
            "web",
            "round {round}"
        );
    }
}

#[test]
fn a_plugin_failing_to_save_its_settings_is_named_in_the_answer() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    sb.user_as(
        &common::built().fixture("settings_probe"),
        "probe_panic_in_save",
    );
    sb.user_as(
        &common::built().fixture("settings_probe"),
        "probe_fail_in_save",
    );
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let (status, answer) = post(
        &server,
        "/api/settings",
        &key,
        r#"{"plugins": {"helloworld": {"some_setting": "kept"}, "probe_panic_in_save": {"value": 1}, "probe_fail_in_save": {"value": 2}}}"#,
    );
    assert_eq!(status, 500, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("`probe_fail_in_save`") && error.contains("`probe_panic_in_save`"),
        "{error}"
    );
    assert!(answer["failed"]["probe_panic_in_save"]
        .as_str()
        .unwrap()
        .contains("panicked"));
    assert!(answer["failed"]["probe_fail_in_save"]
        .as_str()
        .unwrap()
        .contains("fails in save"));
    assert_eq!(answer["saved"], json!(["helloworld"]));
    let (_, settings) = get(&server, "/api/settings", &key);
    assert_eq!(settings["plugins"]["helloworld"]["some_setting"], "kept");
    // Unchanged: what its migration at start-up left.
    assert_eq!(settings["plugins"]["probe_panic_in_save"]["value"], 42);
    server.wait_for_log("its settings were not saved");
}

#[test]
fn failed_logins_lock_out_a_user_at_an_address_not_everyone_behind_it() {
    let sb = Sandbox::new();
    sb.write_config("server:\n  login_failures_per_user: 3\n  login_failures_per_address: 6\n");
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let server = Server::start(&sb);
    let attempt = |user: &str, pass: &str| {
        let mut response = http()
            .post(&server.url("/api/login"))
            .header("Content-Type", "application/json")
            .send(format!(r#"{{"user": "{user}", "pass": "{pass}"}}"#))
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    };
    for _ in 0..3 {
        assert_eq!(attempt("mallory", "guess").0, 403);
    }
    let (status, text) = attempt("mallory", "guess");
    assert_eq!(status, 429);
    assert!(
        text.contains("too many failed logins to `mallory` from this address"),
        "{text}"
    );
    // Everyone else behind the same address still logs in.
    assert_eq!(attempt("ada", "pw").0, 200);
    assert_eq!(attempt("bob", "pw").0, 200);
    // Guessing at many users hits the higher cap for the whole address.
    for user in ["carl", "dora", "emil"] {
        assert_eq!(attempt(user, "guess").0, 403);
    }
    let (status, text) = attempt("bob", "pw");
    assert_eq!(status, 429, "{text}");
    assert!(
        text.contains("too many failed logins from this address"),
        "{text}"
    );
}

#[test]
fn host_settings_out_of_range_are_refused_on_every_path_and_never_brick_the_server() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    let key = user_key(&sb, "ada", true);
    {
        let server = Server::start(&sb);
        let (status, answer) = post(
            &server,
            "/api/settings",
            &key,
            r#"{"server": {"plugin_call_timeout": 1e308}}"#,
        );
        assert_eq!(status, 400);
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.contains(
                "server.plugin_call_timeout must be a number of seconds from 0.1 to 86400"
            ),
            "{error}"
        );
        let (status, _) = post(
            &server,
            "/api/settings",
            &key,
            r#"{"server": {"note": "fine", "upload_max_bytes": -5}}"#,
        );
        assert_eq!(status, 400);
        assert!(
            !sb.config().contains("fine"),
            "a refused request writes nothing"
        );
        assert_eq!(server.stop(), Some(0));
    }
    for (path, value, named) in [
        (
            "server.plugin_call_timeout",
            "abc",
            "server.plugin_call_timeout must be a number of seconds",
        ),
        (
            "server.upload_max_bytes",
            "-5",
            "server.upload_max_bytes must be a whole number of bytes from 1",
        ),
        ("server", "7", "server must be a mapping"),
        (
            "printer.lines_per_second",
            "0",
            "printer.lines_per_second must be a number",
        ),
    ] {
        let out = sb.plinth(&["config", "set", path, value]);
        assert_eq!(out.status.code(), Some(1), "{path} {value}");
        let err = common::stderr(&out);
        assert!(err.contains(named), "{err}");
    }
    // Written by hand: `config check` names the key, and the server starts with the default.
    sb.write_config("server:\n  plugin_call_timeout: 1e308\n  header_timeout: never\n");
    let out = sb.plinth(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("server.plugin_call_timeout must be") && err.contains("using the default 30"),
        "{err}"
    );
    assert!(err.contains("server.header_timeout must be"), "{err}");
    let server = Server::start(&sb);
    let log = server.wait_for_log("server.plugin_call_timeout must be");
    assert!(log.contains("using the default 30"), "{log}");
    assert_eq!(get(&server, "/api/plugin/helloworld", &key).0, 200);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_panic_payload_that_panics_when_dropped_does_not_take_the_host_down() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    for _ in 0..3 {
        let (status, answer) = post(
            &server,
            "/api/plugin/hostile",
            &key,
            r#"{"command": "spiteful"}"#,
        );
        assert_eq!(status, 500, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("panicked"),
            "{answer}"
        );
    }
    assert_eq!(get(&server, "/api/server", &key).0, 200);
    assert_eq!(server.stop(), Some(0));
}

/// A plugin that answered fast runs its calls on the request's own thread
/// (see `host/src/server/http/calls.rs`); when one of them then hangs, it
/// holds that request only: the server answers everything else, the
/// plugin's other calls go back to the blocking pool and get their 504 at
/// the budget.
#[test]
fn a_plugin_that_answered_fast_and_then_hangs_holds_one_request_not_the_server() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    sb.write_config("server:\n  plugin_call_timeout: 2\nisolation:\n  default: in_process\n");
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    // Fast answers: the plugin earns the request's thread.
    for _ in 0..200 {
        assert_eq!(get(&server, "/api/plugin/hostile", &key).0, 204);
    }
    // Two calls that never return; on a machine with two cores only one
    // may run on a runtime thread, the other is on the pool.
    let url = server.url("/api/plugin/hostile");
    let spinning: Vec<_> = (0..2)
        .map(|_| {
            let (url, key) = (url.clone(), key.clone());
            std::thread::spawn(move || {
                let _ = http()
                    .post(&url)
                    .header("X-Api-Key", &key)
                    .header("Content-Type", "application/json")
                    .send(r#"{"command": "spin"}"#);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let began = std::time::Instant::now();
    for _ in 0..50 {
        assert_eq!(get(&server, "/api/server", &key).0, 200);
        assert_eq!(get(&server, "/api/plugin/hostile", &key).0, 204);
    }
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "the server kept answering: {:?}",
        began.elapsed()
    );
    // One of the two runs on a request's thread (the runtime has a worker
    // to spare with two cores or more): the watchdog names it.
    if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
        server.wait_for_log(
            "plugin `hostile`: on_api_command has run past the budget of 2s on a request's thread",
        );
    }
    // The plugin's next hang is cut at the budget.
    let began = std::time::Instant::now();
    let (status, answer) = post(
        &server,
        "/api/plugin/hostile",
        &key,
        r#"{"command": "spin"}"#,
    );
    assert_eq!(status, 504, "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );
    drop(spinning);
}

#[cfg(unix)]
#[test]
fn no_file_operation_leaves_the_uploads_folder_through_a_symlink() {
    use std::os::unix::fs::symlink;
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let bob = user_key(&sb, "bob", false);
    let users = sb.basedir.join("users.yaml");
    let secret = std::fs::read_to_string(&users).unwrap();
    let uploads = sb.basedir.join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    symlink(&users, uploads.join("users.gcode")).unwrap();
    symlink("/etc/passwd", uploads.join("passwd.gcode")).unwrap();
    symlink(&sb.basedir, uploads.join("base.gcode")).unwrap();
    let outside = sb.basedir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, uploads.join(".metadata")).unwrap();
    let server = Server::start(&sb);

    let (_, listing) = get(&server, "/api/files", &bob);
    assert_eq!(listing["files"], json!([]), "links are not listed");
    for name in ["users.gcode", "passwd.gcode", "base.gcode"] {
        assert_eq!(
            get(&server, &format!("/api/files/local/{name}"), &bob).0,
            404
        );
        let download = http()
            .get(&server.url(&format!("/downloads/files/local/{name}")))
            .header("X-Api-Key", &bob)
            .call()
            .unwrap();
        assert_eq!(download.status().as_u16(), 404, "{name}");
        let deleted = http()
            .delete(&server.url(&format!("/api/files/local/{name}")))
            .header("X-Api-Key", &bob)
            .call()
            .unwrap();
        assert_eq!(deleted.status().as_u16(), 404, "{name}");
        let (status, _) = post(
            &server,
            &format!("/api/files/local/{name}"),
            &bob,
            r#"{"command": "select", "print": true}"#,
        );
        assert_eq!(status, 404, "{name}");
    }
    assert_eq!(std::fs::read_to_string(&users).unwrap(), secret);

    // An upload under a link's name replaces the link, never its target.
    let (status, answer) = common::upload(&server, &bob, "users.gcode", b"G28\n");
    assert_eq!(status, 201, "{answer}");
    assert_eq!(std::fs::read_to_string(&users).unwrap(), secret);
    let stored = uploads.join("users.gcode");
    assert!(std::fs::symlink_metadata(&stored).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "G28\n");
    // Names with folders stay in the folder.
    let (status, answer) = common::upload(&server, &bob, "../../escape.gcode", b"G1\n");
    assert_eq!(
        (status, answer["files"]["local"]["name"].as_str()),
        (201, Some("escape.gcode"))
    );
    assert!(uploads.join("escape.gcode").is_file());
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(
        std::fs::read_dir(&uploads)
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")),
        "no temporary file is left"
    );
}

#[test]
fn an_upload_name_of_300_characters_gets_a_clean_result() {
    let sb = Sandbox::new();
    sb.bundle_sample("planar_slicer");
    let bob = user_key(&sb, "bob", false);
    let server = Server::start(&sb);
    let long = format!("{}.gcode", "x".repeat(300));
    let (status, answer) = common::upload(&server, &bob, &long, b"G28\n");
    assert_eq!(status, 201, "{answer}");
    let name = answer["files"]["local"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(name.len() <= 200 && name.ends_with(".gcode"), "{name}");
    assert_eq!(
        get(&server, &format!("/api/files/local/{name}"), &bob).0,
        200
    );
    // Asking for the long name is a plain 404, not a server error.
    assert_eq!(
        get(&server, &format!("/api/files/local/{long}"), &bob).0,
        404
    );
    // A model with a long name slices to a G-code file of a usable name.
    let model = format!("{}.stl", "m".repeat(300));
    let facet =
        "facet normal 0 0 1 outer loop vertex 0 0 0 vertex 10 0 0 vertex 0 10 0 endloop endfacet";
    let stl = format!("solid t {facet} endsolid t");
    let (status, answer) = common::upload(&server, &bob, &model, stl.as_bytes());
    assert_eq!(status, 201, "{answer}");
    let stored = answer["files"]["local"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, answer) = post(
        &server,
        &format!("/api/files/local/{stored}"),
        &bob,
        r#"{"command": "slice", "slicer": "planar"}"#,
    );
    assert_eq!(status, 202, "{answer}");
    let gcode = answer["name"].as_str().unwrap();
    assert!(gcode.len() <= 200 && gcode.ends_with(".gcode"), "{gcode}");
}

#[test]
fn an_upload_cut_short_leaves_nothing_behind() {
    use std::io::Write;
    let sb = Sandbox::new();
    let bob = user_key(&sb, "bob", false);
    let server = Server::start(&sb);
    let boundary = "cutboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.gcode\"\r\n\r\n"
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /api/files/local HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {bob}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 10000000\r\n\r\n{head}"
    )
    .unwrap();
    stream.write_all(&[b'G'; 100_000]).unwrap();
    stream.flush().unwrap();
    let uploads = sb.basedir.join("uploads");
    let temporaries = || {
        std::fs::read_dir(&uploads)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while temporaries() == 0 {
        assert!(
            Instant::now() < deadline,
            "the upload streams into a temporary file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while temporaries() > 0 {
        assert!(Instant::now() < deadline, "the temporary file stays");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, listing) = get(&server, "/api/files", &bob);
    assert_eq!(listing["files"], json!([]));
}

/// Whether the server closed `stream` within `limit` (reads end or fail).
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn idle_and_half_sent_connections_are_closed_while_others_are_served() {
    use std::io::Write;
    use std::net::TcpStream;
    let sb = Sandbox::new();
    sb.write_config(
        "server:\n  header_timeout: 1.5\n  stall_timeout: 1.5\n  max_connections: 300\n",
    );
    let bob = user_key(&sb, "bob", false);
    let server = Server::start(&sb);
    let address = ("127.0.0.1", server.port);
    // 600 connections: silent ones, and ones that send half a head or half a body.
    let mut held: Vec<TcpStream> = Vec::new();
    for i in 0..600 {
        let mut stream = TcpStream::connect(address).unwrap();
        match i % 3 {
            0 => {}
            1 => stream.write_all(b"GET /api/server HTTP/1.1\r\nHost: x\r\n").unwrap(),
            _ => write!(
                stream,
                "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user\""
            )
            .unwrap(),
        }
        held.push(stream);
        if i % 100 == 99 {
            // Everyone else is still served, at once.
            let started = Instant::now();
            assert_eq!(get(&server, "/api/server", &bob).0, 200);
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }
    // Past the timeouts, the server has closed every one of them.
    for (i, stream) in held.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(10)),
            "connection {i} is still open"
        );
    }
    assert_eq!(get(&server, "/api/server", &bob).0, 200);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_client_that_stops_reading_its_answer_loses_the_connection() {
    use std::io::Write;
    let sb = Sandbox::new();
    sb.write_config("server:\n  stall_timeout: 1\n");
    let bob = user_key(&sb, "bob", false);
    let server = Server::start(&sb);
    let big = vec![b';'; 32 << 20];
    assert_eq!(common::upload(&server, &bob, "big.gcode", &big).0, 201);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "GET /downloads/files/local/big.gcode HTTP/1.1\r\nHost: x\r\nX-Api-Key: {bob}\r\n\r\n"
    )
    .unwrap();
    // Read nothing for a while: the server's writes stall, then it gives up.
    std::thread::sleep(Duration::from_secs(4));
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    loop {
        match std::io::Read::read(&mut stream, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(
        received < big.len(),
        "the whole answer arrived: the connection was never given up"
    );
    assert_eq!(get(&server, "/api/server", &bob).0, 200);
}

#[test]
fn past_the_connection_limit_the_client_keeping_the_server_waiting_makes_room() {
    use std::io::Write;
    use std::net::TcpStream;
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    sb.write_config(
        "server:\n  max_connections: 3\n  stall_timeout: 30\n  header_timeout: 30\n  plugin_call_timeout: 4\n",
    );
    let bob = user_key(&sb, "bob", false);
    let server = Server::start(&sb);
    let address = ("127.0.0.1", server.port);
    // Three idle connections: a fourth client is served, the oldest idle one closed.
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(get(&server, "/api/server", &bob).0, 200);
    assert!(closed_within(&mut idle[0], Duration::from_secs(5)));
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    // Three clients trickle request bodies (a byte now and then, never the
    // whole): they keep the server waiting, so they make room for others.
    let mut tricklers: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(address).unwrap();
            write!(
                s,
                "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
            )
            .unwrap();
            s
        })
        .collect();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(200));
        for s in &mut tricklers {
            let _ = s.write_all(b" ");
        }
        assert_eq!(get(&server, "/api/server", &bob).0, 200);
    }
    let closed = tricklers
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(300)))
        .filter(|closed| *closed)
        .count();
    assert!(closed >= 1, "no trickler was closed to make room");
    drop(tricklers);
    std::thread::sleep(Duration::from_millis(300));
    // Three requests the server is working on (plugin calls of 4 s): every
    // connection is busy, and a newcomer is told so.
    let url = server.url("/api/plugin/hostile");
    let working: Vec<_> = (0..3)
        .map(|_| {
            let (url, bob) = (url.clone(), bob.clone());
            std::thread::spawn(move || {
                http()
                    .post(&url)
                    .header("X-Api-Key", &bob)
                    .header("Content-Type", "application/json")
                    .send(r#"{"command": "spin"}"#)
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let mut extra = http()
        .get(&server.url("/api/server"))
        .header("X-Api-Key", &bob)
        .call()
        .unwrap();
    assert_eq!(extra.status().as_u16(), 503);
    assert!(extra.body_mut().read_to_string().unwrap().contains("busy"));
    for w in working {
        assert_eq!(w.join().unwrap(), 504);
    }
    assert_eq!(get(&server, "/api/server", &bob).0, 200);
}

#[test]
fn a_user_has_a_bounded_number_of_push_channels_and_they_count_as_connections() {
    let sb = Sandbox::new();
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let query = format!("?apikey={key}");
    let mut open: Vec<Socket> = (0..32)
        .map(|_| push_channel(&server, &query, &[]).unwrap())
        .collect();
    assert_eq!(push_channel(&server, &query, &[]).err(), Some(429));
    let mut first = open.remove(0);
    first.close(None).unwrap();
    let _ = messages_within(&mut first, Duration::from_millis(300));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while push_channel(&server, &query, &[]).is_err() {
        assert!(
            Instant::now() < deadline,
            "a closed channel frees its place"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(open);

    // Push channels hold their connection: they count, and are never closed to make room.
    let sb = Sandbox::new();
    sb.write_config("server:\n  max_connections: 2\n");
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let query = format!("?apikey={key}");
    let sockets: Vec<Socket> = (0..2)
        .map(|_| push_channel(&server, &query, &[]).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let busy = http().get(&server.url("/api/server")).call().unwrap();
    assert_eq!(busy.status().as_u16(), 503);
    drop(sockets);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&server, "/api/server", &key).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "closed channels free their connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn sigterm_ends_the_server_even_while_a_plugin_call_spins() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    // In process: an isolated plugin's spinning call ends its process (tests/isolation.rs).
    sb.write_config("server:\n  plugin_call_timeout: 1\nisolation:\n  default: in_process\n");
    let key = user_key(&sb, "ada", true);
    let mut server = Server::start(&sb);
    let (status, _) = post(
        &server,
        "/api/plugin/hostile",
        &key,
        r#"{"command": "spin"}"#,
    );
    assert_eq!(status, 504, "the call spins on; the request does not");
    server.signal("TERM");
    let code = server.exit_within(Duration::from_secs(30));
    assert_eq!(code, Ok(Some(0)), "{}", server.log());
    let log = server.log();
    assert!(log.contains("stopped"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("calls still running") && l.contains("hostile")),
        "the plugin holding up the shutdown is named: {log}"
    );
}

#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once_whatever_is_running() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    let key = user_key(&sb, "ada", true);
    let mut server = Server::start(&sb);
    let url = server.url("/api/plugin/hostile");
    // A request spins inside the plugin (the call budget is 30 s): the drain waits for it.
    std::thread::spawn(move || {
        let _ = http()
            .post(&url)
            .header("X-Api-Key", &key)
            .header("Content-Type", "application/json")
            .send(r#"{"command": "spin"}"#);
    });
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    server.wait_for_log("shutting down");
    assert!(
        server.exit_within(Duration::from_millis(500)).is_err(),
        "still draining"
    );
    server.signal("INT");
    assert_eq!(server.exit_within(Duration::from_secs(3)), Ok(Some(130)));
}

#[test]
fn a_disabled_or_uninstalled_plugins_thread_can_no_longer_act_through_the_host() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("hostile"), "hostile");
    // In process: an isolated plugin's threads end with its process (tests/isolation.rs).
    sb.write_config("isolation:\n  default: in_process\n");
    let key = user_key(&sb, "ada", true);
    let server = Server::start(&sb);
    let chatter = sb.basedir.join("data/hostile/chatter.log");
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&chatter)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let wait_until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: {:?}", lines().last());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let toggle = |command: &str| {
        let (status, answer) = post(
            &server,
            "/api/plugins/hostile",
            &key,
            &json!({ "command": command }).to_string(),
        );
        assert_eq!(status, 200, "{command}: {answer}");
    };
    assert_eq!(
        post(
            &server,
            "/api/plugin/hostile",
            &key,
            r#"{"command": "chatter"}"#
        )
        .0,
        204
    );
    wait_until("the thread acts", &|| {
        lines().iter().filter(|l| l.ends_with(" ok")).count() >= 3
    });
    let mut socket = push_channel(&server, &format!("?apikey={key}"), &[]).unwrap();

    toggle("disable");
    wait_until("its calls are refused", &|| {
        lines()
            .last()
            .is_some_and(|l| l.contains("refused: plugin `hostile` is not running"))
    });
    let tick_then = sb.config();
    let seen = lines().len();
    let ticks_logged = server.log().lines().filter(|l| l.contains("tick ")).count();
    // Once refused, nothing of it gets through: no settings write, no event,
    // no message, no log line.
    let pushed = messages_within(&mut socket, Duration::from_secs(1));
    wait_until("it goes on trying", &|| lines().len() > seen + 10);
    assert_eq!(sb.config(), tick_then, "no settings write");
    for line in &lines()[seen..] {
        assert!(
            line.matches("is not running: the host refuses its").count() == 3
                && ["settings writes", "events", "plugin messages"]
                    .iter()
                    .all(|what| line.contains(what)),
            "each service is refused on its own: {line}"
        );
    }
    let later = messages_within(&mut socket, Duration::from_secs(1));
    assert!(
        later.iter().all(|m| !m.contains("tick")),
        "nothing pushed: {later:?} (before: {} messages)",
        pushed.len()
    );
    let log = server.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("tick ")).count(),
        ticks_logged,
        "no log line of it while disabled"
    );
    let refusals = log
        .lines()
        .filter(|l| {
            l.contains("the plugin is not running, but something of it still calls the host")
        })
        .collect::<Vec<_>>();
    assert_eq!(refusals.len(), 1, "logged once: {refusals:?}");
    assert!(refusals[0].contains("plugin=hostile"), "{}", refusals[0]);

    // Enabled again, it is served again.
    toggle("enable");
    let seen = lines().len();
    wait_until("served again", &|| {
        lines()[seen..].iter().any(|l| l.ends_with(" ok"))
    });

    // Uninstalled, it is refused for good.
    toggle("uninstall");
    let seen = lines().len();
    wait_until("refused after uninstall", &|| {
        lines()[seen..]
            .iter()
            .filter(|l| l.contains("refused"))
            .count()
            >= 5
    });
    assert!(server.log().lines().filter(|l| l.contains("tick ")).count() > ticks_logged);
}

/// A `plinth serve` whose start-up does not finish: no port to wait for.
struct Starting {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Starting {
    fn spawn(sb: &Sandbox) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = sb
            .serve_command()
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = log.clone();
        let reader = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, log }
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?}: {}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "still running after {limit:?}: {}",
            self.log.lock().unwrap()
        );
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
#[test]
fn a_signal_while_a_plugin_hangs_in_start_up_still_ends_the_server() {
    let sb = Sandbox::new();
    sb.user_as(
        &common::built().fixture("hostile"),
        "hostile_hang_on_startup",
    );
    let mut server = Starting::spawn(&sb);
    server.wait_for("hanging in on_startup");
    server.signal("TERM");
    server.wait_for("signal during start-up");
    // The step gets the drain time (10 s) to finish, then the process gives up.
    assert_eq!(server.exit_within(Duration::from_secs(30)), Some(1));
    assert!(server
        .log
        .lock()
        .unwrap()
        .contains("start-up did not finish"));
    // The start-up marker stays: the next start is in safe mode, without it.
    assert!(sb.basedir.join("startup_incomplete").exists());
    std::fs::remove_file(sb.basedir.join("startup_incomplete")).unwrap();

    let mut again = Starting::spawn(&sb);
    again.wait_for("hanging in on_startup");
    again.signal("TERM");
    again.wait_for("signal during start-up");
    again.signal("INT");
    assert_eq!(again.exit_within(Duration::from_secs(3)), Some(130));
}

/// Starts the host, kills it (SIGKILL: nothing of it gets to say why) once
/// its log says `hanging`, and returns the start-up marker it left.
#[cfg(unix)]
fn killed_at(sb: &Sandbox, hanging: &str) -> String {
    let mut first = Starting::spawn(sb);
    first.wait_for(hanging);
    first.signal("KILL");
    assert_eq!(first.exit_within(Duration::from_secs(10)), None);
    std::fs::read_to_string(sb.basedir.join("startup_incomplete")).unwrap()
}

/// The start after [`killed_at`]: it says the plugin runs isolated from now
/// on because the last start-up did not finish in `step`. The server and an
/// administrator's key.
fn restarted_blaming(sb: &Sandbox, step: &str) -> (Server, String) {
    let server = Server::start(sb);
    let log = server.wait_for_log("it runs isolated from now on");
    assert!(
        log.contains(&format!("the host's start-up did not finish in {step} at ")),
        "{log}"
    );
    let key = user_key(sb, "ada", true);
    (server, key)
}

/// A start-up killed while a plugin hangs as it is enabled names that
/// plugin in the marker, not the one enabled before it, and the next start
/// attributes it.
#[cfg(unix)]
#[test]
fn a_start_up_killed_while_a_plugin_is_enabled_names_that_plugin() {
    let sb = Sandbox::new();
    // Discovered (and enabled) in this order.
    sb.bundle_sample("helloworld").bundle_as(
        &common::built().fixture("hostile"),
        "hostile_hang_on_enable",
    );
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let marker = killed_at(&sb, "hanging in on_plugin_enabled");
    assert!(
        marker.contains("STEP\thostile_hang_on_enable\tenabling"),
        "{marker}"
    );
    assert!(!marker.contains("helloworld"), "{marker}");

    let (server, key) = restarted_blaming(&sb, "enabling");
    assert_eq!(
        common::plugin_entry(&server, &key, "helloworld")["state"],
        "enabled"
    );
    assert_eq!(server.stop(), Some(0));
}

/// A start-up killed while an in-process plugin hangs in it (nothing of the
/// host gets to say why) is attributed to that plugin at the next start: it
/// runs isolated from then on, every other plugin starts, and safe mode is
/// not used.
#[cfg(unix)]
#[test]
fn a_start_up_killed_in_a_plugins_step_is_attributed_to_it_at_the_next_start() {
    let sb = Sandbox::new();
    sb.bundle_as(
        &common::built().fixture("hostile"),
        "hostile_hang_on_startup",
    )
    .bundle_sample("helloworld");
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let marker = killed_at(&sb, "hanging in on_startup");
    assert!(
        marker.contains("STEP\thostile_hang_on_startup\ton_startup"),
        "{marker}"
    );

    // Isolated now, its hang ends its process after the call budget; the host starts.
    let (server, key) = restarted_blaming(&sb, "on_startup");
    let entry = |id: &str| common::plugin_entry(&server, &key, id);
    assert_eq!(entry("hostile_hang_on_startup")["mode"], "isolated");
    assert_eq!(entry("helloworld")["state"], "enabled");
    let (_, info) = get(&server, "/api/server", &key);
    assert!(info["safemode"].is_null(), "{info}");
    server.wait_for_log("hung in on_startup for 1 s");
    assert_eq!(server.stop(), Some(0));
}
