//! The runtime threads that may run a plugin call themselves, and the
//! watchdog that keeps the server going while one of them is held.
//!
//! A tokio worker inside a long call polls nothing else, and if it was the
//! one to poll the network next, the parked workers would sleep on while
//! connections wait. So at most one worker fewer than the runtime has runs
//! such calls at once (none on a runtime of one worker), and a watchdog
//! thread looks at the calls every millisecond while there are any: a call
//! running past [`FAST`](super::calls::FAST) gets the runtime a task from
//! outside, which wakes a parked worker; that worker takes over the network
//! and steals the held worker's queued tasks. The watchdog sleeps after a
//! second without such calls and is woken by the next one.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};

/// How often the watchdog looks while calls run.
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// How long the watchdog keeps looking after the last call began.
const STAY_AWAKE: Duration = Duration::from_secs(1);

/// The runtime threads' call slots.
pub struct InlineCalls {
    /// When the call in each slot began, in nanoseconds since `epoch` plus
    /// one; 0 for a free slot. One slot per worker that may run calls.
    slots: OnceLock<Box<[AtomicU64]>>,
    /// What runs in each slot (`plugin `x`: on_api_get`), for the log.
    labels: OnceLock<Box<[Mutex<String>]>>,
    epoch: Instant,
    /// How long a call runs before the watchdog wakes another worker.
    fast: Duration,
    /// How long a call runs before the watchdog logs it.
    budget: Duration,
    /// `None` when its thread could not start: then no call runs inline.
    watchdog: OnceLock<Option<Arc<Watchdog>>>,
}

/// A slot taken: freed when dropped.
pub struct InlineSlot {
    calls: Arc<InlineCalls>,
    index: usize,
}

impl Drop for InlineSlot {
    fn drop(&mut self) {
        if let Some(slots) = self.calls.slots.get() {
            slots[self.index].store(0, Ordering::Release);
        }
    }
}

struct Watchdog {
    asleep: AtomicBool,
    bell: (Mutex<()>, Condvar),
}

impl InlineCalls {
    /// Slots that wake another worker when a call runs past `fast`, and
    /// log a call that runs past `budget`.
    pub fn new(fast: Duration, budget: Duration) -> Self {
        Self {
            slots: OnceLock::new(),
            labels: OnceLock::new(),
            epoch: Instant::now(),
            fast,
            budget,
            watchdog: OnceLock::new(),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    /// A slot for a call on this thread (`label`: what it calls, for the
    /// log): `None` unless this is a worker of a multi-threaded runtime
    /// with a worker to spare and a slot is free.
    pub fn take(self: &Arc<Self>, label: std::fmt::Arguments) -> Option<InlineSlot> {
        let handle = Handle::try_current().ok()?;
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return None;
        }
        let slots = self.slots.get_or_init(|| {
            let spare = handle.metrics().num_workers().saturating_sub(1);
            (0..spare).map(|_| AtomicU64::new(0)).collect()
        });
        let labels = self
            .labels
            .get_or_init(|| slots.iter().map(|_| Mutex::default()).collect());
        let watchdog = self
            .watchdog
            .get_or_init(|| self.start_watchdog(handle))
            .as_ref()?;
        let now = self.now();
        let index = slots.iter().position(|s| {
            s.compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        {
            use std::fmt::Write;
            let mut text = labels[index].lock().unwrap();
            text.clear();
            let _ = text.write_fmt(label);
        }
        if watchdog.asleep.load(Ordering::Acquire) {
            let _guard = watchdog.bell.0.lock().unwrap();
            watchdog.asleep.store(false, Ordering::Release);
            watchdog.bell.1.notify_one();
        }
        Some(InlineSlot {
            calls: self.clone(),
            index,
        })
    }

    fn start_watchdog(self: &Arc<Self>, handle: Handle) -> Option<Arc<Watchdog>> {
        let watchdog = Arc::new(Watchdog {
            asleep: AtomicBool::new(false),
            bell: (Mutex::new(()), Condvar::new()),
        });
        let calls = Arc::downgrade(self);
        let dog = watchdog.clone();
        let started = std::thread::Builder::new()
            .name("plinth-inline-watch".into())
            .spawn(move || watch(calls, dog, handle));
        match started {
            Ok(_) => Some(watchdog),
            Err(e) => {
                tracing::warn!("cannot start the watchdog of plugin calls, so every call runs on the blocking pool: {e}");
                None
            }
        }
    }
}

/// The watchdog's loop: ends when the slots are gone.
fn watch(calls: Weak<InlineCalls>, dog: Arc<Watchdog>, handle: Handle) {
    // The start of the call last seen in each slot, whether another
    // worker was woken for it and whether it was logged.
    let mut seen: Vec<(u64, bool, bool)> = Vec::new();
    let mut last_call = Instant::now();
    loop {
        let Some(calls) = calls.upgrade() else { return };
        let slots = calls.slots.get().map_or(&[][..], |s| &s[..]);
        seen.resize(slots.len(), (0, false, false));
        let now = calls.now();
        for (index, (slot, seen)) in slots.iter().zip(seen.iter_mut()).enumerate() {
            let began = slot.load(Ordering::Acquire);
            if began == 0 {
                continue;
            }
            last_call = Instant::now();
            if seen.0 != began {
                *seen = (began, false, false);
            }
            let running = Duration::from_nanos(now.saturating_sub(began));
            if !seen.1 && running > calls.fast {
                // A task from outside the runtime wakes a parked worker.
                handle.spawn(async {});
                seen.1 = true;
            }
            if !seen.2 && running > calls.budget {
                let label = calls.labels.get().map(|l| l[index].lock().unwrap().clone());
                tracing::warn!(
                    "{} has run past the budget of {:?} on a request's thread, after answering fast before: that request waits for it, the plugin's next calls run on the blocking pool",
                    label.unwrap_or_default(),
                    calls.budget
                );
                seen.2 = true;
            }
        }
        drop(calls);
        if last_call.elapsed() < STAY_AWAKE {
            std::thread::sleep(LOOK_EVERY);
            continue;
        }
        let guard = dog.bell.0.lock().unwrap();
        dog.asleep.store(true, Ordering::Release);
        // Woken by the next call's slot (or now and then, to see whether
        // the slots are gone).
        let _ = dog
            .bell
            .1
            .wait_timeout_while(guard, STAY_AWAKE * 10, |_| {
                dog.asleep.load(Ordering::Acquire)
            })
            .unwrap();
        dog.asleep.store(false, Ordering::Release);
        last_call = Instant::now();
    }
}
