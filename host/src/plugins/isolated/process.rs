//! The plugin process as the system sees it: which program runs it, why it
//! could not start, what its exit status means, how much memory it holds.

use std::path::PathBuf;
use std::process::ExitStatus;

use crate::plugins::transport::Cause;

/// The environment variable naming the program that runs isolated plugins
/// (default: the `plinth` binary itself).
pub const RUNNER_ENV: &str = "PLINTH_RUNNER";
/// The hidden subcommand of `plinth` that runs one plugin.
pub const RUNNER_COMMAND: &str = "__run-plugin";

/// Why the process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The runner program cannot be found.
    #[error("cannot find the plinth binary to run the plugin in (set {RUNNER_ENV}): {0}")]
    NoRunner(String),
    /// Starting it failed.
    #[error("cannot start {}: {error}", .program.display())]
    Start {
        program: PathBuf,
        error: std::io::Error,
    },
}

/// The program that runs isolated plugins: [`RUNNER_ENV`], else this
/// executable when it is `plinth`, else a `plinth` beside it or one folder up
/// (a test or benchmark binary of the build).
pub fn runner_program() -> Result<PathBuf, SpawnError> {
    if let Some(p) = std::env::var_os(RUNNER_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| SpawnError::NoRunner(e.to_string()))?;
    let name = format!("plinth{}", std::env::consts::EXE_SUFFIX);
    if exe.file_name().is_some_and(|n| n == name.as_str()) {
        return Ok(exe);
    }
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
        .ok_or_else(|| SpawnError::NoRunner(format!("no {name} beside {}", exe.display())))
}

/// The exit status as a cause.
pub(super) fn cause_of(status: ExitStatus) -> Cause {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(signal), _) => Cause::Signal(signal_name(signal)),
        (None, Some(code)) => Cause::Exited(code),
        (None, None) => Cause::Gone,
    }
}

/// `SIGSEGV` for 11, and so on.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGHUP => "SIGHUP",
        other => return format!("signal {other}"),
    };
    name.to_owned()
}

/// The resident memory of process `pid` in MiB (Linux; `None` elsewhere).
pub(super) fn resident_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
