//! Every plugin method and host service: its number, its argument and result
//! types, and, for plugin methods, the mixin it belongs to. Append only: a
//! number is never reused or retyped.
//!
//! Each mixin is declared once below, with its number, its name, whether it
//! needs a restart or a page reload, the ABI minor that introduced it, and
//! its methods; [`Mixin`] and the method descriptors in [`plugin`] are
//! derived from that declaration. A plugin method's number is
//! `mixin << 8 | index`; mixin 0 is the base plugin (lifecycle, sorting,
//! hooks and helpers), which every plugin has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::*;
use crate::wire::{Json, Raw};

/// One method descriptor: JSON both ways unless codecs are named
/// (`args as Codec`, `=> out, Codec`).
macro_rules! method {
    ($(#[$doc:meta])* $name:ident = $id:expr, $since:expr, $args:ty $(as $acodec:ty)? => $out:ty $(, $codec:ty)?) => {
        $(#[$doc])*
        pub struct $name;
        impl crate::wire::Method for $name {
            const ID: u32 = $id;
            const NAME: &'static str = stringify!($name);
            const SINCE: u32 = $since;
            type Args = $args;
            type ArgsCodec = method!(@codec $args $(, $acodec)?);
            type Output = $out;
            type OutputCodec = method!(@codec $out $(, $codec)?);
        }
    };
    (@codec $out:ty) => { Json<$out> };
    (@codec $out:ty, $codec:ty) => { $codec };
}

/// The ABI minor of a method: its own, else its mixin's.
macro_rules! since {
    ($mixin:expr) => {
        $mixin
    };
    ($mixin:expr, $own:expr) => {
        $own
    };
}

/// Declares the base plugin's methods and every mixin with its methods.
macro_rules! declare_mixins {
    (
        base {
            $( $(#[$bdoc:meta])* $bmethod:ident = $bindex:literal $(since $bsince:literal)?: $bargs:ty $(as $bacodec:ty)? => $bout:ty $([$bcodec:ty])?; )*
        }
        $(
            $(#[$doc:meta])*
            $mixin:ident = $number:literal (since $msince:literal, restart $restart:literal, reload $reload:literal) {
                $( $(#[$mdoc:meta])* $method:ident = $index:literal $(since $own:literal)?: $args:ty $(as $acodec:ty)? => $out:ty $([$codec:ty])?; )*
            }
        )*
    ) => {
        /// A mixin of OctoPrint's plugin system, numbered as the ABI numbers it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum Mixin {
            $( $(#[$doc])* $mixin = $number, )*
        }

        impl Mixin {
            /// Every mixin, in number order.
            pub const ALL: &'static [Mixin] = &[$(Mixin::$mixin),*];

            /// Its number: the high byte of its method numbers.
            pub const fn number(self) -> u8 {
                self as u8
            }

            /// Its name, as `export_plugin!` and the metadata spell it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Mixin::$mixin => stringify!($mixin),)*
                }
            }

            /// Whether enabling or disabling a plugin with it takes effect at
            /// the next start only.
            pub const fn restart_needing(self) -> bool {
                match self {
                    $(Mixin::$mixin => $restart,)*
                }
            }

            /// Whether enabling or disabling a plugin with it needs the web
            /// page to be reloaded.
            pub const fn reload_needing(self) -> bool {
                match self {
                    $(Mixin::$mixin => $reload,)*
                }
            }

            /// The ABI minor that introduced it.
            pub const fn since_abi_minor(self) -> u32 {
                match self {
                    $(Mixin::$mixin => $msince,)*
                }
            }

            /// The numbers of its methods.
            pub const fn methods(self) -> &'static [u32] {
                match self {
                    $(Mixin::$mixin => &[$(($number << 8) | $index),*],)*
                }
            }

            /// The mixin of a name (`None` for a name this ABI does not know).
            pub fn from_name(name: &str) -> Option<Mixin> {
                Mixin::ALL.iter().copied().find(|m| m.name() == name)
            }

            /// The mixin a method number belongs to (`None` for the base plugin's).
            pub fn of_method(method: u32) -> Option<Mixin> {
                let number = (method >> 8) as u8;
                Mixin::ALL.iter().copied().find(|m| m.number() == number)
            }
        }

        impl std::fmt::Display for Mixin {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// Plugin methods: the host calls them.
        pub mod plugin {
            use super::*;
            #[doc(no_inline)]
            pub use crate::wire::Method;

            $( method!($(#[$bdoc])* $bmethod = $bindex, since!(0 $(, $bsince)?), $bargs $(as $bacodec)? => $bout $(, $bcodec)?); )*
            $( $( method!(
                $(#[$mdoc])*
                $method = ($number << 8) | $index,
                since!($msince $(, $own)?),
                $args $(as $acodec)? => $out $(, $codec)?
            ); )* )*

            /// The name of plugin method number `id` (`OnEvent`), for
            /// messages; `None` for a number this ABI does not know.
            pub fn name(id: u32) -> Option<&'static str> {
                $( if id == <$bmethod as Method>::ID { return Some(stringify!($bmethod)); } )*
                $( $( if id == <$method as Method>::ID { return Some(stringify!($method)); } )* )*
                None
            }
        }
    };
}

declare_mixins! {
    base {
        /// `initialize()`: once, after the object is created.
        Initialize = 0x01: () => ();
        /// `on_plugin_enabled()`.
        OnPluginEnabled = 0x02: () => ();
        /// `on_plugin_disabled()`.
        OnPluginDisabled = 0x03: () => ();
        /// `on_plugin_pending_uninstall()`.
        OnPluginPendingUninstall = 0x04: () => ();
        /// `get_sorting_key(context)`.
        GetSortingKey = 0x05: String => Option<i64>;
        /// The hook handlers and helpers the plugin registers.
        GetRegistrations = 0x06: () => Registrations;
        /// Calls the plugin's handler of a hook: `(hook, arguments)`.
        CallHook = 0x07: (String, Value) => Value;
        /// Calls one of the plugin's helpers: `(helper, arguments)`.
        CallHelper = 0x08: (String, Value) => Value;
        /// Calls the plugin's handler of a G-code hook phase with the
        /// command in a compact binary encoding (the hot path of a print);
        /// answers as [`CallHook`] would. A plugin without it is called
        /// through `CallHook`.
        CallGcodeHook = 0x09 since 2: crate::hooks::GcodeHookArgs as crate::hooks::GcodeWire => Value [crate::hooks::GcodeAnswerWire];
    }

    /// `StartupPlugin`: told when the server starts.
    Startup = 1 (since 0, restart false, reload false) {
        /// `on_startup(host, port)`: before the server accepts.
        OnStartup = 0x01: (String, u16) => ();
        /// `on_after_startup()`: once it accepts.
        OnAfterStartup = 0x02: () => ();
    }

    /// `ShutdownPlugin`: told when the server stops.
    Shutdown = 2 (since 0, restart false, reload false) {
        /// `on_shutdown()`.
        OnShutdown = 0x01: () => ();
    }

    /// `SettingsPlugin`: settings under `plugins.<id>` of the host's config.
    Settings = 3 (since 0, restart false, reload false) {
        /// `get_settings_defaults()`: a mapping.
        GetSettingsDefaults = 0x01: () => Value;
        /// The paths that have getter and setter preprocessors: `(getters, setters)`.
        GetSettingsPreprocessorPaths = 0x02: () => (Vec<Vec<String>>, Vec<Vec<String>>);
        /// Applies the getter preprocessor of a path: `(path, value)`.
        ApplyGetterPreprocessor = 0x03: (Vec<String>, Value) => Value;
        /// Applies the setter preprocessor of a path: `(path, value)`.
        ApplySetterPreprocessor = 0x04: (Vec<String>, Value) => Value;
        /// `get_settings_restricted_paths()`.
        GetSettingsRestrictedPaths = 0x05: () => Value;
        /// `get_settings_version()`.
        GetSettingsVersion = 0x06: () => Option<i64>;
        /// `on_settings_migrate(target, current)`.
        OnSettingsMigrate = 0x07: (Option<i64>, Option<i64>) => ();
        /// `on_settings_cleanup()`.
        OnSettingsCleanup = 0x08: () => ();
        /// `on_settings_initialized()`.
        OnSettingsInitialized = 0x09: () => ();
        /// `on_settings_load()`: what the settings API shows.
        OnSettingsLoad = 0x0a: () => Value;
        /// `on_settings_save(data)`: what was stored.
        OnSettingsSave = 0x0b: Value => Value;
    }

    /// `EventHandlerPlugin`: receives every event.
    EventHandler = 4 (since 0, restart false, reload false) {
        /// `on_event(event, payload)`.
        OnEvent = 0x01: (String, Value) => ();
        /// `on_event` for each event of a batch, in order: the events
        /// [packed](crate::events::packed) one after the other. Answers the
        /// events whose handling failed, as (position in the batch, message);
        /// `None` when none did. A plugin without it is called through
        /// [`OnEvent`], one event at a time.
        OnEvents = 0x02 since 2: Vec<u8> as Raw => Option<Vec<(u32, String)>>;
    }

    /// `SimpleApiPlugin`: a JSON API at `/api/plugin/<id>`.
    SimpleApi = 5 (since 0, restart false, reload false) {
        /// `get_api_commands()`: each command with its mandatory parameters.
        GetApiCommands = 0x01: () => BTreeMap<String, Vec<String>>;
        /// `is_api_adminonly()`.
        IsApiAdminonly = 0x02: () => bool;
        /// `is_api_protected()`.
        IsApiProtected = 0x03: () => bool;
        /// `on_api_command(command, data)`.
        OnApiCommand = 0x04: (String, Value) => Option<Response>;
        /// `on_api_get(request)`.
        OnApiGet = 0x05: Request => Option<Response>;
    }

    /// `BlueprintPlugin`: routes under `/plugin/<id>/`.
    Blueprint = 6 (since 0, restart true, reload false) {
        /// The routes and error handlers it mounts.
        GetBlueprintSpec = 0x01: () => BlueprintSpec;
        /// Handles a request to route number `index`: `(index, request)`.
        HandleBlueprintRoute = 0x02: (u32, Request) => Response;
        /// Handles an error status: `(status, request)`.
        HandleBlueprintError = 0x03: (u16, Request) => Response;
        /// `is_blueprint_protected()`.
        IsBlueprintProtected = 0x04: () => bool;
        /// `is_blueprint_csrf_protected()`.
        IsBlueprintCsrfProtected = 0x05: () => bool;
        /// `get_blueprint_api_prefixes()`.
        GetBlueprintApiPrefixes = 0x06: () => Option<Vec<String>>;
        /// `get_blueprint_kwargs()`.
        GetBlueprintKwargs = 0x07: () => Value;
    }

    /// `AssetPlugin`: JavaScript, CSS and LESS files for the page.
    Asset = 7 (since 0, restart true, reload false) {
        /// `get_asset_folder()`.
        GetAssetFolder = 0x01: () => Option<String>;
        /// `get_assets()`: files per kind (`js`, `clientjs`, `css`, `less`).
        GetAssets = 0x02: () => BTreeMap<String, Vec<String>>;
    }

    /// `TemplatePlugin`: components injected into the page.
    Template = 8 (since 0, restart false, reload true) {
        /// `get_template_configs()`.
        GetTemplateConfigs = 0x01: () => Vec<Value>;
        /// `get_template_folder()`.
        GetTemplateFolder = 0x02: () => Option<String>;
        /// `get_template_vars()`.
        GetTemplateVars = 0x03: () => Value;
    }

    /// `WizardPlugin`: a step of the set-up wizard.
    Wizard = 9 (since 0, restart false, reload true) {
        /// `is_wizard_required()`.
        IsWizardRequired = 0x01: () => bool;
        /// `get_wizard_version()`.
        GetWizardVersion = 0x02: () => Option<i64>;
        /// `get_wizard_details()`.
        GetWizardDetails = 0x03: () => Value;
        /// `on_wizard_finish(handled)`.
        OnWizardFinish = 0x04: bool => ();
    }

    /// `UiPlugin`: a page of its own at `/`.
    Ui = 10 (since 0, restart false, reload false) {
        /// `will_handle_ui(request)`.
        WillHandleUi = 0x01: Request => bool;
        /// `on_ui_render(now, request, render_kwargs)`.
        OnUiRender = 0x02: (String, Request, Value) => Option<Response>;
        /// `get_ui_additional_etag(default_additional)`.
        GetUiAdditionalEtag = 0x03: Vec<String> => Option<Vec<String>>;
        /// `get_ui_additional_key_data_for_cache()`.
        GetUiAdditionalKeyDataForCache = 0x04: () => Option<Value>;
        /// `get_ui_additional_request_data_for_preemptive_caching()`.
        GetUiAdditionalRequestDataForPreemptiveCaching = 0x05: () => Value;
        /// `get_ui_additional_tracked_files()`.
        GetUiAdditionalTrackedFiles = 0x06: () => Option<Vec<String>>;
        /// `get_ui_custom_etag()`.
        GetUiCustomEtag = 0x07: () => Option<String>;
        /// `get_ui_custom_lastmodified()`.
        GetUiCustomLastmodified = 0x08: () => Option<i64>;
        /// `get_ui_custom_template_filter(default_filter)`: `(type, key, default)`.
        GetUiCustomTemplateFilter = 0x09: (String, String, bool) => bool;
        /// `get_ui_custom_tracked_files()`.
        GetUiCustomTrackedFiles = 0x0a: () => Option<Vec<String>>;
        /// `get_ui_data_for_preemptive_caching()`.
        GetUiDataForPreemptiveCaching = 0x0b: () => Value;
        /// `get_ui_permissions()`.
        GetUiPermissions = 0x0c: () => Vec<String>;
        /// `get_ui_preemptive_caching_additional_unless()`.
        GetUiPreemptiveCachingAdditionalUnless = 0x0d: () => bool;
        /// `get_ui_preemptive_caching_enabled()`.
        GetUiPreemptiveCachingEnabled = 0x0e: () => bool;
    }

    /// `ProgressPlugin`: told the progress of prints and slicing jobs.
    Progress = 11 (since 0, restart false, reload false) {
        /// `on_print_progress(storage, path, progress)`.
        OnPrintProgress = 0x01: (String, String, u8) => ();
        /// `on_slicing_progress(…)`.
        OnSlicingProgress = 0x02: SlicingProgress => ();
    }

    /// `SlicerPlugin`: turns models into machine code.
    Slicer = 12 (since 0, restart false, reload false) {
        /// `is_slicer_configured()`.
        IsSlicerConfigured = 0x01: () => bool;
        /// `get_slicer_properties()`.
        GetSlicerProperties = 0x02: () => SlicerProperties;
        /// `get_slicer_extension_tree()`.
        GetSlicerExtensionTree = 0x03: () => Value;
        /// `get_slicer_default_profile()`.
        GetSlicerDefaultProfile = 0x04: () => SlicingProfile;
        /// `get_slicer_profile(path)`.
        GetSlicerProfile = 0x05: String => SlicingProfile;
        /// `get_slicer_profiles(profile_path)`.
        GetSlicerProfiles = 0x06: String => BTreeMap<String, SlicingProfile>;
        /// `get_slicer_profiles_lastmodified(profile_path)`.
        GetSlicerProfilesLastmodified = 0x07: String => Option<f64>;
        /// `save_slicer_profile(path, profile, allow_overwrite, overrides)`.
        SaveSlicerProfile = 0x08: (String, SlicingProfile, bool, Option<Value>) => ();
        /// `do_slice(…)`: the analysis on success.
        DoSlice = 0x09: SliceRequest => Result<Value, SliceError>;
        /// `cancel_slicing(machinecode_path)`.
        CancelSlicing = 0x0a: String => ();
    }

    /// `WebcamProviderPlugin`: webcams and their snapshots.
    WebcamProvider = 13 (since 0, restart false, reload false) {
        /// `get_webcam_configurations()`.
        GetWebcamConfigurations = 0x01: () => Vec<Webcam>;
        /// `take_webcam_snapshot(webcam)`: JPEG bytes, unencoded.
        TakeWebcamSnapshot = 0x02: String => Vec<u8> [Raw];
    }

    /// `EnvironmentDetectionPlugin`: told what the host runs on.
    EnvironmentDetection = 14 (since 0, restart true, reload false) {
        /// `on_environment_detected(environment)`.
        OnEnvironmentDetected = 0x01: Value => ();
    }
}

/// Host services: a plugin calls them through its handle.
pub mod host {
    use super::*;
    #[doc(no_inline)]
    pub use crate::wire::Method;

    method!(
        /// Who the plugin is.
        GetIdentity = 1, 0, () => Identity
    );
    method!(
        /// Creates the plugin's data folder if needed; its path.
        EnsureDataFolder = 2, 0, () => String
    );
    method!(
        /// Fires the event `plugin_<id>_<name>`: `(name, payload)`.
        FireEvent = 3, 0, (String, Value) => ()
    );
    method!(
        /// Calls a helper of an enabled plugin: `(plugin, helper, arguments)`.
        CallHelper = 4, 0, (String, String, Value) => Value
    );
    method!(
        /// Calls every handler of a hook, in order: `(hook, arguments)`.
        CallHook = 5, 0, (String, Value) => Vec<HookReply>
    );
    method!(
        /// Reports a slicing job's progress: `(job, fraction from 0 to 1)`.
        ReportSlicingProgress = 6, 0, (u64, f64) => ()
    );
    method!(
        /// The default `on_settings_cleanup`.
        SettingsCleanup = 7, 0, () => ()
    );
    method!(
        /// The default `on_settings_load`: every setting.
        SettingsLoad = 8, 0, () => Value
    );
    method!(
        /// The default `on_settings_save(data)`: what was stored.
        SettingsSave = 9, 0, Value => Value
    );
    method!(
        /// A setting, stored or default.
        SettingsGet = 10, 0, Vec<String> => Option<Value>
    );
    method!(
        /// Sets a setting: `(path, value)`.
        SettingsSet = 11, 0, (Vec<String>, Value) => ()
    );
    method!(
        /// Removes a stored setting.
        SettingsRemove = 12, 0, Vec<String> => ()
    );
    method!(
        /// Whether a setting has a value.
        SettingsHas = 13, 0, Vec<String> => bool
    );
    method!(
        /// Writes the settings to disk.
        SettingsPersist = 14, 0, () => ()
    );
    method!(
        /// A value of the host's config (outside `plugins.<id>`).
        SettingsGlobalGet = 15, 0, Vec<String> => Option<Value>
    );
    method!(
        /// What `data` merged over the settings differs from the defaults.
        SettingsDiff = 16, 0, Value => Value
    );
    method!(
        /// Stores `data` as the plugin's settings and saves.
        SettingsStoreAll = 17, 0, Value => ()
    );
    method!(
        /// Sends a message to the push channel's clients.
        SendPluginMessage = 18, 0, Value => ()
    );
    method!(
        /// Every plugin (`None`), or the plugin of this identifier.
        PluginInfos = 20, 2, Option<String> => Vec<crate::types::PluginSummary>
    );
    method!(
        /// The user of this name, if there is one.
        FindUser = 21, 2, String => Option<crate::types::UserSummary>
    );
    method!(
        /// One operation on the printer (OctoPrint's `_printer`).
        Printer = 19, 2, crate::printer::PrinterCall => Result<Value, crate::types::Refusal>
    );
    method!(
        /// One operation of the file manager (OctoPrint's `_file_manager`
        /// and `_analysis_queue`).
        Files = 22, 2, crate::files::FileCall => Result<Value, crate::types::Refusal>
    );
    method!(
        /// One operation of the slicing manager (OctoPrint's `_slicing_manager`).
        Slicing = 23, 2, crate::files::SlicingCall => Result<Value, crate::types::Refusal>
    );
    method!(
        /// The connectivity checker (OctoPrint's `_connectivity_checker`).
        Connectivity = 24, 2, crate::types::ConnectivityCall => Result<Value, crate::types::Refusal>
    );
    method!(
        /// Sets a setting as given, even when it equals its default or is
        /// not among the defaults (OctoPrint's `set(path, value, force=True)`):
        /// `(path, value)`.
        SettingsSetForced = 25, 2, (Vec<String>, Value) => ()
    );
    method!(
        /// Sets a value of the host's config (OctoPrint's `global_set`):
        /// `(path, value, force)`.
        SettingsGlobalSet = 26, 2, (Vec<String>, Value, bool) => ()
    );
    method!(
        /// Removes a value of the host's config (OctoPrint's `global_remove`).
        SettingsGlobalRemove = 27, 2, Vec<String> => ()
    );
    method!(
        /// A base folder's absolute path, created when missing (OctoPrint's
        /// `global_get_basefolder`).
        BaseFolderPath = 28, 2, crate::types::BaseFolder => String
    );
    method!(
        /// The identifiers of the running plugins that implement every one of
        /// the mixins (OctoPrint's `get_implementations(*types)`), bundled
        /// first, then by identifier; none for no mixins.
        Implementations = 29, 2, Vec<Mixin> => Vec<String>
    );
}

/// The seed's `is_wizard_ignored` table: whether a wizard of version `current`
/// is ignored, given what was seen. `seen` is `None` when the wizard was never
/// finished, `Some(v)` when it was finished in version `v` (itself possibly `None`).
///
/// A wizard is ignored when the versions are identical, when the current
/// version is `None` and the seen one is not, or when the seen version is not
/// `None` and the current one is less than or equal to it.
pub fn is_wizard_ignored(seen: Option<Option<i64>>, current: Option<i64>) -> bool {
    let Some(seen) = seen else { return false };
    match (seen, current) {
        (s, c) if s == c => true,
        (Some(_), None) => true,
        (Some(s), Some(c)) => c <= s,
        (None, Some(_)) => false,
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Method;

    #[test]
    fn numbers_are_derived_from_the_declaration() {
        assert_eq!(plugin::OnStartup::ID, 0x0101);
        assert_eq!(plugin::OnSettingsSave::ID, 0x030b);
        assert_eq!(plugin::OnEnvironmentDetected::ID, 0x0e01);
        assert_eq!(plugin::CallHelper::ID, 0x0008);
        assert_eq!(
            Mixin::of_method(plugin::OnApiGet::ID),
            Some(Mixin::SimpleApi)
        );
        assert_eq!(Mixin::of_method(plugin::Initialize::ID), None);
        assert_eq!(
            Mixin::Settings.methods(),
            (0x0301..=0x030b).collect::<Vec<u32>>()
        );
        assert_eq!(plugin::name(0x0401), Some("OnEvent"));
        assert_eq!(plugin::name(0x0006), Some("GetRegistrations"));
        assert_eq!(plugin::name(0x7f01), None);
    }

    #[test]
    fn mixins_have_unique_numbers_and_names_and_the_seeds_flags() {
        assert_eq!(Mixin::ALL.len(), 14);
        for (i, a) in Mixin::ALL.iter().enumerate() {
            assert_eq!(Mixin::from_name(a.name()), Some(*a));
            for b in &Mixin::ALL[i + 1..] {
                assert_ne!(a.number(), b.number());
            }
        }
        let restart: Vec<_> = Mixin::ALL
            .iter()
            .filter(|m| m.restart_needing())
            .map(|m| m.name())
            .collect();
        let reload: Vec<_> = Mixin::ALL
            .iter()
            .filter(|m| m.reload_needing())
            .map(|m| m.name())
            .collect();
        assert_eq!(restart, ["Blueprint", "Asset", "EnvironmentDetection"]);
        assert_eq!(reload, ["Template", "Wizard"]);
        assert_eq!(Mixin::from_name("Telepathy"), None);
    }

    #[test]
    fn the_wizard_table_cell_by_cell() {
        // Never finished: always shown.
        for current in [None, Some(1), Some(2)] {
            assert!(!is_wizard_ignored(None, current));
        }
        // Rows: seen N, 1, 2; columns: current N, 1, 2 ("." ignored, "X" shown).
        let table = [
            (None, [true, false, false]),
            (Some(1), [true, true, false]),
            (Some(2), [true, true, true]),
        ];
        for (seen, row) in table {
            for (current, ignored) in [None, Some(1), Some(2)].into_iter().zip(row) {
                assert_eq!(
                    is_wizard_ignored(Some(seen), current),
                    ignored,
                    "seen {seen:?} current {current:?}"
                );
            }
        }
    }
}
