//! The plugin manager: what was found, what it is (state), and the lifecycle
//! load → enable → disable → unload, with restart- and reload-needing toggles
//! decided by [`lifecycle`](crate::plugins::lifecycle) and carried out here.
//! Start-up and shutdown are in [`startup`](crate::plugins::startup); calls
//! into enabled plugins in [`dispatch`](crate::plugins::dispatch).
//!
//! Records are keyed by identifier. Locks are never held while a plugin runs:
//! a plugin may call back into the host (helpers, hooks, events) from any
//! callback.

use plinth_abi::events;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use plinth_abi::methods::plugin as m;
use plinth_abi::{Identity, Mixin, Registrations, Value};

use crate::config::plugin_settings::PluginSettings;
use crate::config::{ConfigError, ConfigStore};
use crate::paths::Paths;
use crate::plugins::contributions::Contributions;
use crate::plugins::crashes::{quarantined, Crashes};
use crate::plugins::discover::discover;
pub use crate::plugins::error::{EnableError, ManagerError, NoPlugin};
use crate::plugins::events::{EventBus, EventSink};
use crate::plugins::lifecycle::{self, Facts, Step};
use crate::plugins::object::PluginObject;
use crate::plugins::scan_cache::ScanCache;
use crate::plugins::services::{HostServices, PluginContext, ServerServices};
use crate::plugins::state::{
    apply_overlays, evaluate, refusal_state, source_name, Live, Record, Records, Stage,
};
pub use crate::plugins::state::{LogLine, LogLines, Options, Pending, PluginInfo, State, Toggle};
use crate::plugins::transport::Library;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    NotStarted,
    Started { host: String, port: u16 },
    ShuttingDown,
}

pub(crate) struct Shared {
    pub(crate) paths: Paths,
    pub(crate) options: Options,
    pub(crate) config: Arc<ConfigStore>,
    pub(crate) records: RwLock<Records>,
    /// Counts changes of the records: anything that caches which plugins
    /// handle what compares it (see [`Shared::records_mut`]).
    pub(crate) generation: std::sync::atomic::AtomicU64,
    /// The printer, files and slicing plugins reach through their handle,
    /// once a server made them.
    pub(crate) jobs: OnceLock<Weak<dyn ServerServices>>,
    /// What plugins contribute through hooks, with the generation it was asked at.
    pub(crate) contributions: Mutex<Option<(u64, Arc<Contributions>)>>,
    pub(crate) phase: Mutex<Phase>,
    /// Serialises lifecycle operations (never held by plain calls).
    pub(crate) lifecycle: Mutex<()>,
    pub(crate) events: EventBus,
    /// The environment detected at start-up.
    pub(crate) environment: std::sync::OnceLock<Value>,
    /// Where each running slicing job's progress reports go: job token →
    /// (slicer plugin, receiver).
    pub(crate) slicing_progress: Mutex<std::collections::HashMap<u64, (String, ProgressSink)>>,
    /// Crashes and restarts of isolated plugins.
    pub(crate) crashes: Crashes,
    /// The plugin step a server's start-up is at, in its marker.
    pub(crate) steps: crate::plugins::startup::Steps,
    /// What reading and checking each library found, kept for the next start.
    pub(crate) scan: ScanCache,
    pub(crate) me: Weak<Shared>,
}

/// Receives a slicing job's progress reports (fractions from 0 to 1).
pub type ProgressSink = Arc<dyn Fn(f64) + Send + Sync>;

/// The plugin manager of one host.
#[derive(Clone)]
pub struct PluginManager {
    pub(crate) shared: Arc<Shared>,
}

/// How long disabling or shutting down waits for calls already inside a plugin.
pub(crate) const CALL_DRAIN: Duration = Duration::from_secs(10);

pub(crate) use crate::plugins::object::{drop_when_unique, drop_when_unique_by};

pub(crate) fn not_found(id: &str) -> ManagerError {
    ManagerError::NotFound(NoPlugin(id.to_owned()))
}

/// The scan cache, parsed on a thread of its own while the plugin folders
/// are read (a thousand entries take as long as reading a thousand
/// folder entries); in turn if no thread can be started.
fn scan_and_discover(paths: &Paths) -> (ScanCache, Vec<crate::plugins::discover::Found>) {
    std::thread::scope(|s| {
        let parsing = std::thread::Builder::new()
            .name("plinth-scan-cache".into())
            .spawn_scoped(s, || ScanCache::open(paths.scan_cache()));
        let found = discover(paths);
        let scan = match parsing {
            Ok(parsing) => parsing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => ScanCache::open(paths.scan_cache()),
        };
        (scan, found)
    })
}

impl PluginManager {
    /// Reads the config and discovers every plugin; reads their metadata
    /// (no plugin code runs) and decides each one's state.
    pub fn new(paths: Paths, options: Options) -> Result<Self, ConfigError> {
        let config = ConfigStore::open(&paths.config_file())?;
        let held = config.hold();
        let disabled = config.disabled()?;
        let blocklist = config.blocklist()?;
        let quarantined = quarantined(&config);
        let began = std::time::Instant::now();
        let (scan, found) = scan_and_discover(&paths);
        let mut records = Records::with_capacity(found.len());
        for (seq, found) in found.into_iter().enumerate() {
            let mut record = Record::found(seq, found);
            if let Some(winner) = records.get(&record.found.id) {
                let msg = format!(
                    "shadowed by {} ({})",
                    winner.found.path.display(),
                    source_name(winner.found.source)
                );
                // Listed from its metadata, which reading runs none of its code.
                let seen = record.found.identity.take();
                record.meta = record
                    .found
                    .library
                    .as_deref()
                    .and_then(|l| scan.metadata(l, seen.as_ref()).ok());
                record.fail(State::Shadowed, msg);
            } else if let Some(problem) = record.found.problem.as_ref().map(ToString::to_string) {
                record.fail(State::Failed, problem);
            } else {
                evaluate(
                    &mut record,
                    &scan,
                    &options,
                    &disabled,
                    &blocklist,
                    &quarantined,
                );
            }
            records.push(record);
        }
        tracing::debug!(
            "discovered {} plugins and read their metadata in {:.1} ms",
            records.iter().count(),
            began.elapsed().as_secs_f64() * 1e3
        );
        apply_overlays(&config, &mut records)?;
        drop(held);
        scan.save();
        let queue_limit =
            usize::try_from(crate::config::host_settings::EVENT_QUEUE_LIMIT.get(&config))
                .unwrap_or(usize::MAX);
        let shared = Arc::new_cyclic(|me: &Weak<Shared>| Shared {
            paths,
            options,
            config,
            records: RwLock::new(records),
            generation: Default::default(),
            jobs: Default::default(),
            contributions: Default::default(),
            phase: Mutex::new(Phase::NotStarted),
            lifecycle: Mutex::new(()),
            events: EventBus::new(me.clone() as Weak<dyn EventSink>, queue_limit),
            environment: Default::default(),
            slicing_progress: Default::default(),
            crashes: Crashes::default(),
            steps: Default::default(),
            scan,
            me: me.clone(),
        });
        Ok(Self { shared })
    }

    /// Why the host runs in safe mode, if it does: `flag` (the `--safe-mode`
    /// option) or `incomplete_startup` (the last start-up did not finish).
    pub fn safe_mode(&self) -> Option<&str> {
        let options = &self.shared.options;
        options
            .safe_mode
            .then(|| options.safe_mode_reason.as_deref().unwrap_or("flag"))
    }

    /// Whether a plugin toggle waits for the next start.
    pub fn restart_pending(&self) -> bool {
        self.shared.records.read().unwrap().any_pending()
    }

    /// The config store shared by the host and every plugin.
    pub fn config(&self) -> &Arc<ConfigStore> {
        &self.shared.config
    }

    /// The folders this manager works with.
    pub fn paths(&self) -> &Paths {
        &self.shared.paths
    }

    /// What the record of `id` says, if there is one.
    pub(crate) fn with<T>(&self, id: &str, f: impl FnOnce(&Record) -> T) -> Option<T> {
        self.shared.records.read().unwrap().get(id).map(f)
    }

    /// Changes the record of `id`, if there is one.
    pub(crate) fn with_mut<T>(&self, id: &str, f: impl FnOnce(&mut Record) -> T) -> Option<T> {
        self.shared.records_mut().get_mut(id).map(f)
    }

    /// A plugin's settings, once its object exists.
    pub fn plugin_settings(&self, id: &str) -> Option<Arc<PluginSettings>> {
        self.with(id, |r| Some(r.context()?.settings.clone()))?
    }

    /// Whether the host has started (the server runs).
    pub(crate) fn started(&self) -> bool {
        matches!(*self.shared.phase.lock().unwrap(), Phase::Started { .. })
    }

    /// Loads and creates the object of one plugin only, without initialising it:
    /// for reading its settings defaults and preprocessors (the `config` command).
    pub fn create_alone(&self, id: &str) -> Result<Arc<PluginObject>, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let state = self.with(id, |r| r.state).ok_or_else(|| not_found(id))?;
        if state != State::Enabled {
            return Err(ManagerError::NotRunning {
                id: id.to_owned(),
                state,
            });
        }
        let library = self.load(id).map_err(|error| ManagerError::DoesNotLoad {
            id: id.to_owned(),
            error: Box::new(error),
        })?;
        self.create_object(id, &*library)
            .map_err(|error| ManagerError::NotCreated {
                id: id.to_owned(),
                error: Box::new(error),
            })
    }

    /// Loads the library of `id` unless it is loaded; its library, or why not
    /// (the plugin is then marked `failed` or `incompatible`).
    pub(crate) fn load(&self, id: &str) -> Result<Arc<dyn Library>, EnableError> {
        let (loaded, path, abi_minor, error) = self
            .with(id, |r| {
                let loaded = r.library().cloned();
                let wanted = loaded.is_none();
                let path = r.found.library.clone().filter(|_| wanted);
                let abi_minor = r.meta.as_ref().map(|m| m.abi.1).filter(|_| wanted);
                (loaded, path, abi_minor, r.error.clone())
            })
            .ok_or_else(|| NoPlugin(id.to_owned()))?;
        if let Some(library) = loaded {
            return Ok(library);
        }
        let (Some(path), Some(abi_minor)) = (path, abi_minor) else {
            return Err(EnableError::NotLoaded(
                error.unwrap_or_else(|| "it has no library to load".into()),
            ));
        };
        match self.load_library(id, &path, abi_minor) {
            Ok(library) => {
                self.with_mut(id, |r| r.stage = Stage::Loaded(library.clone()));
                if self.started() {
                    self.shared
                        .events
                        .fire(events::PLUGIN_LOADED, &serde_json::json!({ "id": id }));
                }
                Ok(library)
            }
            Err(refusal) => {
                let (state, msg) = refusal_state(refusal);
                tracing::error!(plugin = %id, "cannot load: {msg}");
                self.with_mut(id, |r| r.fail(state, msg.clone()));
                Err(EnableError::NotLoaded(msg))
            }
        }
    }

    /// Creates (injects and initialises) the plugin's object unless it exists,
    /// registers its hooks and helpers, opens its handle, then calls
    /// `on_plugin_enabled`. A failure at any step marks it `failed` with the reason.
    pub(crate) fn enable(&self, id: &str) -> bool {
        let existing = self.with(id, |r| (r.library().cloned(), r.object().cloned()));
        let Some((library, existing)) = existing else {
            return false;
        };
        let object = match (existing, library) {
            (Some(object), _) => object,
            (None, None) => return self.mark_failed(id, "its library is not loaded".into()),
            (None, Some(library)) => match self.instantiate(id, &*library) {
                Ok(object) => object,
                Err(e) => return self.mark_failed(id, e.to_string()),
            },
        };
        let registrations = match object.call::<m::GetRegistrations>(&()) {
            Ok(r) => r,
            Err(e) => {
                return self.mark_failed(id, format!("registering hooks and helpers failed: {e}"))
            }
        };
        self.with_mut(id, |r| {
            r.set_registrations(registrations);
            r.state = State::Enabled;
            r.error = None;
            if let Some(context) = r.context() {
                context.open();
            }
        });
        object.activate();
        if let Err(e) = object.call::<m::OnPluginEnabled>(&()) {
            return self.mark_failed(id, format!("on_plugin_enabled: {e}"));
        }
        tracing::debug!(plugin = %id, "enabled");
        true
    }

    /// Creates the plugin object (injection), then initialises it and its settings.
    pub(crate) fn instantiate(
        &self,
        id: &str,
        library: &dyn Library,
    ) -> Result<Arc<PluginObject>, EnableError> {
        let object = self.create_object(id, library)?;
        object
            .call::<m::Initialize>(&())
            .map_err(EnableError::call("initialize"))?;
        self.initialize_settings(id, &object)?;
        Ok(object)
    }

    /// Creates the plugin object, handing it its context, and learns its
    /// settings defaults and version (Settings plugins).
    fn create_object(
        &self,
        id: &str,
        library: &dyn Library,
    ) -> Result<Arc<PluginObject>, EnableError> {
        let (context, is_settings) = self
            .with(id, |r| {
                let meta = r.meta.as_ref().expect("loaded plugins have metadata");
                let context = Arc::new(
                    PluginContext::new(
                        Identity {
                            id: id.to_owned(),
                            name: meta.name.clone(),
                            version: meta.version.clone(),
                            base_folder: r.found.base_folder.to_string_lossy().into_owned(),
                            data_folder: self
                                .shared
                                .paths
                                .data_folder(id)
                                .to_string_lossy()
                                .into_owned(),
                        },
                        self.shared.me.clone() as Weak<dyn HostServices>,
                        Arc::new(PluginSettings::new(self.shared.config.clone(), id)),
                    )
                    .built_for_abi(meta.abi.1),
                );
                (context, r.has_mixin(Mixin::Settings))
            })
            .ok_or_else(|| NoPlugin(id.to_owned()))?;
        let object = Arc::new(
            PluginObject::instantiate(library, &context).map_err(EnableError::Instantiate)?,
        );
        self.with_mut(id, |r| {
            let library = r.library().cloned().expect("created from its library");
            r.stage = Stage::Live(Live {
                library,
                object: object.clone(),
                context: context.clone(),
                registrations: Registrations::default(),
            });
        });
        if is_settings {
            let defaults = object
                .call::<m::GetSettingsDefaults>(&())
                .map_err(EnableError::call("get_settings_defaults"))?;
            if !defaults.is_object() {
                return Err(EnableError::DefaultsNotAMapping(defaults));
            }
            let version = object
                .call::<m::GetSettingsVersion>(&())
                .map_err(EnableError::call("get_settings_version"))?;
            context.settings.set_defaults(defaults, version);
        }
        Ok(object)
    }

    /// Settings start-up of a Settings plugin: migrate (when the stored version
    /// is missing or older than the plugin's), clean up, save, then
    /// `on_settings_initialized`. A failure puts back what was stored before.
    fn initialize_settings(&self, id: &str, object: &PluginObject) -> Result<(), EnableError> {
        let settings = self
            .with(id, |r| {
                r.has_mixin(Mixin::Settings)
                    .then(|| r.context().map(|c| c.settings.clone()))
                    .flatten()
            })
            .flatten();
        let Some(settings) = settings else {
            return Ok(());
        };
        // A failure before the save puts back (and saves) what was stored; after
        // it the settings are valid and stay, as in OctoPrint.
        let before = settings.snapshot();
        let stored = |what| {
            move |error| EnableError::Settings {
                what,
                error: Box::new(error),
            }
        };
        let until_saved = || -> Result<(), EnableError> {
            if let Some(target) = settings.version() {
                let current = settings.stored_version();
                if current.is_none_or(|c| c < target) {
                    object
                        .call::<m::OnSettingsMigrate>(&(Some(target), current))
                        .map_err(EnableError::call("on_settings_migrate"))?;
                    settings
                        .set_stored_version(target)
                        .map_err(stored("storing its settings version"))?;
                }
            }
            object
                .call::<m::OnSettingsCleanup>(&())
                .map_err(EnableError::call("on_settings_cleanup"))?;
            settings.persist().map_err(stored("saving its settings"))
        };
        if let Err(e) = until_saved() {
            settings.restore(before);
            if let Err(save) = settings.persist() {
                tracing::error!("cannot save the settings put back: {save}");
            }
            return Err(e);
        }
        object
            .call::<m::OnSettingsInitialized>(&())
            .map_err(EnableError::call("on_settings_initialized"))
    }

    /// Marks a plugin failed after a lifecycle step went wrong; no further
    /// calls reach it and its handle closes. Returns false (for `?`-like use).
    pub(crate) fn mark_failed(&self, id: &str, error: String) -> bool {
        tracing::error!(plugin = %id, "{error}");
        let object = self
            .with_mut(id, |r| {
                r.set_registrations(Registrations::default());
                r.fail(State::Failed, error);
                if let Some(context) = r.context() {
                    context.close();
                }
                r.object().cloned()
            })
            .flatten();
        if let Some(object) = object {
            object.deactivate(CALL_DRAIN);
        }
        false
    }

    /// What the lifecycle's decisions about `id` depend on.
    pub(crate) fn facts(&self, id: &str) -> Result<Facts, ManagerError> {
        let started = self.started();
        let disabled_by_overlay = self.shared.config.disabled_by_overlay(id);
        self.with(id, |r| Facts {
            state: r.state,
            why: r.error.clone(),
            restart_needing: r.restart_needing(),
            reload_needing: r.reload_needing(),
            running: r.is_running(),
            started,
            disabled_by_overlay,
        })
        .ok_or_else(|| not_found(id))
    }

    /// Enables or disables a plugin and saves the disabled list, as
    /// [`lifecycle::toggle`] decides: before start-up, or for a plugin that
    /// needs no restart, the change takes effect at once; for a
    /// restart-needing plugin in a running host it becomes `pending_enable` /
    /// `pending_disable`, and toggling back cancels it.
    pub fn set_enabled(&self, id: &str, enable: bool) -> Result<Toggle, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let plan = lifecycle::toggle(id, &self.facts(id)?, enable)?;
        self.shared.crashes.forget(id);
        if enable && self.with(id, |r| r.state) == Some(State::Quarantined) {
            self.lift_quarantine(id)?;
            self.with_mut(id, |r| {
                r.state = State::Disabled;
                r.error = None;
            });
        }
        // A plugin to enable now must load before anything is saved.
        if plan.step == Step::EnableNow {
            self.load(id).map_err(|error| ManagerError::CannotEnable {
                id: id.to_owned(),
                error: Box::new(error),
            })?;
        }
        self.save_disabled(id, !enable)?;
        match plan.step {
            Step::Mark(state) => {
                self.with_mut(id, |r| {
                    if matches!(r.state, State::Enabled | State::Disabled) {
                        r.state = state;
                        r.error = None;
                    }
                });
            }
            Step::Pend(pending) => {
                self.with_mut(id, |r| r.pending = pending);
            }
            Step::EnableNow => {
                self.with_mut(id, |r| r.state = State::Enabled);
                if self.enable(id) {
                    self.start_late(id);
                    self.shared
                        .events
                        .fire(events::PLUGIN_ENABLED, &serde_json::json!({ "id": id }));
                }
            }
            Step::DisableNow => {
                self.disable(id);
                self.shared
                    .events
                    .fire(events::PLUGIN_DISABLED, &serde_json::json!({ "id": id }));
            }
            Step::Nothing => {}
        }
        let state = self.with(id, |r| r.state).ok_or_else(|| not_found(id))?;
        Ok(Toggle {
            id: id.to_owned(),
            state,
            needs_restart: plan.needs_restart,
            needs_refresh: plan.needs_refresh,
        })
    }

    fn save_disabled(&self, id: &str, disabled: bool) -> Result<(), ManagerError> {
        let config = &self.shared.config;
        config.set_disabled(id, disabled)?;
        config.save()?;
        Ok(())
    }

    /// Stops plain calls (waiting for those running), unregisters the plugin,
    /// calls `on_plugin_disabled`, then closes its handle.
    pub(crate) fn disable(&self, id: &str) {
        let object = self.with(id, |r| r.object().cloned()).flatten();
        if let Some(object) = &object {
            object.deactivate(CALL_DRAIN);
        }
        self.with_mut(id, |r| {
            r.set_registrations(Registrations::default());
            r.state = State::Disabled;
        });
        if let Some(object) = object {
            if let Err(e) = object.call::<m::OnPluginDisabled>(&()) {
                self.mark_failed(id, format!("on_plugin_disabled: {e}"));
            }
        }
        // What it left running can no longer act through the host.
        self.with(id, |r| r.context().map(|c| c.close()));
        // An isolated plugin's process ends: nothing of it keeps running.
        let taken = self
            .with_mut(id, |r| {
                r.library()
                    .is_some_and(|l| l.isolated())
                    .then(|| r.take_object())
                    .flatten()
            })
            .flatten();
        if let Some((object, _context)) = taken {
            drop_when_unique(object);
        }
    }
}
