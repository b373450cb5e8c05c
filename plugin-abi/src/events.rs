//! The events the host fires, by name, with their payloads (JSON objects,
//! or `null` where said).
//! An EventHandler plugin receives each of them in `on_event(name, payload)`,
//! in the order they were fired; compare the name with these constants, or
//! decode the payload into its type in [`crate::payloads`]
//! (`payload.decode_event::<payloads::PrintStarted>(event)` in the SDK).
//!
//! Names and payloads follow OctoPrint's where OctoPrint has the event. A
//! plugin's own events (fired through its host handle) are named
//! `plugin_<id>_<name>`: see [`plugin_event`].

/// The host has started: every plugin's `on_startup` has run and the server
/// accepts connections. Payload: `null`. Events fired before it are held back
/// and delivered right after it.
pub const STARTUP: &str = "Startup";

/// The host is shutting down; `on_shutdown` follows. Payload: `null`.
pub const SHUTDOWN: &str = "Shutdown";

/// The settings were saved through the REST API. Payload:
/// `{"config_hash": "<hex>", "effective_hash": "<hex>"}`, the hashes of the
/// stored and the effective settings (read the settings themselves through
/// the handle; the payload carries none, so nothing restricted leaks).
pub const SETTINGS_UPDATED: &str = "SettingsUpdated";

/// A plugin was enabled while the host runs, taking effect at once (a
/// restart-needing plugin's toggle waits for the next start and fires
/// nothing). Payload: `{"id": "<plugin id>"}`.
pub const PLUGIN_ENABLED: &str = "PluginEnabled";

/// A plugin was disabled while the host runs, taking effect at once (as
/// [`PLUGIN_ENABLED`]). Payload: `{"id": "<plugin id>"}`.
pub const PLUGIN_DISABLED: &str = "PluginDisabled";

/// The connectivity check found the host went online or offline (only
/// with `server.onlineCheck.enabled`). Payload: `{"old": bool, "new":
/// bool, "connection": bool, "resolution": bool}`.
pub const CONNECTIVITY_CHANGED: &str = "ConnectivityChanged";

/// A plugin's library was loaded while the host runs (a plugin enabled
/// that was not loaded at start-up). Payload: `{"id": "<plugin id>"}`.
/// With [`PLUGIN_ENABLED`], [`PLUGIN_DISABLED`] and [`PLUGIN_UNLOADED`],
/// what OctoPrint's `_plugin_lifecycle_manager` callbacks report.
pub const PLUGIN_LOADED: &str = "PluginLoaded";

/// A plugin was unloaded while the host runs (uninstalled). Payload:
/// `{"id": "<plugin id>"}`.
pub const PLUGIN_UNLOADED: &str = "PluginUnloaded";

/// A file was stored in the uploads folder (uploaded, added by a plugin,
/// copied, moved, or written by a slicer). Payload: `{"storage": "local",
/// "path": "<path>", "name": "<name>", "type": [<type>, <subtype>],
/// "operation": "add"|"copy"|"move"}`, the type by the file's extension:
/// `["model", "stl"]`, `["machinecode", "gcode"]`, or a type a plugin added.
/// Paths are relative to the uploads folder, folders joined by `/`.
pub const FILE_ADDED: &str = "FileAdded";

/// A file was deleted from the uploads folder (or moved away). Payload:
/// `{"storage": "local", "path": "<path>", "name": "<name>", "type": [...],
/// "operation": "remove"|"move"}`.
pub const FILE_REMOVED: &str = "FileRemoved";

/// A file was moved (after its [`FILE_REMOVED`] and [`FILE_ADDED`]).
/// Payload: `{"storage": "local", "source_storage": "local",
/// "source_path", "source_name", "source_type", "destination_storage":
/// "local", "destination_path", "destination_name", "destination_type"}`.
pub const FILE_MOVED: &str = "FileMoved";

/// A folder was created (or copied or moved there). Payload: `{"storage":
/// "local", "path": "<path>", "name": "<name>"}`.
pub const FOLDER_ADDED: &str = "FolderAdded";

/// A folder was removed with what it held (or moved away). Payload as
/// [`FOLDER_ADDED`].
pub const FOLDER_REMOVED: &str = "FolderRemoved";

/// A folder was moved (after its [`FOLDER_REMOVED`] and [`FOLDER_ADDED`]).
/// Payload: `{"storage": "local", "source_path", "source_name",
/// "destination_path", "destination_name"}`.
pub const FOLDER_MOVED: &str = "FolderMoved";

/// The list of files changed (after each change above). Payload:
/// `{"type": "printables", "storage": "local"}`.
pub const UPDATED_FILES: &str = "UpdatedFiles";

/// A file's print statistics changed (a print of it ended). Payload:
/// `{"storage": "local", "path": "<path>"}`; the statistics are in the
/// file's metadata (`prints`, `statistics`).
pub const METADATA_STATISTICS_UPDATED: &str = "MetadataStatisticsUpdated";

/// The analysis of a G-code file started. Payload: `{"name", "path",
/// "origin": "local", "type": ["machinecode", "gcode"]}`.
pub const METADATA_ANALYSIS_STARTED: &str = "MetadataAnalysisStarted";

/// The analysis of a G-code file finished and is kept in its metadata.
/// Payload: `{"name", "path", "origin": "local", "result": {...}}`, the
/// result as OctoPrint's: `estimatedPrintTime` (seconds), `filament`
/// (`{"tool0": {"length": mm, "volume": cm³}}`), `dimensions` (`width`,
/// `depth`, `height`), `printingArea` and `travelArea` (`minX` … `maxZ`),
/// `travelDimensions`.
pub const METADATA_ANALYSIS_FINISHED: &str = "MetadataAnalysisFinished";

/// A slicing job started. Payload: `{"slicer": "<type>", "stl": "<source
/// path>", "stl_location": "local", "gcode": "<destination path>",
/// "gcode_location": "local", "progressAvailable": true|false}`.
pub const SLICING_STARTED: &str = "SlicingStarted";

/// A slicing job made progress (whole percents). Payload: `{"slicer":
/// "<type>", "source_location": "local", "source_path": "<path>",
/// "dest_location": "local", "dest_path": "<path>", "progress": 0..100}`.
pub const SLICING_PROGRESS: &str = "SlicingProgress";

/// A slicing job finished and its output is in place. Payload: as
/// [`SLICING_STARTED`] without `progressAvailable`, plus `"time"`: seconds
/// taken.
pub const SLICING_DONE: &str = "SlicingDone";

/// A slicing job failed; nothing was written. Payload: as
/// [`SLICING_STARTED`] without `progressAvailable`, plus `"reason"`: the
/// error.
pub const SLICING_FAILED: &str = "SlicingFailed";

/// A slicing job was cancelled; nothing was written. Payload: as
/// [`SLICING_STARTED`] without `progressAvailable`.
pub const SLICING_CANCELLED: &str = "SlicingCancelled";

/// The printer's connection is being opened. Payload: `{"connector": "serial"}`.
pub const CONNECTING: &str = "Connecting";

/// The printer answered and is operational. Payload: `{"connector":
/// "serial", "port": "<port>", "baudrate": <baud rate>}`.
pub const CONNECTED: &str = "Connected";

/// The printer's connection is being closed. Payload: `null`.
pub const DISCONNECTING: &str = "Disconnecting";

/// The printer's connection is closed. Payload: `null`.
pub const DISCONNECTED: &str = "Disconnected";

/// The printer's state changed. Payload: `{"state_id": "<id>",
/// "state_string": "<text>"}`, e.g. `{"state_id": "OPERATIONAL",
/// "state_string": "Operational"}` (OctoPrint's state identifiers).
pub const PRINTER_STATE_CHANGED: &str = "PrinterStateChanged";

/// The printer reported an error or the connection failed. Payload:
/// `{"error": "<text>", "reason": "firmware"|"timeout"|"connection",
/// "consequence": "disconnect"|null}`.
pub const ERROR: &str = "Error";

/// A file was selected for printing. Payload: `{"name": "<name>", "path":
/// "<path>", "origin": "local", "size": <bytes>}`.
pub const FILE_SELECTED: &str = "FileSelected";

/// The selected file was deselected (another was selected, or it was
/// removed). Payload: `null`.
pub const FILE_DESELECTED: &str = "FileDeselected";

/// A print started. Payload: `{"connector": "serial", "name": "<name>",
/// "path": "<path>", "origin": "local", "size": <bytes>}` plus `"user"`
/// when a person started it.
pub const PRINT_STARTED: &str = "PrintStarted";

/// The print was paused (all lines sent before the pause are done).
/// Payload: as [`PRINT_STARTED`], plus `"position"`: where the head was,
/// `{"x", "y", "z", "e", "t", "f"}` (numbers, or `null` when unknown),
/// `"fileposition"`: the byte offset reached in the file, and `"progress"`:
/// whole percents.
pub const PRINT_PAUSED: &str = "PrintPaused";

/// The print was resumed. Payload: as [`PRINT_STARTED`] plus
/// `"fileposition"` and `"progress"`.
pub const PRINT_RESUMED: &str = "PrintResumed";

/// The print finished. Payload: as [`PRINT_STARTED`], plus `"time"`: seconds
/// of printing, pauses left out.
pub const PRINT_DONE: &str = "PrintDone";

/// The print failed. Payload: as [`PRINT_DONE`], plus `"reason": "error"`
/// and `"error"`: what went wrong.
pub const PRINT_FAILED: &str = "PrintFailed";

/// The print is being cancelled: nothing more of the file is sent.
/// Payload: as [`PRINT_STARTED`], plus `"firmwareError"`: the printer's
/// error when it caused the cancel, else `null`.
pub const PRINT_CANCELLING: &str = "PrintCancelling";

/// The print was cancelled. Payload: as [`PRINT_DONE`], plus `"position"`,
/// `"fileposition"` and `"progress"` as in [`PRINT_PAUSED`].
pub const PRINT_CANCELLED: &str = "PrintCancelled";

/// A `G0`/`G1` with a new Z was sent. Payload: `{"new": <z>, "old": <z or null>}`.
pub const Z_CHANGE: &str = "ZChange";

/// A `G28` (home) was sent. Payload: `null`.
pub const HOME: &str = "Home";

/// A tool change (`T<n>`) was sent. Payload: `{"old": <tool or null>, "new": <tool>}`.
pub const TOOL_CHANGE: &str = "ToolChange";

/// The printer answered `M115`. Payload: `{"name": "<firmware name>",
/// "data": {"FIRMWARE_NAME": …, "PROTOCOL_VERSION": …, …}}`.
pub const FIRMWARE_DATA: &str = "FirmwareData";

/// The printer reported its position (`M114`). Payload: `{"reason":
/// <why it was asked: "pause", "cancel" or null>, "x", "y", "z", "e", "t",
/// "f"}`.
pub const POSITION_UPDATE: &str = "PositionUpdate";

/// Sent to one handler only, before its next event, when events were
/// dropped for it because it fell too far behind (`server.event_queue_limit`).
/// Payload: `{"count": <number of events dropped>}`.
pub const EVENTS_DROPPED: &str = "plinth_events_dropped";

/// An isolated plugin's process ended while it was meant to run (a crash,
/// a hang past the call budget, memory past its limit). Payload:
/// `{"id": <plugin>, "reason": "SIGSEGV in on_event(PrintStarted)",
/// "crashes": <crashes within the window>, "restart_in": <seconds, or null
/// when it is not started again: quarantined, or disabled meanwhile>}`.
pub const PLUGIN_CRASHED: &str = "PluginCrashed";

/// A crashed plugin was started again. Payload: `{"id": <plugin>, "restarts": <count>}`.
pub const PLUGIN_RESTARTED: &str = "PluginRestarted";

/// A plugin crashed too often and is not started again until a person
/// enables it. Payload: `{"id": <plugin>, "reason": <why>}`.
pub const PLUGIN_QUARANTINED: &str = "PluginQuarantined";

/// The name under which an event `name` fired by plugin `id` is delivered:
/// `plugin_<id>_<name>`.
pub fn plugin_event(id: &str, name: &str) -> String {
    let mut event = String::new();
    write_plugin_event(&mut event, id, name);
    event
}

/// [`plugin_event`] written into `buf` (emptied first), for a caller that
/// reuses one buffer for many events.
pub fn write_plugin_event(buf: &mut String, id: &str, name: &str) {
    buf.clear();
    buf.reserve(8 + id.len() + name.len());
    buf.push_str("plugin_");
    buf.push_str(id);
    buf.push('_');
    buf.push_str(name);
}

/// How a batch of events crosses the boundary in one call
/// ([`OnEvents`](crate::methods::plugin::OnEvents)): events one after the
/// other, each as its name and its payload's JSON text, both prefixed by
/// their length (`u32`, little-endian). Any run of whole events is a valid
/// batch, so the host hands each handler a slice of one shared buffer and
/// nothing is encoded per handler; the plugin decodes a payload only when
/// it reads it.
pub mod packed {
    /// Appends one event to `buf`. `payload` must be JSON text.
    pub fn push(buf: &mut Vec<u8>, name: &str, payload: &[u8]) {
        buf.reserve(8 + name.len() + payload.len());
        buf.extend_from_slice(&len(name.len()).to_le_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(&len(payload.len()).to_le_bytes());
        buf.extend_from_slice(payload);
    }

    fn len(n: usize) -> u32 {
        u32::try_from(n).expect("an event part is smaller than 4 GiB")
    }

    /// Why a batch could not be read.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Malformed {
        /// It ends inside an event, at this offset.
        CutShort(usize),
        /// The name of the event at this offset is not UTF-8.
        Name(usize),
    }

    impl std::fmt::Display for Malformed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Malformed::CutShort(at) => write!(f, "a batch of events cut short at byte {at}"),
                Malformed::Name(at) => write!(f, "the event name at byte {at} is not UTF-8"),
            }
        }
    }

    /// The events of a batch, in order: `(name, payload JSON)`.
    pub fn iter(batch: &[u8]) -> Iter<'_> {
        Iter { batch, at: 0 }
    }

    /// The events of a batch (see [`iter`]).
    #[derive(Debug, Clone)]
    pub struct Iter<'a> {
        batch: &'a [u8],
        at: usize,
    }

    impl<'a> Iter<'a> {
        fn part(&mut self) -> Option<&'a [u8]> {
            let head = self.batch.get(self.at..self.at + 4)?;
            let n = u32::from_le_bytes(head.try_into().ok()?) as usize;
            let part = self.batch.get(self.at + 4..(self.at + 4).checked_add(n)?)?;
            self.at += 4 + n;
            Some(part)
        }
    }

    impl<'a> Iterator for Iter<'a> {
        type Item = Result<(&'a str, &'a [u8]), Malformed>;

        fn next(&mut self) -> Option<Self::Item> {
            if self.at >= self.batch.len() {
                return None;
            }
            let start = self.at;
            let parts = self.part().zip(self.part());
            let Some((name, payload)) = parts else {
                self.at = self.batch.len();
                return Some(Err(Malformed::CutShort(start)));
            };
            let event = std::str::from_utf8(name).map_err(|_| Malformed::Name(start));
            if event.is_err() {
                // Nothing after a malformed event is read.
                self.at = self.batch.len();
            }
            Some(event.map(|name| (name, payload)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugins_event_carries_its_identifier() {
        assert_eq!(plugin_event("hw", "ping"), "plugin_hw_ping");
    }

    #[test]
    fn a_packed_batch_reads_back_and_any_run_of_whole_events_is_one() {
        let mut buf = Vec::new();
        packed::push(&mut buf, "PrintDone", br#"{"time":1.5}"#);
        let second = buf.len();
        packed::push(&mut buf, "Startup", b"null");
        packed::push(&mut buf, "", b"[]");
        let all: Vec<_> = packed::iter(&buf).map(Result::unwrap).collect();
        assert_eq!(
            all,
            [
                ("PrintDone", &br#"{"time":1.5}"#[..]),
                ("Startup", &b"null"[..]),
                ("", &b"[]"[..])
            ]
        );
        assert_eq!(packed::iter(&buf[second..]).count(), 2);
        assert_eq!(packed::iter(&[]).count(), 0);
    }

    #[test]
    fn a_malformed_batch_says_where() {
        let mut buf = Vec::new();
        packed::push(&mut buf, "A", b"1");
        packed::push(&mut buf, "B", b"2");
        let cut: Vec<_> = packed::iter(&buf[..buf.len() - 1]).collect();
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[1], Err(packed::Malformed::CutShort(10)));
        let mut bad = Vec::new();
        packed::push(&mut bad, "x", b"1");
        bad[4] = 0xff;
        assert_eq!(
            packed::iter(&bad).next(),
            Some(Err(packed::Malformed::Name(0)))
        );
        assert_eq!(
            packed::Malformed::CutShort(10).to_string(),
            "a batch of events cut short at byte 10"
        );
    }
}
