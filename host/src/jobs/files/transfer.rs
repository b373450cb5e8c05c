//! Copying and moving files and folders, and making and removing folders.

use plinth_abi::{events, json};

use super::{io_failed, split_path, FileManager};
use crate::jobs::JobError;

/// Whether a file or folder is copied or moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Copied: the source stays.
    Copy,
    /// Moved: the source goes.
    Move,
}

impl Transfer {
    fn verb(self) -> &'static str {
        match self {
            Transfer::Copy => "copy",
            Transfer::Move => "move",
        }
    }
}

impl FileManager {
    /// Copies or moves file or folder `source` to `destination` (a folder
    /// to put it in, or its new path) with its metadata: OctoPrint's
    /// `copy_file`, `move_file`, `copy_folder` and `move_folder`. A file
    /// is replaced only when `overwrite`; a folder never. Returns the new
    /// path.
    pub fn transfer(
        &self,
        source: &str,
        destination: &str,
        overwrite: bool,
        how: Transfer,
    ) -> Result<String, JobError> {
        let is_file = self.existing_file(source).is_ok();
        let source = match is_file {
            true => self.existing_file(source)?,
            false => self.non_root_folder(source)?,
        };
        if how == Transfer::Move {
            self.check_free(&source)?;
        }
        let target = self.target(&source, destination, overwrite)?;
        if target == source || target.starts_with(&format!("{source}/")) {
            return Err(JobError::Invalid(format!(
                "{source} cannot be {}d onto or into itself",
                how.verb()
            )));
        }
        if !is_file && self.folder().metadata(&target).is_ok() {
            return Err(JobError::Conflict(format!("{target} is a file")));
        }
        if how == Transfer::Move {
            self.analysis.dequeue(&source);
            self.printer.deselect(&source);
        }
        let folder = self.folder();
        let done = match (is_file, how) {
            (true, Transfer::Copy) => folder.copy(&source, &target),
            (true, Transfer::Move) => folder.rename(&source, &target),
            (false, Transfer::Copy) => folder.copy_folder(&source, &target),
            (false, Transfer::Move) => folder.rename_folder(&source, &target),
        };
        done.map_err(|e| io_failed(how.verb(), &source, e))?;
        if is_file {
            if let Err(e) = folder.carry_metadata(&source, &target, how == Transfer::Move) {
                tracing::warn!("cannot {} the metadata of {source}: {e}", how.verb());
            }
        }
        self.analysis.enqueue_missing(&target);
        self.transfer_events(&source, &target, is_file, how);
        Ok(target)
    }

    /// OctoPrint's events of a copy or move.
    fn transfer_events(&self, source: &str, target: &str, is_file: bool, how: Transfer) {
        let operation = how.verb();
        let tree = self.extension_tree();
        let type_path = |path: &str| json!(crate::jobs::uploads::type_of(&tree, path));
        match (is_file, how) {
            (true, Transfer::Copy) => self.file_event(events::FILE_ADDED, target, operation, &tree),
            (false, Transfer::Copy) => self.folder_event(events::FOLDER_ADDED, target),
            (true, Transfer::Move) => {
                self.file_event(events::FILE_REMOVED, source, operation, &tree);
                self.file_event(events::FILE_ADDED, target, operation, &tree);
                self.manager.fire_event(
                    events::FILE_MOVED,
                    &json!({
                        "storage": "local",
                        "source_storage": "local",
                        "source_path": source,
                        "source_name": split_path(source).1,
                        "source_type": type_path(source),
                        "destination_storage": "local",
                        "destination_path": target,
                        "destination_name": split_path(target).1,
                        "destination_type": type_path(target),
                    }),
                );
            }
            (false, Transfer::Move) => {
                self.folder_event(events::FOLDER_REMOVED, source);
                self.folder_event(events::FOLDER_ADDED, target);
                self.manager.fire_event(
                    events::FOLDER_MOVED,
                    &json!({
                        "storage": "local",
                        "source_path": source,
                        "source_name": split_path(source).1,
                        "destination_path": target,
                        "destination_name": split_path(target).1,
                    }),
                );
            }
        }
        self.updated();
    }

    /// Creates folder `path` (its name sanitised): OctoPrint's `add_folder`.
    /// An existing folder is fine when `ignore_existing`. Returns the path.
    pub fn add_folder(&self, path: &str, ignore_existing: bool) -> Result<String, JobError> {
        let (dir, name) = split_path(path.trim_matches('/'));
        let dir = self.existing_folder(dir)?;
        let name = crate::jobs::uploads::sanitize(name)
            .ok_or_else(|| JobError::Invalid(format!("{name:?} is not a usable name")))?;
        let target = crate::jobs::uploads::join_path(&dir, &name);
        if self.folder().folder(&target).is_ok() {
            return match ignore_existing {
                true => Ok(target),
                false => Err(JobError::Conflict(format!(
                    "folder {target} already exists"
                ))),
            };
        }
        let path = self.new_path(&target, false)?;
        self.folder()
            .add_folder(&path)
            .map_err(|e| io_failed("create", &path, e))?;
        self.folder_event(events::FOLDER_ADDED, &path);
        self.updated();
        Ok(path)
    }

    /// Removes folder `path` with what it holds (`recursive`), or only if
    /// it is empty.
    pub fn remove_folder(&self, path: &str, recursive: bool) -> Result<(), JobError> {
        let path = self.non_root_folder(path)?;
        self.check_free(&path)?;
        self.analysis.dequeue(&path);
        self.printer.deselect(&path);
        self.folder()
            .remove_folder(&path, recursive)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::DirectoryNotEmpty => {
                    JobError::Conflict(format!("folder {path} is not empty"))
                }
                _ => io_failed("remove", &path, e),
            })?;
        self.folder_event(events::FOLDER_REMOVED, &path);
        self.updated();
        Ok(())
    }

    pub(super) fn non_root_folder(&self, path: &str) -> Result<String, JobError> {
        match self.existing_folder(path)? {
            root if root.is_empty() => Err(JobError::Invalid(
                "the uploads folder itself cannot be removed, copied or moved".into(),
            )),
            path => Ok(path),
        }
    }
}
