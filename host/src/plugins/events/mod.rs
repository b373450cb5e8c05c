//! The event bus. Fired events are appended, in order, to one shared
//! [log](log::Log), each encoded once. Every EventHandler plugin has a
//! mailbox: a cursor into that log. A small pool of delivery workers serves
//! the mailboxes that have events waiting, handing each handler everything
//! it has waiting in one call where the plugin allows
//! ([`deliver`](deliver::deliver)). So each handler sees events in firing
//! order, and a slow or stuck handler holds up only itself: the pool grows
//! by a worker for each one stuck in a handler.
//!
//! A handler that falls far behind: at most `limit` events wait for it
//! (`server.event_queue_limit`, default 10,000). Beyond that its oldest
//! events are dropped, counted and logged with the plugin's identifier, and
//! before its next event the plugin receives `plinth_events_dropped` with
//! `{"count": n}`. Nothing is dropped silently.
//!
//! Events fired before start-up completes are held back and released right
//! after the `Startup` event.

mod deliver;
mod log;
mod workers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use plinth_abi::events::{self, packed};
use plinth_abi::Value;

use self::deliver::{Job, Scheme};
use self::log::Log;
use crate::plugins::object::PluginObject;

/// Where the bus finds the handlers, in delivery order.
pub trait EventSink: Send + Sync {
    fn handlers(&self) -> Vec<(String, Arc<PluginObject>)>;
}

/// Messages for the push channel: JSON text, one per event or plugin message.
pub type PushMessage = Arc<str>;

/// Events a worker hands a handler at once (at least; whole chunks go).
const BATCH: u64 = 512;

/// Events fired before start-up are held up to this many bytes.
const HELD_BYTES: usize = 64 << 20;

/// The open chunk is sealed at this size, whatever the number of events.
const SEAL_BYTES: usize = 1 << 20;

/// The host's event bus.
pub struct EventBus {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Workers wait here for mailboxes with events.
    work: Condvar,
    /// Flushes wait here for handlers to catch up.
    settled: Condvar,
    sink: Weak<dyn EventSink>,
    push: tokio::sync::broadcast::Sender<PushMessage>,
    /// Events that may wait for one handler.
    limit: u64,
    /// Workers that are not stuck.
    workers: usize,
    /// The log's head, for a spinning worker to watch without the lock.
    head: AtomicU64,
}

struct State {
    log: Log,
    mailboxes: BTreeMap<u64, Mailbox>,
    /// Mailboxes with events waiting, not being served.
    ready: VecDeque<u64>,
    /// Mailboxes with nothing waiting.
    idle: Vec<u64>,
    next_key: u64,
    /// The handlers changed: handlers new since then start at this event.
    stale: Option<u64>,
    /// Where the handlers of the refresh under way start (kept in the log).
    refreshing: Option<u64>,
    /// What the flushes waiting now wait for: no job goes past the lowest.
    flush_targets: Vec<u64>,
    /// Events fired before start-up, packed; `None` once released.
    held: Option<Vec<u8>>,
    /// When each busy worker took its job.
    busy: BTreeMap<u64, Instant>,
    alive: usize,
    waiting_workers: usize,
    /// A worker is looking for events before it sleeps.
    spinning: bool,
    next_worker: u64,
    flushing: usize,
    closed: bool,
}

/// One handler's place in the log.
struct Mailbox {
    id: Arc<str>,
    object: Weak<PluginObject>,
    /// Events before it were handed over (or dropped).
    cursor: u64,
    /// Events before it were delivered (or dropped).
    settled: u64,
    serving: bool,
    /// Its handler is gone while a job of its was running: removed at the
    /// job's end, or revived if the handler comes back meanwhile.
    gone: bool,
    dropped: u64,
    scheme: Scheme,
}

impl EventBus {
    /// Starts the delivery workers; at most `limit` events wait for one handler.
    pub fn new(sink: Weak<dyn EventSink>, limit: usize) -> Self {
        let (push, _) = tokio::sync::broadcast::channel::<PushMessage>(1024);
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log: Log::new(),
                mailboxes: BTreeMap::new(),
                ready: VecDeque::new(),
                idle: Vec::new(),
                next_key: 0,
                stale: None,
                refreshing: None,
                flush_targets: Vec::new(),
                held: Some(Vec::new()),
                busy: BTreeMap::new(),
                alive: 0,
                waiting_workers: 0,
                spinning: false,
                next_worker: 0,
                flushing: 0,
                closed: false,
            }),
            work: Condvar::new(),
            settled: Condvar::new(),
            sink,
            push,
            limit: limit.max(1) as u64,
            workers,
            head: AtomicU64::new(0),
        });
        for _ in 0..workers {
            workers::spawn_worker(&shared, &mut shared.lock());
        }
        let watched = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("plinth-events-watch".into())
            .spawn(move || workers::supervise(&watched))
            .expect("cannot start the event supervisor");
        Self { shared }
    }

    /// Fires an event. The payload is encoded here, once, for every handler.
    pub fn fire(&self, event: &str, payload: &Value) {
        self.append(event, |buf| {
            serde_json::to_writer(buf, payload).expect("JSON values always encode")
        });
    }

    /// Fires an event whose payload is already JSON text (a plugin's event,
    /// checked as it came in).
    pub fn fire_json(&self, event: &str, payload: &serde_json::value::RawValue) {
        self.append(event, |buf| buf.extend_from_slice(payload.get().as_bytes()));
    }

    fn append(&self, event: &str, write: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.shared.lock();
        if let Some(held) = state.held.as_mut() {
            let mut payload = Vec::new();
            write(&mut payload);
            if held.len() + payload.len() > HELD_BYTES {
                tracing::warn!("event {event} fired before start-up dropped: {HELD_BYTES} bytes of events wait already");
                return;
            }
            packed::push(held, event, &payload);
            return;
        }
        self.shared.append(&mut state, event, write);
    }

    /// A receiver of the push channel's messages, from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<PushMessage> {
        self.shared.push.subscribe()
    }

    /// Sends a message to the push channel's clients, after the events fired so far.
    pub fn push(&self, message: PushMessage) {
        let _state = self.shared.lock();
        let _ = self.shared.push.send(message);
    }

    /// Fires `Startup`, then releases the events held back until now.
    pub fn release_with_startup(&self) {
        let mut state = self.shared.lock();
        let held = state.held.take().unwrap_or_default();
        self.shared.append(&mut state, events::STARTUP, |b| {
            b.extend_from_slice(b"null")
        });
        for (name, payload) in packed::iter(&held).flatten() {
            self.shared
                .append(&mut state, name, |b| b.extend_from_slice(payload));
        }
    }

    /// The plugins changed (loaded, enabled, disabled, unloaded): the bus
    /// asks for the handlers again before it delivers more.
    ///
    /// Nothing is asked until an event is fired or a flush waits: loading a
    /// thousand plugins changes them thousands of times.
    pub fn plugins_changed(&self) {
        let mut state = self.shared.lock();
        if state.stale.is_none() {
            state.stale = Some(state.log.head());
        }
    }

    /// Waits until every event fired so far was delivered (at most `timeout`).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        let target = state.log.head();
        state.flushing += 1;
        state.flush_targets.push(target);
        let done = loop {
            let caught_up = state.stale.is_none()
                && state.refreshing.is_none()
                && state
                    .mailboxes
                    .values()
                    .all(|mb| mb.settled >= target || mb.gone || mb.object.strong_count() == 0);
            if caught_up {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            if state.stale.is_some() {
                self.shared.work.notify_one();
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            state = self.shared.settled.wait_timeout(state, wait).unwrap().0;
        };
        state.flushing -= 1;
        if let Some(i) = state.flush_targets.iter().position(|t| *t == target) {
            state.flush_targets.swap_remove(i);
        }
        done
    }

    /// Delivers what is queued, then stops; waits at most `timeout` (a handler
    /// that never returns is left behind).
    pub fn stop(&self, timeout: Duration) {
        if self.shared.lock().closed {
            return;
        }
        if !self.flush(timeout) {
            tracing::warn!(
                "an event handler is still running after {timeout:?}; not waiting for it"
            );
        }
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a released event, hands it to the push channel's clients and
    /// wakes a worker for the handlers that were idle.
    fn append(&self, state: &mut State, event: &str, write: impl FnOnce(&mut Vec<u8>)) {
        let Some((_, payload)) = state.log.push(event, write) else {
            tracing::error!("event {event} not fired: it is larger than 4 GiB");
            return;
        };
        if self.push.receiver_count() > 0 {
            let _ = self.push.send(push_event(event, payload));
        }
        if !state.idle.is_empty() {
            let idle = std::mem::take(&mut state.idle);
            state.ready.extend(idle);
        }
        self.head.store(state.log.head(), Ordering::Release);
        let work = !state.ready.is_empty() || state.stale.is_some();
        if work && state.waiting_workers > 0 && !state.spinning {
            self.work.notify_one();
        }
        if state.log.open_len() >= log::SEAL_AT || state.log.open_bytes() >= SEAL_BYTES {
            self.seal(state);
        }
    }

    /// Seals the open chunk; then keeps at most `limit` events per handler
    /// (counting what is dropped) and forgets what every handler has.
    fn seal(&self, state: &mut State) {
        state.log.seal();
        let head = state.log.head();
        let keep_from = head.saturating_sub(self.limit);
        // A refresh pending or under way still needs its start.
        let pending = state.stale.into_iter().chain(state.refreshing);
        let mut oldest = pending.map(|s| s.max(keep_from)).fold(head, u64::min);
        for mb in state.mailboxes.values_mut() {
            if mb.cursor < keep_from {
                if mb.dropped == 0 {
                    tracing::warn!(
                        plugin = %mb.id,
                        "event handler is {} events behind; dropping its oldest events until it catches up",
                        self.limit
                    );
                }
                mb.dropped += keep_from - mb.cursor;
                mb.cursor = keep_from;
                if !mb.serving {
                    mb.settled = keep_from;
                }
            }
            oldest = oldest.min(mb.cursor);
        }
        state.log.forget_before(oldest);
    }

    /// Takes the events waiting for mailbox `key` (marking it served).
    fn take(&self, state: &mut State, key: u64) -> Option<Job> {
        let head = state.log.head();
        let mb = state.mailboxes.get(&key)?;
        if mb.serving || mb.gone {
            return None;
        }
        if mb.cursor < head && state.log.open_len() > 0 {
            self.seal(state);
        }
        let mb = state.mailboxes.get(&key)?;
        let chunks = state.log.chunks_from(mb.cursor, BATCH);
        let mut to = chunks.last().map_or(mb.cursor, |c| c.end()).min(head);
        // A flush waits for the events fired before it, not for those after.
        if let Some(target) = state
            .flush_targets
            .iter()
            .copied()
            .filter(|t| *t > mb.cursor)
            .min()
        {
            to = to.min(target);
        }
        if to <= mb.cursor {
            state.idle.push(key);
            return None;
        }
        let mb = state.mailboxes.get_mut(&key)?;
        let job = Job {
            id: mb.id.clone(),
            object: mb.object.clone(),
            chunks,
            from: mb.cursor,
            to,
            dropped: std::mem::take(&mut mb.dropped),
            scheme: mb.scheme,
        };
        mb.cursor = to;
        mb.serving = true;
        Some(job)
    }

    /// Records a delivery's end: the mailbox waits again or idles.
    fn finish(&self, state: &mut State, key: u64, scheme: Option<Scheme>) {
        let head = state.log.head();
        match (state.mailboxes.get_mut(&key), scheme) {
            (Some(mb), _) if mb.gone => {
                state.mailboxes.remove(&key);
            }
            (Some(mb), Some(scheme)) => {
                mb.serving = false;
                mb.scheme = scheme;
                mb.settled = mb.cursor;
                if mb.cursor < head {
                    state.ready.push_back(key);
                } else {
                    state.idle.push(key);
                }
            }
            // Its plugin object is gone: so is the mailbox.
            (Some(_), None) => {
                state.mailboxes.remove(&key);
            }
            (None, _) => {}
        }
        if state.flushing > 0 {
            self.settled.notify_all();
        }
    }

    /// Asks for the handlers again and fits the mailboxes to them: those of
    /// handlers still there keep their place, new ones start at the event
    /// fired when the change began.
    fn refresh<'a>(&'a self, mut state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let Some(start) = state.stale.take() else {
            return state;
        };
        state.refreshing = Some(start);
        drop(state);
        let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.sink
                .upgrade()
                .map(|sink| sink.handlers())
                .unwrap_or_default()
        }));
        // Weak references only: a handler dropped here must not run its
        // plugin's code under the bus's lock.
        let handlers: Vec<(String, Weak<PluginObject>)> = match asked {
            Ok(handlers) => handlers
                .into_iter()
                .map(|(id, object)| (id, Arc::downgrade(&object)))
                .collect(),
            Err(_) => {
                tracing::error!(
                    "the event handlers could not be listed; asking again at the next event"
                );
                let mut state = self.lock();
                state.refreshing = None;
                state.stale.get_or_insert(start);
                return state;
            }
        };
        let mut state = self.lock();
        state.refreshing = None;
        let front = state.log.front();
        let (start, dropped) = (start.max(front), front.saturating_sub(start));
        let head = state.log.head();
        let mut known: HashMap<*const PluginObject, u64> = state
            .mailboxes
            .iter()
            .map(|(key, mb)| (mb.object.as_ptr(), *key))
            .collect();
        let mut kept = std::collections::BTreeSet::new();
        for (id, object) in handlers {
            let key = match known.remove(&object.as_ptr()) {
                Some(key) => {
                    // Back before its last job ended: it goes on where it was.
                    if let Some(mb) = state.mailboxes.get_mut(&key) {
                        mb.gone = false;
                    }
                    key
                }
                None => {
                    let key = state.next_key;
                    state.next_key += 1;
                    state.mailboxes.insert(
                        key,
                        Mailbox {
                            id: id.into(),
                            object,
                            cursor: start,
                            settled: start,
                            serving: false,
                            gone: false,
                            dropped,
                            scheme: Scheme::Unknown,
                        },
                    );
                    if start < head {
                        state.ready.push_back(key);
                    } else {
                        state.idle.push(key);
                    }
                    key
                }
            };
            kept.insert(key);
        }
        // Handlers that are gone: what waited for them is not theirs any more;
        // one whose job still runs is removed when the job ends.
        state.mailboxes.retain(|key, mb| {
            if kept.contains(key) {
                return true;
            }
            mb.gone = true;
            mb.serving
        });
        let State {
            mailboxes,
            ready,
            idle,
            ..
        } = &mut *state;
        ready.retain(|key| mailboxes.get(key).is_some_and(|mb| !mb.gone));
        idle.retain(|key| mailboxes.get(key).is_some_and(|mb| !mb.gone));
        if !state.ready.is_empty() {
            self.work.notify_all();
        }
        if state.flushing > 0 {
            self.settled.notify_all();
        }
        state
    }
}

/// OctoPrint's push message of an event, `{"event": {"type": "<name>",
/// "payload": <payload>}}`.
fn push_event(name: &str, payload: &[u8]) -> PushMessage {
    let name = serde_json::to_string(name).expect("a string always encodes");
    let payload = String::from_utf8_lossy(payload);
    format!("{{\"event\":{{\"type\":{name},\"payload\":{payload}}}}}").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_pushed_as_octoprint_pushes_it() {
        for (name, payload) in [
            (
                "PrintDone",
                serde_json::json!({"name": "a \"b\".gcode", "time": 1.5}),
            ),
            ("Startup", Value::Null),
            ("plugin_x_\u{e9}v\u{e9}nement", serde_json::json!([1, 2])),
        ] {
            let pushed = push_event(name, payload.to_string().as_bytes());
            let parsed: Value = serde_json::from_str(&pushed).unwrap();
            assert_eq!(
                parsed,
                serde_json::json!({"event": {"type": name, "payload": payload}})
            );
        }
    }
}
