//! Every host key, declared once: its path, type, range, default and meaning.

use super::{ChoiceKey, CountKey, FlagKey, Key, Kind, NumberKey, TextKey};

const fn seconds(
    path: &'static [&'static str],
    min: f64,
    max: f64,
    default: &'static str,
    about: &'static str,
) -> NumberKey {
    NumberKey(Key {
        path,
        kind: Kind::Number {
            min,
            max,
            unit: "seconds",
        },
        default,
        about,
    })
}

const fn count(
    path: &'static [&'static str],
    min: u64,
    max: u64,
    unit: &'static str,
    default: &'static str,
    about: &'static str,
) -> CountKey {
    CountKey(Key {
        path,
        kind: Kind::Count { min, max, unit },
        default,
        about,
    })
}

const fn flag(
    path: &'static [&'static str],
    default: &'static str,
    about: &'static str,
) -> FlagKey {
    FlagKey(Key {
        path,
        kind: Kind::Flag,
        default,
        about,
    })
}

/// How long a call into a plugin made for a request may take before the request gets 504.
pub const PLUGIN_CALL_TIMEOUT: NumberKey = seconds(
    &["server", "plugin_call_timeout"],
    0.1,
    86_400.0,
    "30",
    "how long a plugin call made for a request may take before the request gets 504",
);
/// The largest upload.
pub const UPLOAD_MAX_BYTES: CountKey = count(
    &["server", "upload_max_bytes"],
    1,
    1 << 40,
    "bytes",
    "1073741824",
    "the largest upload",
);
/// How many events an event handler may be behind before it misses its oldest ones.
pub const EVENT_QUEUE_LIMIT: CountKey = count(
    &["server", "event_queue_limit"],
    1,
    10_000_000,
    "events",
    "10000",
    "how many events a handler plugin may be behind before it misses its oldest ones",
);
/// How long the head of a request may take to arrive.
pub const HEADER_TIMEOUT: NumberKey = seconds(
    &["server", "header_timeout"],
    0.1,
    3_600.0,
    "10",
    "how long a connection may wait for the head of its next request (from opening, or from the previous answer) before it is closed",
);
/// How long an upload or an answer may move no data.
pub const STALL_TIMEOUT: NumberKey = seconds(
    &["server", "stall_timeout"],
    0.1,
    3_600.0,
    "60",
    "how long a request body or an answer may move no data before its connection is closed",
);
/// The most connections served at once.
pub const MAX_CONNECTIONS: CountKey = count(
    &["server", "max_connections"],
    2,
    1_000_000,
    "connections",
    "4096",
    "the most connections served at once, push channels included; past it, the connection that kept the server waiting the longest is closed, or the new one gets 503 when the server works for all",
);
/// Failed logins to one user from one address before that pair is locked out.
pub const LOGIN_FAILURES_PER_USER: CountKey = count(
    &["server", "login_failures_per_user"],
    1,
    1_000,
    "failed logins",
    "5",
    "failed logins to one user from one address within the lock-out time before that user is locked out from that address",
);
/// Failed logins from one address before the address is locked out.
pub const LOGIN_FAILURES_PER_ADDRESS: CountKey = count(
    &["server", "login_failures_per_address"],
    1,
    100_000,
    "failed logins",
    "20",
    "failed logins from one address (any user) within the lock-out time before every login from it is locked out",
);
/// How long failed logins count, and so how long a lock-out lasts.
pub const LOGIN_LOCKOUT: NumberKey = seconds(
    &["server", "login_lockout"],
    1.0,
    86_400.0,
    "300",
    "how long failed logins are counted, and so how long a lock-out lasts",
);
/// The page's debug mode.
pub const DEBUG: FlagKey = flag(
    &["server", "debug"],
    "false",
    "render the web page in debug mode",
);
/// False once the first-run wizard created the administrator.
pub const FIRST_RUN: FlagKey = flag(
    &["server", "firstRun"],
    "true",
    "false once the first-run wizard created the administrator (written by Plinth)",
);
/// Start normally even after a start-up that did not finish.
pub const IGNORE_INCOMPLETE_STARTUP: FlagKey = flag(
    &["server", "ignore_incomplete_startup"],
    "false",
    "start normally even when the last start-up did not finish",
);
/// The version of each plugin wizard finished.
pub const SEEN_WIZARDS: Key = Key {
    path: &["server", "seenWizards"],
    kind: Kind::WizardVersions,
    default: "{}",
    about: "the version of each plugin wizard finished (written by Plinth)",
};
/// Connect to the printer when the host starts.
pub const AUTOCONNECT: FlagKey = flag(
    &["serial", "autoconnect"],
    "false",
    "connect to the printer when the host starts (as OctoPrint, off until set)",
);
/// Whether a cancel breaks a heat-up wait with `M108`.
pub const ABORT_HEATUP_ON_CANCEL: FlagKey = flag(
    &["serial", "abortHeatupOnCancel"],
    "true",
    "a cancel ends a heat-up wait (M109, M190) with M108, sent at once when the firmware has an emergency parser",
);
/// The port connected to when a connect request names none.
pub const PORT: ChoiceKey = ChoiceKey(Key {
    path: &["serial", "port"],
    kind: Kind::Choice(&["VIRTUAL"]),
    default: "VIRTUAL",
    about: "the port connected to when a connect request names none (VIRTUAL: the built-in virtual printer)",
});
/// The baud rate used when a connect request names none.
pub const BAUDRATE: CountKey = count(
    &["serial", "baudrate"],
    9600,
    250_000,
    "baud",
    "115200",
    "the baud rate used when a connect request names none",
);
/// How fast the virtual printer streams G-code.
pub const LINES_PER_SECOND: NumberKey = NumberKey(Key {
    path: &["printer", "lines_per_second"],
    kind: Kind::Number {
        min: 0.01,
        max: 1_000_000.0,
        unit: "lines per second",
    },
    default: "100",
    about: "how fast the virtual printer streams G-code commands",
});
/// When uploaded G-code is analysed.
pub const ANALYSIS_RUN_AT: ChoiceKey = ChoiceKey(Key {
    path: &["gcodeAnalysis", "runAt"],
    kind: Kind::Choice(&["idle", "always", "never"]),
    default: "idle",
    about: "when G-code files are analysed (print time, filament, dimensions): idle (not while printing, as OctoPrint), always or never",
});

/// Whether the host checks that it is online (OctoPrint's `server.onlineCheck`).
pub const ONLINE_CHECK: FlagKey = flag(
    &["server", "onlineCheck", "enabled"],
    "false",
    "check regularly whether the host is online (off: assumed online, nothing is sent)",
);
/// How often the online check runs.
pub const ONLINE_CHECK_INTERVAL: NumberKey = seconds(
    &["server", "onlineCheck", "interval"],
    1.0,
    86_400.0,
    "900",
    "how often the online check runs",
);
/// Where the online check connects.
pub const ONLINE_CHECK_HOST: TextKey = TextKey(Key {
    path: &["server", "onlineCheck", "host"],
    kind: Kind::Text,
    default: "1.1.1.1",
    about: "the host the online check connects to (Cloudflare's DNS by default)",
});
/// The port the online check connects to.
pub const ONLINE_CHECK_PORT: CountKey = count(
    &["server", "onlineCheck", "port"],
    1,
    65_535,
    "TCP port",
    "53",
    "the port the online check connects to",
);
/// The name the online check resolves (empty: none).
pub const ONLINE_CHECK_NAME: TextKey = TextKey(Key {
    path: &["server", "onlineCheck", "name"],
    kind: Kind::Text,
    default: "octoprint.org",
    about: "the host name the online check resolves (empty: no name check)",
});

/// The ways a plugin can run.
pub const MODES: &[&str] = &["isolated", "in_process"];

/// Where plugins run unless `isolation.plugins` says otherwise.
pub const ISOLATION_DEFAULT: ChoiceKey = ChoiceKey(Key {
    path: &["isolation", "default"],
    kind: Kind::Choice(&["auto", "isolated", "in_process"]),
    default: "auto",
    about: "where plugins run: auto (user and registered plugins isolated, bundled ones in process), isolated or in_process",
});
/// Where each plugin runs, overriding the default.
pub const ISOLATION_PLUGINS: Key = Key {
    path: &["isolation", "plugins"],
    kind: Kind::ChoicePerPlugin(MODES),
    default: "{}",
    about: "where a plugin runs, overriding isolation.default (also written by Plinth when an in-process plugin crashed the host)",
};
/// The memory an isolated plugin may use.
pub const MEMORY_LIMIT: CountKey = count(
    &["isolation", "memory_limit"],
    16,
    1 << 20,
    "MiB",
    "1024",
    "the memory (resident) an isolated plugin may use before its process is ended",
);
/// The memory each isolated plugin may use, overriding the default.
pub const MEMORY_LIMITS: Key = Key {
    path: &["isolation", "memory_limits"],
    kind: Kind::CountPerPlugin {
        min: 16,
        max: 1 << 20,
        unit: "MiB",
    },
    default: "{}",
    about: "the memory a plugin may use, overriding isolation.memory_limit",
};
/// How many crashes in the window quarantine a plugin.
pub const MAX_CRASHES: CountKey = count(
    &["isolation", "max_crashes"],
    1,
    1000,
    "crashes",
    "3",
    "how many crashes within isolation.crash_window quarantine an isolated plugin",
);
/// The window crashes are counted in.
pub const CRASH_WINDOW: NumberKey = seconds(
    &["isolation", "crash_window"],
    1.0,
    604_800.0,
    "600",
    "the window in which isolation.max_crashes crashes quarantine a plugin",
);
/// Quarantined plugins, each with why.
pub const QUARANTINED: Key = Key {
    path: &["isolation", "quarantined"],
    kind: Kind::TextPerPlugin,
    default: "{}",
    about: "plugins not started again after repeated crashes, with why (written by Plinth; enabling the plugin clears it)",
};
/// Plugins that crashed the host in process, each with where.
pub const CRASHED_HOST: Key = Key {
    path: &["isolation", "crashed_host"],
    kind: Kind::TextPerPlugin,
    default: "{}",
    about: "plugins that crashed the host while running in process, with the call and time (written by Plinth)",
};

/// Every host key Plinth reads.
pub const KEYS: &[&Key] = &[
    &PLUGIN_CALL_TIMEOUT.0,
    &UPLOAD_MAX_BYTES.0,
    &EVENT_QUEUE_LIMIT.0,
    &HEADER_TIMEOUT.0,
    &STALL_TIMEOUT.0,
    &MAX_CONNECTIONS.0,
    &LOGIN_FAILURES_PER_USER.0,
    &LOGIN_FAILURES_PER_ADDRESS.0,
    &LOGIN_LOCKOUT.0,
    &DEBUG.0,
    &FIRST_RUN.0,
    &IGNORE_INCOMPLETE_STARTUP.0,
    &SEEN_WIZARDS,
    &AUTOCONNECT.0,
    &ABORT_HEATUP_ON_CANCEL.0,
    &PORT.0,
    &BAUDRATE.0,
    &LINES_PER_SECOND.0,
    &ANALYSIS_RUN_AT.0,
    &ONLINE_CHECK.0,
    &ONLINE_CHECK_INTERVAL.0,
    &ONLINE_CHECK_HOST.0,
    &ONLINE_CHECK_PORT.0,
    &ONLINE_CHECK_NAME.0,
    &ISOLATION_DEFAULT.0,
    &ISOLATION_PLUGINS,
    &MEMORY_LIMIT.0,
    &MEMORY_LIMITS,
    &MAX_CRASHES.0,
    &CRASH_WINDOW.0,
    &QUARANTINED,
    &CRASHED_HOST,
];

/// The limits of the server, for `plinth serve --help`.
pub const SERVER_LIMITS: &[&Key] = &[
    &HEADER_TIMEOUT.0,
    &STALL_TIMEOUT.0,
    &MAX_CONNECTIONS.0,
    &PLUGIN_CALL_TIMEOUT.0,
    &UPLOAD_MAX_BYTES.0,
    &LOGIN_FAILURES_PER_USER.0,
    &LOGIN_FAILURES_PER_ADDRESS.0,
    &LOGIN_LOCKOUT.0,
    &EVENT_QUEUE_LIMIT.0,
];
