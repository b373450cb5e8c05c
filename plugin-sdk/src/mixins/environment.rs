//! EnvironmentDetectionPlugin.

use serde_json::Value;

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// Receives the host's view of the environment it runs in (OS, hardware,
/// Plinth version) once at start-up. Restart-needing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `EnvironmentDetectionPlugin`, but `EnvironmentDetection` is in its export_plugin! `mixins:` list",
    label = "implement `EnvironmentDetectionPlugin` for `{Self}`, or remove `EnvironmentDetection` from `mixins:`"
)]
pub trait EnvironmentDetectionPlugin: Plugin {
    /// Called with the detected environment.
    fn on_environment_detected(&self, environment: &Value);
}

mixin_marker!(
    EnvironmentDetection,
    EnvironmentDetectionPlugin,
    |inst, method, args| {
        match method {
            OnEnvironmentDetected::ID => serve::<OnEnvironmentDetected>(args, |env| {
                inst.plugin.on_environment_detected(&env)
            }),
            _ => CallOutcome::Unsupported,
        }
    }
);
