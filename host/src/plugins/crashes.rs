//! What the host does when an isolated plugin's process is lost (crashed,
//! hung past its budget, grew past its memory limit): the plugin is taken
//! down at once (its calls in flight already failed naming it), counted,
//! announced, and started again after a backoff; after
//! `isolation.max_crashes` crashes within `isolation.crash_window` it is
//! quarantined (`isolation.quarantined`): not started again until a person
//! enables it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plinth_abi::events;
use plinth_abi::Registrations;
use serde_json::{json, Map, Value};

use crate::config::host_settings::{CRASH_WINDOW, MAX_CRASHES, QUARANTINED};
use crate::config::{key_path, ConfigStore};
use crate::plugins::manager::{drop_when_unique_by, Phase, PluginManager, State};
use crate::plugins::transport::Fault;

/// The first wait before a crashed plugin starts again; it doubles with
/// each crash in the window.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Crashes and restarts, per plugin and in all.
#[derive(Default)]
pub(crate) struct Crashes {
    plugins: Mutex<HashMap<String, History>>,
    total: AtomicU64,
    restarts: AtomicU64,
}

/// One plugin's crashes.
#[derive(Default, Clone)]
struct History {
    /// When it crashed, within the window.
    recent: VecDeque<Instant>,
    crashes: u64,
    restarts: u64,
    last: Option<String>,
    /// Bumped by every crash and every toggle: a restart scheduled before
    /// is dropped.
    generation: u64,
}

/// A plugin's crash counts, as listed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CrashCount {
    /// Crashes since the host started.
    pub crashes: u64,
    /// Restarts after a crash since the host started.
    pub restarts: u64,
    /// The last crash, as the person reads it.
    pub last: Option<String>,
}

impl Crashes {
    /// Crashes and restarts of every plugin since the host started.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.total.load(Ordering::Relaxed),
            self.restarts.load(Ordering::Relaxed),
        )
    }

    /// The counts of plugin `id`.
    pub(crate) fn of(&self, id: &str) -> CrashCount {
        let plugins = self.plugins.lock().unwrap();
        plugins
            .get(id)
            .map(|h| CrashCount {
                crashes: h.crashes,
                restarts: h.restarts,
                last: h.last.clone(),
            })
            .unwrap_or_default()
    }

    /// A person toggled plugin `id`: a restart scheduled is dropped and the
    /// crashes counted towards quarantine start over.
    pub(crate) fn forget(&self, id: &str) {
        if let Some(h) = self.plugins.lock().unwrap().get_mut(id) {
            h.generation += 1;
            h.recent.clear();
        }
    }
}

/// The quarantined plugins, with why.
pub(crate) fn quarantined(config: &ConfigStore) -> Map<String, Value> {
    match config.effective(&key_path(QUARANTINED.path)) {
        Some(Value::Object(map)) if QUARANTINED.check(&Value::Object(map.clone())).is_ok() => map,
        _ => Map::new(),
    }
}

impl PluginManager {
    /// Crashes and restarts of isolated plugins since the host started.
    pub fn crash_totals(&self) -> (u64, u64) {
        self.shared.crashes.totals()
    }

    /// The process `origin` of plugin `id` was lost: take it down, count
    /// it, and restart it after a backoff or quarantine it. The command
    /// line (which only reads) counts nothing and restarts nothing.
    pub(crate) fn plugin_lost(&self, id: &str, origin: u64, fault: Fault) {
        if self.shared.options.isolate_all {
            return;
        }
        let reason = fault.to_string();
        let window = CRASH_WINDOW.duration(&self.shared.config);
        let max = MAX_CRASHES.get(&self.shared.config) as usize;
        let (recent, generation) = {
            let mut plugins = self.shared.crashes.plugins.lock().unwrap();
            let h = plugins.entry(id.to_owned()).or_default();
            let now = Instant::now();
            h.recent.retain(|t| now.duration_since(*t) < window);
            h.recent.push_back(now);
            h.crashes += 1;
            h.last = Some(reason.clone());
            h.generation += 1;
            (h.recent.len(), h.generation)
        };
        self.shared.crashes.total.fetch_add(1, Ordering::Relaxed);
        let quarantine = recent >= max;
        let backoff = (FIRST_BACKOFF * 2u32.saturating_pow(recent as u32 - 1)).min(MAX_BACKOFF);
        let manager = self.clone();
        let id = id.to_owned();
        let spawned = std::thread::Builder::new()
            .name("plugin-recovery".into())
            .spawn(move || {
                let shown = if quarantine {
                    format!(
                        "quarantined after {recent} crash{} within {} s (last: {reason}); enable it to start it again",
                        if recent == 1 { "" } else { "es" },
                        window.as_secs()
                    )
                } else {
                    format!(
                        "crashed ({reason}); restarting in {} s",
                        backoff.as_secs_f64()
                    )
                };
                let meant_to_run = manager.take_down(&id, origin, &shown, quarantine);
                let restarts = meant_to_run && !quarantine;
                manager.shared.events.fire(
                    events::PLUGIN_CRASHED,
                    &json!({
                        "id": id,
                        "reason": reason,
                        "crashes": recent,
                        "restart_in": restarts.then_some(backoff.as_secs_f64()),
                    }),
                );
                if !meant_to_run {
                    return;
                }
                if quarantine {
                    tracing::error!(plugin = %id, "{shown}");
                    manager.shared.events.fire(
                        events::PLUGIN_QUARANTINED,
                        &json!({"id": id, "reason": shown}),
                    );
                    return;
                }
                tracing::warn!(plugin = %id, "{shown}");
                std::thread::sleep(backoff);
                manager.restart(&id, generation);
            });
        if let Err(e) = spawned {
            tracing::error!("no thread to take the crashed plugin down and restart it: {e}");
        }
    }

    /// Takes the crashed plugin down: no calls reach it, its hooks and
    /// helpers are gone, its object (whose process is gone) is dropped.
    /// False when it is not meant to run any more (a person disabled it, or
    /// is uninstalling it; the host shuts down), or when the plugin already
    /// runs in another process than the one lost (restarted or moved).
    fn take_down(&self, id: &str, origin: u64, shown: &str, quarantine: bool) -> bool {
        let object = {
            let _guard = self.shared.lifecycle.lock().unwrap();
            if *self.shared.phase.lock().unwrap() == Phase::ShuttingDown {
                return false;
            }
            let disabled = self.shared.config.disabled().unwrap_or_default();
            let (meant_to_run, stale) = self
                .with(id, |r| {
                    let stale = r.object().is_some_and(|o| o.origin() != Some(origin));
                    let meant = matches!(r.state, State::Enabled | State::Failed)
                        && r.pending.is_none()
                        && !disabled.iter().any(|d| d == id);
                    (meant, stale)
                })
                .unwrap_or((false, true));
            if stale {
                return false;
            }
            if meant_to_run && quarantine {
                // On disk before anyone can see it listed.
                self.record_quarantine(id, shown);
            }
            let object = self
                .with_mut(id, |r| {
                    if meant_to_run {
                        r.set_registrations(Registrations::default());
                        r.state = if quarantine {
                            State::Quarantined
                        } else {
                            State::Enabled
                        };
                        r.error = Some(shown.to_owned());
                    }
                    if let Some(context) = r.context() {
                        context.close();
                    }
                    r.take_object()
                })
                .flatten();
            (object, meant_to_run)
        };
        // Its process is gone either way: the object goes, outside the lock.
        let (object, meant_to_run) = object;
        if let Some((object, _context)) = object {
            object.close();
            drop_when_unique_by(object, Instant::now() + Duration::from_secs(2));
        }
        meant_to_run
    }

    /// Records the quarantine in the config.
    fn record_quarantine(&self, id: &str, why: &str) {
        let config = &self.shared.config;
        let mut path = key_path(QUARANTINED.path);
        path.push(id.to_owned());
        if let Err(e) = config
            .set(path, Value::String(why.to_owned()))
            .and_then(|()| config.save())
        {
            tracing::error!(plugin = %id, "cannot record the quarantine in the config: {e}");
        }
    }

    /// Starts the plugin again, unless something changed since it crashed
    /// (it crashed again, a person toggled it, the host shuts down).
    fn restart(&self, id: &str, generation: u64) {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let current = self
            .shared
            .crashes
            .plugins
            .lock()
            .unwrap()
            .get(id)
            .map(|h| h.generation);
        let disabled = self.shared.config.disabled().unwrap_or_default();
        if current != Some(generation)
            || *self.shared.phase.lock().unwrap() == Phase::ShuttingDown
            || self.with(id, |r| (r.state, r.pending)) != Some((State::Enabled, None))
            || disabled.iter().any(|d| d == id)
        {
            return;
        }
        if self.load(id).is_err() {
            return;
        }
        if self.enable(id) {
            self.start_late(id);
            let restarts = {
                let mut plugins = self.shared.crashes.plugins.lock().unwrap();
                let h = plugins.entry(id.to_owned()).or_default();
                h.restarts += 1;
                h.restarts
            };
            self.shared.crashes.restarts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(plugin = %id, "restarted after a crash");
            self.shared.events.fire(
                events::PLUGIN_RESTARTED,
                &json!({"id": id, "restarts": restarts}),
            );
        }
    }

    /// Forgets that `id` was quarantined or crashed the host (it is uninstalled).
    pub(crate) fn forget_crashes(&self, id: &str) -> Result<(), crate::config::ConfigError> {
        self.shared.crashes.forget(id);
        let config = &self.shared.config;
        let mut changed = false;
        for key in [
            QUARANTINED.path,
            crate::config::host_settings::CRASHED_HOST.path,
        ] {
            let mut path = key_path(key);
            path.push(id.to_owned());
            if config.effective(&path).is_some() {
                config.remove(path)?;
                changed = true;
            }
        }
        if changed {
            config.save()?;
        }
        Ok(())
    }

    /// Lifts the quarantine of `id` (a person enables it).
    pub(crate) fn lift_quarantine(&self, id: &str) -> Result<(), crate::config::ConfigError> {
        self.shared.crashes.forget(id);
        let config = &self.shared.config;
        if !quarantined(config).contains_key(id) {
            return Ok(());
        }
        let mut path = key_path(QUARANTINED.path);
        path.push(id.to_owned());
        config.remove(path)?;
        config.save()
    }
}

/// What a crash record says: the signal, the plugin, the call.
#[derive(Debug, PartialEq)]
pub(crate) struct HostCrash {
    pub(crate) signal: i32,
    pub(crate) plugin: String,
    /// The call, as the person reads it: `on_event(PrintStarted)`.
    pub(crate) call: String,
}

/// Parses a crash record: the line the crash handler writes,
/// `PLINTH-CRASH<TAB>signal<TAB>plugin<TAB>method<TAB>arguments`.
pub(crate) fn parse_record(text: &str) -> Option<HostCrash> {
    let line = text.lines().find(|l| l.starts_with("PLINTH-CRASH\t"))?;
    let mut fields = line.splitn(5, '\t').skip(1);
    let signal = fields.next()?.parse().ok()?;
    let plugin = fields.next()?.to_owned();
    let method: u32 = fields.next()?.parse().ok()?;
    let args = unescape(fields.next().unwrap_or_default());
    Some(HostCrash {
        signal,
        plugin,
        call: describe(method, &args),
    })
}

/// The arguments' bytes from the record, where the crash handler wrote
/// any byte but printable ASCII as `\xHH` (a cut-off escape is dropped).
fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) if bytes.get(i + 1) == Some(&b'x') => out.push(b),
                _ => break,
            }
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The call as the person reads it: `on_event(PrintStarted)`, `loading`.
fn describe(method: u32, args: &[u8]) -> String {
    #[cfg(unix)]
    return crate::plugins::isolated::in_flight::InFlight::new(method, args).describe();
    #[cfg(not(unix))]
    plinth_abi::methods::plugin::name(method)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("method {method:#x}"))
}

/// Reads the crash record the last run left, if the host died of a signal:
/// when it died inside a plugin's call, records in the config that the plugin
/// crashed the host (so it runs isolated from now on). Logs it and removes
/// the record.
pub(crate) fn attribute_host_crash(paths: &crate::paths::Paths) -> LastRun {
    let path = paths.crash_record();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return LastRun::NoCrash;
    };
    let when = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(httpdate::fmt_http_date)
        .unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let Some(crash) = parse_record(&text) else {
        return LastRun::NoCrash;
    };
    let signal = signal_name(crash.signal);
    if crash.plugin.is_empty() {
        tracing::error!(
            "the last run of the host died of {signal} outside any plugin call (at {when})"
        );
        return LastRun::HostCrashed;
    }
    let why = format!("{signal} in {} at {when}, in process", crash.call);
    tracing::error!(
        plugin = %crash.plugin,
        "the last run of the host died in this plugin ({why}); it runs isolated from now on"
    );
    record_host_crash(paths, &crash.plugin, why);
    LastRun::PluginCrashed
}

/// How the last run of the host ended, as its crash record tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastRun {
    /// No signal ended it (or nothing was recorded).
    NoCrash,
    /// A plugin's call brought it down: that plugin runs isolated from now on.
    PluginCrashed,
    /// A signal ended it outside any plugin call.
    HostCrashed,
}

/// Reads the start-up marker the last run left, if its start-up did not
/// finish in a plugin's step (the host was killed while the plugin hung in
/// it, say): records that the plugin brought the host's start-up down, so it
/// runs isolated from now on, as for a crash. True when attributed.
pub(crate) fn attribute_unfinished_startup(paths: &crate::paths::Paths) -> bool {
    let marker = paths.startup_marker();
    let Ok(text) = std::fs::read_to_string(&marker) else {
        return false;
    };
    let step = text.lines().find_map(|l| {
        let mut fields = l.split('\t');
        (fields.next()? == crate::plugins::startup::STEP_TAG)
            .then(|| Some((fields.next()?.to_owned(), fields.next()?.to_owned())))
            .flatten()
    });
    let Some((plugin, step)) = step else {
        return false;
    };
    let when = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .map(httpdate::fmt_http_date)
        .unwrap_or_default();
    let why = format!("the host's start-up did not finish in {step} at {when}");
    tracing::error!(plugin = %plugin, "{why}; it runs isolated from now on");
    record_host_crash(paths, &plugin, why);
    true
}

/// Records in the config that `plugin` brought the host down, and why.
fn record_host_crash(paths: &crate::paths::Paths, plugin: &str, why: String) {
    let recorded = ConfigStore::open(&paths.config_file()).and_then(|config| {
        let mut key = key_path(crate::config::host_settings::CRASHED_HOST.path);
        key.push(plugin.to_owned());
        config.set(key, Value::String(why))?;
        config.save()
    });
    if let Err(e) = recorded {
        tracing::error!(plugin = %plugin, "cannot record the crash in the config: {e}");
    }
}

/// `SIGSEGV` for 11, and so on.
fn signal_name(signal: i32) -> String {
    #[cfg(unix)]
    return crate::plugins::isolated::process::signal_name(signal);
    #[cfg(not(unix))]
    format!("signal {signal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_record_names_the_plugin_and_the_call() {
        let record = "some output\nPLINTH-CRASH\t11\tbad\t1025\t[\"PrintStarted\",{\"x\":1}]\n";
        assert_eq!(
            parse_record(record),
            Some(HostCrash {
                signal: 11,
                plugin: "bad".into(),
                call: "on_event(PrintStarted)".into()
            })
        );
        let record = "PLINTH-CRASH\t6\tbad\t257\t[\"127.0.0.1\",5000]\n";
        assert_eq!(parse_record(record).unwrap().call, "on_startup");
        assert_eq!(
            parse_record(""),
            None,
            "an empty record: the host did not die in a plugin"
        );
        assert_eq!(parse_record("PLINTH-CRASH\tx\n"), None);
        // A batch of events, its length prefixes escaped as the handler writes them.
        let mut batch = Vec::new();
        plinth_abi::events::packed::push(&mut batch, "Tick\\é", b"{\"n\":1}");
        let escaped: String = batch
            .iter()
            .map(|&b| match b {
                0x20..=0x7e if b != b'\\' => char::from(b).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect();
        let record = format!("PLINTH-CRASH\t11\tbad\t1026\t{escaped}\n");
        assert_eq!(parse_record(&record).unwrap().call, "on_event(Tick\\é)");
        assert_eq!(unescape("ab\\x0a\\x5"), b"ab\n");
        // Outside any plugin call: no plugin to blame.
        assert_eq!(
            parse_record("PLINTH-CRASH\t11\t\t0\t\n").map(|c| c.plugin),
            Some(String::new())
        );
    }
}
