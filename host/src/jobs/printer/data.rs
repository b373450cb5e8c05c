//! What the printer tells: its current data (OctoPrint's
//! `get_current_data`), the job, temperatures and their history, the
//! terminal's lines, and the push channel's `current` messages.

use std::time::{Instant, UNIX_EPOCH};

use plinth_abi::{json, Value};

use super::{monitor, JobError, Printer, PrinterState};
use crate::jobs::uploads;

impl Printer {
    /// Every heater's last reading with its offset:
    /// `{"tool0": {"actual", "target", "offset"}, "bed": …}`.
    pub fn current_temperatures(&self) -> Value {
        let status = self.lock();
        let mut out = json!({});
        if let Some(last) = status.monitor.last() {
            for (name, r) in &last.heaters {
                out[name] = json!({
                    "actual": r.actual,
                    "target": r.target,
                    "offset": status.offsets.get(name).copied().unwrap_or(0.0),
                });
            }
        }
        out
    }

    /// The temperature history, oldest first (the last `limit` samples).
    pub fn temperature_history(&self, limit: Option<usize>) -> Vec<Value> {
        self.lock().monitor.history(limit)
    }

    /// The terminal's last lines, oldest first.
    pub fn log_lines(&self) -> Vec<String> {
        self.lock().monitor.lines()
    }

    /// Adds lines to the terminal log (OctoPrint's `log_lines`); refused
    /// when one holds a line break.
    pub fn add_log_lines(&self, lines: &[String]) -> Result<(), JobError> {
        if let Some(bad) = lines.iter().find(|l| l.contains(['\n', '\r'])) {
            return Err(JobError::Invalid(format!(
                "the log line {bad:?} holds a line break: one line per entry"
            )));
        }
        let mut status = self.lock();
        for line in lines {
            status.monitor.log(line.clone());
        }
        Ok(())
    }

    /// What `GET /api/job` answers.
    pub fn job(&self) -> Value {
        self.snapshot().0
    }

    /// OctoPrint's `get_current_data()`: state, job, progress, current Z,
    /// offsets, resends.
    pub fn current_data(&self) -> Value {
        let (job, state) = self.snapshot();
        let status = self.lock();
        let (count, transmitted) = status.resends;
        json!({
            "state": {"text": state.text(), "flags": state.flags(), "error": status.error},
            "job": job["job"],
            "progress": job["progress"],
            "currentZ": status.position.z,
            "offsets": status.offsets,
            "resends": {
                "count": count,
                "transmitted": transmitted,
                "ratio": (count * 100).checked_div(transmitted).unwrap_or(0),
            },
        })
    }

    /// The job and the state, read at one moment (the analysis is read
    /// from disk after the lock is released).
    pub(super) fn snapshot(&self) -> (Value, PrinterState) {
        let status = self.lock();
        let now = Instant::now();
        let file = status.selected.as_ref().map_or_else(
            || json!({"name": null, "path": null, "display": null, "origin": null, "size": null, "date": null}),
            |s| {
                let name = s.name.rsplit('/').next().unwrap_or(&s.name);
                json!({"name": name, "path": s.name, "display": name, "origin": "local", "size": s.size, "date": s.date})
            },
        );
        let name = status.selected.as_ref().map(|s| s.name.clone());
        let clock = &status.clock;
        let time = (clock.started.is_some() || clock.last_time.is_some())
            .then(|| clock.active(now).as_secs_f64());
        let left = match (time, status.completion) {
            (Some(t), Some(c)) if c > 0.0 && clock.started.is_some() => Some(t * (100.0 - c) / c),
            _ => None,
        };
        let state = status.state;
        let (completion, filepos, error, user) = (
            status.completion,
            status.selected.as_ref().map(|_| status.filepos),
            status.error.clone(),
            status.user.clone(),
        );
        drop(status);
        let metadata = name.map(|n| uploads::folder(&self.manager).file_metadata(&n));
        let analysis = metadata.as_ref().and_then(|m| m.get("analysis"));
        // Successful prints of this file on this printer profile.
        let profile = self.profile();
        let statistic = |key: &str| {
            metadata
                .as_ref()
                .and_then(|m| m.get("statistics"))
                .and_then(|s| s[key].get(profile.id()).cloned())
        };
        let job = json!({
            "job": {
                "file": file,
                "estimatedPrintTime": analysis.and_then(|a| a.get("estimatedPrintTime").cloned()),
                "averagePrintTime": statistic("averagePrintTime"),
                "lastPrintTime": statistic("lastPrintTime"),
                "filament": analysis.and_then(|a| a.get("filament").cloned()),
                "user": user,
            },
            "progress": {
                "completion": completion,
                "filepos": filepos,
                // Whole seconds, as OctoPrint.
                "printTime": time.map(|t| t as u64),
                "printTimeLeft": left.map(|t| t as u64),
                "printTimeLeftOrigin": left.map(|_| "linear"),
            },
            "state": state.text(),
            "error": error,
        });
        (job, state)
    }

    /// Sends `{"current": …}` to the push channel now, with the log lines
    /// and temperatures not sent yet.
    pub(super) fn push_current(&self) {
        let data = self.current_data();
        let (logs, temps) = {
            let mut status = self.lock();
            status.last_push = Some(Instant::now());
            status.monitor.take_unsent()
        };
        let mut current = data;
        current["logs"] = json!(logs);
        current["temps"] = json!(temps);
        current["messages"] = json!([]);
        current["busyFiles"] = json!([]);
        current["serverTime"] = json!(std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()));
        self.callbacks.send(&self.manager, &current);
        self.manager.push(&json!({ "current": current }));
    }

    /// Pushes when log lines or temperatures wait and the last push is
    /// [`monitor::PUSH_INTERVAL`] old.
    pub(super) fn push_if_due(&self) {
        let due = {
            let status = self.lock();
            status.monitor.has_unsent()
                && status
                    .last_push
                    .is_none_or(|at| at.elapsed() >= monitor::PUSH_INTERVAL)
        };
        if due {
            self.push_current();
        }
    }
}
