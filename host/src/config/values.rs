//! Operations on settings trees (JSON values): paths, merging, and the
//! minimal difference to defaults that is all Plinth stores.

use serde_json::{Map, Value};

/// The value at `path`, if every step exists (objects by key, arrays by index).
pub fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| match node {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

/// The part of `path` where something other than a mapping (a list, a
/// number, …) is in the way of going deeper, if any.
pub fn blocked(value: &Value, path: &[String]) -> Option<Vec<String>> {
    let mut node = value;
    for (i, key) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
        match node {
            Value::Object(map) => match map.get(key) {
                Some(next) => node = next,
                None => return None,
            },
            Value::Null => return None,
            _ => return Some(path[..i].to_vec()),
        }
    }
    match node {
        Value::Object(_) | Value::Null => None,
        _ if path.len() <= 1 => None,
        _ => Some(path[..path.len() - 1].to_vec()),
    }
}

/// Sets `path` to `new`, creating objects on the way (and replacing non-objects in the way).
pub fn set(value: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut node = value;
    for key in parents {
        node = object(node)
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    object(node).insert(last.clone(), new);
}

fn object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// Removes `path`, then every object on the way that became empty. Returns whether anything was removed.
pub fn remove(value: &mut Value, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let Value::Object(map) = value else {
        return false;
    };
    if rest.is_empty() {
        return map.shift_remove(first).is_some();
    }
    let Some(child) = map.get_mut(first) else {
        return false;
    };
    let removed = remove(child, rest);
    if removed && child.as_object().is_some_and(Map::is_empty) {
        map.shift_remove(first);
    }
    removed
}

/// `overlay` merged onto `base`: objects merge key by key, recursively; anything
/// else (lists included) in `overlay` replaces what `base` has.
pub fn merge(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (key, value) in o {
                let merged = match out.get(key) {
                    Some(existing) => merge(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (_, overlay) => overlay.clone(),
    }
}

/// What of `data` differs from `defaults` (OctoPrint's `dict_minimal_mergediff`):
/// keys whose value equals the default are left out, objects are compared key by
/// key, lists and other values as a whole. `None` when nothing differs.
pub fn minimal_diff(defaults: &Value, data: &Value) -> Option<Value> {
    match (defaults, data) {
        (Value::Object(d), Value::Object(v)) => {
            let mut out = Map::new();
            for (key, value) in v {
                let diff = match d.get(key) {
                    Some(default) => minimal_diff(default, value),
                    None => Some(value.clone()),
                };
                if let Some(diff) = diff {
                    out.insert(key.clone(), diff);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (d, v) if same(d, v) => None,
        (_, v) => Some(v.clone()),
    }
}

/// Whether two values are the same setting, as Python compares them: equal
/// JSON, or numbers of equal value (`1` and `1.0`). Integers compare
/// exactly (no rounding through floating point above 2^53).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.as_f64() == y.as_f64()
        }
        _ => a == b,
    }
}

/// Splits a dotted path (`plugins.helloworld.sub.some_flag`) into keys.
pub fn dotted(path: &str) -> Result<Vec<String>, BadPath> {
    let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.is_empty() || keys.iter().any(String::is_empty) {
        return Err(BadPath(path.to_owned()));
    }
    Ok(keys)
}

/// A settings path that is not keys separated by single dots.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid settings path {0:?}: use keys separated by single dots")]
pub struct BadPath(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        dotted(s).unwrap()
    }

    #[test]
    fn paths_get_set_remove() {
        let mut v = json!({"a": {"b": 1, "list": [10, 20]}});
        assert_eq!(get(&v, &p("a.b")), Some(&json!(1)));
        assert_eq!(get(&v, &p("a.list.1")), Some(&json!(20)));
        assert_eq!(get(&v, &p("a.zz")), None);
        set(&mut v, &p("x.y.z"), json!(true));
        assert_eq!(v["x"]["y"]["z"], true);
        set(&mut v, &p("a.b.c"), json!(2));
        assert_eq!(v["a"]["b"], json!({"c": 2}));
        assert!(remove(&mut v, &p("x.y.z")));
        assert!(v.get("x").is_none(), "empty parents are pruned: {v}");
        assert!(!remove(&mut v, &p("nope.deeper")));
        assert!(dotted("a..b").is_err() && dotted("").is_err());
    }

    #[test]
    fn merge_recurses_into_objects_and_replaces_lists() {
        let base = json!({"a": {"x": 1, "y": 2}, "l": [1, 2, 3], "s": "s"});
        let over = json!({"a": {"y": 20, "z": 30}, "l": [9]});
        assert_eq!(
            merge(&base, &over),
            json!({"a": {"x": 1, "y": 20, "z": 30}, "l": [9], "s": "s"})
        );
    }

    #[test]
    fn minimal_diff_keeps_only_what_differs() {
        let defaults = json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}, "l": [1, 2]});
        assert_eq!(minimal_diff(&defaults, &defaults), None);
        let data = json!({"some_setting": "foo", "some_value": 42, "sub": {"some_flag": true}, "l": [1, 2], "new": 1});
        assert_eq!(
            minimal_diff(&defaults, &data),
            Some(json!({"some_value": 42, "new": 1}))
        );
        let data = json!({"sub": {"some_flag": false}, "l": [1]});
        assert_eq!(
            minimal_diff(&defaults, &data),
            Some(json!({"sub": {"some_flag": false}, "l": [1]}))
        );
        // A float equal to an integer default is the default (Python's 1 == 1.0).
        assert_eq!(minimal_diff(&defaults, &json!({"some_value": 23.0})), None);
        // Integers compare exactly, also past what a float holds.
        let big = json!({"n": 9007199254740993_i64});
        assert_eq!(
            minimal_diff(&big, &json!({"n": 9007199254740992_i64})),
            Some(json!({"n": 9007199254740992_i64}))
        );
        assert_eq!(
            minimal_diff(&defaults, &json!({"some_value": 23.5})),
            Some(json!({"some_value": 23.5}))
        );
    }
}
