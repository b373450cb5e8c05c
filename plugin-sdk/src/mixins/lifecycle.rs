//! StartupPlugin and ShutdownPlugin.

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// Hooks into the start-up of the host (sorting contexts
/// `StartupPlugin.on_startup` and `StartupPlugin.on_after_startup`).
///
/// A plugin enabled while the host is already running gets both calls, in
/// order, when it is enabled (OctoPrint skips them; Plinth does not).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `StartupPlugin`, but `Startup` is in its export_plugin! `mixins:` list",
    label = "implement `StartupPlugin` for `{Self}`, or remove `Startup` from `mixins:`"
)]
pub trait StartupPlugin: Plugin {
    /// Called just before the server starts listening, with the host and port it
    /// will listen on. `host` may be `0.0.0.0` when it listens on every interface,
    /// so do not build public URLs from it. The plugin's own endpoints are not
    /// reachable yet. Do not block here.
    fn on_startup(&self, host: &str, port: u16) {
        let _ = (host, port);
    }

    /// Called once the server is listening. Do not block here.
    fn on_after_startup(&self) {}
}

/// Hooks into the shutdown of the host (sorting context `ShutdownPlugin.on_shutdown`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `ShutdownPlugin`, but `Shutdown` is in its export_plugin! `mixins:` list",
    label = "implement `ShutdownPlugin` for `{Self}`, or remove `Shutdown` from `mixins:`"
)]
pub trait ShutdownPlugin: Plugin {
    /// Called when the host is about to shut down. Do not block here. The
    /// plugin's timers ([`Host::repeated_timer`](crate::Host::repeated_timer))
    /// are stopped once it returns.
    fn on_shutdown(&self) {}
}

mixin_marker!(Startup, StartupPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        OnStartup::ID => serve::<OnStartup>(args, |(h, port)| p.on_startup(&h, port)),
        OnAfterStartup::ID => serve::<OnAfterStartup>(args, |()| p.on_after_startup()),
        _ => CallOutcome::Unsupported,
    }
});

mixin_marker!(Shutdown, ShutdownPlugin, |inst, method, args| {
    match method {
        OnShutdown::ID => serve::<OnShutdown>(args, |()| {
            inst.plugin.on_shutdown();
            // Its timers end with it.
            inst.plugin.host().stop_timers();
        }),
        _ => CallOutcome::Unsupported,
    }
});
