//! One end of an isolated plugin's channel, the same on both sides: calls go
//! out as frames and wait for their reply; calls coming in run on worker
//! threads (so a call may call back, to any depth, while others go on) and
//! their replies go back; log lines go one way.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use plinth_abi::vtable::CallOutcome;

use super::frame::{outcome, Frame, Kind};
use crate::plugins::transport::Fault;

/// What answers the calls coming in.
pub trait Handler: Send + Sync + 'static {
    /// Answers call `code` with `body`.
    fn call(&self, code: u32, body: Vec<u8>) -> CallOutcome;
    /// Takes a log line.
    fn log(&self, level: u8, message: &str);
    /// The call in flight moved on to call `method` of a batch, whose
    /// arguments begin with `args`.
    fn progress(&self, _method: u32, _args: &[u8]) {}
}

/// A call sent and not yet answered.
struct Waiter {
    slot: Arc<Slot>,
}

/// Where a reply lands.
#[derive(Default)]
struct Slot {
    value: Mutex<Option<Result<CallOutcome, Fault>>>,
    ready: Condvar,
}

impl Slot {
    fn put(&self, value: Result<CallOutcome, Fault>) {
        *self.value.lock().unwrap() = Some(value);
        self.ready.notify_one();
    }

    fn take(&self) -> Result<CallOutcome, Fault> {
        let mut value = self.value.lock().unwrap();
        loop {
            if let Some(v) = value.take() {
                return v;
            }
            value = self.ready.wait(value).unwrap();
        }
    }
}

/// One end of a channel.
pub struct Peer {
    writer: Mutex<UnixStream>,
    next: AtomicU64,
    pending: Mutex<Pending>,
    workers: Arc<Workers>,
}

#[derive(Default)]
struct Pending {
    waiters: HashMap<u64, Waiter>,
    /// Set once the channel is gone: calls fail at once with it.
    lost: Option<Fault>,
}

impl Peer {
    /// An end writing to `writer`.
    pub fn new(writer: UnixStream) -> Arc<Self> {
        Arc::new(Self {
            writer: Mutex::new(writer),
            next: AtomicU64::new(1),
            pending: Mutex::default(),
            workers: Arc::new(Workers::default()),
        })
    }

    /// Calls `code` on the other side and waits for its reply, or for the
    /// channel to be lost.
    pub fn call(&self, code: u32, body: &[u8]) -> Result<CallOutcome, Fault> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        {
            let mut pending = self.pending.lock().unwrap();
            if let Some(fault) = &pending.lost {
                return Err(fault.clone());
            }
            pending.waiters.insert(id, Waiter { slot: slot.clone() });
        }
        let frame = Frame::encode(Kind::Call, id, code, body);
        if self.send(&frame).is_err() {
            // The reader sees the channel close and fails every waiter, this one included.
        }
        slot.take()
    }

    /// Sends a log line (lost with the channel).
    pub fn log(&self, level: u8, message: &str) {
        let _ = self.send(&Frame::encode(
            Kind::Log,
            0,
            level as u32,
            message.as_bytes(),
        ));
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.writer.lock().unwrap().write_all(frame)
    }

    /// Reads frames from `reader` until the other side closes the channel
    /// (or breaks it): replies wake their callers, calls run on workers,
    /// log lines go to `handler`.
    pub fn serve(
        self: &Arc<Self>,
        reader: UnixStream,
        handler: Arc<dyn Handler>,
    ) -> io::Result<()> {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        while let Some(frame) = Frame::read(&mut reader)? {
            match frame.kind {
                Kind::Reply => {
                    let waiter = self.pending.lock().unwrap().waiters.remove(&frame.id);
                    if let Some(waiter) = waiter {
                        waiter.slot.put(Ok(decode_outcome(frame.code, frame.body)));
                    }
                }
                Kind::Log => {
                    handler.log(frame.code as u8, &String::from_utf8_lossy(&frame.body));
                }
                Kind::Progress => handler.progress(frame.code, &frame.body),
                Kind::Call => {
                    let peer = self.clone();
                    let handler = handler.clone();
                    self.workers.run(Box::new(move || {
                        let outcome = handler.call(frame.code, frame.body);
                        let (code, body) = encode_outcome(outcome);
                        let _ = peer.send(&Frame::encode(Kind::Reply, frame.id, code, &body));
                    }));
                }
            }
        }
        Ok(())
    }

    /// The channel is gone: every call waiting and every later call fails
    /// with `fault`.
    pub fn fail_all(&self, fault: Fault) {
        let waiters: Vec<Waiter> = {
            let mut pending = self.pending.lock().unwrap();
            pending.lost.get_or_insert(fault.clone());
            pending.waiters.drain().map(|(_, w)| w).collect()
        };
        for waiter in waiters {
            waiter.slot.put(Err(fault.clone()));
        }
    }
}

pub(super) fn decode_outcome(code: u32, body: Vec<u8>) -> CallOutcome {
    let text = || String::from_utf8_lossy(&body).into_owned().into();
    match code {
        outcome::OK => CallOutcome::Ok(body.into()),
        outcome::UNSUPPORTED => CallOutcome::Unsupported,
        outcome::PANIC => CallOutcome::Panic(text()),
        _ => CallOutcome::Error(text()),
    }
}

pub(super) fn encode_outcome(o: CallOutcome) -> (u32, Vec<u8>) {
    match o {
        CallOutcome::Ok(bytes) => (outcome::OK, bytes.into_vec()),
        CallOutcome::Unsupported => (outcome::UNSUPPORTED, Vec::new()),
        CallOutcome::Error(e) => (outcome::ERROR, e.into_string().into_bytes()),
        CallOutcome::Panic(e) => (outcome::PANIC, e.into_string().into_bytes()),
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run calls coming in: an idle one takes the next, and a new
/// one starts when none is idle (a call waiting on a call back holds its
/// thread). Threads idle for a while end, down to a few.
#[derive(Default)]
struct Workers {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

/// Threads kept when idle.
const KEEP: usize = 2;
/// How long a thread beyond [`KEEP`] waits for work before it ends.
const LINGER: Duration = Duration::from_secs(10);

impl Workers {
    fn run(self: &Arc<Self>, job: Job) {
        let mut queue = self.queue.lock().unwrap();
        queue.jobs.push_back(job);
        // Every job waiting has an idle thread of its own, or a new one.
        if queue.jobs.len() <= queue.idle {
            drop(queue);
            self.wake.notify_one();
        } else {
            queue.threads += 1;
            drop(queue);
            let workers = self.clone();
            let spawned = std::thread::Builder::new()
                .name("plugin-call".into())
                .spawn(move || workers.work());
            if spawned.is_err() {
                // No thread to be had: the job waits for a busy one.
                self.queue.lock().unwrap().threads -= 1;
            }
        }
    }

    fn work(&self) {
        let mut queue = self.queue.lock().unwrap();
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                drop(queue);
                job();
                queue = self.queue.lock().unwrap();
                continue;
            }
            queue.idle += 1;
            let (q, timeout) = self.wake.wait_timeout(queue, LINGER).unwrap();
            queue = q;
            queue.idle -= 1;
            if timeout.timed_out() && queue.jobs.is_empty() && queue.threads > KEEP {
                queue.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Handler for Echo {
        fn call(&self, code: u32, body: Vec<u8>) -> CallOutcome {
            match code {
                1 => CallOutcome::Ok(body.into()),
                2 => CallOutcome::Error("refused".into()),
                _ => CallOutcome::Unsupported,
            }
        }
        fn log(&self, _: u8, _: &str) {}
    }

    #[test]
    fn calls_cross_and_fail_once_the_channel_is_gone() {
        let (a, b) = UnixStream::pair().unwrap();
        let caller = Peer::new(a.try_clone().unwrap());
        let callee = Peer::new(b.try_clone().unwrap());
        let served = std::thread::spawn(move || callee.serve(b, Arc::new(Echo)));
        let reader = caller.clone();
        let read = std::thread::spawn(move || reader.serve(a, Arc::new(Echo)));
        assert!(
            matches!(caller.call(1, b"hi").unwrap(), CallOutcome::Ok(v) if v.as_slice() == b"hi")
        );
        assert!(
            matches!(caller.call(2, b"").unwrap(), CallOutcome::Error(e) if e.as_str() == "refused")
        );
        assert!(matches!(
            caller.call(9, b"").unwrap(),
            CallOutcome::Unsupported
        ));
        let fault = Fault::gone(None);
        caller.fail_all(fault.clone());
        assert_eq!(caller.call(1, b"late").unwrap_err(), fault);
        drop(caller);
        drop(read);
        drop(served);
    }
}
