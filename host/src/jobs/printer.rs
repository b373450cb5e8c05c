//! The virtual printer: it "prints" a G-code file of the uploads folder by
//! streaming its commands at `printer.lines_per_second` (comments and blank
//! lines take no time), so a whole print takes seconds in a test.
//!
//! States: Operational → Printing ⇄ Paused → Cancelling → Operational.
//! Progress is the file position (as OctoPrint's): every whole percent from 0
//! to 100 goes, in order, to every ProgressPlugin's `on_print_progress` and to
//! the push channel as `{"current": …}`. Events: `PrintStarted`,
//! `PrintPaused`, `PrintResumed`, `PrintDone`, `PrintFailed`, `PrintCancelled`.

use plinth_abi::events;
use std::io::BufRead;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use plinth_abi::{json, Value};

use super::{percents_passed, JobError, ProgressNotifier};
use crate::jobs::uploads;
use crate::plugins::manager::PluginManager;

/// The printer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterState {
    Operational,
    Printing,
    Paused,
    Cancelling,
}

impl PrinterState {
    /// The state as OctoPrint names it.
    pub fn text(self) -> &'static str {
        match self {
            PrinterState::Operational => "Operational",
            PrinterState::Printing => "Printing",
            PrinterState::Paused => "Paused",
            PrinterState::Cancelling => "Cancelling",
        }
    }
}

/// The selected file.
#[derive(Debug, Clone)]
struct Selected {
    name: String,
    size: u64,
    date: Option<u64>,
}

impl Selected {
    fn payload(&self) -> Value {
        json!({"name": self.name, "path": self.name, "origin": "local", "size": self.size})
    }
}

struct Status {
    state: PrinterState,
    selected: Option<Selected>,
    filepos: u64,
    completion: Option<f64>,
    started: Option<Instant>,
    paused_at: Option<Instant>,
    paused_for: Duration,
    /// Active printing time when the last job ended.
    last_time: Option<Duration>,
    error: Option<String>,
}

impl Status {
    /// Time spent printing so far, pauses left out.
    fn active(&self, now: Instant) -> Duration {
        let Some(started) = self.started else {
            return self.last_time.unwrap_or_default();
        };
        let paused = self.paused_for + self.paused_at.map_or(Duration::ZERO, |at| now - at);
        now.saturating_duration_since(started)
            .saturating_sub(paused)
    }
}

/// The virtual printer of one host.
pub struct Printer {
    manager: PluginManager,
    progress: Arc<ProgressNotifier>,
    rate: f64,
    status: Mutex<Status>,
    changed: Condvar,
    worker: Mutex<Option<JoinHandle<()>>>,
}

enum Outcome {
    Done,
    Cancelled,
    Failed(String),
}

impl Printer {
    /// An operational printer with nothing selected; the rate comes from
    /// `printer.lines_per_second` in the config.
    pub fn new(manager: PluginManager, progress: Arc<ProgressNotifier>) -> Arc<Self> {
        let rate = crate::config::host_settings::LINES_PER_SECOND.get(manager.config());
        Arc::new(Self {
            manager,
            progress,
            rate,
            status: Mutex::new(Status {
                state: PrinterState::Operational,
                selected: None,
                filepos: 0,
                completion: None,
                started: None,
                paused_at: None,
                paused_for: Duration::ZERO,
                last_time: None,
                error: None,
            }),
            changed: Condvar::new(),
            worker: Mutex::new(None),
        })
    }

    /// The current state.
    pub fn state(&self) -> PrinterState {
        self.status.lock().unwrap().state
    }

    /// Whether a job runs (printing, paused or cancelling).
    pub fn is_busy(&self) -> bool {
        self.state() != PrinterState::Operational
    }

    /// Whether a running job prints the file `name`.
    pub fn is_printing_file(&self, name: &str) -> bool {
        let status = self.status.lock().unwrap();
        status.state != PrinterState::Operational
            && status.selected.as_ref().is_some_and(|s| s.name == name)
    }

    /// Selects the uploaded G-code file `name`; starts printing it when `print`.
    pub fn select(self: &Arc<Self>, name: &str, print: bool) -> Result<(), JobError> {
        if !uploads::is_machinecode(name) {
            return Err(JobError::Unsupported(format!(
                "{name} is not machine code: only G-code files can be printed"
            )));
        }
        let meta = uploads::folder(&self.manager)
            .metadata(name)
            .map_err(|_| JobError::NotFound(format!("no file {name:?}")))?;
        {
            let mut status = self.status.lock().unwrap();
            if status.state != PrinterState::Operational {
                return Err(JobError::Conflict(format!(
                    "the printer is {}: a file can be selected only when it is operational",
                    status.state.text()
                )));
            }
            status.selected = Some(Selected {
                name: name.to_owned(),
                size: meta.len(),
                date: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
            });
            status.filepos = 0;
            status.completion = None;
            status.last_time = None;
            status.error = None;
        }
        self.push_current();
        if print {
            self.start()?;
        }
        Ok(())
    }

    /// Forgets the selected file `name` (it was deleted), unless it is printing.
    pub fn deselect(&self, name: &str) {
        let mut status = self.status.lock().unwrap();
        if status.state == PrinterState::Operational
            && status.selected.as_ref().is_some_and(|s| s.name == name)
        {
            status.selected = None;
        }
    }

    /// Starts printing the selected file.
    pub fn start(self: &Arc<Self>) -> Result<(), JobError> {
        let selected = {
            let mut status = self.status.lock().unwrap();
            if status.state != PrinterState::Operational {
                return Err(JobError::Conflict(format!(
                    "the printer is {}: a job is already running",
                    status.state.text()
                )));
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
            let selected = selected.clone();
            status.state = PrinterState::Printing;
            status.filepos = 0;
            status.completion = Some(0.0);
            status.started = Some(Instant::now());
            status.paused_at = None;
            status.paused_for = Duration::ZERO;
            status.error = None;
            selected
        };
        // A finished worker is joined here; only one job runs at a time.
        if let Some(old) = self.worker.lock().unwrap().take() {
            let _ = old.join();
        }
        self.manager
            .fire_event(events::PRINT_STARTED, &selected.payload());
        self.push_current();
        let printer = self.clone();
        let job = selected.clone();
        let spawned = std::thread::Builder::new()
            .name("plinth-printer".into())
            .spawn(move || printer.run(job));
        match spawned {
            Ok(worker) => {
                *self.worker.lock().unwrap() = Some(worker);
                Ok(())
            }
            Err(e) => {
                self.end_job(
                    &Outcome::Failed(format!("cannot start the print: {e}")),
                    Some(&selected),
                );
                Err(JobError::Failed(format!("cannot start the print: {e}")))
            }
        }
    }

    /// Pauses the running job (nothing to do when it is paused already).
    pub fn pause(&self) -> Result<(), JobError> {
        if self.state() == PrinterState::Paused {
            return Ok(());
        }
        self.transition(
            PrinterState::Printing,
            PrinterState::Paused,
            events::PRINT_PAUSED,
        )
    }

    /// Resumes the paused job (nothing to do when it is printing already).
    pub fn resume(&self) -> Result<(), JobError> {
        if self.state() == PrinterState::Printing {
            return Ok(());
        }
        self.transition(
            PrinterState::Paused,
            PrinterState::Printing,
            events::PRINT_RESUMED,
        )
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
        let mut status = self.status.lock().unwrap();
        match status.state {
            PrinterState::Printing | PrinterState::Paused => {
                if let Some(at) = status.paused_at.take() {
                    status.paused_for += at.elapsed();
                }
                status.state = PrinterState::Cancelling;
                self.changed.notify_all();
                drop(status);
                self.push_current();
                Ok(())
            }
            state => Err(JobError::Conflict(format!(
                "the printer is {}: there is no job to cancel",
                state.text()
            ))),
        }
    }

    fn transition(
        &self,
        from: PrinterState,
        to: PrinterState,
        event: &str,
    ) -> Result<(), JobError> {
        let payload = {
            let mut status = self.status.lock().unwrap();
            if status.state != from {
                return Err(JobError::Conflict(format!(
                    "the printer is {}, not {}",
                    status.state.text(),
                    from.text()
                )));
            }
            status.state = to;
            if to == PrinterState::Paused {
                status.paused_at = Some(Instant::now());
            } else if let Some(at) = status.paused_at.take() {
                status.paused_for += at.elapsed();
            }
            self.changed.notify_all();
            let mut payload = status
                .selected
                .as_ref()
                .map_or(json!({}), Selected::payload);
            payload["position"] = json!(status.filepos);
            payload
        };
        self.manager.fire_event(event, &payload);
        self.push_current();
        Ok(())
    }

    /// Cancels a running job and waits (at most `timeout`) for it to end.
    pub fn shutdown(&self, timeout: Duration) {
        let _ = self.cancel();
        let worker = self.worker.lock().unwrap().take();
        if let Some(worker) = worker {
            let deadline = Instant::now() + timeout;
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
    }

    /// What `GET /api/job` answers.
    pub fn job(&self) -> Value {
        self.snapshot().0
    }

    /// The job and the state, read at one moment (the analysis is read from
    /// disk after the lock is released).
    fn snapshot(&self) -> (Value, PrinterState) {
        let status = self.status.lock().unwrap();
        let now = Instant::now();
        let file = status.selected.as_ref().map_or_else(
            || json!({"name": null, "path": null, "origin": null, "size": null, "date": null}),
            |s| json!({"name": s.name, "path": s.name, "origin": "local", "size": s.size, "date": s.date}),
        );
        let name = status.selected.as_ref().map(|s| s.name.clone());
        let time = (status.started.is_some() || status.last_time.is_some())
            .then(|| status.active(now).as_secs_f64());
        let left = match (time, status.completion) {
            (Some(t), Some(c)) if c > 0.0 && status.started.is_some() => Some(t * (100.0 - c) / c),
            _ => None,
        };
        let state = status.state;
        let (completion, filepos, error) = (
            status.completion,
            status.selected.as_ref().map(|_| status.filepos),
            status.error.clone(),
        );
        drop(status);
        let analysis = name.and_then(|n| uploads::folder(&self.manager).analysis(&n));
        let job = json!({
            "job": {
                "file": file,
                "estimatedPrintTime": analysis.as_ref().and_then(|a| a.get("estimatedPrintTime").cloned()),
                "filament": analysis.as_ref().and_then(|a| a.get("filament").cloned()),
            },
            "progress": {
                "completion": completion,
                "filepos": filepos,
                "printTime": time,
                "printTimeLeft": left,
                "printTimeLeftOrigin": left.map(|_| "linear"),
            },
            "state": state.text(),
            "error": error,
        });
        (job, state)
    }

    fn push_current(&self) {
        let (job, state) = self.snapshot();
        self.manager.push(&json!({"current": {
            "state": {
                "text": state.text(),
                "flags": {
                    "operational": true,
                    "printing": state == PrinterState::Printing,
                    "paused": state == PrinterState::Paused,
                    "cancelling": state == PrinterState::Cancelling,
                    "ready": state == PrinterState::Operational,
                },
            },
            "job": job["job"],
            "progress": job["progress"],
        }}));
    }

    /// The print job's thread: stream, then end in the matching event (a
    /// panic while streaming ends the job as failed).
    fn run(self: Arc<Self>, selected: Selected) {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stream(&selected)))
                .unwrap_or_else(|_| Outcome::Failed("the printer failed while streaming".into()));
        self.end_job(&outcome, Some(&selected));
    }

    /// Back to operational, with the event that says how the job ended.
    fn end_job(&self, outcome: &Outcome, selected: Option<&Selected>) {
        let mut payload = selected.map_or(json!({}), Selected::payload);
        let event = {
            let mut status = self.status.lock().unwrap();
            let time = status.active(Instant::now());
            status.last_time = Some(time);
            status.started = None;
            status.paused_at = None;
            status.state = PrinterState::Operational;
            payload["time"] = json!(time.as_secs_f64());
            match outcome {
                Outcome::Done => events::PRINT_DONE,
                Outcome::Cancelled => {
                    payload["position"] = json!(status.filepos);
                    events::PRINT_CANCELLED
                }
                Outcome::Failed(reason) => {
                    status.error = Some(reason.clone());
                    // OctoPrint: `reason` is "error" (or "cancelled"), the message is `error`.
                    payload["reason"] = json!("error");
                    payload["error"] = json!(reason);
                    events::PRINT_FAILED
                }
            }
        };
        if let Outcome::Failed(reason) = outcome {
            tracing::error!("print failed: {reason}");
        }
        self.manager.fire_event(event, &payload);
        self.push_current();
    }

    fn stream(&self, selected: &Selected) -> Outcome {
        let file = match uploads::folder(&self.manager).open(&selected.name) {
            Ok(file) => file,
            Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", selected.name)),
        };
        // The size of what is read, even if the file was replaced since it was selected.
        let size = file.metadata().map_or(selected.size, |m| m.len()).max(1);
        let mut reader = std::io::BufReader::new(file);
        let mut line = Vec::new();
        let (mut position, mut sent) = (0u64, 0u64);
        let mut last = None;
        if !self.advance(&mut last, selected, 0, 0, 0.0) {
            return Outcome::Cancelled;
        }
        loop {
            line.clear();
            let n = match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", selected.name)),
            };
            position += n as u64;
            if is_command(&line) {
                sent += 1;
            }
            let fraction = (position.min(size) as f64) / size as f64;
            if !self.advance(&mut last, selected, sent, position, fraction) {
                return Outcome::Cancelled;
            }
        }
        if !self.advance(&mut last, selected, sent, position, 1.0) {
            return Outcome::Cancelled;
        }
        Outcome::Done
    }

    /// Waits for command number `sent` to be due (`false` when cancelled), then
    /// records the position under the same lock, so a pause never sees it
    /// move, and reports every whole percent passed.
    fn advance(
        &self,
        last: &mut Option<u8>,
        selected: &Selected,
        sent: u64,
        position: u64,
        fraction: f64,
    ) -> bool {
        {
            let Some(mut status) = self.wait_turn(sent) else {
                return false;
            };
            status.filepos = position;
            status.completion = Some(fraction * 100.0);
        }
        for percent in percents_passed(*last, fraction) {
            *last = Some(percent);
            self.progress.print("local", &selected.name, percent);
            self.push_current();
        }
        true
    }

    /// Waits until command number `sent` is due and the printer is printing
    /// (not paused); `None` when the job is cancelled meanwhile.
    fn wait_turn(&self, sent: u64) -> Option<std::sync::MutexGuard<'_, Status>> {
        let due = Duration::try_from_secs_f64(sent as f64 / self.rate).unwrap_or(Duration::MAX);
        let mut status = self.status.lock().unwrap();
        loop {
            match status.state {
                PrinterState::Cancelling | PrinterState::Operational => return None,
                PrinterState::Paused => status = self.changed.wait(status).unwrap(),
                PrinterState::Printing => {
                    let active = status.active(Instant::now());
                    if active >= due {
                        return Some(status);
                    }
                    status = self.changed.wait_timeout(status, due - active).unwrap().0;
                }
            }
        }
    }
}

/// Whether a G-code line is a command (not blank, not only a comment).
fn is_command(line: &[u8]) -> bool {
    let text = line.split(|b| *b == b';').next().unwrap_or_default();
    text.iter().any(|b| !b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::is_command;

    #[test]
    fn comments_and_blank_lines_are_not_commands() {
        assert!(is_command(b"G1 X1 Y2 E3\n"));
        assert!(is_command(b"  M104 S200 ; heat\n"));
        assert!(!is_command(b"; just a comment\n"));
        assert!(!is_command(b"   \r\n"));
        assert!(!is_command(b""));
    }
}
