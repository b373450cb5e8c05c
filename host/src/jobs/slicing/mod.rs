//! The slicing manager: every enabled SlicerPlugin whose
//! `is_slicer_configured` is true, by its slicer type; their profiles under
//! `<basedir>/slicingProfiles/<type>/<name>.profile`; slicing jobs.
//!
//! A job runs on a thread of its own. The slicer writes to a hidden file in
//! the uploads folder that becomes the destination only when slicing
//! succeeds, so a failed or cancelled job leaves nothing half-written. Its
//! progress (whole percents) goes to every ProgressPlugin, to the push
//! channel as `{"slicingProgress": …}` and as `SlicingProgress` events; the
//! job starts with `SlicingStarted` and ends in `SlicingDone`,
//! `SlicingFailed` or `SlicingCancelled`.

use plinth_abi::events;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use plinth_abi::methods::plugin as m;
use plinth_abi::{json, SliceError, SliceRequest, SlicerProperties, SlicingProgress, Value};

use super::files::FileManager;
use super::printer::Printer;
use super::{percents_passed, JobError, ProgressNotifier};
use crate::jobs::uploads;
use crate::plugins::manager::PluginManager;
use plinth_abi::Mixin;

/// Slicing jobs that may run at once.
pub const MAX_JOBS: usize = 4;

mod profiles;

pub use profiles::profile_json;

/// A registered slicer.
#[derive(Debug, Clone)]
pub struct Slicer {
    /// The plugin implementing it.
    pub plugin: String,
    /// Its properties.
    pub properties: SlicerProperties,
}

/// What a slice request asks for (OctoPrint's `slice` command).
#[derive(Debug, Clone, Default)]
pub struct SliceOrder {
    /// The model file in the uploads folder.
    pub source: String,
    /// The slicer type.
    pub slicer: String,
    /// A stored profile; the slicer's default profile when `None`.
    pub profile: Option<String>,
    /// The G-code file to write; the model's name with the slicer's first
    /// destination extension when `None`.
    pub destination: Option<String>,
    /// Where the model's centre goes on the bed.
    pub position: Option<(f64, f64)>,
    /// Select the result for printing when done.
    pub select: bool,
    /// Print the result when done.
    pub print: bool,
    /// The printer profile to slice for; the printer's current one when `None`.
    pub printer_profile: Option<String>,
}

/// A running job.
#[derive(Debug, Clone)]
pub struct RunningJob {
    pub id: u64,
    pub slicer: String,
    pub plugin: String,
    pub source: String,
    pub destination: String,
    /// Where the slicer writes (hidden until the job succeeds).
    pub machinecode_path: String,
    pub progress: Option<u8>,
    pub cancelled: bool,
    /// The slicer returned; the job can no longer be cancelled.
    pub finishing: bool,
    /// Whether the slicer reports progress.
    pub progress_report: bool,
}

impl RunningJob {
    /// The job as the API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "slicer": self.slicer,
            "source": {"origin": "local", "path": self.source},
            "destination": {"origin": "local", "path": self.destination},
            "progress": self.progress,
            "cancelled": self.cancelled,
        })
    }
}

/// The slicing manager of one host.
pub struct Slicing {
    manager: PluginManager,
    progress: Arc<ProgressNotifier>,
    printer: Arc<Printer>,
    /// The file manager that stores the results (set once it exists).
    files: OnceLock<Weak<FileManager>>,
    jobs: Mutex<BTreeMap<u64, RunningJob>>,
    next: AtomicU64,
}

/// Why a same-device slicer may not run now: OctoPrint's rule that a slicer
/// on the host's own device must not slice while a print runs on fewer than
/// two (or an unknown number of) cores.
pub fn same_device_refusal(
    properties: &SlicerProperties,
    printing: bool,
    cores: Option<usize>,
) -> Option<String> {
    let enough = cores.is_some_and(|n| n >= 2);
    (properties.same_device && printing && !enough).then(|| {
        format!(
            "slicer `{}` runs on this device, which has {} core(s): it cannot slice while a print is running",
            properties.slicer_type,
            cores.map_or("an unknown number of".to_owned(), |n| n.to_string())
        )
    })
}

/// Whether a slicer type is a plain name (it names a folder: nothing that
/// could leave it).
fn is_plain_type(kind: &str) -> bool {
    // `jobs` would hide behind `/api/slicing/jobs`.
    kind != "jobs"
        && !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The hidden file in the uploads folder a job's slicer writes to; it becomes
/// the destination only when the job succeeds.
fn output_name(job: u64, destination: &str) -> String {
    let (_, name) = uploads::split_path(destination);
    format!(".slicing-{job}-{name}")
}

impl Slicing {
    pub fn new(
        manager: PluginManager,
        progress: Arc<ProgressNotifier>,
        printer: Arc<Printer>,
    ) -> Arc<Self> {
        Arc::new(Self {
            manager,
            progress,
            printer,
            files: OnceLock::new(),
            jobs: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(1),
        })
    }

    /// Gives the slicing manager the file manager that stores its results.
    pub fn attach_files(&self, files: &Arc<FileManager>) {
        let _ = self.files.set(Arc::downgrade(files));
    }

    /// The registered slicers by type: enabled Slicer plugins that say they are
    /// configured. Two plugins with one type: the first in plugin order wins.
    pub fn slicers(&self) -> BTreeMap<String, Slicer> {
        let mut out: BTreeMap<String, Slicer> = BTreeMap::new();
        for id in self.manager.implementation_ids(Mixin::Slicer, None) {
            if !self
                .manager
                .call::<m::IsSlicerConfigured>(&id, &())
                .unwrap_or(false)
            {
                continue;
            }
            match self.manager.call::<m::GetSlicerProperties>(&id, &()) {
                Ok(properties) => {
                    let kind = properties.slicer_type.clone();
                    let plain = is_plain_type(&kind);
                    if !plain {
                        tracing::error!(plugin = %id, "slicer type {kind:?} is not a plain name (letters, digits, `_`, `-`); the slicer is not registered");
                        continue;
                    }
                    if let Some(first) = out.get(&kind) {
                        tracing::warn!(plugin = %id, "slicer type `{kind}` is taken by `{}`; ignored", first.plugin);
                        continue;
                    }
                    out.insert(
                        kind,
                        Slicer {
                            plugin: id,
                            properties,
                        },
                    );
                }
                Err(e) => tracing::error!(plugin = %id, "get_slicer_properties: {e}"),
            }
        }
        out
    }

    /// The slicer of type `kind`.
    pub fn slicer(&self, kind: &str) -> Result<Slicer, JobError> {
        self.slicers().remove(kind).ok_or_else(|| {
            JobError::NotFound(format!("no slicer `{kind}` (known: {})", self.known()))
        })
    }

    fn known(&self) -> String {
        let names: Vec<String> = self.slicers().into_keys().collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    /// The running jobs.
    pub fn jobs(&self) -> Vec<RunningJob> {
        self.jobs.lock().unwrap().values().cloned().collect()
    }

    /// Whether a running job writes `name`.
    pub fn is_writing(&self, name: &str) -> bool {
        self.jobs
            .lock()
            .unwrap()
            .values()
            .any(|j| j.destination == name)
    }

    /// Checks a slice request and starts it; returns the job.
    pub fn slice(self: &Arc<Self>, order: SliceOrder) -> Result<RunningJob, JobError> {
        let slicer = self.slicer(&order.slicer)?;
        let folder = uploads::folder(&self.manager);
        let source = uploads::clean_path(&order.source)
            .filter(|n| folder.metadata(n).is_ok())
            .map(|n| folder.path(&n))
            .ok_or_else(|| JobError::NotFound(format!("no file {:?}", order.source)))?;
        let tree = uploads::extension_tree(&self.manager);
        let kind = uploads::type_of(&tree, &order.source).unwrap_or_default();
        if !slicer
            .properties
            .source_file_types
            .iter()
            .any(|t| kind.iter().any(|k| k == t))
        {
            return Err(JobError::Unsupported(format!(
                "slicer `{}` takes {:?} files; {} is {:?}",
                order.slicer, slicer.properties.source_file_types, order.source, kind
            )));
        }
        let extension = slicer
            .properties
            .destination_extensions
            .first()
            .cloned()
            .unwrap_or_else(|| "gcode".into());
        let destination = match &order.destination {
            Some(name) => uploads::clean_path(name)
                .filter(|p| folder.folder(uploads::split_path(p).0).is_ok())
                .ok_or_else(|| {
                    JobError::Invalid(format!(
                        "{name:?} is not a usable file path (names of letters, digits, `.`, \
                         `_`, `-`, at most {} bytes, no leading dot, in an existing folder)",
                        uploads::MAX_NAME_BYTES
                    ))
                })?,
            None => {
                // Beside the model, named after it.
                let (dir, model) = uploads::split_path(&order.source);
                let stem = model.rsplit_once('.').map_or(model, |s| s.0);
                // Shortened like an upload's name when the model's is long.
                let name = format!("{stem}.{extension}");
                let name = uploads::sanitize(&name)
                    .filter(|clean| clean.ends_with(&format!(".{extension}")))
                    .ok_or_else(|| {
                        JobError::Failed(format!(
                            "slicer `{}` declares the unusable destination extension {extension:?}",
                            order.slicer
                        ))
                    })?;
                uploads::join_path(dir, &name)
            }
        };
        let ext_ok = destination.rsplit_once('.').is_some_and(|(_, ext)| {
            slicer
                .properties
                .destination_extensions
                .iter()
                .any(|d| d.eq_ignore_ascii_case(ext))
        });
        if !ext_ok {
            return Err(JobError::Invalid(format!(
                "slicer `{}` writes {:?} files, not {destination}",
                order.slicer, slicer.properties.destination_extensions
            )));
        }
        let profile_path = match &order.profile {
            Some(name) => {
                self.profile(&slicer, name)?;
                Some(self.profile_path(&slicer, name)?)
            }
            None => None,
        };
        if order
            .position
            .is_some_and(|(x, y)| !x.is_finite() || !y.is_finite())
        {
            return Err(JobError::Invalid(
                "`position` needs finite `x` and `y`".into(),
            ));
        }
        let cores = std::thread::available_parallelism().ok().map(|n| n.get());
        if let Some(why) = same_device_refusal(&slicer.properties, self.printer.is_busy(), cores) {
            return Err(JobError::Conflict(why));
        }
        if self.printer.is_printing_file(&destination) {
            return Err(JobError::Conflict(format!(
                "{destination} is being printed; choose another destination"
            )));
        }
        let printer_profile = match &order.printer_profile {
            None => self.printer.profile(),
            Some(id) => self
                .printer
                .profiles()
                .get(id)
                .ok_or_else(|| JobError::NotFound(format!("no printer profile {id:?}")))?,
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let job = RunningJob {
            id,
            slicer: order.slicer.clone(),
            plugin: slicer.plugin.clone(),
            source: order.source.clone(),
            destination: destination.clone(),
            machinecode_path: folder
                .path(&output_name(id, &destination))
                .to_string_lossy()
                .into_owned(),
            progress: None,
            cancelled: false,
            finishing: false,
            progress_report: slicer.properties.progress_report,
        };
        {
            let mut jobs = self.jobs.lock().unwrap();
            if jobs.values().any(|j| j.destination == destination) {
                return Err(JobError::Conflict(format!(
                    "{destination} is already being sliced"
                )));
            }
            if jobs.len() >= MAX_JOBS {
                return Err(JobError::Conflict(format!(
                    "{MAX_JOBS} slicing jobs are running; try again when one is done"
                )));
            }
            jobs.insert(id, job.clone());
        }
        // The output file exists before the slicer runs: created here, in the
        // folder, never through a link that happened to have its name.
        if let Err(e) = folder.fresh(&output_name(id, &destination)) {
            self.jobs.lock().unwrap().remove(&id);
            return Err(JobError::Failed(format!(
                "cannot create the output of {destination}: {e}"
            )));
        }
        let request = SliceRequest {
            model_path: source.to_string_lossy().into_owned(),
            printer_profile: printer_profile.0,
            machinecode_path: Some(job.machinecode_path.clone()),
            profile_path: profile_path.map(|p| p.to_string_lossy().into_owned()),
            position: order.position,
            job: id,
        };
        let slicing = self.clone();
        let started = job.clone();
        std::thread::Builder::new()
            .name(format!("plinth-slicing-{id}"))
            .spawn(move || slicing.run(started, request, order))
            .map_err(|e| {
                self.jobs.lock().unwrap().remove(&id);
                JobError::Failed(format!("cannot start slicing: {e}"))
            })?;
        Ok(job)
    }

    /// Cancels job `id`: the slicer is asked to stop; it ends in `SlicingCancelled`.
    pub fn cancel(&self, id: u64) -> Result<(), JobError> {
        let job = {
            let mut jobs = self.jobs.lock().unwrap();
            let job = jobs
                .get_mut(&id)
                .ok_or_else(|| JobError::NotFound(format!("no slicing job {id} is running")))?;
            if job.finishing {
                return Err(JobError::Conflict(format!(
                    "slicing job {id} has finished slicing and is being stored"
                )));
            }
            job.cancelled = true;
            job.clone()
        };
        self.manager
            .call::<m::CancelSlicing>(&job.plugin, &job.machinecode_path)
            .map_err(|e| JobError::Failed(format!("plugin `{}` failed to cancel: {e}", job.plugin)))
    }

    /// Cancels every running job and waits (at most `timeout`) for them to end.
    pub fn shutdown(&self, timeout: std::time::Duration) {
        let ids: Vec<u64> = self.jobs.lock().unwrap().keys().copied().collect();
        for id in ids {
            let _ = self.cancel(id);
        }
        let deadline = Instant::now() + timeout;
        while !self.jobs.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Removes what jobs and profile saves of an earlier run left behind
    /// (a crash, or a slicer that ignored the cancel at shutdown).
    pub fn remove_leftovers(&self) {
        let mut folders = vec![uploads::folder(&self.manager).root().to_path_buf()];
        let profiles = self.manager.paths().basedir.join("slicingProfiles");
        folders.extend(
            std::fs::read_dir(profiles)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
        for folder in folders {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let leftover = name.starts_with(".slicing-")
                    || (name.starts_with('.')
                        && name.ends_with(".tmp")
                        && name.contains(".profile."));
                if leftover {
                    tracing::info!(
                        "removing {}, left by an earlier run",
                        entry.path().display()
                    );
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    fn payload(job: &RunningJob) -> Value {
        json!({
            "slicer": job.slicer,
            "stl": job.source,
            "stl_location": "local",
            "gcode": job.destination,
            "gcode_location": "local",
        })
    }

    /// The job's thread.
    fn run(self: Arc<Self>, job: RunningJob, request: SliceRequest, order: SliceOrder) {
        // Even if something below panics, the job leaves the list of running jobs.
        struct Leave<'a>(&'a Slicing, u64);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.manager.end_slicing_progress(self.1);
                self.0.jobs.lock().unwrap().remove(&self.1);
            }
        }
        let _leave = Leave(&self, job.id);
        let begin = Instant::now();
        let mut payload = Self::payload(&job);
        payload["progressAvailable"] = json!(job.progress_report);
        self.manager.fire_event(events::SLICING_STARTED, &payload);
        let sink_self = self.clone();
        let sink_job = job.clone();
        let last = Mutex::new(None::<u8>);
        self.manager.route_slicing_progress(
            job.id,
            &job.plugin,
            Arc::new(move |fraction| {
                let mut last = last.lock().unwrap();
                for percent in percents_passed(*last, fraction) {
                    *last = Some(percent);
                    sink_self.report(&sink_job, percent);
                }
            }),
        );
        let result = self.manager.call::<m::DoSlice>(&job.plugin, &request);
        self.manager.end_slicing_progress(job.id);
        let cancelled = match self.jobs.lock().unwrap().get_mut(&job.id) {
            Some(j) => {
                j.finishing = true;
                j.cancelled
            }
            None => true,
        };
        let temp = PathBuf::from(&job.machinecode_path);
        let mut payload = Self::payload(&job);
        let outcome = match result {
            Ok(Ok(_)) if cancelled => Err(SliceError::Cancelled),
            Ok(Ok(result)) => self.finish(&job, &result),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(SliceError::Failed(format!(
                "plugin `{}` failed: {e}",
                job.plugin
            ))),
        };
        let event = match &outcome {
            Ok(()) => {
                payload["time"] = json!(begin.elapsed().as_secs_f64());
                events::SLICING_DONE
            }
            Err(SliceError::Cancelled) => events::SLICING_CANCELLED,
            Err(SliceError::Failed(reason)) => {
                tracing::error!(plugin = %job.plugin, "slicing {} failed: {reason}", job.source);
                payload["reason"] = json!(reason);
                events::SLICING_FAILED
            }
        };
        if outcome.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        self.jobs.lock().unwrap().remove(&job.id);
        self.manager.fire_event(event, &payload);
        if outcome.is_ok() && (order.select || order.print) {
            if let Err(e) = self.printer.select(&job.destination, order.print) {
                tracing::warn!("cannot select {} after slicing: {e}", job.destination);
            }
        }
    }

    /// Moves a finished job's output into place with its analysis.
    fn finish(&self, job: &RunningJob, result: &Value) -> Result<(), SliceError> {
        let folder = uploads::folder(&self.manager);
        let output = output_name(job.id, &job.destination);
        // The output file was created empty before the slicer ran.
        let meta = folder.metadata(&output).map_err(|e| {
            SliceError::Failed(format!("the slicer's output is gone or not a file: {e}"))
        })?;
        if meta.len() == 0 {
            return Err(SliceError::Failed(
                "the slicer reported success but wrote no output".into(),
            ));
        }
        let files = self
            .files
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| SliceError::Failed("the host is shutting down".into()))?;
        let analysis = result.get("analysis").filter(|a| a.is_object());
        files
            .add_sliced(&output, &job.destination, analysis)
            .map_err(|e| SliceError::Failed(e.to_string()))
    }

    fn report(&self, job: &RunningJob, percent: u8) {
        if let Some(j) = self.jobs.lock().unwrap().get_mut(&job.id) {
            j.progress = Some(percent);
        }
        let progress = SlicingProgress {
            slicer: job.slicer.clone(),
            source_location: "local".into(),
            source_path: job.source.clone(),
            destination_location: "local".into(),
            destination_path: job.destination.clone(),
            progress: percent,
        };
        // OctoPrint's push message names the destination `dest_…`.
        let value = json!({
            "slicer": progress.slicer,
            "source_location": progress.source_location,
            "source_path": progress.source_path,
            "dest_location": progress.destination_location,
            "dest_path": progress.destination_path,
            "progress": percent,
        });
        self.manager.fire_event(events::SLICING_PROGRESS, &value);
        self.manager.push(&json!({ "slicingProgress": value }));
        self.progress.slicing(progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(same_device: bool) -> SlicerProperties {
        SlicerProperties {
            slicer_type: "x".into(),
            name: "X".into(),
            same_device,
            progress_report: true,
            source_file_types: vec!["model".into()],
            destination_extensions: vec!["gcode".into()],
        }
    }

    #[test]
    fn the_same_device_rule_follows_the_seed() {
        // Refused only for a same-device slicer while printing on < 2 or unknown cores.
        assert!(same_device_refusal(&props(true), true, Some(1)).is_some());
        assert!(same_device_refusal(&props(true), true, None).is_some());
        assert!(same_device_refusal(&props(true), true, Some(2)).is_none());
        assert!(same_device_refusal(&props(true), false, Some(1)).is_none());
        assert!(same_device_refusal(&props(false), true, Some(1)).is_none());
        let why = same_device_refusal(&props(true), true, Some(1)).unwrap();
        assert!(why.contains("`x`") && why.contains("1 core"), "{why}");
    }

    #[test]
    fn slicer_types_must_be_plain_names() {
        assert!(is_plain_type("planar") && is_plain_type("cura-4_x"));
        for bad in ["", "..", "../x", "a/b", "a b", "ü", "jobs"] {
            assert!(!is_plain_type(bad), "{bad}");
        }
    }
}
