//! What the plugin manager knows of each plugin: its state, how it is
//! listed, and how discovery, metadata and the config decide the state
//! before any plugin code runs.

use std::path::PathBuf;

use plinth_abi::{Metadata, Mixin, Registrations, Value};
use serde::Serialize;

use crate::config::{BlockEntry, ConfigError, ConfigStore};
use crate::plugins::discover::{Found, Source};
use crate::plugins::lifecycle;
use crate::plugins::metadata::{self, Refusal};
use crate::plugins::object::PluginObject;
use crate::plugins::scan_cache::ScanCache;
use crate::plugins::services::PluginContext;
use crate::plugins::transport::Library;
use std::sync::Arc;

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
    /// Not started again after repeated crashes, until a person enables it.
    Quarantined,
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
            State::Quarantined => "quarantined",
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
    /// Where it runs (or would run).
    pub mode: crate::plugins::placement::Mode,
    /// Its crashes and restarts since the host started (isolated plugins).
    pub crashes: crate::plugins::crashes::CrashCount,
    /// When it crashed the host in process: which call, when (it runs
    /// isolated since).
    pub crashed_host: Option<String>,
}

impl PluginInfo {
    /// Whether the plugin implements `mixin`.
    pub fn has(&self, mixin: Mixin) -> bool {
        self.mixins.iter().any(|x| x == mixin.name())
    }
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
    /// Why safe mode is on: `flag` (the option) unless said otherwise, e.g. `incomplete_startup`.
    pub safe_mode_reason: Option<String>,
    /// Every plugin runs isolated, whatever the config says: the command
    /// line's reads never run plugin code in its own process.
    pub isolate_all: bool,
    /// Where plugins' log lines are kept besides the log (a test kit's
    /// capture); `None` for none.
    pub log_lines: Option<LogLines>,
}

/// One log line of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The plugin's identifier.
    pub plugin: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: &'static str,
    /// What it logged.
    pub message: String,
}

/// Plugins' log lines, kept in order.
#[derive(Debug, Clone, Default)]
pub struct LogLines(std::sync::Arc<std::sync::Mutex<Vec<LogLine>>>);

impl LogLines {
    /// Keeps a line.
    pub fn push(&self, line: LogLine) {
        self.0.lock().unwrap().push(line);
    }

    /// Every line kept so far.
    pub fn all(&self) -> Vec<LogLine> {
        self.0.lock().unwrap().clone()
    }
}

impl Options {
    /// The options of a host about to start: safe mode when `safe_mode` is
    /// asked for, or when the last start-up did not finish (its marker is
    /// still there), unless `ignore_incomplete` or
    /// `server.ignore_incomplete_startup` says to start normally.
    pub fn for_start(
        paths: &crate::paths::Paths,
        safe_mode: bool,
        ignore_incomplete: bool,
    ) -> Self {
        let marker = paths.startup_marker();
        // A host that died inside a plugin names it: that plugin runs
        // isolated from now on, and the rest starts as usual.
        use crate::plugins::crashes::{
            attribute_host_crash, attribute_unfinished_startup, LastRun,
        };
        // A crash outside any plugin call is not blamed on the plugin whose
        // start-up step happened to be under way.
        let attributed = match attribute_host_crash(paths) {
            LastRun::PluginCrashed => true,
            LastRun::HostCrashed => false,
            LastRun::NoCrash => attribute_unfinished_startup(paths),
        };
        if attributed && marker.exists() {
            let _ = std::fs::remove_file(&marker);
        }
        if safe_mode || !marker.exists() {
            return Self {
                safe_mode,
                ..Self::default()
            };
        }
        let ignore_in_config = ConfigStore::open(&paths.config_file())
            .is_ok_and(|c| crate::config::host_settings::IGNORE_INCOMPLETE_STARTUP.get(&c));
        if ignore_incomplete || ignore_in_config {
            tracing::warn!("the last start-up did not finish; starting normally as asked");
            return Self::default();
        }
        tracing::warn!(
            "the last start-up did not finish ({} is still there): starting in safe mode",
            marker.display()
        );
        Self {
            safe_mode: true,
            safe_mode_reason: Some("incomplete_startup".into()),
            ..Self::default()
        }
    }
}

/// How far a plugin has come into the host; each stage holds what exists
/// at it, so a plugin object without its library or context cannot be.
///
/// The stage is separate from the [`State`] on purpose: the state says what
/// the plugin is listed as, the stage what of its code exists, and the two
/// vary independently, as in OctoPrint. A disabled plugin keeps its object
/// (enabling it again reuses it, and a restart-needing one runs on until the
/// next start), and a plugin that failed in a callback keeps its object
/// until shutdown releases it in order. What does not vary is tied: an
/// object always comes with its library and its context.
pub(crate) enum Stage {
    /// Found, with its metadata if it has any: none of its code is loaded.
    Listed,
    /// Its library is loaded.
    Loaded(Arc<dyn Library>),
    /// Its object exists (created, initialised or running).
    Live(Live),
}

/// A plugin whose object exists.
pub(crate) struct Live {
    pub(crate) library: Arc<dyn Library>,
    pub(crate) object: Arc<PluginObject>,
    pub(crate) context: Arc<PluginContext>,
    /// Its hooks and helpers while it is enabled (empty otherwise).
    pub(crate) registrations: Registrations,
}

/// One plugin as the manager knows it.
pub(crate) struct Record {
    /// Its place in discovery order.
    pub(crate) seq: usize,
    pub(crate) found: Found,
    pub(crate) meta: Option<Metadata>,
    pub(crate) state: State,
    pub(crate) error: Option<String>,
    pub(crate) stage: Stage,
    pub(crate) pending: Option<Pending>,
}

impl Record {
    /// A plugin just found (the `seq`th): listed, enabled until decided otherwise.
    pub(crate) fn found(seq: usize, found: Found) -> Self {
        Self {
            seq,
            found,
            meta: None,
            state: State::Enabled,
            error: None,
            stage: Stage::Listed,
            pending: None,
        }
    }

    /// Its library, once loaded.
    pub(crate) fn library(&self) -> Option<&Arc<dyn Library>> {
        match &self.stage {
            Stage::Listed => None,
            Stage::Loaded(library) | Stage::Live(Live { library, .. }) => Some(library),
        }
    }

    /// Its object and what goes with it, once created.
    pub(crate) fn live(&self) -> Option<&Live> {
        match &self.stage {
            Stage::Live(live) => Some(live),
            _ => None,
        }
    }

    /// Its object, once created.
    pub(crate) fn object(&self) -> Option<&Arc<PluginObject>> {
        self.live().map(|l| &l.object)
    }

    /// Its context (settings, services), once its object exists.
    pub(crate) fn context(&self) -> Option<&Arc<PluginContext>> {
        self.live().map(|l| &l.context)
    }

    /// Whether its object takes plain calls (it runs).
    pub(crate) fn is_running(&self) -> bool {
        self.object().is_some_and(|o| o.is_active())
    }

    /// Sets what it registered (live plugins only).
    pub(crate) fn set_registrations(&mut self, registrations: Registrations) {
        if let Stage::Live(live) = &mut self.stage {
            live.registrations = registrations;
        }
    }

    /// Takes its object out (it is dropped elsewhere); it is loaded again.
    pub(crate) fn take_object(&mut self) -> Option<(Arc<PluginObject>, Arc<PluginContext>)> {
        match std::mem::replace(&mut self.stage, Stage::Listed) {
            Stage::Live(live) => {
                self.stage = Stage::Loaded(live.library);
                Some((live.object, live.context))
            }
            other => {
                self.stage = other;
                None
            }
        }
    }

    pub(crate) fn has_mixin(&self, mixin: Mixin) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| m.mixins.iter().any(|x| x == mixin.name()))
    }

    pub(crate) fn restart_needing(&self) -> bool {
        let by_metadata = self.meta.as_ref().is_some_and(|m| {
            m.restart_needing
                || m.overlay.is_some()
                || m.mixins
                    .iter()
                    .any(|x| Mixin::from_name(x).is_some_and(Mixin::restart_needing))
        });
        // Hooks are known once the plugin registered them.
        let by_hooks = self.live().is_some_and(|l| {
            l.registrations
                .hooks
                .iter()
                .any(|(hook, _)| plinth_abi::hooks::is_restart_needing(hook))
        });
        by_metadata || by_hooks
    }

    pub(crate) fn reload_needing(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.mixins
                .iter()
                .any(|x| Mixin::from_name(x).is_some_and(Mixin::reload_needing))
        })
    }

    pub(crate) fn fail(&mut self, state: State, error: String) {
        self.state = state;
        self.error = Some(error);
    }

    pub(crate) fn info(&self) -> PluginInfo {
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
            mode: crate::plugins::placement::Mode::InProcess,
            crashes: Default::default(),
            crashed_host: None,
        }
    }
}

/// Every plugin found, keyed by identifier: the one that provides each
/// identifier (the first source to), in discovery order, and the copies it
/// shadows.
pub(crate) struct Records {
    plugins: indexmap::IndexMap<String, Record>,
    shadowed: Vec<Record>,
}

impl Records {
    /// Room for `n` plugins: a thousand records grown one at a time would be
    /// copied into fresh memory at each doubling, every page of it a fault.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            plugins: indexmap::IndexMap::with_capacity(n),
            shadowed: Vec::new(),
        }
    }

    /// Adds a plugin found after those already here; a copy of an identifier
    /// already provided is kept as shadowed.
    pub(crate) fn push(&mut self, record: Record) {
        if self.plugins.contains_key(&record.found.id) {
            self.shadowed.push(record);
        } else {
            self.plugins.insert(record.found.id.clone(), record);
        }
    }

    /// The plugin providing `id`.
    pub(crate) fn get(&self, id: &str) -> Option<&Record> {
        self.plugins.get(id)
    }

    /// The plugin providing `id`, to change.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.plugins.get_mut(id)
    }

    /// The plugins providing their identifiers, in discovery order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Record> {
        self.plugins.values()
    }

    /// The same, to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.plugins.values_mut()
    }

    /// The identifiers of the plugins for which `f` holds, in discovery order.
    pub(crate) fn ids(&self, f: impl Fn(&Record) -> bool) -> Vec<String> {
        self.iter()
            .filter(|r| f(r))
            .map(|r| r.found.id.clone())
            .collect()
    }

    /// Every plugin found, shadowed copies included, in no set order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Record> {
        self.plugins.values().chain(&self.shadowed)
    }

    /// Every plugin found, shadowed copies included, in discovery order.
    pub(crate) fn listing(&self) -> Vec<&Record> {
        let mut all: Vec<&Record> = self.all().collect();
        all.sort_by_key(|r| r.seq);
        all
    }

    /// Forgets the plugin providing `id`.
    pub(crate) fn remove(&mut self, id: &str) -> Option<Record> {
        self.plugins.shift_remove(id)
    }

    /// Once the plugin providing `id` is gone, the next copy of it (if any)
    /// takes its place, in its place of discovery order; returned to be
    /// decided on.
    pub(crate) fn promote(&mut self, id: &str) -> Option<&mut Record> {
        if self.plugins.contains_key(id) {
            return None;
        }
        let next = self
            .shadowed
            .iter()
            .enumerate()
            .filter(|(_, r)| r.found.id == id)
            .min_by_key(|(_, r)| r.seq)
            .map(|(i, _)| i)?;
        let next = self.shadowed.remove(next);
        let at = self.plugins.values().filter(|r| r.seq < next.seq).count();
        self.plugins.shift_insert(at, id.to_owned(), next);
        self.plugins.get_mut(id)
    }

    /// Whether any plugin waits for the next start.
    pub(crate) fn any_pending(&self) -> bool {
        self.iter().any(|r| r.pending.is_some())
    }
}

pub(crate) fn source_name(source: Source) -> &'static str {
    match source {
        Source::Bundled => "bundled",
        Source::User => "user",
        Source::Manifest => "manifest",
    }
}

pub(crate) fn refusal_state(refusal: Refusal) -> (State, String) {
    match refusal {
        Refusal::Incompatible(m) => (State::Incompatible, m),
        Refusal::Failed(m) => (State::Failed, m),
    }
}

/// Reads metadata and lists the plugin as [`lifecycle::listed`] decides
/// from it, the blocklist, safe mode and the disabled list.
pub(crate) fn evaluate(
    record: &mut Record,
    scan: &ScanCache,
    options: &Options,
    disabled: &[String],
    blocklist: &[BlockEntry],
    quarantined: &serde_json::Map<String, Value>,
) {
    let library = record
        .found
        .library
        .clone()
        .expect("found plugins without a problem have a library");
    // Discovery's view of the file counts once: a later evaluation (a copy
    // promoted when the plugin it shadowed is uninstalled) looks again.
    let seen = record.found.identity.take();
    let (meta, checked) = match scan.metadata(&library, seen.as_ref()) {
        Ok(meta) => {
            let checked = metadata::check_compatible(&meta);
            (Some(meta), checked)
        }
        Err(refusal) => (None, Err(refusal)),
    };
    let id = &record.found.id;
    let blocked = meta.as_ref().and_then(|meta| {
        let entry = blocklist.iter().find(|b| b.blocks(id, &meta.version))?;
        Some(entry.versions.as_ref().map(|r| r.to_string()))
    });
    let (state, why) = lifecycle::listed(&lifecycle::Listing {
        metadata: checked.as_ref().map(|_| ()),
        blocked,
        safe_mode: options.safe_mode,
        bundled: record.found.source == Source::Bundled,
        disabled: disabled.contains(id),
        quarantined: quarantined
            .get(id)
            .and_then(Value::as_str)
            .map(str::to_owned),
    });
    // Listed with its metadata (when it could be read), refused with the reason.
    record.meta = meta;
    match why {
        Some(why) => record.fail(state, why),
        None => record.state = state,
    }
}

/// Puts the overlays of the plugins about to be enabled under the config, then
/// disables the plugins those overlays disable.
pub(crate) fn apply_overlays(
    config: &ConfigStore,
    records: &mut Records,
) -> Result<(), ConfigError> {
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
    for r in records.iter_mut() {
        r.state = lifecycle::overlaid(r.state, disabled.contains(&r.found.id));
    }
    Ok(())
}

impl crate::plugins::manager::PluginManager {
    /// Every discovered plugin, in discovery order (shadowed copies included).
    pub fn plugins(&self) -> Vec<PluginInfo> {
        let records = self.shared.records.read().unwrap();
        records
            .listing()
            .into_iter()
            .map(|r| self.info(r))
            .collect()
    }

    /// How many of [`plugins`](Self::plugins) are in `state`, without
    /// describing each.
    pub fn count_in(&self, state: State) -> usize {
        let records = self.shared.records.read().unwrap();
        records.all().filter(|r| r.state == state).count()
    }

    /// One plugin by identifier (the one that provides it when copies exist).
    pub fn plugin(&self, id: &str) -> Option<PluginInfo> {
        self.with(id, |r| self.info(r))
    }

    /// What a record says, with where it runs and how often it crashed.
    fn info(&self, record: &Record) -> PluginInfo {
        let mut info = record.info();
        info.mode = crate::plugins::placement::mode(&self.shared.config, &info.id, info.source);
        info.crashes = self.shared.crashes.of(&info.id);
        info.crashed_host = crate::config::host_settings::CRASHED_HOST
            .for_plugin(&self.shared.config, &info.id)
            .and_then(|v| v.as_str().map(str::to_owned));
        info
    }
}

impl crate::plugins::manager::Shared {
    /// The records, to change them: counts a new generation.
    pub(crate) fn records_mut(&self) -> std::sync::RwLockWriteGuard<'_, Records> {
        let records = self.records.write().unwrap();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.events.plugins_changed();
        records
    }
}
