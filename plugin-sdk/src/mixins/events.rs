//! EventHandlerPlugin and ProgressPlugin.

use serde_json::Value;

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::SlicingProgress;

/// Receives every event fired on the host's event bus.
///
/// Events reach each handler in the order they were fired. A slow handler
/// does not hold up the other plugins, but keep the work short all the same.
pub trait EventHandlerPlugin: Plugin {
    /// Called for every event with its name and payload. The host's events,
    /// with their payloads, are listed in [`events`](crate::events) (compare
    /// with its constants: `if event == events::PRINT_DONE { … }`); a plugin's
    /// own events are named `plugin_<id>_<name>`
    /// ([`events::plugin_event`](crate::events::plugin_event)).
    fn on_event(&self, event: &str, payload: &Value);
}

/// Called on progress of print jobs and slicing jobs, in steps of at least 1 %.
pub trait ProgressPlugin: Plugin {
    /// Progress of the print job of the file at `path` in `storage` (`local`), 0 to 100.
    fn on_print_progress(&self, storage: &str, path: &str, progress: u8) {
        let _ = (storage, path, progress);
    }

    /// Progress of a slicing job.
    fn on_slicing_progress(&self, progress: &SlicingProgress) {
        let _ = progress;
    }
}

mixin_marker!(EventHandler, EventHandlerPlugin, |inst, method, args| {
    match method {
        OnEvent::ID => serve::<OnEvent>(args, |(e, p)| inst.plugin.on_event(&e, &p)),
        _ => CallOutcome::Unsupported,
    }
});

mixin_marker!(Progress, ProgressPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        OnPrintProgress::ID => {
            serve::<OnPrintProgress>(args, |(s, path, pr)| p.on_print_progress(&s, &path, pr))
        }
        OnSlicingProgress::ID => serve::<OnSlicingProgress>(args, |sp| p.on_slicing_progress(&sp)),
        _ => CallOutcome::Unsupported,
    }
});
