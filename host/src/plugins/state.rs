//! What the plugin manager knows of each plugin: its state, how it is
//! listed, and how discovery, metadata and the config decide the state
//! before any plugin code runs.

use std::path::PathBuf;

use plinth_abi::{Metadata, Mixin, Registrations, Value};
use serde::Serialize;

use crate::config::{BlockEntry, ConfigError, ConfigStore};
use crate::plugins::discover::{Found, Source};
use crate::plugins::metadata::{self, Refusal};
use crate::plugins::object::PluginObject;
use crate::plugins::services::PluginContext;
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
}

pub(crate) struct Record {
    pub(crate) found: Found,
    pub(crate) meta: Option<Metadata>,
    pub(crate) state: State,
    pub(crate) error: Option<String>,
    pub(crate) module: Option<std::sync::Arc<dyn crate::plugins::transport::Library>>,
    pub(crate) object: Option<Arc<PluginObject>>,
    pub(crate) context: Option<Arc<PluginContext>>,
    pub(crate) registrations: Registrations,
    pub(crate) pending: Option<Pending>,
}

impl Record {
    pub(crate) fn has_mixin(&self, mixin: Mixin) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| m.mixins.iter().any(|x| x == mixin.name()))
    }

    pub(crate) fn restart_needing(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| {
            m.restart_needing
                || m.overlay.is_some()
                || m.mixins
                    .iter()
                    .any(|x| Mixin::from_name(x).is_some_and(Mixin::restart_needing))
        })
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
        }
    }
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

/// Reads metadata and applies compatibility, blocklist, safe mode and the disabled list.
pub(crate) fn evaluate(
    record: &mut Record,
    options: &Options,
    disabled: &[String],
    blocklist: &[BlockEntry],
) {
    let library = record
        .found
        .library
        .clone()
        .expect("found plugins without a problem have a library");
    let checked = metadata::read(&library).map(|meta| {
        let compatible = metadata::check_compatible(&meta);
        (meta, compatible)
    });
    let meta = match checked {
        Ok((meta, Ok(()))) => meta,
        Ok((meta, Err(refusal))) => {
            // Listed with its metadata, refused with the reason.
            record.meta = Some(meta);
            let (state, msg) = refusal_state(refusal);
            record.fail(state, msg);
            return;
        }
        Err(refusal) => {
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
pub(crate) fn apply_overlays(
    config: &ConfigStore,
    records: &mut [Record],
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
    for r in records.iter_mut().filter(|r| r.state == State::Enabled) {
        if disabled.contains(&r.found.id) {
            r.state = State::Disabled;
        }
    }
    Ok(())
}
