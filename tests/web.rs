//! The web interface over HTTP, through the real binary: the page and its
//! cache, the login redirect, the first-run and plugin wizards, UiPlugins and
//! preemptive caching. (What a browser does with the page is in `browser.rs`.)

#[macro_use]
mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{add_user, api_key, built, lib_file, Sandbox, Server};
use plinth_abi::{json, Value};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

/// A client that shows redirects instead of following them.
fn no_redirects() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = no_redirects().get(&server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.call().unwrap())
}

fn post(server: &Server, path: &str, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut request = no_redirects()
        .post(&server.url(path))
        .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send(body.to_string()).unwrap())
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    Answer {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// A sandbox with helloworld installed as a folder plugin (its templates on
/// disk, so the test can change them), wizard_demo, dummy_mobile_ui and the
/// ui_probe fixture, running `mode`.
fn sandbox(mode: &str) -> Sandbox {
    let sb = Sandbox::in_mode(mode);
    let folder = sb.basedir.join("plugins").join("helloworld");
    fs::create_dir_all(folder.join("templates")).unwrap();
    fs::copy(
        built().sample("helloworld"),
        folder.join(lib_file("helloworld")),
    )
    .unwrap();
    let sources = built().root.join("sample-plugins/helloworld/templates");
    for entry in fs::read_dir(sources).unwrap() {
        let entry = entry.unwrap();
        fs::copy(
            entry.path(),
            folder.join("templates").join(entry.file_name()),
        )
        .unwrap();
    }
    sb.bundle_sample("wizard_demo")
        .bundle_sample("dummy_mobile_ui")
        .bundle_as(&built().fixture("ui_probe"), "ui_probe");
    sb
}

fn the_page_is_cached_until_a_template_changes_and_renders_afresh_on_request_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    let key = api_key(&sb, "admin");
    let server = Server::start(&sb);
    let auth = [("X-Api-Key", key.as_str())];

    let first = get(&server, "/", &auth);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-plinth-cache"), Some("miss"));
    assert_eq!(first.header("x-plinth-ui"), Some("_default"));
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert!(first.header("last-modified").is_some());
    // helloworld's components under their default names, with its variable.
    for id in [
        "navbar_plugin_helloworld",
        "tab_plugin_helloworld",
        "settings_plugin_helloworld",
        "settings_plugin_wizard_demo",
    ] {
        assert!(first.body.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(first.body.contains("<h3>Hello World!</h3>"));
    assert!(first
        .body
        .contains("/plugin/helloworld/static/js/helloworld.js"));
    assert!(first
        .body
        .contains("/plugin/helloworld/static/css/helloworld.css"));
    // The probe's variable is escaped; its broken template becomes an error
    // box; its configuration naming a missing file is left out.
    assert!(
        first.body.contains("Word: &lt;b&gt;bold&lt;"),
        "_() and escaping"
    );
    assert!(!first.body.contains("<b>bold</b>"));
    assert!(first.body.contains("sidebar_plugin_ui_probe_x"));
    assert!(first.body.contains("plugin-template-error"));
    assert!(first
        .body
        .contains("ui_probe_broken.jinja2 failed to render"));
    assert!(!first.body.contains("navbar_plugin_ui_probe\""));
    server.wait_for_log("missing.jinja2");

    let second = get(&server, "/", &auth);
    assert_eq!(second.header("x-plinth-cache"), Some("hit"));
    assert_eq!(second.header("etag"), Some(etag.as_str()));
    assert_eq!(second.body, first.body);
    // A hit asks the plugins nothing: the probe was asked for its variables
    // no more often than for the first page.
    let asked_first = asked(&first.body);
    let _ = get(&server, "/", &auth);
    assert_eq!(asked(&get(&server, "/", &auth).body), asked_first);

    let revalidated = get(&server, "/", &[auth[0], ("If-None-Match", &etag)]);
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());

    for fresh in [
        get(&server, "/?_refresh=true", &auth),
        get(&server, "/", &[auth[0], ("Cache-Control", "no-cache")]),
        get(
            &server,
            "/",
            &[
                auth[0],
                ("Cache-Control", "no-cache"),
                ("If-None-Match", &etag),
            ],
        ),
    ] {
        assert_eq!(fresh.status, 200);
        assert_eq!(fresh.header("x-plinth-cache"), Some("miss"));
    }

    // Changing a tracked template makes a new ETag and a new render.
    let tab = sb
        .basedir
        .join("plugins/helloworld/templates/helloworld_tab.jinja2");
    std::thread::sleep(Duration::from_millis(20));
    fs::write(
        &tab,
        "<p id=\"changed_tab\">{{ plugin_helloworld_greeting }} again</p>",
    )
    .unwrap();
    let changed = get(&server, "/", &auth);
    assert_eq!(changed.header("x-plinth-cache"), Some("miss"));
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert!(changed.body.contains("Hello World! again"));

    // So does any new file in a template folder (templates include others)…
    let etag = changed.header("etag").unwrap().to_owned();
    fs::write(
        sb.basedir
            .join("plugins/helloworld/templates/helloworld_part.jinja2"),
        "part",
    )
    .unwrap();
    let added = get(&server, "/", &auth);
    assert_eq!(added.header("x-plinth-cache"), Some("miss"));
    assert_ne!(added.header("etag"), Some(etag.as_str()));

    // …and a template variable that changes with a setting.
    let etag = added.header("etag").unwrap().to_owned();
    let saved = post(
        &server,
        "/api/settings",
        &auth,
        &json!({"plugins": {"ui_probe": {"word": "renamed"}}}),
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let renamed = get(&server, "/", &auth);
    assert_eq!(renamed.header("x-plinth-cache"), Some("miss"));
    assert_ne!(renamed.header("etag"), Some(etag.as_str()));
    assert!(renamed.body.contains("Word: renamed"));
    assert!(
        asked(&renamed.body) > asked_first,
        "a changed setting asks the plugins again"
    );
}

/// How many times the probe says it was asked for its template variables.
fn asked(page: &str) -> u64 {
    let at = page.find("asked ").expect("the probe's sidebar") + "asked ".len();
    page[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

fn the_page_asks_for_a_login_once_users_exist_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    add_user(&sb, "viewer", false);
    let server = Server::start(&sb);

    let anonymous = get(&server, "/?x=1", &[]);
    assert_eq!(anonymous.status, 303, "{}", anonymous.body);
    assert_eq!(
        anonymous.header("location"),
        Some("/login?redirect=%2F%3Fx%3D1")
    );

    let login = get(&server, "/login?redirect=/%3Fx%3D1", &[]);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("login_user"));
    let evil = get(&server, "/login?redirect=//evil.example", &[]);
    assert!(!evil.body.contains("evil.example"));

    // A plain user has status and settings_read.
    let key = api_key(&sb, "viewer");
    let page = get(&server, "/", &[("X-Api-Key", &key)]);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"wizard_firstrun_acl\""));

    let statics = [
        ("/static/plinth.js", "javascript"),
        ("/static/plinth.css", "text/css"),
        ("/static/client.js", "javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ];
    for (path, kind) in statics {
        let file = get(&server, path, &[]);
        assert_eq!(file.status, 200, "{path}");
        assert!(
            file.header("content-type").unwrap().contains(kind),
            "{path}"
        );
        assert!(!file.body.is_empty(), "{path}");
    }
    assert_eq!(get(&server, "/static/nothing.js", &[]).status, 404);
}

fn the_first_run_wizard_creates_the_admin_once_and_plugin_wizards_are_finished_in(mode: &str) {
    let sb = sandbox(mode);
    let server = Server::start(&sb);

    let page = get(&server, "/", &[]);
    assert_eq!(page.status, 200, "first run needs no login");
    assert!(page.body.contains("id=\"wizard_firstrun_acl\""));
    assert!(page.body.contains("id=\"wizard_plugin_wizard_demo\""));
    // No UiPlugin stands between a phone and the first-run wizard.
    let phone = get(&server, "/", &[("User-Agent", IPHONE)]);
    assert_eq!(phone.header("x-plinth-ui"), Some("_default"));
    assert!(phone.body.contains("id=\"wizard_firstrun_acl\""));
    // Nobody finishes wizards before there is an administrator.
    let early = post(
        &server,
        "/api/setup/wizard",
        &[],
        &json!({"handled": ["wizard_demo"]}),
    );
    assert_eq!(early.status, 403, "{}", early.body);

    let wizards = get(&server, "/api/setup/wizard", &[]).json();
    assert_eq!(wizards["firstRun"], json!(true));
    assert_eq!(wizards["wizards"][0]["id"], json!("wizard_demo"));
    assert_eq!(wizards["wizards"][0]["version"], json!(1));
    assert_eq!(
        wizards["wizards"][0]["details"]["some_key_set"],
        json!(false)
    );

    // Bad input is refused and names the field.
    let missing = post(&server, "/api/setup/admin", &[], &json!({"user": "admin"}));
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("`pass`"), "{}", missing.body);
    let bad_name = post(
        &server,
        "/api/setup/admin",
        &[],
        &json!({"user": "", "pass": "pw"}),
    );
    assert_eq!(bad_name.status, 400, "{}", bad_name.body);
    let empty_pass = post(
        &server,
        "/api/setup/admin",
        &[],
        &json!({"user": "admin", "pass": ""}),
    );
    assert_eq!(empty_pass.status, 400);
    let not_json = no_redirects()
        .post(&server.url("/api/setup/admin"))
        .header("Content-Type", "text/plain")
        .send("user=admin")
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);

    // A page served under another name (DNS rebinding) cannot create it.
    let rebound = post(
        &server,
        "/api/setup/admin",
        &[("Host", "evil.example")],
        &json!({"user": "mallory", "pass": "x"}),
    );
    assert_eq!(rebound.status, 403, "{}", rebound.body);
    assert!(rebound.body.contains("DNS-rebinding"));
    let created = post(
        &server,
        "/api/setup/admin",
        &[],
        &json!({"user": "admin", "pass": "secret"}),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.json()["admin"], json!(true));
    let cookies: Vec<&str> = created
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(cookies.iter().any(|c| c.starts_with("plinth_session=")));
    let again = post(
        &server,
        "/api/setup/admin",
        &[],
        &json!({"user": "mallory", "pass": "x"}),
    );
    assert_eq!(again.status, 409, "{}", again.body);

    // No longer a first run: the wizard API needs the settings permission.
    assert_eq!(get(&server, "/api/setup/wizard", &[]).status, 403);
    let key = api_key(&sb, "admin");
    let auth = [("X-Api-Key", key.as_str())];
    for bad in [json!({"handled": "x"}), json!({}), json!({"handled": [1]})] {
        let refused = post(&server, "/api/setup/wizard", &auth, &bad);
        assert_eq!(refused.status, 400, "{bad}");
        assert!(refused.body.contains("`handled`"));
    }

    let finished = post(
        &server,
        "/api/setup/wizard",
        &auth,
        &json!({"handled": ["wizard_demo", "nosuchplugin"]}),
    );
    assert_eq!(finished.status, 200, "{}", finished.body);
    assert_eq!(finished.json()["handled"], json!(["wizard_demo"]));
    assert!(sb.config().contains("seenWizards"), "{}", sb.config());
    let log = fs::read_to_string(sb.basedir.join("data/wizard_demo/finished.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["handled=true some_key=null"]
    );

    // Still required (some_key is unset) but seen in version 1: not shown.
    let after = get(&server, "/api/setup/wizard", &auth).json();
    assert_eq!(after["wizards"], json!([]));
    let page = get(&server, "/", &auth);
    assert!(!page.body.contains("id=\"wizard_plugin_wizard_demo\""));

    // Finishing again calls every wizard plugin with handled = false.
    post(&server, "/api/setup/wizard", &auth, &json!({"handled": []}));
    let log = fs::read_to_string(sb.basedir.join("data/wizard_demo/finished.log")).unwrap();
    assert_eq!(log.lines().last(), Some("handled=false some_key=null"));

    // Removing every user does not open the first run to anyone again.
    server.stop();
    let removed = sb.plinth(&["user", "remove", "admin"]);
    assert!(removed.status.success(), "{}", common::stderr(&removed));
    let server = Server::start(&sb);
    assert_eq!(get(&server, "/", &[]).status, 303);
    let retry = post(
        &server,
        "/api/setup/admin",
        &[],
        &json!({"user": "mallory", "pass": "x"}),
    );
    assert_eq!(retry.status, 409, "{}", retry.body);
}

fn mandatory_wizards_come_first_and_each_is_finished_on_its_own_in(mode: &str) {
    let sb = sandbox(mode);
    sb.write_config("plugins:\n  ui_probe:\n    wizard: true\n");
    add_user(&sb, "admin", true);
    let key = api_key(&sb, "admin");
    let auth = [("X-Api-Key", key.as_str())];
    let server = Server::start(&sb);

    let list = get(&server, "/api/setup/wizard", &auth).json();
    let shown: Vec<(&str, bool)> = list["wizards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["id"].as_str().unwrap(), w["mandatory"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, [("ui_probe", true), ("wizard_demo", false)]);
    assert_eq!(list["wizards"][0]["name"], json!("Zzz probe"));
    assert_eq!(list["wizards"][0]["details"], json!({"probe": true}));
    let page = get(&server, "/", &auth).body;
    let probe = page
        .find("id=\"wizard_plugin_ui_probe\"")
        .expect("the probe's step");
    let demo = page
        .find("id=\"wizard_plugin_wizard_demo\"")
        .expect("the demo's step");
    assert!(probe < demo, "the mandatory step first");

    // Finishing one leaves the other shown; every wizard plugin is told.
    let done = post(
        &server,
        "/api/setup/wizard",
        &auth,
        &json!({"handled": ["wizard_demo"]}),
    );
    assert_eq!(done.json()["handled"], json!(["wizard_demo"]));
    let probe_log = || fs::read_to_string(sb.basedir.join("data/ui_probe/wizard.log")).unwrap();
    assert_eq!(probe_log(), "handled=false\n");
    let list = get(&server, "/api/setup/wizard", &auth).json();
    assert_eq!(list["wizards"].as_array().unwrap().len(), 1);
    assert_eq!(list["wizards"][0]["id"], json!("ui_probe"));

    // A wizard without a version, once seen, is ignored (the seed's table: N, N).
    post(
        &server,
        "/api/setup/wizard",
        &auth,
        &json!({"handled": ["ui_probe"]}),
    );
    assert_eq!(probe_log(), "handled=false\nhandled=true\n");
    assert!(sb.config().contains("ui_probe: null"), "{}", sb.config());
    assert_eq!(
        get(&server, "/api/setup/wizard", &auth).json()["wizards"],
        json!([])
    );
    assert!(!get(&server, "/", &auth)
        .body
        .contains("wizard_plugin_ui_probe"));
}

fn ui_plugins_answer_in_order_and_errors_fall_through_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    let key = api_key(&sb, "admin");
    let server = Server::start(&sb);
    let auth = |extra: &[(&'static str, &'static str)]| {
        let mut h: Vec<(&str, &str)> = vec![("X-Api-Key", key.as_str())];
        h.extend_from_slice(extra);
        h
    };

    let mobile = get(&server, "/", &auth(&[("User-Agent", IPHONE)]));
    assert_eq!(mobile.status, 200);
    assert_eq!(mobile.header("x-plinth-ui"), Some("dummy_mobile_ui"));
    assert!(mobile.body.contains("Dummy Mobile"), "{}", mobile.body);
    assert!(
        mobile.body.contains("Hello World"),
        "installed plugin names"
    );
    let desktop = get(&server, "/", &auth(&[("User-Agent", DESKTOP)]));
    assert_eq!(desktop.header("x-plinth-ui"), Some("_default"));

    // The probe sorts first; its failure moves on to dummy_mobile_ui, its
    // empty answer to the default page.
    let failed = get(
        &server,
        "/",
        &auth(&[("User-Agent", IPHONE), ("X-Probe", "fail")]),
    );
    assert_eq!(failed.header("x-plinth-ui"), Some("dummy_mobile_ui"));
    server.wait_for_log("the probe fails on purpose");
    let none = get(
        &server,
        "/",
        &auth(&[("User-Agent", DESKTOP), ("X-Probe", "none")]),
    );
    assert_eq!(none.header("x-plinth-ui"), Some("_default"));

    // No-cache answers are not cached; other probe pages are (per path).
    let n1 = get(&server, "/", &[("X-Probe", "nocache")]);
    let n2 = get(&server, "/", &[("X-Probe", "nocache")]);
    assert_ne!(n1.body, n2.body);
    let one = get(&server, "/?k=a", &[("X-Probe", "a")]);
    assert_eq!(one.status, 200, "the probe asks for no permissions");
    assert!(one.body.starts_with("probe page a "), "{}", one.body);
    assert!(
        one.body.contains("UI probe"),
        "render kwargs reach the plugin"
    );
    // Its template filter took every tab out; the sidebar keeps core and plugin entries.
    assert!(one.body.contains("tabs=[]"), "{}", one.body);
    assert!(
        one.body
            .contains(r#"sidebar=["connection","state","files","plugin_ui_probe_x"]"#),
        "{}",
        one.body
    );
    // Another query is the same page: the cache cannot be filled by queries.
    let two = get(&server, "/?k=b", &[("X-Probe", "a")]);
    assert_eq!(two.body, one.body);
    assert_eq!(two.header("x-plinth-cache"), Some("hit"));

    // A tracked file of the plugin's invalidates its page.
    sb.data_file("ui_probe", "tracked.txt", "changed");
    let three = get(&server, "/", &[("X-Probe", "a")]);
    assert_eq!(three.header("x-plinth-cache"), Some("miss"));
    assert_ne!(three.header("etag"), one.header("etag"));

    // A will_handle_ui that panics moves on too (and marks the plugin failed, as any panic does).
    let panicked = get(&server, "/", &auth(&[("X-Probe", "panic")]));
    assert_eq!(panicked.status, 200);
    assert_eq!(panicked.header("x-plinth-ui"), Some("_default"));
}

fn a_ui_plugins_permissions_are_checked_before_its_cached_page_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    let server = Server::start(&sb);
    let admin = api_key(&sb, "admin");
    let cached = get(
        &server,
        "/",
        &[("X-Api-Key", &admin), ("User-Agent", IPHONE)],
    );
    assert_eq!(cached.header("x-plinth-ui"), Some("dummy_mobile_ui"));
    let anonymous = get(&server, "/", &[("User-Agent", IPHONE)]);
    assert_eq!(anonymous.status, 303, "{}", anonymous.body);
    assert!(!anonymous.body.contains("Dummy"));
}

fn a_logged_in_user_without_the_permissions_is_told_what_is_missing_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    let mut child = std::process::Command::new(built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .args(["user", "add", "camera", "--permissions", "webcam"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    }
    assert!(child.wait().unwrap().success());
    let key = api_key(&sb, "camera");
    let server = Server::start(&sb);
    let page = get(&server, "/", &[("X-Api-Key", &key)]);
    assert_eq!(page.status, 403, "no redirect loop through the login page");
    assert!(page.body.contains("camera"));
    assert!(page.body.contains("status, settings_read"), "{}", page.body);
}

fn a_plugin_that_hangs_gets_the_page_a_504_not_a_hang_in(mode: &str) {
    let sb = sandbox(mode);
    sb.write_config(
        "server:\n  plugin_call_timeout: 1\nplugins:\n  ui_probe:\n    sleep_seconds: 60\n",
    );
    let server = Server::start(&sb);
    let started = Instant::now();
    let page = get(&server, "/", &[]);
    assert_eq!(page.status, 504, "{}", page.body);
    assert!(page.body.contains("a plugin is not answering"));
    assert!(started.elapsed() < Duration::from_secs(30));
    let status = get(&server, "/api/server", &[]);
    assert_eq!(status.status, 200, "the server goes on");
    assert!(status.json()["slow_plugin_calls"].as_u64().unwrap() >= 1);
    server.wait_for_log("the page took longer than");
}

/// Pages whose plugins hang hold a thread each past the budget: from 16 on,
/// the next page is refused at once instead of holding one more.
#[test]
fn pages_that_hang_hold_at_most_16_threads() {
    let sb = sandbox("in_process");
    sb.write_config(
        "server:\n  plugin_call_timeout: 1\nplugins:\n  ui_probe:\n    sleep_seconds: 60\n",
    );
    let server = Server::start(&sb);
    let hanging: Vec<_> = (0..16)
        .map(|_| {
            let url = server.url("/");
            std::thread::spawn(move || {
                common::http()
                    .get(&url)
                    .call()
                    .map_or(0, |r| r.status().as_u16())
            })
        })
        .collect();
    for request in hanging {
        assert_eq!(request.join().unwrap(), 504);
    }
    let page = get(&server, "/", &[]);
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body
            .contains("too many pages wait for plugins that do not answer"),
        "{}",
        page.body
    );
    assert_eq!(
        get(&server, "/api/server", &[]).status,
        200,
        "the server goes on"
    );
}

fn custom_etag_and_last_modified_come_from_the_ui_plugin_in(mode: &str) {
    let sb = sandbox(mode);
    sb.write_config("plugins:\n  ui_probe:\n    etag: probe-v1\n    last_modified: 1000000000\n");
    add_user(&sb, "admin", true);
    let server = Server::start(&sb);
    let page = get(&server, "/", &[("X-Probe", "b")]);
    assert_eq!(page.header("etag"), Some("\"probe-v1\""));
    assert_eq!(
        page.header("last-modified"),
        Some("Sun, 09 Sep 2001 01:46:40 GMT")
    );
    let again = get(
        &server,
        "/",
        &[("X-Probe", "b"), ("If-None-Match", "\"probe-v1\"")],
    );
    assert_eq!(again.status, 304);
    // A new custom ETag is a new page.
    let key = api_key(&sb, "admin");
    let saved = post(
        &server,
        "/api/settings",
        &[("X-Api-Key", &key)],
        &json!({"plugins": {"ui_probe": {"etag": "probe-v2"}}}),
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    let changed = get(
        &server,
        "/",
        &[("X-Probe", "b"), ("If-None-Match", "\"probe-v1\"")],
    );
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"probe-v2\""));
    assert_eq!(changed.header("x-plinth-cache"), Some("miss"));
}

fn recorded_requests_are_rendered_again_at_start_up_in(mode: &str) {
    let sb = sandbox(mode);
    add_user(&sb, "admin", true);
    let key = api_key(&sb, "admin");
    let server = Server::start(&sb);
    let first = get(&server, "/", &[("X-Api-Key", &key), ("User-Agent", IPHONE)]);
    assert_eq!(first.header("x-plinth-ui"), Some("dummy_mobile_ui"));
    get(
        &server,
        "/",
        &[("X-Api-Key", &key), ("User-Agent", DESKTOP)],
    );
    server.stop();

    let records: Value = serde_json::from_str(
        &fs::read_to_string(sb.basedir.join("data/preemptive_cache.json")).unwrap(),
    )
    .unwrap();
    let plugins: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["plugin"].as_str().unwrap())
        .collect();
    assert!(plugins.contains(&"dummy_mobile_ui"), "{records}");
    assert!(plugins.contains(&"_default"), "{records}");

    let server = Server::start(&sb);
    server.wait_for_log("preemptively cached 2 pages");
    let mobile = get(&server, "/", &[("X-Api-Key", &key), ("User-Agent", IPHONE)]);
    assert_eq!(mobile.header("x-plinth-cache"), Some("hit"));
    assert_eq!(mobile.body, first.body);
    let desktop = get(
        &server,
        "/",
        &[("X-Api-Key", &key), ("User-Agent", DESKTOP)],
    );
    assert_eq!(desktop.header("x-plinth-cache"), Some("hit"));

    // A broken record file is ignored, and the host still starts.
    server.stop();
    fs::write(sb.basedir.join("data/preemptive_cache.json"), "{oops").unwrap();
    let server = Server::start(&sb);
    assert_eq!(get(&server, "/", &[("X-Api-Key", &key)]).status, 200);
    server.wait_for_log("preemptive_cache.json");
}

fn client_library_carries_every_plugins_clientjs_in(mode: &str) {
    let sb = sandbox(mode);
    let server = Server::start(&sb);
    let client = get(&server, "/static/client.js", &[]);
    assert_eq!(client.status, 200);
    assert!(client.body.contains("registerPluginComponent"));
    let part = get(&server, "/static/client/helloworld.js", &[]);
    assert_eq!(part.status, 200);
    assert!(part.header("content-type").unwrap().contains("javascript"));
    let at = part
        .body
        .find("/* plugin helloworld: clientjs/helloworld.js */\ntry {")
        .expect("helloworld's clientjs, in a try block");
    assert!(part.body[at..].contains("registerPluginComponent(\"helloworld\""));
    assert!(part.body.contains("} catch (error) {"));
    // The page links the part after the core library, not the raw file.
    let page = get(&server, "/", &[]);
    let core = page.body.find("src=\"/static/client.js\"").unwrap();
    let linked = page
        .body
        .find("src=\"/static/client/helloworld.js\"")
        .unwrap();
    assert!(core < linked);
    assert!(!page.body.contains("clientjs/helloworld.js"));
    for missing in [
        "/static/client/wizard_demo.js",
        "/static/client/nosuch.js",
        "/static/client/x",
    ] {
        assert_eq!(get(&server, missing, &[]).status, 404, "{missing}");
    }
}

in_both_modes! {
    the_page_is_cached_until_a_template_changes_and_renders_afresh_on_request => the_page_is_cached_until_a_template_changes_and_renders_afresh_on_request_in,
    the_page_asks_for_a_login_once_users_exist => the_page_asks_for_a_login_once_users_exist_in,
    the_first_run_wizard_creates_the_admin_once_and_plugin_wizards_are_finished => the_first_run_wizard_creates_the_admin_once_and_plugin_wizards_are_finished_in,
    mandatory_wizards_come_first_and_each_is_finished_on_its_own => mandatory_wizards_come_first_and_each_is_finished_on_its_own_in,
    ui_plugins_answer_in_order_and_errors_fall_through => ui_plugins_answer_in_order_and_errors_fall_through_in,
    a_ui_plugins_permissions_are_checked_before_its_cached_page => a_ui_plugins_permissions_are_checked_before_its_cached_page_in,
    a_logged_in_user_without_the_permissions_is_told_what_is_missing => a_logged_in_user_without_the_permissions_is_told_what_is_missing_in,
    a_plugin_that_hangs_gets_the_page_a_504_not_a_hang => a_plugin_that_hangs_gets_the_page_a_504_not_a_hang_in,
    custom_etag_and_last_modified_come_from_the_ui_plugin => custom_etag_and_last_modified_come_from_the_ui_plugin_in,
    recorded_requests_are_rendered_again_at_start_up => recorded_requests_are_rendered_again_at_start_up_in,
    client_library_carries_every_plugins_clientjs => client_library_carries_every_plugins_clientjs_in,
}
