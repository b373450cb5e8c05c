//! The printer: a connection to a G-code device (the built-in virtual
//! printer, [`crate::jobs::firmware`]) with OctoPrint's states, send queue,
//! G-code hooks, terminal log, temperature history and job control.
//!
//! - [`Printer`] is the interface the REST API and plugins use (OctoPrint's
//!   `PrinterInterface`): it checks each request against the state, answers
//!   at once, and hands the work to the connection's thread ([`comm`]).
//! - Every line to the printer, typed by a person, sent by a plugin or read
//!   from the file being printed, passes the send queue and the G-code hooks
//!   (`queuing`, `queued`, `sending`, `sent`); every line from the printer
//!   passes the `received` hook, then is read ([`replies`]).
//! - Progress is the file position (as OctoPrint's): every whole percent
//!   goes, in order, to every ProgressPlugin's `on_print_progress`.
//! - The push channel gets `{"current": …}` with the state, job, progress,
//!   temperatures and terminal lines ([`monitor`]).

mod callbacks;
mod comm;
pub mod command;
mod hooks;
pub mod job;
pub mod monitor;
pub mod profile;
pub mod profiles;
pub mod replies;
pub mod scripts;
mod service;
pub mod state;

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plinth_abi::{events, json, Value};

use super::{JobError, ProgressNotifier};
use crate::config::host_settings;
use crate::plugins::manager::PluginManager;
pub use command::Command;
pub use profile::{HeaterKind, Profile};
pub use state::PrinterState;

/// The only port: the built-in virtual printer.
pub const VIRTUAL_PORT: &str = "VIRTUAL";
/// The most commands waiting to be sent; more are refused (409).
pub const MAX_QUEUED: usize = 10_000;
/// The baud rates offered (OctoPrint's list); the virtual printer takes any.
pub const BAUDRATES: &[u32] = &[250000, 230400, 115200, 57600, 38400, 19200, 9600];

/// The selected file.
#[derive(Debug, Clone)]
pub struct Selected {
    /// Its path in the uploads folder.
    pub name: String,
    /// Its size in bytes when selected (or started).
    pub size: u64,
    /// When it was last changed, in seconds since the epoch.
    pub date: Option<u64>,
}

impl Selected {
    /// The payload of the print events: `{name, path, origin, size}`.
    pub fn payload(&self) -> Value {
        let name = self.name.rsplit('/').next().unwrap_or(&self.name);
        json!({"connector": "serial", "name": name, "path": self.name, "origin": "local", "size": self.size})
    }
}

/// Where the head is, as far as the printer said (`M114`) or the sent
/// commands tell.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// X in mm.
    pub x: Option<f64>,
    /// Y in mm.
    pub y: Option<f64>,
    /// Z in mm.
    pub z: Option<f64>,
    /// E in mm.
    pub e: Option<f64>,
    /// The active tool.
    pub t: Option<usize>,
    /// The last feed rate sent, in mm/min.
    pub f: Option<f64>,
}

impl Position {
    /// `{"x", "y", "z", "e", "t", "f"}` as OctoPrint's events carry it.
    pub fn to_json(self) -> Value {
        json!({"x": self.x, "y": self.y, "z": self.z, "e": self.e, "t": self.t, "f": self.f})
    }
}

/// How the job's time is counted: pauses left out.
#[derive(Debug, Clone, Default)]
struct Clock {
    started: Option<Instant>,
    paused_at: Option<Instant>,
    paused_for: Duration,
    /// Active printing time when the last job ended.
    last_time: Option<Duration>,
}

impl Clock {
    /// Time spent printing so far, pauses left out.
    fn active(&self, now: Instant) -> Duration {
        let Some(started) = self.started else {
            return self.last_time.unwrap_or_default();
        };
        let paused = self.paused_for + self.paused_at.map_or(Duration::ZERO, |at| now - at);
        now.saturating_duration_since(started)
            .saturating_sub(paused)
    }

    fn pause(&mut self) {
        self.paused_at.get_or_insert_with(Instant::now);
    }

    fn resume(&mut self) {
        if let Some(at) = self.paused_at.take() {
            self.paused_for += at.elapsed();
        }
    }
}

/// Everything the printer knows, behind one lock.
struct Status {
    state: PrinterState,
    error: Option<String>,
    port: Option<String>,
    baudrate: Option<u32>,
    selected: Option<Selected>,
    filepos: u64,
    completion: Option<f64>,
    clock: Clock,
    /// Who started the job, when a person did.
    user: Option<String>,
    monitor: monitor::Monitor,
    position: Position,
    offsets: BTreeMap<String, f64>,
    firmware: Option<(String, Value)>,
    capabilities: BTreeMap<String, bool>,
    resends: (u64, u64),
    last_push: Option<Instant>,
}

/// Work for the connection's thread.
enum Request {
    Connect {
        port: String,
        baudrate: u32,
    },
    Disconnect,
    Send(Vec<Command>),
    /// The selected file is to be printed (the state is `Starting`).
    Start,
    /// The state is `Pausing`: stop sending the file, then pause.
    Pause,
    /// The state is `Resuming`.
    Resume,
    /// The state is `Cancelling`.
    Cancel,
    /// The state is `Starting`, from a paused job: print it again from its start.
    Restart,
    FakeAck,
}

/// The printer of one host.
pub struct Printer {
    manager: PluginManager,
    progress: Arc<ProgressNotifier>,
    rate: f64,
    status: Mutex<Status>,
    changed: Condvar,
    requests: Mutex<Sender<Request>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    scripts: scripts::Scripts,
    /// Held while the state changes and its event is fired.
    transitions: Mutex<()>,
    /// Commands asked for and not sent yet (requests and the send queue).
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// The printer profiles, and the one the printer uses.
    profiles: profiles::ProfileManager,
    profile: Mutex<Profile>,
    /// Plugins' `PrinterCallback`s.
    callbacks: callbacks::Callbacks,
    /// The file manager that records each print (set once it exists).
    files: std::sync::OnceLock<std::sync::Weak<crate::jobs::files::FileManager>>,
}

impl Printer {
    /// An offline printer with nothing selected, connecting at once when
    /// `serial.autoconnect` is set. The virtual printer's speed comes from
    /// `printer.lines_per_second`.
    pub fn new(manager: PluginManager, progress: Arc<ProgressNotifier>) -> Arc<Self> {
        let config = manager.config();
        let rate = host_settings::LINES_PER_SECOND.get(config);
        let autoconnect = host_settings::AUTOCONNECT.get(config);
        let scripts = scripts::Scripts::new(manager.paths().basedir.join("scripts").join("gcode"));
        let profiles =
            profiles::ProfileManager::new(&manager.paths().basedir, manager.config().clone());
        let profile = profiles.default_profile();
        let (tx, rx) = channel();
        let callbacks = callbacks::Callbacks::new(manager.clone());
        let printer = Arc::new(Self {
            manager,
            progress,
            rate,
            status: Mutex::new(Status {
                state: PrinterState::Offline,
                error: None,
                port: None,
                baudrate: None,
                selected: None,
                filepos: 0,
                completion: None,
                clock: Clock::default(),
                user: None,
                monitor: monitor::Monitor::default(),
                position: Position::default(),
                offsets: BTreeMap::new(),
                firmware: None,
                capabilities: BTreeMap::new(),
                resends: (0, 0),
                last_push: None,
            }),
            changed: Condvar::new(),
            requests: Mutex::new(tx),
            worker: Mutex::new(None),
            scripts,
            transitions: Mutex::new(()),
            queued: Default::default(),
            profiles,
            profile: Mutex::new(profile),
            callbacks,
            files: Default::default(),
        });
        let weak = Arc::downgrade(&printer);
        let worker = std::thread::Builder::new()
            .name("plinth-printer".into())
            .spawn(move || comm::run(weak, rx))
            .expect("cannot start the printer's thread");
        *printer.worker.lock().unwrap() = Some(worker);
        if autoconnect {
            if let Err(e) = printer.connect(None, None, None) {
                tracing::error!("cannot connect to the printer at start-up: {e}");
            }
        }
        printer
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap()
    }

    fn request(&self, request: Request) {
        let _ = self.requests.lock().unwrap().send(request);
    }

    /// The current printer profile (the one of the connection, else the default).
    pub fn profile(&self) -> Profile {
        self.profile.lock().unwrap().clone()
    }

    /// The printer profile manager.
    pub fn profiles(&self) -> &profiles::ProfileManager {
        &self.profiles
    }

    /// Takes a changed profile into use when it is the current one (while
    /// offline: a connection keeps the profile it opened with).
    pub fn profile_changed(&self, id: &str) {
        if self.state().is_closed_or_error() {
            let mut current = self.profile.lock().unwrap();
            let next = if current.id() == id {
                self.profiles.get(id)
            } else {
                None
            };
            *current = next.unwrap_or_else(|| {
                self.profiles
                    .get(current.id())
                    .unwrap_or_else(|| self.profiles.default_profile())
            });
        }
    }

    // ~~ state

    /// The current state.
    pub fn state(&self) -> PrinterState {
        self.lock().state
    }

    /// Whether a job exists (printing, paused, pausing, cancelling, …).
    pub fn is_busy(&self) -> bool {
        self.state().is_busy()
    }

    /// Gives the printer the file manager that records its prints.
    pub fn attach_files(&self, files: &Arc<crate::jobs::files::FileManager>) {
        let _ = self.files.set(Arc::downgrade(files));
    }

    /// Records a print of `path` in its metadata (OctoPrint's `log_print`).
    pub(crate) fn log_print(&self, path: &str, seconds: f64, success: bool) {
        if let Some(files) = self.files.get().and_then(std::sync::Weak::upgrade) {
            files.log_print(path, seconds, success, self.profile().id());
        }
    }

    /// The file a running job prints, if any.
    pub fn printing_file(&self) -> Option<String> {
        let status = self.lock();
        status
            .selected
            .as_ref()
            .filter(|_| status.state.is_busy())
            .map(|s| s.name.clone())
    }

    /// Whether a running job prints the file `name`.
    pub fn is_printing_file(&self, name: &str) -> bool {
        let status = self.lock();
        status.state.is_busy() && status.selected.as_ref().is_some_and(|s| s.name == name)
    }

    /// The error text of the last failure, if the printer is in error.
    pub fn error(&self) -> Option<String> {
        self.lock().error.clone()
    }

    // ~~ connection

    /// `GET /api/connection`'s answer (OctoPrint's pre-2.0 shape).
    pub fn connection(&self) -> Value {
        let status = self.lock();
        let config = self.manager.config();
        let profile = self.profile();
        let all: Vec<Value> = self
            .profiles
            .all()
            .iter()
            .map(|p| json!({"id": p.id(), "name": p.name()}))
            .collect();
        json!({
            "current": {
                "state": status.state.text(),
                "port": status.port,
                "baudrate": status.baudrate,
                "printerProfile": profile.id(),
            },
            "options": {
                "ports": [VIRTUAL_PORT],
                "baudrates": BAUDRATES,
                "printerProfiles": all,
                "portPreference": Some(host_settings::PORT.get(config)),
                "baudratePreference": u32::try_from(host_settings::BAUDRATE.get(config)).ok(),
                "printerProfilePreference": self.profiles.default_id(),
                "autoconnect": host_settings::AUTOCONNECT.get(config),
            }
        })
    }

    /// Connects (or reconnects) to `port` at `baudrate` with printer
    /// profile `profile`; the preferences (`serial.port`, `serial.baudrate`,
    /// the default profile) when not given.
    pub fn connect(
        &self,
        port: Option<&str>,
        baudrate: Option<u32>,
        profile: Option<&str>,
    ) -> Result<(), JobError> {
        let config = self.manager.config();
        // OctoPrint's "AUTO" and 0 mean "detect": the preference here.
        let port = port
            .filter(|p| !p.eq_ignore_ascii_case("AUTO"))
            .map(str::to_owned)
            .or_else(|| Some(host_settings::PORT.get(config)))
            .unwrap_or_else(|| VIRTUAL_PORT.to_owned());
        if port != VIRTUAL_PORT {
            return Err(JobError::Invalid(format!(
                "unknown port {port:?}: the ports are {VIRTUAL_PORT}"
            )));
        }
        let baudrate = baudrate
            .filter(|b| *b != 0)
            .or_else(|| u32::try_from(host_settings::BAUDRATE.get(config)).ok())
            .unwrap_or(115200);
        if !BAUDRATES.contains(&baudrate) {
            return Err(JobError::Invalid(format!(
                "unknown baud rate {baudrate}: the baud rates are {BAUDRATES:?}"
            )));
        }
        let profile = match profile {
            Some(id) => self
                .profiles
                .get(id)
                .ok_or_else(|| JobError::Invalid(format!("unknown printer profile {id:?}")))?,
            None => self.profiles.default_profile(),
        };
        *self.profile.lock().unwrap() = profile;
        self.request(Request::Connect { port, baudrate });
        Ok(())
    }

    /// Closes the connection (a running job fails).
    pub fn disconnect(&self) {
        self.request(Request::Disconnect);
    }

    /// Acts as if the printer had answered `ok` (OctoPrint's `fake_ack`).
    pub fn fake_ack(&self) -> Result<(), JobError> {
        self.operational()?;
        self.request(Request::FakeAck);
        Ok(())
    }

    fn operational(&self) -> Result<PrinterState, JobError> {
        let state = self.state();
        if !state.is_operational() {
            return Err(JobError::Conflict(format!(
                "the printer is {}: connect to it first",
                state.text().to_lowercase()
            )));
        }
        Ok(state)
    }

    // ~~ commands

    /// Sends `commands` through the send queue (and the G-code hooks), each
    /// tagged with `tags`. Refused when the printer is not operational or a
    /// command holds a line break.
    pub fn commands(&self, commands: &[String], tags: &[&str]) -> Result<(), JobError> {
        for c in commands {
            if c.contains(['\n', '\r']) {
                return Err(JobError::Invalid(format!(
                    "the command {c:?} holds a line break: send one command per entry"
                )));
            }
        }
        // As OctoPrint: comments go, and what is left empty is not sent.
        let commands: Vec<Command> = commands
            .iter()
            .map(|c| job::strip_comment(c))
            .filter(|c| !c.is_empty())
            .map(|c| Command::new(c, tags))
            .collect();
        if commands.is_empty() {
            return Err(JobError::Invalid(
                "nothing to send: the commands are empty or only comments".into(),
            ));
        }
        self.operational()?;
        self.reserve(commands.len())?;
        self.request(Request::Send(commands));
        Ok(())
    }

    /// Counts `n` more commands toward the send queue's limit
    /// ([`MAX_QUEUED`]); refused when it is full.
    fn reserve(&self, n: usize) -> Result<(), JobError> {
        let before = self
            .queued
            .fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        if before + n > MAX_QUEUED {
            self.queued
                .fetch_sub(n, std::sync::atomic::Ordering::SeqCst);
            return Err(JobError::Conflict(format!(
                "the send queue is full ({before} commands wait): try again when the printer has caught up"
            )));
        }
        Ok(())
    }

    /// Renders the GCODE script `name` with `context` and sends its lines.
    pub fn script(&self, name: &str, context: &Value, tags: &[&str]) -> Result<(), JobError> {
        self.operational()?;
        let lines = self.render_script(name, context).map_err(|e| match e {
            scripts::ScriptError::Unknown(..) => JobError::NotFound(e.to_string()),
            other => JobError::Invalid(other.to_string()),
        })?;
        let mut tags = tags.to_vec();
        let trigger = format!("trigger:printer.script.{name}");
        tags.push(&trigger);
        let commands = lines
            .iter()
            .map(|l| Command::new(l.as_str(), &tags))
            .collect();
        self.request(Request::Send(commands));
        Ok(())
    }

    /// The lines of script `name`, with the printer's context under `context`.
    fn render_script(
        &self,
        name: &str,
        context: &Value,
    ) -> Result<Vec<String>, scripts::ScriptError> {
        let mut full = json!({
            "printer_profile": self.profile().0,
            "last_position": self.lock().position.to_json(),
            "last_temperature": self.current_temperatures(),
        });
        // The caller's values come beside the printer's, never over them.
        if let Value::Object(extra) = context {
            for (k, v) in extra {
                if full.get(k).is_none() {
                    full[k] = v.clone();
                }
            }
        }
        self.scripts.render(name, &full)
    }

    /// Sets the state; fires `PrinterStateChanged` and pushes when it changed.
    fn set_state(&self, state: PrinterState) {
        self.move_from(&[], state);
    }

    /// Moves to `to` when the state is one of `from` (any state when `from`
    /// is empty): `false`, and nothing changes, when it is not. The change
    /// and its `PrinterStateChanged` happen under one lock, so the events
    /// follow the states in order whichever thread moves them.
    fn move_from(&self, from: &[PrinterState], to: PrinterState) -> bool {
        let transition = self.transitions.lock().unwrap();
        let changed = {
            let mut status = self.lock();
            if !from.is_empty() && !from.contains(&status.state) {
                return false;
            }
            let changed = status.state != to;
            status.state = to;
            if changed {
                let line = format!("Changing monitoring state to '{}'", to.text());
                status.monitor.log(line);
            }
            changed
        };
        if changed {
            self.changed.notify_all();
            self.manager.fire_event(
                events::PRINTER_STATE_CHANGED,
                &json!({"state_id": to.id(), "state_string": to.text(), "connector": "serial"}),
            );
        }
        drop(transition);
        if changed {
            self.push_current();
        }
        true
    }

    /// Waits (at most `timeout`) until `done` holds for the state.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(PrinterState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut status = self.lock();
        while !done(status.state) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            status = self.changed.wait_timeout(status, deadline - now).unwrap().0;
        }
        true
    }

    /// Cancels a running job, disconnects, and waits (at most `timeout`) for
    /// the connection's thread to end.
    pub fn shutdown(&self, timeout: Duration) {
        let _ = self.cancel();
        self.wait_for(timeout / 2, |s| !s.is_busy());
        self.disconnect();
        self.wait_for(timeout / 2, |s| s.is_closed_or_error());
    }
}

mod control;
mod data;
