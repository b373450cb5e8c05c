//! The running slicing jobs, by machine code path, so they can be cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Cancel flags of the running jobs, keyed by the path each job writes to.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a job writing to `path`; it stays registered until the
    /// returned guard is dropped. Refuses a second job for the same path.
    pub fn start(&self, path: &str) -> Result<JobGuard<'_>, String> {
        let mut running = self.lock();
        if running.contains_key(path) {
            return Err(format!("another slicing job is already writing to {path}"));
        }
        let flag = Arc::new(AtomicBool::new(false));
        running.insert(path.to_owned(), Arc::clone(&flag));
        Ok(JobGuard {
            jobs: self,
            path: path.to_owned(),
            flag,
        })
    }

    /// Raises the cancel flag of the job writing to `path`; returns whether
    /// there was one (cancelling an unknown path does nothing).
    pub fn cancel(&self, path: &str) -> bool {
        match self.lock().get(path) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Number of running jobs.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A registered job; unregisters it when dropped (also on panic).
#[derive(Debug)]
pub struct JobGuard<'a> {
    jobs: &'a Jobs,
    path: String,
    flag: Arc<AtomicBool>,
}

impl JobGuard<'_> {
    /// The job's cancel flag.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.jobs.lock();
        if running
            .get(&self.path)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flag))
        {
            running.remove(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_raises_the_flag_of_that_job_only() {
        let jobs = Jobs::default();
        let a = jobs.start("/tmp/a.gcode").unwrap();
        let b = jobs.start("/tmp/b.gcode").unwrap();
        assert!(jobs.cancel("/tmp/a.gcode"));
        assert!(a.flag().load(Ordering::Relaxed));
        assert!(!b.flag().load(Ordering::Relaxed));
        assert!(
            !jobs.cancel("/tmp/unknown.gcode"),
            "unknown paths are a no-op"
        );
        assert_eq!(jobs.len(), 2);
        drop(a);
        assert_eq!(jobs.len(), 1);
        assert!(!jobs.cancel("/tmp/a.gcode"), "finished jobs are forgotten");
        drop(b);
        assert_eq!(jobs.len(), 0);
    }

    #[test]
    fn one_job_per_path() {
        let jobs = Jobs::default();
        let a = jobs.start("/tmp/a.gcode").unwrap();
        let err = jobs.start("/tmp/a.gcode").unwrap_err();
        assert!(err.contains("already writing to /tmp/a.gcode"), "{err}");
        drop(a);
        let again = jobs.start("/tmp/a.gcode").unwrap();
        assert!(
            !again.flag().load(Ordering::Relaxed),
            "a new job starts uncancelled"
        );
    }

    #[test]
    fn cancel_from_another_thread() {
        let jobs = Jobs::default();
        let job = jobs.start("/tmp/c.gcode").unwrap();
        std::thread::scope(|s| {
            s.spawn(|| assert!(jobs.cancel("/tmp/c.gcode")));
        });
        assert!(job.flag().load(Ordering::Relaxed));
    }
}
