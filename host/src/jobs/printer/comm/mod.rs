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
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plinth_abi::Value;

use super::command::Command;
use super::hooks::HookSet;
use super::job::JobFile;
use super::monitor::{heater_name, HeaterReading};
use super::replies::{self, Reading, Reply};
use super::{Printer, PrinterState, Request, Selected};
use crate::jobs::firmware::gcode::checksum;
use crate::jobs::firmware::{Firmware, FirmwareSettings};
use crate::jobs::{percents_passed, uploads};

mod job;
mod receive;
mod send;

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
/// How long a line waits for its `ok` before the connection goes on.
const COMMUNICATION_TIMEOUT: Duration = Duration::from_secs(5);
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
    /// When the last line was written.
    sent_at: Instant,
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
    let Some((manager, queued)) = printer
        .upgrade()
        .map(|p| (p.manager.clone(), p.queued.clone()))
    else {
        return;
    };
    let mut comm = Comm {
        link: None,
        hooks: HookSet::new(manager),
        ready_at: Wake::Idle,
        requested: None,
        queued,
        pause_context: Value::Null,
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
    /// The printer's count of commands asked for and not sent yet.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// Where the head was and the temperatures when the job was paused,
    /// for the pause and resume scripts (`pause_position`, `pause_temperature`).
    pause_context: Value,
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
    /// `n` commands left the count (sent, dropped, or counted anew).
    fn uncount(&self, n: usize) {
        let _ = self
            .queued
            .fetch_update(SeqCst, SeqCst, |q| Some(q.saturating_sub(n)));
    }

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
                    // OctoPrint's `beforePrinterDisconnected`, sent before the port closes.
                    if let Ok(lines) =
                        printer.render_script("beforePrinterDisconnected", &Value::Null)
                    {
                        let tag = ["trigger:comm.script.beforePrinterDisconnected"];
                        for line in lines {
                            self.write(printer, &Command::new(line, &tag));
                        }
                    }
                    self.close(printer, None);
                }
            }
            Request::Send(commands) => {
                // Counted when asked; from here on, as queue entries.
                let asked = commands.len();
                self.enqueue(commands);
                self.uncount(asked);
            }
            Request::Start => self.start_job(printer),
            // The state says it already; the thread acts once asked, so
            // that the caller's events come first.
            Request::Pause => self.requested = Some(Asked::Pause),
            Request::Cancel => {
                self.requested = Some(Asked::Cancel);
                self.abort_heatup(printer);
            }
            Request::Resume => self.resume(printer),
            Request::Restart => {
                if let Some(link) = &mut self.link {
                    link.job = None;
                }
                self.start_job(printer);
            }
            Request::FakeAck => {
                if let Some(link) = &mut self.link {
                    link.awaiting_ok = false;
                }
            }
        }
    }

    // ~~ connection

    /// Sends a GCODE script's lines, rendered with `context` beside the
    /// printer's values (OctoPrint's `event`, `pause_position`, …).
    fn script(&mut self, printer: &Arc<Printer>, name: &str, context: &Value) {
        match printer.render_script(name, context) {
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
            // OctoPrint's communication timeout: a printer that does not
            // answer (and is not heating or dwelling) does not hold the
            // connection for ever.
            if link.firmware.is_waiting() || link.sent_at.elapsed() < COMMUNICATION_TIMEOUT {
                return;
            }
            link.awaiting_ok = false;
            let note = format!(
                "No answer from the printer within {} s: going on",
                COMMUNICATION_TIMEOUT.as_secs()
            );
            tracing::warn!("{note}");
            printer.lock().monitor.log(note);
        }
        // Whatever is done below, the next step comes at once; only the
        // job's pace and idleness set a later one.
        self.ready_at = Wake::Now;
        if let Some(from) = link.resend_from.take() {
            let line = link
                .history
                .iter()
                .find(|(n, _)| *n == from)
                .map(|(_, l)| l.clone());
            let Some(line) = line else {
                // As OctoPrint: without the line, the print cannot go on.
                let error = format!(
                    "the printer asked for line {from} again, which is no longer known: the communication is broken"
                );
                self.close(printer, Some(error));
                return;
            };
            // One at a time: each waits for its `ok`; the rest follow.
            self.transmit(printer, line);
            if let Some(link) = &mut self.link {
                if link.resend_from.is_none() && from < link.line_number {
                    link.resend_from = Some(from + 1);
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
}
