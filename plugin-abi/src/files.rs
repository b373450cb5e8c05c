//! The file manager and the slicing manager as a plugin reaches them
//! through its handle (OctoPrint's `self._file_manager`,
//! `self._analysis_queue` and `self._slicing_manager`), one call per
//! operation.
//!
//! Paths are relative to the uploads folder (OctoPrint's `local` storage),
//! folders joined by `/` (`"parts/cube.gcode"`); `""` is the uploads folder
//! itself. New names are sanitised as uploads are (letters, digits, `.`,
//! `_`, `-`) and the path actually used is answered. Every call answers
//! JSON (see each variant) or a [`crate::Refusal`] saying why nothing was
//! done, with the status the REST API gives the same refusal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One operation of the file manager, named as OctoPrint's `FileManager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FileCall {
    /// `list_files(path=…, recursive=…)`: the entries of folder `path` as
    /// `GET /api/files` shows them (`name`, `path`, `type`, `typePath`,
    /// `size`, `date`, `gcodeAnalysis`, folders with `children` when
    /// `recursive`), sorted by name.
    List {
        /// The folder (`""`: the uploads folder).
        path: String,
        /// Folders with what they hold, all the way down.
        recursive: bool,
    },
    /// `file_exists(path)`: `true` or `false`.
    FileExists {
        /// The file.
        path: String,
    },
    /// `folder_exists(path)`: `true` or `false`.
    FolderExists {
        /// The folder.
        path: String,
    },
    /// `add_file(path, file_object, allow_overwrite=…)`: stores `content`
    /// as the file `path` (its folder must exist), through the
    /// `octoprint.filemanager.preprocessor` hook; G-code is queued for
    /// analysis. Answers the path used. Fires `FileAdded`.
    AddFile {
        /// Where it goes.
        path: String,
        /// What it holds.
        content: Vec<u8>,
        /// Whether an existing file of that name is replaced (else 409).
        allow_overwrite: bool,
    },
    /// `remove_file(path)`. `null`. Fires `FileRemoved`.
    RemoveFile {
        /// The file.
        path: String,
    },
    /// `copy_file`/`copy_folder(source, destination)`: a file or a folder
    /// with what it holds, into `destination` when that is a folder, else
    /// to that path; metadata goes along. Answers the new path.
    Copy {
        /// What is copied.
        source: String,
        /// A folder to copy into, or the new path.
        destination: String,
        /// Whether a file there is replaced (never a folder).
        allow_overwrite: bool,
    },
    /// `move_file`/`move_folder(source, destination)`: as [`FileCall::Copy`],
    /// and the source goes. Fires `FileMoved` or `FolderMoved`.
    Move {
        /// What is moved.
        source: String,
        /// A folder to move into, or the new path.
        destination: String,
        /// Whether a file there is replaced (never a folder).
        allow_overwrite: bool,
    },
    /// `add_folder(path, ignore_existing=…)`: answers the path used. Fires
    /// `FolderAdded`.
    AddFolder {
        /// The new folder (its parent must exist).
        path: String,
        /// Whether an existing folder is fine (else 409).
        ignore_existing: bool,
    },
    /// `remove_folder(path, recursive=…)`. `null`. Fires `FolderRemoved`.
    RemoveFolder {
        /// The folder.
        path: String,
        /// With what it holds (else only when empty).
        recursive: bool,
    },
    /// `get_metadata(path)`: what is kept about the file: `hash` (SHA-256
    /// of the content), `analysis`, `prints`, `statistics`, `history`, and
    /// the additional metadata plugins set, each under its key.
    GetMetadata {
        /// The file.
        path: String,
    },
    /// `set_additional_metadata(path, key, data, overwrite=…, merge=…)`:
    /// stored when `key` is new or `overwrite`, merged into an existing
    /// object when `merge`, else left as it is (OctoPrint does nothing
    /// then). Answers whether it stored.
    SetAdditionalMetadata {
        /// The file.
        path: String,
        /// The key (not `analysis`, which the analysis queue owns).
        key: String,
        /// The value.
        data: Value,
        /// Replace an existing value.
        overwrite: bool,
        /// Merge into an existing object value.
        merge: bool,
    },
    /// `remove_additional_metadata(path, key)`. `null`.
    RemoveAdditionalMetadata {
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// `path_on_disk(path)`: the absolute path of a file or folder.
    PathOnDisk {
        /// The file or folder.
        path: String,
    },
    /// `get_size(path)` and `get_lastmodified(path)`: `{"size": <bytes>,
    /// "date": <seconds since the epoch>}`.
    Stat {
        /// The file.
        path: String,
    },
    /// `_analysis_queue.enqueue(…)`: analyses a G-code file (again); the
    /// result arrives in its metadata and the `MetadataAnalysisFinished`
    /// event. `null`.
    Analyse {
        /// The file.
        path: String,
    },
}

/// One operation of the slicing manager, named as OctoPrint's
/// `SlicingManager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SlicingCall {
    /// `registered_slicers` with `get_slicer(…)`'s properties and every
    /// profile: as `GET /api/slicing`.
    Slicers,
    /// `all_profiles(slicer)`: `{name: {key, displayName, description,
    /// default}}`.
    Profiles {
        /// The slicer type.
        slicer: String,
    },
    /// `load_profile(slicer, name)`: `{key, slicer, displayName,
    /// description, default, data}`.
    Profile {
        /// The slicer type.
        slicer: String,
        /// The profile's name.
        name: String,
    },
    /// `slice(slicer, source_path, dest_path, profile, …)`: starts a slicing
    /// job and answers it (`{"id", "slicer", "source": {"origin", "path"},
    /// "destination": {"origin", "path"}, "progress", "cancelled"}`). Progress comes as `SlicingProgress` events and
    /// `on_slicing_progress`, the end as `SlicingDone`, `SlicingFailed` or
    /// `SlicingCancelled`.
    Slice {
        /// The slicer type.
        slicer: String,
        /// The model in the uploads folder.
        source: String,
        /// The G-code to write (default: beside the model, named after it).
        destination: Option<String>,
        /// The profile (default: the slicer's default).
        profile: Option<String>,
        /// Where the model's centre goes on the bed, `[x, y]`.
        position: Option<(f64, f64)>,
        /// Select the result for printing.
        select: bool,
        /// Print the result.
        print: bool,
    },
    /// The running slicing jobs, as `GET /api/slicing/jobs`.
    Jobs,
    /// `cancel_slice(…)`: cancels slicing job `job`. `null`.
    Cancel {
        /// The job's `id`.
        job: u64,
    },
}
