//! Benchmark plugin: counts the `tick` events of the `event_source` plugin
//! (OctoPrint's anchor counts with `self.count += 1`), reading no payload
//! but the `start` event's, and tells the source when it has them all
//! (events dropped for it count as received, and are reported).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use plinth_sdk::prelude::*;

const START: &str = "plugin_event_source_start";
const TICK: &str = "plugin_event_source_tick";

pub struct EventCounter {
    host: Host,
    counted: AtomicU64,
    expected: AtomicU64,
}

impl Plugin for EventCounter {
    fn new(host: Host) -> Self {
        Self {
            host,
            counted: AtomicU64::new(0),
            expected: AtomicU64::new(0),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl EventHandlerPlugin for EventCounter {
    fn on_event(&self, event: &str, payload: &Payload) {
        if event == TICK {
            let counted = self.counted.fetch_add(1, Relaxed) + 1;
            if counted == self.expected.load(Relaxed) {
                let _ = self.host.call_helper("event_source", "done", Value::Null);
            }
        } else if event == events::EVENTS_DROPPED {
            // Counted as received, so the run ends; the source reports them.
            let dropped = payload["count"].as_u64().unwrap_or(0);
            let _ = self
                .host
                .call_helper("event_source", "dropped", json!(dropped));
            let counted = self.counted.fetch_add(dropped, Relaxed) + dropped;
            if counted == self.expected.load(Relaxed) {
                let _ = self.host.call_helper("event_source", "done", Value::Null);
            }
        } else if event == START {
            self.counted.store(0, Relaxed);
            self.expected
                .store(payload["count"].as_u64().unwrap_or(0), Relaxed);
        }
    }
}

export_plugin! {
    plugin: EventCounter,
    name: "Event counter (benchmark)",
    mixins: [EventHandler],
}
