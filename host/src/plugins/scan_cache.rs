//! What reading and checking each library found at an earlier start, so an
//! unchanged library is not read or checked again: its metadata, and that
//! its binary interface matched this host's. Kept in
//! `<basedir>/scan_cache.json`.
//!
//! An entry counts only for the very same file: same path, size,
//! modification and change times, device and inode (the change time moves
//! with every write and cannot be set back). It also counts only for the
//! same host build: a new `plinth` executable starts from an empty cache.
//! A missing, damaged or foreign cache file is ignored and written anew;
//! a cache that cannot be written costs the next start its speed, nothing
//! else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use plinth_abi::Metadata;
use serde::{Deserialize, Serialize};

use crate::plugins::metadata::{self, Refusal};

/// A library file as the file system describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
    device: u64,
    inode: u64,
}

impl FileIdentity {
    /// What the file system says of `path` now (`None` when it cannot be read).
    pub fn of(path: &Path) -> Option<Self> {
        Some(Self::from_metadata(&std::fs::metadata(path).ok()?))
    }

    /// What `meta` (of a file, links followed) says.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Self {
                size: meta.size(),
                modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
                changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
                device: meta.dev(),
                inode: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let ns = |t: std::io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128)
            };
            Self {
                size: meta.len(),
                modified_ns: ns(meta.modified()),
                changed_ns: ns(meta.created()),
                device: 0,
                inode: 0,
            }
        }
    }
}

/// What is known of one library.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    library: PathBuf,
    identity: FileIdentity,
    metadata: Metadata,
    /// Its root module's layout passed this host's check.
    layout_checked: bool,
}

/// The cache file.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The host build the entries were made by.
    host: String,
    entries: Vec<Entry>,
}

/// The cache of one host process.
pub(crate) struct ScanCache {
    file: PathBuf,
    /// This host build; `None` when it cannot be told (nothing is trusted).
    host: Option<String>,
    /// Entries by library path, with whether this process used them.
    entries: Mutex<HashMap<PathBuf, (Entry, bool)>>,
    changed: AtomicBool,
}

impl ScanCache {
    /// The cache in `file`, for this host build; empty when the file is
    /// missing, damaged or written by another build.
    pub(crate) fn open(file: PathBuf) -> Self {
        let host = host_build();
        let stored = std::fs::read(&file)
            .ok()
            .and_then(|bytes| match serde_json::from_slice::<Stored>(&bytes) {
                Ok(stored) => Some(stored),
                Err(e) => {
                    tracing::debug!("ignoring the scan cache {}: {e}", file.display());
                    None
                }
            })
            .filter(|stored| host.as_deref() == Some(stored.host.as_str()));
        let entries = stored
            .map(|s| s.entries)
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.library.clone(), (e, false)))
            .collect();
        Self {
            file,
            host,
            entries: Mutex::new(entries),
            changed: AtomicBool::new(false),
        }
    }

    /// The metadata of `library`: remembered when the file is unchanged,
    /// else read from it (and remembered when it could be read). `seen` is
    /// the file's identity if the caller just asked the file system for it
    /// (discovery does); else it is asked here.
    pub(crate) fn metadata(
        &self,
        library: &Path,
        seen: Option<&FileIdentity>,
    ) -> Result<Metadata, Refusal> {
        let identity = seen.cloned().or_else(|| FileIdentity::of(library));
        {
            let mut entries = self.entries.lock().unwrap();
            if let Some((entry, used)) = entries.get_mut(library) {
                if Some(&entry.identity) == identity.as_ref() {
                    *used = true;
                    return Ok(entry.metadata.clone());
                }
            }
        }
        let metadata = metadata::read(library)?;
        if let Some(identity) = identity {
            let entry = Entry {
                library: library.to_owned(),
                identity,
                metadata: metadata.clone(),
                layout_checked: false,
            };
            self.entries
                .lock()
                .unwrap()
                .insert(library.to_owned(), (entry, true));
            self.changed.store(true, Ordering::Relaxed);
        }
        Ok(metadata)
    }

    /// The identity `library` had when its layout passed this host's check
    /// at an earlier load. The loader skips the check only if the file it
    /// mapped still has it, so a file changed or swapped since is checked.
    /// Never on systems without inodes and change times (not Unix), nor
    /// when this host build is unknown.
    pub(crate) fn layout_checked(&self, library: &Path) -> Option<FileIdentity> {
        if !cfg!(unix) || self.host.is_none() {
            return None;
        }
        let entries = self.entries.lock().unwrap();
        entries
            .get(library)
            .filter(|(e, _)| e.layout_checked)
            .map(|(e, _)| e.identity.clone())
    }

    /// The layout of `library` passed this host's check just now.
    pub(crate) fn remember_layout_checked(&self, library: &Path) {
        let identity = FileIdentity::of(library);
        let mut entries = self.entries.lock().unwrap();
        if let Some((entry, _)) = entries.get_mut(library) {
            if Some(&entry.identity) == identity.as_ref() && !entry.layout_checked {
                entry.layout_checked = true;
                self.changed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Writes the entries this process used, if anything changed.
    pub(crate) fn save(&self) {
        let entries = self.entries.lock().unwrap();
        let unused = entries.values().any(|(_, used)| !used);
        if !self.changed.swap(false, Ordering::Relaxed) && !unused {
            return;
        }
        let mut kept: Vec<Entry> = entries
            .values()
            .filter(|(_, used)| *used)
            .map(|(e, _)| e.clone())
            .collect();
        kept.sort_by(|a, b| a.library.cmp(&b.library));
        let Some(host) = self.host.clone() else {
            return;
        };
        let stored = Stored {
            host,
            entries: kept,
        };
        let written = serde_json::to_vec(&stored)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::disk::write_atomic(&self.file, &bytes));
        if let Err(e) = written {
            tracing::debug!("cannot write the scan cache {}: {e}", self.file.display());
        }
    }
}

/// This host build: its version, ABI and executable file (path, size,
/// modification and change times, device, inode); `None` when the
/// executable cannot be found, and then no entry is trusted.
fn host_build() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let id = FileIdentity::of(&exe)?;
    Some(format!(
        "plinth {} abi {}.{} {} {} {} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        plinth_abi::ABI_MAJOR,
        plinth_abi::ABI_MINOR,
        exe.display(),
        id.size,
        id.modified_ns,
        id.changed_ns,
        id.device,
        id.inode
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache holding one entry for `library` (a file that is no library:
    /// reading it fails), under this test binary's build, as of its identity now.
    fn cache_with_entry(dir: &Path, library: &Path) -> ScanCache {
        let metadata: Metadata = serde_json::from_value(serde_json::json!({
            "plinth_plugin": 1, "abi": [1, 0], "sdk": "1.0.0", "name": "Remembered",
            "version": "1.0.0", "mixins": [], "restart_needing": false, "panic": "unwind"
        }))
        .unwrap();
        let stored = Stored {
            host: host_build().unwrap(),
            entries: vec![Entry {
                library: library.to_owned(),
                identity: FileIdentity::of(library).unwrap(),
                metadata,
                layout_checked: false,
            }],
        };
        let file = dir.join("scan_cache.json");
        std::fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
        ScanCache::open(file)
    }

    #[test]
    fn the_identity_discovery_saw_decides_whether_the_entry_counts() {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("libremembered.so");
        std::fs::write(&library, b"not a library").unwrap();
        let cache = cache_with_entry(dir.path(), &library);
        let now = FileIdentity::of(&library).unwrap();
        // Asked here, or handed in by discovery: the same file, remembered.
        let name = |m: Result<Metadata, Refusal>| m.map(|m| m.name).map_err(|e| e.to_string());
        assert_eq!(
            name(cache.metadata(&library, None)),
            Ok("Remembered".into())
        );
        assert_eq!(
            name(cache.metadata(&library, Some(&now))),
            Ok("Remembered".into())
        );
        // Discovery saw another file at the path: it is read anew (and this
        // one is no library).
        let other = FileIdentity {
            inode: now.inode + 1,
            ..now.clone()
        };
        let read = name(cache.metadata(&library, Some(&other)));
        assert!(read.is_err(), "{read:?}");
    }
}
