//! Start-up and shutdown of every plugin, in OctoPrint's order: load and
//! enable all (each phase timed at debug),
//! `on_startup` (sorted), the `Startup` event, `on_after_startup` (sorted);
//! and at the end the `Shutdown` event, `on_shutdown` (sorted), then every
//! plugin object dropped, within one time limit.

use plinth_abi::events;
use std::time::{Duration, Instant};

use plinth_abi::methods::plugin as m;
use plinth_abi::{Mixin, Value};

use crate::plugins::manager::{drop_when_unique_by, Phase, PluginManager, State, CALL_DRAIN};
use crate::plugins::sorting::Context;
use crate::plugins::state::Stage;

/// The plugin step start-up is at, written into the start-up marker: a
/// start-up that never finishes (the host killed while a plugin hangs in
/// it) is attributed to that plugin at the next start (see
/// [`crate::plugins::crashes::attribute_unfinished_startup`]). Nothing is
/// synced: after a power cut the marker may be gone or name an earlier step.
/// A step that cannot be written ends the noting of steps, the marker put
/// back (if it can be) to naming no plugin, so no plugin is blamed for
/// another's step.
///
/// Each step is one write at the start of the file, padded with spaces to
/// the length written before (no truncation: a thousand plugins make
/// thousands of steps); the padding is a line the reader skips.
#[derive(Default)]
pub(crate) struct Steps(std::sync::Mutex<Option<(std::fs::File, usize)>>);

impl Steps {
    /// Starts writing steps into `marker`, if it exists (a server's start).
    fn open(&self, marker: &std::path::Path) {
        let file = std::fs::OpenOptions::new().write(true).open(marker).ok();
        let len = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len() as usize);
        *self.0.lock().unwrap() = file.map(|f| (f, len));
    }

    /// Plugin `id` is at `step` now.
    pub(crate) fn mark(&self, id: &str, step: &str) {
        self.write(&format!("{MARKER_TEXT}{STEP_TAG}\t{id}\t{step}\n"));
    }

    /// The plugin's step is over: start-up is in the host's hands.
    pub(crate) fn done(&self) {
        self.write(MARKER_TEXT);
    }

    fn write(&self, text: &str) {
        let mut marker = self.0.lock().unwrap();
        let Some((file, len)) = marker.as_mut() else {
            return;
        };
        match overwrite_start(file, text, *len) {
            Ok(written) => *len = written,
            Err(e) => {
                tracing::warn!("cannot note the start-up step ({e}); no more steps are noted");
                if let Some((file, len)) = marker.take() {
                    let _ = overwrite_start(&file, MARKER_TEXT, len);
                }
            }
        }
    }

    /// Start-up finished: no more steps.
    fn close(&self) {
        self.0.lock().unwrap().take();
    }
}

/// Writes `text` at the start of `file`, padded with spaces to the `len`
/// written before; the length now written. One positioned write on Unix:
/// a thousand plugins make thousands.
fn overwrite_start(file: &std::fs::File, text: &str, len: usize) -> std::io::Result<usize> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(bytes.len().max(len), b' ');
    #[cfg(unix)]
    std::os::unix::fs::FileExt::write_all_at(file, &bytes, 0)?;
    #[cfg(not(unix))]
    {
        use std::io::{Seek, Write};
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(&bytes)?;
    }
    Ok(bytes.len())
}

/// What the start-up marker says before any plugin step.
pub(crate) const MARKER_TEXT: &str = "start-up began; removed once it finished\n";
/// How a plugin step starts in the marker: `STEP<TAB>plugin<TAB>step`.
pub(crate) const STEP_TAG: &str = "STEP";

/// How long the `Shutdown` event may take to reach every handler before
/// `on_shutdown` runs.
const SHUTDOWN_EVENT_WAIT: Duration = Duration::from_secs(2);

impl PluginManager {
    /// Loads the library of every plugin that is to be enabled. Refusals mark
    /// the plugin `failed` or `incompatible`; the others are untouched.
    pub fn load_all(&self) {
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.each_enabled(
            |stage| matches!(stage, Stage::Listed),
            "loading",
            |id| {
                let _ = self.load(id);
            },
        );
        self.shared.scan.save();
    }

    /// Loads and enables every plugin that is to be enabled, in discovery order.
    pub fn enable_all(&self) {
        self.load_all();
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.each_enabled(
            |stage| matches!(stage, Stage::Loaded(_)),
            "enabling",
            |id| {
                self.enable(id);
            },
        );
    }

    /// Runs `act` for every enabled plugin whose stage `at` accepts, in
    /// discovery order, each as start-up step `step` in the marker; logs
    /// (debug) how long they took together.
    fn each_enabled(&self, at: fn(&Stage) -> bool, step: &str, mut act: impl FnMut(&str)) {
        let todo = self
            .shared
            .records
            .read()
            .unwrap()
            .ids(|r| r.state == State::Enabled && at(&r.stage));
        let (count, began) = (todo.len(), Instant::now());
        // Each plugin's step stands until the next one's: what the host does
        // in between is the bookkeeping of the plugin just handled.
        for id in todo {
            self.shared.steps.mark(&id, step);
            act(&id);
        }
        self.shared.steps.done();
        tracing::debug!(
            "{step}: {count} plugins in {:.1} ms",
            began.elapsed().as_secs_f64() * 1e3
        );
    }

    /// Runs start-up: `on_startup(host, port)` in sorted order, the `Startup`
    /// event (releasing the events held back so far), then `on_after_startup`.
    /// A server calls [`startup`](Self::startup) before it accepts and
    /// [`after_startup`](Self::after_startup) once it does.
    pub fn start(&self, host: &str, port: u16) {
        self.startup(host, port);
        self.after_startup();
    }

    /// The first half of [`start`](Self::start): enables every plugin and runs
    /// `on_startup(host, port)`; the server is not accepting yet.
    pub fn startup(&self, host: &str, port: u16) {
        // No one is served yet: the config file is looked at once, not at
        // each of the thousands of reads enabling makes.
        let _held = self.shared.config.hold();
        self.shared.steps.open(&self.shared.paths.startup_marker());
        self.enable_all();
        self.report_unused();
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.detect_environment();
        for (id, object) in self.implementations(Mixin::Startup, Some(Context::OnStartup)) {
            self.shared.steps.mark(&id, "on_startup");
            if let Err(e) = object.call::<m::OnStartup>(&(host.to_owned(), port)) {
                self.mark_failed(&id, format!("on_startup: {e}"));
            }
            self.shared.steps.done();
        }
        *self.shared.phase.lock().unwrap() = Phase::Started {
            host: host.to_owned(),
            port,
        };
    }

    /// The second half of [`start`](Self::start), once the server accepts: the
    /// `Startup` event (releasing the events held back), then `on_after_startup`.
    pub fn after_startup(&self) {
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.shared.events.release_with_startup();
        for (id, object) in self.implementations(Mixin::Startup, Some(Context::OnAfterStartup)) {
            self.shared.steps.mark(&id, "on_after_startup");
            if let Err(e) = object.call::<m::OnAfterStartup>(&()) {
                self.mark_failed(&id, format!("on_after_startup: {e}"));
            }
            self.shared.steps.done();
        }
        self.shared.steps.close();
    }

    /// Gives a plugin enabled after start-up its `on_startup` and `on_after_startup`.
    pub(crate) fn start_late(&self, id: &str) {
        let (host, port) = match &*self.shared.phase.lock().unwrap() {
            Phase::Started { host, port } => (host.clone(), *port),
            _ => return,
        };
        let object = self
            .with(id, |r| {
                r.has_mixin(Mixin::Startup)
                    .then(|| r.object().cloned())
                    .flatten()
            })
            .flatten();
        let Some(object) = object else { return };
        if let Err(e) = object.call::<m::OnStartup>(&(host, port)) {
            self.mark_failed(id, format!("on_startup: {e}"));
        } else if let Err(e) = object.call::<m::OnAfterStartup>(&()) {
            self.mark_failed(id, format!("on_after_startup: {e}"));
        }
    }

    /// Detects the environment (once) and tells every EnvironmentDetection plugin.
    fn detect_environment(&self) {
        let environment = self
            .shared
            .environment
            .get_or_init(crate::server::environment::detect);
        for (id, object) in self.implementations(Mixin::EnvironmentDetection, None) {
            self.shared.steps.mark(&id, "on_environment_detected");
            if let Err(e) = object.call::<m::OnEnvironmentDetected>(environment) {
                tracing::error!(plugin = %id, "on_environment_detected: {e}");
            }
            self.shared.steps.done();
        }
    }

    /// The environment detected at start-up (`None` before start-up).
    pub fn environment(&self) -> Option<&Value> {
        self.shared.environment.get()
    }

    /// Logs every plugin that does not run, and why.
    fn report_unused(&self) {
        // Gathered first: the log may be a slow pipe, and the records wait for no one.
        let unused: Vec<(String, State, String)> = {
            let records = self.shared.records.read().unwrap();
            records
                .all()
                .filter(|r| r.state != State::Enabled)
                .map(|r| {
                    (
                        r.found.id.clone(),
                        r.state,
                        r.error.clone().unwrap_or_default(),
                    )
                })
                .collect()
        };
        for (id, state, why) in unused {
            match state {
                State::Failed | State::Incompatible => {
                    tracing::warn!(plugin = %id, "not loaded ({}): {why}", state.as_str())
                }
                state => tracing::info!(plugin = %id, "not loaded ({}) {why}", state.as_str()),
            }
        }
    }

    /// Shuts down: the `Shutdown` event, `on_shutdown` in sorted order, then
    /// every plugin object is dropped.
    pub fn shutdown(&self) {
        self.shutdown_within(CALL_DRAIN);
    }

    /// [`shutdown`](Self::shutdown), waiting for calls still running in
    /// plugins (and event deliveries) until `limit` from now at most, all
    /// together. (A callback that never returns holds up only its own caller.)
    pub fn shutdown_within(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let left = || deadline.saturating_duration_since(Instant::now());
        let _guard = self.shared.lifecycle.lock().unwrap();
        *self.shared.phase.lock().unwrap() = Phase::ShuttingDown;
        // An isolated plugin's call still running at the deadline (its
        // on_shutdown, say) ends with its process: shutdown never waits past it.
        for object in self
            .shared
            .records
            .read()
            .unwrap()
            .iter()
            .filter_map(|r| r.object())
        {
            object.end_calls_by(deadline);
        }
        self.shared.events.fire(events::SHUTDOWN, &Value::Null);
        self.shared.events.flush(SHUTDOWN_EVENT_WAIT.min(left()));
        for (id, object) in self.implementations(Mixin::Shutdown, Some(Context::OnShutdown)) {
            if let Err(e) = object.call::<m::OnShutdown>(&()) {
                self.mark_failed(&id, format!("on_shutdown: {e}"));
            }
        }
        let (objects, contexts): (Vec<_>, Vec<_>) = {
            let mut records = self.shared.records_mut();
            records.iter_mut().filter_map(|r| r.take_object()).unzip()
        };
        for object in &objects {
            object.close();
        }
        for object in &objects {
            object.wait_idle(deadline);
        }
        // The event threads get a moment even when the calls used up the time.
        self.shared
            .events
            .stop(left().max(Duration::from_millis(200)));
        // In order; an isolated plugin's drop is bounded by the deadline too.
        for object in objects {
            drop_when_unique_by(object, deadline);
        }
        // What the plugins left running can no longer act through the host.
        contexts.iter().for_each(|c| c.close());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_cannot_be_written_ends_the_steps() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        std::fs::write(&marker, MARKER_TEXT).unwrap();
        let steps = Steps::default();
        steps.open(&marker);
        steps.mark("first", "loading");
        let text = std::fs::read_to_string(&marker).unwrap();
        assert!(text.contains("STEP\tfirst\tloading"), "{text:?}");
        // The file handle can no longer write: the next step fails, the
        // marker names no plugin (here it cannot be put back either, and
        // still names the first) and no more steps are tried.
        let read_only = std::fs::File::open(&marker).unwrap();
        steps.0.lock().unwrap().as_mut().unwrap().0 = read_only;
        steps.mark("second", "loading");
        assert!(steps.0.lock().unwrap().is_none(), "steps stopped");
        let text = std::fs::read_to_string(&marker).unwrap();
        assert!(!text.contains("second"), "{text:?}");
    }
}
