//! Where each plugin runs: in the host's process, or isolated in a process
//! of its own. A plugin that crashed the host in process
//! (`isolation.crashed_host`) runs isolated from then on; otherwise
//! `isolation.plugins.<id>` decides, else `isolation.default`: `auto` runs
//! plugins from the user folder and from manifests isolated and bundled
//! plugins in process. The manager loads each plugin there
//! ([`PluginManager::load_library`]) and moves it when a person chooses
//! ([`PluginManager::set_mode`]).

use serde::Serialize;
use serde_json::Value;

use crate::config::host_settings::{
    CRASHED_HOST, ISOLATION_DEFAULT, ISOLATION_PLUGINS, MEMORY_LIMIT, MEMORY_LIMITS,
};
use crate::config::{key_path, ConfigStore};
use crate::plugins::discover::Source;
use crate::plugins::manager::{drop_when_unique, not_found, ManagerError, PluginManager, State};
#[cfg(unix)]
use crate::plugins::services::HostServices;
use crate::plugins::state::Stage;
use crate::plugins::transport::Library;
use crate::plugins::{loader, metadata};
use std::sync::{Arc, Weak};

/// Where a plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In a process of its own.
    Isolated,
    /// In the host's process.
    InProcess,
}

impl Mode {
    /// As the config writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Isolated => "isolated",
            Mode::InProcess => "in_process",
        }
    }

    /// From the config's word.
    pub fn parse(word: &str) -> Option<Mode> {
        match word {
            "isolated" => Some(Mode::Isolated),
            "in_process" => Some(Mode::InProcess),
            _ => None,
        }
    }
}

/// The answer to a change of where a plugin runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModeChange {
    pub id: String,
    pub mode: Mode,
    /// It runs there only from the next start (a restart-needing plugin
    /// that runs, or a host that has not started).
    pub needs_restart: bool,
}

/// Whether this build can run plugins isolated.
pub const ISOLATION_AVAILABLE: bool = cfg!(unix);

/// Where plugin `id` from `source` runs.
pub fn mode(config: &ConfigStore, id: &str, source: Source) -> Mode {
    if !ISOLATION_AVAILABLE {
        return Mode::InProcess;
    }
    if CRASHED_HOST.for_plugin(config, id).is_some() {
        return Mode::Isolated;
    }
    if let Some(mode) = ISOLATION_PLUGINS
        .for_plugin(config, id)
        .as_ref()
        .and_then(Value::as_str)
        .and_then(Mode::parse)
    {
        return mode;
    }
    match ISOLATION_DEFAULT.get(config).as_str() {
        "isolated" => Mode::Isolated,
        "in_process" => Mode::InProcess,
        _ if source == Source::Bundled => Mode::InProcess,
        _ => Mode::Isolated,
    }
}

/// The memory plugin `id` may use when isolated, in MiB.
pub fn memory_limit(config: &ConfigStore, id: &str) -> u64 {
    MEMORY_LIMITS
        .for_plugin(config, id)
        .and_then(|v| v.as_u64())
        .unwrap_or_else(|| MEMORY_LIMIT.get(config))
}

impl PluginManager {
    /// Where plugin `id` runs (or would run, if it is not running).
    pub fn mode(&self, id: &str) -> Option<Mode> {
        let source = self.with(id, |r| r.found.source)?;
        Some(mode(&self.shared.config, id, source))
    }

    /// Chooses where plugin `id` runs (`isolation.plugins.<id>`; choosing
    /// in process clears a record that it crashed the host). A running
    /// plugin that needs no restart moves at once: it is disabled, its
    /// object dropped, and it is loaded and enabled again where asked.
    pub fn set_mode(&self, id: &str, mode: Mode) -> Result<ModeChange, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let (running, restart_needing, loaded_as) = self
            .with(id, |r| {
                (
                    r.is_running(),
                    r.restart_needing(),
                    r.library().map(|l| l.isolated()),
                )
            })
            .ok_or_else(|| not_found(id))?;
        if mode == Mode::Isolated && !ISOLATION_AVAILABLE {
            return Err(ManagerError::NoIsolation(id.to_owned()));
        }
        let config = &self.shared.config;
        let mut key = key_path(ISOLATION_PLUGINS.path);
        key.push(id.to_owned());
        config.set(key, Value::String(mode.as_str().to_owned()))?;
        if mode == Mode::InProcess {
            let mut crashed = key_path(CRASHED_HOST.path);
            crashed.push(id.to_owned());
            if config.effective(&crashed).is_some() {
                config.remove(crashed)?;
            }
        }
        config.save()?;
        let elsewhere = loaded_as.is_some_and(|isolated| isolated != (mode == Mode::Isolated));
        let moves = running && elsewhere;
        let now = moves && self.started() && !restart_needing;
        if elsewhere && !running {
            // Loaded where it no longer runs: loaded again when next enabled.
            self.unload_code(id);
        }
        if now {
            self.disable(id);
            self.unload_code(id);
            self.with_mut(id, |r| r.state = State::Enabled);
            if self.load(id).is_ok() && self.enable(id) {
                self.start_late(id);
            }
            tracing::info!(plugin = %id, "now runs {}", mode.as_str());
        }
        Ok(ModeChange {
            id: id.to_owned(),
            mode,
            needs_restart: moves && !now,
        })
    }

    /// Maps the library in, or starts its process when the plugin runs isolated.
    pub(crate) fn load_library(
        &self,
        id: &str,
        path: &std::path::Path,
        abi_minor: u32,
    ) -> Result<Arc<dyn Library>, metadata::Refusal> {
        #[cfg(unix)]
        if self.shared.options.isolate_all || self.mode(id) == Some(Mode::Isolated) {
            let limits = crate::plugins::isolated::Limits {
                budget: crate::config::host_settings::PLUGIN_CALL_TIMEOUT
                    .duration(&self.shared.config),
                memory_mib: memory_limit(&self.shared.config, id),
            };
            tracing::debug!(plugin = %id, "runs isolated");
            return crate::plugins::isolated::Isolated::load(
                id,
                path,
                limits,
                self.shared.me.clone() as Weak<dyn HostServices>,
                !self.shared.options.isolate_all,
            );
        }
        // A library that brings the host down while it loads is named at the next start.
        #[cfg(unix)]
        let shown = path.to_string_lossy();
        #[cfg(unix)]
        let _in_flight = crate::plugins::ffi::crash::InFlight::enter(
            crate::plugins::ffi::crash::plugin_id(id),
            crate::plugins::isolated::frame::control::LOAD,
            shown.as_bytes(),
        );
        let check = match self.shared.scan.layout_checked(path) {
            Some(identity) => loader::LayoutCheck::PassedBefore(identity),
            None => loader::LayoutCheck::Run,
        };
        let ran = check == loader::LayoutCheck::Run;
        let library = loader::load(path, abi_minor, check)?;
        if ran {
            self.shared.scan.remember_layout_checked(path);
        }
        Ok(library)
    }

    /// Drops the plugin's object and forgets its library (it is loaded
    /// again, where it now runs, when next enabled).
    fn unload_code(&self, id: &str) {
        let object = self.with_mut(id, |r| {
            let taken = r.take_object();
            r.stage = Stage::Listed;
            taken
        });
        if let Some(Some((object, _context))) = object {
            drop_when_unique(object);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    use crate::config::test_store as config;

    #[test]
    fn auto_isolates_what_the_person_dropped_in_and_the_config_overrides() {
        let (_d, c) = config("");
        assert_eq!(mode(&c, "a", Source::User), Mode::Isolated);
        assert_eq!(mode(&c, "a", Source::Manifest), Mode::Isolated);
        assert_eq!(mode(&c, "a", Source::Bundled), Mode::InProcess);
        let (_d, c) = config(
            "isolation:\n  default: in_process\n  plugins:\n    b: isolated\n  crashed_host:\n    c: SIGSEGV in on_event(Startup)\n",
        );
        assert_eq!(mode(&c, "a", Source::User), Mode::InProcess);
        assert_eq!(mode(&c, "b", Source::Bundled), Mode::Isolated);
        assert_eq!(mode(&c, "c", Source::Bundled), Mode::Isolated);
        let (_d, c) = config("isolation:\n  default: sideways\n  plugins:\n    b: nowhere\n");
        assert_eq!(
            mode(&c, "b", Source::User),
            Mode::Isolated,
            "bad values read as the defaults"
        );
    }

    #[test]
    fn memory_limits_per_plugin_override_the_default() {
        let (_d, c) = config("isolation:\n  memory_limit: 256\n  memory_limits:\n    big: 2048\n");
        assert_eq!(memory_limit(&c, "big"), 2048);
        assert_eq!(memory_limit(&c, "small"), 256);
        let (_d, c) = config("");
        assert_eq!(memory_limit(&c, "x"), 1024);
    }
}
