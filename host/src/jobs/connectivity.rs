//! The connectivity checker (OctoPrint's `_connectivity_checker`): whether
//! the host is online, checked every `server.onlineCheck.interval` seconds
//! by connecting to `server.onlineCheck.host:port` and, when
//! `server.onlineCheck.name` is set, resolving that name; three tries, a
//! second apart, before it counts as offline. A change fires
//! `ConnectivityChanged`.
//!
//! Off by default (`server.onlineCheck.enabled`): then nothing is sent
//! anywhere and the host counts as online, as OctoPrint does.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use plinth_abi::{events, json, Value};

use crate::config::host_settings::{
    ONLINE_CHECK, ONLINE_CHECK_HOST, ONLINE_CHECK_INTERVAL, ONLINE_CHECK_NAME, ONLINE_CHECK_PORT,
};
use crate::plugins::manager::PluginManager;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a failing check is tried before it counts.
const TRIES: u32 = 3;

/// What the check is set to.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    enabled: bool,
    interval: Duration,
    host: String,
    port: u16,
    name: String,
}

impl Target {
    fn read(manager: &PluginManager) -> Self {
        let config = manager.config();
        Self {
            enabled: ONLINE_CHECK.get(config),
            interval: ONLINE_CHECK_INTERVAL.duration(config),
            host: ONLINE_CHECK_HOST.get(config),
            port: u16::try_from(ONLINE_CHECK_PORT.get(config)).unwrap_or(53),
            name: ONLINE_CHECK_NAME.get(config),
        }
    }
}

/// What the last check found.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Found {
    connection: bool,
    resolution: bool,
}

impl Found {
    fn online(self) -> bool {
        self.connection && self.resolution
    }
}

struct State {
    found: Found,
    stopped: bool,
}

/// The connectivity checker of one host.
pub struct Connectivity {
    manager: PluginManager,
    state: Mutex<State>,
    wake: Condvar,
    /// Serialises checks (the timer's and `check_immediately`).
    checking: Mutex<()>,
}

impl Connectivity {
    /// Starts checking (when enabled): once at once, then every interval.
    pub fn new(manager: PluginManager) -> Arc<Self> {
        let checker = Arc::new(Self {
            manager,
            state: Mutex::new(State {
                found: Found {
                    connection: true,
                    resolution: true,
                },
                stopped: false,
            }),
            wake: Condvar::new(),
            checking: Mutex::new(()),
        });
        if Target::read(&checker.manager).enabled {
            let worker = checker.clone();
            std::thread::Builder::new()
                .name("plinth-connectivity".into())
                .spawn(move || worker.run())
                .expect("cannot start the connectivity thread");
        } else {
            tracing::info!(
                "the online check is off (server.onlineCheck.enabled): assuming the host is online"
            );
        }
        checker
    }

    fn run(&self) {
        loop {
            self.check_immediately();
            let interval = Target::read(&self.manager).interval;
            let state = self.state.lock().unwrap();
            let (state, _) = self
                .wake
                .wait_timeout_while(state, interval, |s| !s.stopped)
                .unwrap();
            if state.stopped {
                return;
            }
        }
    }

    /// Stops the regular check.
    pub fn shutdown(&self) {
        self.state.lock().unwrap().stopped = true;
        self.wake.notify_all();
    }

    /// Whether the host is online (always, when the check is off).
    pub fn online(&self) -> bool {
        !Target::read(&self.manager).enabled || self.state.lock().unwrap().found.online()
    }

    /// Checks now (when enabled) and answers whether the host is online.
    pub fn check_immediately(&self) -> bool {
        let target = Target::read(&self.manager);
        if !target.enabled {
            return true;
        }
        let _one_at_a_time = self.checking.lock().unwrap();
        let mut found = probe(&target);
        for _ in 1..TRIES {
            if found.online() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            found = probe(&target);
        }
        let old = std::mem::replace(&mut self.state.lock().unwrap().found, found);
        if old.online() != found.online() {
            tracing::info!(
                "connectivity changed from {} to {} (connecting to {}:{}: {}; resolving {:?}: {})",
                word(old.online()),
                word(found.online()),
                target.host,
                target.port,
                working(found.connection),
                target.name,
                working(found.resolution),
            );
            self.manager.fire_event(
                events::CONNECTIVITY_CHANGED,
                &json!({"old": old.online(), "new": found.online(), "connection": found.connection, "resolution": found.resolution}),
            );
        }
        found.online()
    }

    /// OctoPrint's `as_dict()`: `{"online", "enabled", "connection_ok",
    /// "connection_check", "resolution_ok", "resolution_check"}` (the last
    /// two when a name is checked).
    pub fn as_dict(&self) -> Value {
        let target = Target::read(&self.manager);
        let found = match target.enabled {
            true => self.state.lock().unwrap().found,
            false => Found {
                connection: true,
                resolution: true,
            },
        };
        let mut out = json!({
            "online": found.online(),
            "enabled": target.enabled,
            "connection_ok": found.connection,
            "connection_check": format!("{}:{}", target.host, target.port),
        });
        if !target.name.is_empty() {
            out["resolution_ok"] = json!(found.resolution);
            out["resolution_check"] = json!(target.name);
        }
        out
    }
}

fn word(online: bool) -> &'static str {
    if online {
        "online"
    } else {
        "offline"
    }
}

fn working(ok: bool) -> &'static str {
    if ok {
        "working"
    } else {
        "not working"
    }
}

/// One try: connect, then (if that worked and a name is set) resolve.
fn probe(target: &Target) -> Found {
    let connection = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok());
    let resolution = target.name.is_empty()
        || (connection
            && (target.name.as_str(), 0)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some()));
    Found {
        connection,
        resolution,
    }
}
