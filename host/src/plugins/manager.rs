//! The plugin manager: what was found, what it is (state), and the lifecycle
//! load → enable → disable → unload, with restart- and reload-needing toggles,
//! sorting, hooks, helpers and events.
//!
//! Locks are never held while a plugin runs: a plugin may call back into the
//! host (helpers, hooks, events) from any callback.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::plugins::transport::Library;
use plinth_abi::methods::plugin as m;
use plinth_abi::{Identity, Registrations, Value};

use crate::config::plugin_settings::PluginSettings;
use crate::config::{ConfigError, ConfigStore};
use crate::paths::Paths;
use crate::plugins::discover::{discover, Source};
use crate::plugins::events::{EventBus, EventSink};
use crate::plugins::loader;
use crate::plugins::metadata;
use crate::plugins::object::PluginObject;
use crate::plugins::services::{HostServices, PluginContext};

use crate::plugins::sorting::Context;
use crate::plugins::state::{apply_overlays, evaluate, refusal_state, source_name, Record};
pub use crate::plugins::state::{ManagerError, Options, Pending, PluginInfo, State, Toggle};
use plinth_abi::Mixin;

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
    pub(crate) records: RwLock<Vec<Record>>,
    pub(crate) phase: Mutex<Phase>,
    /// Serialises lifecycle operations (never held by plain calls).
    pub(crate) lifecycle: Mutex<()>,
    pub(crate) events: EventBus,
    /// The environment detected at start-up.
    pub(crate) environment: std::sync::OnceLock<Value>,
    /// Where each running slicing job's progress reports go: job token →
    /// (slicer plugin, receiver).
    pub(crate) slicing_progress: Mutex<std::collections::HashMap<u64, (String, ProgressSink)>>,
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

/// Drops a plugin object once nothing else holds it (an event being delivered
/// may still, for a moment), so its `Drop` runs here; gives up after a while.
pub(crate) fn drop_when_unique(object: Arc<PluginObject>) {
    drop_when_unique_by(object, Instant::now() + CALL_DRAIN)
}

/// [`drop_when_unique`], giving up at `deadline`.
fn drop_when_unique_by(object: Arc<PluginObject>, deadline: Instant) {
    while Arc::strong_count(&object) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(object);
}

/// How long the `Shutdown` event may take to reach every handler before
/// `on_shutdown` runs.
const SHUTDOWN_EVENT_WAIT: Duration = Duration::from_secs(2);

impl PluginManager {
    /// Reads the config and discovers every plugin; reads their metadata
    /// (no plugin code runs) and decides each one's state.
    pub fn new(paths: Paths, options: Options) -> Result<Self, ConfigError> {
        let config = ConfigStore::open(&paths.config_file())?;
        let disabled = config.disabled()?;
        let blocklist = config.blocklist()?;
        let mut records: Vec<Record> = Vec::new();
        for found in discover(&paths) {
            let mut record = Record {
                found,
                meta: None,
                state: State::Enabled,
                error: None,
                module: None,
                object: None,
                context: None,
                registrations: Registrations::default(),
                pending: None,
            };
            if let Some(winner) = records.iter().find(|r| r.found.id == record.found.id) {
                let msg = format!(
                    "shadowed by {} ({})",
                    winner.found.path.display(),
                    source_name(winner.found.source)
                );
                // Listed from its metadata, which reading runs none of its code.
                record.meta = record
                    .found
                    .library
                    .as_deref()
                    .and_then(|l| metadata::read(l).ok());
                record.fail(State::Shadowed, msg);
            } else if let Some(problem) = record.found.problem.clone() {
                record.fail(State::Failed, problem);
            } else {
                evaluate(&mut record, &options, &disabled, &blocklist);
            }
            records.push(record);
        }
        apply_overlays(&config, &mut records)?;
        let queue_limit =
            usize::try_from(crate::config::host_settings::EVENT_QUEUE_LIMIT.get(&config))
                .unwrap_or(usize::MAX);
        let shared = Arc::new_cyclic(|me: &Weak<Shared>| Shared {
            paths,
            options,
            config,
            records: RwLock::new(records),
            phase: Mutex::new(Phase::NotStarted),
            lifecycle: Mutex::new(()),
            events: EventBus::new(me.clone() as Weak<dyn EventSink>, queue_limit),
            environment: Default::default(),
            slicing_progress: Default::default(),
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
        self.shared
            .records
            .read()
            .unwrap()
            .iter()
            .any(|r| r.pending.is_some())
    }

    /// The config store shared by the host and every plugin.
    pub fn config(&self) -> &Arc<ConfigStore> {
        &self.shared.config
    }

    /// A plugin's settings, once its object exists.
    pub fn plugin_settings(&self, id: &str) -> Option<Arc<PluginSettings>> {
        let records = self.shared.records.read().unwrap();
        Some(
            records
                .iter()
                .find(|r| r.found.id == id)?
                .context
                .as_ref()?
                .settings
                .clone(),
        )
    }

    /// Loads and creates the object of one plugin only, without initialising it:
    /// for reading its settings defaults and preprocessors (the `config` command).
    pub fn create_alone(&self, id: &str) -> Result<Arc<PluginObject>, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let i = self
            .index_of(id)
            .ok_or_else(|| ManagerError::NotFound(format!("no plugin `{id}`")))?;
        let state = self.shared.records.read().unwrap()[i].state;
        if state != State::Enabled {
            return Err(ManagerError::Refused(format!(
                "`{id}` is {}; its code does not run",
                state.as_str()
            )));
        }
        if !self.load_index(i) {
            let error = self.shared.records.read().unwrap()[i]
                .error
                .clone()
                .unwrap_or_default();
            return Err(ManagerError::Refused(format!(
                "`{id}` does not load: {error}"
            )));
        }
        let module = self.shared.records.read().unwrap()[i]
            .module
            .clone()
            .expect("just loaded");
        self.create_object(i, &*module)
            .map_err(|e| ManagerError::Refused(format!("`{id}`: {e}")))
    }

    /// The folders this manager works with.
    pub fn paths(&self) -> &Paths {
        &self.shared.paths
    }

    /// Every discovered plugin, in discovery order.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.shared
            .records
            .read()
            .unwrap()
            .iter()
            .map(Record::info)
            .collect()
    }

    /// One plugin by identifier (the winner when shadowed copies exist).
    pub fn plugin(&self, id: &str) -> Option<PluginInfo> {
        self.shared
            .records
            .read()
            .unwrap()
            .iter()
            .find(|r| r.found.id == id)
            .map(Record::info)
    }

    /// Loads the library of every plugin that is to be enabled. Refusals mark
    /// the plugin `failed` or `incompatible`; the others are untouched.
    pub fn load_all(&self) {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let todo = self.indices(|r| r.state == State::Enabled && r.module.is_none());
        for i in todo {
            self.load_index(i);
        }
    }

    fn load_index(&self, i: usize) -> bool {
        let (library, meta) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            if r.module.is_some() {
                return true;
            }
            (r.found.library.clone(), r.meta.clone())
        };
        let (Some(library), Some(meta)) = (library, meta) else {
            return false;
        };
        let loaded = loader::load(&library, &meta);
        let mut records = self.shared.records.write().unwrap();
        match loaded {
            Ok(module) => {
                records[i].module = Some(module);
                true
            }
            Err(refusal) => {
                let (state, msg) = refusal_state(refusal);
                tracing::error!(plugin = %records[i].found.id, "cannot load: {msg}");
                records[i].fail(state, msg);
                false
            }
        }
    }

    fn indices(&self, f: impl Fn(&Record) -> bool) -> Vec<usize> {
        let records = self.shared.records.read().unwrap();
        (0..records.len()).filter(|&i| f(&records[i])).collect()
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.shared
            .records
            .read()
            .unwrap()
            .iter()
            .position(|r| r.found.id == id)
    }

    /// Loads and enables every plugin that is to be enabled, in discovery order.
    pub fn enable_all(&self) {
        self.load_all();
        let _guard = self.shared.lifecycle.lock().unwrap();
        for i in
            self.indices(|r| r.state == State::Enabled && r.module.is_some() && r.object.is_none())
        {
            self.enable_index(i);
        }
    }

    /// Injects, initialises and registers the plugin, then calls `on_plugin_enabled`.
    /// A failure at any step marks it `failed` with the reason.
    fn enable_index(&self, i: usize) -> bool {
        let (module, existing, id) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            (r.module.clone(), r.object.clone(), r.found.id.clone())
        };
        let object = match existing {
            Some(object) => object,
            None => {
                let Some(module) = module else {
                    return self.mark_failed(i, "its library is not loaded".into());
                };
                match self.instantiate(i, &*module) {
                    Ok(object) => object,
                    Err(e) => return self.mark_failed(i, e),
                }
            }
        };
        let registrations = match object.call::<m::GetRegistrations>(&()) {
            Ok(r) => r,
            Err(e) => {
                return self.mark_failed(i, format!("registering hooks and helpers failed: {e}"))
            }
        };
        {
            let mut records = self.shared.records.write().unwrap();
            records[i].registrations = registrations;
            records[i].state = State::Enabled;
            records[i].error = None;
            if let Some(context) = &records[i].context {
                context.open();
            }
        }
        object.activate();
        if let Err(e) = object.call::<m::OnPluginEnabled>(&()) {
            return self.mark_failed(i, format!("on_plugin_enabled: {e}"));
        }
        tracing::debug!(plugin = %id, "enabled");
        true
    }

    /// Creates the plugin object (injection), then initialises it and its settings.
    fn instantiate(&self, i: usize, module: &dyn Library) -> Result<Arc<PluginObject>, String> {
        let object = self.create_object(i, module)?;
        object
            .call::<m::Initialize>(&())
            .map_err(|e| format!("initialize: {e}"))?;
        self.initialize_settings(i, &object)?;
        Ok(object)
    }

    /// Creates the plugin object, handing it its host handle, and learns its
    /// settings defaults and version (Settings plugins).
    fn create_object(&self, i: usize, module: &dyn Library) -> Result<Arc<PluginObject>, String> {
        let (context, is_settings) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            let meta = r.meta.as_ref().expect("loaded plugins have metadata");
            let id = &r.found.id;
            let context = Arc::new(PluginContext::new(
                Identity {
                    id: id.clone(),
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
            ));
            (context, r.has_mixin(Mixin::Settings))
        };
        let object = Arc::new(PluginObject::instantiate(module, &context)?);
        {
            let mut records = self.shared.records.write().unwrap();
            records[i].object = Some(object.clone());
            records[i].context = Some(context.clone());
        }
        if is_settings {
            let defaults = object
                .call::<m::GetSettingsDefaults>(&())
                .map_err(|e| format!("get_settings_defaults: {e}"))?;
            if !defaults.is_object() {
                return Err(format!(
                    "get_settings_defaults must return a mapping, not {defaults}"
                ));
            }
            let version = object
                .call::<m::GetSettingsVersion>(&())
                .map_err(|e| format!("get_settings_version: {e}"))?;
            context.settings.set_defaults(defaults, version);
        }
        Ok(object)
    }

    /// Settings start-up of a Settings plugin: migrate (when the stored version
    /// is missing or older than the plugin's), clean up, save, then
    /// `on_settings_initialized`. A failure puts back what was stored before.
    fn initialize_settings(&self, i: usize, object: &PluginObject) -> Result<(), String> {
        let (settings, is_settings) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            (
                r.context.as_ref().map(|c| c.settings.clone()),
                r.has_mixin(Mixin::Settings),
            )
        };
        let (Some(settings), true) = (settings, is_settings) else {
            return Ok(());
        };
        // A failure before the save puts back (and saves) what was stored; after
        // it the settings are valid and stay, as in OctoPrint.
        let before = settings.snapshot();
        let until_saved = || -> Result<(), String> {
            if let Some(target) = settings.version() {
                let current = settings.stored_version();
                if current.is_none_or(|c| c < target) {
                    object
                        .call::<m::OnSettingsMigrate>(&(Some(target), current))
                        .map_err(|e| format!("on_settings_migrate: {e}"))?;
                    settings
                        .set_stored_version(target)
                        .map_err(|e| format!("storing its settings version: {e}"))?;
                }
            }
            object
                .call::<m::OnSettingsCleanup>(&())
                .map_err(|e| format!("on_settings_cleanup: {e}"))?;
            settings
                .persist()
                .map_err(|e| format!("saving its settings: {e}"))
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
            .map_err(|e| format!("on_settings_initialized: {e}"))
    }

    /// Marks a plugin failed after a lifecycle step went wrong; no further calls reach it.
    fn mark_failed(&self, i: usize, error: String) -> bool {
        let id = self.shared.records.read().unwrap()[i].found.id.clone();
        self.mark_failed_id(&id, error)
    }

    fn mark_failed_id(&self, id: &str, error: String) -> bool {
        tracing::error!(plugin = %id, "{error}");
        let object = {
            let mut records = self.shared.records.write().unwrap();
            let Some(r) = records.iter_mut().find(|r| r.found.id == id) else {
                return false;
            };
            r.registrations = Registrations::default();
            r.fail(State::Failed, error);
            if let Some(context) = &r.context {
                context.close();
            }
            r.object.clone()
        };
        if let Some(object) = object {
            object.deactivate(CALL_DRAIN);
        }
        false
    }

    /// Runs start-up: `on_startup(host, port)` in sorted order, the `Startup`
    /// event (releasing the events held back so far), then `on_after_startup`.
    /// A server calls [`startup`](Self::startup) before it accepts and
    /// [`after_startup`](Self::after_startup) once it does.
    pub fn start(&self, host: &str, port: u16) {
        self.startup(host, port);
        self.after_startup();
    }

    /// The first half of [`start`](Self::start): enables every plugin and runs
    /// `on_startup(host, port)`; the server is not accepting yet.
    pub fn startup(&self, host: &str, port: u16) {
        self.enable_all();
        self.report_unused();
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.detect_environment();
        for (id, object) in self.implementations(Mixin::Startup, Some(Context::OnStartup)) {
            if let Err(e) = object.call::<m::OnStartup>(&(host.to_owned(), port)) {
                self.mark_failed_id(&id, format!("on_startup: {e}"));
            }
        }
        *self.shared.phase.lock().unwrap() = Phase::Started {
            host: host.to_owned(),
            port,
        };
    }

    /// The second half of [`start`](Self::start), once the server accepts: the
    /// `Startup` event (releasing the events held back), then `on_after_startup`.
    pub fn after_startup(&self) {
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.shared.events.release_with_startup();
        for (id, object) in self.implementations(Mixin::Startup, Some(Context::OnAfterStartup)) {
            if let Err(e) = object.call::<m::OnAfterStartup>(&()) {
                self.mark_failed_id(&id, format!("on_after_startup: {e}"));
            }
        }
    }

    /// Detects the environment (once) and tells every EnvironmentDetection plugin.
    fn detect_environment(&self) {
        let environment = self
            .shared
            .environment
            .get_or_init(crate::server::environment::detect);
        for (id, object) in self.implementations(Mixin::EnvironmentDetection, None) {
            if let Err(e) = object.call::<m::OnEnvironmentDetected>(environment) {
                tracing::error!(plugin = %id, "on_environment_detected: {e}");
            }
        }
    }

    /// The environment detected at start-up (`None` before start-up).
    pub fn environment(&self) -> Option<&Value> {
        self.shared.environment.get()
    }

    /// Logs every plugin that does not run, and why.
    fn report_unused(&self) {
        for p in self.plugins() {
            let why = p.error.as_deref().unwrap_or("");
            match p.state {
                State::Enabled => {}
                State::Failed | State::Incompatible => {
                    tracing::warn!(plugin = %p.id, "not loaded ({}): {why}", p.state.as_str())
                }
                state => tracing::info!(plugin = %p.id, "not loaded ({}) {why}", state.as_str()),
            }
        }
    }

    /// Shuts down: the `Shutdown` event, `on_shutdown` in sorted order, then
    /// every plugin object is dropped.
    pub fn shutdown(&self) {
        self.shutdown_within(CALL_DRAIN);
    }

    /// [`shutdown`](Self::shutdown), waiting for calls still running in
    /// plugins (and event deliveries) until `limit` from now at most, all
    /// together. (A callback that never returns holds up only its own caller.)
    pub fn shutdown_within(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let left = || deadline.saturating_duration_since(Instant::now());
        let _guard = self.shared.lifecycle.lock().unwrap();
        *self.shared.phase.lock().unwrap() = Phase::ShuttingDown;
        self.shared.events.fire("Shutdown", &Value::Null);
        self.shared.events.flush(SHUTDOWN_EVENT_WAIT.min(left()));
        for (id, object) in self.implementations(Mixin::Shutdown, Some(Context::OnShutdown)) {
            if let Err(e) = object.call::<m::OnShutdown>(&()) {
                self.mark_failed_id(&id, format!("on_shutdown: {e}"));
            }
        }
        let (objects, contexts): (Vec<_>, Vec<_>) = {
            let mut records = self.shared.records.write().unwrap();
            records
                .iter_mut()
                .filter_map(|r| Some((r.object.take()?, r.context.clone())))
                .unzip()
        };
        for object in &objects {
            object.close();
        }
        for object in &objects {
            object.wait_idle(deadline);
        }
        // The event threads get a moment even when the calls used up the time.
        self.shared
            .events
            .stop(left().max(Duration::from_millis(200)));
        for object in objects {
            drop_when_unique_by(object, deadline);
        }
        // What the plugins left running can no longer act through the host.
        contexts.iter().flatten().for_each(|c| c.close());
    }

    /// Enables or disables a plugin and saves the disabled list.
    ///
    /// Before start-up, or for a plugin that needs no restart, the change takes
    /// effect at once. For a restart-needing plugin in a running host it becomes
    /// `pending_enable` / `pending_disable`; toggling back cancels it.
    pub fn set_enabled(&self, id: &str, enable: bool) -> Result<Toggle, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let i = self
            .index_of(id)
            .ok_or_else(|| ManagerError::NotFound(format!("no plugin `{id}`")))?;
        let (state, restart, reload, running) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            (
                r.state,
                r.restart_needing(),
                r.reload_needing(),
                r.object.as_ref().is_some_and(|o| o.is_active()),
            )
        };
        if enable && !matches!(state, State::Enabled | State::Disabled) {
            let records = self.shared.records.read().unwrap();
            let why = records[i].error.clone().unwrap_or_default();
            return Err(ManagerError::Refused(format!(
                "cannot enable `{id}`: it is {} ({why})",
                state.as_str()
            )));
        }
        if let Some(owner) = enable
            .then(|| self.shared.config.disabled_by_overlay(id))
            .flatten()
        {
            return Err(ManagerError::Refused(format!(
                "cannot enable `{id}`: the settings overlay of `{owner}` disables it; disable `{owner}` first"
            )));
        }
        let started = matches!(*self.shared.phase.lock().unwrap(), Phase::Started { .. });
        if enable && started && !restart && !running && !self.load_index(i) {
            let error = self.shared.records.read().unwrap()[i]
                .error
                .clone()
                .unwrap_or_default();
            return Err(ManagerError::Refused(format!(
                "cannot enable `{id}`: {error}"
            )));
        }
        self.save_disabled(id, !enable)?;
        let mut needs_restart = false;
        if !started {
            self.set_state_unstarted(i, enable);
        } else if restart {
            let pending = match (enable, running) {
                (true, false) => Some(Pending::Enable),
                (false, true) => Some(Pending::Disable),
                _ => None,
            };
            self.shared.records.write().unwrap()[i].pending = pending;
            needs_restart = pending.is_some();
        } else if enable && !running {
            self.shared.records.write().unwrap()[i].state = State::Enabled;
            if self.enable_index(i) {
                self.start_late(i);
                self.shared
                    .events
                    .fire("PluginEnabled", &serde_json::json!({ "id": id }));
            }
        } else if !enable && running {
            self.disable_index(i);
            self.shared
                .events
                .fire("PluginDisabled", &serde_json::json!({ "id": id }));
        }
        let state = self.shared.records.read().unwrap()[i].state;
        Ok(Toggle {
            id: id.to_owned(),
            state,
            needs_restart,
            needs_refresh: reload && !needs_restart,
        })
    }

    fn set_state_unstarted(&self, i: usize, enable: bool) {
        let mut records = self.shared.records.write().unwrap();
        let r = &mut records[i];
        if matches!(r.state, State::Enabled | State::Disabled) {
            r.state = if enable {
                State::Enabled
            } else {
                State::Disabled
            };
            r.error = None;
        }
    }

    fn save_disabled(&self, id: &str, disabled: bool) -> Result<(), ManagerError> {
        let config = &self.shared.config;
        config.set_disabled(id, disabled)?;
        config.save()?;
        Ok(())
    }

    /// Gives a plugin enabled after start-up its `on_startup` and `on_after_startup`.
    fn start_late(&self, i: usize) {
        let (host, port) = match &*self.shared.phase.lock().unwrap() {
            Phase::Started { host, port } => (host.clone(), *port),
            _ => return,
        };
        let object = {
            let records = self.shared.records.read().unwrap();
            if !records[i].has_mixin(Mixin::Startup) {
                return;
            }
            records[i].object.clone()
        };
        let Some(object) = object else { return };
        if let Err(e) = object.call::<m::OnStartup>(&(host, port)) {
            self.mark_failed(i, format!("on_startup: {e}"));
        } else if let Err(e) = object.call::<m::OnAfterStartup>(&()) {
            self.mark_failed(i, format!("on_after_startup: {e}"));
        }
    }

    /// Stops plain calls (waiting for those running), unregisters the plugin,
    /// then calls `on_plugin_disabled`.
    fn disable_index(&self, i: usize) {
        let object = self.shared.records.read().unwrap()[i].object.clone();
        if let Some(object) = &object {
            object.deactivate(CALL_DRAIN);
        }
        {
            let mut records = self.shared.records.write().unwrap();
            let r = &mut records[i];
            r.registrations = Registrations::default();
            r.state = State::Disabled;
        }
        if let Some(object) = object {
            if let Err(e) = object.call::<m::OnPluginDisabled>(&()) {
                self.mark_failed(i, format!("on_plugin_disabled: {e}"));
            }
        }
        // What it left running can no longer act through the host.
        if let Some(context) = &self.shared.records.read().unwrap()[i].context {
            context.close();
        }
    }

    /// Uninstalls a plugin: calls `on_plugin_pending_uninstall`, removes its
    /// files (a user plugin's file or folder, a manifest plugin's manifest),
    /// then unloads it at once, or marks it `pending_uninstall` when it needs a restart.
    pub fn uninstall(&self, id: &str) -> Result<Toggle, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let i = self
            .index_of(id)
            .ok_or_else(|| ManagerError::NotFound(format!("no plugin `{id}`")))?;
        let (source, path, manifest, object, restart) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            (
                r.found.source,
                r.found.path.clone(),
                r.found.manifest.clone(),
                r.object.clone(),
                r.restart_needing(),
            )
        };
        if source == Source::Bundled {
            return Err(ManagerError::Refused(format!(
                "`{id}` is a bundled plugin and cannot be uninstalled"
            )));
        }
        // A plugin that is to be enabled but was not started (the command line)
        // is created just to hear about its uninstall.
        let to_be_enabled = self.shared.records.read().unwrap()[i].state == State::Enabled;
        let object = match object {
            Some(object) => Some(object),
            None if to_be_enabled && self.load_index(i) => {
                let module = self.shared.records.read().unwrap()[i].module.clone();
                module.and_then(|module| self.instantiate(i, &*module).ok())
            }
            None => None,
        };
        if let Some(object) = &object {
            if let Err(e) = object.call::<m::OnPluginPendingUninstall>(&()) {
                tracing::error!(plugin = %id, "on_plugin_pending_uninstall: {e}");
            }
        }
        let target = match source {
            Source::Manifest => {
                manifest.unwrap_or_else(|| self.shared.paths.manifests().join(format!("{id}.json")))
            }
            _ => path,
        };
        remove_path(&target).map_err(|e| {
            ManagerError::Refused(format!("cannot remove {}: {e}", target.display()))
        })?;
        let started = matches!(*self.shared.phase.lock().unwrap(), Phase::Started { .. });
        let was_created = object.is_some();
        // Our handle must go before unloading waits for the last one.
        drop(object);
        if started && restart && was_created {
            self.shared.records.write().unwrap()[i].pending = Some(Pending::Uninstall);
            let state = self.shared.records.read().unwrap()[i].state;
            return Ok(Toggle {
                id: id.into(),
                state,
                needs_restart: true,
                needs_refresh: false,
            });
        }
        let reload = self.shared.records.read().unwrap()[i].reload_needing();
        self.unload_index(i);
        Ok(Toggle {
            id: id.into(),
            state: State::Disabled,
            needs_restart: false,
            needs_refresh: reload,
        })
    }

    /// Disables the plugin if it is enabled, drops its objects and forgets it.
    /// Its library stays mapped until the process exits.
    pub fn unload(&self, id: &str) -> Result<(), ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let i = self
            .index_of(id)
            .ok_or_else(|| ManagerError::NotFound(format!("no plugin `{id}`")))?;
        self.unload_index(i);
        Ok(())
    }

    fn unload_index(&self, i: usize) {
        // Only a plugin that was enabled hears that it is disabled.
        let running = self.shared.records.read().unwrap()[i]
            .object
            .as_ref()
            .is_some_and(|o| o.is_active());
        if running {
            self.disable_index(i);
        }
        let mut record = self.shared.records.write().unwrap().remove(i);
        if let Some(object) = record.object.take() {
            drop_when_unique(object);
        }
        self.unshadow(&record.found.id);
    }

    /// After the winner of an identifier is gone, the next copy takes its place
    /// (it loads at the next start).
    fn unshadow(&self, id: &str) {
        let options = self.shared.options.clone();
        let disabled = self.shared.config.disabled().unwrap_or_default();
        let blocklist = self.shared.config.blocklist().unwrap_or_default();
        let mut records = self.shared.records.write().unwrap();
        if let Some(next) = records
            .iter_mut()
            .find(|r| r.found.id == id && r.state == State::Shadowed)
        {
            next.state = State::Enabled;
            next.error = None;
            match next.found.problem.clone() {
                Some(problem) => next.fail(State::Failed, problem),
                None => evaluate(next, &options, &disabled, &blocklist),
            }
        }
    }
}

fn remove_path(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}
