//! EventHandlerPlugin and ProgressPlugin.

use std::cell::OnceCell;
use std::fmt;
use std::ops::Deref;

use serde::de::DeserializeOwned;
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `EventHandlerPlugin`, but `EventHandler` is in its export_plugin! `mixins:` list",
    label = "implement `EventHandlerPlugin` for `{Self}`, or remove `EventHandler` from `mixins:`"
)]
pub trait EventHandlerPlugin: Plugin {
    /// Called for every event with its name and payload. The host's events,
    /// with their payloads, are listed in [`events`](crate::events) (compare
    /// with its constants: `if event == events::PRINT_DONE { … }`); a plugin's
    /// own events are named `plugin_<id>_<name>`
    /// ([`events::plugin_event`](crate::events::plugin_event)).
    ///
    /// The payload is decoded when it is first read, so a handler that
    /// only looks at the name pays nothing for it. Read it as a JSON value
    /// (`payload["name"]`, `payload.get("path")`: a [`Payload`] derefs to
    /// [`Value`]) or decode it into your own type with
    /// [`Payload::decode`].
    ///
    /// Events come in batches: the host hands a handler every event that
    /// waits for it in one call, and this method runs once per event, in
    /// order. A panic is caught and logged with the event's name; the
    /// next event is delivered as usual.
    fn on_event(&self, event: &str, payload: &Payload);
}

/// The payload of an event, decoded from its JSON text when first read.
///
/// Derefs to [`Value`], so `payload["path"]`, `payload.get("time")`,
/// `payload.is_null()` work as on a value; [`decode`](Self::decode) reads
/// it into a type of yours instead. In tests, make one with
/// [`Payload::from_value`].
pub struct Payload<'a> {
    json: Option<&'a [u8]>,
    value: OnceCell<Value>,
}

impl<'a> Payload<'a> {
    /// The payload whose JSON text is `json` (the host's wire form).
    pub fn from_json(json: &'a [u8]) -> Self {
        Self {
            json: Some(json),
            value: OnceCell::new(),
        }
    }

    /// The JSON value, decoded on first use (`null` if the text is not JSON,
    /// which the host never sends).
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| match self.json {
            Some(json) => serde_json::from_slice(json).unwrap_or(Value::Null),
            None => Value::Null,
        })
    }

    /// The payload as event `E`'s typed payload, when `event` is `E`
    /// ([`payloads`](crate::payloads): `PrintStarted`, `FileAdded`, …);
    /// `None` for other events:
    ///
    /// ```ignore
    /// if let Some(Ok(done)) = payload.decode_event::<payloads::PrintDone>(event) {
    ///     logger.info(format_args!("{} took {} s", done.name, done.time));
    /// }
    /// ```
    pub fn decode_event<E: plinth_abi::payloads::Event>(
        &self,
        event: &str,
    ) -> Option<Result<E, serde_json::Error>> {
        (event == E::NAME).then(|| self.decode())
    }

    /// Decodes the payload into `T` (a struct of the fields you read).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        match (self.value.get(), self.json) {
            (Some(value), _) => T::deserialize(value),
            (None, Some(json)) => serde_json::from_slice(json),
            (None, None) => T::deserialize(&Value::Null),
        }
    }
}

impl Payload<'static> {
    /// A payload holding `value` (for tests of a handler).
    pub fn from_value(value: Value) -> Self {
        Self {
            json: None,
            value: OnceCell::from(value),
        }
    }
}

impl Deref for Payload<'_> {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl fmt::Debug for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl fmt::Display for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.value(), f)
    }
}

impl PartialEq<Value> for Payload<'_> {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

/// Delivers a packed batch (`OnEvents`), one `on_event` per event; a panic
/// ends only its own event.
fn on_events<P: EventHandlerPlugin>(plugin: &P, batch: &[u8]) -> CallOutcome {
    let mut failed: Vec<(u32, String)> = Vec::new();
    for (index, event) in plinth_abi::events::packed::iter(batch).enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        match event {
            Ok((name, json)) => {
                let payload = Payload::from_json(json);
                let run = std::panic::AssertUnwindSafe(|| plugin.on_event(name, &payload));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    failed.push((index, format!("panicked: {}", crate::export::caught(panic))));
                }
            }
            Err(malformed) => {
                failed.push((index, format!("OnEvents: {malformed}")));
                break;
            }
        }
    }
    if failed.is_empty() {
        return CallOutcome::Ok(Vec::new().into());
    }
    match serde_json::to_vec(&failed) {
        Ok(bytes) => CallOutcome::Ok(bytes.into()),
        Err(e) => CallOutcome::Error(format!("OnEvents: {e}").into()),
    }
}

/// Called on progress of print jobs and slicing jobs, in steps of at least 1 %.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `ProgressPlugin`, but `Progress` is in its export_plugin! `mixins:` list",
    label = "implement `ProgressPlugin` for `{Self}`, or remove `Progress` from `mixins:`"
)]
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
        OnEvent::ID => serve::<OnEvent>(args, |(e, p)| {
            inst.plugin.on_event(&e, &Payload::from_value(p))
        }),
        OnEvents::ID => on_events(&inst.plugin, args),
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
