//! Isolated plugins (issue 13), through the real binary: whatever a plugin
//! in its own process does (crash, abort, hang, grow), the host keeps
//! serving, names the culprit and the call, restarts it with backoff and
//! quarantines it after repeated crashes. Driven by the `hostile` fixture,
//! whose misbehaviour each copy's identifier chooses.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, api_key, get, post, Sandbox, Server};
use plinth_abi::Value;

/// Runs `plinth serve` in the sandbox until it exits by itself (at most 30 s).
fn serve_until_it_dies(sb: &Sandbox) -> std::process::ExitStatus {
    let mut child = sb
        .serve_command()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the host did not die");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn hostile() -> std::path::PathBuf {
    common::built().fixture("hostile")
}

fn admin(sb: &Sandbox) -> String {
    add_user(sb, "ada", true);
    api_key(sb, "ada")
}

/// The `/api/plugins` entry of `id`.
fn plugin(server: &Server, key: &str, id: &str) -> Value {
    common::plugin_entry(server, key, id)
}

/// Waits until `id`'s entry satisfies `done`.
fn wait_for(
    server: &Server,
    key: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = plugin(server, key, id);
        if done(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "{what}: {p}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn command(server: &Server, key: &str, id: &str, command: &str) -> (u16, Value) {
    post(
        server,
        &format!("/api/plugin/{id}"),
        key,
        &format!(r#"{{"command": "{command}"}}"#),
    )
}

#[test]
fn a_crash_in_a_call_answers_502_naming_the_plugin_and_the_host_restarts_it() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_segv")
        .bundle_sample("helloworld");
    let key = admin(&sb);
    let server = Server::start(&sb);
    assert_eq!(plugin(&server, &key, "hostile_segv")["mode"], "isolated");
    assert_eq!(plugin(&server, &key, "helloworld")["mode"], "in_process");

    let (status, answer) = command(&server, &key, "hostile_segv", "crash");
    assert_eq!(status, 502, "{answer}");
    assert_eq!(
        answer["error"],
        "plugin `hostile_segv` crashed: SIGSEGV in on_api_command(crash)"
    );
    // The host serves on, other plugins untouched.
    let (status, server_info) = get(&server, "/api/server", &key);
    assert_eq!(status, 200);
    assert_eq!(server_info["plugin_crashes"], 1);
    assert_eq!(plugin(&server, &key, "helloworld")["state"], "enabled");
    server.wait_for_log("plugin process lost: SIGSEGV in on_api_command(crash)");

    // Restarted after the backoff, it answers again.
    let p = wait_for(&server, &key, "hostile_segv", "restarted", |p| {
        p["crashes"]["restarts"] == 1 && p["state"] == "enabled"
    });
    assert_eq!(p["crashes"]["crashes"], 1);
    assert_eq!(p["crashes"]["last"], "SIGSEGV in on_api_command(crash)");
    assert_eq!(command(&server, &key, "hostile_segv", "fire").0, 204);
    let (_, server_info) = get(&server, "/api/server", &key);
    assert_eq!(server_info["plugin_restarts"], 1);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn three_crashes_within_the_window_quarantine_the_plugin_until_a_person_enables_it() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_abort");
    let key = admin(&sb);
    let server = Server::start(&sb);
    for n in 1..=3 {
        wait_for(&server, &key, "hostile_abort", "running", |p| {
            p["state"] == "enabled" && p["error"].is_null()
        });
        let (status, answer) = command(&server, &key, "hostile_abort", "crash");
        assert_eq!(status, 502, "crash {n}: {answer}");
        assert!(answer["error"]
            .as_str()
            .unwrap()
            .contains("SIGABRT in on_api_command(crash)"));
    }
    let p = wait_for(&server, &key, "hostile_abort", "quarantined", |p| {
        p["state"] == "quarantined"
    });
    let why = p["error"].as_str().unwrap();
    assert!(
        why.starts_with(
            "quarantined after 3 crashes within 600 s (last: SIGABRT in on_api_command(crash))"
        ),
        "{why}"
    );
    assert!(sb.config().contains("quarantined:"), "{}", sb.config());
    // Not started again, not even by a restart of the host.
    assert_eq!(server.stop(), Some(0));
    let server = Server::start(&sb);
    assert_eq!(
        plugin(&server, &key, "hostile_abort")["state"],
        "quarantined"
    );
    // A person enables it: it runs again, and the quarantine is lifted.
    let (status, answer) = post(
        &server,
        "/api/plugins/hostile_abort",
        &key,
        r#"{"command": "enable"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["state"], "enabled");
    assert_eq!(command(&server, &key, "hostile_abort", "fire").0, 204);
    assert!(
        !sb.config().contains("hostile_abort: quarantined"),
        "{}",
        sb.config()
    );
    assert_eq!(server.stop(), Some(0));
}

/// Each lifecycle crash point, isolated: the host starts, every other
/// plugin runs, the culprit is named with its call and quarantined.
#[test]
fn a_plugin_crashing_at_any_step_is_named_and_quarantined_while_the_rest_runs() {
    let cases = [
        ("hostile_segv_at_load", "SIGSEGV in loading"),
        ("hostile_abort_in_new", "SIGABRT in construction"),
        ("hostile_segv_on_startup", "SIGSEGV in on_startup"),
    ];
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    for (id, _) in cases {
        sb.user_as(&hostile(), id);
    }
    sb.user_as(&hostile(), "hostile_abort_startup_event");
    sb.write_config("isolation:\n  max_crashes: 2\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    for (id, crash) in cases {
        let p = wait_for(&server, &key, id, "quarantined", |p| {
            p["state"] == "quarantined"
        });
        let why = p["error"].as_str().unwrap();
        assert!(why.contains(&format!("(last: {crash})")), "{id}: {why}");
        server.wait_for_log(&format!("plugin process lost: {crash}"));
    }
    // A crash on the `Startup` event, fired once, is named; the plugin restarts and runs.
    let p = wait_for(
        &server,
        &key,
        "hostile_abort_startup_event",
        "restarted",
        |p| p["crashes"]["restarts"] == 1 && p["state"] == "enabled",
    );
    assert_eq!(p["crashes"]["last"], "SIGABRT in on_event(Startup)");
    assert_eq!(plugin(&server, &key, "helloworld")["state"], "enabled");
    let (status, _) = get(&server, "/api/plugin/helloworld", &key);
    assert_eq!(status, 200);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn crashes_in_settings_save_and_template_getters_answer_and_the_page_still_renders() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_segv_on_settings_save")
        .user_as(&hostile(), "hostile_abort_in_template")
        .bundle_sample("helloworld");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let (status, answer) = post(
        &server,
        "/api/settings",
        &key,
        r#"{"plugins": {"hostile_segv_on_settings_save": {"greeting": "ho"}}}"#,
    );
    assert_eq!(status, 500, "{answer}");
    assert!(
        answer.to_string().contains("hostile_segv_on_settings_save"),
        "{answer}"
    );
    server.wait_for_log("SIGSEGV in on_settings_save");
    // The page renders without the crashing plugin's template.
    let (session, _) = common::login(&server, "ada");
    let page = common::http()
        .get(&server.url("/"))
        .header("Cookie", &session)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(page.contains("<html"), "{page}");
    server.wait_for_log("SIGABRT in get_template_vars");
    assert_eq!(plugin(&server, &key, "helloworld")["state"], "enabled");
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_hung_call_ends_the_process_and_counts_as_a_crash() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let (status, _) = command(&server, &key, "hostile", "loop");
    assert_eq!(status, 504);
    server.wait_for_log("plugin process lost: hung in on_api_command(loop) for 1 s");
    wait_for(&server, &key, "hostile", "restarted", |p| {
        p["crashes"]["restarts"] == 1
    });
    // No thread of it spins on: the process is gone.
    assert_eq!(command(&server, &key, "hostile", "fire").0, 204);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_plugin_growing_past_its_memory_limit_is_ended_with_that_reason() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    sb.write_config("isolation:\n  memory_limits:\n    hostile: 64\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    assert_eq!(command(&server, &key, "hostile", "grow").0, 204);
    let log = server.wait_for_log("past its memory limit of 64 MiB");
    assert!(log.contains("plugin process lost: ended at"), "{log}");
    wait_for(&server, &key, "hostile", "restarted", |p| {
        p["crashes"]["restarts"] == 1
    });
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn disabling_an_isolated_plugin_ends_its_process_and_every_thread_of_it() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    let key = admin(&sb);
    let server = Server::start(&sb);
    assert_eq!(command(&server, &key, "hostile", "linger").0, 204);
    let log = sb.basedir.join("data/hostile/linger.log");
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines() < 3 {
        assert!(Instant::now() < deadline, "the thread runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, answer) = post(
        &server,
        "/api/plugins/hostile",
        &key,
        r#"{"command": "disable"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let after = lines();
    std::thread::sleep(Duration::from_millis(300));
    assert!(lines() <= after + 1, "the thread ended with the process");
    let (_, server_info) = get(&server, "/api/server", &key);
    assert_eq!(
        server_info["plugin_crashes"], 0,
        "ending it on purpose is no crash"
    );
    // Enabled again, it runs in a new process.
    let (status, _) = post(
        &server,
        "/api/plugins/hostile",
        &key,
        r#"{"command": "enable"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(command(&server, &key, "hostile", "fire").0, 204);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_panic_whose_payload_panics_on_drop_is_contained_in_the_plugins_process() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let (status, answer) = command(&server, &key, "hostile", "spiteful");
    assert!(status == 500 || status == 502, "{status} {answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("hostile"),
        "{answer}"
    );
    let (status, _) = get(&server, "/api/server", &key);
    assert_eq!(status, 200);
    assert_eq!(server.stop(), Some(0));
}

/// An in-process plugin that brings the host down is named at the next
/// start and runs isolated from then on; every other plugin starts as
/// usual, and safe mode stays off.
#[test]
fn a_plugin_that_crashed_the_host_in_process_runs_isolated_from_the_next_start() {
    let sb = Sandbox::new();
    sb.bundle_as(&hostile(), "hostile_segv_on_event")
        .bundle_sample("helloworld")
        .user_as(&hostile(), "hostile");
    let key = admin(&sb);
    let mut server = Server::start(&sb);
    assert_eq!(
        plugin(&server, &key, "hostile_segv_on_event")["mode"],
        "in_process"
    );
    let _ = command(&server, &key, "hostile_segv_on_event", "fire");
    let code = server
        .exit_within(Duration::from_secs(20))
        .expect("the host died of the plugin's segfault");
    assert_eq!(code, None, "killed by a signal");
    drop(server);

    let server = Server::start(&sb);
    let log = server.wait_for_log("it runs isolated from now on");
    assert!(
        log.contains("the last run of the host died in this plugin (SIGSEGV in on_event(plugin_hostile_segv_on_event_trigger) at "),
        "{log}"
    );
    let p = plugin(&server, &key, "hostile_segv_on_event");
    assert_eq!(p["mode"], "isolated");
    assert_eq!(p["state"], "enabled");
    assert!(
        p["crashed_host"]
            .as_str()
            .unwrap()
            .starts_with("SIGSEGV in on_event("),
        "{p}"
    );
    assert_eq!(plugin(&server, &key, "helloworld")["state"], "enabled");
    assert_eq!(plugin(&server, &key, "hostile")["state"], "enabled");
    let (_, info) = get(&server, "/api/server", &key);
    assert!(
        info["safemode"].is_null(),
        "no safe mode for one bad plugin: {info}"
    );
    // Isolated now, the same crash leaves the host running (the command's
    // answer may or may not get out before its process goes down).
    let (status, _) = command(&server, &key, "hostile_segv_on_event", "fire");
    assert!(status == 204 || status == 502, "{status}");
    server.wait_for_log(
        "plugin process lost: SIGSEGV in on_event(plugin_hostile_segv_on_event_trigger)",
    );
    assert_eq!(get(&server, "/api/server", &key).0, 200);
    assert_eq!(server.stop(), Some(0));
}

/// Reading commands never run plugin code in the command's own process.
#[test]
fn listing_and_reading_settings_survive_plugins_that_crash_when_loaded() {
    let sb = Sandbox::new();
    // A real copy: the dynamic loader would not run a symlinked copy's constructor again.
    std::fs::copy(
        hostile(),
        sb.basedir
            .join("plugins")
            .join(common::lib_file("hostile_segv_at_load")),
    )
    .unwrap();
    sb.bundle_as(&hostile(), "hostile_abort_in_new");
    let out = sb.plinth(&["plugins", "list"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("hostile_segv_at_load"));
    let out = sb.plinth(&["plugins", "info", "hostile_segv_at_load"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let out = sb.plinth(&["config", "get", "plugins.hostile_abort_in_new"]);
    // The stored settings, with a note naming why the plugin's defaults are missing.
    assert_eq!(
        out.status.code(),
        Some(0),
        "not a crash: {}",
        common::stderr(&out)
    );
    assert!(
        common::stderr(&out).contains(
            "`hostile_abort_in_new`: its process ended: SIGABRT in construction; its defaults and preprocessors are not applied"
        ),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn where_a_plugin_runs_is_shown_and_changed_by_the_command_line_and_the_api() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile")
        .bundle_sample("helloworld");
    let out = sb.plinth(&["plugins", "list"]);
    let table = common::stdout(&out);
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} in {table}"))
            .to_owned()
    };
    assert!(row("hostile").contains(" isolated "), "{table}");
    assert!(row("helloworld").contains(" in_process "), "{table}");
    let out = sb.plinth(&["plugins", "mode", "helloworld", "isolated"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        sb.config().contains("helloworld: isolated"),
        "{}",
        sb.config()
    );
    let out = sb.plinth(&["plugins", "mode", "helloworld", "sideways"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));

    let key = admin(&sb);
    let server = Server::start(&sb);
    assert_eq!(plugin(&server, &key, "helloworld")["mode"], "isolated");
    assert_eq!(get(&server, "/api/plugin/helloworld", &key).0, 200);
    // A running plugin that needs no restart moves at once.
    let (status, answer) = post(
        &server,
        "/api/plugins/hostile",
        &key,
        r#"{"command": "mode", "mode": "in_process"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["needs_restart"], false);
    assert_eq!(answer["plugin"]["mode"], "in_process");
    assert_eq!(answer["plugin"]["state"], "enabled");
    assert_eq!(command(&server, &key, "hostile", "fire").0, 204);
    let (status, answer) = post(
        &server,
        "/api/plugins/hostile",
        &key,
        r#"{"command": "mode", "mode": "elsewhere"}"#,
    );
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        r#"mode "elsewhere": use isolated or in_process"#
    );
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn shutdown_does_not_wait_on_an_isolated_plugin_past_the_drain_bound() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    sb.write_config("server:\n  plugin_call_timeout: 600\n");
    let key = admin(&sb);
    let mut server = Server::start(&sb);
    let url = server.url("/api/plugin/hostile");
    let spinning = std::thread::spawn(move || {
        let _ = common::http()
            .post(&url)
            .header("X-Api-Key", &key)
            .header("Content-Type", "application/json")
            .send(r#"{"command": "loop"}"#);
    });
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let code = server
        .exit_within(Duration::from_secs(25))
        .expect("the host stops within its drain bounds");
    assert_eq!(code, Some(0));
    drop(spinning);
}

/// A bundled plugin that aborts while it is constructed, in process, used to
/// crash every start (safe mode keeps bundled plugins). Now the first crash
/// names it, and from the next start it runs isolated, where it is
/// quarantined; the host and the rest run on.
#[test]
fn a_bundled_plugin_crashing_in_construction_crashes_the_host_once_only() {
    let sb = Sandbox::new();
    sb.bundle_as(&hostile(), "hostile_abort_in_new")
        .bundle_sample("helloworld");
    sb.write_config("isolation:\n  max_crashes: 2\n");
    let key = admin(&sb);
    use std::os::unix::process::ExitStatusExt;
    let first = serve_until_it_dies(&sb);
    assert_eq!(first.signal(), Some(6), "the first start dies of SIGABRT");
    let server = Server::start(&sb);
    server.wait_for_log("(SIGABRT in construction at ");
    let p = wait_for(&server, &key, "hostile_abort_in_new", "quarantined", |p| {
        p["state"] == "quarantined"
    });
    assert_eq!(p["mode"], "isolated");
    assert!(
        p["crashed_host"]
            .as_str()
            .unwrap()
            .starts_with("SIGABRT in construction at "),
        "{p}"
    );
    assert_eq!(plugin(&server, &key, "helloworld")["state"], "enabled");
    let (_, info) = get(&server, "/api/server", &key);
    assert!(info["safemode"].is_null(), "{info}");
    assert_eq!(server.stop(), Some(0));
}

/// A plugin that crashes while a person disables it stays disabled.
#[test]
fn a_crash_while_being_disabled_does_not_bring_the_plugin_back() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_segv_on_disabled");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let (status, answer) = post(
        &server,
        "/api/plugins/hostile_segv_on_disabled",
        &key,
        r#"{"command": "disable"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    server.wait_for_log("plugin process lost: SIGSEGV in on_plugin_disabled");
    std::thread::sleep(Duration::from_millis(2500));
    let p = plugin(&server, &key, "hostile_segv_on_disabled");
    assert_ne!(p["state"], "enabled", "{p}");
    assert_eq!(p["crashes"]["restarts"], 0, "{p}");
    assert!(
        sb.config().contains("hostile_segv_on_disabled"),
        "{}",
        sb.config()
    );
    assert_eq!(server.stop(), Some(0));
}

/// Events reach an isolated plugin in batches, but each event has the call
/// budget to itself: a handler slower than the budget for a whole batch,
/// but not for one event, is not taken for hung.
#[test]
fn a_slow_event_handler_has_the_budget_for_each_event_not_each_batch() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_slow_event");
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    for _ in 0..8 {
        assert_eq!(command(&server, &key, "hostile_slow_event", "fire").0, 204);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.log().matches("slow event").count() < 8 {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, info) = get(&server, "/api/server", &key);
    assert_eq!(info["plugin_crashes"], 0, "{}", server.log());
    assert_eq!(server.stop(), Some(0));
}

/// Isolated plugins hanging in on_shutdown are ended at the shutdown
/// deadline (10 s), each one's on_shutdown called in turn.
#[test]
fn isolated_plugins_hanging_in_on_shutdown_are_ended_at_the_deadline() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile_hang_on_shutdown_a")
        .user_as(&hostile(), "hostile_hang_on_shutdown_b")
        .user_as(&hostile(), "hostile_hang_on_shutdown_c");
    let mut server = Server::start(&sb);
    let stopping = Instant::now();
    server.signal("TERM");
    let code = server
        .exit_within(Duration::from_secs(20))
        .expect("the host stops");
    assert_eq!(code, Some(0));
    assert!(
        stopping.elapsed() < Duration::from_secs(14),
        "{:?}",
        stopping.elapsed()
    );
    let log = server.log();
    assert!(log.contains("still runs at the end of shutdown"), "{log}");
}

/// Uninstalling a quarantined plugin forgets the quarantine: installed
/// again, it starts.
#[test]
fn uninstalling_a_quarantined_plugin_forgets_its_quarantine() {
    let sb = Sandbox::new();
    sb.write_config("isolation:\n  quarantined:\n    hostile: quarantined after 3 crashes\n");
    let copy = sb.basedir.join("plugins").join(common::lib_file("hostile"));
    std::fs::copy(hostile(), &copy).unwrap();
    let out = sb.plinth(&["plugins", "info", "hostile"]);
    assert!(
        common::stdout(&out).contains("quarantined"),
        "{}",
        common::stdout(&out)
    );
    let out = sb.plinth(&["plugins", "uninstall", "hostile"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(!sb.config().contains("hostile"), "{}", sb.config());
    std::fs::copy(hostile(), &copy).unwrap();
    let out = sb.plinth(&["plugins", "info", "hostile"]);
    assert!(
        common::stdout(&out).contains("state:       enabled"),
        "{}",
        common::stdout(&out)
    );
}

/// Each way a plugin can bring the host down in process (a segfault or an
/// abort while loading, constructing, starting, answering its Simple API,
/// saving settings, giving the page its template variables): the host dies
/// once, and the next start names the plugin and the call, runs it isolated,
/// and starts every other plugin without safe mode.
#[test]
fn every_in_process_crash_is_named_at_the_next_start_and_never_repeats() {
    use std::os::unix::process::ExitStatusExt;
    enum Trigger {
        Start,
        Command,
        SettingsSave,
        Page,
    }
    let cases = [
        ("hostile_segv_at_load", Trigger::Start, "SIGSEGV in loading"),
        (
            "hostile_abort_in_new",
            Trigger::Start,
            "SIGABRT in construction",
        ),
        (
            "hostile_segv_on_startup",
            Trigger::Start,
            "SIGSEGV in on_startup",
        ),
        (
            "hostile_segv",
            Trigger::Command,
            "SIGSEGV in on_api_command(crash)",
        ),
        (
            "hostile_abort_on_settings_save",
            Trigger::SettingsSave,
            "SIGABRT in on_settings_save",
        ),
        (
            "hostile_segv_in_template",
            Trigger::Page,
            "SIGSEGV in get_template_vars",
        ),
    ];
    for (id, trigger, crash) in cases {
        let sb = Sandbox::new();
        sb.bundle_as(&hostile(), id).bundle_sample("helloworld");
        sb.write_config("isolation:\n  max_crashes: 1\n");
        let key = admin(&sb);
        match trigger {
            Trigger::Start => {
                let first = serve_until_it_dies(&sb);
                assert!(first.signal().is_some(), "{id}: {first:?}");
            }
            other => {
                let mut server = Server::start(&sb);
                assert_eq!(plugin(&server, &key, id)["mode"], "in_process", "{id}");
                match other {
                    Trigger::Command | Trigger::SettingsSave => {
                        let (path, body) = match other {
                            Trigger::Command => (
                                format!("/api/plugin/{id}"),
                                r#"{"command": "crash"}"#.to_owned(),
                            ),
                            _ => (
                                "/api/settings".to_owned(),
                                format!(r#"{{"plugins": {{"{id}": {{"greeting": "ho"}}}}}}"#),
                            ),
                        };
                        // The host dies while answering: no answer comes.
                        let _ = common::http()
                            .post(&server.url(&path))
                            .header("X-Api-Key", &key)
                            .header("Content-Type", "application/json")
                            .send(body.as_str());
                    }
                    _ => {
                        let (session, _) = common::login(&server, "ada");
                        let _ = common::http()
                            .get(&server.url("/"))
                            .header("Cookie", &session)
                            .call();
                    }
                }
                let code = server
                    .exit_within(Duration::from_secs(20))
                    .unwrap_or_else(|_| panic!("{id}: the host died"));
                assert_eq!(code, None, "{id}: killed by a signal");
            }
        }
        let server = Server::start(&sb);
        let log = server.wait_for_log("it runs isolated from now on");
        assert!(
            log.contains(&format!(
                "the last run of the host died in this plugin ({crash} at "
            )),
            "{id}: {log}"
        );
        let p = plugin(&server, &key, id);
        assert_eq!(p["mode"], "isolated", "{id}");
        assert!(
            p["crashed_host"].as_str().unwrap().starts_with(crash),
            "{id}: {p}"
        );
        assert_eq!(
            plugin(&server, &key, "helloworld")["state"],
            "enabled",
            "{id}"
        );
        let (_, info) = get(&server, "/api/server", &key);
        assert!(info["safemode"].is_null(), "{id}: {info}");
        assert_eq!(server.stop(), Some(0), "{id}");
    }
}

/// A call that keeps calling the host (a loop polling a setting) is timed
/// by the plugin's own time, not reset by each call back: it ends as hung.
#[test]
fn a_call_looping_on_host_services_still_ends_as_hung() {
    let sb = Sandbox::new();
    sb.user_as(&hostile(), "hostile");
    sb.write_config("server:\n  plugin_call_timeout: 1\n");
    let key = admin(&sb);
    let server = Server::start(&sb);
    let (status, _) = command(&server, &key, "hostile", "poll");
    assert_eq!(status, 504);
    server.wait_for_log("plugin process lost: hung in on_api_command(poll) for 1 s");
    assert_eq!(server.stop(), Some(0));
}
