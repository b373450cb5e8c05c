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

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{LibHeader, LibraryError};
use abi_stable::std_types::{RResult, RSlice, RStr};
use abi_stable::StableAbi;
use plinth_abi::vtable::{CallOutcome, HostHandle, HostVTable, PluginInstance, PluginModuleRef};

#[cfg(unix)]
pub(crate) mod crash;

use crate::plugins::loader::LayoutCheck;
use crate::plugins::object::CallError;
use crate::plugins::services::PluginContext;
use crate::plugins::transport::{Fault, Library, Transport};

/// Why a library's root module cannot be used.
pub(crate) enum RootModuleError {
    /// The library carries no layout to check.
    NoLayout,
    /// Its layout does not match this host's (the checker's report).
    Layout(String),
    /// Its root module failed to initialise.
    Init(String),
}

/// Checks the layout of a library's root module against this host's, in the
/// direction its ABI minor calls for, then initialises it. A plugin built
/// against an older ABI has fewer root-module fields than this host, so the
/// host's layout must extend the plugin's; a newer plugin's layout must
/// extend the host's. Fields the plugin lacks read back as `None`.
/// [`LayoutCheck::PassedBefore`]: this very library file passed the same
/// check at an earlier start of this host build, so it is not walked again.
pub(crate) fn root_module(
    header: &'static LibHeader,
    plugin_minor: u32,
    check: &LayoutCheck,
) -> Result<PluginModuleRef, RootModuleError> {
    let host = <PluginModuleRef as StableAbi>::LAYOUT;
    let plugin = header.layout().ok_or(RootModuleError::NoLayout)?;
    if *check == LayoutCheck::Run {
        let checked = if plugin_minor < plinth_abi::ABI_MINOR {
            check_layout_compatibility(plugin, host)
        } else {
            check_layout_compatibility(host, plugin)
        };
        checked.map_err(|e| RootModuleError::Layout(e.to_string()))?;
    }
    // SAFETY: the layout was checked just above, in the direction that
    // matches the plugin's ABI minor, or (`PassedBefore`) the same way for
    // this unchanged file by this same host build at an earlier start.
    unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
        .map_err(|e: LibraryError| RootModuleError::Init(e.to_string()))
}

/// A library mapped into this process.
pub(crate) struct InProcess(pub(crate) PluginModuleRef);

/// What answers a plugin's calls back into the host through its handle:
/// the plugin's [`PluginContext`] in the host, or the channel to the host in
/// an isolated plugin's process.
pub(crate) trait Endpoint: Send + Sync + 'static {
    /// Writes a log line of the plugin's.
    fn log(&self, level: u8, message: &str);
    /// Answers service number `service`.
    fn serve(&self, service: u32, args: &[u8]) -> CallOutcome;
}

impl Endpoint for PluginContext {
    fn log(&self, level: u8, message: &str) {
        PluginContext::log(self, level, message)
    }
    fn serve(&self, service: u32, args: &[u8]) -> CallOutcome {
        PluginContext::serve(self, service, args)
    }
}

impl InProcess {
    /// Creates the plugin object, handing it a handle on `endpoint`.
    pub(crate) fn instantiate_with<E: Endpoint>(
        &self,
        endpoint: &Arc<E>,
        id: &str,
    ) -> Result<Box<dyn Transport>, CallError> {
        let handle = HostHandle {
            ctx: Arc::as_ptr(endpoint) as *const c_void,
            vtable: &Handle::<E>::VTABLE,
        };
        #[cfg(unix)]
        let id = crash::plugin_id(id);
        #[cfg(not(unix))]
        let id: &'static str = Box::leak(id.to_owned().into_boxed_str());
        #[cfg(unix)]
        let _in_flight = crash::InFlight::enter(
            id,
            crate::plugins::isolated::frame::control::INSTANTIATE,
            b"",
        );
        // `endpoint` is alive for the whole call; the plugin retains its own
        // reference (through `retain`) before it keeps the handle.
        match (self.0.instantiate())(handle) {
            RResult::ROk(raw) => Ok(Box::new(Object { raw, id })),
            RResult::RErr(e) => Err(CallError::Failed(e.into())),
        }
    }

    /// A file compiled into the library, borrowed from it.
    pub(crate) fn file(&self, path: &str) -> Option<&'static [u8]> {
        let lookup = self.0.embedded_file()?;
        lookup(RStr::from_str(path))
            .into_option()
            .map(|bytes| bytes.as_slice())
    }
}

impl Library for InProcess {
    fn instantiate(&self, context: &Arc<PluginContext>) -> Result<Box<dyn Transport>, CallError> {
        self.instantiate_with(context, &context.identity.id)
    }

    fn embedded_file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        self.file(path).map(Cow::Borrowed)
    }
}

/// A plugin object living in this process; destroyed (once) when dropped.
struct Object {
    raw: PluginInstance,
    /// Its plugin, for the log and the crash record.
    id: &'static str,
}

// SAFETY: the SDK requires every plugin type to be `Send + Sync`, and the
// object is only reached through its vtable, which takes `&self`-like access.
unsafe impl Send for Object {}
// SAFETY: as above.
unsafe impl Sync for Object {}

impl Transport for Object {
    fn call(&self, method: u32, args: &[u8]) -> Result<CallOutcome, Box<Fault>> {
        #[cfg(unix)]
        let _in_flight = crash::InFlight::enter(self.id, method, args);
        Ok((self.raw.vtable.call)(
            self.raw.this,
            method,
            RSlice::from_slice(args),
        ))
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        #[cfg(unix)]
        let _in_flight =
            crash::InFlight::enter(self.id, crate::plugins::isolated::frame::control::DROP, b"");
        // The only call of `drop`, after the last `call` (this owns the object).
        match (self.raw.vtable.drop)(self.raw.this) {
            CallOutcome::Panic(msg) => {
                tracing::error!(plugin = %self.id, "panicked while being dropped: {msg}")
            }
            CallOutcome::Error(msg) => {
                tracing::error!(plugin = %self.id, "failed while being dropped: {msg}")
            }
            _ => {}
        }
    }
}

/// The host's side of a plugin handle whose context is an `E`.
struct Handle<E>(std::marker::PhantomData<E>);

impl<E: Endpoint> Handle<E> {
    const VTABLE: HostVTable = HostVTable {
        retain: Self::retain,
        release: Self::release,
        log: Self::log,
        call: Self::call,
    };

    /// The endpoint behind a plugin's handle.
    ///
    /// # Safety
    /// `ctx` must be the pointer `instantiate_with` handed out, and the
    /// plugin must hold a reference to it (taken through `retain`), or be
    /// inside `instantiate`.
    unsafe fn endpoint<'a>(ctx: *const c_void) -> &'a E {
        // SAFETY: guaranteed by the caller.
        unsafe { &*(ctx as *const E) }
    }

    extern "C" fn retain(ctx: *const c_void) {
        // SAFETY: `ctx` is `Arc::as_ptr` of a live `Arc<E>` (see `instantiate_with`).
        unsafe { Arc::increment_strong_count(ctx as *const E) }
    }

    extern "C" fn release(ctx: *const c_void) {
        // SAFETY: each `release` matches an earlier `retain` of the same pointer.
        unsafe { Arc::decrement_strong_count(ctx as *const E) }
    }

    extern "C" fn log(ctx: *const c_void, level: u8, message: RStr<'_>) {
        // SAFETY: the plugin only calls with a context it retained.
        let endpoint = unsafe { Self::endpoint(ctx) };
        endpoint.log(level, message.as_str());
    }

    extern "C" fn call(ctx: *const c_void, service: u32, args: RSlice<'_, u8>) -> CallOutcome {
        // SAFETY: the plugin only calls with a context it retained.
        let endpoint = unsafe { Self::endpoint(ctx) };
        // While the host serves the plugin, a fault is the host's own.
        #[cfg(unix)]
        let _host = crash::InFlight::none();
        catch_unwind(AssertUnwindSafe(|| {
            endpoint.serve(service, args.as_slice())
        }))
        .unwrap_or_else(|_| CallOutcome::Error("the host failed while serving this call".into()))
    }
}

/// Reads what `stream` already holds into `buf` without waiting:
/// `WouldBlock` when nothing arrived yet. The stream stays blocking for
/// everyone else (unlike `set_nonblocking`, which changes the shared file).
#[cfg(unix)]
pub(crate) fn receive_now(
    stream: &std::os::unix::net::UnixStream,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: `buf` is valid for `buf.len()` bytes of writing, and the file
    // descriptor is the stream's, open for the whole call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Ends process group `group` (an isolated plugin's process and whatever
/// it started) with SIGKILL; nothing happens when the group is gone.
#[cfg(unix)]
pub(crate) fn kill_group(group: u32) {
    let Ok(group) = libc::pid_t::try_from(group) else {
        return;
    };
    if group > 1 {
        // SAFETY: kill takes plain integers; a negative pid names the group.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
}
