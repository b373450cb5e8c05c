//! The file manager (OctoPrint's `_file_manager`): every change to the
//! uploads folder goes through it, whoever asks (the REST API, a plugin, a
//! slicing job), so each one gets the same checks, metadata, analysis and
//! events.
//!
//! - Paths are clean paths in the uploads folder (`folder/name.gcode`); a
//!   new file's or folder's name is sanitised as an upload's is, and the
//!   path actually used is returned.
//! - A file a print or a slicing job uses is neither replaced, moved nor
//!   removed (409), nor is a folder holding one.
//! - A file's metadata (analysis, additional metadata) follows it when it is
//!   copied or moved and goes when it is removed; new G-code is queued for
//!   analysis (see [`crate::jobs::analysis`]).
//! - Events as OctoPrint's: `FileAdded`, `FileRemoved`, `FileMoved`,
//!   `FolderAdded`, `FolderRemoved`, `FolderMoved`, then `UpdatedFiles`.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use plinth_abi::hooks::FILEMANAGER_PREPROCESSOR;
use plinth_abi::{events, json, Value};
use tempfile::NamedTempFile;

mod history;
mod listing;
mod transfer;

pub use transfer::Transfer;

use super::analysis::AnalysisQueue;
use super::printer::Printer;
use super::slicing::Slicing;
use super::uploads::{self, clean_folder, clean_path, join_path, split_path, Folder};
use super::JobError;
use crate::plugins::manager::PluginManager;

/// The file manager of one host.
pub struct FileManager {
    manager: PluginManager,
    printer: Arc<Printer>,
    slicing: Arc<Slicing>,
    /// The analysis queue.
    pub analysis: Arc<AnalysisQueue>,
}

pub(super) fn seconds(meta: &std::fs::Metadata) -> Option<u64> {
    let time = meta.modified().ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The SHA-256 (hex) of file `path`'s content, OctoPrint's `hash` (it
/// changes when the content does); `None` when it cannot be read.
fn content_hash(folder: &Folder, path: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = folder.open(path).ok()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Some(hex::encode(hasher.finalize()))
}

pub(super) fn io_failed(what: &str, path: &str, e: std::io::Error) -> JobError {
    JobError::Failed(format!("cannot {what} {path}: {e}"))
}

impl FileManager {
    /// The file manager; files found without an analysis are queued.
    pub fn new(
        manager: PluginManager,
        printer: Arc<Printer>,
        slicing: Arc<Slicing>,
        analysis: Arc<AnalysisQueue>,
    ) -> Self {
        let files = Self {
            manager,
            printer,
            slicing,
            analysis,
        };
        let folder = files.folder();
        if let Err(e) = std::fs::create_dir_all(folder.root()) {
            tracing::error!("cannot create {}: {e}", folder.root().display());
        }
        folder.remove_leftovers();
        folder.migrate_legacy_metadata();
        files.analysis.enqueue_missing("");
        files
    }

    /// The uploads folder.
    pub fn folder(&self) -> Folder {
        uploads::folder(&self.manager)
    }

    /// The extension tree of accepted files.
    pub fn extension_tree(&self) -> Value {
        uploads::extension_tree(&self.manager)
    }

    /// The clean path of an existing file; 404 otherwise.
    pub fn existing_file(&self, path: &str) -> Result<String, JobError> {
        clean_path(path)
            .filter(|p| self.folder().metadata(p).is_ok())
            .ok_or_else(|| JobError::NotFound(format!("no file {path:?}")))
    }

    /// The clean path of an existing folder (`""`: the uploads folder); 404 otherwise.
    pub fn existing_folder(&self, path: &str) -> Result<String, JobError> {
        clean_folder(path)
            .filter(|p| self.folder().folder(p).is_ok())
            .ok_or_else(|| JobError::NotFound(format!("no folder {path:?}")))
    }

    /// Whether file `path` exists.
    pub fn file_exists(&self, path: &str) -> bool {
        self.existing_file(path).is_ok()
    }

    /// Whether folder `path` exists.
    pub fn folder_exists(&self, path: &str) -> bool {
        self.existing_folder(path).is_ok()
    }

    /// 409 when a print or a slicing job uses `path` or, for a folder,
    /// anything in it.
    pub fn check_free(&self, path: &str) -> Result<(), JobError> {
        let inside = |p: &str| uploads::is_within(p, path);
        let printing = self.printer.printing_file().filter(|p| inside(p));
        let slicing = self
            .slicing
            .jobs()
            .into_iter()
            .find(|j| inside(&j.destination) || inside(&j.source));
        match (printing, slicing) {
            (Some(p), _) => Err(JobError::Conflict(format!(
                "{p} is being printed; cancel the print first"
            ))),
            (_, Some(j)) => Err(JobError::Conflict(format!(
                "{} is used by slicing job {}; cancel it first",
                j.destination, j.id
            ))),
            _ => Ok(()),
        }
    }

    /// Where a new file or folder `path` goes: its folder must exist, its
    /// name is sanitised, and nothing may be there unless `overwrite` (and
    /// then only a file, not a folder).
    fn new_path(&self, path: &str, overwrite: bool) -> Result<String, JobError> {
        let (dir, name) = split_path(path.trim_matches('/'));
        let dir = self.existing_folder(dir)?;
        let name = uploads::sanitize(name)
            .ok_or_else(|| JobError::Invalid(format!("{name:?} is not a usable name")))?;
        let path = join_path(&dir, &name);
        let folder = self.folder();
        if folder.folder(&path).is_ok() {
            return Err(JobError::Conflict(format!("{path} is a folder")));
        }
        if folder.metadata(&path).is_ok() && !overwrite {
            return Err(JobError::Conflict(format!(
                "{path} already exists; allow overwriting to replace it"
            )));
        }
        self.check_free(&path)?;
        Ok(path)
    }

    /// The destination of a file or folder `source` copied or moved to
    /// `destination`: into it when it is a folder, else that path.
    pub(super) fn target(
        &self,
        source: &str,
        destination: &str,
        overwrite: bool,
    ) -> Result<String, JobError> {
        match self.existing_folder(destination) {
            Ok(dir) => {
                let (_, name) = split_path(source);
                self.new_path(&join_path(&dir, name), overwrite)
            }
            Err(_) => self.new_path(destination, overwrite),
        }
    }

    /// Checks a new file `path` before its content arrives: its type and
    /// name. Returns the path it will have and its type.
    pub fn check_new_file(
        &self,
        path: &str,
        overwrite: bool,
    ) -> Result<(String, Vec<String>), JobError> {
        let path = self.new_path(path, overwrite)?;
        let tree = self.extension_tree();
        let kind = uploads::type_of(&tree, &path).ok_or_else(|| {
            JobError::Unsupported(format!(
                "{path}: this file type is not accepted (accepted: {tree})"
            ))
        })?;
        Ok((path, kind))
    }

    /// Stores the temporary file `temp` (made by [`Folder::temp`]) as
    /// `path`: OctoPrint's `add_file`. Returns the path used.
    pub fn add_file(
        &self,
        path: &str,
        temp: NamedTempFile,
        allow_overwrite: bool,
    ) -> Result<String, JobError> {
        let (path, kind) = self.check_new_file(path, allow_overwrite)?;
        self.preprocess(&path, temp.path(), allow_overwrite);
        if kind == ["model", "stl"] {
            let file = temp.reopen().map_err(|e| io_failed("read", &path, e))?;
            let len = file
                .metadata()
                .map_err(|e| io_failed("read", &path, e))?
                .len();
            uploads::check_stl(file, len).map_err(|why| {
                JobError::Invalid(format!("{path} is not a valid STL file: {why}"))
            })?;
        }
        // A print or slicing job may have taken the name meanwhile.
        self.check_free(&path)?;
        self.place(&path, None, |folder| folder.persist(temp, &path))?;
        Ok(path)
    }

    /// Adds a file with `content`.
    pub fn add_bytes(
        &self,
        path: &str,
        content: &[u8],
        allow_overwrite: bool,
    ) -> Result<String, JobError> {
        use std::io::Write;
        let mut temp = self
            .folder()
            .temp(".upload-")
            .map_err(|e| io_failed("store", path, e))?;
        temp.write_all(content)
            .map_err(|e| io_failed("store", path, e))?;
        self.add_file(path, temp, allow_overwrite)
    }

    /// A slicing job's output (the hidden file `output` of the uploads
    /// folder, which the job made) becomes `path`, with the slicer's
    /// `analysis` if it gave one (else it is queued for analysis).
    pub fn add_sliced(
        &self,
        output: &str,
        path: &str,
        analysis: Option<&Value>,
    ) -> Result<(), JobError> {
        if let Some(printing) = self.printer.printing_file().filter(|p| p == path) {
            return Err(JobError::Conflict(format!(
                "{printing} started printing meanwhile; the result is not stored"
            )));
        }
        self.preprocess(path, &self.folder().path(output), true);
        self.place(path, analysis, |folder| folder.rename(output, path))
    }

    /// Puts a new file in place as `path` with `put`, then what follows a
    /// new file: the metadata of different content forgotten (the same
    /// content, by its hash, keeps its analysis, prints and additional
    /// metadata, as OctoPrint's), `analysis` kept or one queued.
    fn place(
        &self,
        path: &str,
        analysis: Option<&Value>,
        put: impl FnOnce(&Folder) -> std::io::Result<()>,
    ) -> Result<(), JobError> {
        self.analysis.dequeue(path);
        let folder = self.folder();
        put(&folder).map_err(|e| io_failed("store", path, e))?;
        let hash = content_hash(&folder, path);
        let mut analysed = analysis.is_some();
        let kept = folder.update_metadata(path, |entry| {
            let same =
                hash.is_some() && entry.get("hash").and_then(Value::as_str) == hash.as_deref();
            if !same {
                entry.clear();
                if let Some(hash) = hash {
                    entry.insert("hash".into(), Value::String(hash));
                }
            }
            match analysis {
                Some(analysis) => {
                    entry.insert("analysis".into(), analysis.clone());
                }
                None => analysed = entry.contains_key("analysis"),
            }
        });
        if let Err(e) = kept {
            tracing::warn!("cannot keep the metadata of {path}: {e}");
        }
        if !analysed {
            self.analysis.enqueue(path, true);
        }
        self.file_event(events::FILE_ADDED, path, "add", &self.extension_tree());
        self.updated();
        Ok(())
    }

    /// The `octoprint.filemanager.preprocessor` hook over the new content.
    fn preprocess(&self, path: &str, content: &std::path::Path, allow_overwrite: bool) {
        if self
            .manager
            .hook_handlers(FILEMANAGER_PREPROCESSOR)
            .is_empty()
        {
            return;
        }
        let args = json!({
            "path": path,
            "file": content.to_string_lossy(),
            "printer_profile": self.printer.profile().0,
            "allow_overwrite": allow_overwrite,
        });
        for reply in self.manager.call_hook(FILEMANAGER_PREPROCESSOR, &args) {
            if let Err(e) = reply.result {
                tracing::warn!(plugin = %reply.plugin, "preprocessing {path} failed, ignored: {e}");
            }
        }
    }

    /// Removes file `path`: OctoPrint's `remove_file`.
    pub fn remove_file(&self, path: &str) -> Result<(), JobError> {
        let path = self.existing_file(path)?;
        self.check_free(&path)?;
        self.analysis.dequeue(&path);
        self.printer.deselect(&path);
        let folder = self.folder();
        folder
            .remove(&path)
            .map_err(|e| io_failed("remove", &path, e))?;
        folder.forget_metadata(&path);
        self.file_event(
            events::FILE_REMOVED,
            &path,
            "remove",
            &self.extension_tree(),
        );
        self.updated();
        Ok(())
    }

    /// The type path of a file (`["machinecode", "gcode"]`; `null` if not accepted).
    pub(super) fn file_event(&self, event: &str, path: &str, operation: &str, tree: &Value) {
        let (_, name) = split_path(path);
        self.manager.fire_event(
            event,
            &json!({"storage": "local", "path": path, "name": name, "type": uploads::type_of(tree, path), "operation": operation}),
        );
    }

    pub(super) fn folder_event(&self, event: &str, path: &str) {
        let (_, name) = split_path(path);
        self.manager.fire_event(
            event,
            &json!({"storage": "local", "path": path, "name": name}),
        );
    }

    pub(super) fn updated(&self) {
        self.manager.fire_event(
            events::UPDATED_FILES,
            &json!({"type": "printables", "storage": "local"}),
        );
    }
}
