//! The job: starting it, reading the file at the printer's pace, progress,
//! pausing, resuming, cancelling and finishing, and the event that says how
//! it ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use plinth_abi::{events, json, Value};

use super::send::apply_offsets;
use super::*;
use crate::jobs::printer::command::Command;
use crate::jobs::printer::{Printer, PrinterState, Selected};

impl Comm {
    pub(super) fn start_job(&mut self, printer: &Arc<Printer>) {
        self.requested = None;
        let (state, selected) = {
            let status = printer.lock();
            (status.state, status.selected.clone())
        };
        let Some(selected) = selected.clone().filter(|_| state == PrinterState::Starting) else {
            // Cancelled before it began: nothing was sent.
            if state == PrinterState::Cancelling {
                let payload = selected.as_ref().map_or(json!({}), Selected::payload);
                end_job(printer, selected.as_ref(), Ending::Cancelled(payload));
            } else if state == PrinterState::Starting {
                printer.move_from(&[PrinterState::Starting], PrinterState::Operational);
            }
            return;
        };
        let Some(link) = &mut self.link else {
            return;
        };
        let file = match uploads::folder(&printer.manager).open(&selected.name) {
            Ok(file) => file,
            Err(e) => {
                let why = format!("cannot read {}: {e}", selected.name);
                end_job(printer, Some(&selected), Ending::Failed(why));
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
        self.script(printer, "beforePrintStarted", &json!({"event": payload}));
        // A cancel that came meanwhile stays: the next step cancels the job.
        printer.move_from(&[PrinterState::Starting], PrinterState::Printing);
        self.report_progress(printer);
    }

    /// Reads the next command of the job if it is due at the printer's
    /// pace (`printer.lines_per_second`).
    pub(super) fn next_from_job(&mut self, printer: &Arc<Printer>) {
        let Some(link) = &mut self.link else {
            return;
        };
        let Some(job) = &mut link.job else {
            printer.move_from(&[PrinterState::Printing], PrinterState::Operational);
            return;
        };
        if job.done_reading {
            if printer.move_from(&[PrinterState::Printing], PrinterState::Finishing) {
                self.script(printer, "afterPrintDone", &json!({}));
            }
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
                Some(apply_offsets(
                    printer,
                    Command::new(text, &["source:file", &pos, &line]),
                ))
            }
            Ok(None) => {
                job.done_reading = true;
                None
            }
            Err(e) => {
                let why = format!("cannot read {}: {e}", job.selected.name);
                let selected = job.selected.clone();
                link.job = None;
                end_job(printer, Some(&selected), Ending::Failed(why));
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
    pub(super) fn report_progress(&mut self, printer: &Arc<Printer>) {
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
    pub(super) fn ask_position(&mut self, printer: &Arc<Printer>, why: Asked) {
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

    pub(super) fn job_payload(&self, printer: &Arc<Printer>) -> Option<Value> {
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

    pub(super) fn paused(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Pausing {
            return;
        }
        self.requested = None;
        let payload = self.job_payload(printer);
        // A cancel that came meanwhile wins.
        if !printer.move_from(&[PrinterState::Pausing], PrinterState::Paused) {
            return;
        }
        printer.lock().clock.pause();
        if let Some(payload) = payload {
            printer.manager.fire_event(events::PRINT_PAUSED, &payload);
        }
        self.pause_context = json!({
            "pause_position": printer.lock().position.to_json(),
            "pause_temperature": printer.current_temperatures(),
        });
        let context = self.pause_context.clone();
        self.script(printer, "afterPrintPaused", &context);
    }

    pub(super) fn resume(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Resuming {
            return;
        }
        let context = self.pause_context.clone();
        self.script(printer, "beforePrintResumed", &context);
        let payload = self.job_payload(printer);
        if !printer.move_from(&[PrinterState::Resuming], PrinterState::Printing) {
            return;
        }
        printer.lock().clock.resume();
        if let Some(mut payload) = payload {
            if let Value::Object(fields) = &mut payload {
                fields.remove("position");
            }
            printer.manager.fire_event(events::PRINT_RESUMED, &payload);
        }
    }

    pub(super) fn cancelled(&mut self, printer: &Arc<Printer>) {
        if printer.state() != PrinterState::Cancelling {
            return;
        }
        self.requested = None;
        let payload = self.job_payload(printer);
        let job = self.link.as_mut().and_then(|l| l.job.take());
        let context = json!({
            "cancel_position": printer.lock().position.to_json(),
            "cancel_temperature": printer.current_temperatures(),
        });
        self.script(printer, "afterPrintCancelled", &context);
        if let Some(job) = job {
            let mut payload = payload.unwrap_or_else(|| job.selected.payload());
            if let Value::Object(fields) = &mut payload {
                fields.remove("progress");
            }
            end_job(printer, Some(&job.selected), Ending::Cancelled(payload));
        } else {
            printer.move_from(&[PrinterState::Cancelling], PrinterState::Operational);
        }
    }

    /// Finishing: 100 % to the ProgressPlugins first, waiting (a little)
    /// until they have it, so what they send in answer is part of the
    /// print; the job ends once that is sent too.
    pub(super) fn finished(&mut self, printer: &Arc<Printer>) {
        let Some(job) = self.link.as_mut().and_then(|l| l.job.as_mut()) else {
            printer.move_from(&[PrinterState::Finishing], PrinterState::Operational);
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
            self.requested = None;
            end_job(printer, Some(&job.selected), Ending::Done);
        }
    }
}

/// How a job ended.
pub(super) enum Ending {
    Done,
    Cancelled(Value),
    Failed(String),
}

/// The states a job is in.
const JOB_STATES: &[PrinterState] = &[
    PrinterState::Starting,
    PrinterState::Printing,
    PrinterState::Pausing,
    PrinterState::Paused,
    PrinterState::Resuming,
    PrinterState::Cancelling,
    PrinterState::Finishing,
];

/// Back to operational from the job's state (a closing connection leaves
/// the state to the close), with the event that says how the job ended;
/// a cancel is followed by `PrintFailed` with `reason: cancelled`, as
/// OctoPrint's.
pub(super) fn end_job(printer: &Arc<Printer>, selected: Option<&Selected>, ending: Ending) {
    let no_file = || json!({});
    let (event, payload) = {
        let mut status = printer.lock();
        let time = status.clock.active(Instant::now());
        status.clock.last_time = Some(time);
        status.clock.started = None;
        status.clock.paused_at = None;
        let mut payload = match &ending {
            Ending::Cancelled(payload) => payload.clone(),
            _ => selected.map_or_else(no_file, Selected::payload),
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
            Ending::Cancelled(_) => {
                // OctoPrint resets the progress of a cancelled job.
                status.completion = None;
                status.clock.last_time = None;
                (events::PRINT_CANCELLED, payload)
            }
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
    printer.move_from(JOB_STATES, PrinterState::Operational);
    printer.manager.fire_event(event, &payload);
    // As OctoPrint: after PrintDone, before a cancel's PrintFailed.
    if let Some(selected) = selected {
        let seconds = payload["time"].as_f64().unwrap_or(0.0);
        printer.log_print(&selected.name, seconds, matches!(ending, Ending::Done));
    }
    if let Ending::Cancelled(_) = ending {
        let mut failed = selected.map_or_else(no_file, Selected::payload);
        failed["time"] = payload["time"].clone();
        failed["reason"] = json!("cancelled");
        if let Some(user) = payload.get("user") {
            failed["user"] = user.clone();
        }
        printer.manager.fire_event(events::PRINT_FAILED, &failed);
    }
    printer.push_current();
}
