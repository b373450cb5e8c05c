//! # plinth-abi: the contract between the Plinth host and its plugins
//!
//! Everything both sides must agree on, and nothing else (no I/O): what a
//! second implementation (in another language, or a plugin in another
//! process) would read.
//!
//! - [`vtable`]: the binary interface. A plugin library exports a root module
//!   ([`PluginModule`](vtable::PluginModule)); plugin objects and the host are
//!   reached through two frozen vtables, each with one `call` entry point
//!   taking a number and encoded bytes and returning a
//!   [`CallOutcome`](vtable::CallOutcome).
//! - [`methods`]: every number: plugin methods (by [`Mixin`]) and host
//!   services, with their argument and result types.
//! - [`wire`]: how arguments and results are encoded (JSON; raw bytes where
//!   marked).
//! - [`types`]: the data types that cross (requests, responses, slicing jobs, …).
//! - [`metadata`]: what a library carries in its own section, readable
//!   without running it.
//! - [`events`]: the events the host fires, with their payloads.
//! - [`hooks`]: the hooks the host calls, with their arguments and answers.
//! - [`printer`]: what a plugin asks of the printer.
//! - [`files`]: what a plugin asks of the file and slicing managers.
//!
//! # Versions
//! The ABI version is this crate's version: [`ABI_MAJOR`] and [`ABI_MINOR`]
//! are its major and minor. A host loads plugins of its major; a number
//! (method, service, mixin) or root-module field added is a minor step, and
//! a side that does not know a number answers
//! [`CallOutcome::Unsupported`](vtable::CallOutcome::Unsupported).
//!
//! | ABI | what it added |
//! |-----|---------------|
//! | 1.0 | root module with `metadata` and `instantiate`; every mixin of the seed |
//! | 1.1 | `PluginModule::embedded_file`: templates and assets compiled into the library |
//! | 1.2 | host services `Printer`, `PluginInfos`, `FindUser`, `Files`, `Slicing`, `Connectivity` (19–24) with [`Refusal`], `SettingsSetForced`, `SettingsGlobalSet`, `SettingsGlobalRemove`, `BaseFolderPath` and `Implementations` (25–29); plugin method `CallGcodeHook`; the hooks the host calls ([`hooks`]) |
#![deny(missing_docs)]

pub mod events;
pub mod files;
pub mod hooks;
pub mod metadata;
pub mod methods;
pub mod payloads;
pub mod printer;
pub mod types;
pub mod vtable;
pub mod wire;

pub use metadata::Metadata;
pub use methods::{is_wizard_ignored, Mixin};
pub use serde_json::{json, Value};
pub use types::*;
pub use wire::{Codec, Method};

/// Major version of the Plinth ABI (this crate's major): a host loads only
/// plugins of its major.
pub const ABI_MAJOR: u32 = number(env!("CARGO_PKG_VERSION_MAJOR"));
/// Minor version of the Plinth ABI (this crate's minor): the number of
/// compatible additions.
pub const ABI_MINOR: u32 = number(env!("CARGO_PKG_VERSION_MINOR"));
/// `[major,minor]`: the ABI version as the metadata writes it.
pub const ABI_JSON: &str = concat!(
    "[",
    env!("CARGO_PKG_VERSION_MAJOR"),
    ",",
    env!("CARGO_PKG_VERSION_MINOR"),
    "]"
);

/// Name of the section of the library file that holds the plugin's metadata
/// (JSON), so the host can read it without running any of the plugin's code.
#[cfg(all(not(target_vendor = "apple"), not(windows)))]
pub const METADATA_SECTION: &str = ".plinth_meta";
/// Name of the section of the library file that holds the plugin's metadata.
#[cfg(target_vendor = "apple")]
pub const METADATA_SECTION: &str = "__plinth_meta";
/// Name of the section of the library file that holds the plugin's metadata.
#[cfg(windows)]
pub const METADATA_SECTION: &str = ".plinthm";

const fn number(digits: &str) -> u32 {
    let bytes = digits.as_bytes();
    let mut value = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "a version number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_abi_version_is_the_crates() {
        assert_eq!(
            format!("{ABI_MAJOR}.{ABI_MINOR}"),
            env!("CARGO_PKG_VERSION").rsplit_once('.').unwrap().0
        );
        assert_eq!(ABI_JSON, format!("[{ABI_MAJOR},{ABI_MINOR}]"));
    }
}
