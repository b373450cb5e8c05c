//! What is kept about each file, as OctoPrint keeps it: one `.metadata.json`
//! per folder, mapping each file's name to its metadata (`analysis`,
//! `display`, and the additional metadata plugins set under keys of their
//! own). A file's metadata moves, is copied and is removed with it.
//!
//! Writes go through a temporary file renamed into place, under one lock, so
//! concurrent updates never lose one another and a crash never leaves half a
//! file. The metadata file is never read or written through a link.

use std::fs;
use std::io::{self, Write};
use std::sync::Mutex;

use plinth_abi::Value;
use serde_json::Map;

use super::folder::{new_file, open_regular, Folder};
use super::{join_path, split_path};

/// The metadata file in each folder.
pub const FILE: &str = ".metadata.json";

/// The folder where Plinth before 2.1 kept analyses (`<name>.json` each).
const LEGACY: &str = ".metadata";

/// Serialises read-modify-write cycles of metadata files.
static LOCK: Mutex<()> = Mutex::new(());

/// The metadata of one file.
pub type Entry = Map<String, Value>;

impl Folder {
    /// The metadata file of folder `dir`: empty when there is none; an
    /// error when it cannot be read or is not a JSON object (then nothing
    /// may be written over it: that would lose every entry).
    fn read_metadata(&self, dir: &str) -> io::Result<Map<String, Value>> {
        let missing = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        let file = match self
            .resolve(&join_path(dir, FILE))
            .and_then(|p| open_regular(&p))
        {
            Ok(file) => file,
            Err(e) if missing(&e) => return Ok(Map::new()),
            Err(e) => return Err(e),
        };
        match serde_json::from_reader(io::BufReader::new(file)) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) | Err(_) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is not a JSON object; fix or remove it (nothing is written over it)",
                    self.path(&join_path(dir, FILE)).display()
                ),
            )),
        }
    }

    fn write_metadata(&self, dir: &str, all: &Map<String, Value>) -> io::Result<()> {
        let path = self.resolve(&join_path(dir, FILE))?;
        if all.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let parent = path.parent().unwrap_or(self.root());
        let mut temp = new_file().tempfile_in(parent)?;
        serde_json::to_writer_pretty(&mut temp, all)?;
        temp.flush()?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// What is kept about the files of folder `dir`, by name (empty when
    /// nothing is, or it cannot be read: that is logged).
    pub fn folder_metadata(&self, dir: &str) -> Map<String, Value> {
        self.read_metadata(dir).unwrap_or_else(|e| {
            tracing::warn!("the metadata of folder {dir:?} cannot be read: {e}");
            Map::new()
        })
    }

    /// The metadata of file `path` (empty when nothing is kept).
    pub fn file_metadata(&self, path: &str) -> Entry {
        let (dir, name) = split_path(path);
        match self.folder_metadata(dir).remove(name) {
            Some(Value::Object(entry)) => entry,
            _ => Entry::new(),
        }
    }

    /// Changes the metadata of file `path` with `change`; an entry left
    /// empty is removed.
    pub fn update_metadata(&self, path: &str, change: impl FnOnce(&mut Entry)) -> io::Result<()> {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let (dir, name) = split_path(path);
        let mut all = self.read_metadata(dir)?;
        let mut entry = match all.remove(name) {
            Some(Value::Object(entry)) => entry,
            _ => Entry::new(),
        };
        change(&mut entry);
        if !entry.is_empty() {
            all.insert(name.to_owned(), Value::Object(entry));
        }
        self.write_metadata(dir, &all)
    }

    /// Forgets everything kept about file `path`.
    pub fn forget_metadata(&self, path: &str) {
        if let Err(e) = self.update_metadata(path, Entry::clear) {
            tracing::warn!("cannot forget the metadata of {path}: {e}");
        }
    }

    /// Gives file `to` the metadata of `from` (which keeps it unless `moved`).
    pub fn carry_metadata(&self, from: &str, to: &str, moved: bool) -> io::Result<()> {
        let entry = self.file_metadata(from);
        self.update_metadata(to, |e| *e = entry)?;
        if moved {
            self.forget_metadata(from);
        }
        Ok(())
    }

    /// The analysis stored for `path`, if any.
    pub fn analysis(&self, path: &str) -> Option<Value> {
        self.file_metadata(path).remove("analysis")
    }

    /// Stores the analysis of `path`.
    pub fn store_analysis(&self, path: &str, analysis: &Value) -> io::Result<()> {
        self.update_metadata(path, |e| {
            e.insert("analysis".into(), analysis.clone());
        })
    }

    /// Moves the analyses an earlier Plinth kept in `.metadata/<name>.json`
    /// into the metadata file, then removes them.
    pub fn migrate_legacy_metadata(&self) {
        let dir = self.path(LEGACY);
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return;
        }
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(".json").and_then(super::clean_name) else {
                continue;
            };
            let analysis = open_regular(&entry.path())
                .ok()
                .and_then(|f| serde_json::from_reader::<_, Value>(io::BufReader::new(f)).ok());
            if let Some(analysis) = analysis {
                if self.metadata(name).is_ok() && self.analysis(name).is_none() {
                    if let Err(e) = self.store_analysis(name, &analysis) {
                        tracing::warn!("cannot move the analysis of {name}: {e}");
                        continue;
                    }
                }
            }
            let _ = fs::remove_file(entry.path());
        }
        if fs::remove_dir(&dir).is_ok() {
            tracing::info!("moved the analyses of {} into {FILE}", dir.display());
        }
    }
}
