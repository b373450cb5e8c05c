//! Plinth: a plugin host for native plugins with OctoPrint's plugin semantics.
//!
//! The data path reads top to bottom: [`discover`] finds plugins,
//! [`metadata`] reads what they are without running them ([`registry`] turns
//! that and the [`config`] into a state), [`loader`] maps them in,
//! [`manager`] enables them and drives their lifecycle, [`routing`] carries
//! calls to enabled plugins (with [`services`] the other way), and [`serve`]
//! runs the host. Settings: [`config`] stores them, [`plugin_settings`] is one
//! plugin's view, [`restrict`] filters them for a caller.

pub mod cli;
pub mod config;
pub mod discover;
pub mod environment;
pub mod events;
pub mod host_settings;
pub mod http;
pub mod instance;
pub mod jobs;
pub mod loader;
pub mod manager;
pub mod metadata;
pub mod paths;
pub mod plugin_settings;
pub mod registry;
pub mod restrict;
pub mod routing;
pub mod serve;
pub mod services;
pub mod sorting;
pub mod uploads;
pub mod users;
pub mod values;
pub mod web;

pub use manager::{Options, PluginInfo, PluginManager, State, Toggle};
pub use paths::Paths;
