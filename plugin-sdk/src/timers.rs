//! Background work as OctoPrint plugins do it: `RepeatedTimer` and
//! `ResettableTimer`, owned by the plugin's [`Host`] handle and stopped
//! when the plugin is disabled or shut down (after
//! [`Plugin::on_plugin_disabled`](crate::Plugin::on_plugin_disabled) and
//! [`ShutdownPlugin::on_shutdown`](crate::ShutdownPlugin::on_shutdown)
//! return). Start them again in `on_plugin_enabled` or `on_after_startup`
//! if the plugin is enabled again.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::host::Host;

/// What a timer's thread waits on.
#[derive(Default)]
pub(crate) struct Control {
    state: Mutex<TimerState>,
    wake: Condvar,
}

#[derive(Default)]
struct TimerState {
    cancelled: bool,
    /// A resettable timer's new deadline.
    reset_to: Option<Instant>,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    fn cancel(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled = true;
        self.wake.notify_all();
    }

    fn is_cancelled(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancelled
    }

    /// Waits until `deadline` (or a reset's later one); `false` when cancelled.
    fn sleep_until(&self, mut deadline: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.cancelled {
                return false;
            }
            if let Some(next) = state.reset_to.take() {
                deadline = next;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn alive(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

/// The timers of one plugin's handle.
#[derive(Default)]
pub(crate) struct Timers(Mutex<Vec<Weak<Control>>>);

impl Timers {
    fn start(
        &self,
        name: String,
        body: impl FnOnce(Arc<Control>) + Send + 'static,
    ) -> Arc<Control> {
        let control = Arc::new(Control::default());
        let theirs = control.clone();
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || body(theirs));
        let mut list = self.0.lock().unwrap_or_else(|e| e.into_inner());
        list.retain(|w| w.strong_count() > 0);
        match spawned {
            Ok(thread) => {
                control
                    .state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .thread = Some(thread);
                list.push(Arc::downgrade(&control));
            }
            // No thread: the timer never runs, as a cancelled one.
            Err(_) => control.cancel(),
        }
        control
    }

    /// Cancels every timer and waits (at most `timeout` in all) for those
    /// running their function to return.
    pub(crate) fn stop_all(&self, timeout: Duration) {
        let controls: Vec<Arc<Control>> =
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
        for c in &controls {
            c.cancel();
        }
        let deadline = Instant::now() + timeout;
        for c in controls {
            let thread = c
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .thread
                .take();
            let Some(thread) = thread else { continue };
            if thread.thread().id() == std::thread::current().id() {
                continue;
            }
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// OctoPrint's `RepeatedTimer`: calls a function every interval, on a
/// thread of its own, until the function returns `false`, the timer is
/// cancelled, or the plugin is disabled. Dropping it does not stop it.
pub struct RepeatedTimer {
    control: Arc<Control>,
}

impl RepeatedTimer {
    /// Stops it: the function is not called again (a call running finishes).
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// Whether its thread still runs.
    pub fn is_alive(&self) -> bool {
        self.control.alive()
    }
}

/// OctoPrint's `ResettableTimer`: calls a function once, after a delay that
/// [`reset`](Self::reset) starts again, unless cancelled or the plugin is
/// disabled first.
pub struct ResettableTimer {
    control: Arc<Control>,
    delay: Duration,
}

impl ResettableTimer {
    /// Starts the delay again (with `delay` when given, else the timer's).
    pub fn reset(&self, delay: Option<Duration>) {
        let mut state = self.control.state.lock().unwrap_or_else(|e| e.into_inner());
        state.reset_to = Some(Instant::now() + delay.unwrap_or(self.delay));
        drop(state);
        self.control.wake.notify_all();
    }

    /// Stops it: the function is not called.
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// Whether it is still waiting or running.
    pub fn is_alive(&self) -> bool {
        self.control.alive()
    }
}

impl Host {
    /// Starts a [`RepeatedTimer`] calling `function` every `interval` (at
    /// once first when `run_first`); `function` returns whether to go on
    /// (OctoPrint's `condition`).
    pub fn repeated_timer(
        &self,
        interval: Duration,
        run_first: bool,
        mut function: impl FnMut() -> bool + Send + 'static,
    ) -> RepeatedTimer {
        let name = format!("{}-timer", self.identifier());
        let control = self.timers().start(name, move |control| {
            let mut next = if run_first {
                Instant::now()
            } else {
                Instant::now() + interval
            };
            while control.sleep_until(next) {
                if !function() || control.is_cancelled() {
                    break;
                }
                next = Instant::now() + interval;
            }
        });
        RepeatedTimer { control }
    }

    /// Starts a [`ResettableTimer`] calling `function` once after `delay`.
    pub fn resettable_timer(
        &self,
        delay: Duration,
        function: impl FnOnce() + Send + 'static,
    ) -> ResettableTimer {
        let name = format!("{}-timer", self.identifier());
        let control = self.timers().start(name, move |control| {
            if control.sleep_until(Instant::now() + delay) {
                function();
            }
        });
        ResettableTimer { control, delay }
    }
}
