//! Where each plugin runs: in the host's process, or isolated in a process
//! of its own. A plugin that crashed the host in process
//! (`isolation.crashed_host`) runs isolated from then on; otherwise
//! `isolation.plugins.<id>` decides, else `isolation.default`: `auto` runs
//! plugins from the user folder and from manifests isolated and bundled
//! plugins in process.

use serde::Serialize;
use serde_json::Value;

use crate::config::host_settings::{
    CRASHED_HOST, ISOLATION_DEFAULT, ISOLATION_PLUGINS, MEMORY_LIMIT, MEMORY_LIMITS,
};
use crate::config::ConfigStore;
use crate::plugins::discover::Source;

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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn config(yaml: &str) -> (tempfile::TempDir, std::sync::Arc<ConfigStore>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        let store = ConfigStore::open(&path).unwrap();
        (dir, store)
    }

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
