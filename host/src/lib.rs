//! Plinth: a plugin host for native plugins with OctoPrint's plugin semantics.
//!
//! # The nouns
//! - A **plugin** is a shared library (or a folder holding one) that exports
//!   a Plinth root module; its **metadata** (name, version, mixins) is read
//!   from the library file without running it.
//! - A **source** is where plugins are found: the bundled folder, the user's
//!   `plugins` folder, registered **manifests**.
//! - A plugin's **state** (enabled, disabled, failed, incompatible,
//!   blocklisted, safe-mode victim, shadowed, quarantined) is decided from its
//!   metadata and the **config** before any of its code runs.
//! - A plugin runs **in process** or **isolated** (in a process of its own,
//!   reached through the same messages); an isolated plugin that crashes,
//!   hangs or grows is a **fault**: restarted, or **quarantined**.
//! - The **plugin manager** loads, enables and disables plugins; an enabled
//!   plugin is a plugin **object**, called through the ABI with (method
//!   number, bytes) messages, and calling back through its **services**.
//! - A **mixin** is a capability a plugin implements (Startup, Settings,
//!   SimpleApi, …), as in OctoPrint.
//! - The **server** serves the REST API, the plugins' routes, the push
//!   channel and the web page; **jobs** are slicing and printing on the
//!   virtual printer; **users** log in to the server.
//!
//! # The folders, along the data path
//! [`plugins`] (discover → metadata → state → load → lifecycle → dispatch),
//! [`config`] (the store, host settings, plugin settings, restriction),
//! [`server`] (run, HTTP, web page), [`jobs`] (slicing, printer, uploads),
//! [`users`]; [`cli`] is the command line, [`paths`] where things are.

pub mod cli;
pub(crate) mod config;
pub(crate) mod disk;
pub(crate) mod jobs;
pub(crate) mod paths;
pub(crate) mod plugins;
pub(crate) mod server;
pub(crate) mod users;

// The nouns tests, benches and the binary use.
pub use config::plugin_settings::PluginSettings;
pub use config::restrict;
pub use config::{key_path, ConfigError, ConfigStore};
pub use jobs::printer::PrinterState;
pub use jobs::{firmware, Jobs};
pub use paths::{Paths, LIB_EXT, LIB_PREFIX};
pub use plugins::discover::Source;
pub use plugins::error::{EnableError, HelperError, ManagerError, NoPlugin, ProgressError};
#[cfg(unix)]
pub use plugins::isolated::{Isolated, Limits};
pub use plugins::manager::{LogLine, LogLines, Options, PluginInfo, PluginManager, State, Toggle};
pub use plugins::object::PluginObject;
pub use plugins::placement::Mode;
pub use plugins::services::{HostServices, PluginContext, ServerServices};
pub use plugins::sorting::Context as SortingContext;
pub use plugins::transport::{Cause, Fault};
pub use plugins::{loader, metadata};
pub use server::http::blueprint::match_rule as match_blueprint_rule;
pub use users::Users;
