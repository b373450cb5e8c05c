//! A lane: a socket between the host and an isolated plugin's process on
//! which one call runs at a time, the calling thread itself reading the
//! answer. Calls made back while it runs (the plugin's service calls, the
//! host's calls into the plugin from those) travel the same lane and are
//! answered inline on the threads already waiting, as nested calls are in
//! process. A round trip is two thread wake-ups, one per side.
//!
//! The host keeps a pool of lanes per plugin process and opens another
//! (connecting to the process's lane socket) when all are busy; the process
//! serves each lane on a thread of its own.

use std::cell::RefCell;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plinth_abi::vtable::CallOutcome;

use super::frame::{Frame, Kind};
use super::peer::{decode_outcome, encode_outcome, Handler};

/// How long a thread waiting on a lane polls before it sleeps: a call
/// answered within it costs no wake-up (on this kind of machine a wake-up
/// across processes costs tens of microseconds). It yields between polls,
/// so on a busy machine the other threads run meanwhile.
const SPIN: Duration = Duration::from_micros(60);

/// A lane's socket as read: polled for [`SPIN`] (yielding), then waited on.
struct Spinning(UnixStream);

impl Read for Spinning {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let start = Instant::now();
        loop {
            match crate::plugins::ffi::receive_now(&self.0, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if start.elapsed() > SPIN {
                        return self.0.read(buf);
                    }
                    std::thread::yield_now();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

/// One lane.
pub struct Lane {
    /// The process it leads to, on the host's side (0 on the plugin's).
    owner: u64,
    reader: Mutex<BufReader<Spinning>>,
    writer: Mutex<UnixStream>,
    next: AtomicU64,
}

thread_local! {
    /// The lanes the current thread serves calls on, innermost last.
    static SERVING: RefCell<Vec<Arc<Lane>>> = const { RefCell::new(Vec::new()) };
}

/// The lane this thread serves on while it lasts (taken off also when the
/// call unwinds).
struct Serving;

impl Serving {
    fn enter(lane: Arc<Lane>) -> Self {
        SERVING.with(|s| s.borrow_mut().push(lane));
        Serving
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        SERVING.with(|s| s.borrow_mut().pop());
    }
}

impl Lane {
    /// A lane over `stream` to process `owner` (0 on the plugin's side).
    pub fn new(stream: UnixStream, owner: u64) -> io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            owner,
            writer: Mutex::new(stream.try_clone()?),
            reader: Mutex::new(BufReader::with_capacity(16 * 1024, Spinning(stream))),
            next: AtomicU64::new(1),
        }))
    }

    fn send(&self, kind: Kind, id: u64, code: u32, body: &[u8]) -> io::Result<()> {
        self.writer
            .lock()
            .unwrap()
            .write_all(&Frame::encode(kind, id, code, body))
    }

    fn receive(&self) -> io::Result<Frame> {
        Frame::read(&mut *self.reader.lock().unwrap())?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    /// Calls `code` on the other side, answering what it calls back with
    /// `handler`, until the reply arrives; an error when the lane closed.
    pub fn call(
        self: &Arc<Self>,
        code: u32,
        body: &[u8],
        handler: &dyn Handler,
    ) -> io::Result<CallOutcome> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.send(Kind::Call, id, code, body)?;
        loop {
            let frame = self.receive()?;
            match frame.kind {
                Kind::Reply if frame.id == id => return Ok(decode_outcome(frame.code, frame.body)),
                Kind::Reply => {}
                Kind::Call => self.answer(frame, handler)?,
                Kind::Log => handler.log(frame.code as u8, &String::from_utf8_lossy(&frame.body)),
                Kind::Progress => handler.progress(frame.code, &frame.body),
            }
        }
    }

    /// Runs a call that came in, on this thread, and sends its reply.
    fn answer(self: &Arc<Self>, frame: Frame, handler: &dyn Handler) -> io::Result<()> {
        let outcome = {
            let _serving = Serving::enter(self.clone());
            handler.call(frame.code, frame.body)
        };
        let (code, body) = encode_outcome(outcome);
        self.send(Kind::Reply, frame.id, code, &body)
    }

    /// Serves the calls that come in until the other side closes the lane.
    pub fn serve(self: &Arc<Self>, handler: &dyn Handler) {
        while let Ok(frame) = self.receive() {
            let answered = match frame.kind {
                Kind::Call => self.answer(frame, handler),
                Kind::Log => {
                    handler.log(frame.code as u8, &String::from_utf8_lossy(&frame.body));
                    Ok(())
                }
                Kind::Reply | Kind::Progress => Ok(()),
            };
            if answered.is_err() {
                return;
            }
        }
    }

    /// Tells the other side that the batch being served moves on to a call
    /// of `method` with `args` (only their beginning is sent).
    pub fn progress(&self, method: u32, args: &[u8]) {
        let _ = self.send(Kind::Progress, 0, method, &args[..args.len().min(200)]);
    }

    /// The lane the current thread serves a call on (the innermost), if it does.
    pub fn serving() -> Option<Arc<Lane>> {
        SERVING.with(|s| s.borrow().last().cloned())
    }

    /// The innermost lane to process `owner` the current thread serves a
    /// call on: a call to that process made now nests there (A → host →
    /// B → host → A runs on A's thread that waits, as it would in process).
    pub fn serving_for(owner: u64) -> Option<Arc<Lane>> {
        SERVING.with(|s| s.borrow().iter().rev().find(|l| l.owner == owner).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers 1 with its argument; 2 by calling 1 back on the lane it
    /// serves; anything else with Unsupported.
    struct Echo;
    impl Handler for Echo {
        fn call(&self, code: u32, body: Vec<u8>) -> CallOutcome {
            match code {
                1 => CallOutcome::Ok(body.into()),
                2 => {
                    let lane = Lane::serving().expect("served on a lane");
                    lane.call(1, b"nested", &Echo).unwrap()
                }
                _ => CallOutcome::Unsupported,
            }
        }
        fn log(&self, _: u8, _: &str) {}
    }

    #[test]
    fn a_call_nests_on_the_innermost_lane_to_its_process() {
        let lane = |owner| Lane::new(UnixStream::pair().unwrap().0, owner).unwrap();
        let (a, b, a_again) = (lane(1), lane(2), lane(1));
        assert!(Lane::serving_for(1).is_none());
        let _a = Serving::enter(a.clone());
        let _b = Serving::enter(b.clone());
        assert!(
            Arc::ptr_eq(&Lane::serving_for(1).unwrap(), &a),
            "A → host → B → host → A"
        );
        assert!(Arc::ptr_eq(&Lane::serving().unwrap(), &b));
        {
            let _a_again = Serving::enter(a_again.clone());
            assert!(Arc::ptr_eq(&Lane::serving_for(1).unwrap(), &a_again));
        }
        assert!(Arc::ptr_eq(&Lane::serving_for(1).unwrap(), &a));
        assert!(Lane::serving_for(3).is_none());
    }

    #[test]
    fn calls_and_calls_back_run_on_the_waiting_threads() {
        let (a, b) = UnixStream::pair().unwrap();
        let ours = Lane::new(a, 1).unwrap();
        let theirs = Lane::new(b, 0).unwrap();
        let served = std::thread::spawn(move || theirs.serve(&Echo));
        let ok = |o: CallOutcome| match o {
            CallOutcome::Ok(v) => v.into_vec(),
            other => panic!("{other:?}"),
        };
        assert_eq!(ok(ours.call(1, b"hi", &Echo).unwrap()), b"hi");
        assert_eq!(ok(ours.call(2, b"", &Echo).unwrap()), b"nested");
        assert!(matches!(
            ours.call(7, b"", &Echo).unwrap(),
            CallOutcome::Unsupported
        ));
        drop(ours);
        served.join().unwrap();
    }
}
