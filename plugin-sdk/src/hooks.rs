//! Typed handlers for the hooks the host calls: no JSON by hand.
//!
//! Each `Registry` method below registers a handler of one of OctoPrint's
//! hooks ([`plinth_abi::hooks`] names them, with their arguments and
//! answers). Handlers run in `(order, plugin identifier)` order across
//! plugins. A handler that returns an error or panics is logged under the
//! plugin's name and the data goes on unchanged.
//!
//! ```
//! use plinth_sdk::prelude::*;
//! use plinth_sdk::hooks::{GcodeAction, GcodeCommand, GcodePhase};
//!
//! pub struct NoBeep { host: Host }
//!
//! impl Plugin for NoBeep {
//!     fn new(host: Host) -> Self { NoBeep { host } }
//!     fn host(&self) -> &Host { &self.host }
//!     fn register(&self, registry: &mut Registry<Self>) {
//!         registry.gcode_hook(GcodePhase::Queuing, None, NoBeep::queuing);
//!     }
//! }
//!
//! impl NoBeep {
//!     // `octoprint.comm.protocol.gcode.queuing`: drop every M300 (beep).
//!     fn queuing(&self, command: &GcodeCommand) -> PluginResult<GcodeAction> {
//!         Ok(match command.gcode {
//!             Some("M300") => GcodeAction::Drop,
//!             _ => GcodeAction::Keep,
//!         })
//!     }
//! }
//!
//! plinth_sdk::export_plugin! { plugin: NoBeep, name: "No beep", mixins: [] }
//! ```

use std::collections::BTreeMap;

use serde_json::{json, Value};

pub use plinth_abi::hooks::*;

use crate::plugin::Registry;
use crate::types::{PluginError, PluginResult};

/// A typed G-code handler: gets the command (borrowed, nothing copied),
/// answers what becomes of it.
pub type GcodeHandler<P> = for<'a> fn(&P, &GcodeCommand<'a>) -> PluginResult<GcodeAction>;

/// What a queuing or sending handler does with a command (the answers of
/// queued and sent handlers are ignored: return [`GcodeAction::Keep`]).
#[derive(Debug, Clone, PartialEq)]
pub enum GcodeAction {
    /// It goes on unchanged (OctoPrint: `return None`).
    Keep,
    /// It is replaced by this command (OctoPrint: `return "M117 Hi"`).
    Replace(String),
    /// It is replaced, with a type and added tags (OctoPrint: a 3-tuple).
    ReplaceTyped {
        /// The command.
        cmd: String,
        /// Its type.
        cmd_type: Option<String>,
        /// Tags added to it.
        tags: Vec<String>,
    },
    /// It is replaced by several commands, in order; only in the queuing
    /// phase (OctoPrint: `return ["M117 a", "M117 b"]`).
    Expand(Vec<String>),
    /// It is not sent (OctoPrint: `return None,`).
    Drop,
}

impl GcodeAction {
    /// The answer as the hook's JSON (see [`GcodeHookArgs`]).
    pub fn to_value(&self) -> Value {
        match self {
            GcodeAction::Keep => Value::Null,
            GcodeAction::Replace(cmd) => json!(cmd),
            GcodeAction::ReplaceTyped {
                cmd,
                cmd_type,
                tags,
            } => json!({"cmd": cmd, "cmd_type": cmd_type, "tags": tags}),
            GcodeAction::Expand(cmds) => json!(cmds),
            GcodeAction::Drop => json!([]),
        }
    }
}

/// An action command from the printer (`//action:<name> <params>`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ActionCommand {
    /// The whole line.
    pub line: String,
    /// `<name> <params>`.
    pub action: String,
    /// The action's name.
    pub name: String,
    /// What follows the name.
    pub params: String,
}

/// Temperatures as the printer reported them: by sensor (`T0`, `B`, `C`),
/// `(actual, target)` in °C (target `None` when not reported).
pub type ParsedTemperatures = BTreeMap<String, (f64, Option<f64>)>;

fn args<T: serde::de::DeserializeOwned>(hook: &str, value: &Value) -> PluginResult<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| PluginError::new(format!("unexpected arguments for {hook}: {e}")))
}

impl<P: 'static> Registry<P> {
    /// Handles a G-code phase (`octoprint.comm.protocol.gcode.<phase>`).
    pub fn gcode_hook(
        &mut self,
        phase: GcodePhase,
        order: Option<i64>,
        handler: GcodeHandler<P>,
    ) -> &mut Self {
        self.boxed_hook(
            phase.hook(),
            order,
            Box::new(move |p, a| {
                let owned: GcodeHookArgs = args(phase.hook(), a)?;
                handler(p, &GcodeCommand::of(&owned)).map(|action| action.to_value())
            }),
        );
        self.gcode.push((phase, handler));
        self
    }

    /// Handles lines from the printer (`octoprint.comm.protocol.gcode.received`):
    /// return the line (changed or not), or `None` to drop it.
    pub fn received_hook(
        &mut self,
        order: Option<i64>,
        handler: fn(&P, &str) -> PluginResult<Option<String>>,
    ) -> &mut Self {
        self.boxed_hook(
            GCODE_RECEIVED,
            order,
            Box::new(move |p, a| {
                let line = a["line"].as_str().unwrap_or_default();
                handler(p, line).map(|l| json!(l))
            }),
        )
    }

    /// Handles `@commands` (`octoprint.comm.protocol.atcommand.<phase>`):
    /// `phase` is [`GcodePhase::Queuing`] or [`GcodePhase::Sending`].
    pub fn atcommand_hook(
        &mut self,
        phase: GcodePhase,
        order: Option<i64>,
        handler: fn(&P, &AtCommandHookArgs) -> PluginResult<()>,
    ) -> &mut Self {
        let hook = match phase {
            GcodePhase::Sending => ATCOMMAND_SENDING,
            _ => ATCOMMAND_QUEUING,
        };
        self.boxed_hook(
            hook,
            order,
            Box::new(move |p, a| {
                let command: AtCommandHookArgs = args(hook, a)?;
                handler(p, &command).map(|()| Value::Null)
            }),
        )
    }

    /// Handles temperature reports (`octoprint.comm.protocol.temperatures.received`):
    /// return them (changed or not), or `None` to drop the report.
    pub fn temperatures_hook(
        &mut self,
        order: Option<i64>,
        handler: fn(&P, ParsedTemperatures) -> PluginResult<Option<ParsedTemperatures>>,
    ) -> &mut Self {
        self.boxed_hook(
            TEMPERATURES_RECEIVED,
            order,
            Box::new(move |p, a| {
                let parsed: ParsedTemperatures =
                    args(TEMPERATURES_RECEIVED, &a["parsed_temperatures"])?;
                handler(p, parsed).map(|t| json!(t))
            }),
        )
    }

    /// Handles the firmware's `M115` answer
    /// (`octoprint.comm.protocol.firmware.info`): its name and fields.
    pub fn firmware_info_hook(
        &mut self,
        order: Option<i64>,
        handler: fn(&P, &str, &BTreeMap<String, String>) -> PluginResult<()>,
    ) -> &mut Self {
        self.boxed_hook(
            FIRMWARE_INFO,
            order,
            Box::new(move |p, a| {
                let data: BTreeMap<String, String> = args(FIRMWARE_INFO, &a["firmware_data"])?;
                let name = a["firmware_name"].as_str().unwrap_or_default();
                handler(p, name, &data).map(|()| Value::Null)
            }),
        )
    }

    /// Handles the firmware's capabilities
    /// (`octoprint.comm.protocol.firmware.capabilities`).
    pub fn firmware_capabilities_hook(
        &mut self,
        order: Option<i64>,
        handler: fn(&P, &BTreeMap<String, bool>) -> PluginResult<()>,
    ) -> &mut Self {
        self.boxed_hook(
            FIRMWARE_CAPABILITIES,
            order,
            Box::new(move |p, a| {
                let caps: BTreeMap<String, bool> =
                    args(FIRMWARE_CAPABILITIES, &a["firmware_capabilities"])?;
                handler(p, &caps).map(|()| Value::Null)
            }),
        )
    }

    /// Handles action commands (`octoprint.comm.protocol.action`).
    pub fn action_hook(
        &mut self,
        order: Option<i64>,
        handler: fn(&P, &ActionCommand) -> PluginResult<()>,
    ) -> &mut Self {
        self.boxed_hook(
            ACTION,
            order,
            Box::new(move |p, a| {
                let action: ActionCommand = args(ACTION, a)?;
                handler(p, &action).map(|()| Value::Null)
            }),
        )
    }
}

/// OctoPrint's `PrinterCallback`: what the printer reports, as it reports
/// it. Implement the methods wanted on the plugin's type and call
/// [`Registry::printer_callback`] in `register` (OctoPrint's
/// `self._printer.register_callback(self)`; unregistering is disabling the
/// plugin).
///
/// Calls come on a thread of the host's, at most every half second while
/// the printer reports and at each change of state, never on the
/// printer's own thread: a slow callback never slows a print (it misses
/// reports instead).
pub trait PrinterCallback {
    /// `on_printer_send_current_data(data)`: state, job, progress,
    /// `currentZ`, offsets, resends (see [`PRINTER_CURRENT_DATA`]).
    fn on_printer_send_current_data(&self, _data: &Value) {}
    /// `on_printer_add_log(data)`: one terminal line (`Send: …`, `Recv: …`).
    fn on_printer_add_log(&self, _line: &str) {}
    /// `on_printer_add_temperature(data)`: one temperature sample,
    /// `{"time", "tool0": {"actual", "target"}, "bed": …}`.
    fn on_printer_add_temperature(&self, _sample: &Value) {}
}

impl<P: PrinterCallback + 'static> Registry<P> {
    /// Registers the plugin's [`PrinterCallback`] methods.
    pub fn printer_callback(&mut self) -> &mut Self {
        self.boxed_hook(
            PRINTER_CURRENT_DATA,
            None,
            Box::new(|p: &P, a: &Value| {
                p.on_printer_send_current_data(&a["data"]);
                Ok(Value::Null)
            }),
        );
        self.boxed_hook(
            PRINTER_ADD_LOG,
            None,
            Box::new(|p: &P, a: &Value| {
                for line in a["lines"].as_array().into_iter().flatten() {
                    p.on_printer_add_log(line.as_str().unwrap_or_default());
                }
                Ok(Value::Null)
            }),
        );
        self.boxed_hook(
            PRINTER_ADD_TEMPERATURE,
            None,
            Box::new(|p: &P, a: &Value| {
                for sample in a["samples"].as_array().into_iter().flatten() {
                    p.on_printer_add_temperature(sample);
                }
                Ok(Value::Null)
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_become_the_hooks_answers() {
        assert_eq!(GcodeAction::Keep.to_value(), Value::Null);
        assert_eq!(GcodeAction::Replace("M1".into()).to_value(), json!("M1"));
        assert_eq!(GcodeAction::Drop.to_value(), json!([]));
        assert_eq!(
            GcodeAction::Expand(vec!["M1".into(), "M2".into()]).to_value(),
            json!(["M1", "M2"])
        );
        assert_eq!(
            GcodeAction::ReplaceTyped {
                cmd: "M105".into(),
                cmd_type: Some("poll".into()),
                tags: vec!["t".into()]
            }
            .to_value(),
            json!({"cmd": "M105", "cmd_type": "poll", "tags": ["t"]})
        );
    }
}
