//! The plugin manager: what was found, what it is (state), and the lifecycle
//! load → enable → disable → unload, with restart- and reload-needing toggles,
//! sorting, hooks, helpers and events.
//!
//! Locks are never held while a plugin runs: a plugin may call back into the
//! host (helpers, hooks, events) from any callback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use plinth_sdk::abi::PluginModuleRef;
use plinth_sdk::methods::plugin as m;
use plinth_sdk::{mixin_info, HookReply, Identity, Metadata, Registrations, Value};
use serde::Serialize;

use crate::config::{key_path, ConfigError, ConfigStore};
use crate::discover::{discover, Found, Source};
use crate::events::{EventBus, EventSink};
use crate::instance::{CallError, PluginObject};
use crate::metadata::{self, Refusal};
use crate::paths::Paths;
use crate::plugin_settings::PluginSettings;
use crate::services::{HostServices, PluginContext};
use crate::{loader, sorting};

/// The state of a plugin, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Enabled,
    Disabled,
    Failed,
    Incompatible,
    Blocklisted,
    SafeModeVictim,
    Shadowed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Enabled => "enabled",
            State::Disabled => "disabled",
            State::Failed => "failed",
            State::Incompatible => "incompatible",
            State::Blocklisted => "blocklisted",
            State::SafeModeVictim => "safe_mode_victim",
            State::Shadowed => "shadowed",
        }
    }
}

/// A toggle of a restart-needing plugin waiting for the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    Enable,
    Disable,
    Uninstall,
}

/// What a plugin is, as `plugins list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub id: String,
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub url: Option<String>,
    pub license: Option<String>,
    pub source: Source,
    pub path: PathBuf,
    pub base_folder: PathBuf,
    pub state: State,
    pub error: Option<String>,
    pub mixins: Vec<String>,
    pub restart_needing: bool,
    pub reload_needing: bool,
    pub pending_enable: bool,
    pub pending_disable: bool,
    pub pending_uninstall: bool,
    pub sdk: Option<String>,
}

/// The reply to a toggle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Toggle {
    pub id: String,
    pub state: State,
    pub needs_restart: bool,
    pub needs_refresh: bool,
}

/// Options of a plugin manager.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only bundled plugins load.
    pub safe_mode: bool,
}

struct Record {
    found: Found,
    meta: Option<Metadata>,
    state: State,
    error: Option<String>,
    module: Option<PluginModuleRef>,
    object: Option<Arc<PluginObject>>,
    context: Option<Arc<PluginContext>>,
    registrations: Registrations,
    pending: Option<Pending>,
}

impl Record {
    fn has_mixin(&self, name: &str) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| m.mixins.iter().any(|x| x == name))
    }

    fn restart_needing(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.restart_needing
                || m.overlay.is_some()
                || m.mixins
                    .iter()
                    .any(|x| mixin_info(x).is_some_and(|i| i.restart_needing))
        })
    }

    fn reload_needing(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.mixins
                .iter()
                .any(|x| mixin_info(x).is_some_and(|i| i.reload_needing))
        })
    }

    fn fail(&mut self, state: State, error: String) {
        self.state = state;
        self.error = Some(error);
    }

    fn info(&self) -> PluginInfo {
        let meta = self.meta.as_ref();
        PluginInfo {
            id: self.found.id.clone(),
            name: meta.map_or_else(|| self.found.id.clone(), |m| m.name.clone()),
            version: meta.map(|m| m.version.clone()),
            description: meta.and_then(|m| m.description.clone()),
            author: meta.and_then(|m| m.author.clone()),
            url: meta.and_then(|m| m.url.clone()),
            license: meta.and_then(|m| m.license.clone()),
            source: self.found.source,
            path: self.found.path.clone(),
            base_folder: self.found.base_folder.clone(),
            state: self.state,
            error: self.error.clone(),
            mixins: meta.map(|m| m.mixins.clone()).unwrap_or_default(),
            restart_needing: self.restart_needing(),
            reload_needing: self.reload_needing(),
            pending_enable: self.pending == Some(Pending::Enable),
            pending_disable: self.pending == Some(Pending::Disable),
            pending_uninstall: self.pending == Some(Pending::Uninstall),
            sdk: meta.map(|m| m.sdk.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    NotStarted,
    Started { host: String, port: u16 },
    ShuttingDown,
}

struct Shared {
    paths: Paths,
    options: Options,
    config: Arc<ConfigStore>,
    records: RwLock<Vec<Record>>,
    phase: Mutex<Phase>,
    /// Serialises lifecycle operations (never held by plain calls).
    lifecycle: Mutex<()>,
    events: EventBus,
    me: Weak<Shared>,
}

/// The plugin manager of one host.
#[derive(Clone)]
pub struct PluginManager {
    shared: Arc<Shared>,
}

/// An error of a plugin-manager command, with the HTTP-like kind of refusal.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerError {
    NotFound(String),
    Refused(String),
    Config(String),
}

impl std::fmt::Display for ManagerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManagerError::NotFound(m) | ManagerError::Refused(m) | ManagerError::Config(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for ManagerError {}

impl From<ConfigError> for ManagerError {
    fn from(e: ConfigError) -> Self {
        ManagerError::Config(e.0)
    }
}

use crate::sorting::DEFAULT_ORDER;

/// How long disabling or shutting down waits for calls already inside a plugin.
const CALL_DRAIN: Duration = Duration::from_secs(10);

/// Drops a plugin object once nothing else holds it (an event being delivered
/// may still, for a moment), so its `Drop` runs here; gives up after a while.
fn drop_when_unique(object: Arc<PluginObject>) {
    let deadline = std::time::Instant::now() + CALL_DRAIN;
    while Arc::strong_count(&object) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(object);
}

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
        let shared = Arc::new_cyclic(|me: &Weak<Shared>| Shared {
            paths,
            options,
            config,
            records: RwLock::new(records),
            phase: Mutex::new(Phase::NotStarted),
            lifecycle: Mutex::new(()),
            events: EventBus::new(me.clone() as Weak<dyn EventSink>),
            me: me.clone(),
        });
        Ok(Self { shared })
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
            .expect("just loaded");
        self.create_object(i, module)
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
            (r.module, r.object.clone(), r.found.id.clone())
        };
        let object = match existing {
            Some(object) => object,
            None => {
                let Some(module) = module else {
                    return self.mark_failed(i, "its library is not loaded".into());
                };
                match self.instantiate(i, module) {
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
        }
        object.activate();
        if let Err(e) = object.call::<m::OnPluginEnabled>(&()) {
            return self.mark_failed(i, format!("on_plugin_enabled: {e}"));
        }
        tracing::debug!(plugin = %id, "enabled");
        true
    }

    /// Creates the plugin object (injection), then initialises it and its settings.
    fn instantiate(&self, i: usize, module: PluginModuleRef) -> Result<Arc<PluginObject>, String> {
        let object = self.create_object(i, module)?;
        object
            .call::<m::Initialize>(&())
            .map_err(|e| format!("initialize: {e}"))?;
        self.initialize_settings(i, &object)?;
        Ok(object)
    }

    /// Creates the plugin object, handing it its host handle, and learns its
    /// settings defaults and version (Settings plugins).
    fn create_object(
        &self,
        i: usize,
        module: PluginModuleRef,
    ) -> Result<Arc<PluginObject>, String> {
        let (context, is_settings) = {
            let records = self.shared.records.read().unwrap();
            let r = &records[i];
            let meta = r.meta.as_ref().expect("loaded plugins have metadata");
            let id = &r.found.id;
            let context = Arc::new(PluginContext {
                identity: Identity {
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
                services: self.shared.me.clone() as Weak<dyn HostServices>,
                settings: Arc::new(PluginSettings::new(self.shared.config.clone(), id)),
            });
            (context, r.has_mixin("Settings"))
        };
        let id = context.identity.id.clone();
        // SAFETY: `context` is alive for the whole call (this function holds it),
        // and the plugin retains its own reference before using it later.
        let object = Arc::new(unsafe { PluginObject::instantiate(module, context.handle(), &id) }?);
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
                r.has_mixin("Settings"),
            )
        };
        let (Some(settings), true) = (settings, is_settings) else {
            return Ok(());
        };
        let before = settings.snapshot();
        let steps = || -> Result<(), String> {
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
                .map_err(|e| format!("saving its settings: {e}"))?;
            object
                .call::<m::OnSettingsInitialized>(&())
                .map_err(|e| format!("on_settings_initialized: {e}"))
        };
        steps().inspect_err(|_| settings.restore(before))
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
            r.object.clone()
        };
        if let Some(object) = object {
            object.deactivate(CALL_DRAIN);
        }
        false
    }

    /// Runs start-up: `on_startup(host, port)` in sorted order, the `Startup`
    /// event (releasing the events held back so far), then `on_after_startup`.
    pub fn start(&self, host: &str, port: u16) {
        self.enable_all();
        self.report_unused();
        let _guard = self.shared.lifecycle.lock().unwrap();
        for (id, object) in self.implementations("Startup", Some("StartupPlugin.on_startup")) {
            if let Err(e) = object.call::<m::OnStartup>(&(host.to_owned(), port)) {
                self.mark_failed_id(&id, format!("on_startup: {e}"));
            }
        }
        self.shared.events.release_with_startup();
        *self.shared.phase.lock().unwrap() = Phase::Started {
            host: host.to_owned(),
            port,
        };
        for (id, object) in self.implementations("Startup", Some("StartupPlugin.on_after_startup"))
        {
            if let Err(e) = object.call::<m::OnAfterStartup>(&()) {
                self.mark_failed_id(&id, format!("on_after_startup: {e}"));
            }
        }
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
        let _guard = self.shared.lifecycle.lock().unwrap();
        *self.shared.phase.lock().unwrap() = Phase::ShuttingDown;
        self.shared.events.fire("Shutdown", &Value::Null);
        self.shared.events.flush(Duration::from_secs(10));
        for (id, object) in self.implementations("Shutdown", Some("ShutdownPlugin.on_shutdown")) {
            if let Err(e) = object.call::<m::OnShutdown>(&()) {
                self.mark_failed_id(&id, format!("on_shutdown: {e}"));
            }
        }
        let objects: Vec<_> = {
            let mut records = self.shared.records.write().unwrap();
            records.iter_mut().filter_map(|r| r.object.take()).collect()
        };
        for object in &objects {
            object.deactivate(CALL_DRAIN);
        }
        self.shared.events.stop(CALL_DRAIN);
        objects.into_iter().for_each(drop_when_unique);
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
        let own = config.get(&key_path(&["plugins", "_disabled"]));
        let mut list: Vec<String> =
            serde_json::from_value(own.unwrap_or_default()).unwrap_or_default();
        list.retain(|x| x != id);
        if disabled {
            list.push(id.to_owned());
        }
        config.set_disabled(list)?;
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
            if !records[i].has_mixin("Startup") {
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
                let module = self.shared.records.read().unwrap()[i].module;
                module.and_then(|module| self.instantiate(i, module).ok())
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

    /// The enabled plugins implementing `mixin`, sorted for `context`:
    /// by sorting key (config override, else the plugin's key, else 1000),
    /// then bundled before others, then identifier.
    pub fn implementations(
        &self,
        mixin: &str,
        context: Option<&str>,
    ) -> Vec<(String, Arc<PluginObject>)> {
        let candidates: Vec<(String, bool, Arc<PluginObject>)> = {
            let records = self.shared.records.read().unwrap();
            records
                .iter()
                .filter(|r| r.state == State::Enabled && r.has_mixin(mixin))
                .filter_map(|r| {
                    let object = r.object.clone()?;
                    Some((
                        r.found.id.clone(),
                        r.found.source == Source::Bundled,
                        object,
                    ))
                })
                .collect()
        };
        let overrides = self.sorting_overrides();
        let mut keyed: Vec<_> = candidates
            .into_iter()
            .map(|(id, bundled, object)| {
                let key = context.map_or(DEFAULT_ORDER, |ctx| {
                    sorting::override_for(&overrides, &id, ctx).unwrap_or_else(|| {
                        object
                            .call::<m::GetSortingKey>(&ctx.to_owned())
                            .ok()
                            .flatten()
                            .unwrap_or(DEFAULT_ORDER)
                    })
                });
                ((key, !bundled, id.clone()), (id, object))
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, v)| v).collect()
    }

    /// Identifiers of the enabled implementations of a mixin, sorted for `context`.
    pub fn implementation_ids(&self, mixin: &str, context: Option<&str>) -> Vec<String> {
        self.implementations(mixin, context)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn sorting_overrides(&self) -> BTreeMap<String, BTreeMap<String, i64>> {
        self.shared.config.sorting_order().unwrap_or_default()
    }

    /// Fires an event on the bus.
    pub fn fire_event(&self, event: &str, payload: &Value) {
        self.shared.events.fire(event, payload);
    }

    /// Waits until every event fired so far was delivered.
    pub fn flush_events(&self) -> bool {
        self.shared.events.flush(Duration::from_secs(30))
    }

    /// Calls every handler of `hook` in `(order, identifier)` order.
    pub fn call_hook(&self, hook: &str, args: &Value) -> Vec<HookReply> {
        let handlers: Vec<(i64, String, Arc<PluginObject>)> = {
            let overrides = self.sorting_overrides();
            let records = self.shared.records.read().unwrap();
            records
                .iter()
                .filter(|r| r.state == State::Enabled)
                .filter_map(|r| {
                    let (_, order) = r.registrations.hooks.iter().find(|(n, _)| n == hook)?;
                    let order = sorting::hook_order(&overrides, &r.found.id, hook, *order);
                    Some((order, r.found.id.clone(), r.object.clone()?))
                })
                .collect()
        };
        let mut handlers = handlers;
        handlers.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let encoded = serde_json::to_vec(&(hook, args)).expect("JSON values always encode");
        handlers
            .into_iter()
            .map(|(_, id, object)| {
                let result = object
                    .call_encoded_active::<m::CallHook>(&encoded)
                    .map_err(|e| {
                        tracing::error!(plugin = %id, "hook {hook}: {e}");
                        e.to_string()
                    });
                HookReply { plugin: id, result }
            })
            .collect()
    }

    /// Calls the helper `helper` of the enabled plugin `plugin`.
    pub fn call_helper(&self, plugin: &str, helper: &str, args: &Value) -> Result<Value, String> {
        let object = {
            let records = self.shared.records.read().unwrap();
            let r = records
                .iter()
                .find(|r| r.found.id == plugin)
                .ok_or_else(|| format!("no plugin `{plugin}`"))?;
            if r.state != State::Enabled {
                return Err(format!(
                    "plugin `{plugin}` is not enabled (it is {})",
                    r.state.as_str()
                ));
            }
            if !r.registrations.helpers.iter().any(|h| h == helper) {
                return Err(format!("plugin `{plugin}` has no helper `{helper}`"));
            }
            r.object
                .clone()
                .ok_or_else(|| format!("plugin `{plugin}` is not running"))?
        };
        object
            .call_active::<m::CallHelper>(&(helper.to_owned(), args.clone()))
            .map_err(|e| match e {
                CallError::Panicked(m) => format!("helper `{plugin}.{helper}` panicked: {m}"),
                other => format!("helper `{plugin}.{helper}` failed: {other}"),
            })
    }

    /// A file compiled into a plugin's library (`templates/…`, `static/…`).
    /// `None` when it has no such file, or was built before ABI 1.1 had them.
    pub fn embedded_file(&self, id: &str, path: &str) -> Option<&'static [u8]> {
        let module = self
            .shared
            .records
            .read()
            .unwrap()
            .iter()
            .find(|r| r.found.id == id)?
            .module?;
        let lookup = module.embedded_file()?;
        lookup(abi_stable::std_types::RStr::from_str(path))
            .into_option()
            .map(|s| s.as_slice())
    }

    /// Calls method `M` on an enabled plugin (for the services of later layers and tests).
    pub fn call<M: plinth_sdk::Method>(
        &self,
        id: &str,
        args: &M::Args,
    ) -> Result<M::Output, CallError> {
        let object = {
            let records = self.shared.records.read().unwrap();
            records
                .iter()
                .find(|r| r.found.id == id && r.state == State::Enabled)
                .and_then(|r| r.object.clone())
        };
        object
            .ok_or_else(|| CallError::Failed(format!("plugin `{id}` is not enabled")))?
            .call_active::<M>(args)
    }
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Bundled => "bundled",
        Source::User => "user",
        Source::Manifest => "manifest",
    }
}

fn refusal_state(refusal: Refusal) -> (State, String) {
    match refusal {
        Refusal::Incompatible(m) => (State::Incompatible, m),
        Refusal::Failed(m) => (State::Failed, m),
    }
}

/// Reads metadata and applies compatibility, blocklist, safe mode and the disabled list.
fn evaluate(
    record: &mut Record,
    options: &Options,
    disabled: &[String],
    blocklist: &[crate::config::BlockEntry],
) {
    let library = record
        .found
        .library
        .clone()
        .expect("found plugins without a problem have a library");
    let meta =
        match metadata::read(&library).and_then(|m| metadata::check_compatible(&m).map(|()| m)) {
            Ok(meta) => meta,
            Err(refusal) => {
                // Keep whatever metadata could be read, for the listing.
                record.meta = metadata::read(&library).ok();
                let (state, msg) = refusal_state(refusal);
                record.fail(state, msg);
                return;
            }
        };
    let id = record.found.id.clone();
    let blocked = blocklist.iter().find(|b| b.blocks(&id, &meta.version));
    record.meta = Some(meta);
    if let Some(entry) = blocked {
        let range = entry
            .versions
            .as_ref()
            .map(|r| format!(" (versions {r})"))
            .unwrap_or_default();
        record.fail(
            State::Blocklisted,
            format!("blocklisted in plugins._blocklist{range}"),
        );
    } else if options.safe_mode && record.found.source != Source::Bundled {
        record.fail(
            State::SafeModeVictim,
            "safe mode: only bundled plugins load".into(),
        );
    } else if disabled.iter().any(|d| d == &id) {
        record.state = State::Disabled;
    }
}

/// Puts the overlays of the plugins about to be enabled under the config, then
/// disables the plugins those overlays disable.
fn apply_overlays(config: &ConfigStore, records: &mut [Record]) -> Result<(), ConfigError> {
    let overlays: Vec<(String, Value)> = records
        .iter()
        .filter(|r| r.state == State::Enabled)
        .filter_map(|r| Some((r.found.id.clone(), r.meta.as_ref()?.overlay.clone()?)))
        .collect();
    if overlays.is_empty() {
        return Ok(());
    }
    config.set_overlays(overlays);
    let disabled = config.disabled()?;
    for r in records.iter_mut().filter(|r| r.state == State::Enabled) {
        if disabled.contains(&r.found.id) {
            r.state = State::Disabled;
        }
    }
    Ok(())
}

fn remove_path(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

impl HostServices for Shared {
    fn fire_event(&self, event: String, payload: Value) {
        self.events.fire(&event, &payload);
    }

    fn call_helper(&self, plugin: &str, helper: &str, args: Value) -> Result<Value, String> {
        self.manager().call_helper(plugin, helper, &args)
    }

    fn call_hook(&self, hook: &str, args: Value) -> Vec<HookReply> {
        self.manager().call_hook(hook, &args)
    }
}

impl EventSink for Shared {
    fn deliver(&self, event: &str, encoded: &[u8]) {
        for (id, object) in self.manager().implementations("EventHandler", None) {
            if let Err(e) = object.call_encoded_active::<m::OnEvent>(encoded) {
                tracing::error!(plugin = %id, "on_event({event}): {e}");
            }
        }
    }
}

impl Shared {
    fn manager(&self) -> PluginManager {
        PluginManager {
            shared: self
                .me
                .upgrade()
                .expect("the manager is alive while it serves calls"),
        }
    }
}
