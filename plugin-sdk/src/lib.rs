//! # plinth-sdk: write native plugins for Plinth
//!
//! Plinth is a plugin host that loads plugins from shared libraries and gives
//! them the plugin system of OctoPrint: the same mixins, the same lifecycle,
//! the same ordering rules. A plugin is a `cdylib` crate that depends on this
//! crate, implements [`Plugin`] plus one trait per mixin it offers, and
//! exports itself with [`export_plugin!`]. It never touches `unsafe` code or
//! the ABI: panics in any callback are caught and reported to the host.
//!
//! ```
//! use plinth_sdk::prelude::*;
//!
//! pub struct Hello { host: Host }
//!
//! impl Plugin for Hello {
//!     fn new(host: Host) -> Self { Hello { host } }
//!     fn host(&self) -> &Host { &self.host }
//! }
//!
//! impl StartupPlugin for Hello {
//!     fn on_after_startup(&self) {
//!         self.host.logger().info("Hello World!");
//!     }
//! }
//!
//! plinth_sdk::export_plugin! {
//!     plugin: Hello,
//!     name: "Hello World",
//!     mixins: [Startup],
//! }
//! ```
//!
//! ## How OctoPrint's Python API maps to Rust
//! - Mixin classes are traits ([`StartupPlugin`], [`SettingsPlugin`], …); every
//!   method has the default the OctoPrint documentation describes.
//! - Injected properties (`_identifier`, `_logger`, `_data_folder`, …) live on
//!   the [`Host`] handle passed to [`Plugin::new`].
//! - `__plugin_hooks__` and `__plugin_helpers__` are registered in
//!   [`Plugin::register`]; hooks and helpers take and return JSON, and the
//!   hooks the host calls have typed helpers ([`hooks`]).
//! - Flask requests and responses are [`Request`] and [`Response`]; a
//!   Blueprint's `@route` is [`BlueprintRoutes::route`].
//! - `RestartNeedingPlugin` is `restart_needing: true` in [`export_plugin!`];
//!   Blueprint, Asset and EnvironmentDetection plugins are restart-needing,
//!   Template and Wizard plugins reload-needing, as in OctoPrint.
//! - Plugins must be built with `panic = "unwind"` (Cargo's default); the host
//!   refuses a plugin built with `panic = "abort"`.
//!
//! ## Building a plugin for release
//! Each plugin library carries its own copy of the Rust standard library and
//! of this SDK. Link it whole, as `plinth plugins new` sets its crate up:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]   # only: Cargo skips `lto` for a crate that is also an rlib
//!
//! [profile.release]
//! lto = true
//! codegen-units = 1
//! ```
//!
//! Link-time optimisation leaves out what the plugin never calls: the library
//! is smaller, has fewer relocations for the loader to apply and less cold
//! code to run when the host loads and enables it. Cargo reads profiles only
//! from the workspace root's `Cargo.toml`, so a plugin inside a workspace
//! sets it there. With a thousand copies of a small event handler in paired
//! starts on a 2-core machine, Plinth started in about 94 ms instead of 110
//! and held half the memory (`cargo bench -p plinth --bench startup -- 1000`
//! builds its plugins so).
//!
//! ## What every plugin is given
//! OctoPrint injects services into every plugin; in Plinth they are on the
//! [`Host`] handle. Each handle's documentation maps its methods name by
//! name; calls that involve files, the printer or users are checked and
//! refused as the REST API's are ([`ServiceError::Refused`] carries a
//! [`Refusal`] with the kind the API answers as a 4xx).
//!
//! | OctoPrint | Plinth |
//! |---|---|
//! | `self._identifier`, `_plugin_name`, `_plugin_version`, `_basefolder` | [`Host::identifier`], [`Host::name`], [`Host::version`], [`Host::base_folder`] |
//! | `self._logger` | [`Host::logger`] |
//! | `self._settings` | [`Host::settings`] ([`Settings`]) |
//! | `self._data_folder`, `get_plugin_data_folder()` | [`Host::data_folder`] |
//! | `self._printer` | [`Host::printer`] ([`Printer`]) |
//! | `self._printer.register_callback(…)` (`PrinterCallback`) | [`hooks::PrinterCallback`] with [`Registry::printer_callback`] |
//! | `self._printer_profile_manager` (`get_all`, `get`, `get_current_or_default`) | [`Printer::get_profiles`], [`Printer::get_profile`], [`Printer::get_current_profile`] |
//! | `self._file_manager` | [`Host::file_manager`] ([`FileManager`]) |
//! | `self._analysis_queue` | [`FileManager::analyse`]; results in the file's metadata and [`events::METADATA_ANALYSIS_FINISHED`] |
//! | `self._slicing_manager` | [`Host::slicing_manager`] ([`SlicingManager`]) |
//! | `self._event_bus.fire(…)` | [`Host::fire_event`] (fired as `plugin_<id>_<name>`); receiving: [`EventHandlerPlugin`] |
//! | `self._plugin_manager.send_plugin_message(…)` | [`Host::send_plugin_message`] |
//! | `self._plugin_manager.get_helpers(…)` | [`Host::call_helper`] |
//! | `self._plugin_manager.get_hooks(…)` | [`Host::call_hook`] |
//! | `self._plugin_manager.get_plugin_info(id)`, `.plugins`, `.enabled_plugins` | [`Host::get_plugin_info`], [`Host::plugins`] ([`PluginSummary`], with `enabled` and `state`) |
//! | `self._plugin_lifecycle_manager.add_callback("loaded"/"enabled"/"disabled"/"unloaded", …)` | the events [`events::PLUGIN_LOADED`], [`events::PLUGIN_ENABLED`], [`events::PLUGIN_DISABLED`], [`events::PLUGIN_UNLOADED`] |
//! | `self._user_manager.find_user(name)`, `user.has_permission(…)` | [`Host::find_user`] ([`UserSummary`]: read only, with plugin permissions) |
//! | `self._connectivity_checker` | [`Host::connectivity_checker`] ([`ConnectivityChecker`]) |
//! | `self._app_session_manager` | none: OctoPrint 1.11 injects `None` there. A request's logged-in user is [`Request::user`]; check it with [`Host::find_user`] |
//! | `octoprint.util.RepeatedTimer`, `ResettableTimer` | [`Host::repeated_timer`], [`Host::resettable_timer`]: stopped when the plugin is disabled |
//!
//! ## Hooks the host calls
//! Besides the printer's (below), the host calls OctoPrint's
//! `octoprint.filemanager.extension_tree` and `.preprocessor`,
//! `octoprint.access.permissions`, `octoprint.events.register_custom_events`,
//! `octoprint.server.http.bodysize` and `octoprint.cli.commands` (run as
//! `plinth plugins run <id> <command>`); [`hooks`] documents each one's
//! arguments and answer. Handling one of OctoPrint's restart-needing hooks
//! ([`hooks::RESTART_NEEDING`]) makes a plugin restart-needing.
//!
//! ## The printer and the G-code stream
//! The host calls OctoPrint's printer hooks with OctoPrint's arguments,
//! order and answers ([`hooks`] lists them): a `queuing` handler may rewrite,
//! expand or drop a command ([`hooks::GcodeAction`]), a `received` handler
//! may rewrite or drop a line from the printer, and handlers of `sent`,
//! `firmware.info`, `firmware.capabilities`, `action` and the `@commands`
//! are told. A handler's error or panic is logged under the plugin's name
//! and the line goes on unchanged. Events of the printer (`Connected`,
//! `PrinterStateChanged`, `PrintStarted`, `ZChange`, …) are in [`events`]
//! with their payloads.
//!
//! ## In process or isolated
//! The host runs a plugin either in the host's own process or **isolated**, in a
//! process of its own that the host starts (the default for plugins a person
//! installs; see the host's README). The same library works both ways and
//! cannot tell the difference through this API, but a few things follow:
//! - Plugins share no memory: `static` state is the plugin's own, and two
//!   plugins reach each other only through helpers, hooks and events.
//! - Standard input is the process's channel to the host: never read it.
//!   Standard error goes to the host's log under the plugin's identifier.
//! - A call that runs past the host's call budget (`server.plugin_call_timeout`)
//!   ends the process, as does memory past its limit; a crash is counted, the
//!   plugin restarted after a backoff and quarantined after repeated crashes
//!   (the events [`events::PLUGIN_CRASHED`], [`events::PLUGIN_RESTARTED`] and
//!   [`events::PLUGIN_QUARANTINED`] tell other plugins).
//! - Disabling or uninstalling the plugin ends its process and everything it
//!   started: threads and child processes do not outlive
//!   [`Plugin::on_plugin_disabled`] (in process, a thread left running is
//!   refused by the host instead).
//! - A restarted plugin is a new object: [`Plugin::new`] and
//!   [`Plugin::initialize`] run again, state worth keeping belongs in its
//!   settings or data folder.
#![deny(missing_docs)]

mod connectivity;
mod error;
mod export;
mod files;
pub mod hooks;
mod host;
mod mixins;
mod plugin;
mod printer;
mod settings;
mod timers;

// The contract, under the names the SDK's modules use.
use plinth_abi::{methods, printer as printer_types, vtable as abi, wire};
mod types {
    pub use crate::error::{PluginError, PluginResult};
    pub use plinth_abi::types::*;
}

pub use connectivity::ConnectivityChecker;
pub use error::{PluginError, PluginResult, ServiceError};
pub use files::{FileManager, SlicingManager};
pub use host::{Host, HostError, Logger};
pub use mixins::{
    AssetPlugin, BlueprintPlugin, BlueprintRoutes, EnvironmentDetectionPlugin, ErrorHandler,
    EventHandlerPlugin, Payload, Preprocessor, Preprocessors, ProgressPlugin, RouteHandler,
    SettingsPlugin, ShutdownPlugin, SimpleApiPlugin, SlicerPlugin, SlicingJob, StartupPlugin,
    TemplatePlugin, UiPlugin, WebcamProviderPlugin, WizardPlugin,
};
pub use plinth_abi::events;
pub use plinth_abi::is_wizard_ignored;
pub use plinth_abi::payloads;
pub use plinth_abi::types::{
    HookReply, PluginSummary, Request, Response, SliceError, SliceRequest, SlicerProperties,
    SlicingProfile, SlicingProgress, UserSummary, Webcam,
};
pub use plinth_abi::types::{Refusal, RefusalKind};
pub use plinth_abi::BaseFolder;
pub use plinth_abi::Mixin;
pub use plugin::{HelperFn, HookHandler, Plugin, Registry};
pub use printer::{Printer, PrinterState};
pub use serde_json::{json, Value};
pub use settings::{to_bool, to_float, to_int, Settings};
pub use timers::{RepeatedTimer, ResettableTimer};

/// Porting an OctoPrint plugin: OctoPrint's plugin API, name by name, and
/// what it is in Plinth.
#[doc = include_str!("../PORTING.md")]
pub mod porting {}

/// The README's "write your first plugin" guide, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeGuide;

/// Everything a plugin usually needs, in one import: the traits, the host
/// handle, the request and response types, `json!` and [`Value`], and
/// `BTreeMap`, which `get_api_commands` and `get_assets` answer with.
pub mod prelude {
    pub use std::collections::BTreeMap;

    pub use crate::{
        events, export_plugin, json, payloads, AssetPlugin, BaseFolder, BlueprintPlugin,
        BlueprintRoutes, EnvironmentDetectionPlugin, EventHandlerPlugin, FileManager, Host, Mixin,
        Payload, Plugin, PluginError, PluginResult, Preprocessors, Printer, ProgressPlugin,
        Registry, Request, Response, ServiceError, Settings, SettingsPlugin, ShutdownPlugin,
        SimpleApiPlugin, SliceError, SliceRequest, SlicerPlugin, SlicerProperties, SlicingJob,
        SlicingManager, SlicingProfile, SlicingProgress, StartupPlugin, TemplatePlugin, UiPlugin,
        Value, Webcam, WebcamProviderPlugin, WizardPlugin,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{
        embedded_file, emit, instantiate, DispatchFn, InitFn, MetaPart, MixinEntry,
    };
    pub use crate::mixins::markers;
    pub use crate::mixins::Dispatch;
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult,
    };
    pub use abi_stable::prefix_type::PrefixTypeTrait;
    pub use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString};
    pub use plinth_abi::vtable::{HostHandle, PluginInstance, PluginModule, PluginModuleRef};
    pub use plinth_abi::ABI_JSON;

    /// The SDK's own version.
    pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

    /// Whether a type implements each mixin trait, as constants: an
    /// inherent constant, there only under the trait's bound, takes
    /// precedence over [`Otherwise`]'s default (for concrete types, as in
    /// `export_plugin!`).
    pub struct Implements<T: ?Sized>(core::marker::PhantomData<T>);

    /// The defaults of [`Implements`]' constants: not implemented.
    pub trait Otherwise {
        /// `T` does not implement `StartupPlugin`.
        const STARTUP: bool = false;
        /// `T` does not implement `ShutdownPlugin`.
        const SHUTDOWN: bool = false;
        /// `T` does not implement `SettingsPlugin`.
        const SETTINGS: bool = false;
        /// `T` does not implement `EventHandlerPlugin`.
        const EVENT_HANDLER: bool = false;
        /// `T` does not implement `SimpleApiPlugin`.
        const SIMPLE_API: bool = false;
        /// `T` does not implement `BlueprintPlugin`.
        const BLUEPRINT: bool = false;
        /// `T` does not implement `AssetPlugin`.
        const ASSET: bool = false;
        /// `T` does not implement `TemplatePlugin`.
        const TEMPLATE: bool = false;
        /// `T` does not implement `WizardPlugin`.
        const WIZARD: bool = false;
        /// `T` does not implement `UiPlugin`.
        const UI: bool = false;
        /// `T` does not implement `ProgressPlugin`.
        const PROGRESS: bool = false;
        /// `T` does not implement `SlicerPlugin`.
        const SLICER: bool = false;
        /// `T` does not implement `WebcamProviderPlugin`.
        const WEBCAM_PROVIDER: bool = false;
        /// `T` does not implement `EnvironmentDetectionPlugin`.
        const ENVIRONMENT_DETECTION: bool = false;
    }

    impl<T: ?Sized> Otherwise for Implements<T> {}

    impl<T: ?Sized + crate::StartupPlugin> Implements<T> {
        /// `T` implements `StartupPlugin`.
        pub const STARTUP: bool = true;
    }
    impl<T: ?Sized + crate::ShutdownPlugin> Implements<T> {
        /// `T` implements `ShutdownPlugin`.
        pub const SHUTDOWN: bool = true;
    }
    impl<T: ?Sized + crate::SettingsPlugin> Implements<T> {
        /// `T` implements `SettingsPlugin`.
        pub const SETTINGS: bool = true;
    }
    impl<T: ?Sized + crate::EventHandlerPlugin> Implements<T> {
        /// `T` implements `EventHandlerPlugin`.
        pub const EVENT_HANDLER: bool = true;
    }
    impl<T: ?Sized + crate::SimpleApiPlugin> Implements<T> {
        /// `T` implements `SimpleApiPlugin`.
        pub const SIMPLE_API: bool = true;
    }
    impl<T: ?Sized + crate::BlueprintPlugin> Implements<T> {
        /// `T` implements `BlueprintPlugin`.
        pub const BLUEPRINT: bool = true;
    }
    impl<T: ?Sized + crate::AssetPlugin> Implements<T> {
        /// `T` implements `AssetPlugin`.
        pub const ASSET: bool = true;
    }
    impl<T: ?Sized + crate::TemplatePlugin> Implements<T> {
        /// `T` implements `TemplatePlugin`.
        pub const TEMPLATE: bool = true;
    }
    impl<T: ?Sized + crate::WizardPlugin> Implements<T> {
        /// `T` implements `WizardPlugin`.
        pub const WIZARD: bool = true;
    }
    impl<T: ?Sized + crate::UiPlugin> Implements<T> {
        /// `T` implements `UiPlugin`.
        pub const UI: bool = true;
    }
    impl<T: ?Sized + crate::ProgressPlugin> Implements<T> {
        /// `T` implements `ProgressPlugin`.
        pub const PROGRESS: bool = true;
    }
    impl<T: ?Sized + crate::SlicerPlugin> Implements<T> {
        /// `T` implements `SlicerPlugin`.
        pub const SLICER: bool = true;
    }
    impl<T: ?Sized + crate::WebcamProviderPlugin> Implements<T> {
        /// `T` implements `WebcamProviderPlugin`.
        pub const WEBCAM_PROVIDER: bool = true;
    }
    impl<T: ?Sized + crate::EnvironmentDetectionPlugin> Implements<T> {
        /// `T` implements `EnvironmentDetectionPlugin`.
        pub const ENVIRONMENT_DETECTION: bool = true;
    }

    /// Every name `mixins:` takes.
    pub const MIXIN_NAMES: &[&str] = &[
        "Startup",
        "Shutdown",
        "Settings",
        "EventHandler",
        "SimpleApi",
        "Blueprint",
        "Asset",
        "Template",
        "Wizard",
        "Ui",
        "Progress",
        "Slicer",
        "WebcamProvider",
        "EnvironmentDetection",
    ];

    /// Whether `mixin` is among `listed` (for the `mixins:` check).
    pub const fn listed(mixin: &str, listed: &[&str]) -> bool {
        let mut i = 0;
        while i < listed.len() {
            if str_eq(mixin, listed[i]) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// The exported symbol abi_stable looks for; checked against abi_stable's own constant.
    pub const ROOT_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";
    const _: () = assert!(str_eq(
        ROOT_SYMBOL,
        abi_stable::library::ROOT_MODULE_LOADER_NAME
    ));
    const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Exports a plugin from a `cdylib` crate. Use it once per crate.
///
/// ```ignore
/// plinth_sdk::export_plugin! {
///     plugin: MyPlugin,                    // a type implementing `Plugin`
///     name: "My Plugin",                   // human-readable name
///     version: "1.2.3",                    // optional; default: the crate's version
///     description: "What it does",         // optional
///     author: "Jane Doe",                  // optional
///     url: "https://example.org",          // optional
///     license: "MIT",                      // optional
///     mixins: [Startup, Settings, Template],
///     restart_needing: true,               // optional: toggles apply at the next start only
///     overlay: r#"{"plugins": {"_disabled": ["other"]}}"#, // optional: config defaults (JSON); restart-needing
///     files: {                             // optional: templates and assets compiled in
///         "templates/my_plugin_tab.jinja2" => include_bytes!("../templates/my_plugin_tab.jinja2"),
///     },
/// }
/// ```
///
/// The keys must come in this order. Mixin names are `Startup`, `Shutdown`,
/// `Settings`, `EventHandler`, `SimpleApi`, `Blueprint`, `Asset`, `Template`,
/// `Wizard`, `Ui`, `Progress`, `Slicer`, `WebcamProvider` and
/// `EnvironmentDetection`; the plugin type must implement the matching trait
/// (`StartupPlugin`, …). The list and the traits must agree, or the crate
/// does not compile: a trait implemented but not listed (the host would
/// never call it), a name listed whose trait is not implemented, and a name
/// that is no mixin are each an error saying what to add or remove.
/// The metadata (name, version, mixins, …) is written
/// into its own section of the library so the host can list the plugin
/// without running any of its code.
#[macro_export]
macro_rules! export_plugin {
    (
        plugin: $ty:ty,
        name: $name:expr,
        $(version: $version:expr,)?
        $(description: $description:expr,)?
        $(author: $author:expr,)?
        $(url: $url:expr,)?
        $(license: $license:expr,)?
        mixins: [$($mixin:ident),* $(,)?]
        $(, restart_needing: $restart:expr)?
        $(, overlay: $overlay:expr)?
        $(, files: { $($file:expr => $bytes:expr),* $(,)? })?
        $(,)?
    ) => {
        $crate::__plinth_check_mixins!($ty; $($mixin),*);
        const _: () = {
            use $crate::__private as __p;
            type __Plugin = $ty;

            const PARTS: &[__p::MetaPart] = &[
                __p::MetaPart::Raw("{\"plinth_plugin\":1,\"abi\":"),
                __p::MetaPart::Raw(__p::ABI_JSON),
                __p::MetaPart::Raw(",\"sdk\":"),
                __p::MetaPart::Str(__p::SDK_VERSION),
                __p::MetaPart::Raw(",\"name\":"),
                __p::MetaPart::Str($name),
                __p::MetaPart::Raw(",\"version\":"),
                $crate::__plinth_opt!($($version)?, env!("CARGO_PKG_VERSION")),
                __p::MetaPart::Raw(",\"description\":"),
                $crate::__plinth_opt!($($description)?),
                __p::MetaPart::Raw(",\"author\":"),
                $crate::__plinth_opt!($($author)?),
                __p::MetaPart::Raw(",\"url\":"),
                $crate::__plinth_opt!($($url)?),
                __p::MetaPart::Raw(",\"license\":"),
                $crate::__plinth_opt!($($license)?),
                __p::MetaPart::Raw(",\"mixins\":["),
                $(__p::MetaPart::Str(stringify!($mixin)),)*
                __p::MetaPart::Raw("],\"restart_needing\":"),
                __p::MetaPart::Raw($crate::__plinth_bool!($($restart)?)),
                __p::MetaPart::Raw(",\"panic\":"),
                __p::MetaPart::Raw(if cfg!(panic = "unwind") { "\"unwind\"" } else { "\"abort\"" }),
                __p::MetaPart::Raw(",\"overlay\":"),
                __p::MetaPart::Raw($crate::__plinth_raw!($($overlay)?)),
                __p::MetaPart::Raw("}"),
            ];
            const LEN: usize = __p::emit::<0>(PARTS).1;

            #[used]
            #[cfg_attr(all(not(target_vendor = "apple"), not(windows)), link_section = ".plinth_meta")]
            #[cfg_attr(target_vendor = "apple", link_section = "__DATA,__plinth_meta")]
            #[cfg_attr(windows, link_section = ".plinthm")]
            static METADATA: [u8; LEN] = __p::emit::<LEN>(PARTS).0;

            static FILES: &[(&str, &[u8])] = &[$($(($file, $bytes)),*)?];

            const TABLE: &[__p::MixinEntry<__Plugin>] = &[
                $((
                    <__p::markers::$mixin as __p::Dispatch<__Plugin>>::ID,
                    <__p::markers::$mixin as __p::Dispatch<__Plugin>>::dispatch as __p::DispatchFn<__Plugin>,
                    <__p::markers::$mixin as __p::Dispatch<__Plugin>>::on_instantiate as __p::InitFn<__Plugin>,
                ),)*
            ];

            extern "C" fn metadata() -> __p::RSlice<'static, u8> {
                __p::RSlice::from_slice(&METADATA)
            }

            extern "C" fn instantiate(
                host: __p::HostHandle,
            ) -> __p::RResult<__p::PluginInstance, __p::RString> {
                __p::instantiate::<__Plugin>(host, TABLE)
            }

            extern "C" fn embedded_file(path: __p::RStr<'_>) -> __p::ROption<__p::RSlice<'static, u8>> {
                __p::embedded_file(FILES, path)
            }

            fn root_module() -> __p::PluginModuleRef {
                use __p::PrefixTypeTrait;
                __p::PluginModule { metadata, instantiate, embedded_file }.leak_into_prefix()
            }

            extern "C" fn root_module_loader() -> __p::RootModuleResult {
                __p::__call_root_module_loader(root_module)
            }

            #[no_mangle]
            #[allow(non_upper_case_globals)]
            pub static _1as_0lib_1header_0root_bmodule_bloader: __p::LibHeader = {
                // SAFETY: `root_module_loader` returns a `PluginModuleRef`, the type named here.
                unsafe {
                    __p::LibHeader::from_constructor::<__p::PluginModuleRef>(
                        root_module_loader,
                        __p::CheckTypeLayout::Yes,
                    )
                }
            };
        };
    };
}

/// Every mixin trait the plugin type implements must be listed in
/// `mixins:`: the host calls only the listed ones, so one left out would be
/// silently never called. A compile error names the trait and the entry to
/// add.
#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_check_mixins {
    ($ty:ty; $($listed:ident),*) => {
        $(
            const _: () = ::core::assert!(
                $crate::__private::listed(::core::stringify!($listed), $crate::__private::MIXIN_NAMES),
                ::core::concat!(
                    "`", ::core::stringify!($listed), "` in export_plugin!'s `mixins:` is not a mixin; ",
                    "the mixins are Startup, Shutdown, Settings, EventHandler, SimpleApi, Blueprint, ",
                    "Asset, Template, Wizard, Ui, Progress, Slicer, WebcamProvider and EnvironmentDetection"
                )
            );
        )*
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Startup, StartupPlugin, STARTUP);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Shutdown, ShutdownPlugin, SHUTDOWN);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Settings, SettingsPlugin, SETTINGS);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; EventHandler, EventHandlerPlugin, EVENT_HANDLER);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; SimpleApi, SimpleApiPlugin, SIMPLE_API);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Blueprint, BlueprintPlugin, BLUEPRINT);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Asset, AssetPlugin, ASSET);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Template, TemplatePlugin, TEMPLATE);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Wizard, WizardPlugin, WIZARD);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Ui, UiPlugin, UI);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Progress, ProgressPlugin, PROGRESS);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; Slicer, SlicerPlugin, SLICER);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; WebcamProvider, WebcamProviderPlugin, WEBCAM_PROVIDER);
        $crate::__plinth_check_mixin!($ty; [$($listed),*]; EnvironmentDetection, EnvironmentDetectionPlugin, ENVIRONMENT_DETECTION);
    };
}

/// One mixin of [`__plinth_check_mixins`]: whether `$ty` implements
/// `$trait` is the constant `$const` of `__private::Implements<$ty>` (see
/// there).
#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_check_mixin {
    ($ty:ty; [$($listed:ident),*]; $mixin:ident, $trait:ident, $const:ident) => {
        const _: () = {
            #[allow(unused_imports)]
            use $crate::__private::Otherwise as _;
            ::core::assert!(
                !$crate::__private::Implements::<$ty>::$const
                    || $crate::__private::listed(
                        ::core::stringify!($mixin),
                        &[$(::core::stringify!($listed)),*],
                    ),
                ::core::concat!(
                    "the plugin implements `", ::core::stringify!($trait),
                    "`, but `", ::core::stringify!($mixin),
                    "` is not in export_plugin!'s `mixins:` list, so the host would never call it: add `",
                    ::core::stringify!($mixin), "` to `mixins: [...]`"
                )
            );
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_opt {
    () => {
        $crate::__private::MetaPart::Raw("null")
    };
    (, $default:expr) => {
        $crate::__private::MetaPart::Str($default)
    };
    ($value:expr) => {
        $crate::__private::MetaPart::Str($value)
    };
    ($value:expr, $default:expr) => {
        $crate::__private::MetaPart::Str($value)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_raw {
    () => {
        "null"
    };
    ($value:expr) => {
        $value
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __plinth_bool {
    () => {
        "false"
    };
    ($value:expr) => {
        if $value {
            "true"
        } else {
            "false"
        }
    };
}
