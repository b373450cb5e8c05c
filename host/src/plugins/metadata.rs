//! Reads a plugin's metadata from its library file without loading it, and
//! decides whether this host can run it.

use std::fs::File;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::read::ReadCache;
use object::{Endianness, Object, ObjectSection};
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
///
/// An ELF library (Linux) is read in four small reads: its header, its
/// section headers, their names and the section itself. Parsing the whole
/// object instead (symbol tables included) cost dozens of reads per library,
/// a tenth of start-up with a thousand plugins. Other formats, and ELF files
/// this short path does not cover, go through `object`'s full parser.
pub fn read(path: &Path) -> Result<Metadata, Refusal> {
    let mut file = File::open(path)
        .map_err(|e| Refusal::Failed(format!("cannot open {}: {e}", path.display())))?;
    let mut ident = [0u8; 64];
    let got = read_at(&mut file, 0, &mut ident).unwrap_or(0);
    let elf = match (ident.get(..4), ident.get(ELF_CLASS_BYTE)) {
        (Some(magic), Some(&class)) if got == 64 && magic == elf::ELFMAG => {
            Some(elf::FileClass(class))
        }
        _ => None,
    };
    let section = match elf {
        Some(elf::ELFCLASS64) => elf_section::<elf::FileHeader64<Endianness>>(&mut file, &ident)?,
        Some(elf::ELFCLASS32) => elf_section::<elf::FileHeader32<Endianness>>(&mut file, &ident)?,
        _ => None,
    };
    let section = match section {
        Some(bytes) => bytes,
        None => any_section(&ReadCache::new(file))?.to_vec(),
    };
    Metadata::parse(&section).map_err(Refusal::Failed)
}

/// Where an ELF file says whether it is 32- or 64-bit.
const ELF_CLASS_BYTE: usize = 4;

/// Reads `buf.len()` bytes at `offset`; how many it got.
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    #[cfg(unix)]
    let read = |buf: &mut [u8], at: u64| std::os::unix::fs::FileExt::read_at(file, buf, at);
    #[cfg(not(unix))]
    let mut read = |buf: &mut [u8], at: u64| {
        file.seek(SeekFrom::Start(at))?;
        file.read(buf)
    };
    let mut got = 0;
    while got < buf.len() {
        match read(&mut buf[got..], offset + got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// `len` bytes at `offset`, or `None` when the file is shorter.
fn bytes_at(file: &mut File, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0; usize::try_from(len).ok().filter(|&n| n <= 64 << 20)?];
    (read_at(file, offset, &mut buf).ok()? == buf.len()).then_some(buf)
}

fn not_a_library(e: object::Error) -> Refusal {
    Refusal::Incompatible(format!("not a shared library ({e})"))
}

fn no_section() -> Refusal {
    Refusal::Incompatible(format!(
        "not a Plinth plugin (the library has no {METADATA_SECTION} section)"
    ))
}

fn damaged(e: object::Error) -> Refusal {
    Refusal::Failed(format!("damaged library: cannot read its metadata ({e})"))
}

/// The metadata section of an ELF library whose first 64 bytes are
/// `ident`, after checking its machine; `None` when the short path does not
/// apply (extended section numbering, offsets outside the file) and the full
/// parser must decide.
fn elf_section<Elf: FileHeader<Endian = Endianness>>(
    file: &mut File,
    ident: &[u8],
) -> Result<Option<Vec<u8>>, Refusal> {
    let header = Elf::parse(ident).map_err(not_a_library)?;
    let endian = header.endian().map_err(not_a_library)?;
    let machine = (header.e_machine(endian), header.is_class_64());
    if let Some(expected) = expected_elf_machine() {
        if machine != expected {
            return Err(Refusal::Incompatible(format!(
                "built for {}, but this host runs on {}",
                elf_machine_name(machine),
                elf_machine_name(expected)
            )));
        }
    }
    let count = usize::from(header.e_shnum(endian));
    let names_index = usize::from(header.e_shstrndx(endian).0);
    let entry = usize::from(header.e_shentsize(endian));
    if count == 0 || names_index >= count || entry != std::mem::size_of::<Elf::SectionHeader>() {
        return Ok(None);
    }
    let offset: u64 = header.e_shoff(endian).into();
    let Some(table) = bytes_at(file, offset, (count * entry) as u64) else {
        return Ok(None);
    };
    let Ok((headers, _)) = object::pod::slice_from_bytes::<Elf::SectionHeader>(&table, count)
    else {
        return Ok(None);
    };
    let range = |h: &Elf::SectionHeader| -> (u64, u64) {
        (h.sh_offset(endian).into(), h.sh_size(endian).into())
    };
    let (names_at, names_len) = range(&headers[names_index]);
    let Some(names) = bytes_at(file, names_at, names_len) else {
        return Ok(None);
    };
    let name_of = |h: &Elf::SectionHeader| {
        let start = usize::try_from(h.sh_name(endian)).ok()?;
        let rest = names.get(start..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };
    let section = headers
        .iter()
        .find(|h| name_of(h) == Some(METADATA_SECTION.as_bytes()))
        .ok_or_else(no_section)?;
    let (at, len) = range(section);
    bytes_at(file, at, len).map(Some).ok_or_else(|| {
        Refusal::Failed(format!(
            "damaged library: its {METADATA_SECTION} section lies outside the file"
        ))
    })
}

/// The metadata section of a library in another format (PE, Mach-O).
fn any_section(data: &ReadCache<File>) -> Result<&[u8], Refusal> {
    let object = object::File::parse(data).map_err(not_a_library)?;
    if let Some(arch) = expected_architecture() {
        if object.architecture() != arch {
            return Err(Refusal::Incompatible(format!(
                "built for {:?}, but this host runs on {:?}",
                object.architecture(),
                arch
            )));
        }
    }
    let section = object
        .section_by_name(METADATA_SECTION)
        .ok_or_else(no_section)?;
    section.data().map_err(damaged)
}

/// The ELF machine and class (64-bit or not) of this host's own libraries.
fn expected_elf_machine() -> Option<(elf::Machine, bool)> {
    match std::env::consts::ARCH {
        "x86_64" => Some((elf::EM_X86_64, true)),
        "aarch64" => Some((elf::EM_AARCH64, true)),
        "x86" => Some((elf::EM_386, false)),
        "arm" => Some((elf::EM_ARM, false)),
        "riscv64" => Some((elf::EM_RISCV, true)),
        _ => None,
    }
}

/// A person's name for an ELF machine and class.
fn elf_machine_name((machine, class_64): (elf::Machine, bool)) -> String {
    let name = match (machine, class_64) {
        (elf::EM_X86_64, true) => "X86_64",
        (elf::EM_X86_64, false) => "X86_64_X32",
        (elf::EM_AARCH64, true) => "Aarch64",
        (elf::EM_AARCH64, false) => "Aarch64_Ilp32",
        (elf::EM_386, _) => "I386",
        (elf::EM_ARM, _) => "Arm",
        (elf::EM_RISCV, true) => "Riscv64",
        (elf::EM_RISCV, false) => "Riscv32",
        (elf::EM_PPC64, _) => "PowerPc64",
        (elf::EM_MIPS, _) => "Mips",
        (other, true) => return format!("ELF machine {} (64-bit)", other.0),
        (other, false) => return format!("ELF machine {} (32-bit)", other.0),
    };
    name.to_owned()
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
