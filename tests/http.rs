//! The HTTP server, through a real binary on a free loopback port.

mod common;

use common::{add_user, api_key, http, login, upload, Sandbox, Server};
use plinth_abi::{json, Value};

fn get_json(server: &Server, path: &str) -> (u16, Value) {
    let mut response = http().get(&server.url(path)).call().unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn the_server_answers_its_api_and_errors_under_api_are_json() {
    let sb = Sandbox::new();
    sb.recorder("a");
    let server = Server::start(&sb);
    let (status, body) = get_json(&server, "/api/server");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"version": "1.11.8", "plinth_version": env!("CARGO_PKG_VERSION"), "safemode": null, "restart_pending": false, "slow_plugin_calls": 0, "plugin_crashes": 0, "plugin_restarts": 0})
    );
    // A path joined with a doubled slash, as some clients build it, is the
    // same resource (OctoPrint's router takes it so).
    let (status, again) = get_json(&server, "//api/server");
    assert_eq!((status, &again), (200, &body));
    let (status, _) = get_json(&server, "///api/nothing?x=1");
    assert_eq!(status, 404);
    let (status, body) = get_json(&server, "/api/nothing/here");
    assert_eq!(
        (status, body),
        (404, json!({"error": "no such resource: /api/nothing/here"}))
    );
    let response = http().get(&server.url("/nothing")).call().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    // on_startup ran before the server accepted; on_after_startup once it did.
    let calls = sb.lifecycle_calls();
    assert_eq!(
        calls
            .iter()
            .filter(|l| l.starts_with("a on_startup 127.0.0.1 "))
            .count(),
        1,
        "{calls:?}"
    );
    assert!(calls.contains(&"a on_after_startup".to_owned()));
    assert_eq!(server.stop(), Some(0));
    let calls = sb.lifecycle_calls();
    assert_eq!(
        calls[calls.len() - 2..],
        ["a on_shutdown", "a drop"].map(String::from)
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = sb.plinth(&["serve", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

/// A GET sent as written (clients would normalise `..` away): status, headers, body.
fn raw_get(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(": ")?;
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

#[test]
fn static_assets_are_served_with_types_and_caching_and_never_from_outside() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    let site = sb.basedir.join("plugins").join("site");
    std::fs::create_dir_all(site.join("static/css")).unwrap();
    std::fs::copy(
        common::built().fixture("recorder"),
        site.join(common::lib_file("site")),
    )
    .unwrap();
    std::fs::write(site.join("static/app.js"), "console.log('hi');\n").unwrap();
    std::fs::write(site.join("static/css/style.css"), "body {}\n").unwrap();
    std::fs::write(sb.basedir.join("secret.txt"), "secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(sb.basedir.join("secret.txt"), site.join("static/leak.txt"))
        .unwrap();
    sb.recorder("plain");
    sb.write_config("plugins:\n  _disabled: [plain]\n");
    let server = Server::start(&sb);

    let (status, head, body) = raw_get(&server, "/plugin/site/static/app.js", &[]);
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"console.log('hi');\n"[..])
    );
    assert!(
        header(&head, "content-type")
            .unwrap()
            .contains("javascript"),
        "{head}"
    );
    let etag = header(&head, "etag").unwrap().to_owned();
    let last_modified = header(&head, "last-modified").unwrap().to_owned();
    assert_eq!(
        raw_get(
            &server,
            "/plugin/site/static/app.js",
            &[("If-None-Match", &etag)]
        )
        .0,
        304
    );
    assert_eq!(
        raw_get(
            &server,
            "/plugin/site/static/app.js",
            &[("If-Modified-Since", &last_modified)]
        )
        .0,
        304
    );
    let (status, head, _) = raw_get(&server, "/plugin/site/static/css/style.css", &[]);
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/css"),
        "{head}"
    );

    // Compiled into helloworld's library.
    let (status, head, body) =
        raw_get(&server, "/plugin/helloworld/static/css/helloworld.css", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(!body.is_empty() && header(&head, "etag").is_some());

    for path in [
        "/plugin/site/static/../../../secret.txt",
        "/plugin/site/static/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/plugin/site/static/..%2f..%2f..%2fsecret.txt",
        "/plugin/site/static/css%2f..%2f..%2fsite.so",
        "/plugin/site/static//etc/passwd",
        "/plugin/site/static/%2fetc%2fpasswd",
        "/plugin/site/static/leak.txt",
        "/plugin/site/static/missing.js",
        "/plugin/ghost/static/app.js",
        "/plugin/plain/static/app.js",
    ] {
        let (status, _, body) = raw_get(&server, path, &[]);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{path}");
    }
}

#[test]
fn every_row_of_the_simple_api_table() {
    use std::io::Write;
    let sb = Sandbox::new();
    sb.recorder("rec")
        .recorder("rec_adminonly")
        .recorder("rec_public")
        .recorder("rec_nocommands");
    sb.bundle_sample("event_logger");
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let add = |name: &str, admin: bool| {
        let mut args = vec![
            "--basedir".to_owned(),
            sb.basedir.display().to_string(),
            "user".into(),
            "add".into(),
            name.into(),
        ];
        if admin {
            args.push("--admin".into());
        }
        let mut child = std::process::Command::new(common::built().plinth())
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
        assert!(child.wait().unwrap().success());
        common::stdout(&sb.plinth(&["user", "apikey", name]))
            .trim()
            .to_owned()
    };
    let (admin, user) = (add("ada", true), add("bob", false));
    let server = Server::start(&sb);
    let call = |method: &str,
                path: &str,
                key: Option<&str>,
                body: Option<(&str, &str)>|
     -> (u16, String) {
        let agent = http();
        let url = server.url(path);
        let mut response = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(k) = key {
                    r = r.header("X-Api-Key", k);
                }
                r.call().unwrap()
            }
            (_, Some((content_type, text))) => {
                let mut r = agent.post(&url).header("Content-Type", content_type);
                if let Some(k) = key {
                    r = r.header("X-Api-Key", k);
                }
                r.send(text).unwrap()
            }
            _ => unreachable!(),
        };
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let json = "application/json";
    /// Method, path, API key, body (content type, text), expected status.
    type Row<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<(&'a str, &'a str)>,
        u16,
    );
    let rows: Vec<Row> = vec![
        ("GET", "/api/plugin/ghost", Some(&user), None, 404),
        (
            "POST",
            "/api/plugin/ghost",
            Some(&user),
            Some((json, r#"{"command":"echo"}"#)),
            404,
        ),
        ("GET", "/api/plugin/event_logger", Some(&user), None, 404),
        (
            "POST",
            "/api/plugin/rec_nocommands",
            Some(&user),
            Some((json, r#"{"command":"echo"}"#)),
            405,
        ),
        ("GET", "/api/plugin/rec_adminonly", Some(&user), None, 403),
        (
            "POST",
            "/api/plugin/rec_adminonly",
            Some(&user),
            Some((json, r#"{"command":"echo"}"#)),
            403,
        ),
        ("GET", "/api/plugin/rec_adminonly", Some(&admin), None, 200),
        ("GET", "/api/plugin/rec", None, None, 403),
        ("GET", "/api/plugin/rec_public", None, None, 200),
        ("GET", "/api/plugin/rec", Some("not-a-key"), None, 403),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some(("text/plain", r#"{"command":"echo"}"#)),
            415,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, "{not json")),
            400,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"x": 1}"#)),
            400,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"fly"}"#)),
            400,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"need"}"#)),
            400,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"need","x":1}"#)),
            200,
        ),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"nothing"}"#)),
            204,
        ),
        ("GET", "/api/plugin/rec?nothing=1", Some(&user), None, 204),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"panic"}"#)),
            500,
        ),
        ("GET", "/api/plugin/rec?panic=1", Some(&user), None, 500),
        (
            "POST",
            "/api/plugin/rec",
            Some(&user),
            Some((json, r#"{"command":"hang"}"#)),
            504,
        ),
        ("GET", "/api/plugin/rec_public", None, None, 200),
    ];
    for (method, path, key, body, want) in rows {
        let (status, text) = call(method, path, key, body);
        assert_eq!(status, want, "{method} {path} {body:?}: {text}");
        if status >= 400 {
            let error: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
            assert!(error["error"].is_string(), "{text}");
        }
    }
    // The hung call ends `rec`'s process (it runs isolated, with the same
    // 1 s budget): it answers again once it is restarted, after its backoff.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let entry = common::plugin_entry(&server, &admin, "rec");
        if entry["crashes"]["restarts"] == 1 && entry["state"] == "enabled" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rec never came back: {entry}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (_, text) = call(
        "POST",
        "/api/plugin/rec",
        Some(&user),
        Some((json, r#"{"command":"need","x":1}"#)),
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"command": "need", "data": {"command": "need", "x": 1}})
    );
    let (_, text) = call("GET", "/api/plugin/rec?a=b", Some(&user), None);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"id": "rec", "query": {"a": "b"}, "user": "bob"})
    );
    server.wait_for_log("on_api_command did not answer within 1s");
    assert_eq!(get_json(&server, "/api/server").1["slow_plugin_calls"], 1);
}

/// A POST with a JSON body, optionally with a session cookie and CSRF token.
fn post_json(
    server: &Server,
    path: &str,
    body: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> ureq::http::Response<ureq::Body> {
    let mut r = http()
        .post(&server.url(path))
        .header("Content-Type", "application/json");
    if let Some(c) = cookie {
        r = r.header("Cookie", c);
    }
    if let Some(t) = csrf {
        r = r.header("X-CSRF-Token", t);
    }
    r.send(body).unwrap()
}

#[test]
fn login_sessions_csrf_logout_and_the_failed_login_limit() {
    let sb = Sandbox::new();
    sb.recorder("rec");
    add_user(&sb, "bob", false);
    let server = Server::start(&sb);
    let post = |path: &str, body: &str, cookie: Option<&str>, csrf: Option<&str>| {
        post_json(&server, path, body, cookie, csrf)
    };

    // Wrong password: 403; the sixth failure from this address: 429.
    for _ in 0..5 {
        assert_eq!(
            post("/api/login", r#"{"user":"bob","pass":"nope"}"#, None, None)
                .status()
                .as_u16(),
            403
        );
    }
    let mut limited = post("/api/login", r#"{"user":"bob","pass":"pw"}"#, None, None);
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("too many failed logins"));

    // A fresh server, with no failures counted.
    let sb2 = Sandbox::new();
    sb2.recorder("rec");
    add_user(&sb2, "bob", false);
    let server = Server::start(&sb2);
    let post = |path: &str, body: &str, cookie: Option<&str>, csrf: Option<&str>| {
        post_json(&server, path, body, cookie, csrf)
    };
    let mut ok = post("/api/login", r#"{"user":"bob","pass":"pw"}"#, None, None);
    assert_eq!(ok.status().as_u16(), 200);
    let cookies: Vec<String> = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("plinth_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    let csrf_cookie = cookies
        .iter()
        .find(|c| c.starts_with("plinth_csrf="))
        .unwrap();
    let session_pair = session.split(';').next().unwrap().to_owned();
    let csrf = csrf_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("plinth_csrf=")
        .to_owned();
    let me: Value = serde_json::from_str(&ok.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        (me["name"].as_str(), me["admin"].as_bool()),
        (Some("bob"), Some(false))
    );

    // The session authenticates; a state change needs the CSRF token.
    let get = |cookie: Option<&str>| {
        let mut r = http().get(&server.url("/api/plugin/rec"));
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        r.call().unwrap().status().as_u16()
    };
    assert_eq!(get(Some(&session_pair)), 200);
    assert_eq!(get(None), 403);
    let command = r#"{"command":"echo"}"#;
    assert_eq!(
        post("/api/plugin/rec", command, Some(&session_pair), None)
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        post(
            "/api/plugin/rec",
            command,
            Some(&session_pair),
            Some("wrong")
        )
        .status()
        .as_u16(),
        400
    );
    assert_eq!(
        post("/api/plugin/rec", command, Some(&session_pair), Some(&csrf))
            .status()
            .as_u16(),
        200
    );

    // Passive login checks the session.
    let mut passive = post(
        "/api/login",
        r#"{"passive":true}"#,
        Some(&session_pair),
        None,
    );
    assert_eq!(passive.status().as_u16(), 200);
    assert!(passive
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("\"bob\""));
    assert_eq!(
        post("/api/login", r#"{"passive":true}"#, None, None)
            .status()
            .as_u16(),
        401
    );

    // Logout needs the CSRF token like every other state change, then ends the session.
    for token in [None, Some("wrong")] {
        assert_eq!(
            post("/api/logout", "{}", Some(&session_pair), token)
                .status()
                .as_u16(),
            400
        );
    }
    assert_eq!(
        get(Some(&session_pair)),
        200,
        "a refused logout ends nothing"
    );
    assert_eq!(
        post("/api/logout", "{}", Some(&session_pair), Some(&csrf))
            .status()
            .as_u16(),
        204
    );
    assert_eq!(get(Some(&session_pair)), 403);
    assert_eq!(
        post(
            "/api/login",
            r#"{"passive":true}"#,
            Some(&session_pair),
            None
        )
        .status()
        .as_u16(),
        401
    );
    assert_eq!(
        post("/api/login", "{nope", None, None).status().as_u16(),
        400
    );
}

#[test]
fn settings_over_http_for_the_seeds_four_callers_and_saving() {
    use std::io::Write;
    let sb = Sandbox::new();
    sb.bundle_sample("restricted").bundle_sample("helloworld");
    sb.write_config("server:\n  plugin_call_timeout: 20\n");
    add_user(&sb, "ada", true);
    add_user(&sb, "with_webcam", false);
    let mut child = std::process::Command::new(common::built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .args([
            "user",
            "add",
            "no_webcam",
            "--permissions",
            "status,settings_read",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let keys: Vec<(Option<String>, &str)> = vec![
        (Some(api_key(&sb, "no_webcam")), "user without webcam"),
        (Some(api_key(&sb, "with_webcam")), "user with webcam"),
        (Some(api_key(&sb, "ada")), "admin"),
    ];
    let server = Server::start(&sb);
    let get = |key: &Option<String>| -> Value {
        let mut r = http().get(&server.url("/api/settings"));
        if let Some(k) = key {
            r = r.header("X-Api-Key", k);
        }
        let mut response = r.call().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    };
    let expected = |admin: bool, user: bool, webcam: bool| {
        let show = |visible: bool, value: &str| if visible { json!(value) } else { Value::Null };
        json!({
            "some": {
                "admin_only": {"path": show(admin, "path"), "foo": "foo"},
                "user_only": {"path": show(user, "path"), "bar": "bar"}
            },
            "another": {"admin_only": {"path": show(admin, "path")}, "field": "field"},
            "path": {"to": {"never": {"return": null}}},
            "the": {"webcam": {"data": show(webcam, "webcam")}}
        })
    };
    // Once users exist, an anonymous caller may not read the settings at
    // all (OctoPrint's SETTINGS_READ check): 403, naming the permission.
    let mut anonymous = http().get(&server.url("/api/settings")).call().unwrap();
    assert_eq!(anonymous.status().as_u16(), 403);
    let why = anonymous.body_mut().read_to_string().unwrap();
    assert!(why.contains("settings_read"), "{why}");
    let wanted = [
        expected(false, true, false),
        expected(false, true, true),
        expected(true, true, true),
    ];
    for ((key, who), want) in keys.iter().zip(wanted) {
        let body = get(key);
        assert_eq!(body["plugins"]["restricted"], want, "{who}");
        // Stored host settings only for the `settings` permission; OctoPrint's
        // core sections for readers (`settings_read`), none for anonymous callers.
        assert_eq!(
            body["server"].get("plugin_call_timeout").is_some(),
            *who == "admin",
            "{who}: {body}"
        );
        assert_eq!(
            body.get("appearance").is_some(),
            key.is_some(),
            "{who}: {body}"
        );
        // Webcams only for the `webcam` permission: an empty section for
        // the others, as OctoPrint.
        assert_eq!(
            body.get("webcam")
                .is_some_and(|w| w.get("webcams").is_some()),
            key.is_some() && *who != "user without webcam",
            "{who}: {body}"
        );
        if *who == "user without webcam" {
            assert_eq!(body["webcam"], json!({}), "{body}");
        }
    }

    // Saving needs the settings permission.
    let post = |key: &str, body: &str| {
        http()
            .post(&server.url("/api/settings"))
            .header("Content-Type", "application/json")
            .header("X-Api-Key", key)
            .send(body)
            .unwrap()
    };
    let change = r#"{"plugins": {"helloworld": {"some_setting": "bar", "some_value": 23}}}"#;
    assert_eq!(
        post(keys[1].0.as_deref().unwrap(), change)
            .status()
            .as_u16(),
        403
    );
    let mut saved = post(keys[2].0.as_deref().unwrap(), change);
    assert_eq!(saved.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&saved.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["plugins"]["helloworld"]["some_setting"], "bar");
    let disk: Value = yaml_serde::from_str(&sb.config()).unwrap();
    assert_eq!(
        disk["plugins"]["helloworld"],
        json!({"some_setting": "bar"}),
        "only the difference is stored"
    );
    assert_eq!(
        post(
            keys[2].0.as_deref().unwrap(),
            r#"{"plugins": {"ghost": {}}}"#
        )
        .status()
        .as_u16(),
        400
    );
}

#[test]
fn the_plugin_manager_over_http() {
    let sb = Sandbox::new();
    sb.bundle_sample("restart_needer");
    sb.recorder("plain").recorder("gone");
    sb.user_as(&common::built().fixture("reloader"), "reloader");
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (admin, user) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let call = |method: &str, path: &str, key: &str, body: &str| -> (u16, Value) {
        let url = server.url(path);
        let mut response = if method == "GET" {
            http().get(&url).header("X-Api-Key", key).call().unwrap()
        } else {
            http()
                .post(&url)
                .header("X-Api-Key", key)
                .header("Content-Type", "application/json")
                .send(body)
                .unwrap()
        };
        let text = response.body_mut().read_to_string().unwrap();
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    };
    assert_eq!(call("GET", "/api/plugins", &user, "").0, 403);
    let (status, list) = call("GET", "/api/plugins", &admin, "");
    assert_eq!(status, 200);
    let entry = |list: &Value, id: &str| {
        list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry(&list, "restart_needer")["state"], "enabled");

    let cmd = |id: &str, command: &str| {
        call(
            "POST",
            &format!("/api/plugins/{id}"),
            &admin,
            &format!(r#"{{"command":"{command}"}}"#),
        )
    };
    let (status, reply) = cmd("restart_needer", "disable");
    assert_eq!(
        (status, reply["needs_restart"].as_bool()),
        (200, Some(true)),
        "{reply}"
    );
    assert_eq!(reply["plugin"]["pending_disable"], true);
    let (_, reply) = cmd("restart_needer", "enable");
    assert_eq!(
        reply["needs_restart"], false,
        "toggling back cancels: {reply}"
    );

    let (status, reply) = cmd("plain", "disable");
    assert_eq!(
        (
            status,
            reply["state"].as_str(),
            reply["needs_restart"].as_bool()
        ),
        (200, Some("disabled"), Some(false))
    );
    let (_, reply) = cmd("reloader", "disable");
    assert_eq!(reply["needs_refresh"], true, "{reply}");
    assert_eq!(
        entry(&call("GET", "/api/plugins", &admin, "").1, "reloader")["needs_refresh"],
        true
    );

    assert_eq!(cmd("restart_needer", "uninstall").0, 403);
    assert_eq!(cmd("ghost", "enable").0, 404);
    assert_eq!(cmd("plain", "explode").0, 400);
    assert_eq!(
        call(
            "POST",
            "/api/plugins/plain",
            &user,
            r#"{"command":"enable"}"#
        )
        .0,
        403
    );
    let (status, _) = cmd("gone", "uninstall");
    assert_eq!(status, 200);
    assert!(!sb
        .basedir
        .join("plugins")
        .join(common::lib_file("gone"))
        .exists());
    assert!(sb
        .calls()
        .contains(&"gone on_plugin_pending_uninstall".to_owned()));
}

#[test]
fn blueprints_the_seeds_examples_protection_csrf_and_errors() {
    let sb = Sandbox::new();
    sb.bundle_sample("myblueprintplugin")
        .bundle_sample("restart_needer");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let (cookie, csrf) = login(&server, "ada");
    let send = |method: &str, path: &str, auth: &[(&str, &str)]| -> (u16, String) {
        let url = server.url(path);
        let mut response = if method == "GET" {
            let mut r = http().get(&url);
            for (n, v) in auth {
                r = r.header(*n, *v);
            }
            r.call().unwrap()
        } else {
            let mut r = http().post(&url);
            for (n, v) in auth {
                r = r.header(*n, *v);
            }
            r.send("").unwrap()
        };
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    };
    let base = "/plugin/myblueprintplugin";
    let with_key = [("X-Api-Key", key.as_str())];
    let with_cookie = [("Cookie", cookie.as_str())];
    let with_cookie_and_token = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    assert_eq!(
        send("GET", &format!("{base}/hello_world"), &[]).0,
        403,
        "protected by default"
    );
    assert_eq!(
        send("GET", &format!("{base}/echo?text=hi"), &with_key),
        (200, "hi".to_owned())
    );
    assert_eq!(
        send("GET", &format!("{base}/echo"), &with_key),
        (400, "Expected a text to echo back.".to_owned())
    );
    assert_eq!(
        send("GET", &format!("{base}/hello_world"), &with_cookie),
        (200, "Hello world!".to_owned())
    );
    assert_eq!(
        send("POST", &format!("{base}/hello_you"), &with_key).0,
        200,
        "API keys need no CSRF token"
    );
    assert_eq!(
        send("POST", &format!("{base}/hello_you"), &with_cookie).0,
        400,
        "a session needs the token"
    );
    assert_eq!(
        send("POST", &format!("{base}/hello_you"), &with_cookie_and_token),
        (200, "Hello you!".to_owned())
    );
    assert_eq!(
        send("POST", &format!("{base}/hello_me"), &with_cookie),
        (200, "Hello me!".to_owned()),
        "exempt"
    );
    assert_eq!(send("GET", &format!("{base}/hello_you"), &with_key).0, 405);
    let (status, body) = send("GET", &format!("{base}/nothing"), &with_key);
    assert_eq!(status, 404);
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(),
        "JSON errors: {body}"
    );

    // restart_needer: public, an API prefix, its own 404 handler, a failing route.
    let rn = "/plugin/restart_needer";
    let (status, body) = send("GET", &format!("{rn}/items/a%20b"), &[]);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({"item": "a b"}))
    );
    // A public route is CSRF-protected all the same, as OctoPrint's: an
    // anonymous POST needs the page's plinth_csrf cookie echoed back.
    let (status, body) = send("POST", &format!("{rn}/items/a"), &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("X-CSRF-Token"), "{body}");
    let page = http().get(&server.url("/login")).call().unwrap();
    let token = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("plinth_csrf="))
        .and_then(|c| c.split(';').next())
        .expect("the login page sets a CSRF cookie")
        .to_owned();
    let anon_cookie = format!("plinth_csrf={token}");
    let wrong = [("Cookie", anon_cookie.as_str()), ("X-CSRF-Token", "guess")];
    assert_eq!(send("POST", &format!("{rn}/items/a"), &wrong).0, 400);
    let right = [
        ("Cookie", anon_cookie.as_str()),
        ("X-CSRF-Token", token.as_str()),
    ];
    assert_eq!(
        send("POST", &format!("{rn}/items/a"), &right),
        (200, json!({"item": "a"}).to_string())
    );
    let (status, body) = send("GET", &format!("{rn}/items/broken"), &[]);
    assert_eq!(status, 500);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("this item is broken"));
    assert_eq!(
        send("GET", &format!("{rn}/elsewhere"), &[]),
        (404, "restart_needer has nothing at /elsewhere".to_owned())
    );
    // The next request to another plugin answers normally.
    assert_eq!(
        send("GET", &format!("{base}/hello_world"), &with_key).0,
        200
    );
    assert_eq!(send("GET", "/plugin/ghost/anything", &with_key).0, 404);
}

#[test]
fn a_start_up_that_did_not_finish_means_safe_mode_next_time() {
    let sb = Sandbox::new();
    sb.recorder("third_party");
    let marker = sb.basedir.join("startup_incomplete");
    let server = Server::start(&sb);
    assert!(!marker.exists(), "removed once start-up finished");
    assert_eq!(get_json(&server, "/api/server").1["safemode"], Value::Null);
    assert_eq!(server.stop(), Some(0));

    std::fs::write(&marker, "left by a crash").unwrap();
    let before = sb.calls().len();
    let server = Server::start(&sb);
    assert_eq!(
        get_json(&server, "/api/server").1["safemode"],
        "incomplete_startup"
    );
    assert_eq!(
        sb.calls().len(),
        before,
        "only bundled plugins run in safe mode"
    );
    assert!(!marker.exists());
    assert_eq!(server.stop(), Some(0));

    std::fs::write(&marker, "left by a crash").unwrap();
    let server = Server::start_with(&sb, &["--ignore-incomplete-startup"]);
    assert_eq!(get_json(&server, "/api/server").1["safemode"], Value::Null);
    assert!(sb.calls().len() > before);
    assert_eq!(server.stop(), Some(0));

    std::fs::write(&marker, "left by a crash").unwrap();
    sb.write_config("server:\n  ignore_incomplete_startup: true\n");
    let server = Server::start(&sb);
    assert_eq!(get_json(&server, "/api/server").1["safemode"], Value::Null);
    let server_flag = Server::start_with(&Sandbox::new(), &["--safe-mode"]);
    assert_eq!(get_json(&server_flag, "/api/server").1["safemode"], "flag");
    drop(server);
}

#[test]
fn a_failing_plugin_is_left_out_of_the_settings_api_and_wrong_methods_are_json() {
    let sb = Sandbox::new();
    let probe = common::built().fixture("settings_probe");
    sb.user_as(&probe, "good")
        .user_as(&probe, "x_fail_in_load")
        .user_as(&probe, "y_fail_in_save");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let mut response = http()
        .get(&server.url("/api/settings"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let plugins = body["plugins"].as_object().unwrap();
    assert!(plugins.contains_key("good") && plugins.contains_key("y_fail_in_save"));
    assert!(!plugins.contains_key("x_fail_in_load"), "{body}");
    let mut response = http()
        .post(&server.url("/api/settings"))
        .header("X-Api-Key", &key)
        .header("Content-Type", "application/json")
        .send(r#"{"plugins": {"good": {"value": 5}, "y_fail_in_save": {"value": 6}}}"#)
        .unwrap();
    // The caller is told which part was not saved (and which was).
    assert_eq!(response.status().as_u16(), 500);
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["saved"], json!(["good"]), "{body}");
    assert!(body["failed"]["y_fail_in_save"].is_string(), "{body}");
    let mut response = http()
        .get(&server.url("/api/settings"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["plugins"]["good"]["value"], 5);
    assert_eq!(
        body["plugins"]["y_fail_in_save"]["value"], 42,
        "not saved: the migrated value stays"
    );
    server.wait_for_log("y_fail_in_save fails in save");

    let mut wrong = http().delete(&server.url("/api/server")).call().unwrap();
    assert_eq!(wrong.status().as_u16(), 405);
    let error: Value = serde_json::from_str(&wrong.body_mut().read_to_string().unwrap()).unwrap();
    assert!(error["error"].is_string());
}

#[test]
fn helloworlds_simple_api_follows_the_seed() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    add_user(&sb, "bob", false);
    let key = api_key(&sb, "bob");
    let server = Server::start(&sb);
    let mut get = http()
        .get(&server.url("/api/plugin/helloworld"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    assert_eq!(get.status().as_u16(), 200);
    let body: Value = serde_json::from_str(&get.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body, json!({"foo": "bar"}));
    let post = |body: &str| {
        http()
            .post(&server.url("/api/plugin/helloworld"))
            .header("X-Api-Key", &key)
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        post(r#"{"command": "command2"}"#),
        400,
        "some_parameter is mandatory"
    );
    assert_eq!(
        post(
            r#"{"command": "command2", "some_parameter": "some_value", "some_optional_parameter": 2342}"#
        ),
        204
    );
    assert_eq!(post(r#"{"command": "command1", "parameter": 1}"#), 204);
    assert_eq!(post(r#"{"command": "command1"}"#), 204);
    server.wait_for_log("command2 called, some_parameter is some_value");
    let log = server.wait_for_log("command1 called, parameter is unset");
    assert!(
        log.contains("command1 called, parameter is set")
            && log.contains("command1 called, parameter is unset"),
        "{log}"
    );
}

#[test]
fn the_login_limit_holds_against_parallel_guesses_and_own_logins() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "eve", false);
    let server = Server::start(&sb);
    let port = server.port;
    // Ten guesses at once: only five get to be checked.
    let guesses: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                http()
                    .post(&format!("http://127.0.0.1:{port}/api/login"))
                    .header("Content-Type", "application/json")
                    .send(r#"{"user":"ada","pass":"guess"}"#)
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 403).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );

    // On a fresh server: logging in to one's own account does not wipe failed guesses.
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "eve", false);
    let server = Server::start(&sb);
    let login = |user: &str, pass: &str| {
        post_json(
            &server,
            "/api/login",
            &format!(r#"{{"user":"{user}","pass":"{pass}"}}"#),
            None,
            None,
        )
        .status()
        .as_u16()
    };
    for _ in 0..4 {
        assert_eq!(login("ada", "guess"), 403);
    }
    assert_eq!(login("eve", "pw"), 200);
    assert_eq!(login("ada", "guess"), 403);
    assert_eq!(
        login("ada", "pw"),
        429,
        "the fifth failure blocks the address"
    );
}

#[test]
fn static_files_stay_public_with_bad_credentials_and_answer_head() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    let server = Server::start(&sb);
    let path = "/plugin/helloworld/static/css/helloworld.css";
    let response = http()
        .get(&server.url(path))
        .header("X-Api-Key", "bogus")
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, head, body) = raw_head(&server, path);
    assert_eq!(status, 200, "{head}");
    assert!(body.is_empty() && header(&head, "etag").is_some(), "{head}");
}

/// A HEAD request as written: status, headers, body.
fn raw_head(server: &Server, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

#[test]
fn encoded_slashes_cannot_smuggle_segments_into_blueprint_parameters() {
    let sb = Sandbox::new();
    sb.bundle_sample("restart_needer");
    let server = Server::start(&sb);
    let (status, _, body) = raw_get(
        &server,
        "/plugin/restart_needer/items/..%2F..%2Fusers.yaml",
        &[],
    );
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = raw_get(&server, "/plugin/restart_needer/item%73/x", &[]);
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&body).unwrap()),
        (200, json!({"item": "x"}))
    );
}

#[test]
fn a_plugin_with_too_many_calls_hanging_gets_503_and_the_server_goes_on() {
    let sb = Sandbox::new();
    sb.recorder("rec_public").recorder("other_public");
    // In process: an isolated plugin's hung call ends its process (tests/isolation.rs).
    sb.write_config("server:\n  plugin_call_timeout: 0.5\nisolation:\n  default: in_process\n");
    let server = Server::start(&sb);
    let port = server.port;
    let hangs: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                http()
                    .post(&format!("http://127.0.0.1:{port}/api/plugin/rec_public"))
                    .header("Content-Type", "application/json")
                    .send(r#"{"command":"hang"}"#)
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = hangs.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 504), "{statuses:?}");
    // Its 16 calls are still sleeping: the plugin is busy, the others are not.
    let status = |path: &str| {
        http()
            .get(&server.url(path))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status("/api/plugin/rec_public"), 503);
    assert_eq!(status("/api/plugin/other_public"), 200);
    assert_eq!(status("/api/server"), 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        status("/api/plugin/rec_public"),
        200,
        "its slots come back when the calls end"
    );
}

/// 64 callers at once of a fast Simple API are all answered: the bound on
/// a plugin's calls counts only calls that hang.
#[test]
fn a_fast_simple_api_answers_64_callers_at_once() {
    let sb = Sandbox::new();
    sb.recorder("rec_public");
    sb.write_config("isolation:\n  default: in_process\n");
    let server = Server::start(&sb);
    let url = server.url("/api/plugin/rec_public");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(64));
    let callers: Vec<_> = (0..64)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let agent = http();
                barrier.wait();
                (0..20)
                    .map(|_| agent.get(&url).call().unwrap().status().as_u16())
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    for caller in callers {
        let statuses = caller.join().unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
}

#[test]
fn a_refused_settings_post_changes_nothing() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    sb.write_config("server:\n  port: 5000\n");
    let server = Server::start(&sb);
    let before = sb.config();
    let send = |content_type: &str, body: &str| {
        http()
            .post(&server.url("/api/settings"))
            .header("X-Api-Key", &key)
            .header("Content-Type", content_type)
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        send(
            "application/json",
            r#"{"evil": {"x": 1}, "plugins": {"nosuch": {}}}"#
        ),
        400
    );
    assert_eq!(send("application/json", r#"{"plugins": 5}"#), 400);
    assert_eq!(
        send(
            "application/json",
            r#"{"plugins": {"helloworld": {"some_value": 1}}, "server": {"port": 1}}"#
        ),
        200
    );
    assert_eq!(send("text/plain", r#"{"server": {"port": 2}}"#), 415);
    let after: Value = yaml_serde::from_str(&sb.config()).unwrap();
    assert!(after.get("evil").is_none(), "{after}");
    assert_eq!(after["server"]["port"], 1);
    assert_ne!(before, sb.config());
}

#[test]
fn the_push_channel_carries_events_and_plugin_messages_to_logged_in_clients() {
    use tungstenite::{stream::MaybeTlsStream, Message};
    let sb = Sandbox::new();
    sb.recorder("rec");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let ws =
        |query: &str| tungstenite::connect(format!("ws://127.0.0.1:{}/ws{query}", server.port));

    match ws("") {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 403),
        other => panic!("anonymous clients are refused, got {:?}", other.map(|_| ())),
    }
    let (mut socket, _) = ws(&format!("?apikey={key}")).unwrap();
    if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    let mut next = || -> Value {
        loop {
            match socket.read().unwrap() {
                Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    assert_eq!(next()["connected"]["user"], "ada");
    // A second client gets each message too, once (OctoPrint's
    // test_send_plugin_message with two receivers).
    let second = common::Push::connect(&server, &key);

    let sent = http()
        .post(&server.url("/api/plugin/rec"))
        .header("X-Api-Key", &key)
        .header("Content-Type", "application/json")
        .send(r#"{"command": "message", "data": {"progress": 42}}"#)
        .unwrap();
    assert_eq!(sent.status().as_u16(), 204);
    let saved = http()
        .post(&server.url("/api/settings"))
        .header("X-Api-Key", &key)
        .header("Content-Type", "application/json")
        .send(r#"{"server": {"note": "x"}}"#)
        .unwrap();
    assert_eq!(saved.status().as_u16(), 200);
    let (mut plugin_message, mut settings_event) = (None, None);
    while plugin_message.is_none() || settings_event.is_none() {
        let message = next();
        if message.get("plugin").is_some() {
            plugin_message = Some(message);
        } else if message["event"]["type"] == "SettingsUpdated" {
            settings_event = Some(message);
        }
    }
    assert_eq!(
        plugin_message.unwrap(),
        json!({"plugin": {"plugin": "rec", "data": {"progress": 42}}})
    );
    // OctoPrint's payload: hashes only, never the settings.
    let payload = settings_event.unwrap()["event"]["payload"].clone();
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["config_hash", "effective_hash"], "{payload}");
    assert_eq!(payload["config_hash"].as_str().unwrap().len(), 64);
    // The settings event was fired after the message was sent: once both
    // are there, a second copy of the message would be too.
    second.wait_for("the plugin message", |m| m.get("plugin").is_some());
    second.wait_event("SettingsUpdated");
    let to_second: Vec<Value> = second
        .all()
        .into_iter()
        .filter(|m| m.get("plugin").is_some())
        .collect();
    assert_eq!(
        to_second,
        [json!({"plugin": {"plugin": "rec", "data": {"progress": 42}}})]
    );
}

#[test]
fn files_are_uploaded_listed_downloaded_and_deleted_with_sanitised_names() {
    let sb = Sandbox::new();
    sb.recorder("rec");
    sb.write_config("server:\n  upload_max_bytes: 2000\n");
    add_user(&sb, "bob", false);
    let key = api_key(&sb, "bob");
    let server = Server::start(&sb);
    let get = |path: &str, key: Option<&str>| {
        let mut r = http().get(&server.url(path));
        if let Some(k) = key {
            r = r.header("X-Api-Key", k);
        }
        let mut response = r.call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_vec().unwrap(),
        )
    };
    assert_eq!(get("/api/files", None).0, 403);
    let gcode = b"G28\nG1 X10 Y10\n";
    let (status, body) = upload(&server, &key, "../my part (v2).gcode", gcode);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["files"]["local"]["name"], "my_part_v2.gcode");
    assert_eq!(
        body["files"]["local"]["typePath"],
        json!(["machinecode", "gcode"])
    );
    assert!(sb.basedir.join("uploads/my_part_v2.gcode").is_file());

    assert_eq!(upload(&server, &key, "tool.exe", b"MZ").0, 415);
    assert_eq!(upload(&server, &key, "big.gcode", &[b'G'; 4000]).0, 413);

    let (status, list) = get("/api/files", Some(&key));
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&list).unwrap();
    let names: Vec<_> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["my_part_v2.gcode"]);
    assert_eq!(get("/api/files/local/my_part_v2.gcode", Some(&key)).0, 200);
    assert_eq!(
        get("/downloads/files/local/my_part_v2.gcode", Some(&key)),
        (200, gcode.to_vec())
    );
    assert_eq!(
        get("/downloads/files/local/..%2Fconfig.yaml", Some(&key)).0,
        404
    );

    let delete = |name: &str| {
        http()
            .delete(&server.url(&format!("/api/files/local/{name}")))
            .header("X-Api-Key", &key)
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete("my_part_v2.gcode"), 204);
    assert_eq!(delete("my_part_v2.gcode"), 404);
    assert_eq!(get("/api/files/local/my_part_v2.gcode", Some(&key)).0, 404);

    // The events reached the plugins.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sb
        .calls()
        .iter()
        .any(|l| l.contains("on_event FileRemoved"))
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", sb.calls());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(sb
        .calls()
        .iter()
        .any(|l| l.contains(r#"on_event FileAdded {"storage":"local","path":"my_part_v2.gcode""#)));
}

/// OctoPrint's `_plugin_lifecycle_manager` callbacks as events: a plugin
/// enabled while the host runs is loaded then enabled; an uninstalled one is
/// unloaded.
#[test]
fn plugins_hear_others_loaded_enabled_disabled_and_unloaded() {
    let sb = Sandbox::new();
    sb.recorder("late");
    sb.write_config("plugins:\n  _disabled: [late]\n");
    common::add_user(&sb, "ada", true);
    let key = common::api_key(&sb, "ada");
    let server = Server::start(&sb);
    let push = common::Push::connect(&server, &key);
    let command = |command: &str| {
        let body = json!({ "command": command });
        let (status, answer) = common::send(&server, "POST", "/api/plugins/late", &key, Some(body));
        assert_eq!(status, 200, "{command}: {answer}");
    };
    command("enable");
    assert_eq!(push.wait_event("PluginLoaded")["id"], "late");
    push.wait_event("PluginEnabled");
    command("disable");
    push.wait_event("PluginDisabled");
    command("uninstall");
    assert_eq!(push.wait_event("PluginUnloaded")["id"], "late");
    let lifecycle: Vec<String> = push
        .events()
        .into_iter()
        .filter(|e| e.starts_with("Plugin"))
        .collect();
    assert_eq!(
        lifecycle,
        [
            "PluginLoaded",
            "PluginEnabled",
            "PluginDisabled",
            "PluginUnloaded"
        ]
    );
}

/// A POST that declares a body of `length` bytes and sends none: the
/// status and the text of the answer (given before the body is read).
fn declare_only(server: &Server, key: &str, path: &str, length: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A raw request to a plugin route with an API key: status and body text.
fn plugin_call(server: &Server, key: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let url = server.url(path);
    let agent = http();
    let mut response = match method {
        "GET" => agent.get(&url).header("X-Api-Key", key).call(),
        _ => agent.post(&url).header("X-Api-Key", key).send(body),
    }
    .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// `octoprint.access.permissions`, `.events.register_custom_events`,
/// `.server.http.bodysize` and `.cli.commands`, through the real binary.
#[test]
fn plugins_add_permissions_events_body_sizes_and_commands() {
    let sb = Sandbox::new();
    sb.user_as(&common::built().fixture("contrib_probe"), "contrib_probe");
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    // A plugin permission is granted like the host's own, before the plugin runs.
    let permissions = ["--permissions", "status,plugin_contrib_probe_self_destruct"];
    common::add_user_with(&sb, "carl", &permissions);
    let bad = sb.plinth(&["user", "add", "dan", "--permissions", "plugin_bad name"]);
    assert!(!bad.status.success());
    let (ada, bob, carl) = (
        api_key(&sb, "ada"),
        api_key(&sb, "bob"),
        api_key(&sb, "carl"),
    );

    // Command-line commands, with the plugin enabled alone and no server.
    let listed = sb.plinth(&["plugins", "run", "contrib_probe"]);
    assert!(listed.status.success(), "{}", common::stderr(&listed));
    let listed = common::stdout(&listed);
    assert!(
        listed.contains("greet") && listed.contains("says hello"),
        "{listed}"
    );
    let greet = sb.plinth(&[
        "plugins",
        "run",
        "contrib_probe",
        "greet",
        "dave",
        "--loudly",
    ]);
    assert_eq!(common::stdout(&greet).trim(), "hello dave --loudly");
    let fail = sb.plinth(&["plugins", "run", "contrib_probe", "fail"]);
    assert_eq!(fail.status.code(), Some(3));
    assert_eq!(common::stdout(&fail).trim(), "it failed");
    sb.recorder("plain");
    let none = sb.plinth(&["plugins", "run", "plain"]);
    assert!(common::stderr(&none).contains("plugin `plain` has no command-line commands"));
    let nosuch = sb.plinth(&["plugins", "run", "nosuch"]);
    assert!(!nosuch.status.success());
    assert!(
        common::stderr(&nosuch).contains("nosuch"),
        "{}",
        common::stderr(&nosuch)
    );
    assert!(sb.plinth(&["plugins", "disable", "plain"]).status.success());
    let disabled = sb.plinth(&["plugins", "run", "plain"]);
    assert!(
        common::stderr(&disabled).contains("plugin `plain` is disabled"),
        "{}",
        common::stderr(&disabled)
    );
    let unknown = sb.plinth(&["plugins", "run", "contrib_probe", "fly"]);
    assert!(!unknown.status.success());
    assert!(common::stderr(&unknown).contains("no command `fly` (its commands: greet, fail)"));

    let server = Server::start(&sb);
    let push = common::Push::connect(&server, &ada);
    // Permissions: users by default group, administrators all, grants by name.
    assert_eq!(
        plugin_call(&server, &bob, "GET", "/plugin/contrib_probe/door", b"").0,
        200
    );
    assert_eq!(
        plugin_call(&server, &bob, "GET", "/plugin/contrib_probe/destruct", b"").0,
        403
    );
    assert_eq!(
        plugin_call(&server, &ada, "GET", "/plugin/contrib_probe/destruct", b"").0,
        200
    );
    assert_eq!(
        plugin_call(&server, &carl, "GET", "/plugin/contrib_probe/destruct", b"").0,
        200
    );
    assert_eq!(
        plugin_call(&server, &carl, "GET", "/plugin/contrib_probe/door", b"").0,
        200,
        "open_pod_bay is every user's"
    );
    // The custom event, fired and listed.
    push.wait_event("plugin_contrib_probe_door_opened");
    let entry = common::plugin_entry(&server, &ada, "contrib_probe");
    assert_eq!(
        entry["custom_events"],
        json!(["plugin_contrib_probe_door_opened"])
    );
    let keys: Vec<&str> = entry["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "plugin_contrib_probe_open_pod_bay",
            "plugin_contrib_probe_self_destruct"
        ]
    );
    // Body sizes: 3 MB fits /big, not /small (2 MiB by default).
    let three_mb = vec![b'x'; 3_000_000];
    assert_eq!(
        plugin_call(
            &server,
            &ada,
            "POST",
            "/plugin/contrib_probe/big",
            &three_mb
        ),
        (200, "3000000".to_owned())
    );
    let (status, answer) = declare_only(&server, &ada, "/plugin/contrib_probe/small", 3_000_000);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer.contains("POST /small of plugin contrib_probe"),
        "{answer}"
    );
    assert_eq!(
        declare_only(&server, &ada, "/plugin/contrib_probe/big", 6_000_000).0,
        413
    );
    // Refused callers are refused before any body is read.
    assert_eq!(
        declare_only(&server, "nobody", "/plugin/contrib_probe/big", 3_000_000).0,
        403
    );
}

/// `POST /api/plugins` with `bytes` as the file `name`: the status and the JSON answer.
fn upload_plugin(server: &Server, key: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
    let boundary = "plinthboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut response = http()
        .post(&server.url("/api/plugins"))
        .header("X-Api-Key", key)
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send(&body[..])
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
    )
}

/// `POST /api/plugins`: a plugin library uploaded by an administrator is
/// installed by `plinth plugins install` in a process of its own; anything
/// else is refused with the reason, and nothing is installed.
#[test]
fn plugin_libraries_are_installed_by_upload() {
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let (ada, bob) = (api_key(&sb, "ada"), api_key(&sb, "bob"));
    let server = Server::start(&sb);
    let post = |key: &str, name: &str, bytes: &[u8]| upload_plugin(&server, key, name, bytes);
    let library = common::built().fixture("recorder");
    let bytes = std::fs::read(&library).unwrap();
    let name = library.file_name().unwrap().to_str().unwrap();
    assert_eq!(post(&bob, name, b"x").0, 403, "needs plugin_manager");
    let (status, answer) = post(&ada, "notes.txt", b"hello");
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("\"notes.txt\" is not a plugin library"),
        "{answer}"
    );
    let bogus = common::lib_file("bogus");
    let (status, answer) = post(&ada, &bogus, b"not a library");
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains(&bogus),
        "{answer}"
    );
    assert!(!sb.basedir.join("plugins").join(&bogus).exists());
    let (status, answer) = post(&ada, name, &bytes);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["id"], "recorder");
    assert!(sb.basedir.join("plugins").join(name).is_file());
    let (_, list) = common::send(&server, "GET", "/api/plugins", &ada, None);
    assert_eq!(list["restart_needed"], true);
    assert_eq!(list["installed"], json!(["recorder"]));
}

/// `POST /api/plugins` with a plugin archive, as OctoPrint's plugin manager
/// takes them: a .zip holding the plugin's folder, a .tar.gz with the
/// library at its top; an archive that would write outside its folder is
/// refused with the entry named, and nothing is installed.
#[test]
fn plugin_archives_are_installed_by_upload() {
    use std::io::Write;
    let sb = Sandbox::new();
    add_user(&sb, "ada", true);
    let ada = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let library = common::built().fixture("recorder");
    let bytes = std::fs::read(&library).unwrap();
    let lib_name = library.file_name().unwrap().to_str().unwrap().to_owned();
    let post = |name: &str, content: &[u8]| upload_plugin(&server, &ada, name, content);
    let zip_of = |entries: &[(&str, &[u8])]| {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        for (name, content) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap();
        out.into_inner()
    };

    // A hostile archive first: refused, naming the entry; nothing written.
    let evil = zip_of(&[
        ("../../evil.txt", b"x"),
        (&format!("recorder/{lib_name}"), &bytes),
    ]);
    let (status, answer) = post("evil.zip", &evil);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("../../evil.txt"),
        "{answer}"
    );
    assert!(!sb.basedir.join("plugins/recorder").exists());

    // The plugin's folder in a zip.
    let zip = zip_of(&[
        (&format!("recorder/{lib_name}"), &bytes),
        ("recorder/templates/recorder_tab.jinja2", b"<p>recorder</p>"),
    ]);
    let (status, answer) = post("recorder-1.0.zip", &zip);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["id"], "recorder");
    let folder = sb.basedir.join("plugins/recorder");
    assert!(folder.join(&lib_name).is_file());
    assert!(folder.join("templates/recorder_tab.jinja2").is_file());

    // The library at the top of a .tar.gz: the same folder, replaced.
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, &lib_name, &bytes[..]).unwrap();
    let tgz = tar.into_inner().unwrap().finish().unwrap();
    let (status, answer) = post("recorder.tar.gz", &tgz);
    assert_eq!(status, 201, "{answer}");
    assert!(folder.join(&lib_name).is_file());
    assert!(!folder.join("templates").exists(), "replaced, not merged");

    // An archive with no plugin says what it holds.
    let (status, answer) = post("notes.zip", &zip_of(&[("README.md", b"hi")]));
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("holds no plugin"),
        "{answer}"
    );

    // The plugin loads at the next start.
    drop(server);
    let server = Server::start(&sb);
    let (_, list) = common::send(&server, "GET", "/api/plugins", &ada, None);
    let recorder = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "recorder")
        .unwrap_or_else(|| panic!("recorder is not listed: {list}"));
    assert_eq!(recorder["state"], "enabled", "{recorder}");
    assert_eq!(recorder["source"], "user", "{recorder}");
}
