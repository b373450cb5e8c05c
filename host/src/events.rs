//! The event bus: one queue, delivered in firing order to every EventHandler
//! plugin on a thread of its own, so firing never waits for a plugin.
//!
//! Events fired before start-up completes are held back and released right
//! after the `Startup` event.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use plinth_sdk::Value;

/// Receives events from the bus, already encoded once for every handler.
pub trait EventSink: Send + Sync {
    fn deliver(&self, event: &str, encoded: &[u8]);
}

/// An event with its encoded `(name, payload)`.
type Encoded = (String, Vec<u8>);

enum Message {
    Event(String, Vec<u8>),
    Flush(Sender<()>),
}

/// The host's event bus.
pub struct EventBus {
    tx: Mutex<Option<Sender<Message>>>,
    held: Mutex<Option<Vec<Encoded>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl EventBus {
    /// Starts the delivery thread.
    pub fn new(sink: Weak<dyn EventSink>) -> Self {
        let (tx, rx) = channel::<Message>();
        let worker = std::thread::Builder::new()
            .name("plinth-events".into())
            .spawn(move || {
                for message in rx {
                    match message {
                        Message::Event(event, encoded) => match sink.upgrade() {
                            Some(sink) => sink.deliver(&event, &encoded),
                            None => break,
                        },
                        Message::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .expect("cannot start the event thread");
        Self {
            tx: Mutex::new(Some(tx)),
            held: Mutex::new(Some(Vec::new())),
            worker: Mutex::new(Some(worker)),
        }
    }

    /// Fires an event. The payload is encoded here, once, for every handler.
    pub fn fire(&self, event: &str, payload: &Value) {
        let encoded = serde_json::to_vec(&(event, payload)).expect("JSON values always encode");
        let mut held = self.held.lock().unwrap();
        match held.as_mut() {
            Some(queue) => queue.push((event.to_owned(), encoded)),
            None => self.send(Message::Event(event.to_owned(), encoded)),
        }
    }

    /// Fires `Startup`, then releases the events held back until now.
    pub fn release_with_startup(&self) {
        // Hold the lock until everything is queued: an event fired meanwhile waits
        // and then goes after them.
        let mut held = self.held.lock().unwrap();
        let startup = serde_json::to_vec(&("Startup", Value::Null)).expect("encodes");
        self.send(Message::Event("Startup".into(), startup));
        for (event, encoded) in held.take().unwrap_or_default() {
            self.send(Message::Event(event, encoded));
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

    /// Delivers what is queued, then stops the delivery thread; waits at most
    /// `timeout` (a handler that never returns is left behind).
    pub fn stop(&self, timeout: Duration) {
        let Some(worker) = self.worker.lock().unwrap().take() else {
            return;
        };
        let (done_tx, done_rx) = channel();
        self.send(Message::Flush(done_tx));
        self.tx.lock().unwrap().take();
        if done_rx.recv_timeout(timeout).is_ok() {
            let _ = worker.join();
        } else {
            tracing::warn!(
                "an event handler is still running after {timeout:?}; not waiting for it"
            );
        }
    }
}
