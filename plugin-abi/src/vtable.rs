//! The binary interface between the Plinth host and a plugin library: the
//! root module a library exports, and the two vtables calls cross.
//!
//! # How the interface grows
//!
//! The typed layout is almost frozen: the root module [`PluginModule`] is an
//! abi_stable *prefix type* that only ever gains fields at its end, and every
//! other struct here never changes. All calls go through one entry point per
//! direction ([`PluginVTable::call`], [`HostVTable::call`]) that takes a method
//! or service number and JSON bytes. New methods, services and mixins are new
//! numbers; a side that does not know a number answers
//! [`CallOutcome::Unsupported`] and the caller falls back to the documented
//! default.
//!
//! | ABI | what it added |
//! |-----|---------------|
//! | 1.0 | root module with `metadata` and `instantiate`; every mixin of the seed |
//! | 1.1 | `PluginModule::embedded_file`: templates and assets compiled into the library |
//! | 1.2 | new method and service numbers only: host services 20–24, `CallGcodeHook`, `OnEvents` (events in batches) |

use std::ffi::c_void;

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

/// The root module every plugin library exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(option))]
pub struct PluginModule {
    /// ABI 1.0: the metadata JSON (the same bytes as the metadata section).
    pub metadata: extern "C" fn() -> RSlice<'static, u8>,
    /// ABI 1.0: creates the plugin object, handing it the host handle.
    #[sabi(last_prefix_field)]
    pub instantiate: extern "C" fn(host: HostHandle) -> RResult<PluginInstance, RString>,
    /// ABI 1.1: a file compiled into the library (`templates/…`, `static/…`).
    pub embedded_file: extern "C" fn(path: RStr<'_>) -> ROption<RSlice<'static, u8>>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "plinth_plugin";
    const NAME: &'static str = "plinth plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The outcome of any call across the boundary, in either direction.
#[repr(u8)]
#[derive(StableAbi, Debug)]
pub enum CallOutcome {
    /// Success; the bytes are the encoded result (empty for "nothing").
    Ok(RVec<u8>),
    /// The callee does not know this method or service number.
    Unsupported,
    /// The callee failed; the message says why.
    Error(RString),
    /// The callee panicked; the message is the panic's.
    Panic(RString),
}

/// A plugin object living inside the plugin library.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginInstance {
    /// Opaque pointer to the plugin's state; only its own vtable uses it.
    pub this: *const c_void,
    /// The object's entry points.
    pub vtable: &'static PluginVTable,
}

/// The entry points of a plugin object. Frozen: grows through method numbers.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginVTable {
    /// Calls method number `method` with encoded arguments.
    pub call: extern "C" fn(this: *const c_void, method: u32, args: RSlice<'_, u8>) -> CallOutcome,
    /// Destroys the plugin object. Called once, after the last call.
    pub drop: extern "C" fn(this: *const c_void) -> CallOutcome,
}

/// The host as a plugin sees it. Reference counted through `retain`/`release`.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostHandle {
    /// Opaque pointer to the host's context for this plugin.
    pub ctx: *const c_void,
    /// The host's entry points.
    pub vtable: &'static HostVTable,
}

/// Log levels as they cross the boundary.
pub mod level {
    /// An error.
    pub const ERROR: u8 = 1;
    /// A warning.
    pub const WARN: u8 = 2;
    /// Information.
    pub const INFO: u8 = 3;
    /// Debugging detail.
    pub const DEBUG: u8 = 4;
    /// Tracing detail.
    pub const TRACE: u8 = 5;
}

/// The services of the host. Frozen: grows through service numbers.
#[repr(C)]
#[derive(StableAbi)]
pub struct HostVTable {
    /// Takes a reference to the context (a plugin keeps its handle).
    pub retain: extern "C" fn(ctx: *const c_void),
    /// Gives a reference back.
    pub release: extern "C" fn(ctx: *const c_void),
    /// Writes a line into the host's log under the plugin's identifier.
    pub log: extern "C" fn(ctx: *const c_void, level: u8, message: RStr<'_>),
    /// Calls service number `service` with encoded arguments.
    pub call: extern "C" fn(ctx: *const c_void, service: u32, args: RSlice<'_, u8>) -> CallOutcome,
}
