//! The heating model and the firmware's repeated reports.

use std::time::Duration;

use super::FirmwareSettings;

/// One heater: its temperature follows a straight line from `from` (at
/// `since`) toward its goal, the target or, when off, the ambient temperature.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heater {
    pub(super) from: f64,
    pub(super) since: Duration,
    pub(super) target: f64,
}

impl Heater {
    pub(super) fn new(ambient: f64) -> Self {
        Self {
            from: ambient,
            since: Duration::ZERO,
            target: 0.0,
        }
    }

    /// Where the temperature goes and how fast (°C per second).
    pub(super) fn goal(&self, s: &FirmwareSettings) -> (f64, f64) {
        if self.target > 0.0 {
            (self.target, s.heating_rate.max(0.0))
        } else {
            (s.ambient, s.cooling_rate.max(0.0))
        }
    }

    pub(super) fn actual(&self, now: Duration, s: &FirmwareSettings) -> f64 {
        let (goal, rate) = self.goal(s);
        let step = rate * now.saturating_sub(self.since).as_secs_f64();
        if self.from < goal {
            (self.from + step).min(goal)
        } else {
            (self.from - step).max(goal)
        }
    }

    pub(super) fn set_target(&mut self, target: f64, now: Duration, s: &FirmwareSettings) {
        self.from = self.actual(now, s);
        self.since = now;
        self.target = target.max(0.0);
    }

    /// When a wait for the target, started at `now`, ends: once the heater is
    /// no more than the wait window below the target (or, `both_ways`, above
    /// it). `None` when there is nothing to wait for (already there, or the
    /// heater is off); [`Duration::MAX`] when it never gets there.
    pub(super) fn reached_at(
        &self,
        now: Duration,
        s: &FirmwareSettings,
        both_ways: bool,
    ) -> Option<Duration> {
        if self.target <= 0.0 {
            return None;
        }
        let actual = self.actual(now, s);
        let (low, high) = (self.target - s.wait_window, self.target + s.wait_window);
        let distance = if actual < low {
            low - actual
        } else if both_ways && actual > high {
            actual - high
        } else {
            return None;
        };
        let (_, rate) = self.goal(s);
        let seconds = Duration::try_from_secs_f64(distance / rate).unwrap_or(Duration::MAX);
        Some(now.saturating_add(seconds))
    }
}

/// Something the firmware sends every `interval`, next at `next`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Repeat {
    pub(super) interval: Duration,
    pub(super) next: Duration,
}

impl Repeat {
    /// The following occurrence; `None` past the end of time.
    pub(super) fn next(self) -> Option<Self> {
        Some(Self {
            next: self.next.checked_add(self.interval)?,
            ..self
        })
    }
}
