//! All of the host's `unsafe` code: the in-process transport, through the
//! ABI's vtables. A library is mapped once and never unmapped (code, vtables
//! and type layouts of a plugin may be referenced until the process exits),
//! its root module initialised after the layout check; plugin objects are
//! called through their [`PluginVTable`](plinth_abi::vtable::PluginVTable), and
//! the plugin calls the host back through [`HOST_VTABLE`], whose context is
//! the plugin's [`PluginContext`], reference counted by the plugin.

use std::borrow::Cow;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use abi_stable::library::{LibHeader, LibraryError};
use abi_stable::std_types::{RResult, RSlice, RStr};
use plinth_abi::vtable::{CallOutcome, HostHandle, HostVTable, PluginInstance, PluginModuleRef};

use crate::plugins::services::PluginContext;
use crate::plugins::transport::{Library, Transport};

/// Initialises the root module of a library whose layout the caller checked.
pub(crate) fn init_checked_root_module(
    header: &'static LibHeader,
) -> Result<PluginModuleRef, LibraryError> {
    // SAFETY: the caller (`loader::load`) checked the root module's layout
    // against this host's, in the direction the plugin's ABI minor calls for.
    unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
}

/// A library mapped into this process.
pub(crate) struct InProcess(pub(crate) PluginModuleRef);

impl Library for InProcess {
    fn instantiate(&self, context: &Arc<PluginContext>) -> Result<Box<dyn Transport>, String> {
        let handle = HostHandle {
            ctx: Arc::as_ptr(context) as *const c_void,
            vtable: &HOST_VTABLE,
        };
        // `context` is alive for the whole call; the plugin retains its own
        // reference (through `retain`) before it keeps the handle.
        match (self.0.instantiate())(handle) {
            RResult::ROk(raw) => Ok(Box::new(Object(raw))),
            RResult::RErr(e) => Err(e.into()),
        }
    }

    fn embedded_file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        let lookup = self.0.embedded_file()?;
        lookup(RStr::from_str(path))
            .into_option()
            .map(|bytes| Cow::Borrowed(bytes.as_slice()))
    }
}

/// A plugin object living in this process.
struct Object(PluginInstance);

// SAFETY: the SDK requires every plugin type to be `Send + Sync`, and the
// object is only reached through its vtable, which takes `&self`-like access.
unsafe impl Send for Object {}
// SAFETY: as above.
unsafe impl Sync for Object {}

impl Transport for Object {
    fn call(&self, method: u32, args: &[u8]) -> CallOutcome {
        (self.0.vtable.call)(self.0.this, method, RSlice::from_slice(args))
    }

    fn release(&self) -> CallOutcome {
        (self.0.vtable.drop)(self.0.this)
    }
}

/// The context behind a plugin's handle.
///
/// # Safety
/// `ctx` must be the pointer `InProcess::instantiate` handed out, and the
/// plugin must hold a reference to it (taken through `retain`), or be inside
/// `instantiate`.
unsafe fn context<'a>(ctx: *const c_void) -> &'a PluginContext {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(ctx as *const PluginContext) }
}

extern "C" fn retain(ctx: *const c_void) {
    // SAFETY: `ctx` is `Arc::as_ptr` of a live `Arc<PluginContext>` (see `instantiate`).
    unsafe { Arc::increment_strong_count(ctx as *const PluginContext) }
}

extern "C" fn release(ctx: *const c_void) {
    // SAFETY: each `release` matches an earlier `retain` of the same pointer.
    unsafe { Arc::decrement_strong_count(ctx as *const PluginContext) }
}

extern "C" fn log(ctx: *const c_void, level: u8, message: RStr<'_>) {
    // SAFETY: the plugin only calls with a context it retained.
    let context = unsafe { context(ctx) };
    context.log(level, message.as_str());
}

extern "C" fn call(ctx: *const c_void, service: u32, args: RSlice<'_, u8>) -> CallOutcome {
    // SAFETY: the plugin only calls with a context it retained.
    let context = unsafe { context(ctx) };
    catch_unwind(AssertUnwindSafe(|| context.serve(service, args.as_slice())))
        .unwrap_or_else(|_| CallOutcome::Error("the host failed while serving this call".into()))
}

/// The host's side of every in-process plugin handle.
static HOST_VTABLE: HostVTable = HostVTable {
    retain,
    release,
    log,
    call,
};
