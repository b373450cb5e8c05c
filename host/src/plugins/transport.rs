//! The one seam between the host and a plugin. Calls go in as (method
//! number, encoded arguments) and come back as a [`CallOutcome`]; the
//! plugin's service calls come out the same way and are answered by its
//! [`PluginContext`](crate::plugins::services::PluginContext). Dispatch, the
//! lifecycle, events and HTTP see only these two traits. There are two
//! transports: the in-process vtable ([`crate::plugins::ffi`]) and a plugin in
//! a process of its own ([`crate::plugins::isolated`]), with the same messages;
//! only the second can lose its plugin, which it reports as a [`Fault`].

use std::borrow::Cow;
use std::sync::Arc;

use plinth_abi::vtable::CallOutcome;

use crate::plugins::object::CallError;
use crate::plugins::services::PluginContext;

/// A plugin library as the host uses it: it makes plugin objects and holds
/// the files compiled into it.
pub trait Library: Send + Sync {
    /// Creates the plugin object, handing it `context`: what it calls back.
    fn instantiate(&self, context: &Arc<PluginContext>) -> Result<Box<dyn Transport>, CallError>;

    /// A file compiled into the library (`templates/…`, `static/…`); `None`
    /// when there is no such file, or the library predates embedded files.
    fn embedded_file(&self, path: &str) -> Option<Cow<'static, [u8]>>;

    /// Whether its objects live in a process of their own.
    fn isolated(&self) -> bool {
        false
    }
}

/// A live plugin object as the host reaches it; dropping the transport
/// destroys the object (after its last call).
pub trait Transport: Send + Sync {
    /// Calls method number `method` with encoded arguments; a [`Fault`]
    /// when the plugin's process ended before it answered.
    fn call(&self, method: u32, args: &[u8]) -> Result<CallOutcome, Box<Fault>>;

    /// Calls `method` once per entry of `args`, in order, in one exchange
    /// when the transport gains by it (events to an isolated plugin);
    /// `None` when it does not, and the caller calls one by one.
    fn call_batch(
        &self,
        _method: u32,
        _args: &[&[u8]],
    ) -> Option<Result<Vec<CallOutcome>, Box<Fault>>> {
        None
    }

    /// The process it lives in, for an isolated object (as its loss names it).
    fn origin(&self) -> Option<u64> {
        None
    }

    /// Calls still running at `deadline` end the object's process (an
    /// isolated object; the host is shutting down). In process, nothing.
    fn end_calls_by(&self, _deadline: std::time::Instant) {}
}

/// Why an isolated plugin's process ended, and in which call.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// What ended it.
    pub cause: Cause,
    /// The call it was in (`on_event(PrintStarted)`), when one was in flight.
    pub during: Option<String>,
}

/// What ended an isolated plugin's process.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A signal (`SIGSEGV`, `SIGABRT`, …).
    Signal(String),
    /// It exited by itself with this status.
    Exited(i32),
    /// The host ended it: a call ran past its budget of `seconds`.
    Hung { seconds: f64 },
    /// The host ended it: it used `used_mib` of memory, past its limit.
    Memory { used_mib: u64, limit_mib: u64 },
    /// The channel broke and nothing more is known.
    Gone,
}

impl Fault {
    /// The channel is gone (while in `during`), cause unknown.
    pub fn gone(during: Option<String>) -> Self {
        Self {
            cause: Cause::Gone,
            during,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let during = self.during.as_deref();
        match (&self.cause, during) {
            (Cause::Hung { seconds }, Some(call)) => write!(f, "hung in {call} for {seconds} s"),
            (Cause::Hung { seconds }, None) => write!(f, "hung for {seconds} s"),
            (cause, _) => {
                match cause {
                    Cause::Signal(name) => write!(f, "{name}")?,
                    Cause::Exited(code) => write!(f, "exited with status {code}")?,
                    Cause::Memory {
                        used_mib,
                        limit_mib,
                    } => write!(
                        f,
                        "ended at {used_mib} MiB, past its memory limit of {limit_mib} MiB"
                    )?,
                    Cause::Gone | Cause::Hung { .. } => write!(f, "its process ended")?,
                }
                match during {
                    Some(call) => write!(f, " in {call}"),
                    None => write!(f, " with no call in flight"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_says_what_and_where() {
        let at = |cause, during: Option<&str>| {
            Fault {
                cause,
                during: during.map(str::to_owned),
            }
            .to_string()
        };
        assert_eq!(
            at(
                Cause::Signal("SIGSEGV".into()),
                Some("on_event(PrintStarted)")
            ),
            "SIGSEGV in on_event(PrintStarted)"
        );
        assert_eq!(
            at(Cause::Hung { seconds: 30.0 }, Some("on_api_get")),
            "hung in on_api_get for 30 s"
        );
        assert_eq!(
            at(Cause::Exited(3), None),
            "exited with status 3 with no call in flight"
        );
        assert_eq!(
            at(
                Cause::Memory {
                    used_mib: 600,
                    limit_mib: 512
                },
                None
            ),
            "ended at 600 MiB, past its memory limit of 512 MiB with no call in flight"
        );
    }
}
