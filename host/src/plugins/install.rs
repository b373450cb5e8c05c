//! Installing, registering and uninstalling plugins: copying a library or
//! plugin folder into `<basedir>/plugins`, writing a manifest for a library
//! that lives elsewhere, and removing a plugin's files (then unloading it, or
//! leaving that to the next start, as [`lifecycle::removal`] decides).

use std::fs;
use std::path::{Path, PathBuf};

use plinth_abi::methods::plugin as m;

use crate::config::ConfigError;
use crate::paths::{check_id, id_from_library, IdError, Paths};
use crate::plugins::discover::{
    find_manifest, inspect_path, sha256_file, HashError, Manifest, Source, Unusable,
};
use crate::plugins::lifecycle::{self, Removal};
use crate::plugins::manager::{
    drop_when_unique, not_found, ManagerError, Options, Pending, PluginManager, State, Toggle,
};
use crate::plugins::metadata::Refusal;
use crate::plugins::state::{evaluate, Record};
use crate::plugins::{archive, loader, metadata};

/// Why a plugin cannot be installed, registered or unregistered.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The path is neither a plugin library, a plugin folder nor a plugin archive.
    #[error("{}: not a plugin library, plugin folder or plugin archive (.zip, .tar.gz, .tgz, .tar)", .0.display())]
    NotAPlugin(PathBuf),
    /// A plugin archive that cannot be unpacked into a plugin folder.
    #[error(transparent)]
    Archive(#[from] crate::plugins::archive::ArchiveError),
    /// What was found at the path cannot be used.
    #[error("{}: {problem}", .path.display())]
    Unusable { path: PathBuf, problem: Unusable },
    /// The library does not load in this host.
    #[error("{}: {refusal}", .path.display())]
    Refused { path: PathBuf, refusal: Refusal },
    /// A bundled plugin has the identifier already.
    #[error("`{id}` is already a bundled plugin ({}); an installed copy would be shadowed", .path.display())]
    Bundled { id: String, path: PathBuf },
    /// The identifier is registered already.
    #[error("`{id}` is already registered ({}); unregister it first", .manifest.display())]
    Registered { id: String, manifest: PathBuf },
    /// No registration of the identifier.
    #[error("no registration for `{id}` in {}", .folder.display())]
    NotRegistered { id: String, folder: PathBuf },
    /// The identifier cannot be used.
    #[error(transparent)]
    BadId(#[from] IdError),
    /// The config does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The library cannot be hashed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A file operation failed: what, on which path.
    #[error("cannot {what} {}: {error}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
    move |error| InstallError::Io {
        what,
        path: path.to_path_buf(),
        error,
    }
}

/// Checks that the library at `path` is a plugin this host can load.
fn check_loads(library: &Path) -> Result<plinth_abi::Metadata, InstallError> {
    let refused = |refusal| InstallError::Refused {
        path: library.to_path_buf(),
        refusal,
    };
    let meta = metadata::read(library).map_err(refused)?;
    metadata::check_compatible(&meta).map_err(refused)?;
    loader::load(library, meta.abi.1, loader::LayoutCheck::Run).map_err(refused)?;
    Ok(meta)
}

/// Copies a plugin library or folder, or the plugin folder of a plugin
/// archive ([`archive`]), into `<basedir>/plugins` (beside the target, then
/// renamed over it: a running host may have the old file mapped). Returns
/// the plugin's identifier and where it went; it loads at the next start of
/// the host.
pub fn install(paths: &Paths, source: &Path) -> Result<(String, PathBuf), InstallError> {
    match archive::Format::of(source).filter(|_| source.is_file()) {
        Some(format) => {
            let unpacked = archive::unpack(source, format)?;
            install_path(paths, &unpacked.folder)
        }
        None => install_path(paths, source),
    }
}

fn install_path(paths: &Paths, source: &Path) -> Result<(String, PathBuf), InstallError> {
    let found = inspect_path(source, Source::User)
        .ok_or_else(|| InstallError::NotAPlugin(source.to_path_buf()))?;
    let found = match found.problem {
        Some(problem) => {
            return Err(InstallError::Unusable {
                path: source.to_path_buf(),
                problem,
            })
        }
        None => found,
    };
    let library = found.library.clone().expect("no problem means a library");
    check_loads(&library)?;
    let bundled =
        PluginManager::new(paths.clone(), Options::default()).map_err(InstallError::Config)?;
    if let Some(existing) = bundled
        .plugin(&found.id)
        .filter(|p| p.source == Source::Bundled)
    {
        return Err(InstallError::Bundled {
            id: found.id,
            path: existing.path,
        });
    }
    let dir = paths.user_plugins();
    fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    let name = source
        .file_name()
        .ok_or_else(|| InstallError::NotAPlugin(source.to_path_buf()))?;
    let target = dir.join(name);
    let staging = dir.join(format!(".{}.installing", name.to_string_lossy()));
    copy_tree(source, &staging).map_err(io("copy", source))?;
    if target.is_dir() {
        fs::remove_dir_all(&target).map_err(io("replace", &target))?;
    }
    fs::rename(&staging, &target).map_err(io("install into", &target))?;
    Ok((found.id, target))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        if to.is_dir() {
            fs::remove_dir_all(to)?;
        } else {
            fs::remove_file(to)?;
        }
    }
    if from.is_file() {
        fs::copy(from, to)?;
        return Ok(());
    }
    for entry in walkdir::WalkDir::new(from).follow_links(true) {
        let entry = entry.map_err(std::io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(from)
            .expect("walkdir yields paths below its root");
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&dest)?;
        } else {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Registers a library that lives anywhere on disk: writes
/// `<basedir>/manifests/<id>.json` with its path and hash. Returns the
/// identifier and the library's path.
pub fn register(
    paths: &Paths,
    library: &Path,
    id: Option<String>,
) -> Result<(String, PathBuf), InstallError> {
    let library = fs::canonicalize(library).map_err(io("find", library))?;
    let id = id.unwrap_or_else(|| id_from_library(&library));
    check_id(&id)?;
    check_loads(&library)?;
    let file = paths.manifests().join(format!("{id}.json"));
    if let Some(existing) =
        find_manifest(&paths.manifests(), &id).or(file.exists().then_some(file.clone()))
    {
        return Err(InstallError::Registered {
            id,
            manifest: existing,
        });
    }
    let manifest = Manifest {
        id: id.clone(),
        library: library.clone(),
        sha256: Some(sha256_file(&library)?),
    };
    let text = serde_json::to_string_pretty(&manifest).expect("serialises");
    crate::disk::write_atomic(&file, text.as_bytes()).map_err(io("write", &file))?;
    Ok((id, library))
}

/// Removes the registration of `id`; returns the manifest removed.
pub fn unregister(paths: &Paths, id: &str) -> Result<PathBuf, InstallError> {
    check_id(id)?;
    let file =
        find_manifest(&paths.manifests(), id).ok_or_else(|| InstallError::NotRegistered {
            id: id.to_owned(),
            folder: paths.manifests(),
        })?;
    fs::remove_file(&file).map_err(io("remove", &file))?;
    Ok(file)
}

impl PluginManager {
    /// Uninstalls a plugin: calls `on_plugin_pending_uninstall`, removes its
    /// files (a user plugin's file or folder, a manifest plugin's manifest),
    /// then unloads it at once, or marks it `pending_uninstall` when it needs
    /// a restart ([`lifecycle::removal`]).
    pub fn uninstall(&self, id: &str) -> Result<Toggle, ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        let facts = self.facts(id)?;
        let (source, path, manifest, object) = self
            .with(id, |r| {
                (
                    r.found.source,
                    r.found.path.clone(),
                    r.found.manifest.clone(),
                    r.object().cloned(),
                )
            })
            .ok_or_else(|| not_found(id))?;
        lifecycle::uninstallable(id, source)?;
        // A plugin that is to be enabled but was not started (the command line)
        // is created just to hear about its uninstall.
        let object = match object {
            Some(object) => Some(object),
            None if facts.state == State::Enabled => self
                .load(id)
                .ok()
                .and_then(|library| self.instantiate(id, &*library).ok()),
            None => None,
        };
        let removal = lifecycle::removal(&facts, object.is_some());
        if let Some(object) = &object {
            if let Err(e) = object.call::<m::OnPluginPendingUninstall>(&()) {
                tracing::error!(plugin = %id, "on_plugin_pending_uninstall: {e}");
            }
        }
        let target = match source {
            Source::Manifest => {
                manifest.unwrap_or_else(|| self.shared.paths.manifests().join(format!("{id}.json")))
            }
            _ => path,
        };
        remove_path(&target).map_err(|error| ManagerError::Remove {
            path: target.clone(),
            error,
        })?;
        // Our handle must go before unloading waits for the last one.
        drop(object);
        // A plugin installed again under this identifier starts afresh.
        if let Err(e) = self.forget_crashes(id) {
            tracing::warn!(plugin = %id, "cannot clear its crash records: {e}");
        }
        if removal == Removal::AtRestart {
            let state = self
                .with_mut(id, |r| {
                    r.pending = Some(Pending::Uninstall);
                    r.state
                })
                .ok_or_else(|| not_found(id))?;
            return Ok(Toggle {
                id: id.into(),
                state,
                needs_restart: true,
                needs_refresh: false,
            });
        }
        self.unload_now(id);
        Ok(Toggle {
            id: id.into(),
            state: State::Disabled,
            needs_restart: false,
            needs_refresh: facts.reload_needing,
        })
    }

    /// Disables the plugin if it is enabled, drops its objects and forgets it.
    /// Its library stays mapped until the process exits.
    pub fn unload(&self, id: &str) -> Result<(), ManagerError> {
        let _guard = self.shared.lifecycle.lock().unwrap();
        self.with(id, |_| ()).ok_or_else(|| not_found(id))?;
        self.unload_now(id);
        Ok(())
    }

    fn unload_now(&self, id: &str) {
        // Only a plugin that was enabled hears that it is disabled.
        if self.with(id, Record::is_running).unwrap_or(false) {
            self.disable(id);
        }
        let removed = self.shared.records_mut().remove(id);
        let had_code = removed.as_ref().is_some_and(|r| r.library().is_some());
        if let Some((object, _)) = removed.and_then(|mut r| r.take_object()) {
            drop_when_unique(object);
        }
        if had_code {
            self.shared.events.fire(
                plinth_abi::events::PLUGIN_UNLOADED,
                &serde_json::json!({ "id": id }),
            );
        }
        // The next copy of the identifier takes its place (it loads at the next start).
        let options = self.shared.options.clone();
        let disabled = self.shared.config.disabled().unwrap_or_default();
        let blocklist = self.shared.config.blocklist().unwrap_or_default();
        let quarantined = crate::plugins::crashes::quarantined(&self.shared.config);
        if let Some(next) = self.shared.records_mut().promote(id) {
            next.state = State::Enabled;
            next.error = None;
            match next.found.problem.as_ref().map(ToString::to_string) {
                Some(problem) => next.fail(State::Failed, problem),
                None => evaluate(
                    next,
                    &self.shared.scan,
                    &options,
                    &disabled,
                    &blocklist,
                    &quarantined,
                ),
            }
        }
    }
}

fn remove_path(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}
