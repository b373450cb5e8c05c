//! Reads a plugin's metadata from its library file without loading it, and
//! decides whether this host can run it.

use std::fs::File;
use std::path::Path;

use object::read::ReadCache;
use object::{Object, ObjectSection};
use plinth_abi::{Metadata, Mixin};
use plinth_abi::{ABI_MAJOR, ABI_MINOR, METADATA_SECTION};

/// Why a library cannot be used; the plugin is listed as incompatible or
/// failed with this reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Not something this host can run: not a library, not a Plinth plugin,
    /// another ABI, another architecture.
    #[error("{0}")]
    Incompatible(String),
    /// A Plinth plugin that is damaged or cannot be read.
    #[error("{0}")]
    Failed(String),
}

/// Reads the metadata section of the library at `path`.
pub fn read(path: &Path) -> Result<Metadata, Refusal> {
    let file = File::open(path)
        .map_err(|e| Refusal::Failed(format!("cannot open {}: {e}", path.display())))?;
    let cache = ReadCache::new(file);
    let object = object::File::parse(&cache)
        .map_err(|e| Refusal::Incompatible(format!("not a shared library ({e})")))?;
    if let Some(arch) = expected_architecture() {
        if object.architecture() != arch {
            return Err(Refusal::Incompatible(format!(
                "built for {:?}, but this host runs on {:?}",
                object.architecture(),
                arch
            )));
        }
    }
    let section = object.section_by_name(METADATA_SECTION).ok_or_else(|| {
        Refusal::Incompatible(format!(
            "not a Plinth plugin (the library has no {METADATA_SECTION} section)"
        ))
    })?;
    let bytes = section
        .data()
        .map_err(|e| Refusal::Failed(format!("damaged library: cannot read its metadata ({e})")))?;
    Metadata::parse(bytes).map_err(Refusal::Failed)
}

fn expected_architecture() -> Option<object::Architecture> {
    use object::Architecture as A;
    match std::env::consts::ARCH {
        "x86_64" => Some(A::X86_64),
        "aarch64" => Some(A::Aarch64),
        "x86" => Some(A::I386),
        "arm" => Some(A::Arm),
        "riscv64" => Some(A::Riscv64),
        _ => None,
    }
}

/// Checks that this host can run a plugin with this metadata.
pub fn check_compatible(meta: &Metadata) -> Result<(), Refusal> {
    let (major, minor) = meta.abi;
    if meta.plinth_plugin != 1 {
        return Err(Refusal::Incompatible(format!(
            "unknown metadata format {}",
            meta.plinth_plugin
        )));
    }
    if major != ABI_MAJOR {
        return Err(Refusal::Incompatible(format!(
            "built for Plinth ABI {major}.{minor} (plinth-sdk {}); this host speaks ABI {ABI_MAJOR}.x",
            meta.sdk
        )));
    }
    if meta.panic != "unwind" {
        return Err(Refusal::Incompatible(format!(
            "built with panic = \"{}\"; a panic in it would take the host down, so it must be built with panic = \"unwind\"",
            meta.panic
        )));
    }
    let unknown: Vec<&str> = meta
        .mixins
        .iter()
        .map(String::as_str)
        .filter(|m| Mixin::from_name(m).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(Refusal::Incompatible(format!(
            "needs mixin{} {} that this host (Plinth ABI {ABI_MAJOR}.{ABI_MINOR}) does not have; the plugin was built with plinth-sdk {} (ABI {major}.{minor})",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
            meta.sdk
        )));
    }
    Ok(())
}
