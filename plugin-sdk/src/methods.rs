//! The numbers of every plugin method and host service, with their argument
//! and result types. Append only: a number is never reused or retyped.
//!
//! A plugin method number is `mixin << 8 | index`; mixin 0 is the base
//! plugin (lifecycle, sorting, hooks and helpers).
#![allow(missing_docs)]

use std::collections::BTreeMap;

use serde_json::Value;

use crate::types::*;
use crate::wire::{wire_methods, Raw};

/// Plugin methods: the host calls them.
pub mod plugin {
    use super::*;
    #[doc(hidden)]
    pub use crate::wire::Method;

    wire_methods! {
        // Base plugin (mixin 0).
        Initialize = 0x0001 (0): () => ();
        OnPluginEnabled = 0x0002 (0): () => ();
        OnPluginDisabled = 0x0003 (0): () => ();
        OnPluginPendingUninstall = 0x0004 (0): () => ();
        GetSortingKey = 0x0005 (0): String => Option<i64>;
        GetRegistrations = 0x0006 (0): () => Registrations;
        CallHook = 0x0007 (0): (String, Value) => Value;
        CallHelper = 0x0008 (0): (String, Value) => Value;

        // StartupPlugin (mixin 1).
        OnStartup = 0x0101 (0): (String, u16) => ();
        OnAfterStartup = 0x0102 (0): () => ();

        // ShutdownPlugin (mixin 2).
        OnShutdown = 0x0201 (0): () => ();

        // SettingsPlugin (mixin 3).
        GetSettingsDefaults = 0x0301 (0): () => Value;
        GetSettingsPreprocessorPaths = 0x0302 (0): () => (Vec<Vec<String>>, Vec<Vec<String>>);
        ApplyGetterPreprocessor = 0x0303 (0): (Vec<String>, Value) => Value;
        ApplySetterPreprocessor = 0x0304 (0): (Vec<String>, Value) => Value;
        GetSettingsRestrictedPaths = 0x0305 (0): () => Value;
        GetSettingsVersion = 0x0306 (0): () => Option<i64>;
        OnSettingsMigrate = 0x0307 (0): (Option<i64>, Option<i64>) => ();
        OnSettingsCleanup = 0x0308 (0): () => ();
        OnSettingsInitialized = 0x0309 (0): () => ();
        OnSettingsLoad = 0x030a (0): () => Value;
        OnSettingsSave = 0x030b (0): Value => Value;

        // EventHandlerPlugin (mixin 4).
        OnEvent = 0x0401 (0): (String, Value) => ();

        // SimpleApiPlugin (mixin 5).
        GetApiCommands = 0x0501 (0): () => BTreeMap<String, Vec<String>>;
        IsApiAdminonly = 0x0502 (0): () => bool;
        IsApiProtected = 0x0503 (0): () => bool;
        OnApiCommand = 0x0504 (0): (String, Value) => Option<Response>;
        OnApiGet = 0x0505 (0): Request => Option<Response>;

        // BlueprintPlugin (mixin 6).
        GetBlueprintSpec = 0x0601 (0): () => BlueprintSpec;
        HandleBlueprintRoute = 0x0602 (0): (u32, Request) => Response;
        HandleBlueprintError = 0x0603 (0): (u16, Request) => Response;
        IsBlueprintProtected = 0x0604 (0): () => bool;
        IsBlueprintCsrfProtected = 0x0605 (0): () => bool;
        GetBlueprintApiPrefixes = 0x0606 (0): () => Option<Vec<String>>;
        GetBlueprintKwargs = 0x0607 (0): () => Value;

        // AssetPlugin (mixin 7).
        GetAssetFolder = 0x0701 (0): () => Option<String>;
        GetAssets = 0x0702 (0): () => BTreeMap<String, Vec<String>>;

        // TemplatePlugin (mixin 8).
        GetTemplateConfigs = 0x0801 (0): () => Vec<Value>;
        GetTemplateFolder = 0x0802 (0): () => Option<String>;
        GetTemplateVars = 0x0803 (0): () => Value;

        // WizardPlugin (mixin 9).
        IsWizardRequired = 0x0901 (0): () => bool;
        GetWizardVersion = 0x0902 (0): () => Option<i64>;
        GetWizardDetails = 0x0903 (0): () => Value;
        OnWizardFinish = 0x0904 (0): bool => ();

        // UiPlugin (mixin 10).
        WillHandleUi = 0x0a01 (0): Request => bool;
        OnUiRender = 0x0a02 (0): (String, Request, Value) => Option<Response>;
        GetUiAdditionalEtag = 0x0a03 (0): Vec<String> => Option<Vec<String>>;
        GetUiAdditionalKeyDataForCache = 0x0a04 (0): () => Option<Value>;
        GetUiAdditionalRequestDataForPreemptiveCaching = 0x0a05 (0): () => Value;
        GetUiAdditionalTrackedFiles = 0x0a06 (0): () => Option<Vec<String>>;
        GetUiCustomEtag = 0x0a07 (0): () => Option<String>;
        GetUiCustomLastmodified = 0x0a08 (0): () => Option<i64>;
        GetUiCustomTemplateFilter = 0x0a09 (0): (String, String, bool) => bool;
        GetUiCustomTrackedFiles = 0x0a0a (0): () => Option<Vec<String>>;
        GetUiDataForPreemptiveCaching = 0x0a0b (0): () => Value;
        GetUiPermissions = 0x0a0c (0): () => Vec<String>;
        GetUiPreemptiveCachingAdditionalUnless = 0x0a0d (0): () => bool;
        GetUiPreemptiveCachingEnabled = 0x0a0e (0): () => bool;

        // ProgressPlugin (mixin 11).
        OnPrintProgress = 0x0b01 (0): (String, String, u8) => ();
        OnSlicingProgress = 0x0b02 (0): SlicingProgress => ();

        // SlicerPlugin (mixin 12).
        IsSlicerConfigured = 0x0c01 (0): () => bool;
        GetSlicerProperties = 0x0c02 (0): () => SlicerProperties;
        GetSlicerExtensionTree = 0x0c03 (0): () => Value;
        GetSlicerDefaultProfile = 0x0c04 (0): () => SlicingProfile;
        GetSlicerProfile = 0x0c05 (0): String => SlicingProfile;
        GetSlicerProfiles = 0x0c06 (0): String => BTreeMap<String, SlicingProfile>;
        GetSlicerProfilesLastmodified = 0x0c07 (0): String => Option<f64>;
        SaveSlicerProfile = 0x0c08 (0): (String, SlicingProfile, bool, Option<Value>) => ();
        DoSlice = 0x0c09 (0): SliceRequest => Result<Value, SliceError>;
        CancelSlicing = 0x0c0a (0): String => ();

        // WebcamProviderPlugin (mixin 13).
        GetWebcamConfigurations = 0x0d01 (0): () => Vec<Webcam>;
        TakeWebcamSnapshot = 0x0d02 (0): String => Vec<u8> [Raw];

        // EnvironmentDetectionPlugin (mixin 14).
        OnEnvironmentDetected = 0x0e01 (0): Value => ();
    }
}

/// Host services: plugins call them through their [`Host`](crate::Host).
pub mod host {
    use super::*;
    #[doc(hidden)]
    pub use crate::wire::Method;

    wire_methods! {
        GetIdentity = 1 (0): () => Identity;
        EnsureDataFolder = 2 (0): () => String;
        FireEvent = 3 (0): (String, Value) => ();
        CallHelper = 4 (0): (String, String, Value) => Value;
        CallHook = 5 (0): (String, Value) => Vec<HookReply>;
        ReportSlicingProgress = 6 (0): (u64, f64) => ();
        SettingsCleanup = 7 (0): () => ();
        SettingsLoad = 8 (0): () => Value;
        SettingsSave = 9 (0): Value => Value;
        SettingsGet = 10 (0): Vec<String> => Option<Value>;
        SettingsSet = 11 (0): (Vec<String>, Value) => ();
        SettingsRemove = 12 (0): Vec<String> => ();
        SettingsHas = 13 (0): Vec<String> => bool;
        SettingsPersist = 14 (0): () => ();
        SettingsGlobalGet = 15 (0): Vec<String> => Option<Value>;
        SettingsDiff = 16 (0): Value => Value;
        SettingsStoreAll = 17 (0): Value => ();
        SendPluginMessage = 18 (0): Value => ();
    }
}
