//! OctoPrint's virtual printer's debug commands (`!!DEBUG:<command>`), the
//! ones tests and people use to make the firmware misbehave on purpose:
//!
//! - `action_pause`, `action_resume`, `action_cancel`, `action_disconnect`:
//!   the firmware sends `//action:<name>`;
//! - `action_custom <name> [params]`: it sends `//action:<name> <params>`;
//! - `trigger_resend_lineno`, `trigger_resend_checksum`: the next numbered
//!   line is refused with a resend request, as if it arrived garbled;
//! - `kill`: `Error:Printer halted. kill() called!`, a fatal error.
//!
//! Every debug command is answered `ok`; an unknown one is reported in an
//! `echo:` line first.

use super::Firmware;

impl Firmware {
    /// Runs the debug command `what` (the text after `!!DEBUG:`).
    pub(super) fn debug(&mut self, what: &str, out: &mut Vec<String>) {
        let what = what.trim();
        let (name, rest) = what.split_once(' ').unwrap_or((what, ""));
        match name {
            "action_pause" | "action_resume" | "action_cancel" | "action_disconnect" => {
                out.push(format!("//action:{}", &name["action_".len()..]));
            }
            "action_custom" => out.push(format!("//action:{}", rest.trim())),
            "trigger_resend_lineno" | "trigger_resend_checksum" => self.garble_next = true,
            "kill" => {
                out.push("Error:Printer halted. kill() called!".to_owned());
                return;
            }
            other => out.push(format!("echo:unknown debug command {other:?}")),
        }
        out.push("ok".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use crate::jobs::firmware::{Firmware, FirmwareSettings};
    use std::time::Duration;

    #[test]
    fn debug_commands_send_actions_garble_lines_and_kill() {
        let mut fw = Firmware::new(FirmwareSettings::default());
        let at = Duration::ZERO;
        assert_eq!(
            fw.receive("!!DEBUG:action_pause", at),
            ["//action:pause", "ok"]
        );
        assert_eq!(
            fw.receive("!!DEBUG:action_custom light on", at),
            ["//action:light on", "ok"]
        );
        assert_eq!(fw.receive("!!DEBUG:trigger_resend_checksum", at), ["ok"]);
        assert_eq!(fw.receive("N1 G28*18", at)[1], "Resend: 1");
        assert_eq!(fw.receive("N1 G28*18", at), ["ok"], "only the next line");
        // Numbered, as it goes out while a print runs.
        let body = "N2 !!DEBUG:trigger_resend_lineno";
        let line = format!("{body}*{}", crate::jobs::firmware::gcode::checksum(body));
        assert_eq!(fw.receive(&line, at), ["ok"]);
        assert_eq!(fw.receive("N3 G28*16", at)[1], "Resend: 3");
        assert_eq!(
            fw.receive("!!DEBUG:kill", at),
            ["Error:Printer halted. kill() called!"]
        );
        assert_eq!(
            fw.receive("!!DEBUG:nope", at)[0],
            "echo:unknown debug command \"nope\""
        );
    }
}
