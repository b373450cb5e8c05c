//! The file manager, the analysis queue and the slicing manager, as a
//! plugin reaches them: OctoPrint's `self._file_manager`,
//! `self._analysis_queue` and `self._slicing_manager`.

use serde_json::Value;

use crate::error::ServiceError;
use crate::host::Host;
use crate::methods::host as services;
use plinth_abi::files::{FileCall, SlicingCall};

/// The uploads folder's file manager (OctoPrint's `FileManager` on its
/// `local` storage), from [`Host::file_manager`]. Each method asks the
/// host once; the host checks, sanitises, keeps metadata and fires the
/// events exactly as for the REST API.
///
/// Paths are relative to the uploads folder, folders joined by `/`
/// (`"parts/cube.gcode"`), `""` for the folder itself. New names are
/// sanitised as uploads are, and the methods that create something answer
/// the path actually used.
///
/// | OctoPrint (`self._file_manager.…`) | Plinth |
/// |---|---|
/// | `list_files("local", path, recursive=…)` | [`list_files`](Self::list_files) |
/// | `file_exists("local", path)`, `folder_exists(…)` | the same names |
/// | `add_file("local", path, file_object, allow_overwrite=…)` | [`add_file`](Self::add_file) (the content as bytes) |
/// | `remove_file("local", path)` | [`remove_file`](Self::remove_file) |
/// | `copy_file`, `copy_folder("local", source, destination)` | [`copy`](Self::copy) |
/// | `move_file`, `move_folder("local", source, destination)` | [`move_to`](Self::move_to) |
/// | `add_folder("local", path, ignore_existing=…)` | [`add_folder`](Self::add_folder) |
/// | `remove_folder("local", path, recursive=…)` | [`remove_folder`](Self::remove_folder) |
/// | `get_metadata("local", path)` | [`get_metadata`](Self::get_metadata) |
/// | `set_additional_metadata("local", path, key, data, overwrite=…, merge=…)` | [`set_additional_metadata`](Self::set_additional_metadata) |
/// | `remove_additional_metadata("local", path, key)` | [`remove_additional_metadata`](Self::remove_additional_metadata) |
/// | `path_on_disk("local", path)` | [`path_on_disk`](Self::path_on_disk) |
/// | `get_size("local", path)`, `get_lastmodified(…)` | [`get_size`](Self::get_size), [`get_lastmodified`](Self::get_lastmodified) |
/// | `has_analysis("local", path)` | [`has_analysis`](Self::has_analysis) |
/// | `self._analysis_queue.enqueue(…)` | [`analyse`](Self::analyse) |
///
/// The `destination`/`location` arguments are gone: Plinth has one
/// storage, `local`. The events a plugin sees are OctoPrint's
/// (`FileAdded`, `FileRemoved`, `FileMoved`, `FolderAdded`,
/// `FolderRemoved`, `FolderMoved`, `UpdatedFiles`,
/// `MetadataAnalysisStarted`, `MetadataAnalysisFinished`; see
/// [`crate::events`]).
#[derive(Clone)]
pub struct FileManager {
    host: Host,
}

impl FileManager {
    pub(crate) fn new(host: Host) -> Self {
        Self { host }
    }

    fn call(&self, call: FileCall) -> Result<Value, ServiceError> {
        self.host.service::<services::Files>(&call)
    }

    fn text(value: Value) -> String {
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The files and folders of folder `path`, as `GET /api/files` lists
    /// them (`name`, `path`, `type`, `typePath`, `size`, `date`,
    /// `gcodeAnalysis`; folders with `children` when `recursive`).
    pub fn list_files(&self, path: &str, recursive: bool) -> Result<Vec<Value>, ServiceError> {
        let listed = self.call(FileCall::List {
            path: path.into(),
            recursive,
        })?;
        Ok(listed.as_array().cloned().unwrap_or_default())
    }

    /// Whether file `path` exists.
    pub fn file_exists(&self, path: &str) -> Result<bool, ServiceError> {
        let exists = self.call(FileCall::FileExists { path: path.into() })?;
        Ok(exists.as_bool().unwrap_or(false))
    }

    /// Whether folder `path` exists.
    pub fn folder_exists(&self, path: &str) -> Result<bool, ServiceError> {
        let exists = self.call(FileCall::FolderExists { path: path.into() })?;
        Ok(exists.as_bool().unwrap_or(false))
    }

    /// Stores `content` as file `path` (its folder must exist): through the
    /// preprocessor hooks, with `FileAdded`, and G-code is queued for
    /// analysis. Refused (409) when the file exists and not
    /// `allow_overwrite`, or when a print uses it; 415 for a type the
    /// uploads folder does not accept. Answers the path used.
    pub fn add_file(
        &self,
        path: &str,
        content: &[u8],
        allow_overwrite: bool,
    ) -> Result<String, ServiceError> {
        self.call(FileCall::AddFile {
            path: path.into(),
            content: content.to_vec(),
            allow_overwrite,
        })
        .map(Self::text)
    }

    /// Removes file `path` (refused while a print or slicing job uses it).
    pub fn remove_file(&self, path: &str) -> Result<(), ServiceError> {
        self.call(FileCall::RemoveFile { path: path.into() })
            .map(drop)
    }

    /// Copies file or folder `source` into folder `destination`, or to the
    /// path `destination`, with its metadata. Answers the new path.
    pub fn copy(
        &self,
        source: &str,
        destination: &str,
        allow_overwrite: bool,
    ) -> Result<String, ServiceError> {
        self.call(FileCall::Copy {
            source: source.into(),
            destination: destination.into(),
            allow_overwrite,
        })
        .map(Self::text)
    }

    /// Moves file or folder `source` into folder `destination`, or to the
    /// path `destination`, with its metadata. Answers the new path.
    pub fn move_to(
        &self,
        source: &str,
        destination: &str,
        allow_overwrite: bool,
    ) -> Result<String, ServiceError> {
        self.call(FileCall::Move {
            source: source.into(),
            destination: destination.into(),
            allow_overwrite,
        })
        .map(Self::text)
    }

    /// Creates folder `path` (its parent must exist); an existing one is
    /// fine when `ignore_existing`. Answers the path used.
    pub fn add_folder(&self, path: &str, ignore_existing: bool) -> Result<String, ServiceError> {
        self.call(FileCall::AddFolder {
            path: path.into(),
            ignore_existing,
        })
        .map(Self::text)
    }

    /// Removes folder `path`, with what it holds when `recursive` (else
    /// only when empty).
    pub fn remove_folder(&self, path: &str, recursive: bool) -> Result<(), ServiceError> {
        self.call(FileCall::RemoveFolder {
            path: path.into(),
            recursive,
        })
        .map(drop)
    }

    /// What is kept about file `path`: `hash` (SHA-256 of the content),
    /// `analysis` (OctoPrint's analysis result), `prints`, `statistics` and
    /// `history` once printed, and the additional metadata plugins set,
    /// each under its key.
    pub fn get_metadata(&self, path: &str) -> Result<Value, ServiceError> {
        self.call(FileCall::GetMetadata { path: path.into() })
    }

    /// Whether file `path` has an analysis.
    pub fn has_analysis(&self, path: &str) -> Result<bool, ServiceError> {
        Ok(self.get_metadata(path)?.get("analysis").is_some())
    }

    /// Stores `data` under `key` in file `path`'s metadata when the key is
    /// new or `overwrite`; merges it into the existing value when `merge`
    /// (both objects); otherwise leaves it, as OctoPrint does. Answers
    /// whether it stored.
    pub fn set_additional_metadata(
        &self,
        path: &str,
        key: &str,
        data: Value,
        overwrite: bool,
        merge: bool,
    ) -> Result<bool, ServiceError> {
        let stored = self.call(FileCall::SetAdditionalMetadata {
            path: path.into(),
            key: key.into(),
            data,
            overwrite,
            merge,
        })?;
        Ok(stored.as_bool().unwrap_or(false))
    }

    /// Removes `key` from file `path`'s metadata.
    pub fn remove_additional_metadata(&self, path: &str, key: &str) -> Result<(), ServiceError> {
        self.call(FileCall::RemoveAdditionalMetadata {
            path: path.into(),
            key: key.into(),
        })
        .map(drop)
    }

    /// The absolute path of file or folder `path` on disk.
    pub fn path_on_disk(&self, path: &str) -> Result<String, ServiceError> {
        self.call(FileCall::PathOnDisk { path: path.into() })
            .map(Self::text)
    }

    /// The size of file `path` in bytes.
    pub fn get_size(&self, path: &str) -> Result<u64, ServiceError> {
        let stat = self.call(FileCall::Stat { path: path.into() })?;
        Ok(stat["size"].as_u64().unwrap_or(0))
    }

    /// When file `path` last changed, in seconds since the epoch.
    pub fn get_lastmodified(&self, path: &str) -> Result<Option<u64>, ServiceError> {
        let stat = self.call(FileCall::Stat { path: path.into() })?;
        Ok(stat["date"].as_u64())
    }

    /// Queues G-code file `path` for analysis (again): the result arrives
    /// in its metadata and the `MetadataAnalysisFinished` event.
    pub fn analyse(&self, path: &str) -> Result<(), ServiceError> {
        self.call(FileCall::Analyse { path: path.into() }).map(drop)
    }
}

/// The slicing manager (OctoPrint's `SlicingManager`), from
/// [`Host::slicing_manager`].
///
/// | OctoPrint (`self._slicing_manager.…`) | Plinth |
/// |---|---|
/// | `registered_slicers`, `get_slicer(name)` | [`slicers`](Self::slicers) |
/// | `all_profiles(slicer)` | [`all_profiles`](Self::all_profiles) |
/// | `load_profile(slicer, name)` | [`load_profile`](Self::load_profile) |
/// | `slice(slicer, source, dest, profile, callback, …)` | [`slice`](Self::slice); the end comes as the `SlicingDone`, `SlicingFailed` or `SlicingCancelled` event, progress as `SlicingProgress` and `ProgressPlugin::on_slicing_progress` |
/// | `cancel_slice(slicer, source, dest)` | [`cancel_slice`](Self::cancel_slice) by the job's `id` |
#[derive(Clone)]
pub struct SlicingManager {
    host: Host,
}

impl SlicingManager {
    pub(crate) fn new(host: Host) -> Self {
        Self { host }
    }

    fn call(&self, call: SlicingCall) -> Result<Value, ServiceError> {
        self.host.service::<services::Slicing>(&call)
    }

    /// Every configured slicer by type, with its properties and profiles,
    /// as `GET /api/slicing`.
    pub fn slicers(&self) -> Result<Value, ServiceError> {
        self.call(SlicingCall::Slicers)
    }

    /// The profiles of slicer `slicer`: `{name: {key, displayName,
    /// description, default}}`.
    pub fn all_profiles(&self, slicer: &str) -> Result<Value, ServiceError> {
        self.call(SlicingCall::Profiles {
            slicer: slicer.into(),
        })
    }

    /// Profile `name` of slicer `slicer` with its `data`.
    pub fn load_profile(&self, slicer: &str, name: &str) -> Result<Value, ServiceError> {
        self.call(SlicingCall::Profile {
            slicer: slicer.into(),
            name: name.into(),
        })
    }

    /// Starts slicing model `source` with `slicer` into `destination`
    /// (default: beside the model, named after it) with `profile` (default:
    /// the slicer's default). Answers the job: `{"id", "slicer", "source":
    /// {"origin", "path"}, "destination": {"origin", "path"}, "progress",
    /// "cancelled"}`.
    pub fn slice(
        &self,
        slicer: &str,
        source: &str,
        destination: Option<&str>,
        profile: Option<&str>,
    ) -> Result<Value, ServiceError> {
        self.call(SlicingCall::Slice {
            slicer: slicer.into(),
            source: source.into(),
            destination: destination.map(Into::into),
            profile: profile.map(Into::into),
            position: None,
            select: false,
            print: false,
        })
    }

    /// The running slicing jobs.
    pub fn jobs(&self) -> Result<Vec<Value>, ServiceError> {
        Ok(self
            .call(SlicingCall::Jobs)?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Cancels slicing job `job` (its `id`).
    pub fn cancel_slice(&self, job: u64) -> Result<(), ServiceError> {
        self.call(SlicingCall::Cancel { job }).map(drop)
    }
}
