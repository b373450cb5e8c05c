//! File names in the uploads folder and the types they stand for: the
//! extension tree of accepted types.

use plinth_abi::hooks::FILEMANAGER_EXTENSION_TREE;
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
/// every enabled slicer plugin adds through `get_slicer_extension_tree` and
/// every handler of `octoprint.filemanager.extension_tree` answers (an
/// answer that is not such a tree is logged and left out).
pub fn extension_tree(manager: &PluginManager) -> Value {
    let mut tree = json!({"machinecode": {"gcode": ["gcode", "gco", "g"]}});
    let mut add = |plugin: &str, more: Value| {
        if is_tree(&more) {
            tree = merge_tree(&tree, &more);
        } else {
            tracing::warn!(plugin, "ignoring an extension tree that is not {{type: {{subtype: [extensions]}}}}: {more}");
        }
    };
    for p in manager.plugins() {
        if p.state == State::Enabled && p.has(Mixin::Slicer) {
            if let Ok(more) = manager.call::<m::GetSlicerExtensionTree>(&p.id, &()) {
                add(&p.id, more);
            }
        }
    }
    for reply in manager.call_hook(FILEMANAGER_EXTENSION_TREE, &json!({})) {
        if let Ok(more) = reply.result {
            add(&reply.plugin, more);
        }
    }
    tree
}

/// Whether `tree` is `{type: {subtype: [extension strings]}}`.
fn is_tree(tree: &Value) -> bool {
    tree.as_object().is_some_and(|types| {
        types.values().all(|subs| {
            subs.as_object().is_some_and(|subs| {
                subs.values().all(|exts| {
                    exts.as_array().is_some_and(|e| {
                        e.iter().all(|x| x.as_str().is_some_and(|x| !x.is_empty()))
                    })
                })
            })
        })
    })
}

/// `more` merged into `tree`: extension lists of one subtype are joined
/// (as OctoPrint's leaf merger), not replaced.
fn merge_tree(tree: &Value, more: &Value) -> Value {
    let mut out = tree.clone();
    for (kind, subs) in more.as_object().into_iter().flatten() {
        if !out[kind.as_str()].is_object() {
            out[kind.as_str()] = json!({});
        }
        for (sub, exts) in subs.as_object().into_iter().flatten() {
            let list = &mut out[kind.as_str()][sub.as_str()];
            if !list.is_array() {
                *list = json!([]);
            }
            let list = list.as_array_mut().expect("made an array above");
            for ext in exts.as_array().into_iter().flatten() {
                if !list.contains(ext) {
                    list.push(ext.clone());
                }
            }
        }
    }
    out
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

/// A clean path in the uploads folder: clean names (see [`clean_name`])
/// joined by `/`, leading and trailing `/` ignored (`a/b.gcode`). `None` for
/// the folder itself, an empty component, `..`, or any name `sanitize` would
/// change.
pub fn clean_path(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    if path.is_empty() {
        return None;
    }
    path.split('/')
        .all(|part| clean_name(part).is_some())
        .then(|| path.to_owned())
}

/// A clean folder path: as [`clean_path`], and `""` (or `/`) for the
/// uploads folder itself.
pub fn clean_folder(path: &str) -> Option<String> {
    match path.trim_matches('/') {
        "" => Some(String::new()),
        path => clean_path(path),
    }
}

/// The folder and the name of a clean path: `("a/b", "c.gcode")`, `("", "c.gcode")`.
pub fn split_path(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// Whether `path` is `within` or inside it (`within` a file or a folder).
pub fn is_within(path: &str, within: &str) -> bool {
    path.strip_prefix(within)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `folder` and `name` joined (`folder` may be `""`).
pub fn join_path(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
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
    fn trees_merge_leaf_lists_and_refuse_other_shapes() {
        let base = json!({"machinecode": {"gcode": ["gcode", "g"]}});
        let more = json!({"machinecode": {"gcode": ["gc", "g"]}, "model": {"amf": ["amf"]}});
        assert!(is_tree(&more));
        assert_eq!(
            merge_tree(&base, &more),
            json!({"machinecode": {"gcode": ["gcode", "g", "gc"]}, "model": {"amf": ["amf"]}})
        );
        for bad in [
            json!([]),
            json!({"a": []}),
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": [1]}}),
        ] {
            assert!(!is_tree(&bad), "{bad}");
        }
    }

    #[test]
    fn paths_are_clean_names_joined() {
        assert_eq!(clean_path("a/b.gcode").as_deref(), Some("a/b.gcode"));
        assert_eq!(clean_path("/a/b.gcode/").as_deref(), Some("a/b.gcode"));
        for bad in [
            "",
            "/",
            "a//b",
            "a/../b",
            "../a",
            "a/.hidden",
            "a b/c",
            "a\\b",
        ] {
            assert_eq!(clean_path(bad), None, "{bad:?}");
        }
        assert_eq!(clean_folder("/").as_deref(), Some(""));
        assert_eq!(clean_folder("x/y").as_deref(), Some("x/y"));
        assert_eq!(clean_folder("x/.."), None);
        assert_eq!(split_path("a/b/c.g"), ("a/b", "c.g"));
        assert_eq!(split_path("c.g"), ("", "c.g"));
        assert_eq!(join_path("", "c.g"), "c.g");
        assert_eq!(join_path("a", "c.g"), "a/c.g");
        assert!(is_within("a/b.g", "a") && is_within("a", "a"));
        assert!(!is_within("ab/c.g", "a") && !is_within("a", "a/b"));
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
