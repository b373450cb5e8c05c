//! File names in the uploads folder and the types they stand for: the
//! extension tree of accepted types.

use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};

use crate::plugins::manager::PluginManager;
use crate::plugins::state::State;
use plinth_abi::Mixin;

/// The longest file name kept, in bytes: longer names are shortened (the
/// extension kept), so that every name and what Plinth keeps beside it
/// (`.metadata/<name>.json`, `.slicing-<job>-<name>`) fits the file
/// system's 255 bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// OctoPrint-like sanitising of a file name: letters, digits, `.`, `_`, `-`;
/// spaces become `_`; no folders, no leading dot; at most [`MAX_NAME_BYTES`]
/// (a longer name loses the end of its stem, not its extension). `None` when
/// nothing is left.
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
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        return None;
    }
    Some(shorten(clean))
}

/// `name` cut to [`MAX_NAME_BYTES`] (ASCII), keeping a short extension.
fn shorten(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    format!("{}{ext}", &stem[..MAX_NAME_BYTES - ext.len()])
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
        if p.state == State::Enabled && p.has(Mixin::Slicer) {
            if let Ok(more) = manager.call::<m::GetSlicerExtensionTree>(&p.id, &()) {
                tree = crate::config::values::merge(&tree, &more);
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

    #[test]
    fn long_names_are_shortened_keeping_the_extension() {
        let long = format!("{}.gcode", "a".repeat(300));
        let short = sanitize(&long).unwrap();
        assert_eq!(short.len(), MAX_NAME_BYTES);
        assert!(short.ends_with("aaa.gcode"), "{short}");
        assert_eq!(clean_name(&short), Some(short.as_str()));
        assert_eq!(clean_name(&long), None, "a name too long is never clean");
        let no_ext = "b".repeat(250);
        assert_eq!(sanitize(&no_ext).unwrap().len(), MAX_NAME_BYTES);
        let odd_ext = format!("c.{}", "d".repeat(240));
        assert_eq!(sanitize(&odd_ext).unwrap().len(), MAX_NAME_BYTES);
    }
}
