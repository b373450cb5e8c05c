//! The config never loses data: concurrent saves, a save interrupted before
//! its rename, another process writing at the same time, and bad input.

mod common;

use std::fs;
use std::process::Command;

use common::{built, stderr, stdout, Sandbox};
use plinth::{key_path, ConfigStore, PluginSettings};
use plinth_abi::{json, Value};

fn read_yaml(path: &std::path::Path) -> Value {
    yaml_serde::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn eight_threads_saving_different_plugins_a_thousand_times_each_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    fs::write(&path, "server:\n  port: 5000\n").unwrap();
    let store = ConfigStore::open(&path).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let settings = PluginSettings::new(store.clone(), &format!("plugin_{t}"));
            settings.set_defaults(json!({"counter": -1, "name": "x", "last": ""}), None);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    settings
                        .set(&key_path(&["counter"]), json!(i), false)
                        .unwrap();
                    settings
                        .set(&key_path(&["last"]), json!(format!("{t}-{i}")), false)
                        .unwrap();
                    settings.persist().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let disk = read_yaml(&path);
    assert_eq!(disk["server"]["port"], 5000);
    for t in 0..8 {
        let p = &disk["plugins"][format!("plugin_{t}")];
        assert_eq!(p["counter"], 999, "{disk}");
        assert_eq!(p["last"], format!("{t}-999"));
        assert!(p.get("name").is_none(), "defaults are not stored");
    }
    // The backup is the good config the last save replaced: one step behind.
    let bak = read_yaml(&dir.path().join("config.yaml.bak"));
    assert_eq!(bak["server"]["port"], 5000);
    assert!(bak["plugins"].as_object().unwrap().len() == 8, "{bak}");
}

#[test]
fn a_save_interrupted_before_its_rename_leaves_the_old_config_whole() {
    let sb = Sandbox::new();
    let original = "server:\n  port: 5000\nplugins:\n  mine:\n    kept: true\n";
    sb.write_config(original);
    let out = Command::new(built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .arg("--bundled-dir")
        .arg(&sb.bundled)
        .args(["config", "set", "server.port", "6000"])
        .env("PLINTH_FAULT_INJECT", "config-before-rename")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the fault point must stop the process"
    );
    assert_eq!(sb.config(), original, "old content, not truncated or empty");
    let leftovers: Vec<_> = fs::read_dir(&sb.basedir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "the new content was written beside it: {leftovers:?}"
    );

    // The next save goes through and cleans up after the dead writer.
    let out = sb.plinth(&["config", "set", "server.port", "6000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = read_yaml(&sb.basedir.join("config.yaml"));
    assert_eq!(config["server"]["port"], 6000);
    assert_eq!(config["plugins"]["mine"]["kept"], true);
    assert!(fs::read_dir(&sb.basedir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn two_processes_writing_at_once_keep_each_others_changes() {
    let sb = Sandbox::new();
    let run = |prefix: &'static str| {
        let basedir = sb.basedir.clone();
        let bundled = sb.bundled.clone();
        std::thread::spawn(move || {
            for i in 0..30 {
                let out = Command::new(built().plinth())
                    .arg("--basedir")
                    .arg(&basedir)
                    .arg("--bundled-dir")
                    .arg(&bundled)
                    .args(["config", "set", &format!("{prefix}.k{i}"), &i.to_string()])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        })
    };
    let (a, b) = (run("alpha"), run("beta"));
    a.join().unwrap();
    b.join().unwrap();
    let config = read_yaml(&sb.basedir.join("config.yaml"));
    for prefix in ["alpha", "beta"] {
        for i in 0..30 {
            assert_eq!(config[prefix][format!("k{i}")], i, "{config}");
        }
    }
}

#[test]
fn bad_input_is_a_clear_error_and_never_overwritten() {
    let cases = [
        (
            "plugins:\n\thelloworld:\n\t\tsome_setting: x\n",
            "line 2",
            "tabs for indentation",
        ),
        (
            "- just\n- a list\n",
            "line 1",
            "the top level must be a mapping",
        ),
        (
            "server:\n  port: 5000\nplugins:\n  helloworld: 42\n",
            "line 4",
            "plugins.helloworld must be a mapping",
        ),
    ];
    for (text, line, problem) in cases {
        let sb = Sandbox::new();
        sb.bundle_sample("helloworld");
        sb.write_config(text);
        for args in [
            vec!["config", "check"],
            vec!["plugins", "list"],
            vec!["serve"],
            vec!["config", "set", "a", "1"],
        ] {
            let out = sb.plinth(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = stderr(&out);
            assert!(
                err.contains("config.yaml") && err.contains(line) && err.contains(problem),
                "{args:?} on {text:?}: {err}"
            );
        }
        assert_eq!(sb.config(), text, "never overwritten");
    }
    let sb = Sandbox::new();
    sb.write_config("a: 1\n");
    let out = sb.plinth(&["config", "check"]);
    assert!(out.status.success() && stdout(&out).contains("config.yaml: ok"));
}

#[test]
fn config_get_set_remove_go_through_the_plugins_defaults() {
    let sb = Sandbox::new();
    sb.bundle_sample("helloworld");
    let get = |path: &str| {
        let out = sb.plinth(&["config", "get", path, "--json"]);
        assert!(out.status.success(), "{path}: {}", stderr(&out));
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()
    };
    assert_eq!(get("plugins.helloworld.some_value"), json!(23));
    assert_eq!(
        get("plugins.helloworld"),
        json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}})
    );

    assert!(sb
        .plinth(&["config", "set", "plugins.helloworld.sub.some_flag", "no"])
        .status
        .success());
    assert_eq!(
        get("plugins.helloworld.sub.some_flag"),
        json!("no"),
        "YAML 1.2: `no` is a string"
    );
    assert!(sb
        .plinth(&["config", "set", "plugins.helloworld.sub.some_flag", "false"])
        .status
        .success());
    assert_eq!(get("plugins.helloworld.sub.some_flag"), json!(false));
    // Setting the default removes the stored value.
    assert!(sb
        .plinth(&["config", "set", "plugins.helloworld.some_value", "23"])
        .status
        .success());
    let disk = read_yaml(&sb.basedir.join("config.yaml"));
    assert_eq!(
        disk["plugins"]["helloworld"],
        json!({"sub": {"some_flag": false}})
    );
    assert!(sb
        .plinth(&["config", "set", "server.port", "{a: [1, 2]}"])
        .status
        .success());
    assert_eq!(get("server.port"), json!({"a": [1, 2]}));
    assert!(sb
        .plinth(&["config", "remove", "plugins.helloworld.sub.some_flag"])
        .status
        .success());
    assert_eq!(get("plugins.helloworld.sub.some_flag"), json!(true));

    for (args, message) in [
        (
            vec!["config", "get", "nothing.here"],
            "no value at nothing.here",
        ),
        (
            vec!["config", "remove", "nothing.here"],
            "no value stored at nothing.here",
        ),
        (vec!["config", "get", "a..b"], "invalid settings path"),
        (
            vec!["config", "set", "plugins.helloworld", "7"],
            "must be a mapping",
        ),
        (vec!["config", "set", "x", "[unclosed"], "not valid YAML"),
    ] {
        let out = sb.plinth(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_plugin_whose_settings_callbacks_fail_is_failed_and_its_old_settings_stay() {
    for (bad, error) in [
        ("x_panic_in_defaults", "get_settings_defaults: panicked"),
        ("x_panic_in_migrate", "on_settings_migrate: panicked"),
        (
            "x_fail_in_migrate",
            "on_settings_migrate: x_fail_in_migrate fails in migrate",
        ),
        (
            "x_fail_in_cleanup",
            "on_settings_cleanup: x_fail_in_cleanup fails in cleanup",
        ),
        (
            "x_panic_in_initialized",
            "on_settings_initialized: panicked",
        ),
    ] {
        let sb = Sandbox::new();
        let probe = built().fixture("settings_probe");
        sb.user_as(&probe, bad).user_as(&probe, "good");
        sb.write_config(&format!(
            "plugins:\n  {bad}:\n    value: 7\n  good:\n    value: 7\n"
        ));
        let m = sb.manager();
        m.start("127.0.0.1", 5000);
        let info = m.plugin(bad).unwrap();
        assert_eq!(info.state, plinth::State::Failed, "{bad}");
        assert!(
            info.error.as_deref().unwrap().starts_with(error),
            "{bad}: {:?}",
            info.error
        );
        assert_eq!(m.plugin("good").unwrap().state, plinth::State::Enabled);
        // What is on disk, as the host left it (nothing else saves here).
        let disk = read_yaml(&sb.basedir.join("config.yaml"));
        let expected = if bad.contains("initialized") {
            // Failing after the save: the migrated settings are valid and stay.
            json!({"value": 42, "migrated": true, "_config_version": 2})
        } else {
            json!({"value": 7})
        };
        assert_eq!(disk["plugins"][bad], expected, "{bad}");
        assert_eq!(
            disk["plugins"]["good"],
            json!({"value": 42, "migrated": true, "_config_version": 2})
        );
        m.shutdown();
    }
}

#[test]
fn a_broken_config_points_to_the_last_good_one() {
    let sb = Sandbox::new();
    sb.write_config("server:\n  port: 5000\n");
    assert!(sb
        .plinth(&["config", "set", "server.port", "5001"])
        .status
        .success());
    fs::write(sb.basedir.join("config.yaml"), "server: [oops\n").unwrap();
    let out = sb.plinth(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the last good config is in") && err.contains("config.yaml.bak"),
        "{err}"
    );
    let bak = read_yaml(&sb.basedir.join("config.yaml.bak"));
    assert_eq!(bak["server"]["port"], 5000);
}
