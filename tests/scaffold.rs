//! `plinth plugins new`: the crate it makes builds, passes its own tests
//! (a unit test, and one on plinth-testkit running it in a real host),
//! installs with `plinth plugins install` and runs: enabled, answering its
//! Simple API, as a new author would try it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{add_user, api_key, built, get, lib_file, stdout, Sandbox, Server};
use plinth_abi::json;

/// The workspace's target folder: the new crate's build reuses what the
/// test suite compiled (the SDK, the test kit and the host under it).
fn target() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| built().root.join("target"))
}

fn cargo(args: &[&str], manifest: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = target();
    let status = Command::new(cargo)
        .args(args)
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo {args:?} failed for {}",
        manifest.display()
    );
}

#[test]
fn a_new_plugin_builds_passes_its_test_installs_and_runs() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let out = sb.plinth(&[
        "plugins",
        "new",
        "hello_new",
        "--path",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let folder = dir.path().join("hello_new");
    assert!(stdout(&out).contains("plinth plugins install"), "{out:?}");
    let manifest = folder.join("Cargo.toml");
    let cargo_toml = std::fs::read_to_string(&manifest).unwrap();
    let sdk = built().root.join("plugin-sdk").canonicalize().unwrap();
    assert!(
        cargo_toml.contains(&format!("plinth-sdk = {{ path = \"{}\" }}", sdk.display())),
        "the SDK by path, from the checkout plinth was built from:\n{cargo_toml}"
    );
    let testkit = built().root.join("testkit").canonicalize().unwrap();
    assert!(
        cargo_toml.contains(&format!(
            "[dev-dependencies]\nplinth-testkit = {{ path = \"{}\" }}",
            testkit.display()
        )),
        "the test kit by path, beside the SDK:\n{cargo_toml}"
    );
    for file in ["src/lib.rs", "tests/plugin.rs", "README.md", ".gitignore"] {
        assert!(folder.join(file).is_file(), "{file}");
    }
    let plugin_test = std::fs::read_to_string(folder.join("tests/plugin.rs")).unwrap();
    assert!(plugin_test.contains("TestHost::start(plinth_testkit::plugin_library!())"));
    // The versions the workspace builds with: no download, and its
    // compiled dependencies are reused.
    std::fs::copy(built().root.join("Cargo.lock"), folder.join("Cargo.lock")).unwrap();
    cargo(&["build"], &manifest);
    // Its unit test and its test kit test, in a real host.
    cargo(&["test"], &manifest);

    let library = target().join("debug").join(lib_file("hello_new"));
    let out = sb.plinth(&["plugins", "install", library.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    add_user(&sb, "ada", true);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let (status, body) = get(&server, "/api/plugin/hello_new", &key);
    assert_eq!((status, body), (200, json!({"greeting": "Hello, world!"})));
    drop(server);
    let out = sb.plinth(&["plugins", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "hello_new")
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["state"], "enabled", "{list:#}");
    assert_eq!(entry["name"], "Hello New");
}

#[test]
fn a_bad_identifier_or_a_taken_folder_is_refused_and_nothing_is_written() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let out = sb.plinth(&["plugins", "new", "my-plugin", "--path", path]);
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("use '_' instead of '-'"),
        "{out:?}"
    );
    std::fs::create_dir(dir.path().join("taken")).unwrap();
    let out = sb.plinth(&["plugins", "new", "taken", "--path", path]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("exists already"), "{out:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
