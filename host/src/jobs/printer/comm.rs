//! The connection's thread: it owns the device (the virtual printer's
//! firmware), the send queue and the job file, and is the only one to
//! write to the printer. It sends one line at a time and waits for its
//! `ok` (OctoPrint's "ping-pong"), numbers and checksums the lines of a
//! print, answers resend requests, polls temperatures when the firmware
//! does not report them by itself, and moves a job through its states.
//!
//! The REST API and plugins reach it through [`super::Printer`]'s requests;
//! the thread answers through the printer's status, events and pushes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plinth_abi::hooks::GcodePhase;
use plinth_abi::{events, json, Value};

use super::command::Command;
use super::hooks::HookSet;
use super::job::JobFile;
use super::monitor::{heater_name, HeaterReading};
use super::replies::{self, Reading, Reply};
use super::{Printer, PrinterState, Request, Selected};
use crate::jobs::firmware::gcode::checksum;
use crate::jobs::firmware::{Firmware, FirmwareSettings};
use crate::jobs::{percents_passed, uploads};

/// How often temperatures are asked (`M105`) when the firmware does not
/// report them by itself, and the auto-report interval asked otherwise.
const TEMPERATURE_INTERVAL: Duration = Duration::from_secs(2);
/// How long the thread sleeps at most when nothing is to be done.
const IDLE_TICK: Duration = Duration::from_millis(100);
/// How long it waits between looks at a firmware that holds back its `ok`.
const WAIT_TICK: Duration = Duration::from_millis(10);
/// How long a pause or cancel waits for the position it asked (`M114`).
const POSITION_WAIT: Duration = Duration::from_secs(2);
/// How long the end of a print waits for ProgressPlugins to take 100 %.
const PROGRESS_WAIT: Duration = Duration::from_secs(2);
/// How many numbered lines are kept to be sent again.
const RESEND_MEMORY: usize = 64;

/// The file being printed.
struct Job {
    file: JobFile,
    selected: Selected,
    /// Commands read from the file so far.
    sent: u64,
    last_percent: Option<u8>,
    done_reading: bool,
    /// 100 % was delivered to the ProgressPlugins (they may still send).
    told_done: bool,
}

/// Why the position was asked.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Asked {
    Pause,
    Cancel,
}

/// One open connection.
struct Link {
    firmware: Firmware,
    since: Instant,
    /// The last line number sent.
    line_number: u64,
    /// The numbered lines sent last, to send again on request.
    history: VecDeque<(u64, String)>,
    resend_from: Option<u64>,
    awaiting_ok: bool,
    /// Whether the firmware has answered once (Connecting → Operational).
    greeted: bool,
    queue: VecDeque<Command>,
    job: Option<Job>,
    asked: Option<(Asked, Instant)>,
    autoreport: bool,
    next_poll: Instant,
    relative: bool,
    capabilities: BTreeMap<String, bool>,
    capabilities_told: bool,
}

impl Link {
    fn now(&self) -> Duration {
        self.since.elapsed()
    }
}

/// The thread's body: serves requests until the printer is dropped.
pub(super) fn run(printer: Weak<Printer>, requests: Receiver<Request>) {
    let Some(manager) = printer.upgrade().map(|p| p.manager.clone()) else {
        return;
    };
    let mut comm = Comm {
        link: None,
        hooks: HookSet::new(manager),
        ready_at: Wake::Idle,
        requested: None,
    };
    loop {
        let wait = comm.wait();
        let first = match wait {
            None => match requests.recv() {
                Ok(r) => Some(r),
                Err(_) => return,
            },
            Some(wait) if wait.is_zero() => requests.try_recv().ok(),
            Some(wait) => match requests.recv_timeout(wait) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let Some(printer) = printer.upgrade() else {
            return;
        };
        comm.hooks.refresh();
        if let Some(request) = first {
            comm.handle(&printer, request);
            while let Ok(request) = requests.try_recv() {
                comm.handle(&printer, request);
            }
        }
        comm.step(&printer);
        printer.push_if_due();
    }
}

struct Comm {
    link: Option<Link>,
    hooks: HookSet,
    /// When the next step has work of its own.
    ready_at: Wake,
    /// A pause or cancel the printer was asked for (its state says it too).
    requested: Option<Asked>,
}

/// When the connection's thread steps next, requests aside.
#[derive(Debug, Clone, Copy)]
enum Wake {
    /// At the idle tick.
    Idle,
    /// At once.
    Now,
    /// At this moment (the job's next line is due).
    At(Instant),
}

impl Comm {
    /// How long to wait for a request before the next step: `None` when
    /// offline (until a request comes), zero when work is ready.
    fn wait(&self) -> Option<Duration> {
        let link = self.link.as_ref()?;
        if link.awaiting_ok {
            return Some(WAIT_TICK);
        }
        if link.resend_from.is_some() || !link.queue.is_empty() {
            return Some(Duration::ZERO);
        }
        Some(match self.ready_at {
            Wake::Idle => IDLE_TICK,
            Wake::Now => Duration::ZERO,
            Wake::At(at) => at.saturating_duration_since(Instant::now()).min(IDLE_TICK),
        })
    }

    fn handle(&mut self, printer: &Arc<Printer>, request: Request) {
        match request {
            Request::Connect { port, baudrate } => {
                if self.link.is_some() {
                    self.close(printer, None);
                }
                self.open(printer, port, baudrate);
            }
            Request::Disconnect => {
                if self.link.is_some() {
                    self.close(printer, None);
                }
            }
            Request::Send(commands) => self.enqueue(commands),
            Request::Start => self.start_job(printer),
            // The state says it already; the thread acts once asked, so
            // that the caller's events come first.
            Request::Pause => self.requested = Some(Asked::Pause),
            Request::Cancel => self.requested = Some(Asked::Cancel),
            Request::Resume => self.resume(printer),
            Request::FakeAck => {
                if let Some(link) = &mut self.link {
                    link.awaiting_ok = false;
                }
            }
        }
    }

    // ~~ connection

    fn open(&mut self, printer: &Arc<Printer>, port: String, baudrate: u32) {
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
            status.position = super::Position {
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
    fn close(&mut self, printer: &Arc<Printer>, error: Option<String>) {
        printer
            .manager
            .fire_event(events::DISCONNECTING, &Value::Null);
        if let Some(job) = self.link.as_mut().and_then(|l| l.job.take()) {
            let why = error
                .clone()
                .unwrap_or_else(|| "the printer was disconnected".into());
            end_job(printer, &job.selected, Ending::Failed(why));
        }
        self.link = None;
        {
            let mut status = printer.lock();
            status.error = error.clone();
            status.monitor.log("Connection closed".to_owned());
        }
        printer.set_state(match error {
            Some(_) => PrinterState::ClosedWithError,
            None => PrinterState::Closed,
        });
        printer
            .manager
            .fire_event(events::DISCONNECTED, &Value::Null);
    }

    // ~~ the send queue

    /// Commands through `queuing` into the queue, then `queued`, one at a
    /// time (as OctoPrint's `commands` sends each on its own: a handler
    /// failing on one changes nothing of the others).
    fn enqueue(&mut self, commands: Vec<Command>) {
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
                .handles(super::hooks::PrinterHook::Queued)
                .then(|| queued.clone());
            if let Some(link) = &mut self.link {
                link.queue.extend(queued);
            }
            if let Some(queued) = told {
                self.hooks.gcode(GcodePhase::Queued, queued);
            }
        }
    }

    /// One command from the queue to the printer: `sending`, the write, `sent`.
    fn send_next(&mut self, printer: &Arc<Printer>) {
        let Some(command) = self.link.as_mut().and_then(|l| l.queue.pop_front()) else {
            return;
        };
        if command.is_atcommand() {
            self.hooks.atcommand(GcodePhase::Sending, &command);
            self.run_atcommand(printer, &command);
            return;
        }
        let command = apply_offsets(printer, command);
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
    fn write(&mut self, printer: &Arc<Printer>, command: &Command) {
        let Some(link) = &mut self.link else {
            return;
        };
        let (gcode, _) = command.gcode();
        let line = if gcode == Some("M110") {
            link.line_number = 0;
            link.history.clear();
            numbered(0, &command.cmd)
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

    /// Puts one line on the wire and reads what comes back.
    fn transmit(&mut self, printer: &Arc<Printer>, line: String) {
        let Some(link) = &mut self.link else {
            return;
        };
        link.awaiting_ok = true;
        let now = link.now();
        let answers = link.firmware.receive(&line, now);
        {
            let mut status = printer.lock();
            status.resends.1 += 1;
            status.monitor.log(format!("Send: {line}"));
        }
        self.read(printer, answers);
    }

    /// Lines from the printer: `received`, the terminal, then their meaning.
    fn read(&mut self, printer: &Arc<Printer>, lines: Vec<String>) {
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

    fn acknowledged(&mut self, printer: &Arc<Printer>) {
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
            printer.set_state(PrinterState::Operational);
            let payload = json!({"connector": "serial", "port": port, "baudrate": baudrate});
            printer.manager.fire_event(events::CONNECTED, &payload);
            let mut hello = vec![Command::new("M115", &["trigger:comm.on_connected"])];
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

    fn temperatures(&mut self, printer: &Arc<Printer>, parsed: BTreeMap<String, Reading>) {
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

    fn firmware_info(&mut self, printer: &Arc<Printer>, fields: Vec<(String, String)>) {
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
    fn tell_capabilities(&mut self, printer: &Arc<Printer>) {
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

    fn position(&mut self, printer: &Arc<Printer>, x: f64, y: f64, z: f64, e: f64) {
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

    fn action(&mut self, printer: &Arc<Printer>, line: &str, name: &str, params: &str) {
        self.hooks.action(line, name, params);
        let result = match name {
            "pause" => printer.pause(),
            "resume" => printer.resume(),
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

    fn run_atcommand(&mut self, printer: &Arc<Printer>, command: &Command) {
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
    fn after_sent(&mut self, printer: &Arc<Printer>, command: &Command) {
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

    fn start_job(&mut self, printer: &Arc<Printer>) {
        let selected = {
            let status = printer.lock();
            match status.state {
                PrinterState::Starting => status.selected.clone(),
                // Cancelled before it began: nothing was sent.
                PrinterState::Cancelling => None,
                _ => return,
            }
        };
        let Some(selected) = selected else {
            printer.set_state(PrinterState::Operational);
            return;
        };
        let Some(link) = &mut self.link else {
            return;
        };
        let file = match uploads::folder(&printer.manager).open(&selected.name) {
            Ok(file) => file,
            Err(e) => {
                let why = format!("cannot read {}: {e}", selected.name);
                end_job(printer, &selected, Ending::Failed(why));
                return;
            }
        };
        let file = JobFile::new(file);
        let mut selected = selected;
        selected.size = file.size;
        link.job = Some(Job {
            file,
            selected: selected.clone(),
            sent: 0,
            last_percent: None,
            done_reading: false,
            told_done: false,
        });
        {
            let mut status = printer.lock();
            status.clock.started = Some(Instant::now());
            status.clock.paused_at = None;
            status.clock.paused_for = Duration::ZERO;
            status.filepos = 0;
            status.completion = Some(0.0);
        }
        let mut payload = selected.payload();
        if let Some(user) = printer.lock().user.clone() {
            payload["user"] = json!(user);
        }
        printer.manager.fire_event(events::PRINT_STARTED, &payload);
        // Line numbers start again with the job.
        self.enqueue(vec![Command::new("M110 N0", &["trigger:comm.start_print"])]);
        self.script(printer, "beforePrintStarted");
        printer.set_state(PrinterState::Printing);
        self.report_progress(printer);
    }

    /// Sends a GCODE script's lines (a bad script is logged and skipped).
    fn script(&mut self, printer: &Arc<Printer>, name: &str) {
        match printer.render_script(name, &json!({})) {
            Ok(lines) if !lines.is_empty() => {
                let tag = format!("trigger:comm.script.{name}");
                let commands = lines
                    .into_iter()
                    .map(|l| Command::new(l, &[tag.as_str()]))
                    .collect();
                self.enqueue(commands);
            }
            Ok(_) => {}
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Does what is ready: a resend, the next queued command, the next line
    /// of the job, or the next move of a pause, cancel or finish.
    fn step(&mut self, printer: &Arc<Printer>) {
        self.ready_at = Wake::Idle;
        let Some(link) = &mut self.link else {
            return;
        };
        // What the firmware sent by itself comes with the answer to the next
        // line; with none to send, it is asked for.
        if link.awaiting_ok || (link.queue.is_empty() && link.resend_from.is_none()) {
            let late = link.firmware.tick(link.now());
            if !late.is_empty() {
                self.read(printer, late);
            }
        }
        let Some(link) = &mut self.link else {
            return;
        };
        if link.awaiting_ok {
            return;
        }
        // Whatever is done below, the next step comes at once; only the
        // job's pace and idleness set a later one.
        self.ready_at = Wake::Now;
        if let Some(from) = link.resend_from.take() {
            let lines: Vec<String> = link
                .history
                .iter()
                .filter(|(n, _)| *n >= from)
                .map(|(_, l)| l.clone())
                .collect();
            if lines.is_empty() {
                tracing::warn!("the printer asked for line {from} again, which is no longer known");
            }
            // One at a time: each waits for its `ok`; the rest are asked again if needed.
            if let Some(first) = lines.into_iter().next() {
                let n = from;
                self.transmit(printer, first);
                if let Some(link) = &mut self.link {
                    if link.resend_from.is_none() && n < link.line_number {
                        link.resend_from = Some(n + 1);
                    }
                }
            }
            return;
        }
        if !link.queue.is_empty() {
            self.send_next(printer);
            return;
        }
        let state = printer.state();
        match state {
            PrinterState::Printing => self.next_from_job(printer),
            PrinterState::Pausing if self.requested == Some(Asked::Pause) => {
                self.ask_position(printer, Asked::Pause)
            }
            PrinterState::Cancelling if self.requested == Some(Asked::Cancel) => {
                self.ask_position(printer, Asked::Cancel)
            }
            PrinterState::Pausing | PrinterState::Cancelling => self.ready_at = Wake::Idle,
            PrinterState::Finishing => self.finished(printer),
            _ => {
                self.ready_at = Wake::Idle;
                self.poll_temperature();
            }
        }
    }

    fn poll_temperature(&mut self) {
        let Some(link) = &mut self.link else {
            return;
        };
        if !link.greeted || link.autoreport || Instant::now() < link.next_poll {
            return;
        }
        link.next_poll = Instant::now() + TEMPERATURE_INTERVAL;
        let mut poll = Command::new("M105", &["trigger:comm.poll_temperature"]);
        poll.cmd_type = Some("temperature_poll".into());
        self.enqueue(vec![poll]);
    }

    /// Reads the next command of the job if it is due at the printer's
    /// pace (`printer.lines_per_second`).
    fn next_from_job(&mut self, printer: &Arc<Printer>) {
        let Some(link) = &mut self.link else {
            return;
        };
        let Some(job) = &mut link.job else {
            printer.set_state(PrinterState::Operational);
            return;
        };
        if job.done_reading {
            printer.set_state(PrinterState::Finishing);
            self.script(printer, "afterPrintDone");
            self.ready_at = Wake::Now;
            return;
        }
        let due =
            Duration::try_from_secs_f64(job.sent as f64 / printer.rate).unwrap_or(Duration::MAX);
        let active = printer.lock().clock.active(Instant::now());
        if active < due {
            self.ready_at = Wake::At(Instant::now() + (due - active));
            return;
        }
        self.ready_at = Wake::Now;
        let command = match job.file.next_command() {
            Ok(Some(text)) => {
                job.sent += 1;
                let pos = format!("filepos:{}", job.file.pos);
                let line = format!("fileline:{}", job.file.line);
                Some(Command::new(text, &["source:file", &pos, &line]))
            }
            Ok(None) => {
                job.done_reading = true;
                None
            }
            Err(e) => {
                let why = format!("cannot read {}: {e}", job.selected.name);
                let selected = job.selected.clone();
                link.job = None;
                end_job(printer, &selected, Ending::Failed(why));
                return;
            }
        };
        {
            let mut status = printer.lock();
            status.filepos = job.file.pos;
            status.completion = Some(job.file.fraction() * 100.0);
        }
        self.report_progress(printer);
        if let Some(command) = command {
            self.enqueue(vec![command]);
        }
    }

    /// Every whole percent passed since the last report, in order.
    fn report_progress(&mut self, printer: &Arc<Printer>) {
        let Some(job) = self.link.as_mut().and_then(|l| l.job.as_mut()) else {
            return;
        };
        let fraction = if job.done_reading {
            1.0
        } else {
            job.file.fraction()
        };
        let mut passed = false;
        for percent in percents_passed(job.last_percent, fraction) {
            job.last_percent = Some(percent);
            printer.progress.print("local", &job.selected.name, percent);
            passed = true;
        }
        if passed {
            printer.push_current();
        }
    }

    /// Pausing or cancelling, once every line sent was acknowledged: asks
    /// the position, then goes on when it comes (or after [`POSITION_WAIT`]).
    fn ask_position(&mut self, printer: &Arc<Printer>, why: Asked) {
        let Some(link) = &mut self.link else {
            return;
        };
        match link.asked {
            None => {
                link.asked = Some((why, Instant::now()));
                let tag = match why {
                    Asked::Pause => "trigger:comm.set_pause",
                    Asked::Cancel => "trigger:comm.cancel",
                };
                let commands = vec![Command::new("M400", &[tag]), Command::new("M114", &[tag])];
                self.enqueue(commands);
            }
            Some((_, at)) if at.elapsed() > POSITION_WAIT => {
                tracing::warn!("the printer did not report its position: going on without it");
                link.asked = None;
                match why {
                    Asked::Pause => self.paused(printer),
                    Asked::Cancel => self.cancelled(printer),
                }
            }
            Some(_) => self.ready_at = Wake::At(Instant::now() + WAIT_TICK),
        }
    }

    fn job_payload(&self, printer: &Arc<Printer>) -> Option<Value> {
        let job = self.link.as_ref()?.job.as_ref()?;
        let status = printer.lock();
        let mut payload = job.selected.payload();
        payload["position"] = status.position.to_json();
        payload["fileposition"] = json!(job.file.pos);
        payload["progress"] = json!((job.file.fraction() * 100.0).floor() as u64);
        if let Some(user) = &status.user {
            payload["user"] = json!(user);
        }
        Some(payload)
    }

    fn paused(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Pausing {
            return;
        }
        self.requested = None;
        printer.lock().clock.pause();
        let payload = self.job_payload(printer);
        printer.set_state(PrinterState::Paused);
        if let Some(payload) = payload {
            printer.manager.fire_event(events::PRINT_PAUSED, &payload);
        }
        self.script(printer, "afterPrintPaused");
    }

    fn resume(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Resuming {
            return;
        }
        self.script(printer, "beforePrintResumed");
        printer.lock().clock.resume();
        let payload = self.job_payload(printer);
        printer.set_state(PrinterState::Printing);
        if let Some(mut payload) = payload {
            if let Value::Object(fields) = &mut payload {
                fields.remove("position");
            }
            printer.manager.fire_event(events::PRINT_RESUMED, &payload);
        }
    }

    fn cancelled(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Cancelling {
            return;
        }
        self.requested = None;
        let payload = self.job_payload(printer);
        let job = self.link.as_mut().and_then(|l| l.job.take());
        self.script(printer, "afterPrintCancelled");
        if let Some(job) = job {
            let mut payload = payload.unwrap_or_else(|| job.selected.payload());
            if let Value::Object(fields) = &mut payload {
                fields.remove("progress");
            }
            end_job(printer, &job.selected, Ending::Cancelled(payload));
        } else {
            printer.set_state(PrinterState::Operational);
        }
    }

    /// Finishing: 100 % to the ProgressPlugins first, waiting (a little)
    /// until they have it, so what they send in answer is part of the
    /// print; the job ends once that is sent too.
    fn finished(&mut self, printer: &Arc<Printer>) {
        let Some(job) = self.link.as_mut().and_then(|l| l.job.as_mut()) else {
            printer.set_state(PrinterState::Operational);
            return;
        };
        if !job.told_done {
            job.told_done = true;
            for percent in percents_passed(job.last_percent, 1.0) {
                job.last_percent = Some(percent);
                printer.progress.print("local", &job.selected.name, percent);
            }
            if !printer.progress.flush(PROGRESS_WAIT) {
                tracing::warn!("a ProgressPlugin is slow: the print ends without waiting for it");
            }
            return;
        }
        if let Some(job) = self.link.as_mut().and_then(|l| l.job.take()) {
            end_job(printer, &job.selected, Ending::Done);
        }
    }
}

/// How a job ended.
enum Ending {
    Done,
    Cancelled(Value),
    Failed(String),
}

/// Back to operational (or where a failure left it), with the event that
/// says how the job ended.
fn end_job(printer: &Arc<Printer>, selected: &Selected, ending: Ending) {
    let (event, payload) = {
        let mut status = printer.lock();
        let time = status.clock.active(Instant::now());
        status.clock.last_time = Some(time);
        status.clock.started = None;
        status.clock.paused_at = None;
        let mut payload = match &ending {
            Ending::Cancelled(payload) => payload.clone(),
            _ => selected.payload(),
        };
        if let Some(user) = &status.user {
            payload["user"] = json!(user);
        }
        payload["time"] = json!(time.as_secs_f64());
        match &ending {
            Ending::Done => {
                status.completion = Some(100.0);
                (events::PRINT_DONE, payload)
            }
            Ending::Cancelled(_) => (events::PRINT_CANCELLED, payload),
            Ending::Failed(reason) => {
                status.error = Some(reason.clone());
                // OctoPrint: `reason` is "error" (or "cancelled"), the message is `error`.
                payload["reason"] = json!("error");
                payload["error"] = json!(reason);
                (events::PRINT_FAILED, payload)
            }
        }
    };
    if let Ending::Failed(reason) = &ending {
        tracing::error!("print failed: {reason}");
    }
    if printer.state().is_operational() {
        printer.set_state(PrinterState::Operational);
    }
    printer.manager.fire_event(event, &payload);
    printer.push_current();
}

/// A temperature offset added to a file's `M104`/`M109`/`M140`/`M190`
/// (OctoPrint applies offsets to what the job sends, not to manual targets).
fn apply_offsets(printer: &Arc<Printer>, command: Command) -> Command {
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

/// `N<n> <cmd>*<checksum>`.
fn numbered(n: u64, cmd: &str) -> String {
    let body = format!("N{n} {cmd}");
    let sum = checksum(&body);
    format!("{body}*{sum}")
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn numbered_lines_carry_marlins_checksum() {
        assert_eq!(numbered(0, "M110 N0"), "N0 M110 N0*125");
        assert_eq!(numbered(1, "G28"), "N1 G28*18");
    }
}
