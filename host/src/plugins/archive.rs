//! Plugin archives, as OctoPrint's plugin manager takes them: a `.zip`,
//! `.tar.gz` (`.tgz`) or `.tar` holding one plugin folder (`<id>/` with
//! `lib<id>.so` beside its templates and static files) or that folder's
//! content at its top (then named after its library).
//!
//! An archive is unpacked into a private temporary folder and nothing
//! outside it: an entry with an absolute path or `..`, a link or a device
//! is refused, as is an archive that unpacks to more than
//! [`MAX_BYTES`] or [`MAX_ENTRIES`] entries (a "zip bomb").

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use tempfile::TempDir;

use crate::paths::{id_from_library, is_library_name};

/// The most an archive may unpack to.
pub const MAX_BYTES: u64 = 512 << 20;
/// What a tar stream may hold beyond its files' content (headers, long
/// names, extensions), which the tar reader keeps in memory.
const TAR_OVERHEAD: u64 = 16 << 20;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 20_000;

/// The archive formats, by the end of the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.zip`
    Zip,
    /// `.tar.gz` or `.tgz`
    TarGz,
    /// `.tar`
    Tar,
}

impl Format {
    /// The format `path`'s name says, if it names an archive.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".zip") {
            Some(Format::Zip)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Some(Format::TarGz)
        } else if name.ends_with(".tar") {
            Some(Format::Tar)
        } else {
            None
        }
    }
}

/// Why an archive cannot be unpacked into a plugin folder.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive (or the temporary folder) cannot be read or written.
    #[error("{}: cannot {what}: {error}", .path.display())]
    Io {
        /// The archive.
        path: PathBuf,
        /// What failed.
        what: &'static str,
        /// Why.
        error: io::Error,
    },
    /// The file is not an archive of the format its name says.
    #[error("{}: not a readable {format:?} archive: {error}", .path.display())]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// The format its name says.
        format: Format,
        /// What the reader said.
        error: String,
    },
    /// An entry that would land outside the plugin folder, or is no plain
    /// file or folder.
    #[error("{}: entry {entry:?} refused: {why}", .path.display())]
    UnsafeEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The archive unpacks to too much.
    #[error("{}: unpacks to more than {limit}", .path.display())]
    TooBig {
        /// The archive.
        path: PathBuf,
        /// Which limit, in words.
        limit: String,
    },
    /// No plugin folder or library at the archive's top.
    #[error("{}: holds no plugin: put one folder `<id>/` with the library `lib<id>.so` in it, or the library itself, at the archive's top (found: {found})", .path.display())]
    NoPlugin {
        /// The archive.
        path: PathBuf,
        /// What its top holds, in words.
        found: String,
    },
}

/// A plugin folder unpacked from an archive; removed when dropped.
#[derive(Debug)]
pub struct Unpacked {
    _dir: TempDir,
    /// The plugin folder, named as the plugin's identifier.
    pub folder: PathBuf,
}

/// Unpacks the archive at `path` (of `format`) and finds its plugin folder.
pub fn unpack(path: &Path, format: Format) -> Result<Unpacked, ArchiveError> {
    unpack_within(path, format, MAX_BYTES, MAX_ENTRIES)
}

fn unpack_within(
    path: &Path,
    format: Format,
    max_bytes: u64,
    max_entries: usize,
) -> Result<Unpacked, ArchiveError> {
    let io_error = |what| {
        move |error| ArchiveError::Io {
            path: path.to_path_buf(),
            what,
            error,
        }
    };
    let dir = tempfile::tempdir().map_err(io_error("make a temporary folder for"))?;
    let root = dir.path().join("content");
    fs::create_dir(&root).map_err(io_error("make a temporary folder for"))?;
    let file = fs::File::open(path).map_err(io_error("open"))?;
    let mut sink = Sink {
        archive: path,
        root: &root,
        bytes: 0,
        entries: 0,
        max_bytes,
        max_entries,
    };
    match format {
        Format::Zip => unzip(file, format, &mut sink)?,
        Format::TarGz => untar(flate2::read::GzDecoder::new(file), format, &mut sink)?,
        Format::Tar => untar(file, format, &mut sink)?,
    }
    let folder = plugin_folder(path, dir.path(), &root)?;
    Ok(Unpacked { _dir: dir, folder })
}

/// Where entries are written, and what was written so far.
struct Sink<'a> {
    archive: &'a Path,
    root: &'a Path,
    bytes: u64,
    entries: usize,
    max_bytes: u64,
    max_entries: usize,
}

impl Sink<'_> {
    fn refuse(&self, entry: &str, why: &'static str) -> ArchiveError {
        ArchiveError::UnsafeEntry {
            path: self.archive.to_path_buf(),
            entry: entry.to_owned(),
            why,
        }
    }

    /// Where entry `name` goes: below the root, or refused.
    fn target(&mut self, name: &str, stored: &Path) -> Result<PathBuf, ArchiveError> {
        self.entries += 1;
        if self.entries > self.max_entries {
            return Err(ArchiveError::TooBig {
                path: self.archive.to_path_buf(),
                limit: format!("{} entries", self.max_entries),
            });
        }
        let mut target = self.root.to_path_buf();
        for part in stored.components() {
            match part {
                Component::Normal(part) => target.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(self.refuse(name, "it climbs out with `..`")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.refuse(name, "its path is absolute"))
                }
            }
        }
        Ok(target)
    }

    fn folder(&mut self, name: &str, stored: &Path) -> Result<(), ArchiveError> {
        let target = self.target(name, stored)?;
        fs::create_dir_all(&target).map_err(|error| self.io("unpack", error))
    }

    fn file(&mut self, name: &str, stored: &Path, content: impl Read) -> Result<(), ArchiveError> {
        let target = self.target(name, stored)?;
        if target == self.root {
            return Err(self.refuse(name, "a file without a name"));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|error| self.io("unpack", error))?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|error| match error.kind() {
                io::ErrorKind::AlreadyExists => self.refuse(name, "the archive holds it twice"),
                _ => self.io("unpack", error),
            })?;
        // Read one byte past what is left, to see the limit crossed.
        let left = self.max_bytes - self.bytes;
        let copied =
            io::copy(&mut content.take(left + 1), &mut out).map_err(|e| self.io("unpack", e))?;
        self.bytes += copied;
        if self.bytes > self.max_bytes {
            return Err(ArchiveError::TooBig {
                path: self.archive.to_path_buf(),
                limit: format!("{} bytes", self.max_bytes),
            });
        }
        Ok(())
    }

    fn io(&self, what: &'static str, error: io::Error) -> ArchiveError {
        ArchiveError::Io {
            path: self.archive.to_path_buf(),
            what,
            error,
        }
    }
}

fn unzip(file: fs::File, format: Format, sink: &mut Sink) -> Result<(), ArchiveError> {
    let corrupt = |error: zip::result::ZipError| ArchiveError::Corrupt {
        path: sink.archive.to_path_buf(),
        format,
        error: error.to_string(),
    };
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(corrupt)?;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|error| ArchiveError::Corrupt {
            path: sink.archive.to_path_buf(),
            format,
            error: error.to_string(),
        })?;
        let name = entry.name().to_owned();
        if entry.is_symlink() {
            return Err(sink.refuse(&name, "it is a link"));
        }
        // `enclosed_name` is None for absolute names and names that climb out.
        let stored = PathBuf::from(&name);
        if entry.enclosed_name().is_none() {
            sink.target(&name, &stored)?;
            return Err(sink.refuse(&name, "its path leaves the archive's folder"));
        }
        if entry.is_dir() {
            sink.folder(&name, &stored)?;
        } else {
            sink.file(&name, &stored, entry)?;
        }
    }
    Ok(())
}

/// A reader that fails once more than `left` bytes were read: the whole
/// tar stream is bounded, long names and extension headers included.
struct Bounded<R> {
    inner: R,
    left: u64,
    exceeded: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            self.exceeded.set(true);
            return Err(io::Error::other("the archive is too large"));
        }
        let most = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..most])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn untar(reader: impl Read, format: Format, sink: &mut Sink) -> Result<(), ArchiveError> {
    let exceeded = std::rc::Rc::new(std::cell::Cell::new(false));
    let limit = sink.max_bytes.saturating_add(TAR_OVERHEAD);
    let archive_path = sink.archive;
    let reader = Bounded {
        inner: reader,
        left: limit,
        exceeded: exceeded.clone(),
    };
    let outcome = untar_entries(tar::Archive::new(reader), format, sink);
    // Whatever failed once the stream hit its bound failed for that.
    match outcome {
        Err(_) if exceeded.get() => Err(ArchiveError::TooBig {
            path: archive_path.to_path_buf(),
            limit: format!("{limit} bytes of tar stream"),
        }),
        other => other,
    }
}

fn untar_entries(
    mut archive: tar::Archive<impl Read>,
    format: Format,
    sink: &mut Sink,
) -> Result<(), ArchiveError> {
    let archive_path = sink.archive;
    let corrupt = |error: io::Error| ArchiveError::Corrupt {
        path: archive_path.to_path_buf(),
        format,
        error: error.to_string(),
    };
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let stored = entry.path().map_err(corrupt)?.into_owned();
        let name = stored.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            sink.folder(&name, &stored)?;
        } else if kind.is_file() || kind.is_gnu_sparse() {
            // A sparse file reads as its full content, holes as zeros, up
            // to the limit on what an archive unpacks to.
            sink.file(&name, &stored, entry)?;
        } else if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        } else if kind.is_symlink() || kind.is_hard_link() {
            return Err(sink.refuse(&name, "it is a link"));
        } else {
            return Err(sink.refuse(&name, "it is not a file or a folder"));
        }
    }
    Ok(())
}

/// The plugin folder in the unpacked `root`: its one folder, or the root
/// itself (moved to `<id>` beside it) when a library sits at its top.
/// Folders archivers add (`__MACOSX`, names starting with a dot) are not
/// counted.
fn plugin_folder(archive: &Path, dir: &Path, root: &Path) -> Result<PathBuf, ArchiveError> {
    let io_error = |error| ArchiveError::Io {
        path: archive.to_path_buf(),
        what: "read the unpacked",
        error,
    };
    let mut folders = Vec::new();
    let mut libraries = Vec::new();
    let mut others = 0;
    for entry in fs::read_dir(root).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || name == "__MACOSX" {
            continue;
        }
        if path.is_dir() {
            folders.push(path);
        } else if is_library_name(&path) {
            libraries.push(path);
        } else {
            others += 1;
        }
    }
    match (folders.as_slice(), libraries.as_slice()) {
        ([folder], []) if others == 0 => Ok(folder.clone()),
        (_, [library]) => {
            let folder = dir.join(id_from_library(library));
            fs::rename(root, &folder).map_err(io_error)?;
            Ok(folder)
        }
        _ => Err(ArchiveError::NoPlugin {
            path: archive.to_path_buf(),
            found: format!(
                "{} folders, {} libraries, {others} other files",
                folders.len(),
                libraries.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".zip").tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        for (name, content) in entries {
            if name.ends_with('/') {
                zip.add_directory(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
            } else {
                zip.start_file(*name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                zip.write_all(content).unwrap();
            }
        }
        zip.finish().unwrap();
        file
    }

    fn tar_gz_of(
        build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<fs::File>>),
    ) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new()
            .suffix(".tar.gz")
            .tempfile()
            .unwrap();
        let gz = flate2::write::GzEncoder::new(file.reopen().unwrap(), Default::default());
        let mut tar = tar::Builder::new(gz);
        build(&mut tar);
        tar.into_inner().unwrap().finish().unwrap();
        file
    }

    fn add_file(
        tar: &mut tar::Builder<flate2::write::GzEncoder<fs::File>>,
        name: &str,
        content: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, content).unwrap();
    }

    #[test]
    fn a_folder_at_the_top_is_the_plugin_folder() {
        let lib = format!("demo/libdemo.{}", crate::paths::LIB_EXT);
        let zip = zip_of(&[
            ("demo/", b""),
            (&lib, b"ELF"),
            ("demo/templates/x.jinja2", b"<p>"),
        ]);
        let unpacked = unpack(zip.path(), Format::Zip).unwrap();
        assert!(unpacked.folder.ends_with("demo"));
        assert!(unpacked.folder.join("templates/x.jinja2").is_file());
    }

    #[test]
    fn a_library_at_the_top_names_the_folder() {
        let lib = format!("libdemo.{}", crate::paths::LIB_EXT);
        let archive = tar_gz_of(|tar| {
            add_file(tar, &lib, b"ELF");
            add_file(tar, "static/app.js", b"1");
        });
        let unpacked = unpack(archive.path(), Format::TarGz).unwrap();
        assert_eq!(unpacked.folder.file_name().unwrap(), "demo");
        assert!(unpacked.folder.join(&lib).is_file());
        assert!(unpacked.folder.join("static/app.js").is_file());
    }

    #[test]
    fn entries_that_leave_the_folder_are_refused() {
        let zip = zip_of(&[("../evil.so", b"x")]);
        let e = unpack(zip.path(), Format::Zip).unwrap_err();
        assert!(matches!(e, ArchiveError::UnsafeEntry { .. }), "{e}");
        assert!(e.to_string().contains("../evil.so"), "{e}");

        // tar's own builder refuses `..`, so the header is written by hand.
        let archive = tar_gz_of(|tar| {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../out.so");
            header.set_size(1);
            header.set_cksum();
            tar.append(&header, &b"x"[..]).unwrap();
        });
        let e = unpack(archive.path(), Format::TarGz).unwrap_err();
        assert!(e.to_string().contains("climbs out"), "{e}");
    }

    #[test]
    fn links_are_refused() {
        let archive = tar_gz_of(|tar| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            tar.append_link(&mut header, "demo/libdemo.so", "/etc/passwd")
                .unwrap();
        });
        let e = unpack(archive.path(), Format::TarGz).unwrap_err();
        assert!(e.to_string().contains("is a link"), "{e}");
    }

    #[test]
    fn an_archive_without_a_plugin_says_what_it_holds() {
        let zip = zip_of(&[("README.md", b"hi"), ("a/", b""), ("b/", b"")]);
        let e = unpack(zip.path(), Format::Zip).unwrap_err();
        assert!(
            e.to_string()
                .contains("2 folders, 0 libraries, 1 other files"),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_is_no_archive_is_named() {
        let file = tempfile::Builder::new().suffix(".zip").tempfile().unwrap();
        fs::write(file.path(), b"not a zip").unwrap();
        let e = unpack(file.path(), Format::Zip).unwrap_err();
        assert!(matches!(e, ArchiveError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains(&file.path().display().to_string()));
    }

    #[test]
    fn archives_that_unpack_to_too_much_are_refused() {
        let zip = zip_of(&[("demo/a", &[0u8; 600]), ("demo/b", &[0u8; 600])]);
        let e = unpack_within(zip.path(), Format::Zip, 1000, 10).unwrap_err();
        assert!(e.to_string().contains("more than 1000 bytes"), "{e}");
        let e = unpack_within(zip.path(), Format::Zip, 10_000, 1).unwrap_err();
        assert!(e.to_string().contains("more than 1 entries"), "{e}");
        assert!(unpack_within(zip.path(), Format::Zip, 1200, 2).is_ok());
    }

    #[test]
    fn a_huge_long_name_is_refused_before_it_is_read_into_memory() {
        // A GNU long-name entry whose "name" is 64 MiB: the tar reader would
        // hold it in memory; the stream's bound stops it first.
        let archive = tar_gz_of(|tar| {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
            header.set_entry_type(tar::EntryType::GNULongName);
            let size = 64u64 << 20;
            header.set_size(size);
            header.set_cksum();
            tar.append(&header, io::repeat(b'a').take(size)).unwrap();
        });
        let e = unpack_within(archive.path(), Format::TarGz, 1 << 20, 100).unwrap_err();
        assert!(matches!(e, ArchiveError::TooBig { .. }), "{e}");
        assert!(e.to_string().contains("of tar stream"), "{e}");
    }

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::of(Path::new("a.ZIP")), Some(Format::Zip));
        assert_eq!(Format::of(Path::new("a.tar.gz")), Some(Format::TarGz));
        assert_eq!(Format::of(Path::new("a.tgz")), Some(Format::TarGz));
        assert_eq!(Format::of(Path::new("a.tar")), Some(Format::Tar));
        assert_eq!(Format::of(Path::new("liba.so")), None);
    }
}
