//! Logs every event fired on the host's event bus, with its payload.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct EventLogger {
    host: Host,
}

impl Plugin for EventLogger {
    fn new(host: Host) -> Self {
        EventLogger { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl EventHandlerPlugin for EventLogger {
    fn on_event(&self, event: &str, payload: &Payload) {
        self.host
            .logger()
            .info(format_args!("event {event}: {payload}"));
    }
}

export_plugin! {
    plugin: EventLogger,
    name: "Event Logger",
    description: "Logs every event fired on the event bus.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [EventHandler],
}
