//! One trait per mixin of OctoPrint's plugin system (the mixins themselves,
//! their numbers and flags, are declared in the contract: `plinth_abi::Mixin`).

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
pub use events::{EventHandlerPlugin, Payload, ProgressPlugin};
pub use lifecycle::{ShutdownPlugin, StartupPlugin};
pub use settings::{Preprocessor, Preprocessors, SettingsPlugin};
pub use simple_api::SimpleApiPlugin;
pub use slicer::{SlicerPlugin, SlicingJob};
pub use templates::TemplatePlugin;
pub use ui::UiPlugin;
pub use webcam::WebcamProviderPlugin;
pub use wizard::WizardPlugin;

use crate::abi::CallOutcome;
use crate::export::Instance;
use crate::types::PluginResult;
use crate::wire::{Codec, Method};

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
    ($name:ident, $trait:ident, $(on_instantiate: |$i:ident| $init:block,)? |$inst:ident, $method:ident, $args:ident| $body:block) => {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub struct $name;
        impl<P: $trait> $crate::mixins::Dispatch<P> for $name {
            const ID: u8 = plinth_abi::Mixin::$name.number();
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
