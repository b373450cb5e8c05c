//! Finds plugins in the three sources, in order: the bundled folder, the
//! user's `plugins` folder, then registered manifests. Nothing is loaded here.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::paths::{
    check_id, id_from_library, is_library_name, IdError, Paths, LIB_EXT, LIB_PREFIX,
};

/// Where a plugin was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Bundled,
    User,
    Manifest,
}

/// A plugin found on disk, before anything of it is read.
#[derive(Debug)]
pub struct Found {
    pub id: String,
    pub source: Source,
    /// The path listed for the plugin: its library, folder or manifest.
    pub path: PathBuf,
    /// The library to load, when one was found.
    pub library: Option<PathBuf>,
    /// The plugin's base folder (its own folder, or the folder of its library).
    pub base_folder: PathBuf,
    /// Why it cannot be used, when discovery already knows.
    pub problem: Option<Unusable>,
    /// The manifest file, for a registered plugin.
    pub manifest: Option<PathBuf>,
    /// What the file system said of the library when discovery looked at it
    /// (a library file found directly; else `None`, and it is asked later);
    /// taken by the first reading of its metadata.
    pub(crate) identity: Option<crate::plugins::scan_cache::FileIdentity>,
}

/// Why a plugin found on disk cannot be used, known before reading it.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    /// Its identifier cannot be used.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The entry cannot be read: a dangling link, for one.
    #[error("cannot read: {0}")]
    Unreadable(std::io::Error),
    /// The system reports a loop of symbolic links.
    #[error("symlink loop: {0}")]
    LinkLoop(std::io::Error),
    /// A symbolic link leads back to a folder above it.
    #[error("symlink loop: {} points back to {}", .path.display(), .target.display())]
    SymlinkLoop { path: PathBuf, target: PathBuf },
    /// A plugin folder holds no library.
    #[error("the folder holds no plugin library (expected {expected})")]
    NoLibrary { expected: String },
    /// A plugin folder holds several libraries, none named for the plugin.
    #[error("the folder holds {count} libraries and none is named {expected}")]
    SeveralLibraries { count: usize, expected: String },
    /// Its manifest is wrong.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// What is wrong with a manifest file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It cannot be read.
    #[error("manifest {}: cannot read: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// It is not a manifest (not JSON, or wrong fields).
    #[error("manifest {}: invalid: {error}", .path.display())]
    Invalid {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// Its `library` is a relative path.
    #[error("manifest {}: `library` must be an absolute path", .path.display())]
    RelativeLibrary { path: PathBuf },
    /// Its library does not exist.
    #[error("manifest {}: the library {} does not exist", .path.display(), .library.display())]
    MissingLibrary { path: PathBuf, library: PathBuf },
    /// Its library's hash cannot be computed, or is not the one it names.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Why a library's SHA-256 is not the one expected.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The library cannot be read.
    #[error("{}: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The hash differs.
    #[error("SHA-256 of {} is {have}, but the manifest expects {want}", .library.display())]
    Mismatch {
        library: PathBuf,
        have: String,
        want: String,
    },
}

/// A registered manifest: `<basedir>/manifests/<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's identifier.
    pub id: String,
    /// Absolute path of the plugin library.
    pub library: PathBuf,
    /// SHA-256 of the library (hex); when present, it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Every plugin of the three sources, in source order, each source sorted by identifier.
pub fn discover(paths: &Paths) -> Vec<Found> {
    if !paths.bundled.is_dir() {
        tracing::warn!(
            "the bundled plugin folder {} does not exist",
            paths.bundled.display()
        );
    }
    let user = paths.user_plugins();
    if user.exists() && !user.is_dir() {
        tracing::warn!(
            "{} is not a folder; no user plugins are loaded",
            user.display()
        );
    }
    let mut found = scan_folder(&paths.bundled, Source::Bundled);
    if paths.bundled_files_only {
        found.retain(|f| {
            f.library
                .as_ref()
                .is_some_and(|l| l.parent() == Some(paths.bundled.as_path()))
        });
    }
    found.extend(scan_folder(&paths.user_plugins(), Source::User));
    found.extend(scan_manifests(&paths.manifests()));
    found
}

fn entries_sorted(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut entries: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .starts_with('.')
        })
        .collect();
    entries.sort();
    entries
}

/// Scans one plugin folder: library files and plugin folders directly inside it.
pub fn scan_folder(dir: &Path, source: Source) -> Vec<Found> {
    let root = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let entries = entries_sorted(dir);
    // Sized for every entry: grown one at a time, the list would be copied
    // at each doubling.
    let mut found = Vec::with_capacity(entries.len());
    found.extend(
        entries
            .into_iter()
            .filter_map(|path| classify(&root, path, source)),
    );
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// What a single path holds: a library file or a plugin folder (`None` for anything else).
pub fn inspect_path(path: &Path, source: Source) -> Option<Found> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let root = fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    classify(&root, path.to_path_buf(), source)
}

fn classify(root: &Path, path: PathBuf, source: Source) -> Option<Found> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => {
            // A dangling link or a symlink loop: listed as failed if it looks like a plugin.
            let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if !(is_library_name(&path) || is_link) {
                return None;
            }
            let id = if is_library_name(&path) {
                id_from_library(&path)
            } else {
                name
            };
            let problem = if e.raw_os_error() == Some(40) {
                Unusable::LinkLoop(e)
            } else {
                Unusable::Unreadable(e)
            };
            return Some(failed(id, source, &path, problem));
        }
    };
    if meta.is_dir() {
        return Some(plugin_folder(root, path, name, source));
    }
    if !is_library_name(&path) {
        return None;
    }
    let id = id_from_library(&path);
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let problem = check_id(&id).err().map(Unusable::from);
    Some(Found {
        id,
        source,
        library: Some(path.clone()),
        path,
        base_folder: base,
        problem,
        manifest: None,
        identity: Some(crate::plugins::scan_cache::FileIdentity::from_metadata(
            &meta,
        )),
    })
}

fn failed(id: String, source: Source, path: &Path, problem: Unusable) -> Found {
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Found {
        id,
        source,
        path: path.to_path_buf(),
        library: None,
        base_folder: base,
        problem: Some(problem),
        manifest: None,
        identity: None,
    }
}

fn plugin_folder(root: &Path, path: PathBuf, id: String, source: Source) -> Found {
    if let Ok(real) = fs::canonicalize(&path) {
        if root.starts_with(&real) {
            let problem = Unusable::SymlinkLoop {
                path: path.clone(),
                target: real,
            };
            return failed(id, source, &path, problem);
        }
    }
    if let Err(e) = check_id(&id) {
        return failed(id, source, &path, e.into());
    }
    let libraries: Vec<PathBuf> = entries_sorted(&path)
        .into_iter()
        .filter(|p| is_library_name(p) && p.is_file())
        .collect();
    let preferred = [
        format!("{LIB_PREFIX}{id}.{LIB_EXT}"),
        format!("{id}.{LIB_EXT}"),
    ];
    let chosen = match libraries.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Unusable::NoLibrary {
            expected: preferred[0].clone(),
        }),
        many => many
            .iter()
            .find(|p| {
                preferred
                    .iter()
                    .any(|n| p.file_name().is_some_and(|f| f == n.as_str()))
            })
            .cloned()
            .ok_or_else(|| Unusable::SeveralLibraries {
                count: many.len(),
                expected: preferred[0].clone(),
            }),
    };
    match chosen {
        Ok(library) => Found {
            id,
            source,
            library: Some(library),
            base_folder: path.clone(),
            path,
            problem: None,
            manifest: None,
            identity: None,
        },
        Err(problem) => failed(id, source, &path, problem).with_base(path),
    }
}

impl Found {
    fn with_base(mut self, base: PathBuf) -> Self {
        self.base_folder = base;
        self
    }
}

fn scan_manifests(dir: &Path) -> Vec<Found> {
    entries_sorted(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|path| read_manifest_entry(&path))
        .collect()
}

/// Reads a manifest file into a found plugin; every problem names the file.
fn read_manifest_entry(path: &Path) -> Found {
    let stem = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let manifest = match read_manifest(path) {
        Ok(m) => m,
        Err(e) => {
            let mut found = failed(stem, Source::Manifest, path, e.into());
            found.manifest = Some(path.to_path_buf());
            return found;
        }
    };
    let base = manifest
        .library
        .parent()
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let problem = check_id(&manifest.id)
        .err()
        .map(Unusable::from)
        .or_else(|| {
            (!manifest.library.is_absolute()).then(|| {
                ManifestError::RelativeLibrary {
                    path: path.to_owned(),
                }
                .into()
            })
        })
        .or_else(|| {
            (!manifest.library.is_file()).then(|| {
                ManifestError::MissingLibrary {
                    path: path.to_owned(),
                    library: manifest.library.clone(),
                }
                .into()
            })
        })
        .or_else(|| {
            let want = manifest.sha256.as_ref()?;
            let error = check_hash(&manifest.library, want).err()?;
            Some(ManifestError::from(error).into())
        });
    Found {
        id: manifest.id,
        source: Source::Manifest,
        path: manifest.library.clone(),
        library: Some(manifest.library),
        base_folder: base,
        problem,
        manifest: Some(path.to_path_buf()),
        identity: None,
    }
}

/// The manifest file registering `id`, whatever its name.
pub fn find_manifest(dir: &Path, id: &str) -> Option<PathBuf> {
    scan_manifests(dir)
        .into_iter()
        .find(|f| f.id == id)
        .and_then(|f| f.manifest)
}

/// Reads and parses one manifest file.
pub fn read_manifest(path: &Path) -> Result<Manifest, ManifestError> {
    let text = fs::read_to_string(path).map_err(|error| ManifestError::Read {
        path: path.to_owned(),
        error,
    })?;
    serde_json::from_str(&text).map_err(|error| ManifestError::Invalid {
        path: path.to_owned(),
        error,
    })
}

/// The SHA-256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, HashError> {
    let read = |error| HashError::Read {
        path: path.to_owned(),
        error,
    };
    let mut file = fs::File::open(path).map_err(read)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn check_hash(library: &Path, want: &str) -> Result<(), HashError> {
    let have = sha256_file(library)?;
    if have.eq_ignore_ascii_case(want.trim()) {
        Ok(())
    } else {
        Err(HashError::Mismatch {
            library: library.to_owned(),
            have,
            want: want.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib_name(stem: &str) -> String {
        format!("{LIB_PREFIX}{stem}.{LIB_EXT}")
    }

    #[cfg(unix)]
    #[test]
    fn a_library_file_is_found_with_its_identity_a_link_with_its_targets() {
        use crate::plugins::scan_cache::FileIdentity;
        let dir = tempfile::tempdir().unwrap();
        let (d, elsewhere) = (dir.path().join("plugins"), dir.path().join("lib.so"));
        fs::create_dir(&d).unwrap();
        fs::write(d.join(lib_name("plain")), b"x").unwrap();
        fs::write(&elsewhere, b"linked").unwrap();
        std::os::unix::fs::symlink(&elsewhere, d.join(lib_name("linked"))).unwrap();
        fs::create_dir_all(d.join("folder")).unwrap();
        fs::write(d.join("folder").join(lib_name("folder")), b"x").unwrap();

        let found = scan_folder(&d, Source::User);
        let identity = |id: &str| found.iter().find(|f| f.id == id).unwrap().identity.clone();
        assert_eq!(
            identity("plain"),
            FileIdentity::of(&d.join(lib_name("plain")))
        );
        assert_eq!(identity("linked"), FileIdentity::of(&elsewhere));
        assert!(identity("linked").is_some());
        // A folder's library is looked at when its metadata is read.
        assert_eq!(identity("folder"), None);
    }

    #[test]
    fn files_folders_and_noise() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join(lib_name("alpha")), b"x").unwrap();
        fs::write(d.join("README.md"), b"x").unwrap();
        fs::write(d.join(".hidden.so"), b"x").unwrap();
        fs::create_dir_all(d.join("beta/static")).unwrap();
        fs::write(d.join("beta").join(lib_name("beta")), b"x").unwrap();
        fs::create_dir(d.join("empty")).unwrap();
        fs::create_dir(d.join("two")).unwrap();
        fs::write(d.join("two").join(lib_name("x")), b"x").unwrap();
        fs::write(d.join("two").join(lib_name("y")), b"x").unwrap();
        fs::write(d.join(lib_name("bad.id")), b"x").unwrap();

        let found = scan_folder(d, Source::User);
        let ids: Vec<_> = found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["alpha", "bad.id", "beta", "empty", "two"]);
        assert!(found[0].problem.is_none());
        assert!(found[1]
            .problem
            .as_ref()
            .unwrap()
            .to_string()
            .contains("invalid plugin identifier"));
        assert_eq!(found[2].base_folder, d.join("beta"));
        assert!(found[3]
            .problem
            .as_ref()
            .unwrap()
            .to_string()
            .contains("holds no plugin library"));
        assert!(found[4]
            .problem
            .as_ref()
            .unwrap()
            .to_string()
            .contains("2 libraries"));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink(d.join(lib_name("selfish")), d.join(lib_name("selfish")))
            .unwrap();
        std::os::unix::fs::symlink(d, d.join("around")).unwrap();
        let found = scan_folder(d, Source::User);
        assert_eq!(found.len(), 2);
        assert!(
            found.iter().all(|f| f
                .problem
                .as_ref()
                .unwrap()
                .to_string()
                .contains("symlink loop")),
            "{found:?}"
        );
    }

    #[test]
    fn manifests_bad_json_bad_hash_and_good() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let lib = d.join("lib.so");
        fs::write(&lib, b"library bytes").unwrap();
        fs::write(d.join("broken.json"), b"{not json").unwrap();
        let m = |id: &str, sha: Option<String>| Manifest {
            id: id.into(),
            library: lib.clone(),
            sha256: sha,
        };
        fs::write(
            d.join("good.json"),
            serde_json::to_string(&m("good", sha256_file(&lib).ok())).unwrap(),
        )
        .unwrap();
        fs::write(
            d.join("tampered.json"),
            serde_json::to_string(&m("tampered", Some("00".repeat(32)))).unwrap(),
        )
        .unwrap();
        let found = scan_manifests(d);
        let ids: Vec<_> = found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["broken", "good", "tampered"]);
        assert!(found[0]
            .problem
            .as_ref()
            .unwrap()
            .to_string()
            .contains("broken.json: invalid"));
        assert!(found[1].problem.is_none());
        assert!(found[2]
            .problem
            .as_ref()
            .unwrap()
            .to_string()
            .contains("but the manifest expects"));
    }
}
