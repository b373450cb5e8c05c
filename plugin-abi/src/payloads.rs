//! The host's events with typed payloads: each type names its event
//! ([`Event::NAME`], one of the constants of [`crate::events`]) and decodes
//! its payload as the host fires it. In an EventHandler plugin:
//!
//! ```ignore
//! fn on_event(&self, event: &str, payload: &Payload) {
//!     if let Some(Ok(started)) = payload.decode_event::<payloads::PrintStarted>(event) {
//!         log(started.name);
//!     }
//! }
//! ```
//!
//! Fields the host may leave out are `Option`s; keys added later are
//! ignored, so a plugin built now keeps decoding later hosts' payloads.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events;

/// An event with a typed payload.
pub trait Event: DeserializeOwned {
    /// The event's name.
    const NAME: &'static str;
}

macro_rules! event {
    ($(#[$doc:meta])* $name:ident = $const:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$fdoc])* #[serde(default)] pub $field: $ty,)*
        }

        impl Event for $name {
            const NAME: &'static str = events::$const;
        }
    };
}

event!(
    /// [`events::SETTINGS_UPDATED`].
    SettingsUpdated = SETTINGS_UPDATED {
        /// Hash of the stored settings.
        config_hash: String,
        /// Hash of the settings in effect.
        effective_hash: String,
    }
);

event!(
    /// [`events::PLUGIN_ENABLED`].
    PluginEnabled = PLUGIN_ENABLED {
        /// The plugin.
        id: String,
    }
);

event!(
    /// [`events::PLUGIN_DISABLED`].
    PluginDisabled = PLUGIN_DISABLED {
        /// The plugin.
        id: String,
    }
);

event!(
    /// [`events::CONNECTIVITY_CHANGED`].
    ConnectivityChanged = CONNECTIVITY_CHANGED {
        /// Online before.
        old: bool,
        /// Online now.
        new: bool,
        /// The connection check succeeded.
        connection: bool,
        /// The name resolution succeeded.
        resolution: bool,
    }
);

event!(
    /// [`events::FILE_ADDED`].
    FileAdded = FILE_ADDED {
        /// `local`.
        storage: String,
        /// Relative to the uploads folder, `/` between folders.
        path: String,
        /// The file's name.
        name: String,
        /// `["model", "stl"]`, `["machinecode", "gcode"]`, …
        r#type: Vec<String>,
        /// `add`, `copy` or `move`.
        operation: Option<String>,
    }
);

event!(
    /// [`events::FILE_REMOVED`].
    FileRemoved = FILE_REMOVED {
        /// `local`.
        storage: String,
        /// Relative to the uploads folder.
        path: String,
        /// The file's name.
        name: String,
        /// As in [`FileAdded`].
        r#type: Vec<String>,
        /// `remove` or `move`.
        operation: Option<String>,
    }
);

event!(
    /// [`events::SLICING_STARTED`] (and, without `progressAvailable`,
    /// [`events::SLICING_CANCELLED`]).
    SlicingStarted = SLICING_STARTED {
        /// The slicer's type.
        slicer: String,
        /// The model's path.
        stl: String,
        /// `local`.
        stl_location: String,
        /// The G-code's path.
        gcode: String,
        /// `local`.
        gcode_location: String,
        /// Whether the slicer reports progress.
        #[serde(rename = "progressAvailable")]
        progress_available: Option<bool>,
    }
);

event!(
    /// [`events::SLICING_DONE`].
    SlicingDone = SLICING_DONE {
        /// The slicer's type.
        slicer: String,
        /// The model's path.
        stl: String,
        /// The G-code's path.
        gcode: String,
        /// Seconds taken.
        time: f64,
    }
);

event!(
    /// [`events::SLICING_FAILED`].
    SlicingFailed = SLICING_FAILED {
        /// The slicer's type.
        slicer: String,
        /// The model's path.
        stl: String,
        /// The G-code's path.
        gcode: String,
        /// The error.
        reason: String,
    }
);

event!(
    /// [`events::CONNECTED`].
    Connected = CONNECTED {
        /// `serial`.
        connector: String,
        /// The port.
        port: String,
        /// The baud rate.
        baudrate: u32,
    }
);

event!(
    /// [`events::PRINTER_STATE_CHANGED`].
    PrinterStateChanged = PRINTER_STATE_CHANGED {
        /// OctoPrint's state identifier: `OPERATIONAL`, `PRINTING`, …
        state_id: String,
        /// The state for people.
        state_string: String,
    }
);

event!(
    /// [`events::ERROR`].
    PrinterError = ERROR {
        /// What went wrong.
        error: String,
        /// `firmware`, `timeout` or `connection`.
        reason: Option<String>,
        /// `disconnect`, or none.
        consequence: Option<String>,
    }
);

event!(
    /// [`events::FILE_SELECTED`].
    FileSelected = FILE_SELECTED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// `local`.
        origin: String,
        /// Bytes.
        size: Option<u64>,
    }
);

event!(
    /// [`events::PRINT_STARTED`].
    PrintStarted = PRINT_STARTED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// `local`.
        origin: String,
        /// Bytes.
        size: Option<u64>,
        /// Who started it, when a person did.
        user: Option<String>,
    }
);

event!(
    /// [`events::PRINT_PAUSED`] and [`events::PRINT_RESUMED`].
    PrintPaused = PRINT_PAUSED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// `local`.
        origin: String,
        /// The byte offset reached in the file.
        fileposition: Option<u64>,
        /// Whole percents.
        progress: Option<f64>,
        /// Where the head was (`x`, `y`, `z`, `e`, `t`, `f`), when known.
        position: Option<Value>,
    }
);

event!(
    /// [`events::PRINT_DONE`].
    PrintDone = PRINT_DONE {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// `local`.
        origin: String,
        /// Seconds of printing, pauses left out.
        time: f64,
    }
);

event!(
    /// [`events::PRINT_FAILED`].
    PrintFailed = PRINT_FAILED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// Seconds of printing.
        time: f64,
        /// `error`.
        reason: String,
        /// What went wrong.
        error: Option<String>,
    }
);

event!(
    /// [`events::PRINT_CANCELLED`].
    PrintCancelled = PRINT_CANCELLED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// Seconds of printing.
        time: f64,
        /// The byte offset reached.
        fileposition: Option<u64>,
        /// Whole percents.
        progress: Option<f64>,
        /// Where the head was, when known.
        position: Option<Value>,
    }
);

event!(
    /// [`events::Z_CHANGE`].
    ZChange = Z_CHANGE {
        /// The new height.
        new: f64,
        /// The height before, when known.
        old: Option<f64>,
    }
);

event!(
    /// [`events::TOOL_CHANGE`].
    ToolChange = TOOL_CHANGE {
        /// The tool before, when known.
        old: Option<i64>,
        /// The new tool.
        new: i64,
    }
);

event!(
    /// [`events::METADATA_ANALYSIS_FINISHED`].
    MetadataAnalysisFinished = METADATA_ANALYSIS_FINISHED {
        /// The file's name.
        name: String,
        /// Its path.
        path: String,
        /// `local`.
        origin: String,
        /// OctoPrint's analysis result (`estimatedPrintTime`, `filament`,
        /// `dimensions`, …).
        result: Value,
    }
);

event!(
    /// [`events::EVENTS_DROPPED`].
    EventsDropped = EVENTS_DROPPED {
        /// How many events were dropped for this handler.
        count: u64,
    }
);

event!(
    /// [`events::PLUGIN_CRASHED`].
    PluginCrashed = PLUGIN_CRASHED {
        /// The plugin.
        id: String,
        /// What happened, e.g. `SIGSEGV in on_event(PrintStarted)`.
        reason: String,
        /// Crashes within the window.
        crashes: u64,
        /// Seconds until it is started again; none when it is not.
        restart_in: Option<f64>,
    }
);

/// Decodes `payload` (JSON text) as `E` when `event` is `E`'s name.
pub fn decode<E: Event>(event: &str, payload: &[u8]) -> Option<Result<E, serde_json::Error>> {
    (event == E::NAME).then(|| serde_json::from_slice(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_payloads_decode_and_other_events_are_not_taken() {
        let started = br#"{"connector": "serial", "name": "cube.gcode", "path": "cube.gcode", "origin": "local", "size": 1234, "user": "ada"}"#;
        let p = decode::<PrintStarted>("PrintStarted", started)
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.name.as_str(), p.size, p.user.as_deref()),
            ("cube.gcode", Some(1234), Some("ada"))
        );
        assert!(decode::<PrintStarted>("PrintDone", started).is_none());
        let done = decode::<PrintDone>(
            "PrintDone",
            br#"{"name": "a", "path": "a", "origin": "local", "time": 12.5, "later": 1}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(done.time, 12.5);
        let added = decode::<FileAdded>("FileAdded", br#"{"storage": "local", "path": "x/cube.stl", "name": "cube.stl", "type": ["model", "stl"], "operation": "add"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(added.r#type, ["model", "stl"]);
        let z = decode::<ZChange>("ZChange", br#"{"new": 0.3, "old": null}"#)
            .unwrap()
            .unwrap();
        assert_eq!((z.new, z.old), (0.3, None));
        let sliced = decode::<SlicingStarted>("SlicingStarted", br#"{"slicer": "planar", "stl": "a.stl", "stl_location": "local", "gcode": "a.gcode", "gcode_location": "local", "progressAvailable": true}"#)
            .unwrap()
            .unwrap();
        assert_eq!(sliced.progress_available, Some(true));
        // A payload of the wrong shape is an error, not a panic.
        assert!(decode::<ZChange>("ZChange", br#"{"new": "high"}"#)
            .unwrap()
            .is_err());
    }
}
