//! The host's services behind the files: the uploads folder ([`uploads`]) and
//! its file manager ([`files`]) with the G-code [`analysis`] queue, and the
//! jobs behind the ProgressPlugin mixin: slicing models ([`slicing`]) and
//! printing G-code on the printer ([`printer`], driving the virtual
//! printer's [`firmware`]). Both jobs report progress
//! in whole percents to every ProgressPlugin through one [`ProgressNotifier`],
//! to the push channel and as events.

pub mod analysis;
pub mod connectivity;
pub mod files;
pub mod firmware;
pub mod printer;
mod service;
pub mod slicing;
pub mod uploads;

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plinth_abi::methods::plugin as m;
use plinth_abi::SlicingProgress;

use crate::plugins::manager::PluginManager;
use plinth_abi::Mixin;

/// The services of one server: the printer, the slicing manager, the file
/// manager and the connectivity checker.
pub struct Jobs {
    pub printer: Arc<printer::Printer>,
    pub slicing: Arc<slicing::Slicing>,
    pub files: Arc<files::FileManager>,
    pub connectivity: Arc<connectivity::Connectivity>,
}

impl Jobs {
    /// An operational printer and a slicing manager sharing one notifier.
    pub fn new(manager: &PluginManager) -> Arc<Self> {
        let progress = Arc::new(ProgressNotifier::new(manager.clone()));
        let printer = printer::Printer::new(manager.clone(), progress.clone());
        let analysis = Arc::new(analysis::AnalysisQueue::new(
            manager.clone(),
            printer.clone(),
        ));
        let slicing = slicing::Slicing::new(manager.clone(), progress, printer.clone());
        slicing.remove_leftovers();
        let files = Arc::new(files::FileManager::new(
            manager.clone(),
            printer.clone(),
            slicing.clone(),
            analysis,
        ));
        slicing.attach_files(&files);
        printer.attach_files(&files);
        let jobs = Arc::new(Self {
            printer,
            slicing,
            files,
            connectivity: connectivity::Connectivity::new(manager.clone()),
        });
        let service: Arc<dyn crate::plugins::services::ServerServices> = jobs.clone();
        manager.attach_server(Arc::downgrade(&service));
        jobs
    }

    /// Cancels what runs: slicing jobs, and the print (waiting at most `timeout`).
    pub fn shutdown(&self, timeout: Duration) {
        self.files.analysis.shutdown();
        self.connectivity.shutdown();
        self.slicing.shutdown(timeout);
        self.printer.shutdown(timeout);
    }
}

/// Why a job request was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum JobError {
    /// Something named in the request does not exist (HTTP 404).
    NotFound(String),
    /// The request is malformed or names something unusable (HTTP 400).
    Invalid(String),
    /// The file is of a type this request cannot take (HTTP 415).
    Unsupported(String),
    /// The request does not fit the current state (HTTP 409).
    Conflict(String),
    /// The host or a plugin failed (HTTP 500).
    Failed(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::NotFound(m)
            | JobError::Invalid(m)
            | JobError::Unsupported(m)
            | JobError::Conflict(m)
            | JobError::Failed(m) => f.write_str(m),
        }
    }
}

enum Note {
    Print {
        storage: String,
        path: String,
        progress: u8,
    },
    Slicing(SlicingProgress),
    /// Answered once everything before it was delivered.
    Flush(Sender<()>),
}

/// Delivers progress to every enabled ProgressPlugin, in the order it was
/// reported, on a thread of its own: a slow ProgressPlugin never slows a
/// print or a slicing job down (it delays only the progress calls after it).
pub struct ProgressNotifier {
    tx: Mutex<Sender<Note>>,
}

impl ProgressNotifier {
    /// Starts the delivery thread; it ends when the notifier is dropped.
    pub fn new(manager: PluginManager) -> Self {
        let (tx, rx) = channel::<Note>();
        std::thread::Builder::new()
            .name("plinth-progress".into())
            .spawn(move || {
                for note in rx {
                    if let Note::Flush(done) = note {
                        let _ = done.send(());
                        continue;
                    }
                    for (id, plugin) in manager.implementations(Mixin::Progress, None) {
                        let result = match &note {
                            Note::Print {
                                storage,
                                path,
                                progress,
                            } => plugin.call_active::<m::OnPrintProgress>(&(
                                storage.clone(),
                                path.clone(),
                                *progress,
                            )),
                            Note::Slicing(p) => plugin.call_active::<m::OnSlicingProgress>(p),
                            Note::Flush(_) => unreachable!("answered above"),
                        };
                        if let Err(e) = result {
                            tracing::error!(plugin = %id, "progress callback: {e}");
                        }
                    }
                }
            })
            .expect("cannot start the progress thread");
        Self { tx: Mutex::new(tx) }
    }

    /// `on_print_progress(storage, path, progress)` for every ProgressPlugin.
    pub fn print(&self, storage: &str, path: &str, progress: u8) {
        let _ = self.tx.lock().unwrap().send(Note::Print {
            storage: storage.to_owned(),
            path: path.to_owned(),
            progress,
        });
    }

    /// Waits (at most `timeout`) until the progress reported so far was
    /// delivered to every ProgressPlugin.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = channel();
        let _ = self.tx.lock().unwrap().send(Note::Flush(done));
        wait.recv_timeout(timeout).is_ok()
    }

    /// `on_slicing_progress(...)` for every ProgressPlugin.
    pub fn slicing(&self, progress: SlicingProgress) {
        let _ = self.tx.lock().unwrap().send(Note::Slicing(progress));
    }
}

/// Whole percents passed when progress goes from `last` to `fraction`
/// (`fraction` from 0 to 1): every one of them, in order.
pub fn percents_passed(last: Option<u8>, fraction: f64) -> std::ops::RangeInclusive<u8> {
    let now = (fraction.clamp(0.0, 1.0) * 100.0).floor() as u8;
    match last {
        None => 0..=now,
        Some(last) => (last + 1)..=now,
    }
}

#[cfg(test)]
mod tests {
    use super::percents_passed;

    #[test]
    fn every_whole_percent_is_passed_once() {
        assert_eq!(percents_passed(None, 0.0).collect::<Vec<_>>(), [0]);
        assert_eq!(percents_passed(Some(0), 0.009).count(), 0);
        assert_eq!(
            percents_passed(Some(0), 0.031).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(percents_passed(Some(3), 0.02).count(), 0);
        assert_eq!(percents_passed(Some(99), 7.0).collect::<Vec<_>>(), [100]);
        assert_eq!(percents_passed(Some(100), 1.0).count(), 0);
        assert_eq!(percents_passed(None, 0.025).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
