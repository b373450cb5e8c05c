//! What the file manager tells about files: metadata (with plugins'
//! additional metadata), sizes, paths on disk, and the entries of listings
//! as the REST API shows them.

use plinth_abi::{json, Value};

use super::{io_failed, seconds, split_path, FileManager};
use crate::jobs::uploads;
use crate::jobs::JobError;

impl FileManager {
    /// What is kept about file `path`: OctoPrint's `get_metadata`.
    pub fn metadata(&self, path: &str) -> Result<Value, JobError> {
        let path = self.existing_file(path)?;
        Ok(Value::Object(self.folder().file_metadata(&path)))
    }

    /// OctoPrint's `set_additional_metadata(path, key, data, overwrite,
    /// merge)`: stores `data` under `key` when the key is new or
    /// `overwrite`; else merges it into the existing value when `merge` and
    /// both are objects; else (as OctoPrint) leaves it. Whether it stored.
    pub fn set_additional_metadata(
        &self,
        path: &str,
        key: &str,
        data: Value,
        overwrite: bool,
        merge: bool,
    ) -> Result<bool, JobError> {
        let path = self.existing_file(path)?;
        if key.is_empty() || key == "analysis" {
            return Err(JobError::Invalid(format!(
                "{key:?} cannot be set as additional metadata"
            )));
        }
        let mut stored = true;
        self.folder()
            .update_metadata(&path, |entry| match entry.get(key) {
                None => {
                    entry.insert(key.to_owned(), data);
                }
                Some(_) if overwrite => {
                    entry.insert(key.to_owned(), data);
                }
                Some(old) if merge && old.is_object() && data.is_object() => {
                    let merged = crate::config::values::merge(old, &data);
                    entry.insert(key.to_owned(), merged);
                }
                Some(_) => stored = false,
            })
            .map_err(|e| io_failed("update the metadata of", &path, e))?;
        Ok(stored)
    }

    /// Removes the additional metadata `key` of file `path`.
    pub fn remove_additional_metadata(&self, path: &str, key: &str) -> Result<(), JobError> {
        let path = self.existing_file(path)?;
        self.folder()
            .update_metadata(&path, |entry| {
                entry.remove(key);
            })
            .map_err(|e| io_failed("update the metadata of", &path, e))
    }

    /// Where file or folder `path` is on disk.
    pub fn path_on_disk(&self, path: &str) -> Result<String, JobError> {
        let path = self
            .existing_file(path)
            .or_else(|_| self.existing_folder(path))?;
        Ok(self.folder().path(&path).to_string_lossy().into_owned())
    }

    /// The size of file `path` in bytes and when it last changed (seconds
    /// since the epoch).
    pub fn size_and_date(&self, path: &str) -> Result<(u64, Option<u64>), JobError> {
        let path = self.existing_file(path)?;
        let meta = self
            .folder()
            .metadata(&path)
            .map_err(|e| io_failed("read", &path, e))?;
        Ok((meta.len(), seconds(&meta)))
    }

    /// Queues file `path` for analysis (again).
    pub fn analyse(&self, path: &str) -> Result<(), JobError> {
        let path = self.existing_file(path)?;
        if !uploads::is_machinecode(&path) {
            return Err(JobError::Unsupported(format!(
                "{path} is not G-code: only G-code is analysed"
            )));
        }
        self.analysis.enqueue(&path, true);
        Ok(())
    }

    /// The entry of file or folder `path` as the REST API shows it.
    pub fn entry(&self, path: &str, recursive: bool) -> Result<Value, JobError> {
        let tree = self.extension_tree();
        if let Ok(path) = self.existing_file(path) {
            let meta = self
                .folder()
                .metadata(&path)
                .map_err(|e| io_failed("read", &path, e))?;
            let kept = self.folder().file_metadata(&path);
            return Ok(self.file_entry(&tree, &path, &meta, kept));
        }
        let path = self.non_root_folder(path)?;
        Ok(self.folder_entry(&tree, &path, recursive))
    }

    /// The free and total bytes of the disk the uploads folder is on.
    pub fn usage(&self) -> Option<(u64, u64)> {
        let root = self.folder().root().canonicalize().ok()?;
        let disks = sysinfo::Disks::new_with_refreshed_list();
        disks
            .iter()
            .filter(|d| root.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
            .map(|d| (d.available_space(), d.total_space()))
    }

    /// The files and folders in folder `path` (`""`: all), sorted by name,
    /// folders with their `children` when `recursive`.
    pub fn list(&self, path: &str, recursive: bool) -> Result<Vec<Value>, JobError> {
        let path = self.existing_folder(path)?;
        Ok(self.children(&self.extension_tree(), &path, recursive))
    }

    fn children(&self, tree: &Value, dir: &str, recursive: bool) -> Vec<Value> {
        let folder = self.folder();
        let mut listed = folder.list(dir, false).unwrap_or_default();
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        // The folder's metadata file, read once for all its files.
        let mut metadata = folder.folder_metadata(dir);
        listed
            .into_iter()
            .map(|e| match e.meta.is_dir() {
                true => self.folder_entry(tree, &e.path, recursive),
                false => {
                    let kept = match metadata.remove(split_path(&e.path).1) {
                        Some(Value::Object(kept)) => kept,
                        _ => uploads::Entry::new(),
                    };
                    self.file_entry(tree, &e.path, &e.meta, kept)
                }
            })
            .collect()
    }

    fn file_entry(
        &self,
        tree: &Value,
        path: &str,
        meta: &std::fs::Metadata,
        mut kept: uploads::Entry,
    ) -> Value {
        let (_, name) = split_path(path);
        let type_path = uploads::type_of(tree, name).unwrap_or_default();
        let mut entry = json!({
            "name": name,
            "display": name,
            "path": path,
            "origin": "local",
            "size": meta.len(),
            "date": seconds(meta),
            "type": type_path.first(),
            "typePath": type_path,
            "refs": {
                "resource": format!("/api/files/local/{path}"),
                "download": format!("/downloads/files/local/{path}"),
            },
        });
        // What OctoPrint shows of the metadata: the analysis, prints, statistics.
        for (from, to) in [
            ("hash", "hash"),
            ("analysis", "gcodeAnalysis"),
            ("prints", "prints"),
            ("statistics", "statistics"),
        ] {
            if let Some(value) = kept.remove(from) {
                entry[to] = value;
            }
        }
        entry
    }

    fn folder_entry(&self, tree: &Value, path: &str, recursive: bool) -> Value {
        let (_, name) = split_path(path);
        let mut entry = json!({
            "name": name,
            "display": name,
            "path": path,
            "origin": "local",
            "type": "folder",
            "typePath": ["folder"],
            "refs": {"resource": format!("/api/files/local/{path}")},
        });
        if recursive {
            let children = self.children(tree, path, true);
            let size: u64 = children.iter().filter_map(|c| c["size"].as_u64()).sum();
            entry["children"] = Value::Array(children);
            entry["size"] = json!(size);
        }
        entry
    }
}
