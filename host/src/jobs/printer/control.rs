//! What people and plugins ask of the printer: select and print files,
//! pause, resume, cancel, and the manual controls (temperatures, jogging,
//! homing, extruding, tools, feed and flow rates), each checked against the
//! state and the printer profile before anything is sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use plinth_abi::{events, json};

use super::{HeaterKind, JobError, PrinterState, Profile, Request, Selected};
use crate::jobs::uploads;

/// Tags of commands the REST API or a plugin's printer calls produce.
const CONTROL: &[&str] = &["trigger:printer.control"];

impl super::Printer {
    /// Selects the uploaded G-code file `name`; starts printing it when `print`.
    pub fn select(self: &Arc<Self>, name: &str, print: bool) -> Result<(), JobError> {
        self.select_as(name, print, None)
    }

    /// [`select`](Self::select) on behalf of user `user`.
    pub fn select_as(&self, name: &str, print: bool, user: Option<&str>) -> Result<(), JobError> {
        // Only files of the uploads folder, by their clean name (no `..`, no absolute path).
        let name = &uploads::clean_path(name)
            .ok_or_else(|| JobError::NotFound(format!("no file {name:?} in the uploads folder")))?;
        if !uploads::is_machinecode(name) {
            return Err(JobError::Unsupported(format!(
                "{name} is not machine code: only G-code files can be printed"
            )));
        }
        let meta = uploads::folder(&self.manager)
            .metadata(name)
            .map_err(|_| JobError::NotFound(format!("no file {name:?}")))?;
        let selected = Selected {
            name: name.to_owned(),
            size: meta.len(),
            date: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        };
        {
            let mut status = self.lock();
            if !status.state.is_operational() || status.state.is_busy() {
                return Err(JobError::Conflict(format!(
                    "the printer is {}: a file can be selected only when it is operational and not printing",
                    status.state.text().to_lowercase()
                )));
            }
            // Another file selected replaces it with no FileDeselected, as OctoPrint.
            status.selected = Some(selected.clone());
            status.filepos = 0;
            status.completion = None;
            status.clock.last_time = None;
            status.error = None;
        }
        self.manager
            .fire_event(events::FILE_SELECTED, &selected.payload());
        self.push_current();
        if print {
            self.start_as(user)?;
        }
        Ok(())
    }

    /// Forgets the selected file if it is `name` or inside the folder `name`
    /// (deleted or moved), unless it is printing.
    pub fn deselect(&self, name: &str) {
        let forgot = {
            let mut status = self.lock();
            let forget = !status.state.is_busy()
                && status
                    .selected
                    .as_ref()
                    .is_some_and(|s| uploads::is_within(&s.name, name));
            if forget {
                status.selected = None;
            }
            forget
        };
        if forgot {
            self.manager
                .fire_event(events::FILE_DESELECTED, &json!(null));
            self.push_current();
        }
    }

    /// Forgets the selected file, whichever it is (OctoPrint's `unselect_file`).
    pub fn unselect(&self) -> Result<(), JobError> {
        let name = {
            let status = self.lock();
            if status.state.is_busy() {
                return Err(JobError::Conflict(
                    "a job is running: cancel it first".into(),
                ));
            }
            status.selected.as_ref().map(|s| s.name.clone())
        };
        if let Some(name) = name {
            self.deselect(&name);
        }
        Ok(())
    }

    /// Starts printing the selected file.
    pub fn start(&self) -> Result<(), JobError> {
        self.start_as(None)
    }

    /// [`start`](Self::start) on behalf of user `user` (named in the events).
    pub fn start_as(&self, user: Option<&str>) -> Result<(), JobError> {
        {
            let mut status = self.lock();
            if status.state != PrinterState::Operational {
                return Err(JobError::Conflict(if status.state.is_busy() {
                    format!(
                        "the printer is {}: a job is already running",
                        status.state.text().to_lowercase()
                    )
                } else {
                    format!(
                        "the printer is {}: connect to it first",
                        status.state.text().to_lowercase()
                    )
                }));
            }
            let selected = status.selected.as_mut().ok_or_else(|| {
                JobError::Conflict("no file is selected: select a G-code file first".into())
            })?;
            // The file may have been uploaded again since it was selected.
            match uploads::folder(&self.manager).metadata(&selected.name) {
                Ok(meta) => selected.size = meta.len(),
                Err(_) => {
                    let name = selected.name.clone();
                    status.selected = None;
                    return Err(JobError::NotFound(format!(
                        "the selected file {name} is gone"
                    )));
                }
            }
            status.user = user.map(str::to_owned);
            status.filepos = 0;
            status.completion = Some(0.0);
            status.error = None;
        }
        if !self.move_from(&[PrinterState::Operational], PrinterState::Starting) {
            return Err(JobError::Conflict(format!(
                "the printer is {}: a job is already running",
                self.state().text().to_lowercase()
            )));
        }
        self.request(Request::Start);
        Ok(())
    }

    /// Starts the selected file again from its beginning; only while paused
    /// (OctoPrint's `restart` job command: the paused job is dropped, with
    /// no cancel script and no `PrintCancelled`, and `PrintStarted` follows).
    pub fn restart(&self) -> Result<(), JobError> {
        if !self.move_from(&[PrinterState::Paused], PrinterState::Starting) {
            return Err(JobError::Conflict(format!(
                "the printer is {}: only a paused job can be restarted",
                self.state().text().to_lowercase()
            )));
        }
        self.request(Request::Restart);
        Ok(())
    }

    /// Pauses the running job (nothing to do when it is paused already).
    pub fn pause(&self) -> Result<(), JobError> {
        if self.move_state(&[PrinterState::Printing], PrinterState::Pausing)? {
            self.request(Request::Pause);
        }
        Ok(())
    }

    /// Resumes the paused job (nothing to do when it is printing already).
    pub fn resume(&self) -> Result<(), JobError> {
        if self.move_state(&[PrinterState::Paused], PrinterState::Resuming)? {
            self.request(Request::Resume);
        }
        Ok(())
    }

    /// Pauses a printing job or resumes a paused one.
    pub fn toggle_pause(&self) -> Result<(), JobError> {
        match self.state() {
            PrinterState::Paused => self.resume(),
            _ => self.pause(),
        }
    }

    /// Cancels the running (or paused) job; it ends in `PrintCancelled`.
    pub fn cancel(&self) -> Result<(), JobError> {
        let from = [
            PrinterState::Starting,
            PrinterState::Printing,
            PrinterState::Pausing,
            PrinterState::Paused,
            PrinterState::Resuming,
        ];
        if self.move_state(&from, PrinterState::Cancelling)? {
            let mut payload = {
                let status = self.lock();
                let mut payload = status
                    .selected
                    .as_ref()
                    .map_or(json!({}), Selected::payload);
                if let Some(user) = &status.user {
                    payload["user"] = json!(user);
                }
                payload
            };
            payload["firmwareError"] = json!(null);
            self.manager.fire_event(events::PRINT_CANCELLING, &payload);
            self.request(Request::Cancel);
        }
        Ok(())
    }

    /// Moves from one of `from` to `to`. `Ok(false)` when the printer is
    /// already in `to` (or on its way there: pausing when asked to pause).
    fn move_state(&self, from: &[PrinterState], to: PrinterState) -> Result<bool, JobError> {
        let already = |s: PrinterState| {
            s == to
                || (to == PrinterState::Pausing && s == PrinterState::Paused)
                || (to == PrinterState::Resuming && s == PrinterState::Printing)
        };
        loop {
            let state = self.state();
            if already(state) {
                return Ok(false);
            }
            if !from.contains(&state) {
                let what = match to {
                    PrinterState::Pausing => "there is no print to pause",
                    PrinterState::Resuming => "there is no paused print to resume",
                    _ => "there is no job to cancel",
                };
                return Err(JobError::Conflict(format!(
                    "the printer is {}: {what}",
                    state.text().to_lowercase()
                )));
            }
            // The state may have moved since it was read: try again then.
            if self.move_from(&[state], to) {
                return Ok(true);
            }
        }
    }

    // ~~ manual controls

    /// Whether heater `heater` (`tool<n>`, `bed`, `chamber`) exists in
    /// `profile` and takes `value` °C; the G-code that sets it.
    pub fn check_target(
        &self,
        profile: &Profile,
        heater: &str,
        value: f64,
    ) -> Result<String, JobError> {
        let (kind, command) = if let Some(n) = heater.strip_prefix("tool") {
            let tool: usize = n.parse().map_err(|_| unknown_heater(heater))?;
            if tool >= profile.extruders() {
                return Err(JobError::Invalid(format!(
                    "{heater} does not exist: the printer profile has {} extruder(s)",
                    profile.extruders()
                )));
            }
            (HeaterKind::Tool, format!("M104 T{tool} S{}", number(value)))
        } else if heater == "bed" {
            if !profile.heated_bed() {
                return Err(JobError::Conflict(
                    "the printer profile has no heated bed".into(),
                ));
            }
            (HeaterKind::Bed, format!("M140 S{}", number(value)))
        } else if heater == "chamber" {
            if !profile.heated_chamber() {
                return Err(JobError::Conflict(
                    "the printer profile has no heated chamber".into(),
                ));
            }
            (HeaterKind::Chamber, format!("M141 S{}", number(value)))
        } else {
            return Err(unknown_heater(heater));
        };
        let max = profile.max_temperature(kind);
        if !value.is_finite() || !(0.0..=max).contains(&value) {
            return Err(JobError::Invalid(format!(
                "{value} °C is outside {heater}'s range in the printer profile (0 to {max} °C)"
            )));
        }
        Ok(command)
    }

    /// Sets heater `heater` (`tool<n>`, `bed`, `chamber`) to `value` °C.
    pub fn set_temperature(&self, heater: &str, value: f64) -> Result<(), JobError> {
        let command = self.check_target(&self.profile(), heater, value)?;
        self.commands(&[command], &["trigger:printer.set_temperature"])
    }

    /// Sets temperature offsets (°C, −50 to 50) per heater.
    pub fn set_temperature_offsets(&self, offsets: &BTreeMap<String, f64>) -> Result<(), JobError> {
        let profile = self.profile();
        for (heater, value) in offsets {
            let known = match heater.strip_prefix("tool") {
                Some(n) => n.parse::<usize>().is_ok_and(|t| t < profile.extruders()),
                None => heater == "bed" || heater == "chamber",
            };
            if !known {
                return Err(unknown_heater(heater));
            }
            if !value.is_finite() || !(-50.0..=50.0).contains(value) {
                return Err(JobError::Invalid(format!(
                    "the offset of {heater} must be from -50 to 50 °C, not {value}"
                )));
            }
        }
        self.operational()?;
        self.lock().offsets.extend(offsets.clone());
        self.push_current();
        Ok(())
    }

    /// Moves the head by (or, `absolute`, to) the given axes' amounts at
    /// `speed` mm/min (the profile's slowest axis speed when not given).
    pub fn jog(
        &self,
        axes: &BTreeMap<char, f64>,
        absolute: bool,
        speed: Option<f64>,
    ) -> Result<(), JobError> {
        if axes.is_empty() {
            return Err(JobError::Invalid(
                "a jog needs at least one of x, y and z".into(),
            ));
        }
        let profile = self.profile();
        let mut moves = String::new();
        let mut speed_default = f64::MAX;
        for (&axis, &amount) in axes {
            if !matches!(axis, 'x' | 'y' | 'z') || !amount.is_finite() {
                return Err(JobError::Invalid(format!("cannot jog {axis} by {amount}")));
            }
            let amount = if profile.axis_inverted(axis) && !absolute {
                -amount
            } else {
                amount
            };
            moves.push_str(&format!(" {}{}", axis.to_ascii_uppercase(), number(amount)));
            speed_default = speed_default.min(profile.axis_speed(axis));
        }
        let speed = match speed {
            Some(s) if s.is_finite() && s > 0.0 => s,
            Some(s) => {
                return Err(JobError::Invalid(format!(
                    "the jog speed must be above 0, not {s}"
                )))
            }
            None => speed_default,
        };
        let mode = if absolute { "G90" } else { "G91" };
        let commands = [
            mode.to_owned(),
            format!("G1{moves} F{}", number(speed)),
            "G90".to_owned(),
        ];
        self.commands(&commands, &["trigger:printer.jog"])
    }

    /// Homes the given axes (`x`, `y`, `z`).
    pub fn home(&self, axes: &[char]) -> Result<(), JobError> {
        if axes.is_empty() || axes.iter().any(|a| !matches!(a, 'x' | 'y' | 'z')) {
            return Err(JobError::Invalid("home takes axes from x, y and z".into()));
        }
        let named: String = axes
            .iter()
            .map(|a| format!(" {}0", a.to_ascii_uppercase()))
            .collect();
        self.commands(
            &["G91".to_owned(), format!("G28{named}"), "G90".to_owned()],
            &["trigger:printer.home"],
        )
    }

    /// Extrudes `amount` mm (negative: retracts) at `speed` mm/min.
    pub fn extrude(&self, amount: f64, speed: Option<f64>) -> Result<(), JobError> {
        if !amount.is_finite() {
            return Err(JobError::Invalid(format!("cannot extrude {amount} mm")));
        }
        let speed = speed.unwrap_or_else(|| self.profile().axis_speed('e'));
        if !speed.is_finite() || speed <= 0.0 {
            return Err(JobError::Invalid(format!(
                "the extrusion speed must be above 0, not {speed}"
            )));
        }
        let commands = [
            "M83".to_owned(),
            format!("G1 E{} F{}", number(amount), number(speed)),
            "M82".to_owned(),
        ];
        self.commands(&commands, &["trigger:printer.extrude"])
    }

    /// Selects tool `tool<n>`.
    pub fn change_tool(&self, tool: &str) -> Result<(), JobError> {
        let n: usize = tool
            .strip_prefix("tool")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                JobError::Invalid(format!("{tool:?} is not a tool: use tool0, tool1, …"))
            })?;
        if n >= self.profile().extruders() {
            return Err(JobError::Invalid(format!(
                "{tool} does not exist: the printer profile has {} extruder(s)",
                self.profile().extruders()
            )));
        }
        self.commands(&[format!("T{n}")], &["trigger:printer.change_tool"])
    }

    /// Sets the feed rate factor: a percentage (50 to 200) or a fraction
    /// (0.5 to 2), as OctoPrint takes it.
    pub fn feed_rate(&self, factor: f64) -> Result<(), JobError> {
        let percent = factor_percent(factor, "feed rate", 50.0, 200.0)?;
        self.commands(&[format!("M220 S{percent}")], CONTROL)
    }

    /// Sets the flow rate factor: a percentage (75 to 125) or a fraction.
    pub fn flow_rate(&self, factor: f64) -> Result<(), JobError> {
        let percent = factor_percent(factor, "flow rate", 75.0, 125.0)?;
        self.commands(&[format!("M221 S{percent}")], CONTROL)
    }
}

fn unknown_heater(heater: &str) -> JobError {
    JobError::Invalid(format!(
        "{heater:?} is not a heater: use tool0, tool1, …, bed or chamber"
    ))
}

/// A number as G-code writes it: no trailing zeros.
fn number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

fn factor_percent(factor: f64, what: &str, min: f64, max: f64) -> Result<i64, JobError> {
    if !factor.is_finite() {
        return Err(JobError::Invalid(format!(
            "the {what} factor must be a number"
        )));
    }
    let percent = if factor <= (max / 100.0) && factor > 0.0 && factor < min {
        factor * 100.0
    } else {
        factor
    };
    if !(min..=max).contains(&percent) {
        return Err(JobError::Invalid(format!(
            "the {what} factor must be from {min} to {max} % (or {} to {}), not {factor}",
            min / 100.0,
            max / 100.0
        )));
    }
    Ok(percent.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_factors_as_gcode_takes_them() {
        assert_eq!(number(10.0), "10");
        assert_eq!(number(-2.5), "-2.5");
        assert_eq!(number(0.02), "0.02");
        assert_eq!(number(-0.0), "0");
        assert_eq!(factor_percent(1.1, "feed rate", 50.0, 200.0).unwrap(), 110);
        assert_eq!(
            factor_percent(150.0, "feed rate", 50.0, 200.0).unwrap(),
            150
        );
        assert!(factor_percent(300.0, "feed rate", 50.0, 200.0).is_err());
        assert!(factor_percent(f64::NAN, "feed rate", 50.0, 200.0).is_err());
        assert_eq!(factor_percent(0.9, "flow rate", 75.0, 125.0).unwrap(), 90);
    }
}
