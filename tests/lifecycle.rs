//! The lifecycle, states, ordering, hooks, helpers, events and panics, on
//! real plugin libraries loaded in-process.

mod common;

use common::{built, Sandbox};
use plinth::{Options, SortingContext, State};
use plinth_abi::json;
use plinth_abi::Mixin;

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn start_up_enables_in_discovery_order_then_runs_startup_callbacks_in_sorted_order() {
    let sb = Sandbox::new();
    sb.recorder("a").recorder("b");
    let m = sb.manager();
    m.start("127.0.0.1", 5123);
    assert_eq!(
        sb.lifecycle_calls(),
        lines(&[
            "a new",
            "a initialize",
            "a register",
            "a on_plugin_enabled",
            "b new",
            "b initialize",
            "b register",
            "b on_plugin_enabled",
            "a on_startup 127.0.0.1 5123",
            "b on_startup 127.0.0.1 5123",
            "a on_after_startup",
            "b on_after_startup",
        ])
    );
    m.shutdown();
    let calls = sb.lifecycle_calls();
    assert_eq!(
        calls[12..],
        lines(&["a on_shutdown", "b on_shutdown", "a drop", "b drop"])
    );
}

#[test]
fn sorting_keys_then_bundled_first_then_identifier_with_config_overrides_winning() {
    let sb = Sandbox::new();
    sb.recorder("a").recorder("b").recorder("c");
    sb.bundle_as(&built().fixture("recorder"), "z_bundled");
    // b asks to come first at start-up; the config moves a before it, and
    // its override of 0 for c is ignored, as OctoPrint ignores falsy ones.
    sb.data_file(
        "b",
        "sorting.json",
        r#"{"StartupPlugin.on_startup": 5, "StartupPlugin.on_after_startup": 5}"#,
    );
    sb.write_config(
        "plugins:\n  _sortingOrder:\n    a:\n      StartupPlugin.on_startup: 1\n    c:\n      StartupPlugin.on_after_startup: 0\n",
    );
    let m = sb.manager();
    assert_eq!(
        m.implementation_ids(Mixin::Startup, Some(SortingContext::OnStartup)),
        Vec::<String>::new()
    );
    m.start("h", 1);
    let order = |cb: &str| -> Vec<String> {
        sb.lifecycle_calls()
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(cb))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(order("on_startup"), ["a", "b", "z_bundled", "c"]);
    // Without overrides for this context: b (5), then bundled before user at 1000, then id.
    assert_eq!(order("on_after_startup"), ["b", "z_bundled", "a", "c"]);
    assert_eq!(
        m.implementation_ids(Mixin::Shutdown, Some(SortingContext::OnShutdown)),
        ["z_bundled", "a", "b", "c"]
    );
    m.shutdown();
}

#[test]
fn disabling_an_isolated_plugin_drops_its_object_and_enabling_creates_a_new_one() {
    let sb = Sandbox::new();
    sb.recorder("a");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("a").unwrap().mode, plinth::Mode::Isolated);
    let before = sb.lifecycle_calls().len();
    m.set_enabled("a", false).unwrap();
    m.set_enabled("a", true).unwrap();
    assert_eq!(m.call_helper("a", "echo", &json!(1)).unwrap()["from"], "a");
    assert_eq!(
        sb.lifecycle_calls()[before..],
        lines(&[
            "a on_plugin_disabled",
            "a drop",
            "a new",
            "a initialize",
            "a register",
            "a on_plugin_enabled",
            "a on_startup 127.0.0.1 5000",
            "a on_after_startup",
            "a helper echo",
        ])
    );
    m.shutdown();
}

#[test]
fn runtime_disable_and_enable_of_a_plugin_that_needs_no_restart() {
    let sb = Sandbox::new();
    sb.recorder("a");
    // In process, as OctoPrint: a disabled plugin keeps its object (the
    // isolated case, whose process ends, follows).
    sb.write_config("isolation:\n  default: in_process\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let before = sb.lifecycle_calls().len();

    let t = m.set_enabled("a", false).unwrap();
    assert_eq!(
        (t.state, t.needs_restart, t.needs_refresh),
        (State::Disabled, false, false)
    );
    assert_eq!(m.plugin("a").unwrap().state, State::Disabled);
    assert!(
        sb.config().contains("_disabled:\n  - a") || sb.config().contains("- a"),
        "{}",
        sb.config()
    );
    let err = m
        .call_helper("a", "echo", &json!(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not enabled"), "{err}");

    let t = m.set_enabled("a", true).unwrap();
    assert_eq!(t.state, State::Enabled);
    assert_eq!(m.call_helper("a", "echo", &json!(1)).unwrap()["from"], "a");
    // The same object is reused; a plugin enabled after start-up still gets its start-up calls.
    assert_eq!(
        sb.lifecycle_calls()[before..],
        lines(&[
            "a on_plugin_disabled",
            "a on_plugin_enabled",
            "a on_startup 127.0.0.1 5000",
            "a on_after_startup",
            "a helper echo"
        ])
    );
    m.flush_events();
    let events: Vec<_> = sb
        .calls()
        .into_iter()
        .filter(|l| l.contains("PluginEnabled"))
        .collect();
    assert_eq!(events, lines(&[r#"a on_event PluginEnabled {"id":"a"}"#]));
    assert!(!sb.config().contains("- a"), "{}", sb.config());
    m.shutdown();
}

#[test]
fn restart_needing_toggles_become_pending_and_toggling_back_cancels() {
    // helloworld is restart-needing too: it implements Asset.
    assert!(
        Sandbox::new()
            .bundle_sample("helloworld")
            .manager()
            .plugin("helloworld")
            .unwrap()
            .restart_needing
    );
    let sb = Sandbox::new();
    sb.bundle_sample("restart_needer");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("restart_needer").unwrap();
    assert!(info.restart_needing && !info.reload_needing);

    let t = m.set_enabled("restart_needer", false).unwrap();
    assert!(t.needs_restart);
    let info = m.plugin("restart_needer").unwrap();
    assert!(
        info.pending_disable && info.state == State::Enabled,
        "{info:?}"
    );
    assert!(sb.config().contains("restart_needer"));

    let t = m.set_enabled("restart_needer", true).unwrap();
    assert!(!t.needs_restart);
    let info = m.plugin("restart_needer").unwrap();
    assert!(!info.pending_disable && !info.pending_enable && info.state == State::Enabled);
    assert!(!sb.config().contains("restart_needer"));

    m.set_enabled("restart_needer", false).unwrap();
    m.shutdown();
    // The next start applies the saved toggle.
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("restart_needer").unwrap().state, State::Disabled);
    let t = m.set_enabled("restart_needer", true).unwrap();
    assert!(t.needs_restart);
    let info = m.plugin("restart_needer").unwrap();
    assert!(
        info.pending_enable && info.state == State::Disabled,
        "{info:?}"
    );
    m.shutdown();
}

#[test]
fn reload_needing_plugins_switch_at_once_and_report_needs_refresh() {
    let sb = Sandbox::new();
    sb.user_as(&built().fixture("reloader"), "reloader");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("reloader").unwrap();
    assert!(info.reload_needing && !info.restart_needing);
    let t = m.set_enabled("reloader", false).unwrap();
    assert_eq!(
        (t.state, t.needs_restart, t.needs_refresh),
        (State::Disabled, false, true)
    );
    let t = m.set_enabled("reloader", true).unwrap();
    assert_eq!(
        (t.state, t.needs_restart, t.needs_refresh),
        (State::Enabled, false, true)
    );
    m.shutdown();
}

#[test]
fn disabled_blocklisted_shadowed_and_safe_mode_plugins_are_listed_but_never_run() {
    let sb = Sandbox::new();
    sb.bundle_as(&built().fixture("recorder"), "shadow");
    sb.recorder("shadow")
        .recorder("off")
        .recorder("blocked")
        .recorder("old")
        .recorder("fine");
    sb.write_config(
        "plugins:\n  _disabled: [off]\n  _blocklist:\n    - blocked\n    - {id: old, version: '<0.3.0'}\n    - {id: fine, version: '<0.1'}\n",
    );
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let state = |id: &str| {
        m.plugins()
            .into_iter()
            .find(|p| p.id == id && p.source == plinth::Source::User)
            .unwrap()
    };
    assert_eq!(state("off").state, State::Disabled);
    assert_eq!(state("blocked").state, State::Blocklisted);
    assert_eq!(
        state("old").state,
        State::Enabled,
        "recorder is 0.3.0, outside '<0.3.0'"
    );
    assert_eq!(state("fine").state, State::Enabled);
    let shadowed = state("shadow");
    assert_eq!(shadowed.state, State::Shadowed);
    // The bundled copy of "shadow", "old" and "fine" run; counted as listed.
    assert_eq!(m.count_in(State::Enabled), 3);
    assert_eq!(m.count_in(State::Shadowed), 1);
    assert_eq!(m.count_in(State::Disabled), 1);
    let listed = m.plugins();
    for s in [
        State::Enabled,
        State::Disabled,
        State::Blocklisted,
        State::Shadowed,
        State::Failed,
        State::Incompatible,
    ] {
        let described = listed.iter().filter(|p| p.state == s).count();
        assert_eq!(m.count_in(s), described, "{s:?}");
    }
    assert!(shadowed
        .error
        .unwrap()
        .contains(&sb.bundled.display().to_string()));
    assert!(m.flush_events());
    let ran: Vec<_> = sb
        .calls()
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert!(
        !ran.iter().any(|id| id == "off" || id == "blocked"),
        "{ran:?}"
    );
    assert_eq!(
        ran.iter().filter(|id| *id == "shadow").count(),
        ran.iter().filter(|id| *id == "fine").count()
    );
    m.shutdown();

    let sb2 = Sandbox::new();
    sb2.bundle_as(&built().fixture("recorder"), "core")
        .recorder("extra");
    let m = sb2.manager_with(Options {
        safe_mode: true,
        ..Options::default()
    });
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("core").unwrap().state, State::Enabled);
    let victim = m.plugin("extra").unwrap();
    assert_eq!(victim.state, State::SafeModeVictim);
    assert!(victim.error.unwrap().contains("safe mode"));
    assert!(sb2.calls().iter().all(|l| l.starts_with("core ")));
    m.shutdown();
}

#[test]
fn broken_entries_are_listed_as_failed_or_incompatible_and_good_plugins_still_load() {
    let sb = Sandbox::new();
    let plugins = sb.basedir.join("plugins");
    std::fs::write(
        plugins.join(common::lib_file("noise")),
        b"\x7fELF but not really",
    )
    .unwrap();
    std::fs::create_dir(plugins.join("hollow")).unwrap();
    sb.recorder("good");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("noise").unwrap().state, State::Incompatible);
    let hollow = m.plugin("hollow").unwrap();
    assert_eq!(hollow.state, State::Failed);
    assert!(hollow.error.unwrap().contains("no plugin library"));
    assert_eq!(m.plugin("good").unwrap().state, State::Enabled);
    m.shutdown();
}

#[test]
fn a_panic_in_any_lifecycle_step_fails_only_that_plugin() {
    let steps = [
        ("new", "panicked in new"),
        ("initialize", "initialize: panicked"),
        ("register", "registering hooks and helpers failed: panicked"),
        ("on_plugin_enabled", "on_plugin_enabled: panicked"),
        ("on_startup", "on_startup: panicked"),
        ("on_after_startup", "on_after_startup: panicked"),
    ];
    for (step, prefix) in steps {
        let sb = Sandbox::new();
        let id = format!("x_panic_in_{step}");
        sb.recorder(&id).recorder("good");
        let m = sb.manager();
        m.start("127.0.0.1", 5000);
        let info = m.plugin(&id).unwrap();
        assert_eq!(info.state, State::Failed, "{step}");
        let error = info.error.unwrap();
        assert!(error.starts_with(prefix), "{step}: {error}");
        assert!(
            error.contains(&format!("was told to panic in {step}")),
            "{step}: {error}"
        );
        assert!(
            m.call_helper(&id, "echo", &json!(1)).is_err(),
            "{step}: a failed plugin gets no calls"
        );
        assert_eq!(
            m.call_helper("good", "echo", &json!(1)).unwrap()["from"],
            "good",
            "{step}"
        );
        m.shutdown();
    }
}

#[test]
fn a_panic_while_disabling_shutting_down_uninstalling_or_dropping_is_contained() {
    // on_plugin_disabled: the plugin is marked failed.
    let sb = Sandbox::new();
    sb.recorder("x_panic_in_on_plugin_disabled")
        .recorder("good");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    m.set_enabled("x_panic_in_on_plugin_disabled", false)
        .unwrap();
    let info = m.plugin("x_panic_in_on_plugin_disabled").unwrap();
    assert_eq!(info.state, State::Failed);
    assert!(info
        .error
        .unwrap()
        .starts_with("on_plugin_disabled: panicked"));
    m.shutdown();

    // on_shutdown: marked failed, the others still shut down, objects dropped.
    let sb = Sandbox::new();
    sb.recorder("a_panic_in_on_shutdown").recorder("b");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    m.shutdown();
    let info = m.plugin("a_panic_in_on_shutdown").unwrap();
    assert_eq!(info.state, State::Failed);
    assert!(info.error.unwrap().starts_with("on_shutdown: panicked"));
    let calls = sb.lifecycle_calls();
    assert!(
        calls.contains(&"b on_shutdown".to_owned()) && calls.contains(&"b drop".to_owned()),
        "{calls:?}"
    );

    // on_plugin_pending_uninstall and drop: the uninstall goes through, the host carries on.
    let sb = Sandbox::new();
    sb.recorder("x_panic_in_on_plugin_pending_uninstall")
        .recorder("y_panic_in_drop")
        .recorder("good");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    m.uninstall("x_panic_in_on_plugin_pending_uninstall")
        .unwrap();
    assert!(m.plugin("x_panic_in_on_plugin_pending_uninstall").is_none());
    m.unload("y_panic_in_drop").unwrap();
    assert!(sb
        .lifecycle_calls()
        .contains(&"y_panic_in_drop drop".to_owned()));
    assert_eq!(
        m.call_helper("good", "echo", &json!(1)).unwrap()["from"],
        "good"
    );
    m.shutdown();
}

#[test]
fn a_panic_in_a_plain_call_is_an_error_of_that_call_only() {
    let sb = Sandbox::new();
    sb.recorder("x_panic_in_helper")
        .recorder("y_panic_in_on_event")
        .recorder("z_panic_in_hook");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let err = m
        .call_helper("x_panic_in_helper", "echo", &json!(1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("panicked") && err.contains("was told to panic in helper"),
        "{err}"
    );
    m.fire_event("Something", &json!({"n": 1}));
    assert!(m.flush_events());
    let replies = m.call_hook("test.hook", &json!(2));
    assert_eq!(replies.len(), 3);
    let z = replies
        .iter()
        .find(|r| r.plugin == "z_panic_in_hook")
        .unwrap();
    assert!(z
        .result
        .as_ref()
        .unwrap_err()
        .contains("was told to panic in hook"));
    for id in [
        "x_panic_in_helper",
        "y_panic_in_on_event",
        "z_panic_in_hook",
    ] {
        assert_eq!(m.plugin(id).unwrap().state, State::Enabled, "{id}");
    }
    m.shutdown();
}

/// Events fired before start-up reach a handler in one batch with
/// `Startup`: a panic in one of them ends only that event.
#[test]
fn a_panic_in_on_event_ends_only_that_event_of_its_batch() {
    let sb = Sandbox::new();
    sb.recorder("y_panic_in_on_event");
    let m = sb.manager();
    for n in 0..3 {
        m.fire_event("Early", &json!(n));
    }
    m.start("127.0.0.1", 5000);
    m.fire_event("Late", &json!(null));
    assert!(m.flush_events());
    assert_eq!(
        events_of(&sb, "y_panic_in_on_event"),
        ["Startup null", "Early 0", "Early 1", "Early 2", "Late null"]
    );
    assert_eq!(
        m.plugin("y_panic_in_on_event").unwrap().state,
        State::Enabled
    );
    m.shutdown();
}

/// More events held before start-up than a chunk of the log takes: none is
/// lost, and `Startup` still comes first.
#[test]
fn many_events_held_before_start_up_all_arrive_after_startup() {
    let sb = Sandbox::new();
    sb.recorder("a");
    let m = sb.manager();
    for n in 0..1500 {
        m.fire_event("Early", &json!(n));
    }
    m.start("127.0.0.1", 5000);
    assert!(m.flush_events());
    let got = events_of(&sb, "a");
    assert_eq!(got.len(), 1501, "{:?}", &got[..got.len().min(3)]);
    assert_eq!(got[0], "Startup null");
    assert!(got[1..]
        .iter()
        .enumerate()
        .all(|(n, e)| *e == format!("Early {n}")));
    m.shutdown();
}

#[test]
fn hooks_run_in_order_then_identifier_with_zero_as_the_default_and_config_overrides() {
    let sb = Sandbox::new();
    sb.recorder("a").recorder("b").recorder("c").recorder("d");
    sb.data_file("a", "hook_order", "20");
    sb.data_file("b", "hook_order", "10");
    sb.data_file("c", "hook_order", "0");
    // c's order of 0 counts as none, as in OctoPrint: like d, which has
    // none, it runs at 1000 (then by identifier); the config moves b to 30.
    sb.write_config("plugins:\n  _sortingOrder:\n    b:\n      test.hook: 30\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let replies = m.call_hook("test.hook", &json!({"x": 1}));
    let order: Vec<_> = replies.iter().map(|r| r.plugin.as_str()).collect();
    assert_eq!(order, ["a", "b", "c", "d"]);
    assert_eq!(replies[0].result.as_ref().unwrap()["args"], json!({"x": 1}));
    // A plugin calls the hook through the host: same order.
    let via_plugin = m.call_helper("d", "hook", &json!(null)).unwrap();
    let order: Vec<_> = via_plugin
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["plugin"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["a", "b", "c", "d"]);
    // Disabling removes the plugin's handlers.
    m.set_enabled("a", false).unwrap();
    assert_eq!(m.call_hook("test.hook", &json!(0)).len(), 3);
    // A hook nobody handles has no handlers (OctoPrint's get_hooks: {}).
    assert!(m.call_hook("test.nobody", &json!(0)).is_empty());
    m.shutdown();
}

#[test]
fn a_plugin_calls_another_plugins_helper_through_the_host() {
    let sb = Sandbox::new();
    sb.recorder("a").recorder("b");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let reply = m
        .call_helper(
            "a",
            "call",
            &json!({"plugin": "b", "helper": "echo", "args": {"hi": true}}),
        )
        .unwrap();
    assert_eq!(reply, json!({"from": "b", "args": {"hi": true}}));
    let err = m
        .call_helper(
            "a",
            "call",
            &json!({"plugin": "b", "helper": "nope", "args": null}),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no helper `nope`"), "{err}");
    let err = m
        .call_helper(
            "a",
            "call",
            &json!({"plugin": "ghost", "helper": "echo", "args": null}),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("no plugin `ghost`"), "{err}");
    m.shutdown();
}

#[test]
fn events_reach_every_handler_in_order_and_early_events_wait_for_startup() {
    let sb = Sandbox::new();
    sb.recorder("a").recorder("b");
    let m = sb.manager();
    m.enable_all();
    m.fire_event("Early", &json!(1));
    m.start("127.0.0.1", 5000);
    m.fire_event("Late", &json!({"n": 2}));
    m.call_helper("b", "fire", &json!("pong")).unwrap();
    assert!(m.flush_events());
    // Each handler gets every event in firing order (handlers do not wait for each other).
    let want = [
        "Startup null",
        "Early 1",
        r#"Late {"n":2}"#,
        r#"plugin_b_ping "pong""#,
    ]
    .map(String::from);
    assert_eq!(events_of(&sb, "a"), want);
    assert_eq!(events_of(&sb, "b"), want);
    m.shutdown();
}

#[test]
fn uninstall_calls_pending_uninstall_removes_files_and_refuses_bundled_plugins() {
    let sb = Sandbox::new();
    sb.recorder("gone");
    sb.bundle_as(&built().fixture("recorder"), "core");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let err = m.uninstall("core").unwrap_err();
    assert!(err
        .to_string()
        .contains("bundled plugin and cannot be uninstalled"));
    m.uninstall("gone").unwrap();
    assert!(m.plugin("gone").is_none());
    assert!(!sb
        .basedir
        .join("plugins")
        .join(common::lib_file("gone"))
        .exists());
    let calls = sb.lifecycle_calls();
    let tail: Vec<_> = calls
        .iter()
        .filter(|l| l.starts_with("gone "))
        .skip(6)
        .cloned()
        .collect();
    assert_eq!(
        tail,
        lines(&[
            "gone on_plugin_pending_uninstall",
            "gone on_plugin_disabled",
            "gone drop"
        ])
    );
    assert!(matches!(
        m.uninstall("gone"),
        Err(plinth::ManagerError::NotFound(_))
    ));
    m.shutdown();
}

#[test]
fn toggling_an_unknown_or_unusable_plugin_is_refused_with_the_reason() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.basedir.join("plugins").join("hollow")).unwrap();
    let m = sb.manager();
    let err = m.set_enabled("ghost", true).unwrap_err().to_string();
    assert_eq!(err, "no plugin `ghost`");
    let err = m.set_enabled("hollow", true).unwrap_err().to_string();
    assert!(
        err.contains("it is failed") && err.contains("no plugin library"),
        "{err}"
    );
}

#[test]
fn a_config_that_does_not_parse_is_refused_and_left_alone() {
    let sb = Sandbox::new();
    let text = "plugins:\n  _disabled: [a\n";
    sb.write_config(text);
    let err = plinth::PluginManager::new(sb.paths(), Options::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("config.yaml") && err.contains("line"), "{err}");
    assert_eq!(sb.config(), text);
}

#[test]
fn injection_gives_identity_folders_and_a_data_folder_created_on_first_use() {
    let sb = Sandbox::new();
    let folder = sb.basedir.join("plugins").join("foldered");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        built().fixture("recorder"),
        folder.join(common::lib_file("foldered")),
    )
    .unwrap();
    sb.recorder("filed");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let data = sb.basedir.join("data").join("foldered");
    let identity = m.call_helper("foldered", "identity", &json!(null)).unwrap();
    assert_eq!(
        identity,
        json!({
            "id": "foldered",
            "name": "Recorder",
            "version": "0.3.0",
            "base_folder": folder,
            "data_folder": data,
        })
    );
    assert!(data.is_dir());
    let filed = m.call_helper("filed", "identity", &json!(null)).unwrap();
    assert_eq!(filed["base_folder"], json!(sb.basedir.join("plugins")));
    m.shutdown();
}

#[test]
fn a_plugin_can_declare_itself_restart_needing() {
    let sb = Sandbox::new();
    sb.user_as(&built().fixture("sticky"), "sticky");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let info = m.plugin("sticky").unwrap();
    assert!(info.restart_needing && info.mixins.is_empty());
    let t = m.set_enabled("sticky", false).unwrap();
    assert!(t.needs_restart && m.plugin("sticky").unwrap().pending_disable);
    m.shutdown();
}

#[test]
fn a_settings_overlay_applies_while_its_plugin_is_enabled() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    sb.user_as(&built().fixture("overlayer"), "overlayer")
        .recorder("victim");
    let m = sb.manager();
    assert!(m.plugin("overlayer").unwrap().restart_needing);
    assert_eq!(m.plugin("victim").unwrap().state, State::Disabled);
    m.start("127.0.0.1", 5000);
    let hw = m.plugin_settings("helloworld").unwrap();
    assert_eq!(
        hw.get(&["some_setting".to_owned()]),
        Some(json!("from the overlay"))
    );
    assert_eq!(hw.get(&["some_value".to_owned()]), Some(json!(23)));
    // The overlay is a default: setting the value it gives stores nothing.
    hw.set(
        &["some_setting".to_owned()],
        json!("from the overlay"),
        false,
    )
    .unwrap();
    assert_eq!(hw.stored(), json!({}));
    assert!(
        !sb.config().contains("victim"),
        "overlays are not written into config.yaml"
    );
    let err = m.set_enabled("victim", true).unwrap_err().to_string();
    assert!(
        err.contains("the settings overlay of `overlayer` disables it"),
        "{err}"
    );
    assert!(m.set_enabled("overlayer", false).unwrap().needs_restart);
    m.shutdown();

    // Disabled, its overlay is gone at the next start.
    let m = sb.manager();
    assert_eq!(m.plugin("victim").unwrap().state, State::Enabled);
    m.start("127.0.0.1", 5000);
    let hw = m.plugin_settings("helloworld").unwrap();
    assert_eq!(hw.get(&["some_setting".to_owned()]), Some(json!("foo")));
    m.shutdown();
}

#[test]
fn no_plain_call_reaches_a_plugin_after_it_was_told_it_is_disabled() {
    for round in 0..5 {
        let sb = Sandbox::new();
        sb.recorder("a").recorder("b");
        // In process: an isolated plugin's object is dropped with its process at disable.
        sb.write_config("isolation:\n  default: in_process\n");
        let m = sb.manager();
        m.start("127.0.0.1", 5000);
        let firing = {
            let m = m.clone();
            std::thread::spawn(move || {
                for n in 0..300 {
                    m.fire_event("Tick", &json!(n));
                    let _ = m.call_helper("a", "echo", &json!(n));
                    let _ = m.call_hook("test.hook", &json!(n));
                }
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(2 * round));
        m.set_enabled("a", false).unwrap();
        firing.join().unwrap();
        assert!(m.flush_events());
        let calls = sb.calls();
        let disabled_at = calls
            .iter()
            .position(|l| l == "a on_plugin_disabled")
            .unwrap();
        let late: Vec<_> = calls[disabled_at..]
            .iter()
            .filter(|l| l.starts_with("a "))
            .skip(1)
            .collect();
        assert!(
            late.is_empty(),
            "round {round}: calls after on_plugin_disabled: {late:?}"
        );
        m.shutdown();
    }
}

#[test]
fn enabling_at_run_time_a_plugin_that_does_not_load_is_refused_and_changes_nothing() {
    let sb = Sandbox::new();
    sb.user_as(&built().fixture("other_abi_stable"), "other");
    sb.write_config("plugins:\n  _disabled: [other]\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let err = m.set_enabled("other", true).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot enable `other`: incompatible library"),
        "{err}"
    );
    let info = m.plugin("other").unwrap();
    assert_eq!(info.state, State::Incompatible);
    assert!(
        sb.config().contains("other"),
        "still in the disabled list: {}",
        sb.config()
    );
    m.shutdown();
}

#[test]
fn uninstalling_the_winner_lets_the_shadowed_copy_take_its_place() {
    let sb = Sandbox::new();
    sb.recorder("twin");
    let manifest = sb.basedir.join("manifests");
    std::fs::create_dir_all(&manifest).unwrap();
    let lib = built().fixture("recorder");
    std::fs::write(
        manifest.join("twin.json"),
        format!(r#"{{"id": "twin", "library": "{}"}}"#, lib.display()),
    )
    .unwrap();
    let m = sb.manager();
    let listed: Vec<_> = m.plugins().into_iter().filter(|p| p.id == "twin").collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].state, State::Shadowed);
    assert_eq!(
        listed[1].version.as_deref(),
        Some("0.3.0"),
        "shadowed copies are listed from their metadata"
    );
    m.start("127.0.0.1", 5000);
    m.uninstall("twin").unwrap();
    let left = m.plugin("twin").unwrap();
    assert_eq!(
        (left.state, left.source),
        (State::Enabled, plinth::Source::Manifest)
    );
    m.shutdown();
}

fn events_of(sb: &Sandbox, id: &str) -> Vec<String> {
    sb.calls()
        .into_iter()
        .filter(|l| l.starts_with(&format!("{id} on_event ")))
        .map(|l| l[format!("{id} on_event ").len()..].to_owned())
        .collect()
}

#[test]
fn a_slow_handler_holds_up_only_itself_and_still_gets_every_event_in_order() {
    let sb = Sandbox::new();
    sb.recorder("fast").recorder("slow_in_on_event");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    for n in 0..3 {
        m.fire_event("Tick", &json!(n));
    }
    // Startup and three ticks reach the fast handler while the slow one (400 ms
    // per event) is still on its first or second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while events_of(&sb, "fast").len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fast handler was held up"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(
        events_of(&sb, "slow_in_on_event").len() < 4,
        "{:?}",
        events_of(&sb, "slow_in_on_event")
    );
    assert!(m.flush_events());
    let want = ["Startup null", "Tick 0", "Tick 1", "Tick 2"].map(String::from);
    assert_eq!(events_of(&sb, "slow_in_on_event"), want);
    assert_eq!(events_of(&sb, "fast"), want);
    m.shutdown();
}

#[test]
fn a_handler_far_behind_is_told_how_many_events_it_missed() {
    let sb = Sandbox::new();
    sb.recorder("fast").recorder("slow_in_on_event");
    sb.write_config("server:\n  event_queue_limit: 3\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    for n in 0..12 {
        m.fire_event("Tick", &json!(n));
        // Far longer than a delivery to the fast handler, far shorter than the slow one's 400 ms.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(m.flush_events());
    let fast = events_of(&sb, "fast");
    assert_eq!(
        fast.len(),
        13,
        "every event reaches the handler that keeps up: {fast:?}"
    );
    let slow = events_of(&sb, "slow_in_on_event");
    let notice = slow
        .iter()
        .find(|e| e.starts_with("plinth_events_dropped "))
        .expect("a drop notice");
    let count: u64 = serde_json::from_str::<plinth_abi::Value>(
        notice.trim_start_matches("plinth_events_dropped "),
    )
    .unwrap()["count"]
        .as_u64()
        .unwrap();
    let delivered = slow
        .iter()
        .filter(|e| !e.starts_with("plinth_events_dropped"))
        .count() as u64;
    assert_eq!(
        delivered + count,
        13,
        "delivered plus dropped is everything: {slow:?}"
    );
    assert!(count > 0);
    // What it did get came in firing order.
    let ticks: Vec<i64> = slow
        .iter()
        .filter_map(|e| e.strip_prefix("Tick ")?.parse().ok())
        .collect();
    assert!(ticks.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    m.shutdown();
}

#[test]
fn waiting_for_a_slow_handler_does_not_stop_delivery_to_the_others() {
    let sb = Sandbox::new();
    sb.recorder("fast").recorder("slow_in_on_event");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    for n in 0..3 {
        m.fire_event("Tick", &json!(n));
    }
    // A flush now waits about 1.6 s for the slow handler...
    let flushing = {
        let m = m.clone();
        std::thread::spawn(move || m.flush_events())
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    m.fire_event("During", &json!(null));
    // ...while the fast handler already has the event fired after it began.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1000);
    while !events_of(&sb, "fast").contains(&"During null".to_owned()) {
        assert!(
            std::time::Instant::now() < deadline,
            "delivery stopped during a flush: {:?}",
            events_of(&sb, "fast")
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(flushing.join().unwrap());
    m.shutdown();
}

#[test]
fn timers_run_reset_and_stop_when_the_plugin_is_disabled() {
    use std::time::{Duration, Instant};
    let sb = Sandbox::new();
    sb.bundle_as(&built().fixture("timer_probe"), "timer_probe");
    sb.write_config("isolation:\n  default: in_process\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let data = sb.basedir.join("data").join("timer_probe");
    let count = |file: &str| {
        std::fs::read_to_string(data.join(file))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait("the repeated timer ticks", &|| count("ticks.log") >= 3);
    assert_eq!(
        m.call_helper("timer_probe", "alive", &json!(null)).unwrap(),
        json!(true)
    );

    // A resettable timer fires once, its delay started again by a reset.
    m.call_helper("timer_probe", "arm", &json!(null)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    m.call_helper("timer_probe", "poke", &json!(null)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count("fired.log"), 0, "the reset put it off");
    wait("the resettable timer fires", &|| count("fired.log") == 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(count("fired.log"), 1, "once");

    // Disabling the plugin stops its timers.
    m.set_enabled("timer_probe", false).unwrap();
    let stopped = count("ticks.log");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        count("ticks.log") <= stopped + 1,
        "ticks go on after the disable"
    );
    let settled = count("ticks.log");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count("ticks.log"), settled);

    // Enabled again, it starts one anew; cancel stops it.
    m.set_enabled("timer_probe", true).unwrap();
    wait("ticks again", &|| count("ticks.log") >= settled + 3);
    m.call_helper("timer_probe", "stop", &json!(null)).unwrap();
    wait("the cancelled timer ends", &|| {
        m.call_helper("timer_probe", "alive", &json!(null)).unwrap() == json!(false)
    });
    m.shutdown();
}

#[test]
fn a_plugin_handling_a_restart_needing_hook_is_toggled_at_the_next_start() {
    let sb = Sandbox::new();
    sb.bundle_as(&built().fixture("gcode_probe"), "gcode_probe");
    sb.write_config("isolation:\n  default: in_process\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("gcode_probe").unwrap().state, State::Enabled);
    let t = m.set_enabled("gcode_probe", false).unwrap();
    assert!(t.needs_restart, "{t:?}");
    // Still running until the restart.
    assert_eq!(m.plugin("gcode_probe").unwrap().state, State::Enabled);
    m.shutdown();
}

#[test]
fn a_plugin_learns_what_the_host_knows_of_the_others() {
    let sb = Sandbox::new();
    sb.bundle_as(&built().fixture("gcode_probe"), "gcode_probe");
    sb.recorder("a").recorder("b");
    sb.write_config("plugins:\n  _disabled: [b]\nisolation:\n  default: in_process\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let a = m
        .call_helper("gcode_probe", "plugin_info", &json!({"id": "a"}))
        .unwrap();
    assert_eq!(
        (a["id"].clone(), a["enabled"].clone(), a["state"].clone()),
        (json!("a"), json!(true), json!("enabled"))
    );
    assert_eq!(a["bundled"], false);
    let b = m
        .call_helper("gcode_probe", "plugin_info", &json!({"id": "b"}))
        .unwrap();
    assert_eq!(
        (b["enabled"].clone(), b["state"].clone()),
        (json!(false), json!("disabled"))
    );
    let none = m
        .call_helper("gcode_probe", "plugin_info", &json!({"id": "nope"}))
        .unwrap();
    assert_eq!(none, json!(null));
    let all = m
        .call_helper("gcode_probe", "plugins", &json!(null))
        .unwrap();
    for id in ["a", "b", "gcode_probe"] {
        assert!(all.as_array().unwrap().contains(&json!(id)), "{all}");
    }
    m.shutdown();
}

#[test]
fn a_plugin_finds_users_and_their_permissions_but_no_secret() {
    let sb = Sandbox::new();
    sb.bundle_as(&built().fixture("gcode_probe"), "gcode_probe");
    sb.write_config("isolation:\n  default: in_process\n");
    common::add_user(&sb, "ada", true);
    common::add_user(&sb, "bob", false);
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    let find = |name: &str| {
        m.call_helper("gcode_probe", "find_user", &json!({ "name": name }))
            .unwrap()
    };
    let ada = find("ada");
    assert_eq!(
        (ada["admin"].clone(), ada["active"].clone()),
        (json!(true), json!(true))
    );
    assert!(ada["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("settings")));
    let bob = find("bob");
    assert_eq!(bob["admin"], false);
    let perms = bob["permissions"].as_array().unwrap();
    assert!(
        perms.contains(&json!("print")) && !perms.contains(&json!("settings")),
        "{bob}"
    );
    assert!(bob.get("password").is_none() && bob.get("api_key_sha256").is_none());
    assert_eq!(find("nobody"), json!(null));
    m.shutdown();
}

/// OctoPrint's `test_get_implementations`, through the SDK's
/// `Host::get_implementations` (host service `Implementations`): plugins
/// implementing all of the mixins asked for, running ones only, bundled
/// first, then by identifier.
#[test]
fn get_implementations_gives_the_plugins_implementing_every_mixin_asked_for() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    sb.user_as(&built().fixture("service_probe"), "service_probe")
        .user_as(&built().sample("greeter"), "greeter")
        .user_as(&built().sample("wizard_demo"), "wizard_demo")
        .user_as(&built().sample("event_logger"), "event_logger");
    sb.write_config("plugins:\n  _disabled: [event_logger]\n");
    let m = sb.manager();
    m.start("127.0.0.1", 5123);
    let implementations = |mixins: &[&str]| {
        m.call_helper(
            "service_probe",
            "implementations",
            &json!({ "mixins": mixins }),
        )
        .unwrap()
    };
    // helloworld is bundled: before greeter, though `g` sorts first.
    assert_eq!(
        implementations(&["Startup"]),
        json!(["helloworld", "greeter"])
    );
    assert_eq!(
        implementations(&["SimpleApi"]),
        json!(["helloworld", "service_probe"])
    );
    assert_eq!(
        implementations(&["Startup", "Settings"]),
        json!(["helloworld"])
    );
    assert_eq!(
        implementations(&["Template", "Asset"]),
        json!(["helloworld", "wizard_demo"])
    );
    assert_eq!(implementations(&["Wizard", "Startup"]), json!([]));
    assert_eq!(implementations(&["EventHandler"]), json!([]), "disabled");
    assert_eq!(implementations(&[]), json!([]));
    m.shutdown();
}
