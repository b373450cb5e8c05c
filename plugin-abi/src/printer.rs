//! The printer service: what a plugin asks of the printer through its
//! handle (OctoPrint's `self._printer`), one [`PrinterCall`] per operation.
//!
//! Every call answers JSON (see each variant) or a [`crate::Refusal`] that
//! says why nothing was done, with the status the REST API gives the same
//! refusal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One operation on the printer, named as OctoPrint's `PrinterInterface`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PrinterCall {
    /// `{"id": "OPERATIONAL", "text": "Operational", "flags": {…}}`: the
    /// state's identifier, string and flags.
    State,
    /// `get_current_data()`: `{"state", "job", "progress", "currentZ",
    /// "offsets", "resends"}` as the push channel's `current` messages.
    CurrentData,
    /// `get_current_job()`: `{"file", "estimatedPrintTime", "filament", "user"}`.
    CurrentJob,
    /// `get_current_temperatures()`: `{"tool0": {"actual", "target",
    /// "offset"}, "bed": …}`.
    CurrentTemperatures,
    /// `get_temperature_history()`: samples `{"time", "tool0": {"actual",
    /// "target"}, …}`, oldest first; the last `limit` if given.
    TemperatureHistory {
        /// How many of the last samples.
        limit: Option<usize>,
    },
    /// `get_current_connection()`: `{"state", "port", "baudrate", "profile"}`.
    CurrentConnection,
    /// The terminal's last lines (`Send: …`, `Recv: …`), oldest first.
    TerminalLines,
    /// `log_lines(*lines)`: adds lines of the plugin's own to the terminal
    /// log (OctoPrint plugins also wrote through `comm_instance._log`). `null`.
    LogLines {
        /// The lines, each without line breaks.
        lines: Vec<String>,
    },
    /// `commands(commands, tags=…)`: each command through the send queue and
    /// the G-code hooks. `null`.
    Commands {
        /// One command per entry (no line breaks).
        commands: Vec<String>,
        /// Tags added to each (the host adds `plugin:<id>`).
        tags: Vec<String>,
    },
    /// `script(name, context=…)`: renders and sends a GCODE script. `null`.
    Script {
        /// The script's name, e.g. `afterPrintCancelled`.
        name: String,
        /// Values the template sees beside the printer's own.
        context: Value,
    },
    /// `set_temperature(heater, value)`: `tool<n>`, `bed` or `chamber`. `null`.
    SetTemperature {
        /// `tool0`, `bed`, `chamber`, …
        heater: String,
        /// °C, within the printer profile's range.
        value: f64,
    },
    /// `set_temperature_offset(offsets)`: °C per heater, −50 to 50. `null`.
    SetTemperatureOffset {
        /// By heater name.
        offsets: BTreeMap<String, f64>,
    },
    /// `jog(axes, relative=True, speed=None)`: `axes` by `x`, `y`, `z`. `null`.
    Jog {
        /// Amounts (or, not `relative`, positions) in mm.
        axes: BTreeMap<String, f64>,
        /// Whether the amounts are relative.
        relative: bool,
        /// mm/min; the profile's axis speed when `null`.
        speed: Option<f64>,
    },
    /// `home(axes)`: `x`, `y`, `z`. `null`.
    Home {
        /// The axes to home.
        axes: Vec<String>,
    },
    /// `extrude(amount, speed=None)`. `null`.
    Extrude {
        /// mm; negative retracts.
        amount: f64,
        /// mm/min; the profile's extruder speed when `null`.
        speed: Option<f64>,
    },
    /// `change_tool(tool)`: `tool<n>`. `null`.
    ChangeTool {
        /// E.g. `tool1`.
        tool: String,
    },
    /// `feed_rate(factor)`: 50 to 200 (percent) or 0.5 to 2. `null`.
    FeedRate {
        /// The factor.
        factor: f64,
    },
    /// `flow_rate(factor)`: 75 to 125 (percent) or 0.75 to 1.25. `null`.
    FlowRate {
        /// The factor.
        factor: f64,
    },
    /// `select_file(path, sd, printAfterSelect)`: a file of the uploads
    /// folder. `null`.
    SelectFile {
        /// Its path in the uploads folder.
        path: String,
        /// Start printing it at once.
        print: bool,
    },
    /// `unselect_file()`. `null`.
    UnselectFile,
    /// `start_print()`. `null`.
    StartPrint,
    /// `pause_print()`. `null`.
    PausePrint,
    /// `resume_print()`. `null`.
    ResumePrint,
    /// `toggle_pause_print()`. `null`.
    TogglePausePrint,
    /// `cancel_print()`. `null`.
    CancelPrint,
    /// Starts a paused job again from the beginning. `null`.
    RestartPrint,
    /// `connect(port=None, baudrate=None, profile=None)`. `null`.
    Connect {
        /// `VIRTUAL`; the preference when `null`.
        port: Option<String>,
        /// The preference when `null`.
        baudrate: Option<u32>,
        /// A printer profile's identifier; the default profile when `null`.
        #[serde(default)]
        profile: Option<String>,
    },
    /// `_printer_profile_manager.get_all()`: every profile by identifier.
    Profiles,
    /// `_printer_profile_manager.get_current_or_default()`: the printer's profile.
    CurrentProfile,
    /// `disconnect()`. `null`.
    Disconnect,
    /// `fake_ack()`. `null`.
    FakeAck,
}
