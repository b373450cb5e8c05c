//! `plinth plugins new <id>`: a new plugin crate, out of any workspace, that
//! builds and loads as it is: `Cargo.toml` with the SDK dependency and the
//! test kit (`plinth-testkit`) for its tests, a minimal plugin (a start-up
//! log line, a setting, a Simple API GET), a unit test, a test running the
//! plugin in a real host through the test kit (`tests/plugin.rs`), a README
//! with the build, test and install commands, and a `.gitignore`.
//!
//! The SDK and the test kit are taken by path when there is a Plinth
//! checkout to point at (`--sdk-path`, else one around the new crate's
//! folder, else the one this `plinth` was built from, if it is still there;
//! the test kit is the checkout's `testkit/`), else by version.

use std::path::{Path, PathBuf};

/// Why a plugin crate cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The identifier cannot name a plugin library.
    #[error("cannot make a plugin named {id:?}: {why}")]
    BadId { id: String, why: &'static str },
    /// The folder is there already.
    #[error("{} exists already; choose another identifier or --path", .0.display())]
    Exists(PathBuf),
    /// `--sdk-path` does not hold plinth-sdk.
    #[error("{} holds no plinth-sdk (no Cargo.toml of a package named plinth-sdk)", .0.display())]
    NoSdk(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The SDK's version, as this host was built with it.
fn sdk_version() -> &'static str {
    include_str!("../../../plugin-sdk/Cargo.toml")
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or("3")
}

/// Whether `dir` is the folder of package `name`.
fn is_package(dir: &Path, name: &str) -> bool {
    let line = format!("name = \"{name}\"");
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|t| t.lines().any(|l| l.trim() == line))
}

/// Whether `dir` is a plinth-sdk package folder.
fn is_sdk(dir: &Path) -> bool {
    is_package(dir, "plinth-sdk")
}

/// A dependency line on the package `name` in folder `path`.
fn path_dependency(name: &str, path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let shown = path.to_string_lossy().replace('\\', "/");
    format!("{name} = {{ path = \"{shown}\" }}")
}

/// The SDK dependency line for a crate in `folder`, and the test kit's when
/// there is a checkout to take it from (it is not on crates.io).
fn dependencies(
    folder: &Path,
    sdk_path: Option<&Path>,
) -> Result<(String, Option<String>), ScaffoldError> {
    let path = match sdk_path {
        Some(p) if is_sdk(p) => Some(p.to_path_buf()),
        Some(p) => return Err(ScaffoldError::NoSdk(p.to_path_buf())),
        None => folder
            .ancestors()
            .map(|a| a.join("plugin-sdk"))
            .find(|p| is_sdk(p))
            .or_else(|| {
                let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
                is_sdk(&built_from).then_some(built_from)
            }),
    };
    // The test kit beside the SDK, in the same checkout.
    let testkit = path
        .as_deref()
        .and_then(Path::parent)
        .map(|root| root.join("testkit"))
        .filter(|t| is_package(t, "plinth-testkit"));
    Ok((
        path.map_or_else(
            || format!("plinth-sdk = \"{}\"", sdk_version()),
            |p| path_dependency("plinth-sdk", &p),
        ),
        testkit.map(|t| path_dependency("plinth-testkit", &t)),
    ))
}

/// Checks that `id` can name the crate, its library and so the plugin (the
/// host takes the identifier from the library's file name).
fn check(id: &str) -> Result<(), ScaffoldError> {
    let bad = |why| {
        Err(ScaffoldError::BadId {
            id: id.to_owned(),
            why,
        })
    };
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lower-case ASCII letter");
    }
    if id.contains('-') {
        return bad("use '_' instead of '-' (a library's file name, and so the plugin's identifier, has '_')");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return bad("use lower-case ASCII letters, digits and '_'");
    }
    Ok(())
}

/// `snake_case` → `Snake Case`, for the plugin's name.
fn title(id: &str) -> String {
    id.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `snake_case` → `SnakeCase`, for the plugin's type.
fn type_name(id: &str) -> String {
    title(id).replace(' ', "")
}

/// What [`new_plugin`] made.
#[derive(Debug)]
pub struct Made {
    /// The crate's folder.
    pub folder: PathBuf,
    /// Whether it has the test kit and `tests/plugin.rs` (only with a Plinth
    /// checkout to take the test kit from).
    pub with_test_kit: bool,
}

/// Makes the crate of plugin `id` in `<parent>/<id>`.
pub fn new_plugin(id: &str, parent: &Path, sdk_path: Option<&Path>) -> Result<Made, ScaffoldError> {
    check(id)?;
    let folder = parent.join(id);
    if folder.exists() {
        return Err(ScaffoldError::Exists(folder));
    }
    let absolute = std::path::absolute(&folder).unwrap_or_else(|_| folder.clone());
    let (sdk, testkit) = dependencies(&absolute, sdk_path)?;
    let dev_dependencies = match &testkit {
        Some(line) => format!(
            "# Runs the plugin in a real Plinth host in its tests (tests/plugin.rs).\n[dev-dependencies]\n{line}\n"
        ),
        None => NO_TEST_KIT.to_owned(),
    };
    let fill = |template: &str| {
        template
            .replace("{{id}}", id)
            .replace("{{name}}", &title(id))
            .replace("{{Type}}", &type_name(id))
            .replace("{{sdk}}", &sdk)
            .replace("{{dev_dependencies}}", &dev_dependencies)
            .replace(
                "{{lib}}",
                &format!("{}{id}.{}", crate::LIB_PREFIX, crate::LIB_EXT),
            )
    };
    let readme = fill(README)
        + if testkit.is_some() {
            README_TESTS
        } else {
            README_NO_TEST_KIT
        };
    let mut files = vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", readme),
        (".gitignore", "/target\n".to_owned()),
    ];
    if testkit.is_some() {
        files.push(("tests/plugin.rs", fill(PLUGIN_TEST_RS)));
    }
    for (name, text) in files {
        let path = folder.join(name);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|error| ScaffoldError::Write { path, error })?;
    }
    Ok(Made {
        folder,
        with_test_kit: testkit.is_some(),
    })
}

/// The Cargo.toml's note when there is no checkout to take the test kit from.
const NO_TEST_KIT: &str = "# plinth-testkit runs a plugin in a real Plinth host in its tests. It is\n# not on crates.io: with a Plinth checkout, add\n#   [dev-dependencies]\n#   plinth-testkit = { path = \"<checkout>/testkit\" }\n# (or make the crate with `plinth plugins new --sdk-path <checkout>/plugin-sdk`).\n";

const CARGO_TOML: &str = r#"[package]
name = "{{id}}"
version = "0.1.0"
edition = "2021"
description = "{{name}}: a Plinth plugin."
publish = false

# A plugin is a shared library the host loads. Only that: with a second
# crate type (an rlib) Cargo would quietly skip the link-time optimisation
# below.
[lib]
crate-type = ["cdylib"]

[dependencies]
{{sdk}}

{{dev_dependencies}}
# Its own workspace, wherever it lives.
[workspace]

# Release builds link the library whole (link-time optimisation): every
# plugin carries its own copy of the Rust standard library and the SDK, and
# whole-library linking leaves out what the plugin never calls. The host maps
# a smaller library with fewer relocations, and runs less cold code in it,
# when it loads and enables the plugin. Never set `panic = "abort"`: the host
# refuses a plugin built so.
[profile.release]
lto = true
codegen-units = 1
"#;

const LIB_RS: &str = r#"//! {{name}}: a Plinth plugin.
//!
//! It logs a line at start-up, has one setting (`greeting`, default
//! `"Hello"`) and answers `GET /api/plugin/{{id}}` with
//! `{"greeting": "Hello, world!"}`.

use plinth_sdk::prelude::*;

/// The plugin object: the host makes one when it enables the plugin.
pub struct {{Type}} {
    host: Host,
}

impl Plugin for {{Type}} {
    fn new(host: Host) -> Self {
        {{Type}} { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl StartupPlugin for {{Type}} {
    fn on_after_startup(&self) {
        self.host.logger().info("{{name}} is running");
    }
}

impl SettingsPlugin for {{Type}} {
    fn get_settings_defaults(&self) -> Value {
        json!({ "greeting": "Hello" })
    }
}

impl SimpleApiPlugin for {{Type}} {
    fn on_api_get(&self, _request: &Request) -> PluginResult<Option<Response>> {
        let word = self
            .host
            .settings()
            .get_str(&["greeting"])
            .unwrap_or_else(|| "Hello".to_owned());
        Ok(Some(Response::json(&json!({ "greeting": greeting(&word, "world") }))))
    }
}

/// The greeting the API answers.
pub fn greeting(word: &str, whom: &str) -> String {
    format!("{word}, {whom}!")
}

// Every mixin the plugin implements is listed here.
export_plugin! {
    plugin: {{Type}},
    name: "{{name}}",
    mixins: [Startup, Settings, SimpleApi],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_greeting_names_whom_it_greets() {
        assert_eq!(greeting("Hello", "world"), "Hello, world!");
    }
}
"#;

const PLUGIN_TEST_RS: &str = r#"//! {{name}} in a real Plinth host, in process, on a base folder of its
//! own (plinth-testkit): what the host makes of the plugin, as a user
//! would see it.

use plinth_testkit::{json, TestHost};

fn host() -> TestHost {
    // Builds this crate's library first, then loads, enables and starts it.
    TestHost::start(plinth_testkit::plugin_library!()).unwrap()
}

#[test]
fn it_says_it_is_running_once_started() {
    let host = host();
    assert!(
        host.logs().iter().any(|l| l.message == "{{name}} is running"),
        "{:?}",
        host.logs()
    );
}

#[test]
fn the_simple_api_answers_with_the_greeting_setting() {
    let host = host();
    let answer = host.api_get(&[]).unwrap().unwrap();
    assert_eq!(
        answer.body_json().unwrap(),
        json!({ "greeting": "Hello, world!" })
    );
    host.set_setting(&["greeting"], json!("Howdy")).unwrap();
    let answer = host.api_get(&[]).unwrap().unwrap();
    assert_eq!(
        answer.body_json().unwrap(),
        json!({ "greeting": "Howdy, world!" })
    );
}
"#;

const README: &str = r#"# {{name}}

A plugin for Plinth, the native plugin host with OctoPrint's plugin
semantics, made with `plinth plugins new {{id}}`.

Build it, then install the library into Plinth's plugins folder:

```sh
cargo build --release
plinth plugins install target/release/{{lib}}
```

`plinth plugins list` shows it enabled; after `plinth serve`,
`GET /api/plugin/{{id}}` answers `{"greeting": "Hello, world!"}` (with an API
key: `plinth user apikey <user>`).
"#;

const README_TESTS: &str = r#"
Run its tests with `cargo test`: the unit tests in `src/lib.rs`, and
`tests/plugin.rs`, which runs the plugin in a real Plinth host through
`plinth-testkit`.
"#;

const README_NO_TEST_KIT: &str = r#"
Run its tests with `cargo test`. To test it in a real Plinth host, add
`plinth-testkit` from a Plinth checkout (it is not on crates.io; see the
note in `Cargo.toml`).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_that_cannot_name_a_library_are_refused_with_the_reason() {
        for (id, why) in [
            ("my-plugin", "use '_' instead of '-'"),
            ("9lives", "start with a lower-case ASCII letter"),
            ("_hidden", "start with a lower-case ASCII letter"),
            ("Caps", "start with a lower-case ASCII letter"),
            ("sp ace", "lower-case ASCII letters, digits and '_'"),
        ] {
            let err = check(id).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(id), "{id}: {err}");
        }
        check("good_one2").unwrap();
        assert_eq!(type_name("good_one2"), "GoodOne2");
        assert_eq!(title("good_one2"), "Good One2");
    }

    #[test]
    fn an_existing_folder_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        let err = new_plugin("taken", dir.path(), None).unwrap_err();
        assert!(matches!(err, ScaffoldError::Exists(_)), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("taken")).unwrap().count(),
            0
        );
    }

    #[test]
    fn the_test_kit_comes_from_beside_the_sdk_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = dir.path().join("plugin-sdk");
        std::fs::create_dir(&sdk).unwrap();
        std::fs::write(sdk.join("Cargo.toml"), "[package]\nname = \"plinth-sdk\"\n").unwrap();
        let made = new_plugin("bare", dir.path(), Some(&sdk)).unwrap();
        assert!(!made.with_test_kit);
        let cargo_toml = std::fs::read_to_string(made.folder.join("Cargo.toml")).unwrap();
        assert!(!cargo_toml.contains("\n[dev-dependencies]"), "{cargo_toml}");
        assert!(cargo_toml.contains("not on crates.io"), "{cargo_toml}");
        assert!(!made.folder.join("tests/plugin.rs").exists());
        let testkit = dir.path().join("testkit");
        std::fs::create_dir(&testkit).unwrap();
        std::fs::write(
            testkit.join("Cargo.toml"),
            "[package]\nname = \"plinth-testkit\"\n",
        )
        .unwrap();
        let made = new_plugin("kitted", dir.path(), Some(&sdk)).unwrap();
        assert!(made.with_test_kit);
        let cargo_toml = std::fs::read_to_string(made.folder.join("Cargo.toml")).unwrap();
        assert!(
            cargo_toml.contains("[dev-dependencies]\nplinth-testkit = { path = "),
            "{cargo_toml}"
        );
        assert!(made.folder.join("tests/plugin.rs").is_file());
    }

    #[test]
    fn release_builds_link_the_plugin_whole_and_keep_unwinding() {
        let dir = tempfile::tempdir().unwrap();
        let made = new_plugin("lean", dir.path(), None).unwrap();
        let cargo_toml = std::fs::read_to_string(made.folder.join("Cargo.toml")).unwrap();
        let profile = cargo_toml
            .split("\n[profile.release]\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no release profile:\n{cargo_toml}"));
        let keys: Vec<&str> = profile
            .lines()
            .take_while(|l| !l.starts_with('['))
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(keys, ["lto = true", "codegen-units = 1"], "{cargo_toml}");
        // Cargo drops `lto` without a word for a crate that is also an rlib.
        assert!(
            cargo_toml.contains("\n[lib]\ncrate-type = [\"cdylib\"]\n"),
            "{cargo_toml}"
        );
    }

    #[test]
    fn an_sdk_path_without_the_sdk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = new_plugin("p", dir.path(), Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("holds no plinth-sdk"), "{err}");
        assert!(!dir.path().join("p").exists());
    }
}
