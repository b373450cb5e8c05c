//! The plugin manager's errors: why a command about a plugin is refused, and
//! why a plugin did not load or come to life (the reason it is listed as
//! failed). Each names the plugin and what went wrong.

use std::path::PathBuf;

use plinth_abi::Value;

use crate::config::ConfigError;
use crate::plugins::lifecycle::Refused;
use crate::plugins::object::CallError;
use crate::plugins::state::State;

/// No plugin has this identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no plugin `{0}`")]
pub struct NoPlugin(pub String);

/// An error of a plugin-manager command.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// No plugin has this identifier.
    #[error(transparent)]
    NotFound(#[from] NoPlugin),
    /// The lifecycle refuses the request (see [`Refused`]).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The command needs the plugin's code, which does not run in its state.
    #[error("`{id}` is {}; its code does not run", .state.as_str())]
    NotRunning { id: String, state: State },
    /// Its library could not be loaded.
    #[error("`{id}` does not load: {error}")]
    DoesNotLoad { id: String, error: Box<EnableError> },
    /// Enabling it failed before anything was saved.
    #[error("cannot enable `{id}`: {error}")]
    CannotEnable { id: String, error: Box<EnableError> },
    /// Creating its object failed.
    #[error("`{id}`: {error}")]
    NotCreated { id: String, error: Box<EnableError> },
    /// Its files could not be removed.
    #[error("cannot remove {}: {error}", .path.display())]
    Remove {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The config could not be read or saved.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Plugins cannot run isolated on this system.
    #[error("`{0}` cannot run isolated: this system has no isolation (Unix only)")]
    NoIsolation(String),
}

/// Why a plugin did not load or come to life: what its listing shows as the
/// reason it failed.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    /// No plugin has this identifier.
    #[error(transparent)]
    NotFound(#[from] NoPlugin),
    /// It has no library, or its library was refused (it is listed as failed
    /// or incompatible, with this reason).
    #[error("{0}")]
    NotLoaded(String),
    /// Its `instantiate` failed.
    #[error("{0}")]
    Instantiate(CallError),
    /// A lifecycle call failed: the method, and what the plugin said.
    #[error("{method}: {error}")]
    Call {
        method: &'static str,
        error: CallError,
    },
    /// `get_settings_defaults` returned something other than a mapping.
    #[error("get_settings_defaults must return a mapping, not {0}")]
    DefaultsNotAMapping(Value),
    /// Its settings could not be stored (`what`: the step).
    #[error("{what}: {error}")]
    Settings {
        what: &'static str,
        error: Box<ConfigError>,
    },
}

impl EnableError {
    /// A closure for `map_err` that labels a failed call with `method`.
    pub(crate) fn call(method: &'static str) -> impl FnOnce(CallError) -> Self {
        move |error| EnableError::Call { method, error }
    }
}

/// Why a helper call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    /// No plugin has this identifier.
    #[error(transparent)]
    NoPlugin(#[from] NoPlugin),
    /// The plugin is not enabled.
    #[error("plugin `{plugin}` is not enabled (it is {})", .state.as_str())]
    NotEnabled { plugin: String, state: State },
    /// The plugin registered no helper of this name.
    #[error("plugin `{plugin}` has no helper `{helper}`")]
    NoHelper { plugin: String, helper: String },
    /// The plugin is enabled but its object does not run (it is stopping).
    #[error("plugin `{plugin}` is not running")]
    NotRunning { plugin: String },
    /// The helper failed or panicked.
    #[error("helper `{plugin}.{helper}` {}", describe(.error))]
    Failed {
        plugin: String,
        helper: String,
        error: CallError,
    },
}

fn describe(error: &CallError) -> String {
    match error {
        CallError::Panicked(m) => format!("panicked: {m}"),
        other => format!("failed: {other}"),
    }
}

/// Why a slicer's progress report was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProgressError {
    /// The plugin runs no slicing job of this number.
    #[error("`{plugin}` runs no slicing job {job}")]
    NoJob { plugin: String, job: u64 },
    /// The fraction is not a number.
    #[error("progress {0} is not a number from 0 to 1")]
    NotANumber(f64),
}
