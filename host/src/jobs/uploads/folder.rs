//! The uploads folder's files and folders, reached only as what they are:
//! regular files and real folders below the root. Nothing leaves the folder,
//! whatever is on disk: a symlink (or anything else that is neither a
//! regular file nor a folder) is never followed, at the end of a path or in
//! it; it is not listed, reads as missing, is never written through and
//! never removed. Files are written to a temporary file created in the
//! folder, then renamed into place (which replaces a link of that name,
//! never its target).
//!
//! Paths are clean paths (see [`super::clean_path`]): clean names joined by
//! `/`; `""` is the uploads folder itself.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// The uploads folder.
#[derive(Debug, Clone)]
pub struct Folder {
    root: PathBuf,
}

/// One entry of a listing.
#[derive(Debug)]
pub struct Listed {
    /// Its clean path in the uploads folder.
    pub path: String,
    /// Its metadata (of the entry itself, never of a link's target).
    pub meta: Metadata,
}

pub(super) fn missing(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path} is not a file in the uploads folder"),
    )
}

fn no_folder(path: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path} is not a folder in the uploads folder"),
    )
}

impl Folder {
    /// The folder at `root` (created when something is written into it).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Where the folder is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `path` is on disk, unchecked: for a plugin that reads or
    /// writes it itself (a slicer); check it with [`metadata`](Self::metadata) first.
    pub fn path(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        }
    }

    /// Where `path` is on disk, once every folder on the way is checked to be
    /// a real folder (no link); `NotFound` otherwise.
    pub fn resolve(&self, path: &str) -> io::Result<PathBuf> {
        let (parent, _) = super::split_path(path);
        self.folder(parent).map_err(|_| missing(path))?;
        Ok(self.path(path))
    }

    /// The metadata of folder `path` (`""`: the uploads folder); `NotFound`
    /// unless it and every folder above it are real folders.
    pub fn folder(&self, path: &str) -> io::Result<Metadata> {
        let mut at = self.root.clone();
        let mut meta = real_folder(&at).map_err(|_| no_folder(path))?;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at.push(part);
            meta = real_folder(&at).map_err(|_| no_folder(path))?;
        }
        Ok(meta)
    }

    /// Opens file `path` for reading; `NotFound` unless it is a regular file.
    pub fn open(&self, path: &str) -> io::Result<File> {
        open_regular(&self.resolve(path)?).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing(path),
            _ => e,
        })
    }

    /// The metadata of file `path`; `NotFound` unless it is a regular file.
    pub fn metadata(&self, path: &str) -> io::Result<Metadata> {
        match fs::symlink_metadata(self.resolve(path)?) {
            Ok(meta) if meta.is_file() => Ok(meta),
            Ok(_) => Err(missing(path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(path)),
            Err(e) => Err(e),
        }
    }

    /// The regular files and real folders in folder `path` (and below it
    /// when `recursive`) that are not hidden, in no order.
    pub fn list(&self, path: &str, recursive: bool) -> io::Result<Vec<Listed>> {
        self.folder(path)?;
        let mut out = Vec::new();
        let mut todo = vec![path.to_owned()];
        while let Some(dir) = todo.pop() {
            for entry in fs::read_dir(self.path(&dir))
                .into_iter()
                .flatten()
                .flatten()
            {
                // The entry's own type and metadata: a link is not followed.
                let Ok(meta) = entry.metadata() else { continue };
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.starts_with('.') || !(meta.is_file() || meta.is_dir()) {
                    continue;
                }
                let path = super::join_path(&dir, &name);
                if recursive && meta.is_dir() {
                    todo.push(path.clone());
                }
                out.push(Listed { path, meta });
            }
        }
        Ok(out)
    }

    /// A new, empty temporary file in the folder, created exclusively (never
    /// through a link) with the mode new files get (the umask applies);
    /// removed when dropped unless [`persist`](Self::persist)ed.
    pub fn temp(&self, prefix: &str) -> io::Result<NamedTempFile> {
        fs::create_dir_all(&self.root)?;
        new_file()
            .prefix(prefix)
            .suffix(".tmp")
            .tempfile_in(&self.root)
    }

    /// Moves a temporary file of the folder into place as `path` (its folder
    /// must exist), synced.
    pub fn persist(&self, temp: NamedTempFile, path: &str) -> io::Result<()> {
        let to = self.resolve(path)?;
        temp.as_file().sync_all()?;
        temp.persist(&to).map_err(|e| e.error)?;
        sync_folder(to.parent().unwrap_or(&self.root))
    }

    /// A fresh, empty hidden file `name` for a plugin to write (a slicing
    /// job's output): whatever had that name is replaced, and the file is
    /// created exclusively. Returns its path.
    pub fn fresh(&self, name: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.root)?;
        let path = self.root.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(path)
    }

    /// Renames file `from` to `to` (whose folder must exist), synced.
    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.metadata(from)?;
        let target = self.resolve(to)?;
        fs::rename(self.path(from), &target)?;
        sync_folder(target.parent().unwrap_or(&self.root))
    }

    /// Copies file `from` to `to` (whose folder must exist) through a
    /// temporary file: `to` appears complete or not at all.
    pub fn copy(&self, from: &str, to: &str) -> io::Result<()> {
        let mut source = self.open(from)?;
        let mut temp = self.temp(".copy-")?;
        io::copy(&mut source, temp.as_file_mut())?;
        self.persist(temp, to)
    }

    /// Removes file `path`; `NotFound` unless it is a regular file.
    pub fn remove(&self, path: &str) -> io::Result<()> {
        self.metadata(path)?;
        // Were it swapped for a link meanwhile, unlinking removes the link only.
        fs::remove_file(self.path(path))
    }

    /// Creates folder `path` (its parent must exist).
    pub fn add_folder(&self, path: &str) -> io::Result<()> {
        let at = self.resolve(path)?;
        fs::create_dir(&at)
    }

    /// Removes folder `path` with everything in it (`recursive`) or only if
    /// empty. Links inside are removed, never followed.
    pub fn remove_folder(&self, path: &str, recursive: bool) -> io::Result<()> {
        self.folder(path)?;
        if recursive {
            return fs::remove_dir_all(self.path(path));
        }
        // Its metadata file alone does not make a folder non-empty; it goes
        // only once nothing else is there.
        let others = fs::read_dir(self.path(path))?
            .flatten()
            .any(|e| e.file_name() != super::metadata::FILE);
        if others {
            return Err(io::ErrorKind::DirectoryNotEmpty.into());
        }
        let _ = fs::remove_file(self.path(path).join(super::metadata::FILE));
        fs::remove_dir(self.path(path))
    }

    /// Renames folder `from` to `to` (whose parent must exist).
    pub fn rename_folder(&self, from: &str, to: &str) -> io::Result<()> {
        self.folder(from)?;
        let target = self.resolve(to)?;
        fs::rename(self.path(from), target)
    }

    /// Copies folder `from` to the new folder `to`: its regular files and
    /// real folders, with their metadata; links are left out.
    /// A copy cut short is removed: `to` is whole or absent.
    pub fn copy_folder(&self, from: &str, to: &str) -> io::Result<()> {
        let entries = self.list(from, true)?;
        self.add_folder(to)?;
        let copied = self.copy_entries(from, to, entries);
        if copied.is_err() {
            let _ = fs::remove_dir_all(self.path(to));
        }
        copied
    }

    fn copy_entries(&self, from: &str, to: &str, mut entries: Vec<Listed>) -> io::Result<()> {
        self.copy_metadata_file(from, to)?;
        // Folders before what they hold.
        entries.sort_by_key(|e| e.path.matches('/').count());
        for entry in entries {
            let target = format!("{to}{}", &entry.path[from.len()..]);
            if entry.meta.is_dir() {
                self.add_folder(&target)?;
                self.copy_metadata_file(&entry.path, &target)?;
            } else {
                self.copy(&entry.path, &target)?;
            }
        }
        Ok(())
    }

    fn copy_metadata_file(&self, from: &str, to: &str) -> io::Result<()> {
        let file = |dir: &str| super::join_path(dir, super::metadata::FILE);
        match self.copy(&file(from), &file(to)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the temporary files an earlier run left (uploads and copies
    /// cut short by a crash: hidden `.tmp` files).
    pub fn remove_leftovers(&self) {
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if (name.starts_with(".upload-") || name.starts_with(".copy-"))
                && name.ends_with(".tmp")
            {
                tracing::info!(
                    "removing {}, left by an earlier run",
                    entry.path().display()
                );
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// The metadata of a real folder (not a link to one).
fn real_folder(path: &Path) -> io::Result<Metadata> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        Ok(meta)
    } else {
        Err(io::ErrorKind::NotFound.into())
    }
}

/// Temporary files that become files of the folder: created with the mode
/// any new file gets (0666 less the umask), not only for their owner.
pub(super) fn new_file() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Opens a regular file for reading without following a link at its end.
pub(super) fn open_regular(path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO placed there does not wait for a writer.
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => io::Error::from(io::ErrorKind::NotFound),
                _ => e,
            })?
    };
    #[cfg(not(unix))]
    let file = {
        if !fs::symlink_metadata(path)?.is_file() {
            return Err(io::ErrorKind::NotFound.into());
        }
        File::open(path)?
    };
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::ErrorKind::NotFound.into())
    }
}

fn sync_folder(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    /// A folder with a secret outside it and links to it inside.
    fn attacked() -> (tempfile::TempDir, Folder, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("users.yaml");
        fs::write(&secret, "secret").unwrap();
        let root = dir.path().join("uploads");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("real.gcode"), "G28\n").unwrap();
        symlink(&secret, root.join("link.gcode")).unwrap();
        symlink(dir.path(), root.join("up.gcode")).unwrap();
        (dir, Folder::new(root), secret)
    }

    #[test]
    fn links_are_not_listed_read_or_removed() {
        let (_d, folder, secret) = attacked();
        let names: Vec<String> = folder
            .list("", true)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(names, ["real.gcode"]);
        for name in ["link.gcode", "up.gcode", "nothing.gcode"] {
            assert_eq!(
                folder.open(name).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                folder.metadata(name).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert_eq!(
                folder.remove(name).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
        }
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert!(folder.open("real.gcode").is_ok());
        folder.remove("real.gcode").unwrap();
        assert!(folder.list("", false).unwrap().is_empty());
    }

    #[test]
    fn a_file_stored_under_a_links_name_replaces_the_link_not_its_target() {
        let (_d, folder, secret) = attacked();
        let mut temp = folder.temp(".upload-").unwrap();
        temp.write_all(b"new").unwrap();
        folder.persist(temp, "link.gcode").unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert!(fs::symlink_metadata(folder.path("link.gcode"))
            .unwrap()
            .is_file());
        // A slicing job's output file takes the place of a planted link too.
        symlink(&secret, folder.path(".slicing-1-x.gcode")).unwrap();
        let out = folder.fresh(".slicing-1-x.gcode").unwrap();
        fs::write(&out, "G1\n").unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
    }

    #[test]
    fn stored_files_get_the_mode_any_new_file_gets() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, folder, _) = attacked();
        let reference = dir.path().join("reference");
        File::create(&reference).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        folder
            .persist(folder.temp(".upload-").unwrap(), "new.gcode")
            .unwrap();
        assert_eq!(mode(&folder.path("new.gcode")), mode(&reference));
        folder
            .store_analysis("new.gcode", &serde_json::json!({}))
            .unwrap();
        let metadata = folder.path(super::super::metadata::FILE);
        assert_eq!(mode(&metadata), mode(&reference));
    }

    #[test]
    fn metadata_never_goes_through_a_link() {
        let (dir, folder, secret) = attacked();
        let file = folder.path(super::super::metadata::FILE);
        symlink(&secret, &file).unwrap();
        assert_eq!(folder.analysis("real.gcode"), None);
        folder
            .store_analysis("real.gcode", &serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert!(fs::symlink_metadata(&file).unwrap().is_file());
        assert_eq!(
            folder.analysis("real.gcode"),
            Some(serde_json::json!({"a": 1}))
        );
        folder.forget_metadata("real.gcode");
        assert_eq!(folder.analysis("real.gcode"), None);
        assert!(!file.exists(), "an empty metadata file is removed");
        drop(dir);
    }

    #[test]
    fn no_path_goes_through_a_linked_folder() {
        let (dir, folder, _) = attacked();
        fs::write(dir.path().join("outside.gcode"), "x").unwrap();
        // `up` links to the folder above uploads: nothing reaches through it.
        for path in ["up/outside.gcode", "up/uploads/real.gcode"] {
            assert_eq!(
                folder.metadata(path).unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert!(folder.open(path).is_err());
            assert!(folder.remove(path).is_err());
        }
        assert!(folder.folder("up").is_err());
        assert!(folder.list("up", false).is_err());
        assert!(folder.add_folder("up/new").is_err());
        assert!(folder.remove_folder("up", true).is_err());
        assert!(dir.path().join("outside.gcode").exists());
        let temp = folder.temp(".upload-").unwrap();
        assert!(folder.persist(temp, "up/evil.gcode").is_err());
        assert!(!dir.path().join("evil.gcode").exists());
    }

    #[test]
    fn folders_are_made_listed_copied_renamed_and_removed() {
        let (_d, folder, secret) = attacked();
        folder.add_folder("a").unwrap();
        folder.add_folder("a/b").unwrap();
        fs::write(folder.path("a/b/c.gcode"), "G1\n").unwrap();
        symlink(&secret, folder.path("a/b/link.gcode")).unwrap();
        folder
            .store_analysis("a/b/c.gcode", &serde_json::json!({"x": 1}))
            .unwrap();
        let mut all: Vec<String> = folder
            .list("", true)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        all.sort();
        assert_eq!(all, ["a", "a/b", "a/b/c.gcode", "real.gcode"]);
        folder.copy_folder("a", "copy").unwrap();
        assert_eq!(
            fs::read_to_string(folder.path("copy/b/c.gcode")).unwrap(),
            "G1\n"
        );
        assert_eq!(
            folder.analysis("copy/b/c.gcode"),
            Some(serde_json::json!({"x": 1}))
        );
        assert!(fs::symlink_metadata(folder.path("copy/b/link.gcode")).is_err());
        folder.rename_folder("copy", "a/moved").unwrap();
        assert!(folder.metadata("a/moved/b/c.gcode").is_ok());
        assert!(folder.remove_folder("a/b", false).is_err(), "not empty");
        assert_eq!(
            folder.analysis("a/b/c.gcode"),
            Some(serde_json::json!({"x": 1})),
            "a refused removal keeps the metadata"
        );
        folder.remove("a/b/c.gcode").unwrap();
        fs::remove_file(folder.path("a/b/link.gcode")).unwrap();
        folder.remove_folder("a/b", false).unwrap();
        assert!(
            folder.folder("a/b").is_err(),
            "empty but for its metadata file"
        );
        folder.remove_folder("a", true).unwrap();
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert!(folder.folder("a").is_err());
    }

    #[test]
    fn a_damaged_metadata_file_is_never_written_over() {
        let (_d, folder, _) = attacked();
        let file = folder.path(super::super::metadata::FILE);
        fs::write(&file, "{\"real.gcode\": {\"analysis\": 1}, trunc").unwrap();
        assert_eq!(folder.analysis("real.gcode"), None);
        let err = folder
            .store_analysis("real.gcode", &serde_json::json!({"a": 1}))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(".metadata.json is not a JSON object"),
            "{err}"
        );
        folder.forget_metadata("real.gcode");
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "{\"real.gcode\": {\"analysis\": 1}, trunc",
            "left as it was"
        );
    }

    #[test]
    fn analyses_of_the_old_layout_move_into_the_metadata_file() {
        let (_d, folder, _) = attacked();
        fs::create_dir(folder.path(".metadata")).unwrap();
        fs::write(
            folder.path(".metadata/real.gcode.json"),
            r#"{"estimatedPrintTime": 5}"#,
        )
        .unwrap();
        fs::write(folder.path(".metadata/gone.gcode.json"), "{}").unwrap();
        folder.migrate_legacy_metadata();
        assert_eq!(
            folder.analysis("real.gcode"),
            Some(serde_json::json!({"estimatedPrintTime": 5}))
        );
        assert!(!folder.path(".metadata").exists());
    }

    #[test]
    fn a_fifo_reads_as_missing_without_waiting() {
        let (_d, folder, _) = attacked();
        let status = std::process::Command::new("mkfifo")
            .arg(folder.path("pipe.gcode"))
            .status();
        if status.is_ok_and(|s| s.success()) {
            assert_eq!(
                folder.open("pipe.gcode").unwrap_err().kind(),
                io::ErrorKind::NotFound
            );
            assert!(folder
                .list("", false)
                .unwrap()
                .iter()
                .all(|e| e.path != "pipe.gcode"));
        }
    }
}
