//! The event bus: events are fired into one queue, in order; a dispatcher
//! hands each one to every EventHandler plugin's own worker, and each worker
//! delivers to its plugin in firing order. A slow or stuck handler therefore
//! holds up only itself.
//!
//! A handler that falls far behind: its queue holds at most `limit` events
//! (`server.event_queue_limit`, default 10,000). Events that arrive while it
//! is full are not queued for that handler; they are counted, logged with the
//! plugin's identifier, and before its next event the plugin receives
//! `plinth_events_dropped` with `{"count": n}`. Nothing is dropped silently.
//!
//! Events fired before start-up completes are held back and released right
//! after the `Startup` event. Each event is encoded once for every handler.

use plinth_abi::events;
use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plinth_abi::methods::plugin as m;
use plinth_abi::Value;

use crate::plugins::object::PluginObject;

/// Where the bus finds the handlers, in delivery order.
pub trait EventSink: Send + Sync {
    fn handlers(&self) -> Vec<(String, Arc<PluginObject>)>;
}

/// An event with its encoded `(name, payload)`, shared by every handler.
type Encoded = (String, Arc<[u8]>);

/// OctoPrint's push message of an event, `{"event": {"type": "<name>",
/// "payload": <payload>}}`, cut from the encoding every handler gets
/// (`["<name>",<payload>]`) without parsing it again.
fn push_event((name, encoded): &Encoded) -> PushMessage {
    let name = serde_json::to_string(name).expect("a string always encodes");
    let text = String::from_utf8_lossy(encoded);
    let payload = text
        .get(name.len() + 2..text.len().saturating_sub(1))
        .unwrap_or("null");
    format!("{{\"event\":{{\"type\":{name},\"payload\":{payload}}}}}").into()
}

enum Message {
    Event(Encoded),
    /// For the push channel only, in line with the events fired before it.
    Push(PushMessage),
    Flush(Sender<()>),
}

/// Messages for the push channel (`/ws`): JSON text, one per event or plugin message.
pub type PushMessage = Arc<str>;

/// The host's event bus.
pub struct EventBus {
    push: tokio::sync::broadcast::Sender<PushMessage>,
    tx: Mutex<Option<Sender<Message>>>,
    held: Mutex<Option<Vec<Encoded>>>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
}

impl EventBus {
    /// Starts the dispatcher; each handler's queue holds at most `limit` events.
    pub fn new(sink: Weak<dyn EventSink>, limit: usize) -> Self {
        let (tx, rx) = channel::<Message>();
        let (push, _) = tokio::sync::broadcast::channel::<PushMessage>(1024);
        let pusher = push.clone();
        let dispatcher = std::thread::Builder::new()
            .name("plinth-events".into())
            .spawn(move || {
                let mut workers: BTreeMap<String, Worker> = BTreeMap::new();
                while let Ok(first) = rx.recv() {
                    // Take what else is waiting, and look the handlers up once for
                    // all of it: after every event in it was fired.
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter().take(1024));
                    let mut targets = Vec::new();
                    if batch.iter().any(|m| matches!(m, Message::Event(_))) {
                        let Some(sink) = sink.upgrade() else { break };
                        let handlers = sink.handlers();
                        drop(sink);
                        let mut kept = BTreeMap::new();
                        for (id, object) in handlers {
                            let worker = workers
                                .remove(&id)
                                .unwrap_or_else(|| Worker::start(&id, limit));
                            targets.push((worker.shared.clone(), object));
                            kept.insert(id, worker);
                        }
                        // Workers of handlers that are gone stop here.
                        workers = kept;
                    }
                    for message in batch {
                        match message {
                            Message::Event(event) => {
                                let _ = pusher.send(push_event(&event));
                                for (queue, object) in &targets {
                                    enqueue(queue, event.clone(), object.clone());
                                }
                            }
                            Message::Push(text) => {
                                let _ = pusher.send(text);
                            }
                            Message::Flush(done) => {
                                // Wait on a thread of its own: dispatching goes on meanwhile.
                                let queues: Vec<_> =
                                    workers.values().map(|w| w.shared.clone()).collect();
                                std::thread::spawn(move || {
                                    for queue in &queues {
                                        wait_idle(queue, Duration::from_secs(30));
                                    }
                                    let _ = done.send(());
                                });
                            }
                        }
                    }
                }
            })
            .expect("cannot start the event thread");
        Self {
            push,
            tx: Mutex::new(Some(tx)),
            held: Mutex::new(Some(Vec::new())),
            dispatcher: Mutex::new(Some(dispatcher)),
        }
    }

    fn encode(event: &str, payload: &Value) -> Encoded {
        let bytes = serde_json::to_vec(&(event, payload)).expect("JSON values always encode");
        (event.to_owned(), bytes.into())
    }

    /// Fires an event. The payload is encoded here, once, for every handler.
    pub fn fire(&self, event: &str, payload: &Value) {
        let encoded = Self::encode(event, payload);
        let mut held = self.held.lock().unwrap();
        match held.as_mut() {
            Some(queue) => queue.push(encoded),
            None => self.send(Message::Event(encoded)),
        }
    }

    /// A receiver of the push channel's messages, from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<PushMessage> {
        self.push.subscribe()
    }

    /// Sends a message to the push channel's clients, after the events fired so far.
    pub fn push(&self, message: PushMessage) {
        self.send(Message::Push(message));
    }

    /// Fires `Startup`, then releases the events held back until now.
    pub fn release_with_startup(&self) {
        // Hold the lock until everything is queued: an event fired meanwhile waits
        // and then goes after them.
        let mut held = self.held.lock().unwrap();
        self.send(Message::Event(Self::encode(events::STARTUP, &Value::Null)));
        for encoded in held.take().unwrap_or_default() {
            self.send(Message::Event(encoded));
        }
    }

    fn send(&self, message: Message) {
        if let Some(tx) = self.tx.lock().unwrap().as_ref() {
            let _ = tx.send(message);
        }
    }

    /// Waits until every event fired so far was delivered (at most `timeout`).
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = channel();
        self.send(Message::Flush(done_tx));
        done_rx.recv_timeout(timeout).is_ok()
    }

    /// Delivers what is queued, then stops; waits at most `timeout` (a handler
    /// that never returns is left behind).
    pub fn stop(&self, timeout: Duration) {
        let Some(dispatcher) = self.dispatcher.lock().unwrap().take() else {
            return;
        };
        let delivered = self.flush(timeout);
        self.tx.lock().unwrap().take();
        if delivered {
            let _ = dispatcher.join();
        } else {
            tracing::warn!(
                "an event handler is still running after {timeout:?}; not waiting for it"
            );
        }
    }
}

/// One handler's queue and delivery thread.
struct Worker {
    shared: Arc<(Mutex<Queue>, Condvar)>,
}

struct Queue {
    items: VecDeque<(Encoded, Arc<PluginObject>)>,
    busy: bool,
    dropped: u64,
    closed: bool,
    limit: usize,
    id: String,
}

impl Worker {
    fn start(id: &str, limit: usize) -> Self {
        let queue = Queue {
            items: VecDeque::new(),
            busy: false,
            dropped: 0,
            closed: false,
            limit,
            id: id.to_owned(),
        };
        let shared = Arc::new((Mutex::new(queue), Condvar::new()));
        let inner = shared.clone();
        let name = format!("plinth-events-{id}");
        std::thread::Builder::new()
            .name(name)
            .spawn(move || deliver_loop(&inner))
            .expect("cannot start an event worker");
        Self { shared }
    }
}

/// Queues an event for one handler's worker (or counts it as dropped when full).
fn enqueue(shared: &(Mutex<Queue>, Condvar), event: Encoded, object: Arc<PluginObject>) {
    let (lock, ready) = shared;
    let mut queue = lock.lock().unwrap();
    if queue.items.len() >= queue.limit {
        queue.dropped += 1;
        if queue.dropped == 1 {
            tracing::warn!(
                plugin = %queue.id,
                "event handler is {} events behind; dropping events for it until it catches up",
                queue.limit
            );
        }
        return;
    }
    queue.items.push_back((event, object));
    // The worker waits only on an empty queue; a busy one looks again by itself.
    if queue.items.len() == 1 {
        ready.notify_all();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let (lock, ready) = &*self.shared;
        let mut queue = lock.lock().unwrap();
        // The handler is gone (disabled or unloaded): what is queued is not for it any more.
        queue.items.clear();
        queue.closed = true;
        ready.notify_all();
    }
}

/// Waits until a worker has nothing queued or in hand (at most `timeout`).
fn wait_idle(shared: &(Mutex<Queue>, Condvar), timeout: Duration) {
    let (lock, ready) = shared;
    let deadline = Instant::now() + timeout;
    let mut queue = lock.lock().unwrap();
    while (!queue.items.is_empty() || queue.busy) && Instant::now() < deadline {
        queue = ready
            .wait_timeout(queue, Duration::from_millis(50))
            .unwrap()
            .0;
    }
}

/// Events a worker takes from its queue at once.
const BATCH: usize = 256;

fn deliver_loop(shared: &(Mutex<Queue>, Condvar)) {
    let (lock, ready) = shared;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let (dropped, id) = {
            let mut queue = lock.lock().unwrap();
            while queue.items.is_empty() && !queue.closed {
                queue = ready.wait(queue).unwrap();
            }
            if queue.items.is_empty() {
                return;
            }
            let n = queue.items.len().min(BATCH);
            batch.extend(queue.items.drain(..n));
            queue.busy = true;
            (std::mem::take(&mut queue.dropped), queue.id.clone())
        };
        deliver(&id, dropped, batch.drain(..));
        let mut queue = lock.lock().unwrap();
        queue.busy = false;
        if queue.items.is_empty() {
            // Someone may be waiting for this worker to be idle.
            ready.notify_all();
        }
    }
}

/// Delivers a batch of events to one handler, after the notice of what it
/// missed: in one exchange per run of events for the same plugin object
/// where its transport allows (an isolated plugin), else one by one.
fn deliver(id: &str, mut dropped: u64, batch: impl Iterator<Item = (Encoded, Arc<PluginObject>)>) {
    let mut run: Vec<Encoded> = Vec::new();
    let mut current: Option<Arc<PluginObject>> = None;
    for ((event, encoded), object) in batch {
        if dropped > 0 {
            tracing::warn!(plugin = %id, "{dropped} events were dropped for this handler");
            let notice = serde_json::to_vec(&(
                events::EVENTS_DROPPED,
                serde_json::json!({ "count": dropped }),
            ))
            .expect("encodes");
            if let Err(e) = object.call_encoded_active::<m::OnEvent>(&notice) {
                tracing::error!(plugin = %id, "on_event(plinth_events_dropped): {e}");
            }
            dropped = 0;
        }
        if current.as_ref().is_some_and(|c| !Arc::ptr_eq(c, &object)) {
            deliver_run(id, current.as_ref().expect("checked"), &mut run);
        }
        current = Some(object);
        run.push((event, encoded));
    }
    if let Some(object) = current {
        deliver_run(id, &object, &mut run);
    }
}

/// Delivers events queued for one plugin object, in order.
fn deliver_run(id: &str, object: &PluginObject, run: &mut Vec<Encoded>) {
    let args: Vec<&[u8]> = run.iter().map(|(_, encoded)| &encoded[..]).collect();
    for ((event, _), result) in run
        .iter()
        .zip(object.call_batch_active::<m::OnEvent>(&args))
    {
        match result {
            Ok(()) => {}
            // Its process is gone: said once, not for every event it held.
            Err(e @ crate::plugins::object::CallError::Crashed(_)) => {
                tracing::error!(plugin = %id, "on_event({event}) and the rest of its batch: {e}");
                break;
            }
            Err(e) => tracing::error!(plugin = %id, "on_event({event}): {e}"),
        }
    }
    run.clear();
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
            let pushed = push_event(&EventBus::encode(name, &payload));
            let parsed: Value = serde_json::from_str(&pushed).unwrap();
            assert_eq!(
                parsed,
                serde_json::json!({"event": {"type": name, "payload": payload}})
            );
        }
    }
}
