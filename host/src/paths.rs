//! Where things are: the base folder, the bundled folder, library file names.

use std::path::{Path, PathBuf};

/// The platform's extension for shared libraries.
pub const LIB_EXT: &str = std::env::consts::DLL_EXTENSION;
/// The platform's prefix for shared libraries (`lib` except on Windows).
pub const LIB_PREFIX: &str = std::env::consts::DLL_PREFIX;

/// The folders of one Plinth installation.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The per-user base folder: `config.yaml`, `plugins/`, `manifests/`, `data/`.
    pub basedir: PathBuf,
    /// The folder of the bundled plugins.
    pub bundled: PathBuf,
    /// Only library files count as bundled plugins, not folders: true when the
    /// bundled folder is the executable's own (a Cargo target folder holds
    /// `build/`, `deps/`, … beside the sample plugins).
    pub bundled_files_only: bool,
}

impl Paths {
    /// Resolves the folders: explicit options first, then the defaults.
    ///
    /// - basedir: `--basedir`, else `PLINTH_BASEDIR` (handled by the CLI), else the
    ///   per-user config folder (`~/.config/plinth` on Linux).
    /// - bundled: `--bundled-dir`, else `<folder of the executable>/plugins` when it
    ///   exists (an installed layout), else the executable's own folder (a Cargo
    ///   `target/<profile>` folder, where `cargo build --workspace` puts the sample plugins).
    pub fn resolve(basedir: Option<PathBuf>, bundled: Option<PathBuf>) -> Result<Self, PathsError> {
        let basedir = match basedir {
            Some(dir) => dir,
            None => directories::ProjectDirs::from("", "", "plinth")
                .map(|d| d.config_dir().to_path_buf())
                .ok_or(PathsError::ConfigFolderUnknown)?,
        };
        let (bundled, bundled_files_only) = match bundled {
            Some(dir) => (dir, false),
            None => default_bundled_dir()?,
        };
        Ok(Self {
            basedir,
            bundled,
            bundled_files_only,
        })
    }

    /// `<basedir>/config.yaml`.
    pub fn config_file(&self) -> PathBuf {
        self.basedir.join("config.yaml")
    }

    /// `<basedir>/startup_incomplete`: written when a start-up begins and
    /// removed once it finished; still there, the last start-up did not finish.
    pub fn startup_marker(&self) -> PathBuf {
        self.basedir.join("startup_incomplete")
    }

    /// `<basedir>/crash_record`: which plugin call was in flight when the
    /// host died of a signal (empty, or gone, when it did not).
    pub fn crash_record(&self) -> PathBuf {
        self.basedir.join("crash_record")
    }

    /// `<basedir>/scan_cache.json`: what reading and checking each plugin
    /// library found, for the next start (see `plugins::scan_cache`).
    pub fn scan_cache(&self) -> PathBuf {
        self.basedir.join("scan_cache.json")
    }

    /// `<basedir>/plugins`: plugins the user installed.
    pub fn user_plugins(&self) -> PathBuf {
        self.basedir.join("plugins")
    }

    /// `<basedir>/manifests`: registered plugins living elsewhere on disk.
    pub fn manifests(&self) -> PathBuf {
        self.basedir.join("manifests")
    }

    /// `<basedir>/data/<id>`: a plugin's data folder.
    pub fn data_folder(&self, id: &str) -> PathBuf {
        self.basedir.join("data").join(id)
    }
}

/// Why the folders cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// The platform gives no per-user config folder (no home folder).
    #[error("cannot find the user's config folder; pass --basedir")]
    ConfigFolderUnknown,
    /// The running executable cannot be located.
    #[error("cannot locate the plinth executable: {0}")]
    ExecutableUnknown(std::io::Error),
    /// The executable's path has no parent folder.
    #[error("the plinth executable has no parent folder")]
    ExecutableHasNoFolder,
}

fn default_bundled_dir() -> Result<(PathBuf, bool), PathsError> {
    let exe = std::env::current_exe().map_err(PathsError::ExecutableUnknown)?;
    let dir = exe.parent().ok_or(PathsError::ExecutableHasNoFolder)?;
    let installed = dir.join("plugins");
    Ok(if installed.is_dir() {
        (installed, false)
    } else {
        (dir.to_path_buf(), true)
    })
}

/// Whether `path` is named like a shared library of this platform.
pub fn is_library_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == LIB_EXT)
}

/// The identifier a library file gives: its stem without the `lib` prefix.
pub fn id_from_library(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match stem.strip_prefix(LIB_PREFIX) {
        Some(rest) if !LIB_PREFIX.is_empty() && !rest.is_empty() => rest.to_owned(),
        _ => stem.into_owned(),
    }
}

/// Why a plugin identifier cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// It is empty.
    #[error("the plugin identifier is empty")]
    Empty,
    /// It holds a character other than ASCII letters, digits, `_` and `-`.
    #[error("invalid plugin identifier {id:?}: {bad:?} is not allowed (use ASCII letters, digits, '_' and '-')")]
    Character { id: String, bad: char },
    /// It starts with `_`, which the host's own keys use.
    #[error("invalid plugin identifier {0:?}: identifiers starting with '_' are reserved")]
    Reserved(String),
}

/// Checks a plugin identifier: ASCII letters, digits, `_` and `-`, not starting
/// with `_` (those keys belong to the host in `config.yaml`'s `plugins` section).
pub fn check_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(IdError::Character {
            id: id.to_owned(),
            bad,
        });
    }
    if id.starts_with('_') {
        return Err(IdError::Reserved(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_library_names() {
        let lib = |stem: &str| PathBuf::from(format!("/x/{stem}.{LIB_EXT}"));
        assert_eq!(
            id_from_library(&lib(&format!("{LIB_PREFIX}helloworld"))),
            "helloworld"
        );
        assert_eq!(id_from_library(&lib("plain")), "plain");
    }

    #[test]
    fn identifier_rules() {
        assert!(check_id("hello_world-2").is_ok());
        assert!(check_id("").unwrap_err().to_string().contains("empty"));
        assert!(check_id("héllo").unwrap_err().to_string().contains("'é'"));
        assert!(check_id("a.b").unwrap_err().to_string().contains("'.'"));
        assert!(check_id("_disabled")
            .unwrap_err()
            .to_string()
            .contains("reserved"));
    }
}
