//! The analysis queue (OctoPrint's `_analysis_queue`): G-code files are
//! analysed one at a time on a thread of their own ([`interpreter`]), and
//! the result is kept in the file's metadata as `analysis` (shown as
//! `gcodeAnalysis`), announced by `MetadataAnalysisStarted` and
//! `MetadataAnalysisFinished`.
//!
//! As OctoPrint, uploads are analysed first (high priority), files found
//! without an analysis at start-up after them, and nothing is analysed while
//! a print runs unless `gcodeAnalysis.runAt` is `always` (`never` turns the
//! queue off): an analysis a print interrupts starts again afterwards. A
//! file removed, moved or replaced during its analysis has it dropped, and a
//! result is stored only if the file did not change meanwhile.

mod interpreter;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use plinth_abi::{events, json};

use crate::config::host_settings::ANALYSIS_RUN_AT;
use crate::jobs::printer::Printer;
use crate::jobs::uploads;
use crate::plugins::manager::PluginManager;

pub use interpreter::{analyse, AnalysisError, AnalysisOptions};

/// How often a waiting queue looks at the printer again.
const RECHECK: Duration = Duration::from_secs(1);

/// The queue of G-code analyses.
pub struct AnalysisQueue {
    inner: Arc<Inner>,
}

struct Inner {
    manager: PluginManager,
    printer: Arc<Printer>,
    state: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<String>,
    /// The file being analysed and its abort flag.
    current: Option<(String, Arc<AtomicBool>)>,
    stopped: bool,
}

/// What is known of a file when its analysis starts: a result is kept only
/// if it is the same afterwards.
fn identity(meta: &std::fs::Metadata) -> (u64, Option<SystemTime>) {
    (meta.len(), meta.modified().ok())
}

impl AnalysisQueue {
    /// Starts the queue's thread; [`shutdown`](Self::shutdown) ends it.
    pub fn new(manager: PluginManager, printer: Arc<Printer>) -> Self {
        let inner = Arc::new(Inner {
            manager,
            printer,
            state: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("plinth-analysis".into())
            .spawn(move || worker.run())
            .expect("cannot start the analysis thread");
        Self { inner }
    }

    /// Queues G-code file `path` (other files are ignored): first when
    /// `high_priority` (an upload), else last.
    pub fn enqueue(&self, path: &str, high_priority: bool) {
        if !uploads::is_machinecode(path) {
            return;
        }
        let mut queue = self.inner.lock();
        queue.waiting.retain(|p| p != path);
        if high_priority {
            queue.waiting.push_front(path.to_owned());
        } else {
            queue.waiting.push_back(path.to_owned());
        }
        self.inner.wake.notify_all();
    }

    /// Drops `path` (a file, or a folder with everything in it) from the
    /// queue, stopping its analysis if it runs.
    pub fn dequeue(&self, path: &str) {
        let under = |p: &str| uploads::is_within(p, path);
        let mut queue = self.inner.lock();
        queue.waiting.retain(|p| !under(p));
        if let Some((current, abort)) = &queue.current {
            if under(current) {
                abort.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Queues every G-code file of `folder` (`""`: all) that has no analysis.
    pub fn enqueue_missing(&self, folder: &str) {
        let files = uploads::folder(&self.inner.manager);
        let Ok(listed) = files.list(folder, true) else {
            return;
        };
        for entry in listed {
            if entry.meta.is_file() && files.analysis(&entry.path).is_none() {
                self.enqueue(&entry.path, false);
            }
        }
    }

    /// Stops the queue and any analysis running.
    pub fn shutdown(&self) {
        let mut queue = self.inner.lock();
        queue.stopped = true;
        if let Some((_, abort)) = &queue.current {
            abort.store(true, Ordering::Relaxed);
        }
        self.inner.wake.notify_all();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether analyses may run now, by `gcodeAnalysis.runAt`.
    fn may_run(&self) -> bool {
        match ANALYSIS_RUN_AT.get(self.manager.config()).as_str() {
            "never" => false,
            "always" => true,
            _ => !self.printer.is_busy(),
        }
    }

    fn run(&self) {
        loop {
            let (path, abort) = {
                let mut queue = self.lock();
                loop {
                    if queue.stopped {
                        return;
                    }
                    if !queue.waiting.is_empty() && self.may_run() {
                        break;
                    }
                    queue = self.wake.wait_timeout(queue, RECHECK).unwrap().0;
                }
                let path = queue.waiting.pop_front().expect("checked above");
                let abort = Arc::new(AtomicBool::new(false));
                queue.current = Some((path.clone(), abort.clone()));
                (path, abort)
            };
            let interrupted = self.analyse(&path, &abort);
            let mut queue = self.lock();
            queue.current = None;
            if interrupted && !abort.load(Ordering::Relaxed) && !queue.stopped {
                // A print started: the file is analysed again after it.
                queue.waiting.push_front(path);
            }
        }
    }

    /// The printer profile's extruders and travel speed, as OctoPrint's
    /// analysis takes them.
    fn options(&self) -> AnalysisOptions {
        let profile = self.printer.profile();
        AnalysisOptions {
            speed_g0: profile.axis_speed('x').min(profile.axis_speed('y')),
            max_extruders: profile.extruders().max(1),
            ..AnalysisOptions::default()
        }
    }

    /// Analyses `path` and keeps the result; `true` when a print interrupted it.
    fn analyse(&self, path: &str, abort: &AtomicBool) -> bool {
        let folder = uploads::folder(&self.manager);
        let (Ok(file), Ok(meta)) = (folder.open(path), folder.metadata(path)) else {
            return false;
        };
        let before = identity(&meta);
        let (_, name) = uploads::split_path(path);
        self.manager.fire_event(
            events::METADATA_ANALYSIS_STARTED,
            &json!({"name": name, "path": path, "origin": "local", "type": ["machinecode", "gcode"]}),
        );
        let started = std::time::Instant::now();
        let stop = || abort.load(Ordering::Relaxed) || !self.may_run();
        let result = analyse(
            std::io::BufReader::with_capacity(64 * 1024, file),
            meta.len(),
            &self.options(),
            &mut |_| {},
            &stop,
        );
        match result {
            Ok(analysis) => {
                let result = analysis.to_json();
                let mut kept = false;
                // Checked under the metadata lock: a file replaced meanwhile
                // was dequeued (aborting this) before its new content landed.
                let stored = folder.update_metadata(path, |entry| {
                    let unchanged = folder.metadata(path).is_ok_and(|m| identity(&m) == before);
                    if unchanged && !abort.load(Ordering::Relaxed) {
                        entry.insert("analysis".into(), result.clone());
                        kept = true;
                    }
                });
                if let Err(e) = stored {
                    tracing::warn!("cannot keep the analysis of {path}: {e}");
                    return false;
                }
                if !kept {
                    return false;
                }
                tracing::info!(
                    "analysed {path} in {:.2} s",
                    started.elapsed().as_secs_f64()
                );
                self.manager.fire_event(
                    events::METADATA_ANALYSIS_FINISHED,
                    &json!({"name": name, "path": path, "origin": "local", "result": result}),
                );
                false
            }
            Err(AnalysisError::Aborted) => true,
            Err(e) => {
                tracing::warn!("cannot analyse {path}: {e}");
                false
            }
        }
    }
}
