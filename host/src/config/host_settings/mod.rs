//! The host's own keys in `config.yaml`, each declared once with its type,
//! range, default and meaning; everything else derives from [`KEYS`].
//!
//! - Every write goes through [`check_change`]: the config store calls it for
//!   each change, so `POST /api/settings`, `plinth config set` and plugins
//!   (through their handle) all get an error naming the key and the accepted
//!   range, and nothing is written.
//! - A bad value written by hand is reported by [`problems`] (`plinth config
//!   check` and `plinth serve` at start-up); reading such a key gives its
//!   default, so one bad value never stops the host.
//! - `null` (a key written with no value) means the default.
//! - Keys are read where they are used, through their typed getters, not
//!   copied into a struct at start-up: a change through `POST /api/settings`
//!   or `plinth config set` applies without a restart where OctoPrint's does
//!   (the upload limit, debug); the server's connection limits and time
//!   budgets, the event queue limit and the virtual printer's rate are read
//!   once, when the host starts.

use std::time::Duration;

use serde_json::Value;

use crate::config::ConfigStore;

mod keys;
pub use keys::*;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A number (decimals allowed) from `min` to `max`, in `unit`.
    Number {
        min: f64,
        max: f64,
        unit: &'static str,
    },
    /// A whole number from `min` to `max`, in `unit`.
    Count {
        min: u64,
        max: u64,
        unit: &'static str,
    },
    /// `true` or `false`.
    Flag,
    /// A mapping of plugin identifiers to wizard versions (whole numbers or `null`).
    WizardVersions,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A mapping of plugin identifiers to one of these words.
    ChoicePerPlugin(&'static [&'static str]),
    /// A mapping of plugin identifiers to whole numbers from `min` to `max`, in `unit`.
    CountPerPlugin {
        min: u64,
        max: u64,
        unit: &'static str,
    },
    /// A mapping of plugin identifiers to text.
    TextPerPlugin,
    /// Text (a host name, a word) on one line.
    Text,
}

/// One host key.
#[derive(Debug)]
pub struct Key {
    /// Where it lives, e.g. `["server", "plugin_call_timeout"]`.
    pub path: &'static [&'static str],
    /// What it holds.
    pub kind: Kind,
    /// The value used when the key is absent (or bad), as written in YAML.
    pub default: &'static str,
    /// What it does, for `--help` and the README.
    pub about: &'static str,
}

/// A key holding a number.
#[derive(Debug)]
pub struct NumberKey(pub Key);
/// A key holding a whole number.
#[derive(Debug)]
pub struct CountKey(pub Key);
/// A key holding `true` or `false`.
#[derive(Debug)]
pub struct FlagKey(pub Key);

impl Key {
    /// The dotted name, e.g. `server.plugin_call_timeout`.
    pub fn name(&self) -> String {
        self.path.join(".")
    }

    /// What the key accepts, in words.
    pub fn accepted(&self) -> String {
        match self.kind {
            Kind::Number { min, max, unit } => format!("a number of {unit} from {min} to {max}"),
            Kind::Count { min, max, unit } => {
                format!("a whole number of {unit} from {min} to {max}")
            }
            Kind::Flag => "true or false".to_owned(),
            Kind::WizardVersions => {
                "a mapping of plugin identifiers to whole numbers or null".to_owned()
            }
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::ChoicePerPlugin(words) => format!(
                "a mapping of plugin identifiers to one of {}",
                words.join(", ")
            ),
            Kind::CountPerPlugin { min, max, unit } => format!(
                "a mapping of plugin identifiers to whole numbers of {unit} from {min} to {max}"
            ),
            Kind::TextPerPlugin => "a mapping of plugin identifiers to text".to_owned(),
            Kind::Text => "text on one line".to_owned(),
        }
    }

    /// Checks a value for this key; the error names the key, what it accepts
    /// and what it got.
    pub fn check(&self, value: &Value) -> Result<(), KeyError> {
        let fits = match (self.kind, value) {
            (_, Value::Null) => true,
            (Kind::Number { min, max, .. }, Value::Number(n)) => {
                n.as_f64().is_some_and(|v| v >= min && v <= max)
            }
            (Kind::Count { min, max, .. }, Value::Number(n)) => {
                n.as_u64().is_some_and(|v| v >= min && v <= max)
            }
            (Kind::Flag, Value::Bool(_)) => true,
            (Kind::WizardVersions, Value::Object(map)) => {
                map.values().all(|v| v.is_null() || v.as_i64().is_some())
            }
            (Kind::Choice(words), Value::String(w)) => words.contains(&w.as_str()),
            (Kind::ChoicePerPlugin(words), Value::Object(map)) => map
                .values()
                .all(|v| v.as_str().is_some_and(|w| words.contains(&w))),
            (Kind::CountPerPlugin { min, max, .. }, Value::Object(map)) => map
                .values()
                .all(|v| v.as_u64().is_some_and(|n| n >= min && n <= max)),
            (Kind::TextPerPlugin, Value::Object(map)) => map.values().all(Value::is_string),
            (Kind::Text, Value::String(t)) => !t.contains(['\n', '\r']),
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(KeyError::Refused {
                key: self.name(),
                accepted: self.accepted(),
                got: value.clone(),
            })
        }
    }

    fn path(&self) -> Vec<String> {
        crate::config::key_path(self.path)
    }

    /// The value in effect: the config's (with plugin overlays), else `None`
    /// for the default. A bad value counts as absent.
    fn effective(&self, config: &ConfigStore) -> Option<Value> {
        config
            .effective(&self.path())
            .filter(|v| !v.is_null() && self.check(v).is_ok())
    }

    pub(crate) fn default_value(&self) -> Value {
        // Each default is parsed once: settings fall back to their defaults
        // on hot paths (a request reads several).
        static PARSED: std::sync::LazyLock<std::collections::HashMap<&'static str, Value>> =
            std::sync::LazyLock::new(|| {
                KEYS.iter().map(|k| (k.default, parse(k.default))).collect()
            });
        fn parse(default: &str) -> Value {
            yaml_serde::from_str(default).expect("defaults are valid YAML")
        }
        PARSED
            .get(self.default)
            .cloned()
            .unwrap_or_else(|| parse(self.default))
    }
}

impl NumberKey {
    /// The value in effect (the default when absent or bad).
    pub fn get(&self, config: &ConfigStore) -> f64 {
        self.0
            .effective(config)
            .unwrap_or_else(|| self.0.default_value())
            .as_f64()
            .expect("checked to be a number")
    }

    /// The value in effect as a duration (for keys in seconds).
    pub fn duration(&self, config: &ConfigStore) -> Duration {
        Duration::from_secs_f64(self.get(config))
    }
}

impl CountKey {
    /// The value in effect (the default when absent or bad).
    pub fn get(&self, config: &ConfigStore) -> u64 {
        self.0
            .effective(config)
            .unwrap_or_else(|| self.0.default_value())
            .as_u64()
            .expect("checked to be a whole number")
    }
}

/// A key holding text.
#[derive(Debug)]
pub struct TextKey(pub Key);

impl TextKey {
    /// The value in effect (the default when absent or bad).
    pub fn get(&self, config: &ConfigStore) -> String {
        self.0
            .effective(config)
            .unwrap_or_else(|| self.0.default_value())
            .as_str()
            .expect("checked to be text")
            .to_owned()
    }
}

/// A key holding one of a few words.
#[derive(Debug)]
pub struct ChoiceKey(pub Key);

impl ChoiceKey {
    /// The value in effect (the default when absent or bad).
    pub fn get(&self, config: &ConfigStore) -> String {
        self.0
            .effective(config)
            .unwrap_or_else(|| self.0.default_value())
            .as_str()
            .expect("checked to be a word")
            .to_owned()
    }
}

impl Key {
    /// The entry for plugin `id` of a per-plugin key, when it holds a good one.
    pub fn for_plugin(&self, config: &ConfigStore, id: &str) -> Option<Value> {
        let map = self.effective(config)?;
        map.get(id).filter(|v| !v.is_null()).cloned()
    }
}

impl FlagKey {
    /// The value in effect (the default when absent or bad).
    pub fn get(&self, config: &ConfigStore) -> bool {
        self.0
            .effective(config)
            .unwrap_or_else(|| self.0.default_value())
            .as_bool()
            .expect("checked to be a flag")
    }
}

/// A host key holding what it does not accept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KeyError {
    /// The key (dotted) holds a value of the wrong kind or out of its range;
    /// `accepted` says what it takes, in words.
    #[error("{key} must be {accepted}, not {got}")]
    Refused {
        key: String,
        accepted: String,
        got: Value,
    },
    /// A key on the way to a host key (`at`, dotted) holds a value, not a mapping.
    #[error("{at} must be a mapping, not {got}")]
    NotAMapping { at: String, got: Value },
}

/// Checks what a change at `path` leaves in `doc` (the whole config after
/// the change): every host key at, under or above `path` must hold what it
/// accepts, and everything on the way to a host key must be a mapping.
pub fn check_change(path: &[String], doc: &Value) -> Result<(), KeyError> {
    for key in KEYS {
        let overlaps = key.path.iter().zip(path).all(|(a, b)| *a == b.as_str());
        if overlaps {
            check_key(key, doc)?;
        }
    }
    Ok(())
}

fn check_key(key: &Key, doc: &Value) -> Result<(), KeyError> {
    let mut node = doc;
    for (depth, step) in key.path.iter().enumerate() {
        match node {
            Value::Object(map) => match map.get(*step) {
                Some(next) => node = next,
                None => return Ok(()),
            },
            Value::Null => return Ok(()),
            other if depth > 0 => {
                return Err(KeyError::NotAMapping {
                    at: key.path[..depth].join("."),
                    got: other.clone(),
                })
            }
            _ => return Ok(()),
        }
    }
    key.check(node)
}

/// The host key at exactly `path`, if there is one.
pub fn key_at(path: &[String]) -> Option<&'static Key> {
    KEYS.iter()
        .copied()
        .find(|k| k.path.len() == path.len() && k.path.iter().zip(path).all(|(a, b)| *a == b))
}

/// The defaults of the host keys at or under `path`, as the tree a read of
/// `path` shows (`["server"]` gives `{"debug": false, …}`); `None` when no
/// host key is there.
pub fn defaults_under(path: &[String]) -> Option<serde_json::Value> {
    let mut tree: Option<serde_json::Value> = None;
    for key in KEYS {
        let under = key.path.len() >= path.len() && key.path.iter().zip(path).all(|(a, b)| *a == b);
        if !under {
            continue;
        }
        let rest = &key.path[path.len()..];
        if rest.is_empty() {
            return Some(key.default_value());
        }
        let rest: Vec<String> = rest.iter().map(|k| (*k).to_owned()).collect();
        let node = tree.get_or_insert_with(|| serde_json::Value::Object(Default::default()));
        crate::config::values::set(node, &rest, key.default_value());
    }
    tree
}

/// Every host key whose value in effect is bad, as messages naming the key,
/// what it accepts, what it holds and the default used instead.
pub fn problems(config: &ConfigStore) -> Vec<String> {
    let mut doc = config.snapshot();
    for key in KEYS {
        if let Some(value) = config.effective(&key.path()) {
            crate::config::values::set(&mut doc, &key.path(), value);
        }
    }
    let mut found: Vec<String> = Vec::new();
    for key in KEYS {
        if let Err(e) = check_key(key, &doc) {
            // A mapping in the way is said once, not once per key under it.
            let message = match e {
                KeyError::NotAMapping { .. } => e.to_string(),
                KeyError::Refused { .. } => format!("{e}; using the default {}", key.default),
            };
            if !found.contains(&message) {
                found.push(message);
            }
        }
    }
    found
}

/// `keys` as text for `--help`: each key, what it accepts, its default and what it does.
pub fn help(title: &str, keys: &[&Key]) -> String {
    let mut out = format!("{title}\n");
    for key in keys {
        out.push_str(&format!(
            "  {}: {} (default {})\n      {}\n",
            key.name(),
            key.accepted(),
            key.default,
            key.about
        ));
    }
    out
}

/// The keys as a Markdown table (the README's list is checked against it).
#[cfg(test)]
pub fn table() -> String {
    let mut out = String::from("| key | accepts | default | what |\n|---|---|---|---|\n");
    for key in KEYS {
        out.push_str(&format!(
            "| `{}` | {} | `{}` | {} |\n",
            key.name(),
            key.accepted(),
            key.default,
            key.about
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::key_path;
    use serde_json::json;

    use crate::config::test_store as store;

    #[test]
    fn the_readme_lists_every_host_key_as_declared() {
        let readme = include_str!("../../../../README.md");
        assert!(
            readme.contains(&table()),
            "update the README's table of host settings to:\n{}",
            table()
        );
    }

    #[test]
    fn every_default_is_accepted_by_its_own_key() {
        for key in KEYS {
            assert_eq!(key.check(&key.default_value()), Ok(()), "{}", key.name());
        }
    }

    #[test]
    fn values_out_of_range_or_of_the_wrong_type_are_refused_by_name() {
        let err = PLUGIN_CALL_TIMEOUT.0.check(&json!(1e308)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "server.plugin_call_timeout must be a number of seconds from 0.1 to 86400, not 1e+308"
        );
        assert!(PLUGIN_CALL_TIMEOUT.0.check(&json!("abc")).is_err());
        assert!(PLUGIN_CALL_TIMEOUT.0.check(&json!(0)).is_err());
        assert!(UPLOAD_MAX_BYTES
            .0
            .check(&json!(-5))
            .unwrap_err()
            .to_string()
            .contains("a whole number of bytes from 1 to"));
        assert!(UPLOAD_MAX_BYTES.0.check(&json!(2.5)).is_err());
        assert!(DEBUG.0.check(&json!("yes")).is_err());
        assert!(SEEN_WIZARDS.check(&json!({"a": 1, "b": null})).is_ok());
        assert!(SEEN_WIZARDS.check(&json!({"a": "x"})).is_err());
        assert!(DEBUG.0.check(&Value::Null).is_ok(), "null is the default");
    }

    #[test]
    fn a_change_is_checked_at_above_and_below_its_path() {
        let ok = json!({"server": {"plugin_call_timeout": 5, "port": "anything"}});
        assert_eq!(check_change(&key_path(&["server"]), &ok), Ok(()));
        let bad = json!({"server": {"plugin_call_timeout": 1e308}});
        assert!(check_change(&key_path(&["server"]), &bad).is_err());
        assert!(check_change(&key_path(&["server", "plugin_call_timeout"]), &bad).is_err());
        assert_eq!(
            check_change(&key_path(&["printer"]), &bad),
            Ok(()),
            "not touched"
        );
        let flat = json!({"server": 5});
        assert_eq!(
            check_change(&key_path(&["server"]), &flat)
                .unwrap_err()
                .to_string(),
            "server must be a mapping, not 5"
        );
        let wizards = json!({"server": {"seenWizards": {"x": "one"}}});
        assert!(check_change(&key_path(&["server", "seenWizards", "x"]), &wizards).is_err());
    }

    #[test]
    fn a_bad_value_on_disk_reads_as_the_default_and_is_reported() {
        let (_d, config) = store(
            "server:\n  plugin_call_timeout: 1e308\n  upload_max_bytes: 2000\n  debug: maybe\n",
        );
        assert_eq!(
            PLUGIN_CALL_TIMEOUT.duration(&config),
            Duration::from_secs(30)
        );
        assert_eq!(UPLOAD_MAX_BYTES.get(&config), 2000);
        assert!(!DEBUG.get(&config));
        let found = problems(&config);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("server.plugin_call_timeout must be"));
        assert!(found[0].ends_with("using the default 30"));
        assert!(found[1].starts_with("server.debug must be true or false"));
        let (_d, config) = store("server: 7\n");
        assert_eq!(
            problems(&config),
            ["server must be a mapping, not 7"],
            "said once for every key under it"
        );
    }
}
