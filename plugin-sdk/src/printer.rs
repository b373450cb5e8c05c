//! The printer, as a plugin reaches it: OctoPrint's `self._printer`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ServiceError;
use crate::host::Host;
use crate::methods::host as services;
use crate::printer_types::PrinterCall;

/// The printer's state: OctoPrint's identifier, string and flags.
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterState {
    /// `OFFLINE`, `OPERATIONAL`, `PRINTING`, `PAUSED`, `ERROR`, …
    pub id: String,
    /// `Offline`, `Operational`, `Printing`, …
    pub text: String,
    /// `{"operational", "printing", "paused", "ready", "error", …}`.
    pub flags: Value,
    /// The last error, while the printer is in error.
    pub error: Option<String>,
}

impl PrinterState {
    fn flag(&self, name: &str) -> bool {
        self.flags[name].as_bool().unwrap_or(false)
    }
}

/// The host's printer (OctoPrint's `PrinterInterface`), from
/// [`Host::printer`]. Methods are named as OctoPrint's; each asks the
/// host once.
///
/// | OctoPrint (`self._printer.…`) | Plinth |
/// |---|---|
/// | `get_state_id()`, `get_state_string()` | [`get_state_id`](Self::get_state_id), [`get_state_string`](Self::get_state_string), [`state`](Self::state) |
/// | `get_current_data()` | [`get_current_data`](Self::get_current_data) |
/// | `get_current_job()` | [`get_current_job`](Self::get_current_job) |
/// | `get_current_temperatures()` | [`get_current_temperatures`](Self::get_current_temperatures) |
/// | `get_temperature_history()` | [`get_temperature_history`](Self::get_temperature_history) |
/// | `get_current_connection()` | [`get_current_connection`](Self::get_current_connection) |
/// | `is_operational()`, `is_printing()`, `is_paused()`, `is_ready()`, `is_error()`, `is_closed_or_error()`, `is_cancelling()`, `is_pausing()`, `is_resuming()`, `is_finishing()` | the same names |
/// | `commands(commands, tags=…)` | [`commands`](Self::commands), [`commands_tagged`](Self::commands_tagged) |
/// | `script(name, context=…)` | [`script`](Self::script) |
/// | `set_temperature(heater, value)` | [`set_temperature`](Self::set_temperature) |
/// | `set_temperature_offset(offsets)` | [`set_temperature_offset`](Self::set_temperature_offset) |
/// | `jog(axes, relative, speed)`, `home(axes)`, `extrude(amount, speed)`, `change_tool(tool)`, `feed_rate(factor)`, `flow_rate(factor)` | the same names |
/// | `select_file(path, sd, printAfterSelect)`, `unselect_file()` | [`select_file`](Self::select_file), [`unselect_file`](Self::unselect_file) |
/// | `start_print()`, `pause_print()`, `resume_print()`, `toggle_pause_print()`, `cancel_print()` | the same names; [`restart_print`](Self::restart_print) |
/// | `connect(port, baudrate, profile)`, `disconnect()`, `fake_ack()` | the same names |
/// | `self._printer_profile_manager.get_all()`, `.get(id)`, `.get_current_or_default()` | [`get_profiles`](Self::get_profiles), [`get_profile`](Self::get_profile), [`get_current_profile`](Self::get_current_profile) |
/// | `register_callback(callback)`, `unregister_callback(callback)` | implement [`crate::hooks::PrinterCallback`] and call [`Registry::printer_callback`](crate::Registry::printer_callback) in `register`; disabling the plugin unregisters it |
/// | `log_lines(*lines)`, `comm_instance._log(line)` | [`log_lines`](Self::log_lines) |
/// | the terminal's lines | [`get_log_lines`](Self::get_log_lines) |
///
/// `sd` arguments are gone: the virtual printer has no SD card.
#[derive(Clone)]
pub struct Printer {
    host: Host,
}

impl Printer {
    pub(crate) fn new(host: Host) -> Self {
        Self { host }
    }

    fn call(&self, call: PrinterCall) -> Result<Value, ServiceError> {
        self.host.service::<services::Printer>(&call)
    }

    fn act(&self, call: PrinterCall) -> Result<(), ServiceError> {
        self.call(call).map(|_| ())
    }

    /// The state: identifier, string and flags.
    pub fn state(&self) -> Result<PrinterState, ServiceError> {
        let v = self.call(PrinterCall::State)?;
        Ok(PrinterState {
            id: v["id"].as_str().unwrap_or_default().to_owned(),
            text: v["text"].as_str().unwrap_or_default().to_owned(),
            flags: v["flags"].clone(),
            error: v["error"].as_str().map(str::to_owned),
        })
    }

    /// `get_state_id()`: `OPERATIONAL`, `PRINTING`, …
    pub fn get_state_id(&self) -> Result<String, ServiceError> {
        Ok(self.state()?.id)
    }

    /// `get_state_string()`: `Operational`, `Printing`, …
    pub fn get_state_string(&self) -> Result<String, ServiceError> {
        Ok(self.state()?.text)
    }

    /// `is_operational()`: connected.
    pub fn is_operational(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("operational"))
    }

    /// `is_printing()`: a job is being sent (starting, printing, pausing,
    /// resuming, cancelling, finishing).
    pub fn is_printing(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("printing"))
    }

    /// `is_paused()`.
    pub fn is_paused(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("paused"))
    }

    /// `is_pausing()`.
    pub fn is_pausing(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("pausing"))
    }

    /// `is_resuming()`.
    pub fn is_resuming(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("resuming"))
    }

    /// `is_cancelling()`.
    pub fn is_cancelling(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("cancelling"))
    }

    /// `is_finishing()`.
    pub fn is_finishing(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("finishing"))
    }

    /// `is_ready()`: operational with no job.
    pub fn is_ready(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("ready"))
    }

    /// `is_error()`.
    pub fn is_error(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("error"))
    }

    /// `is_closed_or_error()`: not connected.
    pub fn is_closed_or_error(&self) -> Result<bool, ServiceError> {
        Ok(self.state()?.flag("closedOrError"))
    }

    /// `get_current_data()`: `{"state", "job", "progress", "currentZ",
    /// "offsets", "resends"}`.
    pub fn get_current_data(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::CurrentData)
    }

    /// `get_current_job()`: `{"file": {"name", "path", "size", …},
    /// "estimatedPrintTime", "filament", "user"}`.
    pub fn get_current_job(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::CurrentJob)
    }

    /// `get_current_temperatures()`: `{"tool0": {"actual", "target",
    /// "offset"}, "bed": …}`.
    pub fn get_current_temperatures(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::CurrentTemperatures)
    }

    /// `get_temperature_history()`: samples, oldest first (the last `limit`).
    pub fn get_temperature_history(
        &self,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, ServiceError> {
        match self.call(PrinterCall::TemperatureHistory { limit })? {
            Value::Array(samples) => Ok(samples),
            _ => Ok(Vec::new()),
        }
    }

    /// `get_current_connection()`: `{"state", "port", "baudrate", "profile"}`.
    pub fn get_current_connection(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::CurrentConnection)
    }

    /// The terminal's last lines (`Send: …`, `Recv: …`), oldest first.
    pub fn get_log_lines(&self) -> Result<Vec<String>, ServiceError> {
        let lines = self.call(PrinterCall::TerminalLines)?;
        Ok(serde_json::from_value(lines).unwrap_or_default())
    }

    /// `log_lines(*lines)`: adds lines to the terminal log (what OctoPrint
    /// plugins also wrote with `comm_instance._log`).
    pub fn log_lines<S: AsRef<str>>(&self, lines: &[S]) -> Result<(), ServiceError> {
        self.act(PrinterCall::LogLines {
            lines: lines.iter().map(|l| l.as_ref().to_owned()).collect(),
        })
    }

    /// `commands(commands)`: sends each command through the send queue and
    /// the G-code hooks (tagged `plugin:<your id>`). Refused when the printer
    /// is not operational or a command holds a line break.
    pub fn commands<S: AsRef<str>>(&self, commands: &[S]) -> Result<(), ServiceError> {
        self.commands_tagged(commands, &[])
    }

    /// `commands(commands, tags=tags)`: as [`commands`](Self::commands) with
    /// tags of your own.
    pub fn commands_tagged<S: AsRef<str>>(
        &self,
        commands: &[S],
        tags: &[&str],
    ) -> Result<(), ServiceError> {
        self.act(PrinterCall::Commands {
            commands: commands.iter().map(|c| c.as_ref().to_owned()).collect(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        })
    }

    /// `script(name, context)`: renders the GCODE script `name` and sends it.
    pub fn script(&self, name: &str, context: Value) -> Result<(), ServiceError> {
        self.act(PrinterCall::Script {
            name: name.to_owned(),
            context,
        })
    }

    /// `set_temperature(heater, value)`: `tool0`, `bed`, `chamber`, …
    pub fn set_temperature(&self, heater: &str, value: f64) -> Result<(), ServiceError> {
        self.act(PrinterCall::SetTemperature {
            heater: heater.to_owned(),
            value,
        })
    }

    /// `set_temperature_offset(offsets)`: °C per heater, −50 to 50.
    pub fn set_temperature_offset(
        &self,
        offsets: BTreeMap<String, f64>,
    ) -> Result<(), ServiceError> {
        self.act(PrinterCall::SetTemperatureOffset { offsets })
    }

    /// `jog(axes, relative, speed)`: `axes` by `x`, `y`, `z` in mm.
    pub fn jog(
        &self,
        axes: BTreeMap<String, f64>,
        relative: bool,
        speed: Option<f64>,
    ) -> Result<(), ServiceError> {
        self.act(PrinterCall::Jog {
            axes,
            relative,
            speed,
        })
    }

    /// `home(axes)`: any of `x`, `y`, `z`.
    pub fn home(&self, axes: &[&str]) -> Result<(), ServiceError> {
        self.act(PrinterCall::Home {
            axes: axes.iter().map(|a| (*a).to_owned()).collect(),
        })
    }

    /// `extrude(amount, speed)`: mm (negative retracts), mm/min.
    pub fn extrude(&self, amount: f64, speed: Option<f64>) -> Result<(), ServiceError> {
        self.act(PrinterCall::Extrude { amount, speed })
    }

    /// `change_tool(tool)`: `tool0`, `tool1`, …
    pub fn change_tool(&self, tool: &str) -> Result<(), ServiceError> {
        self.act(PrinterCall::ChangeTool {
            tool: tool.to_owned(),
        })
    }

    /// `feed_rate(factor)`: 50 to 200 (percent) or 0.5 to 2.
    pub fn feed_rate(&self, factor: f64) -> Result<(), ServiceError> {
        self.act(PrinterCall::FeedRate { factor })
    }

    /// `flow_rate(factor)`: 75 to 125 (percent) or 0.75 to 1.25.
    pub fn flow_rate(&self, factor: f64) -> Result<(), ServiceError> {
        self.act(PrinterCall::FlowRate { factor })
    }

    /// `select_file(path, False, print_after_select)`: a G-code file of the
    /// uploads folder.
    pub fn select_file(&self, path: &str, print_after_select: bool) -> Result<(), ServiceError> {
        self.act(PrinterCall::SelectFile {
            path: path.to_owned(),
            print: print_after_select,
        })
    }

    /// `unselect_file()`.
    pub fn unselect_file(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::UnselectFile)
    }

    /// `start_print()`: the selected file.
    pub fn start_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::StartPrint)
    }

    /// `pause_print()`.
    pub fn pause_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::PausePrint)
    }

    /// `resume_print()`.
    pub fn resume_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::ResumePrint)
    }

    /// `toggle_pause_print()`.
    pub fn toggle_pause_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::TogglePausePrint)
    }

    /// `cancel_print()`.
    pub fn cancel_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::CancelPrint)
    }

    /// Starts a paused job again from its beginning (the REST API's `restart`).
    pub fn restart_print(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::RestartPrint)
    }

    /// `connect(port, baudrate, profile)`: the preferences where `None`.
    pub fn connect(
        &self,
        port: Option<&str>,
        baudrate: Option<u32>,
        profile: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.act(PrinterCall::Connect {
            port: port.map(str::to_owned),
            baudrate,
            profile: profile.map(str::to_owned),
        })
    }

    /// `_printer_profile_manager.get_all()`: every printer profile, by
    /// identifier (OctoPrint's schema).
    pub fn get_profiles(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::Profiles)
    }

    /// `_printer_profile_manager.get(identifier)`: one printer profile, if
    /// there is one of that identifier.
    pub fn get_profile(&self, identifier: &str) -> Result<Option<Value>, ServiceError> {
        Ok(self.get_profiles()?.get(identifier).cloned())
    }

    /// `_printer_profile_manager.get_current_or_default()`: the profile the
    /// printer uses.
    pub fn get_current_profile(&self) -> Result<Value, ServiceError> {
        self.call(PrinterCall::CurrentProfile)
    }

    /// `disconnect()`.
    pub fn disconnect(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::Disconnect)
    }

    /// `fake_ack()`: acts as if the printer had answered `ok`.
    pub fn fake_ack(&self) -> Result<(), ServiceError> {
        self.act(PrinterCall::FakeAck)
    }
}
