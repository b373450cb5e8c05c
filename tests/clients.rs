//! What OctoPrint's clients count on, through the real binary: the version
//! call, API keys in their three places, the current user, OctoPrint's login
//! answer and passive login with a key, JSON errors everywhere under
//! `/api/`, and the slicer flow (version, then upload with print).

#[macro_use]
mod common;

use common::{add_user, add_user_with, api_key, http, send, upload_form, Push, Sandbox, Server};
use plinth_abi::{json, Value};

/// `GET path` with the key in `how`: `header`, `query` or `bearer`.
fn get_with(server: &Server, path: &str, key: &str, how: &str) -> (u16, Value) {
    let agent = http();
    let request = match how {
        "header" => agent.get(&server.url(path)).header("X-Api-Key", key),
        "query" => agent.get(&server.url(&format!("{path}?apikey={key}"))),
        "bearer" => agent
            .get(&server.url(path))
            .header("Authorization", &format!("Bearer {key}")),
        _ => agent.get(&server.url(path)),
    };
    let mut response = request.call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A server whose printer is connected (`lines_per_second` lines per
/// second), an administrator's key and a push channel.
fn connected(lines_per_second: u32) -> (Sandbox, Server, String, Push) {
    let sb = Sandbox::new();
    sb.write_config(&format!(
        "printer:\n  lines_per_second: {lines_per_second}\nserial:\n  autoconnect: true\n"
    ));
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    common::wait_printer(&server, &key, "Operational");
    let push = Push::connect(&server, &key);
    (sb, server, key, push)
}

#[test]
fn version_keys_current_user_and_login_as_octoprint() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);

    for how in ["header", "query", "bearer"] {
        let (status, version) = get_with(&server, "/api/version", &ada, how);
        assert_eq!(status, 200, "{how}: {version}");
        assert_eq!(version["api"], "0.1");
        assert!(
            version["text"].as_str().unwrap().starts_with("OctoPrint "),
            "{version}"
        );
        assert!(version["server"].as_str().unwrap().starts_with("1."));
    }
    let (status, refused) = get_with(&server, "/api/version", "", "none");
    assert_eq!(status, 403, "anonymous: {refused}");
    assert!(refused["error"].is_string());
    let (status, refused) = get_with(&server, "/api/version", "wrong", "bearer");
    assert_eq!(status, 403, "{refused}");

    let (_, anonymous) = get_with(&server, "/api/currentuser", "", "none");
    assert_eq!(
        anonymous,
        json!({"name": null, "permissions": [], "groups": ["guests"]})
    );
    let (_, me) = get_with(&server, "/api/currentuser", &bob, "query");
    assert_eq!(me["name"], "bob");
    assert_eq!(me["groups"], json!(["users"]));
    let permissions = me["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("FILES_UPLOAD")), "{me}");
    assert!(!permissions.contains(&json!("ADMIN")), "{me}");

    // The login answer, with the session a push channel authenticates with.
    let mut response = http()
        .post(&server.url("/api/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"user": "ada", "pass": "pw"}"#)
        .unwrap();
    let login: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    for field in [
        "name",
        "active",
        "admin",
        "groups",
        "permissions",
        "needs",
        "roles",
        "session",
    ] {
        assert!(login.get(field).is_some(), "{field} missing: {login}");
    }
    assert_eq!(login["groups"], json!(["admins", "users"]));
    let permissions = login["permissions"].as_array().unwrap();
    for key in [
        "ADMIN",
        "SETTINGS",
        "PLUGIN_MANAGER",
        "STATUS",
        "PRINT",
        "MONITOR_TERMINAL",
    ] {
        assert!(permissions.contains(&json!(key)), "{key}: {login}");
    }
    assert!(!login["session"].as_str().unwrap().is_empty());

    // Passive login with an API key opens a session and shows the key back.
    let mut response = http()
        .post(&server.url("/api/login"))
        .header("X-Api-Key", &bob)
        .header("Content-Type", "application/json")
        .send(r#"{"passive": true}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("plinth_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("a session cookie");
    let passive: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (&passive["name"], &passive["apikey"]),
        (&json!("bob"), &json!(bob))
    );
    let session = passive["session"].as_str().unwrap().to_owned();
    assert!(
        !cookie.contains(&session),
        "the push token is not the HttpOnly cookie: {cookie} / {session}"
    );
    let mut again = http()
        .post(&server.url("/api/login"))
        .header("Cookie", &cookie)
        .header("Content-Type", "application/json")
        .send(r#"{"passive": true}"#)
        .unwrap();
    let again: Value = serde_json::from_str(&again.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (&again["name"], &again["session"]),
        (&json!("bob"), &json!(session))
    );
    let mut nobody = http()
        .post(&server.url("/api/login"))
        .header("Content-Type", "application/json")
        .send(r#"{"passive": true}"#)
        .unwrap();
    assert_eq!(nobody.status().as_u16(), 401);
    assert!(nobody
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("\"error\""));
    // A login form from another site (not JSON) logs nobody in.
    let mut form = http()
        .post(&server.url(&format!("/api/login?apikey={bob}")))
        .header("Content-Type", "text/plain")
        .send(r#"{"passive": true}"#)
        .unwrap();
    assert_eq!(form.status().as_u16(), 415);
    assert!(form.headers().get("set-cookie").is_none());
    let _ = form.body_mut().read_to_string();

    // The session a key opened ends with the key.
    let (status, _) = send(
        &server,
        "DELETE",
        "/api/access/users/bob/apikey",
        &ada,
        None,
    );
    assert_eq!(status, 204);
    let mut after = http()
        .get(&server.url("/api/currentuser"))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let after: Value = serde_json::from_str(&after.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(after["name"], Value::Null, "{after}");
}

#[test]
fn every_error_under_api_is_json() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    // A JSON body where a multipart upload is expected.
    let (status, answer) = send(
        &server,
        "POST",
        "/api/files/local",
        &key,
        Some(json!({"a": 1})),
    );
    assert!((400..500).contains(&status), "{status}");
    assert!(
        answer["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{answer}"
    );
    // A method a route does not take, and a route that does not exist.
    for (method, path) in [("DELETE", "/api/version"), ("GET", "/api/nothing/here")] {
        let (status, answer) = send(&server, method, path, &key, None);
        assert!((400..500).contains(&status), "{method} {path}: {status}");
        assert!(answer["error"].is_string(), "{method} {path}: {answer}");
    }
}

/// As PrusaSlicer and Cura do it: the version with the key, then an upload
/// with `select` and `print`, and the print runs.
#[test]
fn the_slicer_flow_uploads_and_prints() {
    let (_sb, server, key, push) = connected(20);
    let (status, version) = get_with(&server, "/api/version", &key, "header");
    assert_eq!(status, 200);
    assert!(version["text"].as_str().unwrap().starts_with("OctoPrint"));
    let gcode = "G28\nG1 X10 Y10 F3000\n".repeat(50);
    let (status, body) = upload_form(
        &server,
        &key,
        &[("select", "true"), ("print", "true")],
        Some(("benchy.gcode", gcode.as_bytes())),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["effectivePrint"], true, "{body}");
    assert_eq!(push.wait_event("PrintStarted")["name"], "benchy.gcode");
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(job["state"], "Printing", "{job}");
    let (status, _) = send(
        &server,
        "POST",
        "/api/job",
        &key,
        Some(json!({"command": "cancel"})),
    );
    assert_eq!(status, 204);
}

/// `GET /api/job` and the file listing after prints, as OctoPrint's: whole
/// seconds, the file's average and last print time on this printer profile,
/// `prints` and `statistics` in the listing with `free`/`total` and
/// absolute `refs`, and a cancelled job's progress reset.
#[test]
fn job_and_files_carry_print_history_as_octoprint() {
    let (_sb, server, key, push) = connected(1000);
    let gcode = "G1 X10 F3000\nG1 X0\n".repeat(20);
    let (status, _) = upload_form(
        &server,
        &key,
        &[("print", "true")],
        Some(("part.gcode", gcode.as_bytes())),
    );
    assert_eq!(status, 201);
    push.wait_event("PrintDone");
    let stats = push.wait_event("MetadataStatisticsUpdated");
    assert_eq!(stats["path"], "part.gcode");
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert!(job["job"]["averagePrintTime"].is_number(), "{job}");
    assert_eq!(job["job"]["averagePrintTime"], job["job"]["lastPrintTime"]);
    assert!(
        job["progress"]["printTime"].is_u64(),
        "whole seconds: {job}"
    );
    assert_eq!(job["job"]["file"]["display"], "part.gcode");

    let (_, listing) = send(&server, "GET", "/api/files/local", &key, None);
    assert!(listing["free"].as_u64().unwrap() > 0 && listing["total"].as_u64().unwrap() > 0);
    let entry = &listing["files"][0];
    assert_eq!(entry["prints"]["success"], 1, "{entry}");
    let hash = entry["hash"].as_str().unwrap();
    assert!(
        hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{entry}"
    );
    assert_eq!(entry["prints"]["failure"], 0);
    assert!(entry["statistics"]["averagePrintTime"]["_default"].is_number());
    let resource = entry["refs"]["resource"].as_str().unwrap();
    assert_eq!(
        resource,
        server.url("/api/files/local/part.gcode"),
        "absolute"
    );

    // The same content uploaded again keeps its history, as OctoPrint
    // compares hashes; other content under the name starts afresh.
    let again = |content: &str| {
        let (status, _) = upload_form(&server, &key, &[], Some(("part.gcode", content.as_bytes())));
        assert_eq!(status, 201);
        send(&server, "GET", "/api/files/local/part.gcode", &key, None).1
    };
    let same = again(&gcode);
    assert_eq!(same["prints"]["success"], 1, "{same}");
    assert_eq!(same["hash"], hash, "{same}");
    let other = again(&format!("{gcode}G1 X5\n"));
    assert_eq!(other["prints"], Value::Null, "{other}");
    assert_ne!(other["hash"], hash, "{other}");

    // A cancelled print counts as a failure, and its progress is reset.
    let slow = "G1 X10 F3000\nG1 X0\n".repeat(5000);
    upload_form(
        &server,
        &key,
        &[("print", "true")],
        Some(("slow.gcode", slow.as_bytes())),
    );
    push.wait_for("the slow print", |m| {
        m["event"]["type"] == "PrintStarted" && m["event"]["payload"]["name"] == "slow.gcode"
    });
    let (status, _) = send(
        &server,
        "POST",
        "/api/job",
        &key,
        Some(json!({"command": "cancel"})),
    );
    assert_eq!(status, 204);
    push.wait_for("the failure", |m| {
        m["event"]["type"] == "PrintFailed" && m["event"]["payload"]["name"] == "slow.gcode"
    });
    let (_, job) = send(&server, "GET", "/api/job", &key, None);
    assert_eq!(job["progress"]["completion"], Value::Null, "{job}");
    assert_eq!(job["progress"]["printTime"], Value::Null, "{job}");
    let (_, slow) = send(&server, "GET", "/api/files/local/slow.gcode", &key, None);
    assert_eq!(
        (&slow["prints"]["success"], &slow["prints"]["failure"]),
        (&json!(0), &json!(1)),
        "{slow}"
    );
}

/// OctoPrint's push channel at its SockJS path, as its clients use it:
/// connect without credentials, hear `connected`, authenticate with the
/// session of a passive login, get `history`, then events as `{type,
/// payload}`; a wrong session is refused.
#[test]
fn the_sockjs_push_channel_authenticates_with_a_session() {
    use tungstenite::Message;
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let url = format!("ws://127.0.0.1:{}/sockjs/websocket", server.port);
    let read = |socket: &mut tungstenite::WebSocket<_>| -> Value {
        loop {
            match socket.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                _ => continue,
            }
        }
    };
    let (mut socket, _) = tungstenite::connect(&url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_mut() {
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
    }
    let hello = read(&mut socket);
    let connected = &hello["connected"];
    assert!(connected["version"].is_string(), "{hello}");
    assert_eq!(connected["safe_mode"], Value::Null);
    assert_eq!(connected["online"], true);
    assert!(connected["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["key"] == "STATUS"));

    // A wrong session is refused.
    socket
        .send(Message::Text(r#"{"auth": "ada:not-a-session"}"#.into()))
        .unwrap();
    assert_eq!(read(&mut socket)["reauthRequired"]["reason"], "logout");

    // The session of a passive login with the API key is accepted.
    let mut response = http()
        .post(&server.url("/api/login"))
        .header("X-Api-Key", &key)
        .header("Content-Type", "application/json")
        .send(r#"{"passive": true}"#)
        .unwrap();
    let login: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let auth = json!({"auth": format!("ada:{}", login["session"].as_str().unwrap())});
    socket.send(Message::Text(auth.to_string().into())).unwrap();
    let history = read(&mut socket);
    assert!(history["history"]["state"]["text"].is_string(), "{history}");
    assert!(history["history"]["temps"].is_array());
    assert!(history["history"]["logs"].is_array());

    // Then events, as OctoPrint shapes them.
    let (status, _) = upload_form(&server, &key, &[], Some(("x.gcode", b"G28\n")));
    assert_eq!(status, 201);
    loop {
        let message = read(&mut socket);
        if message["event"]["type"] == "FileAdded" {
            assert_eq!(message["event"]["payload"]["path"], "x.gcode");
            break;
        }
    }

    // Three wrong tries, and the channel is closed.
    let (mut other, _) = tungstenite::connect(&url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = other.get_mut() {
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
    }
    read(&mut other);
    for _ in 0..3 {
        other
            .send(Message::Text(r#"{"auth": "ada:wrong"}"#.into()))
            .unwrap();
        assert_eq!(read(&mut other)["reauthRequired"]["reason"], "logout");
    }
    let closed = loop {
        match other.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(Message::Text(t)) => panic!("still talking after three wrong tries: {t}"),
            Ok(_) => continue,
        }
    };
    assert!(closed);
}

/// OctoPrint's application keys, as Home Assistant and phone apps use them:
/// probe, request, poll (202), a user's decision, the key once; a denial;
/// listing and revoking.
#[test]
fn applications_get_keys_when_a_user_allows_them() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let push = Push::connect(&server, &ada);
    let anonymous = |method: &str, path: &str, body: Option<Value>| {
        let agent = http();
        let url = server.url(path);
        let mut response = match body {
            Some(b) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            None if method == "GET" => agent.get(&url).call(),
            None => agent.post(&url).send(""),
        }
        .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };
    assert_eq!(anonymous("GET", "/plugin/appkeys/probe", None).0, 204);
    let (status, asked) = anonymous(
        "POST",
        "/plugin/appkeys/request",
        Some(json!({"app": "Home Assistant", "user": "bob"})),
    );
    assert_eq!(status, 201, "{asked}");
    let token = asked["app_token"].as_str().unwrap().to_owned();
    let told = push.wait_for("the request", |m| m["plugin"]["plugin"] == "appkeys");
    assert_eq!(told["plugin"]["data"]["type"], "request_access");
    assert_eq!(told["plugin"]["data"]["app_name"], "Home Assistant");
    assert_eq!(told["plugin"]["data"]["user_id"], "bob");
    assert_eq!(told["plugin"]["data"]["remote_address"], "127.0.0.1");
    let poll = format!("/plugin/appkeys/request/{token}");
    assert_eq!(
        anonymous("GET", &poll, None),
        (202, json!({"message": "Awaiting decision"})),
        "undecided"
    );

    // Users decide with a token of their own; the application's is never shown to them.
    let user_token = told["plugin"]["data"]["user_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(user_token, token);
    assert!(
        !told.to_string().contains(&token),
        "the app's token leaked: {told}"
    );
    assert_eq!(
        anonymous(
            "GET",
            &format!("/plugin/appkeys/request/{user_token}"),
            None
        )
        .0,
        404,
        "a user's token does not fetch the key"
    );
    // Only the named user decides: not anonymous callers, not even an administrator.
    let decision = format!("/plugin/appkeys/decision/{user_token}");
    assert_eq!(
        anonymous("POST", &decision, Some(json!({"decision": true}))).0,
        403
    );
    assert_eq!(
        send(
            &server,
            "POST",
            &decision,
            &ada,
            Some(json!({"decision": true}))
        )
        .0,
        403
    );
    let by_app_token = format!("/plugin/appkeys/decision/{token}");
    assert_eq!(
        send(
            &server,
            "POST",
            &by_app_token,
            &bob,
            Some(json!({"decision": true}))
        )
        .0,
        404,
        "the app's token does not decide"
    );
    let (status, _) = send(
        &server,
        "POST",
        &decision,
        &bob,
        Some(json!({"decision": true})),
    );
    assert_eq!(status, 204);
    let (status, got) = anonymous("GET", &poll, None);
    assert_eq!(status, 200, "{got}");
    let key = got["api_key"].as_str().unwrap().to_owned();
    assert_eq!(
        anonymous("GET", &poll, None).0,
        404,
        "the key is handed out once"
    );
    let (_, me) = send(&server, "GET", "/api/currentuser", &key, None);
    assert_eq!(me["name"], "bob", "the application's key is bob's");

    // A denial.
    let (_, asked) = anonymous(
        "POST",
        "/plugin/appkeys/request",
        Some(json!({"app": "Spy"})),
    );
    let token = asked["app_token"].as_str().unwrap().to_owned();
    let (_, pending) = send(&server, "GET", "/api/plugin/appkeys", &ada, None);
    // Keyed by user token, as OctoPrint's.
    let (spy, entry) = pending["pending"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["app_id"] == "Spy")
        .map(|(k, p)| (k.clone(), p.clone()))
        .unwrap();
    assert_eq!(entry["user_token"], spy.as_str());
    assert_eq!(entry["remote_address"], "127.0.0.1");
    let decision = format!("/plugin/appkeys/decision/{spy}");
    assert_eq!(
        send(
            &server,
            "POST",
            &decision,
            &ada,
            Some(json!({"decision": false}))
        )
        .0,
        204
    );
    assert_eq!(
        anonymous("GET", &format!("/plugin/appkeys/request/{token}"), None).0,
        404
    );
    assert_eq!(
        send(
            &server,
            "POST",
            &decision,
            &ada,
            Some(json!({"decision": true}))
        )
        .0,
        404
    );

    // Listing and revoking.
    let (_, mine) = send(&server, "GET", "/api/plugin/appkeys", &bob, None);
    assert_eq!(mine["keys"][0]["app_id"], "Home Assistant", "{mine}");
    assert_eq!(
        send(&server, "GET", "/api/plugin/appkeys?all=true", &bob, None).0,
        403
    );
    let (_, all) = send(&server, "GET", "/api/plugin/appkeys?all=true", &ada, None);
    assert_eq!(all["keys"].as_array().unwrap().len(), 1, "{all}");
    let revoke = json!({"command": "revoke", "app": "Home Assistant"});
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/plugin/appkeys",
            &bob,
            Some(revoke.clone())
        )
        .0,
        204
    );
    assert_eq!(
        send(&server, "GET", "/api/currentuser", &key, None).0,
        403,
        "revoked"
    );
    assert_eq!(
        send(&server, "POST", "/api/plugin/appkeys", &bob, Some(revoke)).0,
        404
    );
    let (status, made) = send(
        &server,
        "POST",
        "/api/plugin/appkeys",
        &bob,
        Some(json!({"command": "generate", "app": "Slicer"})),
    );
    assert_eq!(status, 200, "{made}");
    let (_, me) = send(
        &server,
        "GET",
        "/api/currentuser",
        made["api_key"].as_str().unwrap(),
        None,
    );
    assert_eq!(me["name"], "bob");
    assert_eq!(
        anonymous("POST", "/plugin/appkeys/request", Some(json!({}))).0,
        400
    );
    let long = json!({"app": "x".repeat(200)});
    assert_eq!(
        anonymous("POST", "/plugin/appkeys/request", Some(long)).0,
        400
    );
    // The poll URL comes absolute in `Location`, as OctoPrint's.
    let mut response = http()
        .post(&server.url("/plugin/appkeys/request"))
        .header("Content-Type", "application/json")
        .send(json!({"app": "Locator"}).to_string())
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let asked: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        location,
        server.url(&format!(
            "/plugin/appkeys/request/{}",
            asked["app_token"].as_str().unwrap()
        ))
    );
    // A fourth request from this address within the minute: refused, as
    // OctoPrint limits them (the refused ones above did not count).
    let (status, err) = anonymous(
        "POST",
        "/plugin/appkeys/request",
        Some(json!({"app": "Flood"})),
    );
    assert_eq!(status, 429, "{err}");
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("too many key requests"));
}

/// `/api/settings` carries OctoPrint's core sections where Plinth has the
/// feature, read from Plinth's settings (and written through them).
#[test]
fn settings_carry_octoprints_core_sections() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    sb.bundle_sample("testpicture");
    let server = Server::start(&sb);
    let (_, read) = send(&server, "GET", "/api/settings", &bob, None);
    for section in [
        "api",
        "appearance",
        "feature",
        "folder",
        "serial",
        "server",
        "temperature",
        "webcam",
    ] {
        assert!(read[section].is_object(), "{section}: {read}");
    }
    assert_eq!(read["serial"]["port"], "VIRTUAL");
    assert_eq!(read["serial"]["autoconnect"], false);
    assert_eq!(read["temperature"]["profiles"][0]["name"], "ABS");
    assert_eq!(read["feature"]["sdSupport"], false);
    // The webcam section with the keys of OctoPrint before 1.9, from the
    // default webcam's compat block (Home Assistant reads them).
    let cam = &read["webcam"];
    assert_eq!(cam["defaultWebcam"], "testpicture", "{cam}");
    assert_eq!(cam["snapshotWebcam"], "testpicture");
    assert_eq!(cam["webcamEnabled"], true);
    assert!(
        cam["snapshotUrl"].as_str().unwrap().contains("testpicture"),
        "{cam}"
    );
    assert_eq!(cam["streamUrl"], "");
    assert_eq!(cam["streamRatio"], "4:3");
    assert_eq!(cam["snapshotSslValidation"], true);
    assert_eq!(cam["flipH"], false);
    assert_eq!(cam["bitrate"], Value::Null, "no timelapses");
    // Without the webcam permission the section is empty, as OctoPrint's.
    add_user_with(&sb, "cy", &["--permissions", "settings_read"]);
    let cy = api_key(&sb, "cy");
    let (_, read) = send(&server, "GET", "/api/settings", &cy, None);
    assert_eq!(read["webcam"], json!({}), "{read}");
    let (status, _) = send(
        &server,
        "POST",
        "/api/settings",
        &ada,
        Some(
            json!({"serial": {"autoconnect": true}, "temperature": {"profiles": [{"name": "PETG", "extruder": 240, "bed": 80}]}}),
        ),
    );
    assert_eq!(status, 200);
    let (_, read) = send(&server, "GET", "/api/settings", &ada, None);
    assert_eq!(read["serial"]["autoconnect"], true, "{read}");
    assert_eq!(read["serial"]["port"], "VIRTUAL", "merged, not replaced");
    assert_eq!(read["temperature"]["profiles"][0]["name"], "PETG");
    let (_, commands) = send(&server, "GET", "/api/system/commands", &ada, None);
    assert_eq!(commands, json!({"core": [], "custom": []}));
    assert_eq!(
        send(&server, "GET", "/api/system/commands", &bob, None).0,
        403
    );
}

/// A user's own API key: made anew (shown once), revoked; a user manages
/// their own, an administrator anyone's.
#[test]
fn users_make_and_revoke_their_own_api_keys() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let (status, made) = send(
        &server,
        "POST",
        "/api/access/users/bob/apikey",
        &bob,
        Some(json!({})),
    );
    assert_eq!(status, 200, "{made}");
    let fresh = made["apikey"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&server, "GET", "/api/currentuser", &bob, None).0,
        403,
        "the old key ended"
    );
    assert_eq!(
        send(&server, "GET", "/api/currentuser", &fresh, None).1["name"],
        "bob"
    );
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/access/users/ada/apikey",
            &fresh,
            Some(json!({}))
        )
        .0,
        403,
        "not another user's"
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            "/api/access/users/bob/apikey",
            &ada,
            None
        )
        .0,
        204
    );
    assert_eq!(
        send(&server, "GET", "/api/currentuser", &fresh, None).0,
        403,
        "revoked"
    );
    assert_eq!(
        send(
            &server,
            "DELETE",
            "/api/access/users/nobody/apikey",
            &ada,
            None
        )
        .0,
        404
    );
}

/// OctoPrint's access API for administrators: list, add, change
/// (active, admin through `groups`, permissions in OctoPrint's keys) and
/// remove users, and passwords; a deactivated user's key and login stop
/// working; nothing may leave the host without an active administrator.
#[test]
fn administrators_manage_users_through_the_access_api() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let names = |answer: &Value| -> Vec<String> {
        answer["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let find = |answer: &Value, name: &str| -> Value {
        answer["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {answer}"))
    };

    let (status, list) = send(&server, "GET", "/api/access/users", &ada, None);
    assert_eq!(status, 200);
    assert_eq!(names(&list), ["ada", "bob"]);
    assert_eq!(find(&list, "ada")["groups"], json!(["admins", "users"]));
    assert_eq!(send(&server, "GET", "/api/access/users", &bob, None).0, 403);
    assert_eq!(
        send(&server, "GET", "/api/access/users/bob", &bob, None).0,
        200,
        "their own"
    );
    assert_eq!(
        send(&server, "GET", "/api/access/users/ada", &bob, None).0,
        403
    );
    let (_, perms) = send(&server, "GET", "/api/access/permissions", &bob, None);
    assert!(perms["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["key"] == "FILES_UPLOAD" && p["description"].is_string()));

    // Add: as OctoPrint's page sends it.
    let carl = json!({"name": "carl", "password": "pw", "active": true,
                      "groups": ["users"], "permissions": ["STATUS", "FILES_LIST"]});
    let (status, list) = send(
        &server,
        "POST",
        "/api/access/users",
        &ada,
        Some(carl.clone()),
    );
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        find(&list, "carl")["permissions"],
        json!(["FILES_LIST", "STATUS"])
    );
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/access/users",
            &bob,
            Some(carl.clone())
        )
        .0,
        403
    );
    let (status, err) = send(&server, "POST", "/api/access/users", &ada, Some(carl));
    assert_eq!(status, 409, "{err}");
    let (status, err) = send(
        &server,
        "POST",
        "/api/access/users",
        &ada,
        Some(json!({"name": "dora", "password": "pw", "permissions": ["FLY"]})),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("\"fly\""), "{err}");
    let (status, _) = send(
        &server,
        "POST",
        "/api/access/users",
        &ada,
        Some(json!({"name": "dora"})),
    );
    assert_eq!(status, 400, "no password");

    // Log in as carl; then deactivate: login and session end.
    let login = |user: &str, pass: &str| {
        http()
            .post(&server.url("/api/login"))
            .header("Content-Type", "application/json")
            .send(json!({"user": user, "pass": pass}).to_string())
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(login("carl", "pw"), 200);
    let (status, list) = send(
        &server,
        "PUT",
        "/api/access/users/carl",
        &ada,
        Some(json!({"active": false})),
    );
    assert_eq!(status, 200);
    assert_eq!(find(&list, "carl")["active"], false);
    assert_eq!(login("carl", "pw"), 403, "deactivated");
    send(
        &server,
        "PUT",
        "/api/access/users/carl",
        &ada,
        Some(json!({"active": true})),
    );
    assert_eq!(login("carl", "pw"), 200);

    // bob becomes an administrator through his groups, with his key.
    let (_, list) = send(
        &server,
        "PUT",
        "/api/access/users/bob",
        &ada,
        Some(json!({"groups": ["admins", "users"]})),
    );
    assert_eq!(find(&list, "bob")["admin"], true);
    assert_eq!(send(&server, "GET", "/api/access/users", &bob, None).0, 200);
    let (status, err) = send(
        &server,
        "PUT",
        "/api/access/users/bob",
        &ada,
        Some(json!({"groups": ["wizards"]})),
    );
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("wizards"), "{err}");

    // Passwords: your own needs the current one; an administrator's not.
    let change = |key: &str, who: &str, body: Value| {
        send(
            &server,
            "PUT",
            &format!("/api/access/users/{who}/password"),
            key,
            Some(body),
        )
        .0
    };
    assert_eq!(change(&ada, "ada", json!({"password": "new"})), 400);
    assert_eq!(
        change(&ada, "ada", json!({"password": "new", "current": "bad"})),
        403
    );
    assert_eq!(
        change(&ada, "ada", json!({"password": "new", "current": "pw"})),
        200
    );
    assert_eq!(login("ada", "new"), 200);
    assert_eq!(login("ada", "pw"), 403);
    assert_eq!(change(&ada, "carl", json!({"password": "carl2"})), 200);
    assert_eq!(login("carl", "carl2"), 200);

    // Removing: not yourself, not the last administrator.
    assert_eq!(
        send(&server, "DELETE", "/api/access/users/ada", &ada, None).0,
        400
    );
    let (status, list) = send(&server, "DELETE", "/api/access/users/carl", &ada, None);
    assert_eq!(status, 200);
    assert_eq!(names(&list), ["ada", "bob"]);
    send(&server, "DELETE", "/api/access/users/bob", &ada, None);
    let (status, err) = send(
        &server,
        "PUT",
        "/api/access/users/ada",
        &ada,
        Some(json!({"admin": false})),
    );
    assert_eq!(status, 409, "{err}");
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("no active administrator"));
    assert_eq!(
        send(&server, "DELETE", "/api/access/users/nobody", &ada, None).0,
        404
    );
}

/// OctoPrint's bundled discovery plugin, built in, as Home Assistant uses
/// it to add a printer: `plugins.discovery.upnpUuid` in the settings, kept
/// in config.yaml across restarts, and the UPnP device description with
/// that identifier, open to anyone.
#[test]
fn home_assistant_finds_the_instance_identifier() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let ada = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let (_, settings) = send(&server, "GET", "/api/settings", &ada, None);
    let uuid = settings["plugins"]["discovery"]["upnpUuid"]
        .as_str()
        .unwrap_or_else(|| panic!("no upnpUuid: {settings}"))
        .to_owned();
    assert_eq!(uuid.len(), 36, "{uuid}");
    let mut response = http()
        .get(&server.url("/plugin/discovery/discovery.xml"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("application/xml")));
    let xml = response.body_mut().read_to_string().unwrap();
    assert!(xml.contains(&format!("<UDN>uuid:{uuid}</UDN>")), "{xml}");
    assert!(xml.contains("<manufacturer>The OctoPrint Project</manufacturer>"));
    assert!(
        xml.contains(&format!(
            "<presentationURL>{}/</presentationURL>",
            server.url("")
        )),
        "{xml}"
    );
    // Anonymous callers do not get it from the settings: once users exist
    // they may not read the settings at all (as OctoPrint).
    let (status, anonymous) = get_with(&server, "/api/settings", "", "none");
    assert_eq!(status, 403, "{anonymous}");
    assert!(
        anonymous.to_string().contains("settings_read") && !anonymous.to_string().contains(&uuid),
        "{anonymous}"
    );

    // Posting the settings back, as OctoPrint's page does: stored, and the
    // identifier stays.
    let mut back = settings["plugins"]["discovery"].clone();
    back["publicPort"] = json!(8080);
    back["upnpUuid"] = json!("not-this-one");
    let (status, answer) = send(
        &server,
        "POST",
        "/api/settings",
        &ada,
        Some(json!({"plugins": {"discovery": back}})),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plugins"]["discovery"]["publicPort"], 8080);
    assert_eq!(answer["plugins"]["discovery"]["upnpUuid"], uuid.as_str());
    let (status, _) = send(
        &server,
        "POST",
        "/api/settings",
        &ada,
        Some(json!({"plugins": {"discovery": 5}})),
    );
    assert_eq!(status, 400);

    drop(server);
    let config = std::fs::read_to_string(sb.basedir.join("config.yaml")).unwrap();
    assert!(config.contains(&uuid), "kept in config.yaml: {config}");
    let server = Server::start(&sb);
    let (_, settings) = send(&server, "GET", "/api/settings", &ada, None);
    assert_eq!(settings["plugins"]["discovery"]["upnpUuid"], uuid.as_str());
}

/// Only administrators manage users (OctoPrint's `ADMIN`): a user holding
/// every other permission cannot make themselves one, nor set anyone's
/// password or key. A removed user's session does not come back for a new
/// user of the same name. Guesses at one's current password are limited
/// as logins are.
#[test]
fn only_administrators_manage_users_and_old_sessions_stay_dead() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let all: Vec<&str> = [
        "settings",
        "plugin_manager",
        "system",
        "status",
        "settings_read",
        "webcam",
        "connection",
        "control",
        "files_list",
        "files_upload",
        "files_download",
        "files_delete",
        "files_select",
        "print",
        "slice",
        "monitor_terminal",
    ]
    .to_vec();
    add_user_with(&sb, "dave", &["--permissions", &all.join(",")]);
    let dave = api_key(&sb, "dave");
    let ada = api_key(&sb, "ada");
    let server = Server::start(&sb);
    for (method, path, body) in [
        (
            "PUT",
            "/api/access/users/dave",
            Some(json!({"admin": true})),
        ),
        ("GET", "/api/access/users", None),
        ("GET", "/api/access/groups", None),
        (
            "POST",
            "/api/access/users",
            Some(json!({"name": "x", "password": "pw", "admin": true})),
        ),
        (
            "PUT",
            "/api/access/users/ada/password",
            Some(json!({"password": "mine"})),
        ),
        ("POST", "/api/access/users/ada/apikey", Some(json!({}))),
        ("DELETE", "/api/access/users/ada", None),
    ] {
        let (status, answer) = send(&server, method, path, &dave, body);
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    let (status, err) = send(
        &server,
        "PUT",
        "/api/access/users/dave",
        &ada,
        Some(json!({"permissions": ["USERS"]})),
    );
    assert_eq!(status, 400, "no such permission any more: {err}");

    // bob logs in; he is removed and a new bob added: the old cookie is nobody's.
    send(
        &server,
        "POST",
        "/api/access/users",
        &ada,
        Some(json!({"name": "bob", "password": "pw"})),
    );
    let (cookie, _) = common::login(&server, "bob");
    let me = |cookie: &str| -> Value {
        let mut r = http()
            .get(&server.url("/api/currentuser"))
            .header("Cookie", cookie)
            .call()
            .unwrap();
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    assert_eq!(me(&cookie)["name"], "bob");
    send(&server, "DELETE", "/api/access/users/bob", &ada, None);
    assert_eq!(me(&cookie)["name"], Value::Null);
    send(
        &server,
        "POST",
        "/api/access/users",
        &ada,
        Some(json!({"name": "bob", "password": "other", "admin": true})),
    );
    assert_eq!(
        me(&cookie)["name"],
        Value::Null,
        "the new bob is not the old"
    );

    // Guessing one's current password: limited as logins are.
    let guess = |current: &str| {
        send(
            &server,
            "PUT",
            "/api/access/users/dave/password",
            &dave,
            Some(json!({"password": "new", "current": current})),
        )
        .0
    };
    let statuses: Vec<u16> = (0..6).map(|i| guess(&format!("wrong{i}"))).collect();
    assert_eq!(statuses[..5], [403; 5]);
    assert_eq!(statuses[5], 429, "{statuses:?}");
    assert_eq!(guess("pw"), 429, "locked out, even with the right one");
}
