//! Plinth: a plugin host for native plugins with OctoPrint's plugin semantics.
//!
//! The data path reads top to bottom: [`discover`] finds plugins,
//! [`metadata`] reads what they are without running them, [`loader`] maps
//! them in, [`manager`] enables them and drives their lifecycle, and
//! [`serve`] runs the host.

pub mod cli;
pub mod config;
pub mod discover;
pub mod events;
pub mod instance;
pub mod loader;
pub mod manager;
pub mod metadata;
pub mod paths;
pub mod plugin_settings;
pub mod restrict;
pub mod serve;
pub mod services;
pub mod sorting;
pub mod values;

pub use manager::{Options, PluginInfo, PluginManager, State, Toggle};
pub use paths::Paths;
