//! The one seam between the host and a plugin. Calls go in as (method
//! number, encoded arguments) and come back as a [`CallOutcome`]; the
//! plugin's service calls come out the same way and are answered by its
//! [`PluginContext`](crate::plugins::services::PluginContext). Dispatch, the
//! lifecycle, events and HTTP see only these two traits. Today's transport is
//! the in-process vtable ([`crate::plugins::ffi`]); another one (a plugin in a
//! process of its own, with the same messages) plugs in here.

use std::borrow::Cow;
use std::sync::Arc;

use plinth_abi::vtable::CallOutcome;

use crate::plugins::object::CallError;
use crate::plugins::services::PluginContext;

/// A plugin library as the host uses it: it makes plugin objects and holds
/// the files compiled into it.
pub trait Library: Send + Sync {
    /// Creates the plugin object, handing it `context`: what it calls back.
    fn instantiate(&self, context: &Arc<PluginContext>) -> Result<Box<dyn Transport>, CallError>;

    /// A file compiled into the library (`templates/…`, `static/…`); `None`
    /// when there is no such file, or the library predates embedded files.
    fn embedded_file(&self, path: &str) -> Option<Cow<'static, [u8]>>;
}

/// A live plugin object as the host reaches it; dropping the transport
/// destroys the object (after its last call).
pub trait Transport: Send + Sync {
    /// Calls method number `method` with encoded arguments.
    fn call(&self, method: u32, args: &[u8]) -> CallOutcome;
}
