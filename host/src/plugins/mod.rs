//! Plugins, along their data path: [`discover`] finds them in the three
//! sources, [`metadata`] reads what each one is without running it (remembered
//! per unchanged file in the [`scan_cache`]), [`state`]
//! decides what becomes of it (enabled, disabled, blocklisted, …), [`loader`]
//! maps its library in, and the [`manager`] drives its lifecycle (enable,
//! disable, uninstall, start-up, shutdown) through its [`object`]. Calls go in
//! through [`dispatch`] (mixin implementations in [`sorting`] order, hooks,
//! helpers, the [`events`] bus) and come back out through its [`services`].

pub mod archive;
pub mod contributions;
pub mod crashes;
pub mod discover;
pub mod dispatch;
pub mod error;
pub mod events;
pub(crate) mod ffi;
pub mod install;
#[cfg(unix)]
pub mod isolated;
pub mod lifecycle;
pub mod loader;
pub mod manager;
pub mod metadata;
pub mod object;
pub mod placement;
pub(crate) mod scan_cache;
pub mod services;
pub mod sorting;
pub mod startup;
pub mod state;
pub mod transport;
