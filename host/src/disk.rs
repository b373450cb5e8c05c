//! Files on disk that readers never see half-written (the config, users,
//! manifests, the start-up marker, the page cache's records): a temporary
//! file in the same folder, fsync, rename, fsync of the folder (the syncs
//! left out for what only matters until the next start).

use std::fs;
use std::io::Write;
use std::path::Path;

/// Where a test can stop a save: `PLINTH_FAULT_INJECT=config-before-rename`
/// aborts the process after the new content is written and synced but before
/// it replaces the old file.
pub(crate) fn fault_point() {
    if std::env::var_os("PLINTH_FAULT_INJECT").is_some_and(|v| v == "config-before-rename") {
        std::process::abort();
    }
}

/// Removes temporaries a writer that died left behind (called with the lock held).
pub(crate) fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Replaces `path` with `bytes` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, || {})
}

/// As [`write_atomic`] without its two syncs: readers still see the old or
/// the new content, but a power cut soon after may leave the old. For a
/// file that only matters until the next start, as the start-up marker.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, Durable::No, || {})
}

pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(),
) -> std::io::Result<()> {
    replace(path, bytes, Durable::Yes, before_rename)
}

/// Whether a replacement is synced to the disk before it counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durable {
    Yes,
    No,
}

fn replace(
    path: &Path,
    bytes: &[u8],
    durable: Durable,
    before_rename: impl FnOnce(),
) -> std::io::Result<()> {
    // Write through a symlink to the file it names, keeping the link.
    let resolved;
    let path = if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = fs::canonicalize(path)?;
        resolved.as_path()
    } else {
        path
    };
    let old_permissions = fs::metadata(path).ok().map(|m| m.permissions());
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        match &old_permissions {
            Some(permissions) => file.set_permissions(permissions.clone())?,
            // New files may hold secrets: readable by their owner only.
            #[cfg(unix)]
            None => {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
            }
            #[cfg(not(unix))]
            None => {}
        }
        file.write_all(bytes)?;
        if durable == Durable::Yes {
            file.sync_all()?;
        }
        before_rename();
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        if durable == Durable::Yes {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replacing_makes_the_folder_and_replaces_a_file_it_could_not_write() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("not/yet/there/marker");
        write_replacing(&marker, b"one").unwrap();
        assert_eq!(fs::read(&marker).unwrap(), b"one");
        let mode = fs::metadata(&marker).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "new files are their owner's only");
        // Left read-only (as by another user's earlier run, were the folder
        // writable): replaced, not written into.
        fs::set_permissions(&marker, fs::Permissions::from_mode(0o400)).unwrap();
        write_replacing(&marker, b"two").unwrap();
        assert_eq!(fs::read(&marker).unwrap(), b"two");
        let left: Vec<_> = fs::read_dir(marker.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    }
}
