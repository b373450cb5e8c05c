//! The printer as plugins reach it through their handle
//! ([`plinth_abi::printer::PrinterCall`]): each call is the REST API's
//! operation of the same name, refused the same way. Commands a plugin
//! sends carry the tag `plugin:<id>`.

use std::collections::BTreeMap;

use plinth_abi::printer::PrinterCall;
use plinth_abi::Refusal;
use plinth_abi::{json, Value};

use super::{JobError, Printer};

fn axis(name: &str) -> Result<char, JobError> {
    match name {
        "x" | "y" | "z" => Ok(name.chars().next().unwrap_or('x')),
        other => Err(JobError::Invalid(format!(
            "{other:?} is not an axis: use x, y or z"
        ))),
    }
}

impl Printer {
    /// Runs plugin `plugin`'s call.
    pub fn serve(&self, plugin: &str, call: PrinterCall) -> Result<Value, Refusal> {
        let tag = format!("plugin:{plugin}");
        let done = |r: Result<(), JobError>| r.map(|()| Value::Null);
        let answer = match call {
            PrinterCall::State => {
                let state = self.state();
                Ok(
                    json!({"id": state.id(), "text": state.text(), "flags": state.flags(), "error": self.error()}),
                )
            }
            PrinterCall::CurrentData => Ok(self.current_data()),
            PrinterCall::CurrentJob => Ok(self.job()["job"].clone()),
            PrinterCall::CurrentTemperatures => Ok(self.current_temperatures()),
            PrinterCall::TemperatureHistory { limit } => Ok(json!(self.temperature_history(limit))),
            PrinterCall::CurrentConnection => {
                let connection = self.connection();
                let current = &connection["current"];
                Ok(json!({
                    "state": current["state"],
                    "port": current["port"],
                    "baudrate": current["baudrate"],
                    "profile": self.profile().0,
                }))
            }
            PrinterCall::TerminalLines => Ok(json!(self.log_lines())),
            PrinterCall::LogLines { lines } => done(self.add_log_lines(&lines)),
            PrinterCall::Commands { commands, tags } => {
                let mut all: Vec<&str> = tags.iter().map(String::as_str).collect();
                all.extend([tag.as_str(), "trigger:printer.commands"]);
                done(self.commands(&commands, &all))
            }
            PrinterCall::Script { name, context } => done(self.script(&name, &context, &[&tag])),
            PrinterCall::SetTemperature { heater, value } => {
                done(self.set_temperature(&heater, value))
            }
            PrinterCall::SetTemperatureOffset { offsets } => {
                done(self.set_temperature_offsets(&offsets))
            }
            PrinterCall::Jog {
                axes,
                relative,
                speed,
            } => axes
                .iter()
                .map(|(name, amount)| Ok((axis(name)?, *amount)))
                .collect::<Result<BTreeMap<char, f64>, JobError>>()
                .and_then(|axes| self.jog(&axes, !relative, speed))
                .map(|()| Value::Null),
            PrinterCall::Home { axes } => axes
                .iter()
                .map(|a| axis(a))
                .collect::<Result<Vec<char>, JobError>>()
                .and_then(|axes| self.home(&axes))
                .map(|()| Value::Null),
            PrinterCall::Extrude { amount, speed } => done(self.extrude(amount, speed)),
            PrinterCall::ChangeTool { tool } => done(self.change_tool(&tool)),
            PrinterCall::FeedRate { factor } => done(self.feed_rate(factor)),
            PrinterCall::FlowRate { factor } => done(self.flow_rate(factor)),
            PrinterCall::SelectFile { path, print } => done(self.select_as(&path, print, None)),
            PrinterCall::UnselectFile => done(self.unselect()),
            PrinterCall::StartPrint => done(self.start()),
            PrinterCall::PausePrint => done(self.pause()),
            PrinterCall::ResumePrint => done(self.resume()),
            PrinterCall::TogglePausePrint => done(self.toggle_pause()),
            PrinterCall::CancelPrint => done(self.cancel()),
            PrinterCall::RestartPrint => done(self.restart()),
            PrinterCall::Connect {
                port,
                baudrate,
                profile,
            } => done(self.connect(port.as_deref(), baudrate, profile.as_deref())),
            PrinterCall::Profiles => Ok(Value::Object(
                self.profiles()
                    .all()
                    .into_iter()
                    .map(|p| (p.id().to_owned(), p.0))
                    .collect(),
            )),
            PrinterCall::CurrentProfile => Ok(self.profile().0),
            PrinterCall::Disconnect => {
                self.disconnect();
                Ok(Value::Null)
            }
            PrinterCall::FakeAck => done(self.fake_ack()),
        };
        answer.map_err(Refusal::from)
    }
}
