//! Maps a plugin library into the process and checks its binary interface;
//! the library is then reached through [`ffi::InProcess`]. Libraries are
//! never unmapped: code, vtables and type layouts of a plugin may be
//! referenced until the process exits (see abi_stable's design).

use std::path::Path;
use std::sync::Arc;

use abi_stable::library::{lib_header_from_path, AbiHeader, LibraryError};

use crate::plugins::ffi;
use crate::plugins::metadata::Refusal;
use crate::plugins::transport::Library;

/// Loads the library at `path`, built against minor `abi_minor` of the
/// plugin ABI (its metadata says which).
///
/// The layout check runs in the direction the plugin's ABI minor calls for:
/// a plugin built against an older SDK has fewer root-module fields than this
/// host, so the host's layout must extend the plugin's; a newer plugin's
/// layout must extend the host's. Fields the plugin lacks read back as `None`.
/// [`LayoutCheck::PassedBefore`] skips it for a file that passed it at an
/// earlier start of this host build (the scan cache says so).
pub fn load(path: &Path, abi_minor: u32, check: LayoutCheck) -> Result<Arc<dyn Library>, Refusal> {
    Ok(Arc::new(load_checked(path, abi_minor, check)?))
}

/// Whether a library's layout is checked as it loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutCheck {
    /// Check it.
    Run,
    /// The file that had this identity passed the check at an earlier start
    /// of this host build: skipped when the file at the path still has it
    /// once mapped (else checked: it was swapped meanwhile).
    PassedBefore(crate::plugins::scan_cache::FileIdentity),
}

/// Maps the library at `path` into this process (the host's, or an isolated
/// plugin's runner), checking its layout.
pub(crate) fn load_in_process(path: &Path, abi_minor: u32) -> Result<ffi::InProcess, Refusal> {
    load_checked(path, abi_minor, LayoutCheck::Run)
}

fn load_checked(
    path: &Path,
    abi_minor: u32,
    check: LayoutCheck,
) -> Result<ffi::InProcess, Refusal> {
    let header = lib_header_from_path(path).map_err(|e| match e {
        e @ LibraryError::OpenError { .. } => Refusal::Failed(format!(
            "cannot load the library: {}",
            one_line(&e.to_string())
        )),
        LibraryError::GetSymbolError { .. } => Refusal::Incompatible(
            "not a Plinth plugin (no abi_stable root module is exported)".into(),
        ),
        LibraryError::InvalidAbiHeader(found) => {
            let ours = AbiHeader::VALUE;
            Refusal::Incompatible(if found.magic_string == ours.magic_string {
                format!(
                    "incompatible library: built with abi_stable ABI {}.{}, this host uses {}.{}",
                    found.abi_major, found.abi_minor, ours.abi_major, ours.abi_minor
                )
            } else {
                "incompatible library: its root-module header is not abi_stable's".to_owned()
            })
        }
        other => Refusal::Incompatible(format!(
            "incompatible library: {}",
            one_line(&other.to_string())
        )),
    })?;
    // The identity is compared once the file is mapped: a file renamed over
    // the path after the cache was asked is checked.
    let check = match check {
        LayoutCheck::PassedBefore(id)
            if crate::plugins::scan_cache::FileIdentity::of(path).as_ref() == Some(&id) =>
        {
            LayoutCheck::PassedBefore(id)
        }
        _ => LayoutCheck::Run,
    };
    let module = ffi::root_module(header, abi_minor, &check).map_err(|e| match e {
        ffi::RootModuleError::NoLayout => {
            Refusal::Incompatible("the library carries no layout to check".into())
        }
        ffi::RootModuleError::Layout(e) => {
            tracing::debug!("layout check of {} failed:\n{e}", path.display());
            Refusal::Incompatible(format!(
                "its binary interface does not match this host's: {}",
                first_lines(&e, 6)
            ))
        }
        ffi::RootModuleError::Init(e) => {
            Refusal::Incompatible(format!("cannot initialise the plugin: {}", one_line(&e)))
        }
    })?;
    Ok(ffi::InProcess(module))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .collect();
    lines.join(" / ")
}
