//! The virtual printer's firmware: a G-code device that answers as OctoPrint's
//! virtual printer does (and as Marlin does, whose replies OctoPrint parses).
//! A connection layer (states, send queue, G-code hooks) is to drive it.
//!
//! [`Firmware`] is a pure, synchronous state machine: no threads, no I/O, and
//! no clock of its own. Whoever drives it (a serial-connection layer, a test)
//! passes the current time, as a [`Duration`] since any fixed start, to
//! [`Firmware::receive`] with every line it sends and to [`Firmware::tick`]
//! whenever it wants the lines the firmware sent by itself.
//!
//! What it models:
//! - every command is answered with `ok`; unknown commands too, as OctoPrint's
//!   virtual printer does;
//! - line numbers and checksums (`N<n> <command>*<checksum>`), with Marlin's
//!   `Error:` / `Resend: <n>` / `ok` answer to a wrong checksum or an
//!   unexpected line number, and `M110` to set the line number;
//! - heaters (every tool, the bed, optionally a chamber) that move toward
//!   their target at [`FirmwareSettings::heating_rate`] and cool toward the
//!   ambient temperature at [`FirmwareSettings::cooling_rate`] once the target
//!   is 0, as OctoPrint's virtual printer simulates them (10 °C/s and 2 °C/s);
//! - the position (`G0`/`G1`/`G28`/`G90`/`G91`/`G92`, `M82`/`M83`, `M114`),
//!   the active tool (`T<n>`), `M115` firmware information and capabilities,
//!   `M117` messages, `M155` temperature auto-reports and `M400`;
//! - OctoPrint's virtual printer's debug commands (`!!DEBUG:…`, [`debug`]).
//!
//! # Waiting commands
//! `M109`, `M190`, `M191` and `G4` block the firmware as they do on a real
//! printer: their `ok` is not part of [`Firmware::receive`]'s answer but comes
//! later, from [`Firmware::tick`] (or from the next `receive`), once the clock
//! has reached the moment the heater is within
//! [`FirmwareSettings::wait_window`] of its target (or the dwell is over).
//! Meanwhile the firmware reports its temperatures every
//! [`FirmwareSettings::wait_report_interval`]. Lines received during a wait are
//! queued and answered, in order, right after the wait's `ok`, as if they had
//! been read from the serial buffer at that moment.
//!
//! Every self-sent line carries its own moment: `tick(now)` and
//! `receive(line, now)` return, in order, everything the firmware sent between
//! the previous call and `now` (auto-reports, wait reports, a wait's `ok` and
//! the answers to queued lines), and `receive` then appends its answer. A
//! clock that goes backwards is treated as standing still.

use std::collections::VecDeque;
use std::time::Duration;

mod debug;
pub(crate) mod gcode;
mod heater;
mod reports;

use gcode::{checksum, split_line_number, Command};
use heater::{Heater, Repeat};

/// How a [`Firmware`] is built: its name, heaters and heating model.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareSettings {
    /// The name `M115` reports after `FIRMWARE_NAME:`.
    pub firmware_name: String,
    /// How many extruders (hotends) the printer has; at least one is kept.
    pub extruders: usize,
    /// Whether the printer has a heated bed (`M140`/`M190`, `B:` in reports).
    pub has_bed: bool,
    /// Whether the printer has a heated chamber (`M141`/`M191`, `C:` in reports).
    pub has_chamber: bool,
    /// The temperature every heater starts at and cools down to, in °C.
    pub ambient: f64,
    /// °C per second a heater with a target above 0 moves toward it (up or down).
    pub heating_rate: f64,
    /// °C per second a heater with target 0 cools toward [`Self::ambient`].
    pub cooling_rate: f64,
    /// `M109`/`M190`/`M191` end once the heater is within this many °C of its target.
    pub wait_window: f64,
    /// How often temperatures are reported while `M109`/`M190`/`M191` waits
    /// (zero: never).
    pub wait_report_interval: Duration,
    /// Whether `M117` echoes its text as `echo:<text>` (OctoPrint's virtual
    /// printer does by default, so that pause triggers can be tried out).
    pub echo_m117: bool,
}

impl Default for FirmwareSettings {
    /// One extruder and a bed, OctoPrint's virtual printer's ambient
    /// temperature (21.3 °C), heating rate (10 °C/s), cooling rate (2 °C/s) and
    /// wait window (1 °C), reports every second while waiting.
    fn default() -> Self {
        Self {
            firmware_name: "Plinth Virtual Printer".to_owned(),
            extruders: 1,
            has_bed: true,
            has_chamber: false,
            ambient: 21.3,
            heating_rate: 10.0,
            cooling_rate: 2.0,
            wait_window: 1.0,
            wait_report_interval: Duration::from_secs(1),
            echo_m117: true,
        }
    }
}

/// Where the print head is, as the firmware tracks it (no travel time: a move
/// is done when it is answered).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// X in mm.
    pub x: f64,
    /// Y in mm.
    pub y: f64,
    /// Z in mm.
    pub z: f64,
    /// The active tool's extruder position in mm (every tool keeps its own).
    pub e: f64,
    /// The last feed rate given with `F`, in mm/min (0 until one is given).
    pub f: f64,
    /// The active tool (`T<n>`).
    pub tool: usize,
    /// Whether X, Y and Z moves are relative (`G91`) rather than absolute (`G90`).
    pub relative: bool,
    /// Whether E moves are relative (`M83`, or `G91`) rather than absolute
    /// (`M82`, or `G90`).
    pub relative_extrusion: bool,
}

/// One heater's temperatures, in °C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature {
    /// The temperature the heater has now.
    pub actual: f64,
    /// The temperature it is set to reach (0: off).
    pub target: f64,
}

/// Every heater's temperatures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Temperatures {
    /// One per extruder, tool 0 first.
    pub tools: Vec<Temperature>,
    /// The bed, if the printer has one.
    pub bed: Option<Temperature>,
    /// The chamber, if the printer has one.
    pub chamber: Option<Temperature>,
}

/// A virtual printer's firmware: feed it G-code lines, get its answers.
/// See the [module documentation](self) for the model and the clock.
#[derive(Debug, Clone)]
pub struct Firmware {
    settings: FirmwareSettings,
    tools: Vec<Heater>,
    bed: Option<Heater>,
    chamber: Option<Heater>,
    x: f64,
    y: f64,
    z: f64,
    /// The extruder position of every tool.
    e: Vec<f64>,
    f: f64,
    tool: usize,
    relative: bool,
    relative_extrusion: bool,
    /// The last line number accepted (`N<n>`), or set with `M110`.
    last_line: u64,
    message: Option<String>,
    auto_report: Option<Repeat>,
    wait: Option<Wait>,
    /// Lines received while a command waits, answered once it is done.
    queued: VecDeque<String>,
    /// The latest moment the firmware has been driven to.
    clock: Duration,
    /// The next numbered line is refused as garbled (`!!DEBUG:trigger_resend_*`).
    garble_next: bool,
}

impl Firmware {
    /// A firmware just switched on: every heater at the ambient temperature
    /// and off, the head at 0, absolute positioning, tool 0, line number 0.
    pub fn new(mut settings: FirmwareSettings) -> Self {
        settings.extruders = settings.extruders.max(1);
        let heater = Heater::new(settings.ambient);
        Self {
            tools: vec![heater; settings.extruders],
            bed: settings.has_bed.then_some(heater),
            chamber: settings.has_chamber.then_some(heater),
            e: vec![0.0; settings.extruders],
            settings,
            x: 0.0,
            y: 0.0,
            z: 0.0,
            f: 0.0,
            tool: 0,
            relative: false,
            relative_extrusion: false,
            last_line: 0,
            message: None,
            auto_report: None,
            wait: None,
            queued: VecDeque::new(),
            clock: Duration::ZERO,
            garble_next: false,
        }
    }

    /// Feeds one line as the host sent it, at `now`; returns the lines the
    /// firmware sends, in order: first what it sent by itself since the last
    /// call (as [`Self::tick`] would), then its answer to `line`. An empty
    /// line or a comment is not answered; while a command waits (`M109`, …),
    /// `line` is queued and answered after the wait's `ok`.
    ///
    /// `M108` goes to the emergency parser (the `EMERGENCY_PARSER`
    /// capability): it ends a wait at once, even while the wait holds every
    /// other line, and is never answered itself.
    pub fn receive(&mut self, line: &str, now: Duration) -> Vec<String> {
        let now = now.max(self.clock);
        let mut out = self.advance(now);
        if is_break(line) {
            if let Some(wait) = &mut self.wait {
                wait.until = now;
                out.extend(self.advance(now));
            }
            return out;
        }
        if self.wait.is_some() {
            self.queued.push_back(line.to_owned());
        } else {
            self.process(line, now, &mut out);
        }
        out
    }

    /// The lines the firmware sent by itself by `now`, in order: temperature
    /// auto-reports (`M155 S<n>`), temperature reports while a command waits,
    /// a finished wait's `ok` and the answers to the lines queued behind it.
    pub fn tick(&mut self, now: Duration) -> Vec<String> {
        let now = now.max(self.clock);
        self.advance(now)
    }

    /// The head's position, the active tool and the positioning modes.
    pub fn position(&self) -> Position {
        Position {
            x: self.x,
            y: self.y,
            z: self.z,
            e: self.e[self.tool],
            f: self.f,
            tool: self.tool,
            relative: self.relative,
            relative_extrusion: self.relative_extrusion,
        }
    }

    /// Every heater's actual and target temperature at `now`.
    pub fn temperatures(&self, now: Duration) -> Temperatures {
        let s = &self.settings;
        let read = |h: &Heater| Temperature {
            actual: h.actual(now, s),
            target: h.target,
        };
        Temperatures {
            tools: self.tools.iter().map(read).collect(),
            bed: self.bed.as_ref().map(read),
            chamber: self.chamber.as_ref().map(read),
        }
    }

    /// The last message shown with `M117` (`None` before any, or after an
    /// `M117` without text).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether a command (`M109`, `M190`, `M191`, `G4`) is waiting: its `ok`
    /// and the answers to lines received meanwhile are still to come.
    pub fn is_waiting(&self) -> bool {
        self.wait.is_some()
    }

    /// Runs the self-sent events (auto-reports, wait reports, the end of a
    /// wait) due by `now`, in the order of their moments.
    fn advance(&mut self, now: Duration) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let auto = self.auto_report.map(|r| r.next).filter(|&t| t <= now);
            let report = self
                .wait
                .and_then(|w| w.report.map(|r| r.next).filter(|&t| t < w.until))
                .filter(|&t| t <= now);
            let done = self.wait.map(|w| w.until).filter(|&t| t <= now);
            let Some(at) = [auto, report, done].into_iter().flatten().min() else {
                break;
            };
            self.clock = at;
            if auto == Some(at) {
                out.push(self.temperature_report(at));
                self.auto_report = self.auto_report.and_then(Repeat::next);
            } else if report == Some(at) {
                out.push(self.temperature_report(at));
                if let Some(wait) = &mut self.wait {
                    wait.report = wait.report.and_then(Repeat::next);
                }
            } else {
                self.wait = None;
                out.push("ok".to_owned());
                while self.wait.is_none() {
                    let Some(line) = self.queued.pop_front() else {
                        break;
                    };
                    self.process(&line, at, &mut out);
                }
            }
        }
        self.clock = now;
        out
    }

    /// Checks one line's checksum and line number, then runs its command.
    fn process(&mut self, raw: &str, now: Duration, out: &mut Vec<String>) {
        let line = raw.split(';').next().unwrap_or_default().trim();
        if let Some(what) = line.strip_prefix("!!DEBUG:") {
            return self.debug(what, out);
        }
        if line.is_empty() {
            return;
        }
        let body = match line.rfind('*') {
            Some(star) => {
                let body = &line[..star];
                if line[star + 1..].trim().parse::<u8>().ok() != Some(checksum(body)) {
                    self.request_resend("checksum mismatch", out);
                    return;
                }
                body
            }
            None => line,
        };
        let (number, text) = split_line_number(body);
        // A debug command may come numbered (sent while a print runs), as
        // OctoPrint's virtual printer accepts it.
        if let Some(what) = text.trim_start().strip_prefix("!!DEBUG:") {
            if let Some(n) = number {
                if n != self.last_line + 1 {
                    return self.request_resend("Line Number is not Last Line Number+1", out);
                }
                self.last_line = n;
            }
            return self.debug(what, out);
        }
        let command = Command::parse(text);
        if command.is('M', 110) {
            if let Some(n) = command.value('N').or(number.map(|n| n as f64)) {
                // Negative numbers saturate to 0.
                self.last_line = n as u64;
            }
            out.push("ok".to_owned());
            return;
        }
        if let Some(n) = number {
            if std::mem::take(&mut self.garble_next) {
                return self.request_resend("checksum mismatch", out);
            }
            if n != self.last_line + 1 {
                self.request_resend("Line Number is not Last Line Number+1", out);
                return;
            }
            self.last_line = n;
        }
        if self.execute(&command, now, out) {
            out.push("ok".to_owned());
        }
    }

    /// Marlin's answer to a line it cannot accept: the error, the line to
    /// send again, and `ok`.
    fn request_resend(&self, error: &str, out: &mut Vec<String>) {
        out.push(format!("Error:{error}, Last Line: {}", self.last_line));
        out.push(format!("Resend: {}", self.last_line + 1));
        out.push("ok".to_owned());
    }

    /// Runs one command; returns whether `ok` follows now (not for `M105`,
    /// whose report carries it, nor for a command that starts a wait).
    fn execute(&mut self, command: &Command<'_>, now: Duration, out: &mut Vec<String>) -> bool {
        let Some(code) = command.code else {
            return true;
        };
        match (command.letter, code) {
            ('G', 0 | 1) => self.linear_move(command),
            ('G', 4) => {
                let millis = command
                    .value('P')
                    .or(command.value('S').map(|s| s * 1000.0))
                    .unwrap_or(0.0);
                let dwell = Duration::try_from_secs_f64(millis / 1000.0).unwrap_or_default();
                if !dwell.is_zero() {
                    self.wait = Some(Wait {
                        until: now.saturating_add(dwell),
                        report: None,
                    });
                    return false;
                }
            }
            ('G', 28) => self.home(command),
            ('G', 90) => (self.relative, self.relative_extrusion) = (false, false),
            ('G', 91) => (self.relative, self.relative_extrusion) = (true, true),
            ('G', 92) => self.set_position(command),
            ('M', 82) => self.relative_extrusion = false,
            ('M', 83) => self.relative_extrusion = true,
            ('M', 104) => return self.set_target(self.tool_heater(command), command, now, false),
            ('M', 109) => return self.set_target(self.tool_heater(command), command, now, true),
            ('M', 140) => return self.set_target(HeaterId::Bed, command, now, false),
            ('M', 190) => return self.set_target(HeaterId::Bed, command, now, true),
            ('M', 141) => return self.set_target(HeaterId::Chamber, command, now, false),
            ('M', 191) => return self.set_target(HeaterId::Chamber, command, now, true),
            ('M', 105) => {
                out.push(format!("ok {}", self.temperature_report(now)));
                return false;
            }
            ('M', 114) => out.push(self.position_report()),
            ('M', 115) => out.extend(self.firmware_report()),
            ('M', 117) => {
                let text = command.rest.trim();
                if self.settings.echo_m117 {
                    out.push(format!("echo:{text}"));
                }
                self.message = (!text.is_empty()).then(|| text.to_owned());
            }
            ('M', 155) => {
                if let Some(seconds) = command.value('S') {
                    // Whole seconds as Marlin takes them; negative saturates to 0 (off).
                    let interval = Duration::from_secs(seconds as u64);
                    self.auto_report = (!interval.is_zero()).then(|| Repeat {
                        interval,
                        next: now.saturating_add(interval),
                    });
                }
            }
            ('T', tool) => {
                let tool = tool as usize;
                if tool < self.tools.len() {
                    self.tool = tool;
                    out.push(format!("Active Extruder: {tool}"));
                } else {
                    out.push(format!("echo:T{tool} Invalid extruder"));
                }
            }
            // M400 (finish moves: they are done when answered) and every
            // command this firmware does not know are just acknowledged.
            _ => {}
        }
        true
    }

    /// `G0`/`G1`: moves the given axes, absolute or relative per the modes.
    fn linear_move(&mut self, command: &Command<'_>) {
        let to = |current: f64, value: Option<f64>, relative: bool| match value {
            Some(v) if relative => current + v,
            Some(v) => v,
            None => current,
        };
        self.x = to(self.x, command.value('X'), self.relative);
        self.y = to(self.y, command.value('Y'), self.relative);
        self.z = to(self.z, command.value('Z'), self.relative);
        let e = &mut self.e[self.tool];
        *e = to(*e, command.value('E'), self.relative_extrusion);
        if let Some(f) = command.value('F').filter(|f| *f > 0.0) {
            self.f = f;
        }
    }

    /// `G28`: the given axes (X, Y, Z, E) to 0, or all of them when none is given.
    fn home(&mut self, command: &Command<'_>) {
        let all = !"XYZE".chars().any(|axis| command.has(axis));
        if all || command.has('X') {
            self.x = 0.0;
        }
        if all || command.has('Y') {
            self.y = 0.0;
        }
        if all || command.has('Z') {
            self.z = 0.0;
        }
        if all || command.has('E') {
            self.e[self.tool] = 0.0;
        }
    }

    /// `G92`: sets the given axes' positions, or all of them to 0 when none is given.
    fn set_position(&mut self, command: &Command<'_>) {
        let values = ['X', 'Y', 'Z', 'E'].map(|axis| command.value(axis));
        if values.iter().all(Option::is_none) {
            (self.x, self.y, self.z, self.e[self.tool]) = (0.0, 0.0, 0.0, 0.0);
            return;
        }
        let [x, y, z, e] = values;
        self.x = x.unwrap_or(self.x);
        self.y = y.unwrap_or(self.y);
        self.z = z.unwrap_or(self.z);
        self.e[self.tool] = e.unwrap_or(self.e[self.tool]);
    }

    /// The tool heater a temperature command is for: `T<n>`, or the active tool.
    fn tool_heater(&self, command: &Command<'_>) -> HeaterId {
        match command.value('T') {
            Some(t) if t >= 0.0 => HeaterId::Tool(t as usize),
            _ => HeaterId::Tool(self.tool),
        }
    }

    /// `M104`/`M109`/`M140`/`M190`/`M141`/`M191`: sets a target (`S`, or for
    /// a waiting command `R`, which also waits while cooling down) and, with
    /// `wait`, starts waiting for it. A heater the printer lacks is ignored.
    /// Returns whether `ok` follows now.
    fn set_target(
        &mut self,
        id: HeaterId,
        command: &Command<'_>,
        now: Duration,
        wait: bool,
    ) -> bool {
        let s = &self.settings;
        let heater = match id {
            HeaterId::Tool(n) => self.tools.get_mut(n),
            HeaterId::Bed => self.bed.as_mut(),
            HeaterId::Chamber => self.chamber.as_mut(),
        };
        let Some(heater) = heater else {
            return true;
        };
        let (target, both_ways) = match (command.value('S'), command.value('R')) {
            (Some(s), _) => (Some(s), false),
            (None, Some(r)) if wait => (Some(r), true),
            _ => (None, false),
        };
        if let Some(target) = target {
            heater.set_target(target, now, s);
        }
        if !wait {
            return true;
        }
        let Some(until) = heater.reached_at(now, s, both_ways) else {
            return true;
        };
        let interval = s.wait_report_interval;
        self.wait = Some(Wait {
            until,
            report: (!interval.is_zero()).then(|| Repeat {
                interval,
                next: now.saturating_add(interval),
            }),
        });
        false
    }
}

/// Which heater a temperature command sets.
#[derive(Debug, Clone, Copy)]
enum HeaterId {
    Tool(usize),
    Bed,
    Chamber,
}

/// Whether `line` (with or without line number and checksum) is `M108`,
/// which the emergency parser handles as it arrives.
fn is_break(line: &str) -> bool {
    let body = line.split([';', '*']).next().unwrap_or_default();
    let (_, text) = split_line_number(body);
    Command::parse(text).is('M', 108)
}

/// A command that holds back its `ok` (and every later line) until `until`.
#[derive(Debug, Clone, Copy)]
struct Wait {
    until: Duration,
    /// Temperature reports while waiting.
    report: Option<Repeat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn firmware() -> Firmware {
        Firmware::new(FirmwareSettings::default())
    }

    fn two_tools() -> Firmware {
        Firmware::new(FirmwareSettings {
            extruders: 2,
            ..FirmwareSettings::default()
        })
    }

    fn with_checksum(body: &str) -> String {
        format!("{body}*{}", checksum(body))
    }

    fn ok() -> Vec<String> {
        vec!["ok".to_owned()]
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn m108_ends_a_wait_at_once_and_is_not_answered() {
        let mut fw = firmware();
        assert!(fw.receive("M109 S200", Duration::ZERO).is_empty());
        assert!(
            fw.receive("G1 X5", secs(0.3)).is_empty(),
            "held by the wait"
        );
        assert_eq!(fw.receive("N7 M108*42", secs(0.6)), ["ok", "ok"]);
        assert!(!fw.is_waiting());
        assert_eq!(fw.position().x, 5.0);
        let hotend = fw.temperatures(secs(0.6)).tools[0];
        assert!(hotend.actual < 50.0 && hotend.target == 200.0, "{hotend:?}");
        assert!(fw.receive("M108", secs(3.0)).is_empty(), "nothing to break");
    }

    #[test]
    fn every_command_is_answered_ok_unknown_ones_too() {
        let mut fw = firmware();
        for line in ["G21", "M84", "M400", "M9999", "G29.1", "hello"] {
            assert_eq!(fw.receive(line, Duration::ZERO), ok(), "{line}");
        }
    }

    #[test]
    fn empty_lines_and_comments_are_not_answered() {
        let mut fw = firmware();
        assert!(fw.receive("", Duration::ZERO).is_empty());
        assert!(fw.receive("   ", Duration::ZERO).is_empty());
        assert!(fw.receive("; just a comment", Duration::ZERO).is_empty());
        assert_eq!(fw.receive("G91 ; relative from here", Duration::ZERO), ok());
        assert!(fw.position().relative);
        assert_eq!(fw.receive("G1 X5;X100", Duration::ZERO), ok());
        assert_eq!(fw.position().x, 5.0);
    }

    #[test]
    fn checksum_is_the_xor_of_the_bytes_before_the_star() {
        assert_eq!(checksum("N0 M110 N0"), 125);
        assert_eq!(checksum("N1 G28"), 18);
    }

    #[test]
    fn numbered_lines_with_right_checksums_are_accepted() {
        let mut fw = firmware();
        fw.receive("G1 X10", Duration::ZERO);
        assert_eq!(fw.receive("N1 G28*18", Duration::ZERO), ok());
        assert_eq!(fw.position().x, 0.0);
        assert_eq!(fw.receive(&with_checksum("N2 G1 X3"), Duration::ZERO), ok());
        assert_eq!(fw.position().x, 3.0);
        // A checksum without a line number is checked too.
        assert_eq!(fw.receive(&with_checksum("G1 X4"), Duration::ZERO), ok());
        assert_eq!(fw.position().x, 4.0);
    }

    #[test]
    fn a_wrong_checksum_asks_for_the_line_again() {
        let resend_1 = ["Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok"];
        let mut fw = firmware();
        assert_eq!(fw.receive("N1 G1 X1*18", Duration::ZERO), resend_1);
        assert_eq!(fw.position().x, 0.0, "the line is not run");
        assert_eq!(fw.receive("N1 G1 X1*x", Duration::ZERO), resend_1);
        assert_eq!(fw.receive(&with_checksum("N1 G1 X1"), Duration::ZERO), ok());
        assert_eq!(fw.position().x, 1.0);
        assert_eq!(
            fw.receive("N2 G1 X2*0", Duration::ZERO),
            ["Error:checksum mismatch, Last Line: 1", "Resend: 2", "ok"]
        );
    }

    #[test]
    fn an_unexpected_line_number_asks_for_the_expected_one() {
        let mut fw = firmware();
        assert_eq!(fw.receive(&with_checksum("N1 G1 X1"), Duration::ZERO), ok());
        assert_eq!(
            fw.receive(&with_checksum("N3 G1 X3"), Duration::ZERO),
            [
                "Error:Line Number is not Last Line Number+1, Last Line: 1",
                "Resend: 2",
                "ok"
            ]
        );
        assert_eq!(fw.position().x, 1.0, "the line is not run");
        assert_eq!(
            fw.receive(&with_checksum("N1 G1 X3"), Duration::ZERO)[0],
            "Error:Line Number is not Last Line Number+1, Last Line: 1"
        );
        assert_eq!(fw.receive(&with_checksum("N2 G1 X2"), Duration::ZERO), ok());
        // Lines without a number are not counted.
        assert_eq!(fw.receive("G1 X9", Duration::ZERO), ok());
        assert_eq!(fw.receive(&with_checksum("N3 G1 X3"), Duration::ZERO), ok());
    }

    #[test]
    fn m110_sets_the_line_number() {
        let mut fw = firmware();
        assert_eq!(fw.receive("M110 N41", Duration::ZERO), ok());
        assert_eq!(fw.receive(&with_checksum("N42 G28"), Duration::ZERO), ok());
        // OctoPrint's form, numbered and checksummed, with its own N.
        assert_eq!(fw.receive("N0 M110 N0*125", Duration::ZERO), ok());
        assert_eq!(fw.receive(&with_checksum("N1 G28"), Duration::ZERO), ok());
        // The line's own number when M110 has none.
        assert_eq!(fw.receive(&with_checksum("N10 M110"), Duration::ZERO), ok());
        assert_eq!(
            fw.receive(&with_checksum("N2 G28"), Duration::ZERO),
            [
                "Error:Line Number is not Last Line Number+1, Last Line: 10",
                "Resend: 11",
                "ok"
            ]
        );
        assert_eq!(fw.receive(&with_checksum("N11 G28"), Duration::ZERO), ok());
    }

    #[test]
    fn m105_reports_temperatures_with_ok() {
        let mut fw = firmware();
        assert_eq!(
            fw.receive("M105", Duration::ZERO),
            ["ok T:21.30 /0.00 B:21.30 /0.00"]
        );
        let mut fw = Firmware::new(FirmwareSettings {
            has_bed: false,
            ..FirmwareSettings::default()
        });
        assert_eq!(fw.receive("M105", Duration::ZERO), ["ok T:21.30 /0.00"]);
        assert_eq!(fw.temperatures(Duration::ZERO).bed, None);
    }

    #[test]
    fn m105_reports_every_extruder_and_the_chamber() {
        let mut fw = Firmware::new(FirmwareSettings {
            extruders: 2,
            has_chamber: true,
            ..FirmwareSettings::default()
        });
        fw.receive("M104 T1 S200", Duration::ZERO);
        fw.receive("M140 S60", Duration::ZERO);
        fw.receive("M141 S40", Duration::ZERO);
        assert_eq!(
            fw.receive("M105", secs(1.0)),
            ["ok T:21.30 /0.00 T0:21.30 /0.00 T1:31.30 /200.00 B:31.30 /60.00 C:31.30 /40.00"]
        );
        fw.receive("T1", secs(1.0));
        assert_eq!(
            fw.receive("M105", secs(1.0)),
            ["ok T:31.30 /200.00 T0:21.30 /0.00 T1:31.30 /200.00 B:31.30 /60.00 C:31.30 /40.00"]
        );
    }

    #[test]
    fn heaters_move_toward_their_target_and_cool_to_ambient() {
        let mut fw = firmware();
        assert_eq!(fw.receive("M104 S200", Duration::ZERO), ok());
        assert_eq!(fw.receive("M140 S60", Duration::ZERO), ok());
        let t = fw.temperatures(secs(5.0));
        assert!(close(t.tools[0].actual, 71.3));
        assert_eq!(t.tools[0].target, 200.0);
        assert!(
            close(t.bed.unwrap().actual, 60.0),
            "the bed stops at its target"
        );
        assert!(close(fw.temperatures(secs(100.0)).tools[0].actual, 200.0));
        // A lower target: down at the heating rate.
        fw.receive("M104 S150", secs(100.0));
        assert!(close(fw.temperatures(secs(102.0)).tools[0].actual, 180.0));
        // Off: down toward ambient at the cooling rate, and no lower.
        fw.receive("M104 S0", secs(102.0));
        let t = fw.temperatures(secs(112.0)).tools[0];
        assert!(close(t.actual, 160.0));
        assert_eq!(t.target, 0.0);
        assert!(close(fw.temperatures(secs(1000.0)).tools[0].actual, 21.3));
        // M104 without S keeps the target.
        fw.receive("M104", secs(1000.0));
        assert_eq!(fw.temperatures(secs(1000.0)).tools[0].target, 0.0);
    }

    #[test]
    fn m109_answers_ok_once_the_target_is_reached() {
        let mut fw = firmware();
        // 21.3 → 199 (the window below 200) at 10 °C/s: 17.77 s.
        assert!(fw.receive("M109 S200", Duration::ZERO).is_empty());
        assert!(fw.is_waiting());
        let reports = fw.tick(secs(2.5));
        assert_eq!(
            reports,
            [
                "T:31.30 /200.00 B:21.30 /0.00",
                "T:41.30 /200.00 B:21.30 /0.00"
            ]
        );
        // Lines sent meanwhile wait in the buffer.
        assert!(fw.receive("M105", secs(2.5)).is_empty());
        assert!(fw.receive("G1 X7", secs(2.7)).is_empty());
        assert_eq!(fw.position().x, 0.0);
        let lines = fw.tick(secs(30.0));
        assert_eq!(lines.len(), 15 + 1 + 2, "{lines:?}");
        assert_eq!(lines[14], "T:191.30 /200.00 B:21.30 /0.00");
        assert_eq!(lines[15], "ok");
        assert_eq!(lines[16], "ok T:199.00 /200.00 B:21.30 /0.00");
        assert_eq!(lines[17], "ok");
        assert!(!fw.is_waiting());
        assert_eq!(fw.position().x, 7.0);
        assert!(close(fw.temperatures(secs(30.0)).tools[0].actual, 200.0));
        assert!(fw.tick(secs(40.0)).is_empty());
    }

    #[test]
    fn a_wait_finishes_in_receive_when_its_moment_has_passed() {
        let mut fw = firmware();
        fw.receive("M190 S30", Duration::ZERO); // 21.3 → 29: 0.77 s
        assert_eq!(fw.receive("M400", secs(5.0)), ["ok", "ok"]);
    }

    #[test]
    fn m109_does_not_wait_when_hot_enough_unless_r_asks_for_cooling() {
        let mut fw = firmware();
        fw.receive("M104 S200", Duration::ZERO);
        assert_eq!(
            fw.receive("M109 S180", secs(100.0)),
            ok(),
            "S waits only for heating"
        );
        fw.receive("M104 S200", secs(100.0));
        assert!(
            fw.receive("M109 R150", secs(100.0)).is_empty(),
            "R waits for cooling too"
        );
        // 200 → 151 at 10 °C/s: 4.9 s.
        assert_eq!(fw.tick(secs(104.0)).len(), 4);
        assert_eq!(fw.tick(secs(105.0)), ok());
        // Waiting for a heater that is off does not wait.
        assert_eq!(fw.receive("M190 S0", secs(105.0)), ok());
    }

    #[test]
    fn m109_heats_the_tool_given_with_t_and_m190_the_bed() {
        let mut fw = two_tools();
        assert!(fw.receive("M109 T1 S50", Duration::ZERO).is_empty());
        let lines = fw.tick(secs(10.0));
        assert_eq!(lines.last().unwrap(), "ok");
        let t = fw.temperatures(secs(10.0));
        assert_eq!((t.tools[0].target, t.tools[1].target), (0.0, 50.0));
        assert!(close(t.tools[1].actual, 50.0));
        assert!(fw.receive("M190 S60", secs(10.0)).is_empty());
        assert_eq!(fw.tick(secs(20.0)).last().unwrap(), "ok");
        assert!(close(fw.temperatures(secs(20.0)).bed.unwrap().actual, 60.0));
    }

    #[test]
    fn g4_dwells() {
        let mut fw = firmware();
        assert!(fw.receive("G4 P500", Duration::ZERO).is_empty());
        assert!(fw.tick(secs(0.4)).is_empty());
        assert_eq!(fw.tick(secs(0.5)), ok());
        assert!(fw.receive("G4 S2", secs(1.0)).is_empty());
        assert_eq!(fw.tick(secs(3.0)), ok());
        assert_eq!(fw.receive("G4", secs(3.0)), ok());
    }

    #[test]
    fn absolute_and_relative_moves() {
        let mut fw = firmware();
        fw.receive("G1 X10 Y20 Z0.3 E1 F1500", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z, p.e, p.f), (10.0, 20.0, 0.3, 1.0, 1500.0));
        assert!(!p.relative && !p.relative_extrusion);
        fw.receive("G0 X12", Duration::ZERO);
        assert_eq!(fw.position().x, 12.0);
        fw.receive("G91", Duration::ZERO);
        fw.receive("G1 X-2 Y5 E0.5", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.y, p.e, p.f), (10.0, 25.0, 1.5, 1500.0));
        assert!(p.relative && p.relative_extrusion);
        // G90 then M83: absolute axes, relative extrusion (as slicers send it).
        fw.receive("G90", Duration::ZERO);
        fw.receive("M83", Duration::ZERO);
        fw.receive("g1 x1 e2", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.e), (1.0, 3.5));
        assert!(!p.relative && p.relative_extrusion);
        fw.receive("M82", Duration::ZERO);
        fw.receive("G1X4E2", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.e), (4.0, 2.0));
        assert!(!p.relative_extrusion);
    }

    #[test]
    fn g92_sets_the_position() {
        let mut fw = firmware();
        fw.receive("G1 X10 Y20 Z5 E3", Duration::ZERO);
        assert_eq!(fw.receive("G92 E0", Duration::ZERO), ok());
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z, p.e), (10.0, 20.0, 5.0, 0.0));
        fw.receive("G92 X1 Z2", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z), (1.0, 20.0, 2.0));
        fw.receive("G1 E4", Duration::ZERO);
        fw.receive("G92", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z, p.e), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn g28_homes_the_given_axes_or_all() {
        let mut fw = firmware();
        fw.receive("G1 X10 Y20 Z5 E3", Duration::ZERO);
        assert_eq!(fw.receive("G28 X Z", Duration::ZERO), ok());
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z, p.e), (0.0, 20.0, 0.0, 3.0));
        fw.receive("G1 X10 Z5", Duration::ZERO);
        fw.receive("G28", Duration::ZERO);
        let p = fw.position();
        assert_eq!((p.x, p.y, p.z, p.e), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn m114_reports_the_position() {
        let mut fw = firmware();
        fw.receive("G1 X10 Y20.5 Z0.3 E1.25", Duration::ZERO);
        assert_eq!(
            fw.receive("M114", Duration::ZERO),
            [
                "X:10.00 Y:20.50 Z:0.30 E:1.25 Count X:1000 Y:2050 Z:30",
                "ok"
            ]
        );
    }

    #[test]
    fn m115_reports_the_firmware_and_its_capabilities() {
        let mut fw = firmware();
        assert_eq!(
            fw.receive("M115", Duration::ZERO),
            [
                "FIRMWARE_NAME:Plinth Virtual Printer PROTOCOL_VERSION:1.0 MACHINE_TYPE:Virtual EXTRUDER_COUNT:1",
                "Cap:AUTOREPORT_TEMP:1",
                "Cap:AUTOREPORT_SD_STATUS:0",
                "Cap:AUTOREPORT_POS:0",
                "Cap:BUSY_PROTOCOL:0",
                "Cap:CHAMBER_TEMPERATURE:0",
                "Cap:EMERGENCY_PARSER:1",
                "Cap:EXTENDED_M20:0",
                "Cap:LFN_WRITE:0",
                "ok",
            ]
        );
        let lines = two_tools().receive("M115", Duration::ZERO);
        assert!(lines[0].ends_with("EXTRUDER_COUNT:2"));
    }

    #[test]
    fn m117_shows_a_message() {
        let mut fw = firmware();
        assert_eq!(fw.message(), None);
        assert_eq!(
            fw.receive("M117 Layer 3/10 ; progress", Duration::ZERO),
            ["echo:Layer 3/10", "ok"]
        );
        assert_eq!(fw.message(), Some("Layer 3/10"));
        fw.receive(&with_checksum("N1 M117 Printing..."), Duration::ZERO);
        assert_eq!(fw.message(), Some("Printing..."));
        fw.receive("M117", Duration::ZERO);
        assert_eq!(fw.message(), None);
        let mut quiet = Firmware::new(FirmwareSettings {
            echo_m117: false,
            ..FirmwareSettings::default()
        });
        assert_eq!(quiet.receive("M117 Hello", Duration::ZERO), ok());
        assert_eq!(quiet.message(), Some("Hello"));
    }

    #[test]
    fn m155_reports_temperatures_by_itself() {
        let mut fw = firmware();
        assert!(fw.tick(secs(10.0)).is_empty());
        assert_eq!(fw.receive("M104 S100", secs(10.0)), ok());
        assert_eq!(fw.receive("M155 S2", secs(10.0)), ok());
        assert!(fw.tick(secs(11.0)).is_empty());
        assert_eq!(
            fw.tick(secs(15.0)),
            [
                "T:41.30 /100.00 B:21.30 /0.00",
                "T:61.30 /100.00 B:21.30 /0.00"
            ]
        );
        // Reports due before a line come before its answer.
        assert_eq!(
            fw.receive("M400", secs(16.0)),
            ["T:81.30 /100.00 B:21.30 /0.00", "ok"]
        );
        assert_eq!(fw.receive("M155 S0", secs(17.0)), ok());
        assert!(fw.tick(secs(30.0)).is_empty());
    }

    #[test]
    fn tool_changes_select_the_extruder() {
        let mut fw = two_tools();
        assert_eq!(
            fw.receive("T1", Duration::ZERO),
            ["Active Extruder: 1", "ok"]
        );
        assert_eq!(fw.position().tool, 1);
        fw.receive("G1 E5", Duration::ZERO);
        fw.receive("M104 S200", Duration::ZERO);
        let t = fw.temperatures(Duration::ZERO);
        assert_eq!((t.tools[0].target, t.tools[1].target), (0.0, 200.0));
        assert_eq!(
            fw.receive("T2", Duration::ZERO),
            ["echo:T2 Invalid extruder", "ok"]
        );
        assert_eq!(fw.position().tool, 1);
        fw.receive("T0", Duration::ZERO);
        assert_eq!(fw.position().e, 0.0, "every tool has its own E");
        fw.receive("T1", Duration::ZERO);
        assert_eq!(fw.position().e, 5.0);
        // A temperature for a tool the printer lacks is ignored.
        assert_eq!(fw.receive("M104 T5 S200", Duration::ZERO), ok());
    }

    #[test]
    fn a_clock_going_backwards_stands_still() {
        let mut fw = firmware();
        fw.receive("M104 S200", secs(10.0));
        assert_eq!(
            fw.receive("M105", secs(5.0)),
            ["ok T:21.30 /200.00 B:21.30 /0.00"]
        );
        assert!(close(fw.temperatures(secs(11.0)).tools[0].actual, 31.3));
    }
}
