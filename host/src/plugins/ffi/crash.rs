//! The record of which plugin call is in flight on each thread, and the
//! crash handler that writes it down when the host dies of a signal (a
//! segfault, an abort) inside a plugin running in process. The next start
//! reads it ([`crate::plugins::crashes::attribute_host_crash`]) and runs that
//! plugin isolated from then on.
//!
//! Setting the record is two thread-local stores per call. The handler only
//! does what is async-signal-safe: it reads the thread's record, formats it
//! into a buffer on its stack, writes it to a file opened beforehand, then
//! lets the signal take its default course.

use std::cell::Cell;
use std::os::fd::IntoRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The call in flight on this thread: the plugin's identifier (leaked, one
/// per plugin object), the method number and its encoded arguments.
#[derive(Clone, Copy)]
struct Current {
    id: &'static str,
    method: u32,
    args: *const u8,
    args_len: usize,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

/// How a crash record starts: one line, `PLINTH-CRASH<TAB>signal<TAB>plugin<TAB>method<TAB>arguments`.
pub(crate) const RECORD_TAG: &[u8] = b"PLINTH-CRASH";

/// The record file, open for the handler (-1: none).
static RECORD_FD: AtomicI32 = AtomicI32::new(-1);

/// Marks a call into plugin `id` as in flight on this thread while it lasts.
pub(crate) struct InFlight(Option<Current>);

impl InFlight {
    /// No plugin call on this thread while it lasts (the host serving a
    /// plugin's callback: a fault there is the host's).
    #[inline]
    pub(crate) fn none() -> Self {
        InFlight(CURRENT.with(|c| c.replace(None)))
    }

    #[inline]
    pub(crate) fn enter(id: &'static str, method: u32, args: &[u8]) -> Self {
        let current = Current {
            id,
            method,
            args: args.as_ptr(),
            args_len: args.len(),
        };
        InFlight(CURRENT.with(|c| c.replace(Some(current))))
    }
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Plugin `id` as the crash record names it: one copy per identifier for
/// the life of the process (the handler cannot allocate).
pub(crate) fn plugin_id(id: &str) -> &'static str {
    // A set, not a list: a thousand plugins ask twice each as they load.
    static IDS: std::sync::Mutex<Option<std::collections::HashSet<&'static str>>> =
        std::sync::Mutex::new(None);
    let mut ids = IDS.lock().unwrap();
    let ids = ids.get_or_insert_with(Default::default);
    if let Some(known) = ids.get(id) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.to_owned().into_boxed_str());
    ids.insert(leaked);
    leaked
}

/// Opens `path` (emptied) for the crash handler and installs it for the
/// signals a plugin's fault raises.
pub(crate) fn install(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    install_fd(file.into_raw_fd());
    Ok(())
}

/// Installs the crash handler writing its record to standard error (an
/// isolated plugin's process: the host reads it there).
pub(crate) fn install_on_stderr() {
    install_fd(libc::STDERR_FILENO);
}

fn install_fd(fd: i32) {
    RECORD_FD.store(fd, Ordering::SeqCst);
    for signal in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ] {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler
        // only calls async-signal-safe functions (write, fsync, signal, raise).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Closes the record (a clean stop): nothing to attribute.
pub(crate) fn uninstall(path: &Path) {
    let fd = RECORD_FD.swap(-1, Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `fd` came from `into_raw_fd` in `install` and is closed once.
        unsafe { libc::close(fd) };
    }
    let _ = std::fs::remove_file(path);
}

extern "C" fn handler(signal: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let fd = RECORD_FD.load(Ordering::SeqCst);
    // A thread-local with a const initialiser and no destructor is read
    // without allocation.
    let current = CURRENT.with(|c| c.get());
    // Outside any plugin call the record names no plugin (the host's own
    // fault, or a thread a plugin started): never blamed on a plugin.
    if fd >= 0 {
        let mut buf = [0u8; 1024];
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            for &b in bytes {
                if n < buf.len() {
                    buf[n] = b;
                    n += 1;
                }
            }
        };
        put(RECORD_TAG);
        put(b"\t");
        put(number(signal as u64, &mut [0u8; 20]));
        put(b"\t");
        if let Some(call) = current {
            put(call.id.as_bytes());
            put(b"\t");
            put(number(call.method as u64, &mut [0u8; 20]));
            put(b"\t");
            // SAFETY: the arguments live for the whole call, and the call is
            // in flight on this thread (it is the one that faulted).
            let args = unsafe { std::slice::from_raw_parts(call.args, call.args_len.min(200)) };
            // Printable ASCII as is, any other byte (and `\`) as `\xHH`:
            // the record stays one line of text whatever the encoding.
            for &b in args {
                if (0x20..0x7f).contains(&b) && b != b'\\' {
                    put(std::slice::from_ref(&b));
                } else {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    put(&[
                        b'\\',
                        b'x',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 15)],
                    ]);
                }
            }
        } else {
            put(b"\t0\t");
        }
        put(b"\n");
        // SAFETY: write and fsync are async-signal-safe; `buf` is ours.
        unsafe {
            libc::write(fd, buf.as_ptr() as *const libc::c_void, n);
            libc::fsync(fd);
        }
    }
    // SA_RESETHAND put the default action back: raising again ends the
    // process as the signal would have.
    // SAFETY: raise is async-signal-safe.
    unsafe {
        libc::raise(signal);
    }
}

/// `value` in decimal, in `buf`.
fn number(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_without_allocating() {
        assert_eq!(number(0, &mut [0; 20]), b"0");
        assert_eq!(number(1025, &mut [0; 20]), b"1025");
        assert_eq!(number(u64::MAX, &mut [0; 20]), b"18446744073709551615");
    }

    #[test]
    fn each_plugin_id_is_kept_once() {
        let a = plugin_id("crash_test_a");
        assert!(std::ptr::eq(a, plugin_id("crash_test_a")));
        let b = plugin_id("crash_test_b");
        assert_eq!((a, b), ("crash_test_a", "crash_test_b"));
        assert!(!std::ptr::eq(a, b));
    }

    #[test]
    fn the_record_follows_nested_calls() {
        let outer = InFlight::enter("a", 1, b"x");
        {
            let _inner = InFlight::enter("b", 2, b"y");
            assert_eq!(CURRENT.with(|c| c.get()).unwrap().id, "b");
        }
        assert_eq!(CURRENT.with(|c| c.get()).unwrap().id, "a");
        drop(outer);
        assert!(CURRENT.with(|c| c.get()).is_none());
    }
}
