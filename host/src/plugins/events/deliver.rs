//! Handing a run of events to one handler: in one call (`OnEvents`, the
//! events packed) to a plugin in process, else one `OnEvent` per event,
//! sent in one exchange to an isolated plugin. A plugin built before
//! `OnEvents` answers that it does not know it and is called one event at
//! a time from then on.

use std::sync::{Arc, Weak};

use plinth_abi::events::{self, packed};
use plinth_abi::methods::plugin as m;

use super::log::Chunk;
use crate::plugins::object::{CallError, PluginObject};

/// How a handler takes its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    /// Not known yet: in process it is tried with `OnEvents` first.
    Unknown,
    /// A batch per call (`OnEvents`).
    Batched,
    /// One `OnEvent` per event (isolated plugins, plugins built before `OnEvents`).
    OneByOne,
}

/// Events numbered `from..to` for one handler, in the chunks that hold them.
pub(super) struct Job {
    pub(super) id: Arc<str>,
    pub(super) object: Weak<PluginObject>,
    pub(super) chunks: Vec<Arc<Chunk>>,
    pub(super) from: u64,
    pub(super) to: u64,
    /// Events dropped for it since its last delivery: told first.
    pub(super) dropped: u64,
    pub(super) scheme: Scheme,
}

/// Delivers a job; how the handler takes events, or `None` when its plugin
/// object is gone.
pub(super) fn deliver(job: &Job) -> Option<Scheme> {
    let object = job.object.upgrade()?;
    if !object.is_active() {
        // Being disabled (or not yet enabled): its events are not for it.
        return Some(job.scheme);
    }
    let mut scheme = match job.scheme {
        Scheme::Unknown if object.origin().is_some() => Scheme::OneByOne,
        Scheme::Unknown => Scheme::Batched,
        known => known,
    };
    if job.dropped > 0 {
        tracing::warn!(plugin = %job.id, "{} events were dropped for this handler", job.dropped);
        let mut notice = Vec::new();
        let count = serde_json::json!({ "count": job.dropped }).to_string();
        packed::push(&mut notice, events::EVENTS_DROPPED, count.as_bytes());
        scheme = send(&job.id, &object, scheme, &notice);
    }
    // One call for the whole run, even when it spans several chunks.
    let batch: std::borrow::Cow<'_, [u8]> = match job.chunks.as_slice() {
        [chunk] => chunk.slice(job.from, job.to).into(),
        chunks => chunks
            .iter()
            .flat_map(|c| c.slice(job.from, job.to))
            .copied()
            .collect::<Vec<u8>>()
            .into(),
    };
    if !batch.is_empty() {
        scheme = send(&job.id, &object, scheme, &batch);
    }
    Some(scheme)
}

/// Sends one packed batch; how the handler took it.
fn send(id: &str, object: &PluginObject, scheme: Scheme, batch: &[u8]) -> Scheme {
    if scheme == Scheme::Batched {
        match object.call_encoded_active::<m::OnEvents>(batch) {
            Ok(None) => return Scheme::Batched,
            Ok(Some(failures)) => {
                let names: Vec<&str> = packed::iter(batch).flatten().map(|(n, _)| n).collect();
                for (index, message) in failures {
                    let name = names.get(index as usize).copied().unwrap_or("?");
                    tracing::error!(plugin = %id, "on_event({name}): {message}");
                }
                return Scheme::Batched;
            }
            Err(CallError::Unsupported) => {} // built before OnEvents
            Err(e) => {
                tracing::error!(plugin = %id, "on_event: {e}");
                return Scheme::Batched;
            }
        }
    }
    one_by_one(id, object, batch);
    Scheme::OneByOne
}

/// `OnEvent` per event, its arguments `["<name>",<payload>]`.
fn one_by_one(id: &str, object: &PluginObject, batch: &[u8]) {
    let mut names = Vec::new();
    let mut encoded = Vec::new();
    for (name, payload) in packed::iter(batch).flatten() {
        let mut args = Vec::with_capacity(name.len() + payload.len() + 8);
        args.push(b'[');
        serde_json::to_writer(&mut args, name).expect("a string always encodes");
        args.push(b',');
        args.extend_from_slice(payload);
        args.push(b']');
        names.push(name);
        encoded.push(args);
    }
    let args: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    for (name, result) in names
        .iter()
        .zip(object.call_batch_active::<m::OnEvent>(&args))
    {
        match result {
            Ok(()) => {}
            // Its process is gone: said once, not for every event it held.
            Err(e @ CallError::Crashed(_)) => {
                tracing::error!(plugin = %id, "on_event({name}) and the rest of its batch: {e}");
                break;
            }
            Err(e) => tracing::error!(plugin = %id, "on_event({name}): {e}"),
        }
    }
}
