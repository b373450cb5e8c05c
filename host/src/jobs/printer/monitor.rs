//! What the printer tells people as it goes: the terminal log (every line
//! sent and received), the temperature history, and the push channel's
//! `current` messages that carry both, at most every
//! [`PUSH_INTERVAL`] (OctoPrint's state monitor sends every half second).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plinth_abi::{json, Value};

/// How many terminal lines are kept (OctoPrint keeps 300).
pub const LOG_LINES: usize = 300;
/// How long temperatures are kept (OctoPrint: 30 minutes).
pub const HISTORY_SPAN: Duration = Duration::from_secs(30 * 60);
/// The most temperature samples kept, whatever their rate.
pub const HISTORY_SAMPLES: usize = 1000;
/// The least time between two `current` messages that only carry new log
/// lines or temperatures.
pub const PUSH_INTERVAL: Duration = Duration::from_millis(500);

/// One heater at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeaterReading {
    /// °C now.
    pub actual: f64,
    /// °C it is set to reach (`None` when the printer did not say).
    pub target: Option<f64>,
}

/// Every heater at one moment: `tool0`, `tool1`, …, `bed`, `chamber`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds since the epoch.
    pub time: u64,
    /// By OctoPrint's heater names.
    pub heaters: BTreeMap<String, HeaterReading>,
}

impl Sample {
    /// `{"time": …, "tool0": {"actual": …, "target": …}, …}`.
    pub fn to_json(&self) -> Value {
        let mut out = json!({"time": self.time});
        for (name, r) in &self.heaters {
            out[name] = json!({"actual": r.actual, "target": r.target});
        }
        out
    }
}

/// OctoPrint's heater name for a firmware sensor: `T0` → `tool0`, `B` →
/// `bed`, `C` → `chamber`; other sensors keep their name.
pub fn heater_name(sensor: &str) -> String {
    match sensor {
        "B" => "bed".to_owned(),
        "C" => "chamber".to_owned(),
        t if t.starts_with('T') => format!("tool{}", &t[1..]),
        other => other.to_owned(),
    }
}

/// The terminal log and the temperature history, with what was not pushed yet.
#[derive(Debug, Default)]
pub struct Monitor {
    log: VecDeque<String>,
    history: VecDeque<Sample>,
    unsent_logs: Vec<String>,
    /// Log lines left out of the next message because too many came at once.
    skipped_logs: usize,
    unsent_temps: Vec<Sample>,
}

impl Monitor {
    /// Adds a terminal line (`Send: …`, `Recv: …`, or a note of the host's).
    pub fn log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line.clone());
        if self.unsent_logs.len() == LOG_LINES {
            self.unsent_logs.remove(0);
            self.skipped_logs += 1;
        }
        self.unsent_logs.push(line);
    }

    /// Adds temperatures read now.
    pub fn temperatures(&mut self, heaters: BTreeMap<String, HeaterReading>) {
        let time = now_secs();
        let sample = Sample { time, heaters };
        while self.history.len() >= HISTORY_SAMPLES
            || self
                .history
                .front()
                .is_some_and(|s| s.time + HISTORY_SPAN.as_secs() < time)
        {
            self.history.pop_front();
        }
        self.history.push_back(sample.clone());
        self.unsent_temps.push(sample);
    }

    /// Takes a target sent to the printer into the last reading at once
    /// (as OctoPrint does on sending `M104`/`M140`/…), ahead of the
    /// printer's next report.
    pub fn set_target(&mut self, heater: &str, target: f64) {
        if let Some(reading) = self
            .history
            .back_mut()
            .and_then(|s| s.heaters.get_mut(heater))
        {
            reading.target = Some(target);
        }
    }

    /// The last temperatures read.
    pub fn last(&self) -> Option<&Sample> {
        self.history.back()
    }

    /// The temperature history, oldest first; the last `limit` samples if given.
    pub fn history(&self, limit: Option<usize>) -> Vec<Value> {
        let skip = limit.map_or(0, |l| self.history.len().saturating_sub(l));
        self.history
            .iter()
            .skip(skip)
            .map(Sample::to_json)
            .collect()
    }

    /// The terminal's last lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.log.iter().cloned().collect()
    }

    /// Whether log lines or temperatures wait to be pushed.
    pub fn has_unsent(&self) -> bool {
        !self.unsent_logs.is_empty() || !self.unsent_temps.is_empty()
    }

    /// Takes what waits to be pushed: `(logs, temps)`; a note leads the logs
    /// when lines were skipped.
    pub fn take_unsent(&mut self) -> (Vec<String>, Vec<Value>) {
        let mut logs = std::mem::take(&mut self.unsent_logs);
        if self.skipped_logs > 0 {
            logs.insert(
                0,
                format!("[{} more lines were sent and received]", self.skipped_logs),
            );
            self.skipped_logs = 0;
        }
        let temps = std::mem::take(&mut self.unsent_temps)
            .iter()
            .map(Sample::to_json)
            .collect();
        (logs, temps)
    }

    /// Forgets the temperature history (a new connection).
    pub fn clear_temperatures(&mut self) {
        self.history.clear();
        self.unsent_temps.clear();
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_its_last_lines_and_says_how_many_were_skipped() {
        let mut m = Monitor::default();
        for i in 0..LOG_LINES + 5 {
            m.log(format!("Send: {i}"));
        }
        assert_eq!(m.lines().len(), LOG_LINES);
        assert_eq!(m.lines()[0], "Send: 5");
        let (logs, temps) = m.take_unsent();
        assert_eq!(logs.len(), LOG_LINES + 1);
        assert_eq!(logs[0], "[5 more lines were sent and received]");
        assert!(temps.is_empty() && !m.has_unsent());
    }

    #[test]
    fn temperatures_become_octoprints_history() {
        let mut m = Monitor::default();
        let reading = |a| HeaterReading {
            actual: a,
            target: Some(200.0),
        };
        m.temperatures(BTreeMap::from([("tool0".to_owned(), reading(20.0))]));
        m.temperatures(BTreeMap::from([("tool0".to_owned(), reading(30.0))]));
        let history = m.history(Some(1));
        assert_eq!(history.len(), 1);
        assert_eq!(history[0]["tool0"]["actual"], 30.0);
        assert_eq!(history[0]["tool0"]["target"], 200.0);
        assert_eq!(m.history(None).len(), 2);
        assert_eq!(heater_name("T1"), "tool1");
        assert_eq!(heater_name("B"), "bed");
    }
}
