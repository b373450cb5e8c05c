//! The `plinth` command line as a user runs it, on real files and processes.

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{built, lib_file, stderr, stdout, Sandbox};
use plinth_abi::Value;

fn json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "plinth failed: {}", stderr(out));
    serde_json::from_str(&stdout(out)).expect("valid JSON")
}

fn entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {list:#}"))
}

fn sample_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(built().root.join("sample-plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_sample_plugin_is_bundled_and_enabled_with_the_default_bundled_folder() {
    let base = tempfile::tempdir().unwrap();
    let out = Command::new(built().plinth())
        .args([
            "--basedir",
            base.path().to_str().unwrap(),
            "plugins",
            "list",
            "--json",
        ])
        .env_remove("PLINTH_BASEDIR")
        .output()
        .unwrap();
    let list = json(&out);
    let names = sample_names();
    assert!(names.len() >= 5, "{names:?}");
    for name in &names {
        let p = entry(&list, name);
        assert_eq!(p["source"], "bundled", "{p:#}");
        assert_eq!(p["state"], "enabled", "{p:#}");
        assert_eq!(p["error"], Value::Null);
        for key in [
            "name",
            "version",
            "path",
            "mixins",
            "restart_needing",
            "reload_needing",
        ] {
            assert!(p.get(key).is_some(), "{key} missing in {p:#}");
        }
    }
    // Nothing but the samples: cargo's own folders are not plugins.
    assert_eq!(list.as_array().unwrap().len(), names.len(), "{list:#}");
    assert_eq!(entry(&list, "restart_needer")["restart_needing"], true);
    assert_eq!(entry(&list, "helloworld")["reload_needing"], true);
}

#[test]
fn a_copy_in_the_plugins_folder_is_a_user_plugin_and_a_registered_one_a_manifest_plugin() {
    let sb = Sandbox::new();
    fs::copy(
        built().sample("event_logger"),
        sb.basedir.join("plugins").join(lib_file("my_logger")),
    )
    .unwrap();
    let out = sb.plinth(&[
        "plugins",
        "register",
        built().sample("event_logger").to_str().unwrap(),
        "--id",
        "far_logger",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: Value = serde_json::from_str(
        &fs::read_to_string(sb.basedir.join("manifests/far_logger.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);

    let list = json(&sb.plinth(&["plugins", "list", "--json"]));
    assert_eq!(entry(&list, "my_logger")["source"], "user");
    assert_eq!(entry(&list, "my_logger")["state"], "enabled");
    assert_eq!(entry(&list, "far_logger")["source"], "manifest");
    assert_eq!(entry(&list, "far_logger")["state"], "enabled");

    let again = sb.plinth(&[
        "plugins",
        "register",
        built().sample("event_logger").to_str().unwrap(),
        "--id",
        "far_logger",
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already registered"));

    let out = sb.plinth(&["plugins", "unregister", "far_logger"]);
    assert!(out.status.success());
    let list = json(&sb.plinth(&["plugins", "list", "--json"]));
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["id"] != "far_logger"));
    let out = sb.plinth(&["plugins", "unregister", "far_logger"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no registration for `far_logger`"));

    // Uninstalling a manifest plugin removes its registration, never the library it points to.
    let lib = built().sample("event_logger");
    assert!(sb
        .plinth(&["plugins", "register", lib.to_str().unwrap(), "--id", "reg"])
        .status
        .success());
    let out = sb.plinth(&["plugins", "uninstall", "reg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sb.basedir.join("manifests/reg.json").exists() && lib.exists());
}

#[test]
fn garbage_gives_one_readable_entry_each_and_good_plugins_still_load() {
    let sb = Sandbox::new();
    sb.bundle_sample("event_logger");
    let plugins = sb.basedir.join("plugins");
    let random: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(plugins.join(lib_file("random")), random).unwrap();
    fs::write(plugins.join(lib_file("empty")), b"").unwrap();
    let good = fs::read(built().sample("event_logger")).unwrap();
    fs::write(plugins.join(lib_file("truncated")), &good[..good.len() / 3]).unwrap();
    fs::create_dir(plugins.join("no_library")).unwrap();
    fs::write(plugins.join("no_library/README.txt"), b"nothing here").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        plugins.join(lib_file("loop")),
        plugins.join(lib_file("loop")),
    )
    .unwrap();
    let system = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/libz.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    if let Some(lib) = system {
        fs::copy(lib, plugins.join(lib_file("systemlib"))).unwrap();
    }
    let manifests = sb.basedir.join("manifests");
    fs::create_dir_all(&manifests).unwrap();
    fs::write(manifests.join("badjson.json"), b"{\"id\": \"badjson\", ").unwrap();
    let lib = built().sample("event_logger");
    fs::write(
        manifests.join("tampered.json"),
        format!(
            r#"{{"id": "tampered", "library": "{}", "sha256": "{}"}}"#,
            lib.display(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    sb.recorder("good_user");

    let out = sb.plinth(&["plugins", "list", "--json"]);
    let list = json(&out);
    let mut expect = vec![
        ("random", "incompatible", "not a shared library"),
        ("empty", "incompatible", "not a shared library"),
        ("truncated", "incompatible", "not a shared library"),
        ("no_library", "failed", "holds no plugin library"),
        ("badjson", "failed", "badjson.json: invalid"),
        ("tampered", "failed", "but the manifest expects"),
    ];
    if cfg!(unix) {
        expect.push(("loop", "failed", "symlink loop"));
    }
    if system.is_some() {
        expect.push(("systemlib", "incompatible", "not a Plinth plugin"));
    }
    for (id, state, error) in &expect {
        let p = entry(&list, id);
        assert_eq!(p["state"], *state, "{p:#}");
        assert!(p["error"].as_str().unwrap().contains(error), "{id}: {p:#}");
    }
    assert_eq!(
        list.as_array().unwrap().len(),
        expect.len() + 2,
        "one entry each: {list:#}"
    );
    assert_eq!(entry(&list, "event_logger")["state"], "enabled");
    assert_eq!(entry(&list, "good_user")["state"], "enabled");

    // The table says the same, errors under their rows.
    let table = sb.plinth(&["plugins", "list"]);
    assert!(table.status.success());
    let text = stdout(&table);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains("symlink loop") || !cfg!(unix), "{text}");
}

#[test]
fn install_copies_a_loadable_plugin_and_refuses_anything_else() {
    let sb = Sandbox::new();
    sb.bundle_sample("event_logger");
    let staging = tempfile::tempdir().unwrap();
    let lib = staging.path().join(lib_file("copied"));
    fs::copy(built().fixture("recorder"), &lib).unwrap();
    let out = sb.plinth(&["plugins", "install", lib.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sb
        .basedir
        .join("plugins")
        .join(lib_file("copied"))
        .is_file());
    assert_eq!(
        entry(&json(&sb.plinth(&["plugins", "list", "--json"])), "copied")["source"],
        "user"
    );

    // A folder plugin with static files.
    let folder = staging.path().join("foldered");
    fs::create_dir_all(folder.join("static")).unwrap();
    fs::copy(
        built().fixture("recorder"),
        folder.join(lib_file("foldered")),
    )
    .unwrap();
    fs::write(folder.join("static/app.js"), b"// js").unwrap();
    let out = sb.plinth(&["plugins", "install", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sb.basedir.join("plugins/foldered/static/app.js").is_file());
    let info = json(&sb.plinth(&["plugins", "info", "foldered", "--json"]));
    assert_eq!(
        info["base_folder"],
        sb.basedir.join("plugins/foldered").to_str().unwrap()
    );

    let junk = staging.path().join(lib_file("junk"));
    fs::write(&junk, b"junk").unwrap();
    let out = sb.plinth(&["plugins", "install", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a shared library"),
        "{}",
        stderr(&out)
    );
    assert!(!sb.basedir.join("plugins").join(lib_file("junk")).exists());

    let same_as_bundled = staging.path().join(lib_file("event_logger"));
    fs::copy(built().sample("event_logger"), &same_as_bundled).unwrap();
    let out = sb.plinth(&["plugins", "install", same_as_bundled.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already a bundled plugin"),
        "{}",
        stderr(&out)
    );

    let out = sb.plinth(&["plugins", "install", "/no/such/file.so"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
}

/// `plinth plugins install` takes plugin archives too, with `--json` for
/// scripts; a damaged archive or one with a link is refused, naming it.
#[test]
fn install_unpacks_plugin_archives() {
    let sb = Sandbox::new();
    let staging = tempfile::tempdir().unwrap();
    let lib = built().fixture("recorder");
    let lib_name = lib.file_name().unwrap().to_str().unwrap().to_owned();
    let archive = staging.path().join("recorder-0.3.tgz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        fs::File::create(&archive).unwrap(),
        flate2::Compression::default(),
    ));
    tar.append_path_with_name(&lib, format!("recorder/{lib_name}"))
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let out = sb.plinth(&["plugins", "install", "--json", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let answer = json(&out);
    assert_eq!(answer["id"], "recorder");
    let folder = sb.basedir.join("plugins/recorder");
    assert_eq!(answer["path"], folder.to_str().unwrap());
    assert!(folder.join(&lib_name).is_file());
    assert_eq!(
        entry(
            &json(&sb.plinth(&["plugins", "list", "--json"])),
            "recorder"
        )["state"],
        "enabled"
    );

    let damaged = staging.path().join("damaged.zip");
    fs::write(&damaged, b"PK\x03\x04 not really").unwrap();
    let out = sb.plinth(&["plugins", "install", damaged.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("damaged.zip") && err.contains("not a readable"),
        "{err}"
    );

    let linked = staging.path().join("linked.tar");
    let mut tar = tar::Builder::new(fs::File::create(&linked).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    tar.append_link(&mut header, "evil/libevil.so", "/etc/passwd")
        .unwrap();
    tar.finish().unwrap();
    let out = sb.plinth(&["plugins", "install", linked.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("evil/libevil.so") && err.contains("is a link"),
        "{err}"
    );
    assert!(!sb.basedir.join("plugins/evil").exists());
}

#[test]
fn enable_disable_uninstall_and_info_from_the_command_line() {
    let sb = Sandbox::new();
    sb.bundle_sample("event_logger").recorder("mine");
    let out = sb.plinth(&["plugins", "disable", "event_logger"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(sb.config().contains("event_logger"));
    assert_eq!(
        json(&sb.plinth(&["plugins", "info", "event_logger", "--json"]))["state"],
        "disabled"
    );
    let out = sb.plinth(&["plugins", "enable", "event_logger"]);
    assert!(out.status.success());
    assert_eq!(
        json(&sb.plinth(&["plugins", "info", "event_logger", "--json"]))["state"],
        "enabled"
    );

    let text = stdout(&sb.plinth(&["plugins", "info", "event_logger"]));
    assert!(
        text.contains("Event Logger (event_logger)") && text.contains("mixins:      EventHandler"),
        "{text}"
    );

    for (args, message) in [
        (vec!["plugins", "enable", "ghost"], "no plugin `ghost`"),
        (vec!["plugins", "info", "ghost"], "no plugin `ghost`"),
        (
            vec!["plugins", "uninstall", "event_logger"],
            "bundled plugin and cannot be uninstalled",
        ),
    ] {
        let out = sb.plinth(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }

    let out = sb.plinth(&["plugins", "uninstall", "mine"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sb.basedir.join("plugins").join(lib_file("mine")).exists());
    // The CLI created the plugin only to give it on_plugin_pending_uninstall;
    // it was never enabled, so it is not told it is disabled.
    assert_eq!(
        sb.calls(),
        [
            "mine new",
            "mine initialize",
            "mine on_plugin_pending_uninstall",
            "mine drop"
        ]
        .map(String::from)
    );
}

#[test]
fn bad_usage_and_a_broken_config_fail_with_a_clear_message() {
    let sb = Sandbox::new();
    for args in [
        vec!["plugins", "frobnicate"],
        vec!["plugins", "enable"],
        vec!["serve", "--port", "x"],
    ] {
        let out = sb.plinth(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    // A missing argument is named, with the usage.
    let err = stderr(&sb.plinth(&["plugins", "enable"]));
    assert!(
        err.contains("not provided: <ID>") && err.contains("usage: plinth plugins enable <ID>"),
        "{err}"
    );
    let err = stderr(&sb.plinth(&["config", "set", "server.debug"]));
    assert!(err.contains("not provided: <VALUE>"), "{err}");
    for args in [
        vec!["--help"],
        vec!["plugins", "--help"],
        vec!["plugins", "register", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = sb.plinth(&args);
        assert!(
            out.status.success() && stdout(&out).contains("Usage"),
            "{args:?}"
        );
    }
    let broken = "plugins:\n  _disabled: [a, b\n";
    sb.write_config(broken);
    for args in [
        vec!["plugins", "list"],
        vec!["plugins", "disable", "a"],
        vec!["serve"],
    ] {
        let out = sb.plinth(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("config.yaml") && err.contains("line 3"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(sb.config(), broken, "a broken config is never overwritten");
}

/// Kills the child process when a test fails before it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `plinth serve` on a free port, read until it says it started: the
/// process, the rest of its log to read, and the log so far.
#[cfg(unix)]
fn serve_until_started(
    basedir: &std::path::Path,
    bundled: &std::path::Path,
) -> (
    KillOnDrop,
    std::io::BufReader<std::process::ChildStderr>,
    String,
) {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(built().plinth())
        .arg("--basedir")
        .arg(basedir)
        .arg("--bundled-dir")
        .arg(bundled)
        .args(["serve", "--port", "0"])
        .env("PLINTH_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let child = KillOnDrop(child);
    let mut reader = BufReader::new(stderr_pipe);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    while !log.contains("Plinth started") {
        assert!(Instant::now() < deadline, "no start-up line: {log}");
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("plinth exited early: {log}");
        }
        log.push_str(&line);
    }
    (child, reader, log)
}

#[cfg(unix)]
#[test]
fn serve_starts_with_a_base_folder_that_does_not_exist_yet() {
    let dir = tempfile::tempdir().unwrap();
    let (basedir, bundled) = (dir.path().join("new/base"), dir.path().join("bundled"));
    fs::create_dir_all(&bundled).unwrap();
    let (_child, _rest, log) = serve_until_started(&basedir, &bundled);
    assert!(log.contains("with 0 plugins enabled"), "{log}");
    assert!(basedir.is_dir());
    assert!(
        !basedir.join("startup_incomplete").exists(),
        "the start-up marker is removed once start-up finished"
    );
}

#[cfg(unix)]
#[test]
fn serve_starts_plugins_and_shuts_down_in_order_on_sigterm() {
    let sb = Sandbox::new();
    sb.bundle_sample("event_logger")
        .bundle_sample("greeter")
        .bundle_sample("wordsmith");
    sb.recorder("a").recorder("b");
    fs::write(
        sb.basedir.join("plugins").join(lib_file("broken")),
        b"not a library",
    )
    .unwrap();
    let (mut child, mut reader, log) = serve_until_started(&sb.basedir, &sb.bundled);
    assert!(log.contains("with 5 plugins enabled"), "{log}");
    assert!(sb.calls().contains(&"b on_after_startup".to_owned()));
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{log}{rest}");
    let calls = sb.lifecycle_calls();
    let n = calls.len();
    assert_eq!(
        calls[n - 4..],
        ["a on_shutdown", "b on_shutdown", "a drop", "b drop"].map(String::from)
    );
    let all = format!("{log}{rest}");
    assert!(
        all.contains("event Startup: null plugin=\"event_logger\""),
        "{all}"
    );
    assert!(rest.contains("event Shutdown"), "{rest}");
    assert!(
        all.contains("greeting: WORDSMITH SAYS HELLO, GREETER SAYS HELLO"),
        "{all}"
    );
    assert!(
        all.contains("not loaded (incompatible): not a shared library"),
        "{all}"
    );
}

#[test]
fn basedir_from_the_environment_and_safe_mode_from_the_command_line() {
    let sb = Sandbox::new();
    sb.bundle_sample("event_logger").recorder("mine");
    let out = Command::new(built().plinth())
        .args([
            "--bundled-dir",
            sb.bundled.to_str().unwrap(),
            "plugins",
            "list",
            "--json",
        ])
        .env("PLINTH_BASEDIR", &sb.basedir)
        .output()
        .unwrap();
    assert_eq!(entry(&json(&out), "mine")["state"], "enabled");
    let list = json(&sb.plinth(&["--safe-mode", "plugins", "list", "--json"]));
    assert_eq!(entry(&list, "mine")["state"], "safe_mode_victim");
    assert_eq!(entry(&list, "event_logger")["state"], "enabled");
}

#[cfg(unix)]
#[test]
fn a_signal_during_start_up_still_shuts_down_in_order() {
    let sb = Sandbox::new();
    sb.recorder("a_slow_in_on_startup");
    let child = Command::new(built().plinth())
        .arg("--basedir")
        .arg(&sb.basedir)
        .arg("--bundled-dir")
        .arg(&sb.bundled)
        .args(["serve", "--port", "0"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sb
        .calls()
        .iter()
        .any(|l| l.contains(" on_startup 127.0.0.1 "))
    {
        assert!(Instant::now() < deadline, "on_startup never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The plugin is still inside on_startup (it takes 400 ms).
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let calls = sb.lifecycle_calls();
    let n = calls.len();
    assert_eq!(
        calls[n - 3..],
        [
            "a_slow_in_on_startup on_after_startup",
            "a_slow_in_on_startup on_shutdown",
            "a_slow_in_on_startup drop"
        ]
        .map(String::from)
    );
}

#[test]
fn a_manifest_is_found_by_the_id_inside_it_and_problems_name_the_manifest() {
    let sb = Sandbox::new();
    let manifests = sb.basedir.join("manifests");
    fs::create_dir_all(&manifests).unwrap();
    let lib = built().sample("event_logger");
    fs::write(
        manifests.join("renamed.json"),
        format!(r#"{{"id": "other", "library": "{}"}}"#, lib.display()),
    )
    .unwrap();
    fs::write(
        manifests.join("gone.json"),
        r#"{"id": "gone", "library": "/no/such/libgone.so"}"#,
    )
    .unwrap();
    let list = json(&sb.plinth(&["plugins", "list", "--json"]));
    assert_eq!(entry(&list, "other")["state"], "enabled");
    let gone = entry(&list, "gone");
    assert_eq!(gone["state"], "failed");
    let error = gone["error"].as_str().unwrap();
    assert!(
        error.contains("gone.json") && error.contains("/no/such/libgone.so does not exist"),
        "{error}"
    );

    let out = sb.plinth(&["plugins", "unregister", "../data/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("invalid plugin identifier"),
        "{}",
        stderr(&out)
    );
    let out = sb.plinth(&["plugins", "uninstall", "other"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!manifests.join("renamed.json").exists() && lib.exists());
    let out = sb.plinth(&["plugins", "unregister", "gone"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!manifests.join("gone.json").exists());
}

#[test]
fn users_are_added_listed_given_api_keys_and_removed_from_the_command_line() {
    use std::io::Write;
    let sb = Sandbox::new();
    let add = |args: &[&str], password: &str| {
        let mut child = Command::new(built().plinth())
            .arg("--basedir")
            .arg(&sb.basedir)
            .args(["user", "add"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(add(&["ada", "--admin"], "correct horse").status.success());
    assert!(add(&["bob"], "battery staple").status.success());
    assert!(add(&["cy", "--permissions", "status,settings_read"], "pw")
        .status
        .success());
    for (args, message) in [
        (vec!["bob"], "there is already a user `bob`"),
        (
            vec!["dan", "--permissions", "status,fly"],
            "unknown permission \"fly\"",
        ),
        (vec!["e f"], "invalid user name"),
    ] {
        let out = add(&args, "pw");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    let list = stdout(&sb.plinth(&["user", "list"]));
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0][..3], ["ada", "admin", "no api key"]);
    assert_eq!(rows[0][3], "all");
    assert!(
        rows[1][3].split(',').any(|p| p == "webcam"),
        "the user role includes webcam: {list}"
    );
    assert_eq!(rows[2][3], "settings_read,status");

    let key = stdout(&sb.plinth(&["user", "apikey", "bob"]))
        .trim()
        .to_owned();
    assert_eq!(key.len(), 48);
    let users = plinth::Users::new(&sb.basedir);
    assert_eq!(users.by_api_key(&key).unwrap().0, "bob");
    assert!(users.authenticate("ada", "correct horse").unwrap().admin);
    let text = fs::read_to_string(sb.basedir.join("users.yaml")).unwrap();
    assert!(
        !text.contains("correct horse") && !text.contains(&key),
        "no secrets in clear"
    );

    // A user deactivated (through the access API) is listed so; the last
    // administrator cannot be removed.
    users.modify("cy", |u| u.active = false).unwrap();
    let list = stdout(&sb.plinth(&["user", "list"]));
    assert!(list.contains("cy\tuser (deactivated)"), "{list}");
    let out = sb.plinth(&["user", "remove", "ada"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no active administrator"),
        "{}",
        stderr(&out)
    );

    assert!(sb.plinth(&["user", "remove", "bob"]).status.success());
    let out = sb.plinth(&["user", "remove", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no user `bob`"));
    assert!(users.by_api_key(&key).is_none());

    fs::write(sb.basedir.join("users.yaml"), "ada: [not, a, user]\n").unwrap();
    let out = sb.plinth(&["user", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("users.yaml"), "{}", stderr(&out));
}
