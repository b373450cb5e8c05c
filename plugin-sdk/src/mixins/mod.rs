//! One trait per mixin of OctoPrint's plugin system, and the table the host
//! uses to know them.

mod assets;
mod blueprint;
mod environment;
mod events;
mod lifecycle;
mod settings;
mod simple_api;
mod slicer;
mod templates;
mod ui;
mod webcam;
mod wizard;

pub use assets::AssetPlugin;
pub use blueprint::{BlueprintPlugin, BlueprintRoutes, ErrorHandler, RouteHandler};
pub use environment::EnvironmentDetectionPlugin;
pub use events::{EventHandlerPlugin, ProgressPlugin};
pub use lifecycle::{ShutdownPlugin, StartupPlugin};
pub use settings::{Preprocessor, Preprocessors, SettingsPlugin};
pub use simple_api::SimpleApiPlugin;
pub use slicer::{SlicerPlugin, SlicingJob};
pub use templates::TemplatePlugin;
pub use ui::UiPlugin;
pub use webcam::WebcamProviderPlugin;
pub use wizard::{is_wizard_ignored, WizardPlugin};

use crate::abi::CallOutcome;
use crate::export::Instance;
use crate::types::PluginResult;
use crate::wire::{Codec, Method};

/// What the host knows of a mixin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixinInfo {
    /// Its number: the high byte of its method numbers.
    pub id: u8,
    /// Its name as `export_plugin!` spells it (`Startup`, `Settings`, …).
    pub name: &'static str,
    /// Enabling or disabling a plugin with it takes effect at the next start only.
    pub restart_needing: bool,
    /// Enabling or disabling a plugin with it needs the web page to be reloaded.
    pub reload_needing: bool,
    /// The ABI minor that introduced it.
    pub since_abi_minor: u32,
}

const fn mixin(id: u8, name: &'static str, restart: bool, reload: bool) -> MixinInfo {
    MixinInfo {
        id,
        name,
        restart_needing: restart,
        reload_needing: reload,
        since_abi_minor: 0,
    }
}

/// Every mixin this SDK (and a host built with it) knows.
pub const MIXINS: &[MixinInfo] = &[
    mixin(1, "Startup", false, false),
    mixin(2, "Shutdown", false, false),
    mixin(3, "Settings", false, false),
    mixin(4, "EventHandler", false, false),
    mixin(5, "SimpleApi", false, false),
    mixin(6, "Blueprint", true, false),
    mixin(7, "Asset", true, false),
    mixin(8, "Template", false, true),
    mixin(9, "Wizard", false, true),
    mixin(10, "Ui", false, false),
    mixin(11, "Progress", false, false),
    mixin(12, "Slicer", false, false),
    mixin(13, "WebcamProvider", false, false),
    mixin(14, "EnvironmentDetection", true, false),
];

/// Looks a mixin up by name.
pub fn mixin_info(name: &str) -> Option<&'static MixinInfo> {
    MIXINS.iter().find(|m| m.name == name)
}

#[doc(hidden)]
/// Routes a method number of one mixin to the plugin's trait implementation.
pub trait Dispatch<P> {
    const ID: u8;
    fn dispatch(instance: &Instance<P>, method: u32, args: &[u8]) -> CallOutcome;
    /// Runs once, right after the plugin object was created.
    fn on_instantiate(_instance: &Instance<P>) {}
}

/// Decodes the arguments of `M`, runs `f`, encodes its result.
#[inline]
pub(crate) fn serve<M: Method>(args: &[u8], f: impl FnOnce(M::Args) -> M::Output) -> CallOutcome {
    serve_result::<M>(args, |a| Ok(f(a)))
}

/// Like [`serve`] for callbacks that may fail.
#[inline]
pub(crate) fn serve_result<M: Method>(
    args: &[u8],
    f: impl FnOnce(M::Args) -> PluginResult<M::Output>,
) -> CallOutcome {
    let args = match M::ArgsCodec::decode(args) {
        Ok(a) => a,
        Err(e) => return CallOutcome::Error(format!("{}: bad arguments: {e}", M::NAME).into()),
    };
    match f(args) {
        Ok(out) => match M::OutputCodec::encode(&out) {
            Ok(bytes) => CallOutcome::Ok(bytes.into()),
            Err(e) => CallOutcome::Error(format!("{}: {e}", M::NAME).into()),
        },
        Err(e) => CallOutcome::Error(e.message.into()),
    }
}

/// Defines the zero-sized marker a mixin name in `export_plugin!` refers to.
macro_rules! mixin_marker {
    ($name:ident, $trait:ident, $id:literal, $(on_instantiate: |$i:ident| $init:block,)? |$inst:ident, $method:ident, $args:ident| $body:block) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub struct $name;
        impl<P: $trait> $crate::mixins::Dispatch<P> for $name {
            const ID: u8 = $id;
            fn dispatch(
                $inst: &$crate::export::Instance<P>,
                $method: u32,
                $args: &[u8],
            ) -> $crate::abi::CallOutcome {
                $body
            }
            $(
                fn on_instantiate($i: &$crate::export::Instance<P>) $init
            )?
        }
    };
}
pub(crate) use mixin_marker;

/// The markers `export_plugin!` names mixins by.
#[doc(hidden)]
pub mod markers {
    pub use super::assets::Asset;
    pub use super::blueprint::Blueprint;
    pub use super::environment::EnvironmentDetection;
    pub use super::events::{EventHandler, Progress};
    pub use super::lifecycle::{Shutdown, Startup};
    pub use super::settings::Settings;
    pub use super::simple_api::SimpleApi;
    pub use super::slicer::Slicer;
    pub use super::templates::Template;
    pub use super::ui::Ui;
    pub use super::webcam::WebcamProvider;
    pub use super::wizard::Wizard;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixin_table_has_unique_ids_and_names() {
        for (i, a) in MIXINS.iter().enumerate() {
            for b in &MIXINS[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.name, b.name);
            }
        }
        assert_eq!(MIXINS.len(), 14);
    }

    #[test]
    fn restart_and_reload_needing_mixins_are_the_seeds() {
        let restart: Vec<_> = MIXINS
            .iter()
            .filter(|m| m.restart_needing)
            .map(|m| m.name)
            .collect();
        let reload: Vec<_> = MIXINS
            .iter()
            .filter(|m| m.reload_needing)
            .map(|m| m.name)
            .collect();
        assert_eq!(restart, ["Blueprint", "Asset", "EnvironmentDetection"]);
        assert_eq!(reload, ["Template", "Wizard"]);
    }
}
