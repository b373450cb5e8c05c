//! # plinth-testkit: test a plugin against a real host
//!
//! A [`TestHost`] is the Plinth host library (not a mock) running one
//! plugin library in process, on a temporary base folder of its own: its
//! settings, the event bus, its Simple API and Blueprint routes, its
//! helpers, its log lines and, when asked, the virtual printer.
//!
//! Use it from a plugin crate's integration tests (`tests/*.rs`;
//! [`plugin_library!`] builds the crate's library first), with the crate's
//! `[lib]` `crate-type` holding `"cdylib"`:
//!
//! ```toml
//! [dev-dependencies]
//! plinth-testkit = { path = "<a Plinth checkout>/testkit" }   # not on crates.io yet
//! ```
//!
//! The library is built with the features cargo's default for the crate
//! (not those the tests were run with) and found under the package's name.
//!
//! ```no_run
//! use plinth_testkit::{json, TestHost};
//!
//! let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
//! host.set_setting(&["greeting"], json!("Hi")).unwrap();
//! let answer = host.api_get(&[]).unwrap().unwrap();
//! assert_eq!(answer.status, 200);
//! host.fire_event("PrintStarted", json!({"name": "cube.gcode"}));
//! assert!(host.logs().iter().any(|l| l.message.contains("cube.gcode")));
//! ```
//!
//! Events are delivered before [`fire_event`](TestHost::fire_event)
//! returns. Each host has its own base folder, removed when it is dropped
//! (after the plugin's shutdown callbacks ran).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use plinth::{restrict, LogLine, PluginInfo, PrinterState, State};
/// The methods of the plugin ABI, for [`TestHost::manager`]`().call::<…>(…)`
/// of what this kit does not wrap.
pub use plinth_abi::methods::plugin as methods;
pub use plinth_abi::{json, Request, Response, SliceRequest, Value};

use plinth::{Jobs, LogLines, Options, Paths, PluginManager};
use plinth_abi::methods::plugin as m;

/// Why a test host cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TestKitError {
    /// The plugin library is not where it was looked for.
    #[error("no plugin library at {}: is the crate's `crate-type` [\"cdylib\"]?", .0.display())]
    NoLibrary(PathBuf),
    /// The base folder could not be made.
    #[error("cannot prepare the test host's base folder: {0}")]
    Folder(#[from] std::io::Error),
    /// The host refused the config.
    #[error("the test host's config: {0}")]
    Config(#[from] plinth::ConfigError),
    /// The plugin did not end up enabled.
    #[error("plugin `{id}` is {state:?}, not enabled: {}", .error.as_deref().unwrap_or("no reason given"))]
    NotEnabled {
        id: String,
        state: State,
        error: Option<String>,
    },
    /// A call into the plugin failed.
    #[error("plugin `{id}`: {message}")]
    Call { id: String, message: String },
    /// No blueprint route matches.
    #[error("plugin `{id}` has no blueprint route for {method} {path}")]
    NoRoute {
        id: String,
        method: String,
        path: String,
    },
}

/// The library of the crate under test, built first: cargo builds a
/// `cdylib` for `cargo build`, not for its integration tests, so this runs
/// `cargo build --lib` for the crate (once per test process; a no-op when
/// it is up to date, so a test never runs an old build) and answers
/// `target/<profile>/lib<crate>.so` (`.dylib`, `.dll`).
///
/// The library is built with the crate's default features. A test of
/// other features names them: `plugin_library!(features = ["extra"])`
/// (cargo's `--features`; add `default_features = false` for
/// `--no-default-features`, or write `plugin_library!(default_features =
/// false)` alone). Such a build goes to a target folder of its
/// own (`target/testkit-features/<features>/`), so it never replaces the
/// default build other tests load. One test binary loads one build of the
/// library (a process that mapped a library gets that mapping back), so
/// tests of different features belong in different test files.
///
/// ```no_run
/// // In a test of a plugin crate (each form in a test file of its own):
/// let default = plinth_testkit::plugin_library!();
/// let extra = plinth_testkit::plugin_library!(features = ["extra"]);
/// let bare = plinth_testkit::plugin_library!(default_features = false);
/// let only = plinth_testkit::plugin_library!(features = ["a", "b"], default_features = false);
/// # let _ = (default, extra, bare, only);
/// ```
#[macro_export]
macro_rules! plugin_library {
    () => {
        $crate::built_library(env!("CARGO_PKG_NAME"), env!("CARGO_MANIFEST_DIR"))
    };
    (default_features = false $(,)?) => {
        $crate::plugin_library!(features = [], default_features = false)
    };
    (features = [$($feature:literal),* $(,)?] $(, default_features = $default:literal)? $(,)?) => {
        $crate::built_library_with(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_MANIFEST_DIR"),
            &$crate::Features {
                features: &[$($feature),*],
                default_features: true $(&& $default)?,
            },
        )
    };
}

/// The features [`plugin_library!`] builds the library with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features<'a> {
    /// cargo's `--features`.
    pub features: &'a [&'a str],
    /// `false` for cargo's `--no-default-features`.
    pub default_features: bool,
}

impl Features<'_> {
    /// The crate's default features, nothing more.
    pub const DEFAULT: Features<'static> = Features {
        features: &[],
        default_features: true,
    };
}

/// [`plugin_library!`]: builds the library of the crate at `manifest_dir`
/// into the target folder the running test comes from, with its default
/// features, then answers its path. A failed build panics with cargo's
/// status (its errors are on the test's standard error).
pub fn built_library(name: &str, manifest_dir: &str) -> PathBuf {
    built_library_with(name, manifest_dir, &Features::DEFAULT)
}

/// [`built_library`] with other [`Features`]. A second feature set for the
/// same crate in one test process panics: its library is mapped already.
pub fn built_library_with(name: &str, manifest_dir: &str, features: &Features<'_>) -> PathBuf {
    type Built = Vec<(String, Vec<String>, bool, PathBuf)>;
    static BUILT: std::sync::Mutex<Built> = std::sync::Mutex::new(Vec::new());
    let mut library = library_of(name);
    // In one order, once each: `["a", "b"]` and `["b", "a"]` are one build.
    let wanted: Vec<String> = features
        .features
        .iter()
        .map(|f| (*f).to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, had, had_default, path)) =
        built.iter().find(|(crate_name, ..)| crate_name == name)
    {
        assert!(
            *had == wanted && *had_default == features.default_features,
            "plugin {name} was built for this test process with features {had:?} already; \
             a test of other features belongs in another test file"
        );
        return path.clone();
    }
    let profile = library.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut target = profile.parent().unwrap_or(Path::new(".")).to_path_buf();
    if *features != Features::DEFAULT {
        // One folder name: `dep/feature` and other odd characters become `_`.
        let mut parts: Vec<String> = wanted
            .iter()
            .map(|f| {
                f.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .collect();
        if !features.default_features {
            parts.insert(0, "no-default".to_owned());
        }
        let key = parts.join("+");
        target = target.join("testkit-features").join(key);
        let file = library
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_default();
        library = target
            .join(profile.file_name().unwrap_or_default())
            .join(file);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command
        .args(["build", "--quiet", "--lib", "--manifest-path"])
        .arg(Path::new(manifest_dir).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    if !wanted.is_empty() {
        command.arg("--features").arg(wanted.join(","));
    }
    if !features.default_features {
        command.arg("--no-default-features");
    }
    // The profile the test runs in (its folder's name; `dev` builds into `debug`).
    let profile_name = profile
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    command.arg("--profile").arg(if profile_name == "debug" {
        "dev"
    } else {
        profile_name
    });
    let status = command.status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "building the plugin {name} for its tests failed: {status:?}"
    );
    built.push((
        name.to_owned(),
        wanted,
        features.default_features,
        library.clone(),
    ));
    library
}

/// The library of crate `name` beside the running test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/lib<name>.so`).
pub fn library_of(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let profile = exe
        .parent()
        .filter(|d| d.ends_with("deps"))
        .and_then(Path::parent)
        .or_else(|| exe.parent())
        .unwrap_or(Path::new("."));
    profile.join(format!(
        "{}{}.{}",
        plinth::LIB_PREFIX,
        name.replace('-', "_"),
        plinth::LIB_EXT
    ))
}

/// A real Plinth host running one plugin in process, on a base folder of
/// its own.
pub struct TestHost {
    manager: PluginManager,
    id: String,
    lines: LogLines,
    jobs: std::sync::OnceLock<Arc<Jobs>>,
    dir: tempfile::TempDir,
}

impl TestHost {
    /// Starts a host with the plugin at `library` (see [`plugin_library!`])
    /// and an empty config.
    pub fn start(library: impl AsRef<Path>) -> Result<Self, TestKitError> {
        Self::start_with_config(library, "")
    }

    /// Starts a host with the plugin at `library` and `config_yaml` as its
    /// `config.yaml` (plugin settings under `plugins: <id>: …`, host keys).
    /// The plugin runs in process unless the config says otherwise
    /// (`isolation:`).
    pub fn start_with_config(
        library: impl AsRef<Path>,
        config_yaml: &str,
    ) -> Result<Self, TestKitError> {
        let library = library.as_ref();
        if !library.is_file() {
            return Err(TestKitError::NoLibrary(library.to_owned()));
        }
        let dir = tempfile::tempdir()?;
        let base = dir.path().join("base");
        let plugins = base.join("plugins");
        std::fs::create_dir_all(&plugins)?;
        std::fs::create_dir_all(dir.path().join("bundled"))?;
        let file = library
            .file_name()
            .ok_or_else(|| TestKitError::NoLibrary(library.to_owned()))?;
        std::fs::copy(library, plugins.join(file))?;
        std::fs::write(base.join("config.yaml"), config_yaml)?;
        // In process unless the config chose (added through the store, so a
        // config with its own `isolation:` stays valid YAML).
        let store = plinth::ConfigStore::open(&base.join("config.yaml"))?;
        let default = plinth::key_path(&["isolation", "default"]);
        if store.get(&default).is_none() {
            store.set(default, Value::from("in_process"))?;
            store.save()?;
        }
        drop(store);
        let lines = LogLines::default();
        let paths = Paths {
            basedir: base,
            bundled: dir.path().join("bundled"),
            bundled_files_only: false,
        };
        let manager = PluginManager::new(
            paths,
            Options {
                log_lines: Some(lines.clone()),
                ..Options::default()
            },
        )?;
        manager.start("127.0.0.1", 5000);
        let stem = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let id = stem
            .strip_prefix(plinth::LIB_PREFIX)
            .unwrap_or(stem)
            .to_owned();
        let host = Self {
            manager,
            id,
            lines,
            jobs: Default::default(),
            dir,
        };
        let info = host.info();
        if info.as_ref().map(|i| i.state) != Some(State::Enabled) {
            return Err(TestKitError::NotEnabled {
                id: host.id.clone(),
                state: info.as_ref().map_or(State::Failed, |i| i.state),
                error: info.and_then(|i| i.error),
            });
        }
        host.flush();
        Ok(host)
    }

    /// The plugin's identifier (its library's file name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host's base folder (`config.yaml`, `data/<id>`, `uploads/`, …).
    pub fn basedir(&self) -> PathBuf {
        self.dir.path().join("base")
    }

    /// The host library's plugin manager, for what this kit does not wrap.
    pub fn manager(&self) -> &PluginManager {
        &self.manager
    }

    /// What the host knows of the plugin (state, mixins, error, …).
    pub fn info(&self) -> Option<PluginInfo> {
        self.manager.plugin(&self.id)
    }

    /// A setting of the plugin, stored or default.
    pub fn setting(&self, path: &[&str]) -> Option<Value> {
        self.manager.plugin_settings(&self.id)?.get(&owned(path))
    }

    /// Sets a setting of the plugin as its own `Settings::set` would: a
    /// value equal to its default is not stored, nor is a path outside the
    /// defaults (OctoPrint's rule). Not saved to disk.
    pub fn set_setting(&self, path: &[&str], value: Value) -> Result<(), TestKitError> {
        let settings = self
            .manager
            .plugin_settings(&self.id)
            .ok_or_else(|| self.failed("it has no settings (is it running?)".to_owned()))?;
        settings
            .set(&owned(path), value, false)
            .map_err(|e| self.failed(e.to_string()))
    }

    /// What the plugin's settings hold in `config.yaml` (only what differs
    /// from the defaults), once saved.
    pub fn stored_settings(&self) -> Value {
        self.manager
            .plugin_settings(&self.id)
            .map_or(Value::Null, |s| s.stored())
    }

    /// Fires `event` with `payload` on the host's bus and returns once every
    /// handler has it.
    pub fn fire_event(&self, event: &str, payload: Value) {
        self.manager.fire_event(event, &payload);
        self.flush();
    }

    fn flush(&self) {
        let _ = self.manager.flush_events();
    }

    /// Calls the plugin's helper `name` (`Registry::helper`) with `args`.
    pub fn call_helper(&self, name: &str, args: Value) -> Result<Value, TestKitError> {
        self.manager
            .call_helper(&self.id, name, &args)
            .map_err(|e| self.failed(e.to_string()))
    }

    /// `GET /api/plugin/<id>?<query>`: the plugin's `on_api_get`.
    pub fn api_get(&self, query: &[(&str, &str)]) -> Result<Option<Response>, TestKitError> {
        let mut request = request("GET", &format!("/api/plugin/{}", self.id));
        request.query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.manager
            .call::<m::OnApiGet>(&self.id, &request)
            .map_err(|e| self.failed(e.to_string()))
    }

    /// `POST /api/plugin/<id>` with `{"command": command, …data}`: the
    /// plugin's `on_api_command`, after the host's check of the command's
    /// mandatory parameters (`get_api_commands`).
    pub fn api_command(
        &self,
        command: &str,
        data: Value,
    ) -> Result<Option<Response>, TestKitError> {
        let commands = self
            .manager
            .call::<m::GetApiCommands>(&self.id, &())
            .map_err(|e| self.failed(e.to_string()))?;
        let Some(needed) = commands.get(command) else {
            return Err(self.failed(format!("no API command `{command}`")));
        };
        let missing: Vec<&String> = needed
            .iter()
            .filter(|p| data.get(p.as_str()).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(self.failed(format!(
                "command `{command}` lacks {missing:?} (the host answers 400)"
            )));
        }
        self.manager
            .call::<m::OnApiCommand>(&self.id, &(command.to_owned(), data))
            .map_err(|e| self.failed(e.to_string()))
    }

    /// `<method> /plugin/<id><path>` with `body`: the matching blueprint
    /// route, with its parameters, as the host routes it (templates the
    /// route answers are left to the host's HTTP server).
    pub fn blueprint(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, TestKitError> {
        let spec = self
            .manager
            .call::<m::GetBlueprintSpec>(&self.id, &())
            .map_err(|e| self.failed(e.to_string()))?;
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let chosen = spec.routes.iter().enumerate().find_map(|(i, route)| {
            let params = plinth::match_blueprint_rule(&route.rule, path)?;
            route
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
                .then_some((i, params))
        });
        let Some((index, params)) = chosen else {
            return Err(TestKitError::NoRoute {
                id: self.id.clone(),
                method: method.to_owned(),
                path: path.to_owned(),
            });
        };
        let mut request = request(method, path);
        request.params = params;
        request.body = body.to_vec();
        request.query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        self.manager
            .call::<m::HandleBlueprintRoute>(&self.id, &(index as u32, request))
            .map_err(|e| self.failed(e.to_string()))
    }

    /// Every line the plugin logged so far, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.lines
            .all()
            .into_iter()
            .filter(|l| l.plugin == self.id)
            .collect()
    }

    /// The virtual printer, file manager and slicing manager the host's
    /// server would give plugins, made on first use: the plugin's printer
    /// handle works from then on. See [`connect_printer`](Self::connect_printer).
    pub fn jobs(&self) -> &Arc<Jobs> {
        self.jobs.get_or_init(|| Jobs::new(&self.manager))
    }

    /// Connects the virtual printer and waits (10 s at most) until it is
    /// operational. Its terminal is `jobs().printer.log_lines()`; commands
    /// go through `jobs().printer.commands(…)`, prints through
    /// `jobs().printer.select(name, true)` for a file written into
    /// `basedir()/uploads`.
    pub fn connect_printer(&self) -> Result<(), TestKitError> {
        let printer = &self.jobs().printer;
        printer
            .connect(None, None, None)
            .map_err(|e| self.failed(e.to_string()))?;
        if printer.wait_for(Duration::from_secs(10), |s| s == PrinterState::Operational) {
            Ok(())
        } else {
            Err(self.failed("the virtual printer did not become operational within 10 s".into()))
        }
    }

    fn failed(&self, message: String) -> TestKitError {
        TestKitError::Call {
            id: self.id.clone(),
            message,
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // The printer goes first: it holds the plugin's hook handlers, and
        // the plugin object is dropped only once nothing else holds it.
        if let Some(jobs) = self.jobs.take() {
            jobs.shutdown(Duration::from_secs(5));
            drop(jobs);
        }
        self.manager.shutdown();
    }
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

fn request(method: &str, path: &str) -> Request {
    Request {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        ..Request::default()
    }
}
