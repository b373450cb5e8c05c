//! What `export_plugin!` expands to: the plugin object, its entry points
//! (each guarded against panics) and the metadata written into the library.

use std::any::Any;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString};

use crate::abi::{CallOutcome, HostHandle, PluginInstance, PluginVTable};
use crate::host::Host;
use crate::methods::plugin::*;
use crate::mixins::{serve, serve_result, BlueprintRoutes};
use crate::plugin::{Plugin, Registry};
use crate::types::{PluginError, Registrations};

/// Routes the methods of one mixin.
pub type DispatchFn<P> = fn(&Instance<P>, u32, &[u8]) -> CallOutcome;
/// Runs once for one mixin right after the plugin object was created.
pub type InitFn<P> = fn(&Instance<P>);
/// One mixin of a plugin: its number, its router, its set-up.
pub type MixinEntry<P> = (u8, DispatchFn<P>, InitFn<P>);

/// A plugin object as the SDK keeps it: the author's type plus what the SDK
/// built from it once (registrations, routes).
pub struct Instance<P: 'static> {
    pub(crate) plugin: P,
    table: &'static [MixinEntry<P>],
    registry: OnceLock<Registry<P>>,
    pub(crate) blueprint: OnceLock<BlueprintRoutes<P>>,
}

impl<P: Plugin> Instance<P> {
    fn registry(&self) -> &Registry<P> {
        self.registry.get_or_init(|| {
            let mut r = Registry::default();
            self.plugin.register(&mut r);
            r
        })
    }

    /// Whether the plugin registers no hook and no helper (most do not).
    fn registers_nothing(&self) -> bool {
        let r = self.registry();
        r.hooks.is_empty() && r.helpers.is_empty()
    }

    fn dispatch(&self, method: u32, args: &[u8]) -> CallOutcome {
        let mixin = (method >> 8) as u8;
        if mixin == 0 {
            return self.dispatch_base(method, args);
        }
        match self.table.iter().find(|(id, _, _)| *id == mixin) {
            Some((_, f, _)) => f(self, method, args),
            None => CallOutcome::Unsupported,
        }
    }

    fn dispatch_base(&self, method: u32, args: &[u8]) -> CallOutcome {
        let p = &self.plugin;
        match method {
            Initialize::ID => serve_result::<Initialize>(args, |()| p.initialize()),
            OnPluginEnabled::ID => serve::<OnPluginEnabled>(args, |()| p.on_plugin_enabled()),
            OnPluginDisabled::ID => serve::<OnPluginDisabled>(args, |()| {
                p.on_plugin_disabled();
                p.host().stop_timers();
            }),
            OnPluginPendingUninstall::ID => {
                serve::<OnPluginPendingUninstall>(args, |()| p.on_plugin_pending_uninstall())
            }
            GetSortingKey::ID => serve::<GetSortingKey>(args, |ctx| p.get_sorting_key(&ctx)),
            // No arguments is what the host sends (`()`); anything else is
            // decoded, and refused, as before.
            GetRegistrations::ID if args.is_empty() && self.registers_nothing() => {
                CallOutcome::Ok(NOTHING_REGISTERED.to_vec().into())
            }
            GetRegistrations::ID => serve::<GetRegistrations>(args, |()| {
                let r = self.registry();
                Registrations {
                    hooks: r.hooks.iter().map(|(n, o, _)| (n.clone(), *o)).collect(),
                    helpers: r.helpers.iter().map(|(n, _)| n.clone()).collect(),
                }
            }),
            CallHook::ID => serve_result::<CallHook>(args, |(name, a)| {
                match self.registry().hooks.iter().find(|(n, _, _)| *n == name) {
                    Some((_, _, handler)) => handler(p, &a),
                    None => Err(PluginError::new(format!("no handler for hook `{name}`"))),
                }
            }),
            CallGcodeHook::ID => self.call_gcode_hook(args),
            CallHelper::ID => serve_result::<CallHelper>(args, |(name, a)| {
                match self.registry().helpers.iter().find(|(n, _)| *n == name) {
                    Some((_, helper)) => helper(p, &a),
                    None => Err(PluginError::new(format!("no helper `{name}`"))),
                }
            }),
            _ => CallOutcome::Unsupported,
        }
    }
}

impl<P: Plugin> Instance<P> {
    /// `CallGcodeHook`: the command is read in place from the call's bytes
    /// and handed to the typed handler of its phase (an untyped one gets
    /// the JSON); "unchanged" answers no bytes.
    fn call_gcode_hook(&self, args: &[u8]) -> CallOutcome {
        use crate::hooks::{GcodeAnswerWire, GcodeCommand};
        use crate::wire::Codec;
        let command = match GcodeCommand::parse(args) {
            Ok(c) => c,
            Err(e) => {
                return CallOutcome::Error(format!("CallGcodeHook: bad arguments: {e}").into())
            }
        };
        let r = self.registry();
        let answer = match r.gcode.iter().find(|(phase, _)| *phase == command.phase) {
            Some((_, handler)) => handler(&self.plugin, &command).map(|a| a.to_value()),
            None => {
                let name = command.phase.hook();
                match r.hooks.iter().find(|(n, _, _)| n == name) {
                    Some((_, _, handler)) => serde_json::to_value(command.to_args())
                        .map_err(PluginError::from)
                        .and_then(|a| handler(&self.plugin, &a)),
                    None => Err(PluginError::new(format!("no handler for hook `{name}`"))),
                }
            }
        };
        match answer.and_then(|v| GcodeAnswerWire::encode(&v).map_err(PluginError::new)) {
            Ok(bytes) => CallOutcome::Ok(bytes.into()),
            Err(e) => CallOutcome::Error(e.message.into()),
        }
    }
}

/// `GetRegistrations`' answer for a plugin that registers no hook and no
/// helper (most plugins): written as is, so enabling one runs none of the
/// JSON writer in its library.
const NOTHING_REGISTERED: &[u8] = br#"{"hooks":[],"helpers":[]}"#;

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// Drops a caught panic payload. A payload whose `Drop` panics again would
/// otherwise unwind out of an `extern "C"` function and abort the host: that
/// second panic is caught too, and its own payload is leaked, never dropped.
fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// The message of a caught panic; the payload is disposed of safely.
pub(crate) fn caught(payload: Box<dyn Any + Send>) -> String {
    let message = panic_message(&*payload);
    dispose(payload);
    message
}

fn guarded(f: impl FnOnce() -> CallOutcome) -> CallOutcome {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| CallOutcome::Panic(caught(p).into()))
}

extern "C" fn call<P: Plugin>(
    this: *const c_void,
    method: u32,
    args: RSlice<'_, u8>,
) -> CallOutcome {
    // SAFETY: `this` was made by `instantiate::<P>` from a `Box<Instance<P>>`, and the
    // host calls no method after `drop`.
    let instance = unsafe { &*(this as *const Instance<P>) };
    guarded(|| instance.dispatch(method, args.as_slice()))
}

extern "C" fn drop_instance<P: Plugin>(this: *const c_void) -> CallOutcome {
    guarded(|| {
        // SAFETY: as in `call`; the host calls `drop` exactly once, after the last call.
        drop(unsafe { Box::from_raw(this as *mut Instance<P>) });
        CallOutcome::Ok(Default::default())
    })
}

struct VTableOf<P>(PhantomData<P>);

impl<P: Plugin> VTableOf<P> {
    const VTABLE: PluginVTable = PluginVTable {
        call: call::<P>,
        drop: drop_instance::<P>,
    };
}

/// Creates the plugin object: the body of the exported `instantiate`.
pub fn instantiate<P: Plugin>(
    handle: HostHandle,
    table: &'static [MixinEntry<P>],
) -> RResult<PluginInstance, RString> {
    let made = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `handle` is what the host passed to `instantiate`, alive for this call.
        let host = unsafe { Host::from_raw(handle) };
        Ok::<_, String>(Box::new(Instance {
            plugin: P::new(host),
            table,
            registry: OnceLock::new(),
            blueprint: OnceLock::new(),
        }))
        .inspect(|instance| table.iter().for_each(|(_, _, init)| init(instance)))
    }));
    match made {
        Ok(Ok(instance)) => ROk(PluginInstance {
            this: Box::into_raw(instance) as *const c_void,
            vtable: &VTableOf::<P>::VTABLE,
        }),
        Ok(Err(e)) => RErr(e.into()),
        Err(p) => RErr(format!("panicked in new: {}", caught(p)).into()),
    }
}

/// Looks a file up among those compiled into the library.
pub fn embedded_file(
    files: &'static [(&'static str, &'static [u8])],
    path: RStr<'_>,
) -> ROption<RSlice<'static, u8>> {
    let path = path.as_str();
    files
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| RSlice::from_slice(bytes))
        .into()
}

/// A piece of the metadata JSON, assembled at compile time.
pub enum MetaPart {
    /// Copied as is.
    Raw(&'static str),
    /// A JSON string (quoted and escaped); preceded by a comma unless it opens a list.
    Str(&'static str),
}

/// Writes `parts` into an array of `N` bytes; returns it and the length needed.
/// Call with `N = 0` to learn the length.
pub const fn emit<const N: usize>(parts: &[MetaPart]) -> ([u8; N], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut w = Writer {
        out: [0u8; N],
        len: 0,
        last: 0,
    };
    let mut i = 0;
    while i < parts.len() {
        let (text, quoted) = match parts[i] {
            MetaPart::Raw(s) => (s.as_bytes(), false),
            MetaPart::Str(s) => (s.as_bytes(), true),
        };
        if quoted {
            if w.len > 0 && w.last != b'[' && w.last != b':' {
                w = w.put(b',');
            }
            w = w.put(b'"');
        }
        let mut j = 0;
        while j < text.len() {
            let b = text[j];
            if quoted && (b == b'"' || b == b'\\') {
                w = w.put(b'\\').put(b);
            } else if quoted && b < 0x20 {
                w = w.put(b'\\').put(b'u').put(b'0').put(b'0');
                w = w.put(HEX[(b >> 4) as usize]).put(HEX[(b & 15) as usize]);
            } else {
                w = w.put(b);
            }
            j += 1;
        }
        if quoted {
            w = w.put(b'"');
        }
        i += 1;
    }
    (w.out, w.len)
}

struct Writer<const N: usize> {
    out: [u8; N],
    len: usize,
    last: u8,
}

impl<const N: usize> Writer<N> {
    const fn put(mut self, b: u8) -> Self {
        if self.len < N {
            self.out[self.len] = b;
        }
        self.len += 1;
        self.last = b;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_registered_is_what_the_json_writer_would_answer() {
        use crate::wire::{Codec, Method};
        let written =
            <GetRegistrations as Method>::OutputCodec::encode(&Registrations::default()).unwrap();
        assert_eq!(
            std::str::from_utf8(NOTHING_REGISTERED).unwrap(),
            std::str::from_utf8(&written).unwrap()
        );
    }

    /// A panic payload that panics again when dropped.
    struct Spiteful;

    impl Drop for Spiteful {
        fn drop(&mut self) {
            panic!("dropping the payload");
        }
    }

    #[test]
    fn a_payload_that_panics_when_dropped_does_not_escape() {
        let outcome = guarded(|| std::panic::panic_any(Spiteful));
        assert!(
            matches!(&outcome, CallOutcome::Panic(m) if m.as_str() == "panic with a non-text payload"),
            "{outcome:?}"
        );
        let outcome = guarded(|| panic!("plain"));
        assert!(matches!(&outcome, CallOutcome::Panic(m) if m.as_str() == "plain"));
    }

    const PARTS: &[MetaPart] = &[
        MetaPart::Raw("{\"name\":"),
        MetaPart::Str("Say \"hi\"\\\n"),
        MetaPart::Raw(",\"mixins\":["),
        MetaPart::Str("Startup"),
        MetaPart::Str("Settings"),
        MetaPart::Raw("]}"),
    ];

    #[test]
    fn metadata_is_valid_json_with_escapes() {
        const LEN: usize = emit::<0>(PARTS).1;
        let (bytes, len) = emit::<LEN>(PARTS);
        assert_eq!(len, LEN);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["name"], "Say \"hi\"\\\n");
        assert_eq!(v["mixins"], serde_json::json!(["Startup", "Settings"]));
    }
}
