//! One plugin's settings: `plugins.<id>` of the config, over the plugin's
//! defaults (and overlays). Only what differs from the defaults is stored.
//!
//! This is the host's half of OctoPrint's `PluginSettings` and of the default
//! `on_settings_load`, `on_settings_save` and `on_settings_cleanup`.

use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};

use crate::config::values;
use crate::config::{ConfigError, ConfigStore};

/// The key of the stored settings format version.
pub const CONFIG_VERSION_KEY: &str = "_config_version";

/// A plugin's view of the config.
pub struct PluginSettings {
    store: Arc<ConfigStore>,
    id: String,
    defaults: RwLock<(Value, Option<i64>)>,
}

impl PluginSettings {
    /// Settings of plugin `id`, with empty defaults until [`set_defaults`](Self::set_defaults).
    pub fn new(store: Arc<ConfigStore>, id: &str) -> Self {
        Self {
            store,
            id: id.to_owned(),
            defaults: RwLock::new((Value::Object(Map::new()), None)),
        }
    }

    /// The plugin's defaults and settings format version.
    pub fn set_defaults(&self, defaults: Value, version: Option<i64>) {
        *self.defaults.write().unwrap() = (defaults, version);
    }

    /// The config store underneath.
    pub fn store(&self) -> &Arc<ConfigStore> {
        &self.store
    }

    /// The settings format version the plugin declared.
    pub fn version(&self) -> Option<i64> {
        self.defaults.read().unwrap().1
    }

    fn root(&self) -> Vec<String> {
        vec!["plugins".to_owned(), self.id.clone()]
    }

    fn full(&self, path: &[String]) -> Vec<String> {
        let mut full = self.root();
        full.extend_from_slice(path);
        full
    }

    /// The defaults, with the overlays' values for this plugin on top.
    pub fn defaults(&self) -> Value {
        let own = self.defaults.read().unwrap().0.clone();
        match self.store.overlays_at(&self.root()) {
            Some(overlay) => values::merge(&own, &overlay),
            None => own,
        }
    }

    /// The plugin's own defaults, without overlays: what is stored is the
    /// difference to these (as OctoPrint compares with `get_settings_defaults`).
    pub fn own_defaults(&self) -> Value {
        self.defaults.read().unwrap().0.clone()
    }

    /// What the config file holds for the plugin (`{}` when nothing).
    pub fn stored(&self) -> Value {
        match self.store.get(&self.root()) {
            Some(v @ Value::Object(_)) => v,
            _ => Value::Object(Map::new()),
        }
    }

    /// Everything: stored values merged over the defaults, without the version key.
    pub fn all(&self) -> Value {
        let mut all = values::merge(&self.defaults(), &self.stored());
        if let Value::Object(map) = &mut all {
            map.shift_remove(CONFIG_VERSION_KEY);
        }
        all
    }

    /// The value at `path`, stored or default.
    pub fn get(&self, path: &[String]) -> Option<Value> {
        values::get(&values::merge(&self.defaults(), &self.stored()), path).cloned()
    }

    /// Whether `path` has a value, stored or default.
    pub fn has(&self, path: &[String]) -> bool {
        self.get(path).is_some()
    }

    /// Sets `path`, as OctoPrint's `PluginSettings.set(path, value, force)`.
    /// What equals the default is not stored; a value equal to the default
    /// removes the stored one. Lists are replaced whole. A path that is
    /// neither among the defaults nor stored is not written. With `force`,
    /// the value is stored as given in every case.
    pub fn set(&self, path: &[String], value: Value, force: bool) -> Result<(), ConfigError> {
        if path.is_empty() {
            let version = self.stored().get(CONFIG_VERSION_KEY).cloned();
            return self.replace_all(&value, version);
        }
        if force {
            return self.store.set(self.full(path), value);
        }
        let defaults = self.defaults();
        let diff = match values::get(&defaults, path) {
            Some(default) => values::minimal_diff(default, &value),
            None => match self.store.get(&self.full(path)) {
                Some(stored) if stored == value => return Ok(()),
                Some(_) => Some(value),
                None => {
                    tracing::debug!(
                        plugin = %self.id,
                        "settings: {} is not among the defaults: not stored (set it with force to store it)",
                        path.join(".")
                    );
                    return Ok(());
                }
            },
        };
        match diff {
            Some(diff) => self.store.set(self.full(path), diff),
            None => self.store.remove(self.full(path)),
        }
    }

    /// Sets `path` of the host's whole config, as OctoPrint's
    /// `global_set(path, value, force)`: the defaults are the host keys'
    /// (`plinth config keys`); a value equal to a key's default removes the
    /// stored one; a path that is neither a host key nor stored is not
    /// written unless `force`. Host keys are checked as any change is.
    pub fn global_set(
        &self,
        path: &[String],
        value: Value,
        force: bool,
    ) -> Result<(), ConfigError> {
        if path.is_empty() {
            return Err(ConfigError::EmptyPath(crate::config::error::Change::Set));
        }
        let path = path.to_vec();
        if force {
            return self.store.set(path, value);
        }
        let default = crate::config::host_settings::key_at(&path).map(|k| k.default_value());
        match (self.store.get(&path), default) {
            (Some(_), Some(default)) if values::same(&default, &value) => self.store.remove(path),
            (Some(stored), _) if !values::same(&stored, &value) => self.store.set(path, value),
            (None, Some(default)) if !values::same(&default, &value) => self.store.set(path, value),
            _ => Ok(()),
        }
    }

    /// A value of the host's whole config as OctoPrint's `global_get`
    /// reads it: what is stored (over the plugins' overlays), over the
    /// defaults of the host keys at or under `path`.
    pub fn global_get(&self, path: &[String]) -> Option<Value> {
        let stored = self.store.effective(path);
        match (crate::config::host_settings::defaults_under(path), stored) {
            (Some(defaults), Some(stored)) => Some(values::merge(&defaults, &stored)),
            (defaults, stored) => stored.or(defaults),
        }
    }

    /// Whether `path` is among the plugin's defaults (overlays included).
    pub fn in_defaults(&self, path: &[String]) -> bool {
        values::get(&self.defaults(), path).is_some()
    }

    /// Removes a value of the host's whole config (`global_remove`); an
    /// empty path (the whole config) is refused.
    pub fn global_remove(&self, path: &[String]) -> Result<(), ConfigError> {
        if path.is_empty() {
            return Err(ConfigError::EmptyPath(crate::config::error::Change::Remove));
        }
        self.store.remove(path.to_vec())
    }

    /// Removes the stored value at `path`: it reads as its default again.
    pub fn remove(&self, path: &[String]) -> Result<(), ConfigError> {
        self.store.remove(self.full(path))
    }

    fn replace_all(&self, data: &Value, version: Option<Value>) -> Result<(), ConfigError> {
        let mut keep = values::minimal_diff(&self.own_defaults(), data)
            .unwrap_or_else(|| Value::Object(Map::new()));
        if let Value::Object(map) = &mut keep {
            map.shift_remove(CONFIG_VERSION_KEY);
            if let Some(v) = version {
                map.insert(CONFIG_VERSION_KEY.to_owned(), v);
            }
        }
        if keep.as_object().is_some_and(Map::is_empty) {
            self.store.remove(self.root())
        } else {
            self.store.set(self.root(), keep)
        }
    }

    /// The stored settings format version, if any.
    pub fn stored_version(&self) -> Option<i64> {
        self.stored()
            .get(CONFIG_VERSION_KEY)
            .and_then(Value::as_i64)
    }

    /// Stores the settings format version.
    pub fn set_stored_version(&self, version: i64) -> Result<(), ConfigError> {
        self.store.set(
            self.full(&[CONFIG_VERSION_KEY.to_owned()]),
            Value::from(version),
        )
    }

    /// The default `on_settings_save(data)`: merges `data` over the current
    /// settings, stores the minimal difference to the defaults (plus the
    /// version), saves, and returns what differs from the defaults.
    pub fn save_data(&self, data: &Value) -> Result<Value, ConfigError> {
        let diff = self.diff(data);
        self.store_all(&diff)?;
        Ok(diff)
    }

    /// What `data` merged over the current settings differs from the defaults.
    pub fn diff(&self, data: &Value) -> Value {
        let mut merged = values::merge(&self.all(), data);
        if let Value::Object(map) = &mut merged {
            map.shift_remove(CONFIG_VERSION_KEY);
        }
        values::minimal_diff(&self.own_defaults(), &merged)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// Stores `data` as the plugin's settings (its difference to the defaults,
    /// plus the version) and saves.
    pub fn store_all(&self, data: &Value) -> Result<(), ConfigError> {
        self.replace_all(data, self.version().map(Value::from))?;
        self.store.save()
    }

    /// The default `on_settings_cleanup`: reduces what is stored to its
    /// difference from the defaults, keeping the version unless it is
    /// `null` (which OctoPrint removes: no version is the default).
    pub fn cleanup(&self) -> Result<(), ConfigError> {
        match self.store.get(&self.root()) {
            None => Ok(()),
            Some(Value::Object(stored)) => {
                let version = stored
                    .get(CONFIG_VERSION_KEY)
                    .filter(|v| !v.is_null())
                    .cloned();
                self.replace_all(&Value::Object(stored), version)
            }
            Some(_) => self.store.remove(self.root()),
        }
    }

    /// Writes the config to disk.
    pub fn persist(&self) -> Result<(), ConfigError> {
        self.store.save()
    }

    /// What is stored now, to put back with [`restore`](Self::restore) if a callback fails.
    pub fn snapshot(&self) -> Option<Value> {
        self.store.get(&self.root())
    }

    /// Puts back what [`snapshot`](Self::snapshot) returned.
    pub fn restore(&self, snapshot: Option<Value>) {
        match snapshot {
            Some(v) => {
                // It was valid before, so it is valid again.
                let _ = self.store.set(self.root(), v);
            }
            None => {
                let _ = self.store.remove(self.root());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::key_path;
    use serde_json::json;

    fn settings(yaml: &str) -> (tempfile::TempDir, PluginSettings) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        let store = ConfigStore::open(&path).unwrap();
        let s = PluginSettings::new(store, "hw");
        s.set_defaults(json!({"some_setting": "foo", "some_value": 23, "sub": {"some_flag": true}, "l": [1, 2]}), Some(2));
        (dir, s)
    }

    fn p(s: &str) -> Vec<String> {
        crate::config::values::dotted(s).unwrap()
    }

    #[test]
    fn reads_merge_stored_over_defaults() {
        let (_d, s) = settings("plugins:\n  hw:\n    some_value: 42\n    sub: {extra: 1}\n");
        assert_eq!(s.get(&p("some_value")), Some(json!(42)));
        assert_eq!(s.get(&p("some_setting")), Some(json!("foo")));
        assert_eq!(
            s.get(&p("sub")),
            Some(json!({"some_flag": true, "extra": 1}))
        );
        assert_eq!(s.get(&p("missing")), None);
        assert!(s.has(&p("sub.some_flag")) && !s.has(&p("nope")));
    }

    #[test]
    fn setting_the_default_removes_the_stored_value_and_lists_are_replaced() {
        let (_d, s) = settings("plugins:\n  hw:\n    some_value: 42\n");
        s.set(&p("some_value"), json!(23), false).unwrap();
        assert_eq!(s.stored(), json!({}));
        s.set(&p("sub"), json!({"some_flag": true, "new": 5}), false)
            .unwrap();
        assert_eq!(s.stored(), json!({"sub": {"new": 5}}));
        s.set(&p("l"), json!([3]), false).unwrap();
        assert_eq!(s.get(&p("l")), Some(json!([3])));
        s.remove(&p("l")).unwrap();
        assert_eq!(s.get(&p("l")), Some(json!([1, 2])));
    }

    // OctoPrint's test_settings.py: set with and without force.
    #[test]
    fn force_stores_a_default_and_a_path_outside_the_defaults() {
        let (_d, s) = settings("");
        // Equal to its default: stored only with force.
        s.set(&p("some_value"), json!(23), false).unwrap();
        assert_eq!(s.stored(), json!({}));
        s.set(&p("some_value"), json!(23), true).unwrap();
        assert_eq!(s.stored(), json!({"some_value": 23}));
        // Not among the defaults and not stored: nothing without force.
        s.set(&p("unknown"), json!("x"), false).unwrap();
        assert_eq!(s.get(&p("unknown")), None);
        s.set(&p("unknown"), json!("x"), true).unwrap();
        assert_eq!(s.get(&p("unknown")), Some(json!("x")));
        // Stored already: changed without force.
        s.set(&p("unknown"), json!("y"), false).unwrap();
        assert_eq!(s.get(&p("unknown")), Some(json!("y")));
    }

    // OctoPrint's global_set: the host keys' defaults, force, unknown paths.
    #[test]
    fn global_get_reads_the_host_keys_defaults_as_octoprint_does() {
        let (_d, s) = settings("server:\n  plugin_call_timeout: 7\n");
        // A key at its default, one stored, and a mapping of both.
        assert_eq!(s.global_get(&p("server.debug")), Some(json!(false)));
        assert_eq!(
            s.global_get(&p("server.plugin_call_timeout")),
            Some(json!(7))
        );
        let server = s.global_get(&p("server")).unwrap();
        assert_eq!(server["debug"], json!(false), "{server}");
        assert_eq!(server["onlineCheck"]["port"], json!(53), "{server}");
        assert_eq!(server["plugin_call_timeout"], json!(7), "{server}");
        // Neither a host key nor stored.
        assert_eq!(s.global_get(&p("other.thing")), None);
    }

    #[test]
    fn global_set_follows_the_host_keys_and_force() {
        let (_d, s) = settings("");
        let timeout = p("server.plugin_call_timeout");
        s.global_set(&timeout, json!(7), false).unwrap();
        assert_eq!(s.store.get(&timeout), Some(json!(7)));
        // Back to its default: the stored value goes.
        let default = crate::config::host_settings::key_at(&timeout)
            .unwrap()
            .default_value();
        s.global_set(&timeout, default.clone(), false).unwrap();
        assert_eq!(s.store.get(&timeout), None);
        s.global_set(&timeout, default.clone(), true).unwrap();
        assert_eq!(s.store.get(&timeout), Some(default));
        // A value the key does not accept is refused, naming the key.
        let err = s.global_set(&timeout, json!("soon"), false).unwrap_err();
        assert!(err.to_string().contains("plugin_call_timeout"), "{err}");
        // Neither a host key nor stored: written only with force.
        s.global_set(&p("other.thing"), json!(1), false).unwrap();
        assert_eq!(s.store.get(&p("other.thing")), None);
        s.global_set(&p("other.thing"), json!(1), true).unwrap();
        assert_eq!(s.store.get(&p("other.thing")), Some(json!(1)));
        s.global_set(&p("other.thing"), json!(2), false).unwrap();
        assert_eq!(s.store.get(&p("other.thing")), Some(json!(2)));
        // The whole config is never written or removed through it.
        for force in [false, true] {
            let err = s.global_set(&[], json!({}), force).unwrap_err();
            assert!(matches!(err, ConfigError::EmptyPath(_)), "{err}");
        }
        assert!(matches!(
            s.global_remove(&[]),
            Err(ConfigError::EmptyPath(_))
        ));
        assert_eq!(s.store.get(&p("other.thing")), Some(json!(2)));
    }

    #[test]
    fn default_save_stores_the_minimal_diff_with_the_version_and_returns_it() {
        let (_d, s) = settings("");
        let saved = s
            .save_data(&json!({"some_value": 5, "some_setting": "foo", "sub": {"some_flag": true}}))
            .unwrap();
        assert_eq!(saved, json!({"some_value": 5}));
        assert_eq!(s.stored(), json!({"some_value": 5, "_config_version": 2}));
        let saved = s.save_data(&json!({"some_value": 23})).unwrap();
        assert_eq!(saved, json!({}));
        assert_eq!(s.stored(), json!({"_config_version": 2}));
    }

    /// OctoPrint's `test_on_settings_save_configversion` and
    /// `test_on_settings_save_nodiff`: a `_config_version` in the data is
    /// never taken; the plugin's own version is stored even when nothing
    /// differs from the defaults, and a plugin without one keeps nothing.
    #[test]
    fn default_save_ignores_a_config_version_in_the_data() {
        let (_d, s) = settings("plugins:\n  hw:\n    _config_version: 1\n");
        for sent in [json!(null), json!(7), json!("x")] {
            let saved = s
                .save_data(&json!({"_config_version": sent, "some_setting": "foo"}))
                .unwrap();
            assert_eq!(saved, json!({}));
            assert_eq!(s.stored(), json!({"_config_version": 2}));
        }
        let (_d, s) = settings("plugins:\n  hw:\n    some_value: 5\n");
        s.set_defaults(json!({"some_value": 23}), None);
        let saved = s
            .save_data(&json!({"_config_version": 3, "some_value": 23}))
            .unwrap();
        assert_eq!(saved, json!({}));
        assert_eq!(s.store.get(&key_path(&["plugins", "hw"])), None);
    }

    #[test]
    fn cleanup_minimises_what_is_stored_and_keeps_the_version() {
        let (_d, s) = settings(
            "plugins:\n  hw:\n    _config_version: 1\n    some_setting: foo\n    some_value: 7\n    sub: {some_flag: true}\n",
        );
        s.cleanup().unwrap();
        assert_eq!(s.stored(), json!({"_config_version": 1, "some_value": 7}));
        let (_d, s) = settings("plugins:\n  hw: null\n");
        s.cleanup().unwrap();
        assert_eq!(s.store.get(&key_path(&["plugins", "hw"])), None);
        // A version of null is removed, as OctoPrint removes it.
        let (_d, s) = settings("plugins:\n  hw:\n    _config_version: null\n    some_value: 7\n");
        s.cleanup().unwrap();
        assert_eq!(s.stored(), json!({"some_value": 7}));
        let (_d, s) = settings("plugins:\n  hw:\n    _config_version: null\n");
        s.cleanup().unwrap();
        assert_eq!(s.store.get(&key_path(&["plugins", "hw"])), None);
    }

    /// The rest of OctoPrint's `test_on_settings_cleanup*` cases: only the
    /// version left, everything equal to the defaults, a mapping where the
    /// default is null, and lists (kept whole when they differ).
    #[test]
    fn cleanup_keeps_a_lone_version_drops_defaults_and_keeps_what_differs() {
        let (_d, s) = settings("plugins:\n  hw:\n    _config_version: 1\n    some_value: 23\n");
        s.cleanup().unwrap();
        assert_eq!(s.stored(), json!({"_config_version": 1}));
        let (_d, s) = settings("plugins:\n  hw:\n    some_setting: foo\n    some_value: 23\n");
        s.cleanup().unwrap();
        assert_eq!(s.store.get(&key_path(&["plugins", "hw"])), None);
        let (_d, s) = settings(
            "plugins:\n  hw:\n    fnord: {a: 1}\n    l: [1, 2]\n    sub: {some_flag: true, l2: [3]}\n",
        );
        s.set_defaults(
            json!({"fnord": null, "l": [1, 2], "sub": {"some_flag": true, "l2": [1]}}),
            None,
        );
        s.cleanup().unwrap();
        assert_eq!(s.stored(), json!({"fnord": {"a": 1}, "sub": {"l2": [3]}}));
    }

    #[test]
    fn snapshot_and_restore_undo_a_failed_migration() {
        let (_d, s) = settings("plugins:\n  hw:\n    some_value: 1\n");
        let snap = s.snapshot();
        s.set(&p("some_value"), json!(99), false).unwrap();
        s.set_stored_version(2).unwrap();
        s.restore(snap);
        assert_eq!(s.stored(), json!({"some_value": 1}));
    }
}
