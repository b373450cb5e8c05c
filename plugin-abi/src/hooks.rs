//! The hooks the host calls, by name, with their arguments and what their
//! handlers return.
//!
//! A plugin registers a handler by name (`Registry::hook` in the SDK, or one
//! of its typed helpers). The host calls every handler of a hook in
//! `(order, plugin identifier)` order, each with the arguments below as JSON,
//! and reads the handler's answer as described. A handler that fails (an
//! error, a panic, a crash of its process) is logged under the plugin's name
//! and skipped: the line, temperatures or data go on as if it had answered
//! "unchanged".
//!
//! Names, arguments and answers are OctoPrint's; where OctoPrint passes
//! Python objects (the `comm_instance`, tuples, sets) the host passes JSON:
//! the comm instance is left out (use the host handle's printer instead),
//! tuples are arrays and sets are arrays of strings.

use serde::{Deserialize, Serialize};

/// `octoprint.comm.protocol.gcode.queuing`: a command is about to enter the
/// send queue. Arguments: [`GcodeHookArgs`]. Answer: a [`GcodeHookArgs`]
/// answer (see [`GcodeHookArgs`]): keep, rewrite, expand into several
/// commands (only in this phase) or drop.
pub const GCODE_QUEUING: &str = "octoprint.comm.protocol.gcode.queuing";
/// `octoprint.comm.protocol.gcode.queued`: a command entered the send
/// queue. Arguments: [`GcodeHookArgs`]. The answer is ignored.
pub const GCODE_QUEUED: &str = "octoprint.comm.protocol.gcode.queued";
/// `octoprint.comm.protocol.gcode.sending`: a command is about to be written
/// to the printer. Arguments: [`GcodeHookArgs`]. Answer: keep, rewrite or
/// drop (one command at most: an expansion is refused, logged, and the
/// command sent as it was).
pub const GCODE_SENDING: &str = "octoprint.comm.protocol.gcode.sending";
/// `octoprint.comm.protocol.gcode.sent`: a command was written to the
/// printer. Arguments: [`GcodeHookArgs`]. The answer is ignored.
pub const GCODE_SENT: &str = "octoprint.comm.protocol.gcode.sent";
/// `octoprint.comm.protocol.gcode.received`: the printer sent a line.
/// Arguments: `{"line": "<line>"}`. Answer: the line, possibly rewritten,
/// as a string; `null` drops it (later handlers and the host do not see it).
pub const GCODE_RECEIVED: &str = "octoprint.comm.protocol.gcode.received";
/// `octoprint.comm.protocol.atcommand.queuing`: an `@command` (a line
/// starting with `@`, never sent to the printer) is queued. Arguments:
/// [`AtCommandHookArgs`]. The answer is ignored.
pub const ATCOMMAND_QUEUING: &str = "octoprint.comm.protocol.atcommand.queuing";
/// `octoprint.comm.protocol.atcommand.sending`: an `@command` reached the
/// head of the send queue. Arguments: [`AtCommandHookArgs`]. The answer is
/// ignored. The host itself handles `@pause`, `@resume`, `@cancel` and
/// `@abort` in this phase, after the handlers.
pub const ATCOMMAND_SENDING: &str = "octoprint.comm.protocol.atcommand.sending";
/// `octoprint.comm.protocol.temperatures.received`: the printer reported
/// temperatures. Arguments: `{"parsed_temperatures": {"T0": [actual,
/// target], "B": [actual, target], …}}` (target `null` when not reported).
/// Answer: the temperatures, possibly changed, in the same shape; `null` or
/// `{}` drops the report.
pub const TEMPERATURES_RECEIVED: &str = "octoprint.comm.protocol.temperatures.received";
/// `octoprint.comm.protocol.firmware.info`: the printer answered `M115`.
/// Arguments: `{"firmware_name": "<name>", "firmware_data": {"FIRMWARE_NAME":
/// …, "PROTOCOL_VERSION": …, …}}`. The answer is ignored.
pub const FIRMWARE_INFO: &str = "octoprint.comm.protocol.firmware.info";
/// `octoprint.comm.protocol.firmware.capabilities`: the printer reported
/// its capabilities (`Cap:` lines after `M115`). Arguments:
/// `{"firmware_capabilities": {"AUTOREPORT_TEMP": true, …}}`. The answer is
/// ignored.
pub const FIRMWARE_CAPABILITIES: &str = "octoprint.comm.protocol.firmware.capabilities";
/// `octoprint.comm.protocol.action`: the printer sent an action command
/// (`//action:<name> <params>`). Arguments: `{"line": "<line>", "action":
/// "<name> <params>", "name": "<name>", "params": "<params>"}`. The answer
/// is ignored. The host itself handles `pause`, `paused`, `resume`,
/// `resumed`, `cancel` and `disconnect` after the handlers.
pub const ACTION: &str = "octoprint.comm.protocol.action";

/// The G-code hooks' phase, in the order a command passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GcodePhase {
    /// Before it enters the send queue: [`GCODE_QUEUING`].
    Queuing,
    /// After it entered the send queue: [`GCODE_QUEUED`].
    Queued,
    /// Before it is written: [`GCODE_SENDING`].
    Sending,
    /// After it was written: [`GCODE_SENT`].
    Sent,
}

impl GcodePhase {
    /// Every phase, in order.
    pub const ALL: [GcodePhase; 4] = [
        GcodePhase::Queuing,
        GcodePhase::Queued,
        GcodePhase::Sending,
        GcodePhase::Sent,
    ];

    /// The phase as OctoPrint names it (`queuing`, …).
    pub const fn name(self) -> &'static str {
        match self {
            GcodePhase::Queuing => "queuing",
            GcodePhase::Queued => "queued",
            GcodePhase::Sending => "sending",
            GcodePhase::Sent => "sent",
        }
    }

    /// The hook of this phase.
    pub const fn hook(self) -> &'static str {
        match self {
            GcodePhase::Queuing => GCODE_QUEUING,
            GcodePhase::Queued => GCODE_QUEUED,
            GcodePhase::Sending => GCODE_SENDING,
            GcodePhase::Sent => GCODE_SENT,
        }
    }

    /// Whether the handlers' answers count (queuing and sending); the
    /// answers of queued and sent handlers are ignored.
    pub const fn rewrites(self) -> bool {
        matches!(self, GcodePhase::Queuing | GcodePhase::Sending)
    }
}

/// The arguments of the G-code hooks (OctoPrint's `phase, cmd, cmd_type,
/// gcode, subcode, tags`).
///
/// # The answer (queuing and sending)
/// - `null`: the command goes on unchanged;
/// - a string: it replaces the command;
/// - an object `{"cmd": "<command>", "cmd_type": "<type>", "tags": […]}`
///   (`cmd_type` and `tags` optional; tags are added): it replaces the
///   command (OctoPrint's 1-, 2- and 3-tuples);
/// - an array of strings and objects: the command is replaced by all of them,
///   in order (only in the queuing phase); `null` entries and entries whose
///   `cmd` is `null` are left out, so `[]` drops the command (OctoPrint's
///   `None,`).
///
/// Commands a handler added or rewrote carry the tags `source:rewrite`,
/// `phase:<phase>` and `plugin:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcodeHookArgs {
    /// The phase: `queuing`, `queued`, `sending` or `sent`.
    pub phase: GcodePhase,
    /// The command, e.g. `G1 X10 F3000` (no line number, no checksum).
    pub cmd: String,
    /// The command's type, if its sender gave one (e.g. `temperature_poll`).
    pub cmd_type: Option<String>,
    /// Its G-code: `G1`, `M104`, `T` (tool changes), `F`; `null` for others.
    pub gcode: Option<String>,
    /// The subcode after a dot (`G29.1` has `1`).
    pub subcode: Option<String>,
    /// Where it came from and why, e.g. `source:file`, `source:api`,
    /// `plugin:<id>`, `trigger:printer.commands`, `filepos:1234`.
    pub tags: Vec<String>,
}

/// The arguments of the `@command` hooks (OctoPrint's `phase, command,
/// parameters, tags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtCommandHookArgs {
    /// `queuing` or `sending`.
    pub phase: GcodePhase,
    /// The command without its `@`, e.g. `pause`.
    pub command: String,
    /// The text after the command.
    pub parameters: String,
    /// As [`GcodeHookArgs::tags`].
    pub tags: Vec<String>,
}
