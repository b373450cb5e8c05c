//! Every line from the printer: the received hook, the terminal, then what
//! it means (acknowledgements, temperatures, resends, firmware information
//! and capabilities, positions, action commands, errors).

use std::collections::BTreeMap;
use std::sync::Arc;

use plinth_abi::{events, json, Value};

use super::*;
use crate::jobs::printer::command::Command;
use crate::jobs::printer::{Printer, PrinterState};

impl Comm {
    /// Lines from the printer: `received`, the terminal, then their meaning.
    pub(super) fn read(&mut self, printer: &Arc<Printer>, lines: Vec<String>) {
        for raw in lines {
            let Some(line) = self.hooks.received(raw) else {
                continue;
            };
            let tool = {
                let mut status = printer.lock();
                status.monitor.log(format!("Recv: {line}"));
                status.position.t.unwrap_or(0)
            };
            let reply = replies::parse(&line, tool);
            if !matches!(reply, Reply::Capability(..)) {
                self.tell_capabilities(printer);
            }
            match reply {
                Reply::Ok(temperatures) => {
                    if let Some(t) = temperatures {
                        self.temperatures(printer, t);
                    }
                    self.acknowledged(printer);
                }
                Reply::Temperatures(t) => self.temperatures(printer, t),
                Reply::Resend(n) => {
                    if let Some(link) = &mut self.link {
                        link.resend_from = Some(n);
                        printer.lock().resends.0 += 1;
                    }
                }
                Reply::FirmwareInfo(fields) => self.firmware_info(printer, fields),
                Reply::Capability(name, on) => {
                    if let Some(link) = &mut self.link {
                        link.capabilities.insert(name, on);
                        link.capabilities_told = false;
                    }
                }
                Reply::Position { x, y, z, e } => self.position(printer, x, y, z, e),
                Reply::Action { name, params } => self.action(printer, &line, &name, &params),
                Reply::LineError(_) | Reply::Other => {}
                Reply::Error(text) => {
                    let error = format!("the printer reported an error: {text}");
                    printer.manager.fire_event(
                        events::ERROR,
                        &json!({"error": text, "reason": "firmware", "consequence": "disconnect"}),
                    );
                    tracing::error!("{error}");
                    printer.lock().error = Some(error.clone());
                    printer.set_state(PrinterState::Error);
                    self.close(printer, Some(error));
                    return;
                }
            }
            if self.link.is_none() {
                return;
            }
        }
    }

    pub(super) fn acknowledged(&mut self, printer: &Arc<Printer>) {
        let Some(link) = &mut self.link else {
            return;
        };
        link.awaiting_ok = false;
        if !link.greeted {
            link.greeted = true;
            let (port, baudrate) = {
                let status = printer.lock();
                (status.port.clone(), status.baudrate)
            };
            printer.move_from(&[PrinterState::Connecting], PrinterState::Operational);
            let payload = json!({"connector": "serial", "port": port, "baudrate": baudrate});
            printer.manager.fire_event(events::CONNECTED, &payload);
            // As OctoPrint: the temperature poll runs first, then M115.
            let mut hello = vec![
                Command::new("M105", &["trigger:comm.poll_temperature"]),
                Command::new("M115", &["trigger:comm.on_connected"]),
            ];
            if let Ok(lines) =
                printer.render_script("afterPrinterConnected", &json!({"event": payload}))
            {
                hello.extend(
                    lines
                        .into_iter()
                        .map(|l| Command::new(l, &["trigger:comm.on_connected"])),
                );
            }
            self.enqueue(hello);
        }
    }

    pub(super) fn temperatures(
        &mut self,
        printer: &Arc<Printer>,
        parsed: BTreeMap<String, Reading>,
    ) {
        let Some(parsed) = self.hooks.temperatures(parsed) else {
            return;
        };
        let heaters = parsed
            .into_iter()
            .map(|(sensor, (actual, target))| {
                (heater_name(&sensor), HeaterReading { actual, target })
            })
            .collect();
        printer.lock().monitor.temperatures(heaters);
    }

    pub(super) fn firmware_info(&mut self, printer: &Arc<Printer>, fields: Vec<(String, String)>) {
        let name = fields
            .iter()
            .find(|(k, _)| k == "FIRMWARE_NAME")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let data: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let data = Value::Object(data);
        printer.lock().firmware = Some((name.clone(), data.clone()));
        self.hooks.firmware_info(&name, &data);
        printer
            .manager
            .fire_event(events::FIRMWARE_DATA, &json!({"name": name, "data": data}));
    }

    /// After the last `Cap:` line: tells the handlers, turns on auto-reports.
    pub(super) fn tell_capabilities(&mut self, printer: &Arc<Printer>) {
        let Some(link) = &mut self.link else {
            return;
        };
        if link.capabilities_told || link.capabilities.is_empty() {
            return;
        }
        link.capabilities_told = true;
        let capabilities = link.capabilities.clone();
        printer.lock().capabilities = capabilities.clone();
        self.hooks.capabilities(&capabilities);
        if capabilities.get("AUTOREPORT_TEMP") == Some(&true) {
            if let Some(link) = &mut self.link {
                link.autoreport = true;
            }
            let interval = TEMPERATURE_INTERVAL.as_secs();
            let command = Command::new(
                format!("M155 S{interval}"),
                &["trigger:comm.set_autoreport"],
            );
            self.enqueue(vec![command]);
        }
    }

    pub(super) fn position(&mut self, printer: &Arc<Printer>, x: f64, y: f64, z: f64, e: f64) {
        let asked = self.link.as_mut().and_then(|l| l.asked.take());
        let position = {
            let mut status = printer.lock();
            let p = &mut status.position;
            (p.x, p.y, p.z, p.e) = (Some(x), Some(y), Some(z), Some(e));
            *p
        };
        let reason = asked.map(|(a, _)| match a {
            Asked::Pause => "pause",
            Asked::Cancel => "cancel",
        });
        let mut payload = position.to_json();
        payload["reason"] = json!(reason);
        printer
            .manager
            .fire_event(events::POSITION_UPDATE, &payload);
        match asked {
            Some((Asked::Pause, _)) => self.paused(printer),
            Some((Asked::Cancel, _)) => self.cancelled(printer),
            None => {}
        }
    }

    pub(super) fn action(&mut self, printer: &Arc<Printer>, line: &str, name: &str, params: &str) {
        self.hooks.action(line, name, params);
        let result = match name {
            "pause" | "paused" => printer.pause(),
            "resume" | "resumed" => printer.resume(),
            "cancel" => printer.cancel(),
            "disconnect" => {
                self.close(printer, None);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!("action command {name}: {e}");
        }
    }
}
