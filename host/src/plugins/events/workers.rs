//! The delivery workers: each serves mailboxes with events waiting until
//! the bus closes; an idle one looks for new events for a moment before it
//! sleeps; a supervisor starts another worker for each one stuck in a
//! handler.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{deliver, Shared, State};

/// How long an idle worker looks for new events before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// How long a worker that saw new events waits for more before it hands
/// them over (unless [`GATHER_EVENTS`] came by then).
const GATHER: Duration = Duration::from_micros(20);
const GATHER_EVENTS: u64 = 64;

/// A worker this long in one handler counts as stuck: another one starts.
const STUCK_AFTER: Duration = Duration::from_millis(200);

pub(super) fn spawn_worker(shared: &Arc<Shared>, state: &mut State) {
    let number = state.next_worker;
    state.next_worker += 1;
    state.alive += 1;
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(format!("plinth-events-{number}"))
        .spawn(move || work(&shared, number))
        .expect("cannot start an event worker");
}

/// A delivery worker: serves mailboxes with events until the bus closes.
fn work(shared: &Shared, number: u64) {
    let mut state = shared.lock();
    let mut spun = false;
    loop {
        if state.stale.is_some() && state.refreshing.is_none() {
            state = shared.refresh(state);
            continue;
        }
        if let Some(key) = state.ready.pop_front() {
            let Some(job) = shared.take(&mut state, key) else {
                continue;
            };
            if !state.ready.is_empty() && state.waiting_workers > 0 {
                shared.work.notify_one();
            }
            let began = Instant::now();
            state.busy.insert(number, began);
            drop(state);
            spun = false;
            // A panic here (the host's, not a plugin's: the SDK catches those)
            // must not leave the mailbox served forever.
            let scheme =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver::deliver(&job)))
                    .unwrap_or_else(|_| {
                        tracing::error!(plugin = %job.id, "delivering events failed");
                        Some(job.scheme)
                    });
            drop(job);
            state = shared.lock();
            state.busy.remove(&number);
            shared.finish(&mut state, key, scheme);
            // A worker that was stuck, and was replaced meanwhile, leaves,
            // handing on what waits.
            if began.elapsed() >= STUCK_AFTER && state.alive > shared.workers {
                if !state.ready.is_empty() || state.stale.is_some() {
                    shared.work.notify_one();
                }
                break;
            }
            continue;
        }
        if state.closed {
            break;
        }
        // Nothing waits: look again for a moment before sleeping (one worker
        // at a time), so a steady stream of events costs no wake-up each.
        if !spun && !state.spinning {
            spun = true;
            state.spinning = true;
            let seen = state.log.head();
            drop(state);
            gather(&shared.head, seen);
            state = shared.lock();
            state.spinning = false;
            continue;
        }
        spun = false;
        state.waiting_workers += 1;
        state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner());
        state.waiting_workers -= 1;
    }
    state.alive -= 1;
}

/// Looks for events fired after `seen` for at most [`SPIN`]; once some
/// come, waits a little more for others ([`GATHER`]), so that handlers get
/// them in fewer, larger batches.
fn gather(head: &AtomicU64, seen: u64) {
    let began = Instant::now();
    let mut first: Option<Instant> = None;
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        let now = Instant::now();
        let fired = head.load(Ordering::Acquire) - seen;
        if fired == 0 {
            if now - began >= SPIN {
                return;
            }
            continue;
        }
        let since = *first.get_or_insert(now);
        if fired >= GATHER_EVENTS || now - since >= GATHER {
            return;
        }
    }
}

/// Starts a worker for each one stuck in a handler while others wait.
pub(super) fn supervise(shared: &Weak<Shared>) {
    loop {
        std::thread::sleep(STUCK_AFTER / 2);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let mut state = shared.lock();
        if state.closed {
            return;
        }
        let stuck = state
            .busy
            .values()
            .filter(|since| since.elapsed() >= STUCK_AFTER)
            .count();
        let waiting = !state.ready.is_empty() || state.stale.is_some() || state.flushing > 0;
        if waiting
            && state.waiting_workers == 0
            && state.alive.saturating_sub(stuck) < shared.workers
        {
            spawn_worker(&shared, &mut state);
        }
    }
}
