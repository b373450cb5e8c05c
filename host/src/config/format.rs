//! The file's format: reading and parsing `config.yaml`, the checks of the
//! parts Plinth reads (naming the line of a problem), and the file's
//! identity on disk (to notice writes by other processes).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{Invalid, Position, Problem};
use super::{key_path, BlockEntry, ConfigError};

/// Identity of the file on disk as last seen, to notice writes by other processes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    stamp_of(&fs::metadata(path).ok()?)
}

pub(super) fn stamp_of(meta: &fs::Metadata) -> Option<Stamp> {
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(meta),
    })
}

pub(super) fn string_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// `plugins._blocklist` as entries; the problem names the entry at fault.
pub(super) fn parse_blocklist(list: Option<&Value>) -> Result<Vec<BlockEntry>, Problem> {
    let items = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Problem::new(
                key_path(&["plugins", "_blocklist"]),
                "must be a list",
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |what: &str| {
                Problem::new(key_path(&["plugins", &format!("_blocklist[{i}]")]), what)
            };
            match item {
                Value::String(id) => Ok(BlockEntry {
                    id: id.clone(),
                    versions: None,
                }),
                Value::Object(map) => {
                    let id = map
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("needs an `id`"))?;
                    let versions = match map.get("version") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(range)) => {
                            Some(semver::VersionReq::parse(range).map_err(|e| {
                                bad(&format!("has an invalid version range {range:?}: {e}"))
                            })?)
                        }
                        Some(_) => return Err(bad("has a `version` that is not a string")),
                    };
                    Ok(BlockEntry {
                        id: id.to_owned(),
                        versions,
                    })
                }
                _ => Err(bad(
                    "must be an identifier or a mapping with `id` and `version`",
                )),
            }
        })
        .collect()
}

/// Reads and checks the file, with the stamp of the very file read; `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<(Value, Option<Stamp>)>, ConfigError> {
    let cannot = |error| ConfigError::Read {
        path: path.to_owned(),
        error,
    };
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    let stamp = file.metadata().ok().as_ref().and_then(stamp_of);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(cannot)?;
    let doc = parse(path, &text).map_err(|mut e| {
        let backup = sibling(path, ".bak");
        if let (ConfigError::Invalid { backup: slot, .. }, true) = (&mut e, backup.is_file()) {
            *slot = Some(backup);
        }
        e
    })?;
    Ok(Some((doc, stamp)))
}

/// Parses config text and checks the parts Plinth reads, naming the line of a problem.
pub fn parse(path: &Path, text: &str) -> Result<Value, ConfigError> {
    let doc: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        let yaml: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
            // A duplicate key is reported where its mapping starts; name the repeat's line.
            let duplicate = e
                .to_string()
                .split("duplicate entry with key \"")
                .nth(1)
                .and_then(|rest| {
                    let key = rest.split('"').next()?;
                    let mut lines = text.lines().enumerate().filter(|(_, l)| {
                        let t = l.trim_start().trim_start_matches(['"', '\'']);
                        t.strip_prefix(key)
                            .is_some_and(|r| r.trim_start_matches(['"', '\'']).starts_with(':'))
                    });
                    lines.nth(1).map(|(n, _)| Position {
                        line: n + 1,
                        column: None,
                    })
                });
            let position = duplicate.or_else(|| {
                e.location().map(|l| Position {
                    line: l.line(),
                    column: Some(l.column()),
                })
            });
            let tabs = e
                .location()
                .and_then(|l| text.lines().nth(l.line().saturating_sub(1)))
                .is_some_and(|line| {
                    line.chars()
                        .take_while(|c| c.is_whitespace())
                        .any(|c| c == '\t')
                });
            // The message repeats the position; it is said once, up front.
            let mut message = e.to_string();
            if let Some(l) = e.location() {
                message =
                    message.replace(&format!(" at line {} column {}", l.line(), l.column()), "");
            }
            invalid(path, position, Invalid::Yaml { message, tabs })
        })?;
        to_json(&yaml, &mut Vec::new()).map_err(|problem| {
            let position = line_of(text, &problem.keys).map(|line| Position { line, column: None });
            invalid(path, position, Invalid::Value(problem))
        })?
    };
    let doc = if doc.is_null() {
        Value::Object(Map::new())
    } else {
        doc
    };
    check_doc(&doc).map_err(|problem| {
        let position = line_of(text, &problem.keys)
            .or(problem.keys.is_empty().then_some(1))
            .map(|line| Position { line, column: None });
        invalid(path, position, Invalid::Value(problem))
    })?;
    Ok(doc)
}

fn invalid(path: &Path, position: Option<Position>, what: Invalid) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        position,
        what,
        backup: None,
    }
}

/// Checks a whole config document the way loading it would; the problem, if any.
pub fn check(doc: &Value) -> Result<(), Problem> {
    check_doc(doc)
}

/// Checks the types of the parts Plinth reads; on error, the keys and what is wrong.
pub(super) fn check_doc(doc: &Value) -> Result<(), Problem> {
    let fail = |keys: &[&str], what: &str| Err(Problem::new(key_path(keys), what));
    let Value::Object(root) = doc else {
        return fail(&[], "must be a mapping of keys to values");
    };
    match root.get("plugins") {
        None | Some(Value::Null) => {}
        Some(Value::Object(plugins)) => {
            for (key, value) in plugins {
                match key.as_str() {
                    "_disabled" => {
                        if string_list(value).is_none() {
                            return fail(&["plugins", key], "must be a list of plugin identifiers");
                        }
                    }
                    "_blocklist" => {
                        parse_blocklist(Some(value))?;
                    }
                    "_sortingOrder" => {
                        if serde_json::from_value::<BTreeMap<String, BTreeMap<String, i64>>>(
                            value.clone(),
                        )
                        .is_err()
                        {
                            return fail(
                                &["plugins", key],
                                "must map plugin identifiers to {context: integer}",
                            );
                        }
                    }
                    _ if key.starts_with('_') => {}
                    _ if value.is_object() || value.is_null() => {}
                    _ => {
                        return fail(
                            &["plugins", key],
                            "must be a mapping of the plugin's settings",
                        )
                    }
                }
            }
        }
        Some(_) => return fail(&["plugins"], "must be a mapping"),
    }
    Ok(())
}

/// The YAML as JSON values, refusing what would not survive a save: keys that
/// are not strings, and numbers that are not finite (`.inf`, `.nan`).
/// (Duplicate keys are refused by the YAML parser itself.)
pub(super) fn to_json(yaml: &yaml_serde::Value, at: &mut Vec<String>) -> Result<Value, Problem> {
    use yaml_serde::Value as Y;
    Ok(match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| {
                        Problem::new(
                            at.clone(),
                            format!("is {f}, which cannot be kept; use a finite number"),
                        )
                    })?
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    at.push(i.to_string());
                    let out = to_json(v, at);
                    at.pop();
                    out
                })
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    _ => return Err(Problem::new(at.clone(), "has a key that is not text")),
                };
                at.push(key.clone());
                let value = to_json(v, at)?;
                at.pop();
                out.insert(key, value);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => to_json(&tagged.value, at)?,
    })
}

/// The line (1-based) where the key path is written, found by indentation.
fn line_of(text: &str, keys: &[impl AsRef<str>]) -> Option<usize> {
    let mut depth_indent: Vec<usize> = Vec::new();
    let mut matched = 0;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        while depth_indent.last().is_some_and(|&i| indent <= i) {
            depth_indent.pop();
            matched = matched.min(depth_indent.len());
        }
        let key = keys
            .get(matched)?
            .as_ref()
            .split('[')
            .next()
            .unwrap_or_default();
        let bare = trimmed.trim_start_matches(['"', '\'']);
        if bare.starts_with(key)
            && bare[key.len()..]
                .trim_start_matches(['"', '\''])
                .starts_with(':')
        {
            matched += 1;
            depth_indent.push(indent);
            if matched == keys.len() {
                return Some(n + 1);
            }
        }
    }
    None
}

pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_finds_nested_keys() {
        let text =
            "server:\n  port: 1\nplugins:\n  # comment\n  foo:\n    bar: 1\n  helloworld: 5\n";
        assert_eq!(line_of(text, &["plugins", "helloworld"]), Some(7));
        assert_eq!(line_of(text, &["plugins", "foo", "bar"]), Some(6));
        assert_eq!(line_of(text, &["plugins", "nope"]), None);
    }
}
