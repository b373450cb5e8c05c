//! Opening and closing the connection, and every line on its way to the
//! printer: the queuing and queued phases, the send queue, the sending and
//! sent phases, line numbers and checksums, and what the host itself does
//! after a command was sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use plinth_abi::hooks::GcodePhase;
use plinth_abi::{events, json, Value};

use super::job::{end_job, Ending};
use super::*;
use crate::jobs::printer::command::Command;
use crate::jobs::printer::{Printer, PrinterState};

impl Comm {
    pub(super) fn open(&mut self, printer: &Arc<Printer>, port: String, baudrate: u32) {
        self.requested = None;
        printer
            .manager
            .fire_event(events::CONNECTING, &json!({"connector": "serial"}));
        {
            let mut status = printer.lock();
            status.port = Some(port.clone());
            status.baudrate = Some(baudrate);
            status.error = None;
            status.firmware = None;
            status.capabilities.clear();
            // Tool 0 is active after a reset, as OctoPrint assumes.
            status.position = crate::jobs::printer::Position {
                t: Some(0),
                ..Default::default()
            };
            status.monitor.clear_temperatures();
            status
                .monitor
                .log(format!("Connecting to port {port}, baudrate {baudrate}"));
        }
        printer.set_state(PrinterState::OpeningSerial);
        let profile = printer.profile();
        let firmware = Firmware::new(FirmwareSettings {
            extruders: profile.extruders(),
            has_bed: profile.heated_bed(),
            has_chamber: profile.heated_chamber(),
            ..FirmwareSettings::default()
        });
        self.link = Some(Link {
            firmware,
            since: Instant::now(),
            line_number: 0,
            history: VecDeque::new(),
            resend_from: None,
            awaiting_ok: false,
            sent_at: Instant::now(),
            greeted: false,
            queue: VecDeque::new(),
            job: None,
            asked: None,
            autoreport: false,
            next_poll: Instant::now() + TEMPERATURE_INTERVAL,
            relative: false,
            capabilities: BTreeMap::new(),
            capabilities_told: false,
        });
        printer.set_state(PrinterState::Connecting);
        // The hello: resets the line number; its `ok` means the printer is there.
        let hello = Command::new("M110 N0", &["trigger:comm.connect_hello"]);
        self.write(printer, &hello);
    }

    /// Closes the connection; a job fails. `error` puts the printer in
    /// "Offline after error".
    pub(super) fn close(&mut self, printer: &Arc<Printer>, error: Option<String>) {
        printer
            .manager
            .fire_event(events::DISCONNECTING, &Value::Null);
        self.requested = None;
        let link = self.link.take();
        self.uncount(link.as_ref().map_or(0, |l| l.queue.len()));
        let job = link.and_then(|l| l.job);
        {
            let mut status = printer.lock();
            status.error = error.clone();
            status.monitor.log("Connection closed".to_owned());
        }
        // Straight to closed: a job running fails, and the printer is never
        // operational on the way.
        printer.set_state(match error {
            Some(_) => PrinterState::ClosedWithError,
            None => PrinterState::Closed,
        });
        if let Some(job) = job {
            let why = error.unwrap_or_else(|| "the printer was disconnected".into());
            end_job(printer, Some(&job.selected), Ending::Failed(why));
        }
        printer
            .manager
            .fire_event(events::DISCONNECTED, &Value::Null);
    }

    // ~~ the send queue

    /// Commands through `queuing` into the queue, then `queued`, one at a
    /// time (as OctoPrint's `commands` sends each on its own: a handler
    /// failing on one changes nothing of the others).
    pub(super) fn enqueue(&mut self, commands: Vec<Command>) {
        if self.link.is_none() {
            return;
        }
        for command in commands {
            if command.is_atcommand() {
                self.hooks.atcommand(GcodePhase::Queuing, &command);
            }
            let queued = self.hooks.gcode(GcodePhase::Queuing, vec![command]);
            let told = self
                .hooks
                .handles(crate::jobs::printer::hooks::PrinterHook::Queued)
                .then(|| queued.clone());
            if let Some(link) = &mut self.link {
                self.queued.fetch_add(queued.len(), SeqCst);
                link.queue.extend(queued);
            }
            if let Some(queued) = told {
                self.hooks.gcode(GcodePhase::Queued, queued);
            }
        }
    }

    /// One command from the queue to the printer: `sending`, the write, `sent`.
    pub(super) fn send_next(&mut self, printer: &Arc<Printer>) {
        let Some(command) = self.link.as_mut().and_then(|l| l.queue.pop_front()) else {
            return;
        };
        self.uncount(1);
        if command.is_atcommand() {
            self.hooks.atcommand(GcodePhase::Sending, &command);
            self.run_atcommand(printer, &command);
            return;
        }
        let Some(command) = self.hooks.gcode(GcodePhase::Sending, vec![command]).pop() else {
            return;
        };
        self.write(printer, &command);
        for command in self.hooks.gcode(GcodePhase::Sent, vec![command]) {
            self.after_sent(printer, &command);
        }
    }

    /// Writes a command: numbered and checksummed while a job runs or when
    /// it sets the line number, plain otherwise.
    pub(super) fn write(&mut self, printer: &Arc<Printer>, command: &Command) {
        let Some(link) = &mut self.link else {
            return;
        };
        if command.cmd.is_empty() || command.cmd.contains(['\n', '\r']) {
            tracing::error!(
                "not sent to the printer: {:?} is empty or holds a line break",
                command.cmd
            );
            return;
        }
        let line = if let Some(n) = line_number_reset(&command.cmd) {
            // `M110 N<n>` sets the line number (any case, as the firmware reads it).
            link.line_number = n;
            link.history.clear();
            numbered(n, &format!("M110 N{n}"))
        } else if link.job.is_some() {
            link.line_number += 1;
            let line = numbered(link.line_number, &command.cmd);
            if link.history.len() == RESEND_MEMORY {
                link.history.pop_front();
            }
            link.history.push_back((link.line_number, line.clone()));
            line
        } else {
            command.cmd.clone()
        };
        self.transmit(printer, line);
    }

    /// OctoPrint's `abortHeatupOnCancel`: `M108` ends a heat-up wait. With
    /// the firmware's emergency parser it is written at once, beside the
    /// line awaiting its `ok` and past the queue (no line number, no hooks,
    /// no `ok` of its own); without, it is queued as any command.
    pub(super) fn abort_heatup(&mut self, printer: &Arc<Printer>) {
        if !crate::config::host_settings::ABORT_HEATUP_ON_CANCEL.get(printer.manager.config()) {
            return;
        }
        let Some(link) = &mut self.link else { return };
        if link.capabilities.get("EMERGENCY_PARSER") != Some(&true) {
            self.enqueue(vec![Command::new(
                "M108",
                &["trigger:cancel", "trigger:abort_heatup"],
            )]);
            return;
        }
        let now = link.now();
        let answers = link.firmware.receive("M108", now);
        printer.lock().monitor.log("Send: M108".to_owned());
        self.read(printer, answers);
    }

    /// Puts one line on the wire and reads what comes back.
    pub(super) fn transmit(&mut self, printer: &Arc<Printer>, line: String) {
        let Some(link) = &mut self.link else {
            return;
        };
        link.awaiting_ok = true;
        link.sent_at = Instant::now();
        let now = link.now();
        let answers = link.firmware.receive(&line, now);
        {
            let mut status = printer.lock();
            status.resends.1 += 1;
            status.monitor.log(format!("Send: {line}"));
        }
        self.read(printer, answers);
    }

    pub(super) fn run_atcommand(&mut self, printer: &Arc<Printer>, command: &Command) {
        let name = command.cmd.trim_start().trim_start_matches('@');
        let name = name
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let result = match name.as_str() {
            "pause" => printer.pause(),
            "resume" => printer.resume(),
            "cancel" | "abort" => printer.cancel(),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!("@{name}: {e}");
        }
    }

    /// What the host itself does after a command was sent (OctoPrint's
    /// `_gcode_<code>_sent`): Z changes, homing, tool changes, feed rates.
    pub(super) fn after_sent(&mut self, printer: &Arc<Printer>, command: &Command) {
        let Some(link) = &mut self.link else {
            return;
        };
        let (gcode, _) = command.gcode();
        let parsed = crate::jobs::firmware::gcode::Command::parse(command.cmd.trim());
        match gcode {
            Some("G90") => link.relative = false,
            Some("G91") => link.relative = true,
            Some("G0" | "G1") => {
                let relative = link.relative;
                let mut z_change = None;
                {
                    let mut status = printer.lock();
                    if let Some(f) = parsed.value('F') {
                        status.position.f = Some(f);
                    }
                    if let Some(z) = parsed.value('Z') {
                        let old = status.position.z;
                        let new = match (relative, old) {
                            (true, Some(old)) => old + z,
                            (true, None) => return,
                            (false, _) => z,
                        };
                        if old != Some(new) {
                            status.position.z = Some(new);
                            z_change = Some(json!({"new": new, "old": old}));
                        }
                    }
                }
                if let Some(payload) = z_change {
                    printer.manager.fire_event(events::Z_CHANGE, &payload);
                }
            }
            Some("G28") => {
                if let Some(f) = parsed.value('F') {
                    printer.lock().position.f = Some(f);
                }
                printer.manager.fire_event(events::HOME, &Value::Null);
            }
            Some(code @ ("M104" | "M109" | "M140" | "M190" | "M141" | "M191")) => {
                let target = parsed.value('S').or_else(|| parsed.value('R'));
                let mut status = printer.lock();
                let heater = match code {
                    "M140" | "M190" => "bed".to_owned(),
                    "M141" | "M191" => "chamber".to_owned(),
                    _ => {
                        let tool = parsed.value('T').map(|t| t as usize);
                        format!("tool{}", tool.or(status.position.t).unwrap_or(0))
                    }
                };
                if let Some(target) = target {
                    status.monitor.set_target(&heater, target);
                }
            }
            Some("T") => {
                if let Some(tool) = parsed.code {
                    let old = {
                        let mut status = printer.lock();
                        status.position.t.replace(tool as usize)
                    };
                    printer
                        .manager
                        .fire_event(events::TOOL_CHANGE, &json!({"old": old, "new": tool}));
                }
            }
            _ => {}
        }
    }

    // ~~ the job
}

/// A temperature offset added to a file's `M104`/`M109`/`M140`/`M190` as
/// the line is read from the file, before the hooks see it (OctoPrint
/// applies offsets to what the job sends, not to manual targets).
pub(super) fn apply_offsets(printer: &Arc<Printer>, command: Command) -> Command {
    if !command.tags.contains("source:file") {
        return command;
    }
    let (gcode, _) = command.gcode();
    let heater = match gcode {
        Some("M104" | "M109") => {
            let parsed = crate::jobs::firmware::gcode::Command::parse(command.cmd.trim());
            let tool = parsed
                .value('T')
                .map_or_else(|| printer.lock().position.t.unwrap_or(0), |t| t as usize);
            format!("tool{tool}")
        }
        Some("M140" | "M190") => "bed".to_owned(),
        _ => return command,
    };
    let offset = printer.lock().offsets.get(&heater).copied().unwrap_or(0.0);
    if offset == 0.0 {
        return command;
    }
    let parsed = crate::jobs::firmware::gcode::Command::parse(command.cmd.trim());
    let Some(target) = parsed.value('S').filter(|s| *s > 0.0) else {
        return command;
    };
    let rewritten = command
        .cmd
        .split_whitespace()
        .map(|word| {
            if word.starts_with(['S', 's']) {
                format!("S{}", target + offset)
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    Command {
        cmd: rewritten,
        ..command
    }
}

/// The line number an `M110` sets (`N<n>`, else 0); `None` for other commands.
pub(super) fn line_number_reset(cmd: &str) -> Option<u64> {
    let parsed = crate::jobs::firmware::gcode::Command::parse(cmd.trim());
    parsed
        .is('M', 110)
        .then(|| parsed.value('N').map_or(0, |n| n.max(0.0) as u64))
}

/// `N<n> <cmd>*<checksum>`.
pub(super) fn numbered(n: u64, cmd: &str) -> String {
    let body = format!("N{n} {cmd}");
    let sum = checksum(&body);
    format!("{body}*{sum}")
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    pub(super) fn numbered_lines_carry_marlins_checksum() {
        assert_eq!(numbered(0, "M110 N0"), "N0 M110 N0*125");
        assert_eq!(numbered(1, "G28"), "N1 G28*18");
    }
}
