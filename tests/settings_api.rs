//! A plugin's settings handle as OctoPrint's `PluginSettings` behaves
//! (issue 17, divergences 2, 3, 4 and 8; OctoPrint's `test_settings.py` and
//! `plugin/__init__.py`): `set` stores nothing for a path outside the
//! defaults unless forced, `force` stores a default; `global_set`,
//! `global_remove` and the typed setters; base folders and the plugin's log
//! file path. Each case runs with the plugin in process and isolated.

#[macro_use]
mod common;

use common::{built, Sandbox};
use plinth::{PluginManager, State};
use plinth_abi::{json, Value};

fn started(mode: &str) -> (Sandbox, PluginManager) {
    let sb = Sandbox::in_mode(mode);
    sb.user_as(&built().fixture("settings_probe"), "probe");
    let m = sb.manager();
    m.start("127.0.0.1", 5000);
    assert_eq!(m.plugin("probe").unwrap().state, State::Enabled);
    (sb, m)
}

fn op(m: &PluginManager, op: &str, path: &[&str], value: Value) -> Result<Value, String> {
    m.call_helper(
        "probe",
        "settings",
        &json!({"op": op, "path": path, "value": value}),
    )
    .map_err(|e| e.to_string())
}

/// What `config.yaml` holds at `path` once saved.
fn on_disk(sb: &Sandbox, path: &[&str]) -> Value {
    let doc: Value = yaml_serde::from_str(&sb.config()).unwrap_or(Value::Null);
    path.iter()
        .fold(doc, |v, k| v.get(*k).cloned().unwrap_or(Value::Null))
}

fn force_and_paths_outside_the_defaults_in(mode: &str) {
    let (sb, m) = started(mode);
    // `value` defaults to 0 (after the probe's migration wrote 42).
    op(&m, "set", &["value"], json!(0)).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["plugins", "probe", "value"]), Value::Null);
    op(&m, "set_forced", &["value"], json!(0)).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["plugins", "probe", "value"]), json!(0));
    // Outside the defaults: nothing without force, as OctoPrint.
    op(&m, "set", &["free"], json!("x")).unwrap();
    assert_eq!(op(&m, "get", &["free"], Value::Null).unwrap(), Value::Null);
    op(&m, "set_forced", &["free"], json!("x")).unwrap();
    assert_eq!(op(&m, "get", &["free"], Value::Null).unwrap(), json!("x"));
    // The typed setters convert as OctoPrint's do.
    op(&m, "set_int", &["value"], json!("250")).unwrap();
    assert_eq!(op(&m, "get", &["value"], Value::Null).unwrap(), json!(100));
    let err = op(&m, "set_int", &["value"], json!("many")).unwrap_err();
    assert!(
        err.contains("value: \"many\" is not a whole number"),
        "{err}"
    );
    op(&m, "set_boolean", &["free"], json!("yes")).unwrap();
    assert_eq!(op(&m, "get", &["free"], Value::Null).unwrap(), json!(true));
    // Typed and forced, as OctoPrint's `set_int(…, force=True)`: converted,
    // then stored though it equals the default or is not among them.
    op(&m, "set", &["value"], json!(0)).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["plugins", "probe", "value"]), Value::Null);
    op(&m, "forced_set_int", &["value"], json!("0")).unwrap();
    op(&m, "forced_set_boolean", &["other"], json!("y")).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["plugins", "probe", "value"]), json!(0));
    assert_eq!(on_disk(&sb, &["plugins", "probe", "other"]), json!(true));
    // Typed getters: text only from a string; any serde shape, else none.
    op(&m, "set_forced", &["names"], json!(["ada", "bo"])).unwrap();
    op(&m, "set_forced", &["title"], json!("Dr")).unwrap();
    let get = |what: &str, path: &[&str]| op(&m, what, path, Value::Null).unwrap();
    assert_eq!(get("get_str", &["title"]), json!("Dr"));
    assert_eq!(get("get_str", &["names"]), Value::Null);
    assert_eq!(get("get_as_names", &["names"]), json!(["ada", "bo"]));
    assert_eq!(get("get_as_names", &["title"]), Value::Null);
    assert_eq!(get("get_as_names", &["missing"]), Value::Null);
    assert_eq!(
        get("global_get_str", &["plugins", "probe", "title"]),
        json!("Dr")
    );
    // Floats, and the typed getters through the handle.
    op(&m, "set_float", &["value"], json!("0.25")).unwrap();
    assert_eq!(get("get_float", &["value"]), json!(0.5), "clamped to 0.5");
    op(&m, "forced_set_float", &["ratio"], json!("1.5")).unwrap();
    assert_eq!(get("get_float", &["ratio"]), json!(1.5));
    assert_eq!(get("get_int", &["ratio"]), json!(1));
    op(&m, "set_int", &["value"], json!(80)).unwrap();
    assert_eq!(get("get_int", &["value"]), json!(50), "clamped to 50");
    assert_eq!(get("get_boolean", &["other"]), json!(true));
    assert_eq!(get("get_float", &["missing"]), Value::Null);
    m.shutdown();
}

fn global_settings_in(mode: &str) {
    let (sb, m) = started(mode);
    let timeout = ["server", "plugin_call_timeout"];
    op(&m, "global_set", &timeout, json!(12)).unwrap();
    assert_eq!(
        op(&m, "global_get", &timeout, Value::Null).unwrap(),
        json!(12)
    );
    let err = op(&m, "global_set", &timeout, json!("soon")).unwrap_err();
    assert!(err.contains("server.plugin_call_timeout"), "{err}");
    // Neither a host key nor stored: only with force.
    op(&m, "global_set", &["custom", "flag"], json!(true)).unwrap();
    assert_eq!(
        op(&m, "global_get", &["custom", "flag"], Value::Null).unwrap(),
        Value::Null
    );
    op(&m, "global_set_forced", &["custom", "flag"], json!(true)).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["custom", "flag"]), json!(true));
    assert_eq!(on_disk(&sb, &timeout), json!(12));
    op(&m, "global_remove", &["custom"], Value::Null).unwrap();
    op(&m, "save", &[], Value::Null).unwrap();
    assert_eq!(on_disk(&sb, &["custom"]), Value::Null);
    // The typed global setters and getters convert as OctoPrint's do.
    op(&m, "global_set_int", &timeout, json!("30")).unwrap();
    assert_eq!(
        op(&m, "global_get_int", &timeout, Value::Null).unwrap(),
        json!(30)
    );
    assert_eq!(
        op(&m, "global_get_float", &timeout, Value::Null).unwrap(),
        json!(30.0)
    );
    op(&m, "global_set_float", &timeout, json!("12.0")).unwrap();
    assert_eq!(
        op(&m, "global_get_int", &timeout, Value::Null).unwrap(),
        json!(12)
    );
    let first_run = ["server", "firstRun"];
    op(&m, "global_set_boolean", &first_run, json!("no")).unwrap();
    assert_eq!(
        op(&m, "global_get_boolean", &first_run, Value::Null).unwrap(),
        json!(false)
    );
    m.shutdown();
}

fn base_folders_and_the_plugin_log_file_in(mode: &str) {
    let (sb, m) = started(mode);
    let logs = op(&m, "basefolder", &[], json!("logs")).unwrap();
    let logs = std::path::PathBuf::from(logs.as_str().unwrap());
    assert_eq!(logs, sb.basedir.join("logs"));
    assert!(logs.is_dir(), "the logs folder is created");
    let uploads = op(&m, "basefolder", &[], json!("uploads")).unwrap();
    assert_eq!(uploads, json!(sb.basedir.join("uploads")));
    assert_eq!(
        op(&m, "logfile", &[], Value::Null).unwrap(),
        json!(logs.join("plugin_probe.log"))
    );
    assert_eq!(
        op(&m, "logfile", &[], json!("engine")).unwrap(),
        json!(logs.join("plugin_probe_engine.log"))
    );
    let err = op(&m, "basefolder", &[], json!("attic")).unwrap_err();
    assert!(err.contains("not a base folder: \"attic\""), "{err}");
    m.shutdown();
}

in_both_modes! {
    force_and_paths_outside_the_defaults => force_and_paths_outside_the_defaults_in,
    global_settings => global_settings_in,
    base_folders_and_the_plugin_log_file => base_folders_and_the_plugin_log_file_in,
}
