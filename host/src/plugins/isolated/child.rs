//! An isolated plugin's process as the host holds it: started from the
//! `plinth` binary in its runner mode, its channel served, its calls and
//! memory watched, and its end read as a [`Fault`] naming the call in flight.

use std::collections::HashMap;
use std::io::BufRead;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use plinth_abi::vtable::CallOutcome;

use super::in_flight::InFlight;
use super::lane::Lane;
use super::peer::{Handler, Peer};
use super::process::{cause_of, resident_mib, runner_program, SpawnError, RUNNER_COMMAND};
use crate::plugins::services::{HostServices, PluginContext};
use crate::plugins::transport::{Cause, Fault};

/// What an isolated plugin may use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// How long one call may take before the process is ended as hung
    /// (slicing runs as long as it needs).
    pub budget: Duration,
    /// The memory (resident) it may use, in MiB.
    pub memory_mib: u64,
}

/// Idle lanes kept per process; more are closed after their call.
const IDLE_LANES: usize = 8;
/// How long the host waits for a process's lane socket to appear.
const LANE_WAIT: Duration = Duration::from_secs(10);

/// Numbers plugin processes, so a loss is matched to its process.
static SERIAL: AtomicU64 = AtomicU64::new(1);

/// A running plugin process.
pub struct Connection {
    /// The plugin's identifier, for the log.
    pub id: String,
    /// Which process of the host's this is (never reused).
    pub serial: u64,
    /// The channel the process's own threads call the host on, and logs.
    peer: Arc<Peer>,
    /// The host's end of the channel, to close it (the process then ends).
    channel: UnixStream,
    /// The private folder of the process's lane socket (removed with it).
    lane_dir: tempfile::TempDir,
    /// Lanes not in use.
    lanes: Mutex<Vec<Arc<Lane>>>,
    /// Calls in flight on lanes, for the watch and for naming a crash.
    calls: Mutex<HashMap<u64, InFlight>>,
    next_call: AtomicU64,
    /// Calls still running then end the process (the host shuts down).
    deadline: Mutex<Option<Instant>>,
    /// The process, until it is reaped.
    child: Mutex<Option<Child>>,
    pid: u32,
    limits: Limits,
    /// The host's verdict when it ends the process itself (hang, memory).
    verdict: Mutex<Option<Cause>>,
    /// The host ends the process on purpose: not a fault.
    ending: AtomicBool,
    /// Set once the channel closed, with the fault if there was one.
    closed: (Mutex<Option<Option<Fault>>>, Condvar),
    /// What answers the plugin's service calls, once it has an object.
    pub(super) context: OnceLock<Arc<PluginContext>>,
    /// Told when the process is lost.
    services: Weak<dyn HostServices>,
    /// The call its crash handler named (the faulting thread's), once read.
    crashed_in: Mutex<Option<String>>,
    /// Reads its standard error until the process ends.
    stderr: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Serves the plugin's calls to the host.
/// With the lane call it serves for (its clock stops while the host works).
struct Served(Weak<Connection>, Option<u64>);

impl Handler for Served {
    fn call(&self, code: u32, body: Vec<u8>) -> CallOutcome {
        let Some(connection) = self.0.upgrade() else {
            return CallOutcome::Error("the host has no context for this plugin".into());
        };
        let Some(context) = connection.context.get().cloned() else {
            return CallOutcome::Error("the host has no context for this plugin yet".into());
        };
        connection.clock(self.1, true);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| context.serve(code, &body)))
                .unwrap_or_else(|_| {
                    CallOutcome::Error("the host failed while serving this call".into())
                });
        connection.clock(self.1, false);
        outcome
    }

    fn progress(&self, method: u32, args: &[u8]) {
        if let (Some(connection), Some(call)) = (self.0.upgrade(), self.1) {
            if let Some(c) = connection.calls.lock().unwrap().get_mut(&call) {
                *c = InFlight::new(method, args);
            }
        }
    }

    fn log(&self, level: u8, message: &str) {
        let Some(connection) = self.0.upgrade() else {
            return;
        };
        match connection.context.get() {
            Some(context) => context.log(level, message),
            None => tracing::info!(target: "plugin", plugin = %connection.id, "{message}"),
        }
    }
}

impl Connection {
    /// Starts the runner for the library at `library`, plugin `id`.
    pub fn spawn(
        id: &str,
        library: &Path,
        limits: Limits,
        services: Weak<dyn HostServices>,
    ) -> Result<Arc<Self>, SpawnError> {
        let program = runner_program()?;
        let start = |error| SpawnError::Start {
            program: program.clone(),
            error,
        };
        let (ours, theirs) = UnixStream::pair().map_err(start)?;
        let lane_dir = tempfile::Builder::new()
            .prefix("plinth-")
            .tempdir()
            .map_err(start)?;
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(&program)
            // A group of its own: ending it ends what the plugin started too.
            .process_group(0)
            .arg(RUNNER_COMMAND)
            .arg(library)
            .arg("--id")
            .arg(id)
            .arg("--lanes")
            .arg(lane_dir.path().join("lanes"))
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("PLINTH_BASEDIR")
            .spawn()
            .map_err(start)?;
        let stderr = child.stderr.take();
        // The system's out-of-memory killer picks a plugin before the host.
        let _ = std::fs::write(format!("/proc/{}/oom_score_adj", child.id()), "1000");
        let (writer, channel) = match ours.try_clone().and_then(|w| Ok((w, ours.try_clone()?))) {
            Ok(pair) => pair,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(start(e));
            }
        };
        let connection = Arc::new(Self {
            id: id.to_owned(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            peer: Peer::new(writer),
            channel,
            lane_dir,
            lanes: Mutex::default(),
            calls: Mutex::default(),
            next_call: AtomicU64::new(1),
            pid: child.id(),
            child: Mutex::new(Some(child)),
            deadline: Mutex::new(None),
            limits,
            verdict: Mutex::new(None),
            ending: AtomicBool::new(false),
            closed: Default::default(),
            context: OnceLock::new(),
            services,
            crashed_in: Mutex::new(None),
            stderr: Mutex::new(None),
        });
        if let Some(stderr) = stderr {
            let reading = Arc::downgrade(&connection);
            let id = id.to_owned();
            let handle = std::thread::Builder::new()
                .name("plugin-stderr".into())
                .spawn(move || {
                    for line in std::io::BufReader::new(stderr)
                        .lines()
                        .map_while(Result::ok)
                    {
                        match crate::plugins::crashes::parse_record(&line) {
                            // Outside any call: the oldest call in flight names it.
                            Some(record) if record.plugin.is_empty() => {}
                            Some(record) => {
                                if let Some(c) = reading.upgrade() {
                                    *c.crashed_in.lock().unwrap() = Some(record.call);
                                }
                            }
                            None => tracing::warn!(target: "plugin", plugin = %id, "{line}"),
                        }
                    }
                });
            match handle {
                Ok(handle) => *connection.stderr.lock().unwrap() = Some(handle),
                Err(e) => return Err(connection.abandon(start(e))),
            }
        }
        let reader = connection.clone();
        let spawned = std::thread::Builder::new()
            .name("plugin-channel".into())
            .spawn(move || reader.serve(ours));
        if let Err(e) = spawned {
            return Err(connection.abandon(start(e)));
        }
        supervise(&connection);
        Ok(connection)
    }

    /// Ends and reaps a process that could not be set up; `error` says why.
    fn abandon(&self, error: SpawnError) -> SpawnError {
        self.going();
        self.kill();
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.wait();
        }
        error
    }

    /// Calls `code` on a lane of its own (the calling thread reads the
    /// answer, serving what the plugin calls back on the way); the fault
    /// when the process ended first.
    pub fn call(self: &Arc<Self>, code: u32, body: &[u8]) -> Result<CallOutcome, Fault> {
        // Called while serving one of this plugin's callbacks: the call
        // nests on that lane and runs on the plugin's thread that waits
        // there, as it would in process.
        let nested = Lane::serving_for(self.serial);
        let pooled = nested.is_none();
        let lane = match nested {
            Some(lane) => lane,
            None => match self.take_lane() {
                Ok(lane) => lane,
                Err(Some(fault)) => return Err(fault),
                Err(None) => return Ok(lane_lost()),
            },
        };
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.calls
            .lock()
            .unwrap()
            .insert(call, InFlight::new(code, body));
        let outcome = lane.call(code, body, &Served(Arc::downgrade(self), Some(call)));
        // Only a lane that answered is used again.
        let reusable = outcome.is_ok() && pooled;
        // A call cut short stays listed until the fault is settled: it may be
        // the one that brought the process down.
        let outcome = match outcome {
            Ok(outcome) => Ok(outcome),
            Err(_) => match self.fault_after_loss(InFlight::new(code, body)) {
                Some(fault) => Err(fault),
                None => Ok(lane_lost()),
            },
        };
        self.calls.lock().unwrap().remove(&call);
        if reusable {
            let mut lanes = self.lanes.lock().unwrap();
            if lanes.len() < IDLE_LANES {
                lanes.push(lane);
            }
        }
        outcome
    }

    /// An idle lane, or a new one; the fault when the process is gone,
    /// `None` when it lives but takes no lane.
    fn take_lane(&self) -> Result<Arc<Lane>, Option<Fault>> {
        if let Some(lane) = self.lanes.lock().unwrap().pop() {
            return Ok(lane);
        }
        let path = self.lane_dir.path().join("lanes");
        let deadline = Instant::now() + LANE_WAIT;
        loop {
            match UnixStream::connect(&path) {
                Ok(stream) => return Lane::new(stream, self.serial).map_err(|_| None),
                // The process has not bound its socket yet.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) && Instant::now() < deadline
                        && !self.is_closed() =>
                {
                    std::thread::sleep(Duration::from_micros(200))
                }
                Err(_) => return Err(self.fault_after_loss(InFlight::new(0, b""))),
            }
        }
    }

    /// Why a lane broke: the process's fault once the channel closed (the
    /// watch or the reader settles it); `None` when the process lives on
    /// (it dropped that lane only).
    fn fault_after_loss(&self, call: InFlight) -> Option<Fault> {
        match self.wait_closed(Duration::from_secs(2)) {
            Some(Some(fault)) => Some(fault.clone()),
            Some(None) => Some(Fault::gone(Some(call.describe()))),
            None => None,
        }
    }

    /// Calls still running at `deadline` end the process.
    pub fn end_calls_by(&self, deadline: Instant) {
        *self.deadline.lock().unwrap() = Some(deadline);
    }

    /// The deadline of [`end_calls_by`](Self::end_calls_by), if one is set.
    pub fn calls_deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap()
    }

    /// Stops (`paused`) or restarts the clock of lane call `call` while the
    /// host serves one of the plugin's calls.
    fn clock(&self, call: Option<u64>, paused: bool) {
        let Some(call) = call else { return };
        if let Some(c) = self.calls.lock().unwrap().get_mut(&call) {
            c.pause(paused);
        }
    }

    /// The oldest call in flight.
    fn oldest(&self) -> Option<InFlight> {
        let calls = self.calls.lock().unwrap();
        calls.values().min_by_key(|c| c.since).cloned()
    }

    /// Reads the channel until it closes, then settles what happened.
    fn serve(self: Arc<Self>, ours: UnixStream) {
        let handler = Arc::new(Served(Arc::downgrade(&self), None));
        if let Err(e) = self.peer.serve(ours, handler) {
            tracing::debug!(plugin = %self.id, "channel broken: {e}");
        }
        let oldest = self.oldest().map(|c| c.describe());
        let status = self.reap();
        // The crash handler's record (on standard error) names the faulting
        // thread's call; read it to the end first.
        if let Some(stderr) = self.stderr.lock().unwrap().take() {
            let deadline = Instant::now() + Duration::from_secs(1);
            while !stderr.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let during = self.crashed_in.lock().unwrap().take().or(oldest);
        let ending = self.ending.load(Ordering::SeqCst);
        let verdict = self.verdict.lock().unwrap().take();
        let cause = verdict.unwrap_or_else(|| match status {
            Some(status) => cause_of(status),
            None => Cause::Gone,
        });
        let fault = Fault { cause, during };
        // Counted and announced before the calls waiting learn of it.
        if !ending {
            tracing::error!(plugin = %self.id, pid = self.pid, "plugin process lost: {fault}");
            if let Some(services) = self.services.upgrade() {
                services.plugin_lost(&self.id, self.serial, fault.clone());
            }
        }
        self.peer.fail_all(fault.clone());
        // Its lane socket goes with it.
        let _ = std::fs::remove_dir_all(self.lane_dir.path());
        *self.closed.0.lock().unwrap() = Some((!ending).then_some(fault));
        self.closed.1.notify_all();
    }

    /// Waits for the process to end (it closed its channel, so it ends now),
    /// ending it after a moment if it does not.
    fn reap(&self) -> Option<ExitStatus> {
        let mut slot = self.child.lock().unwrap();
        let child = slot.as_mut()?;
        // What the plugin started dies with it, while the group's leader
        // (unreaped) still holds the group's number.
        crate::plugins::ffi::kill_group(self.pid);
        let deadline = Instant::now() + Duration::from_secs(2);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => {
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Err(_) => break None,
            }
        };
        *slot = None;
        status
    }

    /// Ends the process now with `cause` as the host's verdict (a hang, the
    /// memory limit); the channel then closes and the fault is reported.
    pub fn end_for(&self, cause: Cause) {
        {
            let mut verdict = self.verdict.lock().unwrap();
            if verdict.is_some() || self.is_closed() {
                return;
            }
            *verdict = Some(cause);
        }
        self.kill();
    }

    /// Kills the process and everything it started (its process group),
    /// unless it was already reaped (its number may be another's by now).
    fn kill(&self) {
        if let Some(child) = self.child.lock().unwrap().as_mut() {
            let _ = child.kill();
            crate::plugins::ffi::kill_group(self.pid);
        }
    }

    /// The host is about to end the process on purpose: its end is not a fault.
    pub fn going(&self) {
        self.ending.store(true, Ordering::SeqCst);
    }

    /// Ends the process on purpose (the plugin is dropped): no fault is
    /// reported. Closing its channel ends it (the runner exits, the reader
    /// reaps it and ends its group); waits at most `grace` for that, then
    /// kills it.
    pub fn end(&self, grace: Duration) {
        self.going();
        // The process ends when its channel closes.
        let _ = self.channel.shutdown(std::net::Shutdown::Both);
        self.wait_closed(grace);
        self.kill();
    }

    /// Waits at most `limit` for the channel to close: then whether the
    /// end was a fault (`Some(Some(_))`) or on purpose (`Some(None)`);
    /// `None` while it is open.
    fn wait_closed(&self, limit: Duration) -> Option<Option<Fault>> {
        let deadline = Instant::now() + limit;
        let mut closed = self.closed.0.lock().unwrap();
        while closed.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            closed = self.closed.1.wait_timeout(closed, left).unwrap().0;
        }
        closed.clone()
    }

    /// Whether the channel closed.
    pub fn is_closed(&self) -> bool {
        self.closed.0.lock().unwrap().is_some()
    }

    /// Checks the calls in flight against the budget and the memory against
    /// the limit; ends the process when one is past.
    fn check(&self, memory: bool) {
        use plinth_abi::methods::plugin as m;
        use plinth_abi::Method;
        // Being reaped or reaped: its number may be another process's by now.
        match self.child.try_lock() {
            Ok(child) if child.is_some() => {}
            _ => return,
        }
        let exempt = [m::DoSlice::ID, super::frame::control::DROP];
        let overdue = self
            .calls
            .lock()
            .unwrap()
            .values()
            .filter(|c| !exempt.contains(&c.code) && c.spent() > self.limits.budget)
            .max_by_key(|c| c.spent())
            .cloned();
        if let Some(call) = overdue {
            let seconds = self.limits.budget.as_secs_f64();
            tracing::error!(plugin = %self.id, "{} ran past its budget of {seconds} s; ending the plugin's process", call.describe());
            self.end_for(Cause::Hung { seconds });
            return;
        }
        // Shutting down: what still runs at the deadline ends with its process.
        let past_deadline = self
            .deadline
            .lock()
            .unwrap()
            .is_some_and(|d| Instant::now() >= d);
        let running = past_deadline
            .then(|| {
                self.calls
                    .lock()
                    .unwrap()
                    .values()
                    .min_by_key(|c| c.since)
                    .cloned()
            })
            .flatten();
        if let Some(call) = running {
            let seconds = (call.since.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            tracing::warn!(plugin = %self.id, "{} still runs at the end of shutdown; ending the plugin's process", call.describe());
            self.end_for(Cause::Hung { seconds });
            return;
        }
        if let Some(used) = resident_mib(self.pid).filter(|_| memory) {
            if used > self.limits.memory_mib {
                self.end_for(Cause::Memory {
                    used_mib: used,
                    limit_mib: self.limits.memory_mib,
                });
            }
        }
    }
}

/// The answer to a call whose lane the plugin's process dropped while it
/// lives on (it could not take the lane: no thread, no file descriptor).
fn lane_lost() -> CallOutcome {
    CallOutcome::Error("the plugin's process dropped this call (it could not serve another)".into())
}

/// Every plugin process watched, by one thread for all.
static WATCHED: Mutex<Vec<Weak<Connection>>> = Mutex::new(Vec::new());
/// How often calls and memory are checked.
const WATCH_EVERY: Duration = Duration::from_millis(100);

fn supervise(connection: &Arc<Connection>) {
    let mut watched = WATCHED.lock().unwrap();
    let first = watched.is_empty();
    watched.push(Arc::downgrade(connection));
    if first {
        let spawned = std::thread::Builder::new()
            .name("plugin-watch".into())
            .spawn(watch);
        if let Err(e) = spawned {
            // Calls are then not timed and memory not watched; crashes still are.
            watched.clear();
            tracing::error!("no thread to watch plugin processes: {e}");
        }
    }
}

/// Memory is checked every this many rounds.
const MEMORY_EVERY: u32 = 2;

fn watch() {
    for round in 1u32.. {
        std::thread::sleep(WATCH_EVERY);
        let live: Vec<Arc<Connection>> = {
            let mut watched = WATCHED.lock().unwrap();
            watched.retain(|w| w.upgrade().is_some_and(|c| !c.is_closed()));
            if watched.is_empty() {
                return;
            }
            watched.iter().filter_map(Weak::upgrade).collect()
        };
        for connection in live {
            connection.check(round % MEMORY_EVERY == 0);
        }
    }
}
