//! Restricted settings paths: what of a plugin's settings a viewer of the
//! REST API may see (the seed's `get_settings_restricted_paths`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Who asks: anonymous, a user with some permissions, or an administrator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Viewer {
    /// Logged in (any user).
    pub logged_in: bool,
    /// Named permissions the viewer has (`settings`, `webcam`, …).
    pub permissions: BTreeSet<String>,
    /// An administrator has every permission.
    pub admin: bool,
}

impl Viewer {
    /// An anonymous viewer.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A logged-in user with `permissions`.
    pub fn user(permissions: &[&str]) -> Self {
        Self {
            logged_in: true,
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            admin: false,
        }
    }

    /// An administrator.
    pub fn admin() -> Self {
        Self {
            logged_in: true,
            permissions: BTreeSet::new(),
            admin: true,
        }
    }

    fn has(&self, permission: &str) -> bool {
        self.admin || self.permissions.contains(permission)
    }

    /// Whether the viewer may see paths restricted at `level`.
    pub fn may_see(&self, level: &str) -> bool {
        match level {
            "never" => false,
            "user" => self.logged_in,
            "admin" => self.has("settings"),
            permission => self.has(permission),
        }
    }
}

/// `data` with every path the viewer may not see replaced: by the path's given
/// default, else `{}` for a mapping, `[]` for a list and null otherwise.
///
/// `restricted` maps a level (`admin`, `user`, `never` or a permission name)
/// to a list of paths. A path is a list of keys; its last element may be a
/// `[key, default]` pair, or the whole path may be `{"path": [...], "default": …}`.
/// Paths that do not exist in `data` are left alone.
pub fn filter(data: &Value, restricted: &Value, viewer: &Viewer) -> Value {
    let mut out = data.clone();
    let Some(levels) = restricted.as_object() else {
        return out;
    };
    for (level, paths) in levels {
        if viewer.may_see(level) {
            continue;
        }
        for path in paths.as_array().into_iter().flatten() {
            if let Some((keys, default)) = parse_path(path) {
                hide(&mut out, &keys, default);
            }
        }
    }
    out
}

fn parse_path(path: &Value) -> Option<(Vec<String>, Option<Value>)> {
    let (keys, default) = match path {
        Value::Object(map) => (
            map.get("path")?.as_array()?.clone(),
            map.get("default").cloned(),
        ),
        Value::Array(items) => match items.split_last()? {
            (Value::Array(pair), parents) if pair.len() == 2 => {
                let mut keys = parents.to_vec();
                keys.push(pair[0].clone());
                (keys, Some(pair[1].clone()))
            }
            _ => (items.clone(), None),
        },
        _ => return None,
    };
    let keys = keys
        .iter()
        .map(|k| k.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    (!keys.is_empty()).then_some((keys, default))
}

fn hide(data: &mut Value, keys: &[String], default: Option<Value>) {
    let (last, parents) = keys.split_last().expect("checked non-empty");
    let mut node = data;
    for key in parents {
        match node.get_mut(key) {
            Some(next) => node = next,
            None => return,
        }
    }
    let Some(map) = node.as_object_mut() else {
        return;
    };
    let Some(value) = map.get_mut(last) else {
        return;
    };
    *value = default.unwrap_or_else(|| match value {
        Value::Object(_) => Value::Object(Map::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::Null,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_lists_and_given_defaults() {
        let data = json!({"a": {"m": {"x": 1}, "l": [1], "s": "secret", "d": "x"}});
        let restricted = json!({"never": [["a", "m"], ["a", "l"], ["a", "s"], ["a", ["d", "hidden"]], {"path": ["a", "nope"], "default": 1}]});
        let out = filter(&data, &restricted, &Viewer::admin());
        assert_eq!(
            out,
            json!({"a": {"m": {}, "l": [], "s": null, "d": "hidden"}})
        );
    }
}
