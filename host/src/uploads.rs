//! The uploads folder (`<basedir>/uploads`): file names, the extension tree
//! of accepted types, and the analysis kept beside each G-code file
//! (`.metadata/<name>.json`, written by slicing).

use std::path::{Path, PathBuf};

use plinth_sdk::methods::plugin as m;
use plinth_sdk::{json, Value};

use crate::manager::PluginManager;
use crate::registry::State;

/// The uploads folder of a host.
pub fn folder(manager: &PluginManager) -> PathBuf {
    manager.paths().basedir.join("uploads")
}

/// OctoPrint-like sanitising of a file name: letters, digits, `.`, `_`, `-`;
/// spaces become `_`; no folders, no leading dot. `None` when nothing is left.
pub fn sanitize(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('_'),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => Some(c),
            _ => None,
        })
        .collect();
    let clean = clean.trim_start_matches('.').to_owned();
    (!clean.is_empty()).then_some(clean)
}

/// A name that is already clean (`None` for anything `sanitize` would change).
pub fn clean_name(name: &str) -> Option<&str> {
    sanitize(name).filter(|c| c == name).map(|_| name)
}

/// The extension tree: `{type: {subtype: [extensions]}}`, G-code plus what
/// every enabled slicer plugin adds through `get_slicer_extension_tree`.
pub fn extension_tree(manager: &PluginManager) -> Value {
    let mut tree = json!({"machinecode": {"gcode": ["gcode", "gco", "g"]}});
    for p in manager.plugins() {
        if p.state == State::Enabled && p.mixins.iter().any(|x| x == "Slicer") {
            if let Ok(more) = manager.call::<m::GetSlicerExtensionTree>(&p.id, &()) {
                tree = crate::values::merge(&tree, &more);
            }
        }
    }
    tree
}

/// The type path (`["machinecode", "gcode"]`) of a file name, if the tree accepts it.
pub fn type_of(tree: &Value, name: &str) -> Option<Vec<String>> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    for (kind, subtypes) in tree.as_object()? {
        for (sub, exts) in subtypes.as_object()? {
            if exts
                .as_array()?
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.eq_ignore_ascii_case(&ext)))
            {
                return Some(vec![kind.clone(), sub.clone()]);
            }
        }
    }
    None
}

/// Whether a file name is machine code the printer can print.
pub fn is_machinecode(name: &str) -> bool {
    type_of(
        &json!({"machinecode": {"gcode": ["gcode", "gco", "g"]}}),
        name,
    )
    .is_some()
}

fn analysis_path(folder: &Path, name: &str) -> PathBuf {
    folder.join(".metadata").join(format!("{name}.json"))
}

/// The analysis stored for `name`, if any.
pub fn analysis(folder: &Path, name: &str) -> Option<Value> {
    let text = std::fs::read(analysis_path(folder, name)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Stores the analysis of `name` (atomically).
pub fn store_analysis(folder: &Path, name: &str, analysis: &Value) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(analysis).expect("JSON values always encode");
    crate::config::write_atomic(&analysis_path(folder, name), &bytes)
}

/// Removes the analysis of `name`, if any.
pub fn forget_analysis(folder: &Path, name: &str) {
    let _ = std::fs::remove_file(analysis_path(folder, name));
}

/// Checks that an STL file is well formed: binary (84 + 50 bytes per
/// triangle, at least one) or ASCII (`solid` … `facet` … `endsolid`).
/// The error says what is wrong.
pub fn check_stl(bytes: &[u8]) -> Result<(), String> {
    let mut binary_problem = format!("{} bytes is too short for a binary STL", bytes.len());
    if bytes.len() >= 84 {
        let count = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as u64;
        if bytes.len() as u64 == 84 + 50 * count {
            return if count == 0 {
                Err("the binary STL has no triangles".into())
            } else {
                Ok(())
            };
        }
        binary_problem = format!(
            "as a binary STL of {count} triangles it should have {} bytes, not {}",
            84 + 50 * count,
            bytes.len()
        );
    }
    // Names and comments may be in any 8-bit encoding; the keywords are ASCII.
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\0') {
        return Err(format!(
            "{binary_problem}, and it is no ASCII STL (it holds binary data)"
        ));
    }
    let mut words = text.split_ascii_whitespace();
    if words.next() != Some("solid") {
        return Err(format!(
            "{binary_problem}, and it is no ASCII STL (those begin with `solid`)"
        ));
    }
    let (mut facets, mut vertices, mut ended) = (0usize, 0usize, false);
    while let Some(word) = words.next() {
        match word {
            "facet" => facets += 1,
            "vertex" => {
                vertices += 1;
                for axis in ["x", "y", "z"] {
                    let value = words.next().unwrap_or("");
                    match value.parse::<f32>() {
                        Ok(v) if v.is_finite() => {}
                        _ => {
                            return Err(format!(
                                "vertex {vertices} has a bad {axis} coordinate {value:?}"
                            ))
                        }
                    }
                }
            }
            "endsolid" => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    if !ended {
        return Err("the ASCII STL does not end with `endsolid`".into());
    }
    if facets == 0 {
        return Err("the ASCII STL has no facets".into());
    }
    if vertices != facets * 3 {
        return Err(format!(
            "the ASCII STL has {facets} facets but {vertices} vertices (3 per facet)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert_eq!(
            sanitize("my part (v2).gcode").as_deref(),
            Some("my_part_v2.gcode")
        );
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            sanitize("C:\\x\\..\\.hidden.stl").as_deref(),
            Some("hidden.stl")
        );
        assert_eq!(sanitize("ääö"), None);
        assert_eq!(clean_name("a.gcode"), Some("a.gcode"));
        assert_eq!(clean_name("../a.gcode"), None);
        let tree = json!({"machinecode": {"gcode": ["gcode", "g"]}, "model": {"stl": ["stl"]}});
        assert_eq!(type_of(&tree, "a.GCODE").unwrap(), ["machinecode", "gcode"]);
        assert_eq!(type_of(&tree, "a.stl").unwrap(), ["model", "stl"]);
        assert_eq!(type_of(&tree, "a.exe"), None);
        assert!(is_machinecode("x.gco") && !is_machinecode("x.stl"));
    }

    fn binary(triangles: u32, extra: usize) -> Vec<u8> {
        let mut b = vec![0u8; 80];
        b.extend(triangles.to_le_bytes());
        b.extend(vec![0u8; 50 * triangles as usize + extra]);
        b
    }

    #[test]
    fn stl_files_are_checked() {
        assert_eq!(check_stl(&binary(2, 0)), Ok(()));
        assert!(check_stl(&binary(0, 0))
            .unwrap_err()
            .contains("no triangles"));
        assert!(check_stl(&binary(2, 7))
            .unwrap_err()
            .contains("should have 184 bytes, not 191"));
        let facet =
            "facet normal 0 0 1 outer loop vertex 0 0 0 vertex 1 0 0 vertex 0 1 0 endloop endfacet";
        assert_eq!(
            check_stl(format!("solid x {facet} endsolid x").as_bytes()),
            Ok(())
        );
        assert!(check_stl(b"solid x endsolid")
            .unwrap_err()
            .contains("no facets"));
        assert!(check_stl(format!("solid x {facet}").as_bytes())
            .unwrap_err()
            .contains("endsolid"));
        let bad = facet.replace("vertex 1 0 0", "vertex 1 zero 0");
        assert!(check_stl(format!("solid x {bad} endsolid").as_bytes())
            .unwrap_err()
            .contains("vertex 2 has a bad y coordinate \"zero\""));
        let nan = facet.replace("vertex 1 0 0", "vertex 1 NaN 0");
        assert!(check_stl(format!("solid x {nan} endsolid").as_bytes()).is_err());
        let short = facet.replace("vertex 0 1 0 ", "");
        assert!(check_stl(format!("solid x {short} endsolid").as_bytes())
            .unwrap_err()
            .contains("1 facets but 2 vertices"));
        assert!(check_stl(b"hello").unwrap_err().contains("too short"));
    }
}
