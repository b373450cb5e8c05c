//! A port of [OctoPrint-GCodeSystemCommands](https://github.com/kantlivelong/OctoPrint-GCodeSystemCommands)
//! (Shawn Bruce; AGPLv3), written again from its behaviour: a command
//! `OCTO<n> [args]` on its way to the printer (from a file, the terminal or
//! a plugin) runs the system command defined for `<n>` and never reaches
//! the printer.
//!
//! - Handles `octoprint.comm.protocol.gcode.sending`, as the original.
//! - Definitions are the setting `command_definitions`, a list of
//!   `{"id": "<n>", "command": "<shell command line>"}`, readable and
//!   writable by administrators only (a restricted path, as the original).
//! - The command runs with `sh -c` (`cmd /C` on Windows) and the
//!   environment `OCTOPRINT_GCODESYSTEMCOMMAND_ID`, `…_ARGS` and `…_LINE`,
//!   and is waited for, as the original (the printer waits meanwhile).
//! - The terminal log shows `Exec(GCodeSystemCommands): OCTO<n>` and then
//!   `Return(GCodeSystemCommands): ok` (exit status 0), `error` or
//!   `undefined` (no definition), as the original wrote with
//!   `comm_instance._log`.

use plinth_sdk::hooks::{GcodeAction, GcodeCommand, GcodePhase};
use plinth_sdk::prelude::*;

/// The plugin object.
pub struct GcodeSystemCommands {
    host: Host,
}

impl Plugin for GcodeSystemCommands {
    fn new(host: Host) -> Self {
        GcodeSystemCommands { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn register(&self, registry: &mut Registry<Self>) {
        registry.gcode_hook(GcodePhase::Sending, None, GcodeSystemCommands::sending);
    }
}

impl SettingsPlugin for GcodeSystemCommands {
    fn get_settings_defaults(&self) -> Value {
        json!({"command_definitions": []})
    }

    fn get_settings_restricted_paths(&self) -> Value {
        json!({"admin": [["command_definitions"]]})
    }
}

/// `OCTO<n> [args]` → `(n, args)`.
fn parse(cmd: &str) -> Option<(&str, &str)> {
    let rest = cmd.strip_prefix("OCTO")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (id, after) = rest.split_at(digits);
    match after.strip_prefix(' ') {
        Some(args) => Some((id, args)),
        None if after.is_empty() => Some((id, "")),
        None => None,
    }
}

impl GcodeSystemCommands {
    /// The command line defined for `id`.
    fn definition(&self, id: &str) -> Option<String> {
        let list = self.host.settings().get(&["command_definitions"])?;
        list.as_array()?.iter().find_map(|d| {
            let matches = match &d["id"] {
                Value::String(s) => s == id,
                Value::Number(n) => n.to_string() == id,
                _ => false,
            };
            matches
                .then(|| d["command"].as_str().map(str::to_owned))
                .flatten()
        })
    }

    fn log(&self, line: String) {
        if let Err(e) = self.host.printer().log_lines(&[line]) {
            self.host
                .logger()
                .warn(format_args!("cannot write to the terminal: {e}"));
        }
    }

    fn sending(&self, command: &GcodeCommand) -> PluginResult<GcodeAction> {
        // Real G-code is none of this plugin's business.
        if command.gcode.is_some() {
            return Ok(GcodeAction::Keep);
        }
        let Some((id, args)) = parse(command.cmd.trim()) else {
            return Ok(GcodeAction::Keep);
        };
        let Some(line) = self.definition(id) else {
            self.host
                .logger()
                .error(format_args!("no definition found for ID {id}"));
            self.log("Return(GCodeSystemCommands): undefined".to_owned());
            return Ok(GcodeAction::Drop);
        };
        self.host
            .logger()
            .info(format_args!("executing command ID: {id}"));
        self.log(format!("Exec(GCodeSystemCommands): OCTO{id}"));
        let status = shell(&line)
            .env("OCTOPRINT_GCODESYSTEMCOMMAND_ID", id)
            .env("OCTOPRINT_GCODESYSTEMCOMMAND_ARGS", args)
            .env("OCTOPRINT_GCODESYSTEMCOMMAND_LINE", command.cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let outcome = match status {
            Ok(s) if s.success() => "ok",
            Ok(s) => {
                self.host
                    .logger()
                    .info(format_args!("command ID {id} returned: {s}"));
                "error"
            }
            Err(e) => {
                self.host
                    .logger()
                    .error(format_args!("error executing command ID {id}: {e}"));
                "error"
            }
        };
        self.log(format!("Return(GCodeSystemCommands): {outcome}"));
        Ok(GcodeAction::Drop)
    }
}

#[cfg(unix)]
fn shell(line: &str) -> std::process::Command {
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(line);
    command
}

#[cfg(windows)]
fn shell(line: &str) -> std::process::Command {
    let mut command = std::process::Command::new("cmd");
    command.arg("/C").arg(line);
    command
}

plinth_sdk::export_plugin! {
    plugin: GcodeSystemCommands,
    name: "GCODE System Commands",
    description: "OCTO<n> commands run system commands instead of reaching the printer (a port of OctoPrint-GCodeSystemCommands).",
    mixins: [Settings],
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn only_octo_with_a_number_is_taken() {
        assert_eq!(parse("OCTO1"), Some(("1", "")));
        assert_eq!(parse("OCTO42 a b"), Some(("42", "a b")));
        assert_eq!(parse("OCTO"), None);
        assert_eq!(parse("OCTO1x"), None);
        assert_eq!(parse("M117 OCTO1"), None);
    }
}
