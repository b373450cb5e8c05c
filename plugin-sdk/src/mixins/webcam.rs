//! WebcamProviderPlugin.

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{PluginResult, Webcam};

/// Provides webcams for the web interface, snapshots and timelapses
/// (sorting context `WebcamProviderPlugin.get_webcam_configurations`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `WebcamProviderPlugin`, but `WebcamProvider` is in its export_plugin! `mixins:` list",
    label = "implement `WebcamProviderPlugin` for `{Self}`, or remove `WebcamProvider` from `mixins:`"
)]
pub trait WebcamProviderPlugin: Plugin {
    /// The available webcams; may be empty.
    fn get_webcam_configurations(&self) -> Vec<Webcam>;

    /// A JPEG snapshot of the webcam `webcam` (a name from the configurations).
    fn take_webcam_snapshot(&self, webcam: &str) -> PluginResult<Vec<u8>>;
}

mixin_marker!(
    WebcamProvider,
    WebcamProviderPlugin,
    |inst, method, args| {
        let p = &inst.plugin;
        match method {
            GetWebcamConfigurations::ID => {
                serve::<GetWebcamConfigurations>(args, |()| p.get_webcam_configurations())
            }
            TakeWebcamSnapshot::ID => {
                serve_result::<TakeWebcamSnapshot>(args, |w| p.take_webcam_snapshot(&w))
            }
            _ => CallOutcome::Unsupported,
        }
    }
);
