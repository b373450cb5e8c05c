//! The uploads folder's files, reached only as what they are: regular files
//! directly in the folder. Nothing leaves the folder, whatever is on disk: a
//! symlink (or anything else that is not a regular file) is never followed;
//! it is not listed, reads as missing, is never written through and never
//! removed. Files are written to a temporary file created in the folder, then
//! renamed into place (which replaces a link of that name, never its target).

use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use plinth_abi::Value;
use tempfile::NamedTempFile;

/// The folder holding the analyses kept beside G-code files.
const ANALYSES: &str = ".metadata";

/// The uploads folder.
#[derive(Debug, Clone)]
pub struct Folder {
    root: PathBuf,
}

fn missing(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{name} is not a file in the uploads folder"),
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

    /// The path of `name` (a clean name), for a plugin that reads or writes it
    /// itself (a slicer): check it with [`metadata`](Self::metadata) first.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Opens `name` for reading; `NotFound` unless it is a regular file.
    pub fn open(&self, name: &str) -> io::Result<File> {
        open_regular(&self.root.join(name)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => missing(name),
            _ => e,
        })
    }

    /// The metadata of `name`; `NotFound` unless it is a regular file.
    pub fn metadata(&self, name: &str) -> io::Result<Metadata> {
        match fs::symlink_metadata(self.root.join(name)) {
            Ok(meta) if meta.is_file() => Ok(meta),
            Ok(_) => Err(missing(name)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(name)),
            Err(e) => Err(e),
        }
    }

    /// Every regular file that is not hidden, with its metadata, in no order.
    pub fn list(&self) -> Vec<(String, Metadata)> {
        fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                // The entry's own type and metadata: a link is not followed.
                let meta = entry.metadata().ok().filter(Metadata::is_file)?;
                let name = entry.file_name().into_string().ok()?;
                (!name.starts_with('.')).then_some((name, meta))
            })
            .collect()
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

    /// Moves a temporary file of the folder into place as `name`, synced.
    pub fn persist(&self, temp: NamedTempFile, name: &str) -> io::Result<()> {
        temp.as_file().sync_all()?;
        temp.persist(self.root.join(name)).map_err(|e| e.error)?;
        sync_folder(&self.root)
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

    /// Renames the file `from` of the folder to `name`, synced.
    pub fn rename(&self, from: &str, name: &str) -> io::Result<()> {
        self.metadata(from)?;
        fs::rename(self.root.join(from), self.root.join(name))?;
        sync_folder(&self.root)
    }

    /// Removes `name`; `NotFound` unless it is a regular file.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        self.metadata(name)?;
        // Were it swapped for a link meanwhile, unlinking removes the link only.
        fs::remove_file(self.root.join(name))
    }

    /// The analysis folder, if it is a real folder (created when `create`).
    fn analyses(&self, create: bool) -> io::Result<PathBuf> {
        let dir = self.root.join(ANALYSES);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => Ok(dir),
            Ok(_) => Err(io::Error::other(format!(
                "{} is not a folder; analyses are not kept",
                dir.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                fs::create_dir_all(&self.root)?;
                fs::create_dir(&dir)?;
                Ok(dir)
            }
            Err(e) => Err(e),
        }
    }

    /// The analysis stored for `name`, if any.
    pub fn analysis(&self, name: &str) -> Option<Value> {
        let dir = self.analyses(false).ok()?;
        let file = open_regular(&dir.join(format!("{name}.json"))).ok()?;
        serde_json::from_reader(io::BufReader::new(file)).ok()
    }

    /// Stores the analysis of `name` (atomically).
    pub fn store_analysis(&self, name: &str, analysis: &Value) -> io::Result<()> {
        let dir = self.analyses(true)?;
        let mut temp = new_file().tempfile_in(&dir)?;
        serde_json::to_writer_pretty(&mut temp, analysis)?;
        temp.flush()?;
        temp.as_file().sync_all()?;
        temp.persist(dir.join(format!("{name}.json")))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the analysis of `name`, if any.
    pub fn forget_analysis(&self, name: &str) {
        if let Ok(dir) = self.analyses(false) {
            let _ = fs::remove_file(dir.join(format!("{name}.json")));
        }
    }

    /// Removes the temporary files an earlier run left (uploads cut short by a
    /// crash: hidden `.tmp` files).
    pub fn remove_leftovers(&self) {
        for entry in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".upload-") && name.ends_with(".tmp") {
                tracing::info!(
                    "removing {}, left by an earlier run",
                    entry.path().display()
                );
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Temporary files that become files of the folder: created with the mode
/// any new file gets (0666 less the umask), not only for their owner.
fn new_file() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Opens a regular file for reading without following a link at its end.
fn open_regular(path: &Path) -> io::Result<File> {
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
        let names: Vec<String> = folder.list().into_iter().map(|(n, _)| n).collect();
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
        assert!(folder.list().is_empty());
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
        let analysis = folder.path(ANALYSES).join("new.gcode.json");
        assert_eq!(mode(&analysis), mode(&reference));
    }

    #[test]
    fn analyses_never_go_through_a_linked_folder() {
        let (dir, folder, _) = attacked();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        symlink(&outside, folder.path(ANALYSES)).unwrap();
        assert!(folder
            .store_analysis("real.gcode", &serde_json::json!({"a": 1}))
            .is_err());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(folder.analysis("real.gcode"), None);
        fs::remove_file(folder.path(ANALYSES)).unwrap();
        folder
            .store_analysis("real.gcode", &serde_json::json!({"a": 1}))
            .unwrap();
        assert_eq!(
            folder.analysis("real.gcode"),
            Some(serde_json::json!({"a": 1}))
        );
        folder.forget_analysis("real.gcode");
        assert_eq!(folder.analysis("real.gcode"), None);
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
            assert!(folder.list().iter().all(|(n, _)| n != "pipe.gcode"));
        }
    }
}
