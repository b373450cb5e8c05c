//! SettingsPlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::host::HostError;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{PluginError, PluginResult};

/// A getter or setter preprocessor: transforms a value on its way out or in.
pub type Preprocessor = fn(Value) -> Value;

/// Getter and setter preprocessors by settings path (the seed's
/// `get_settings_preprocessors` tuple).
#[derive(Default)]
pub struct Preprocessors {
    pub(crate) getters: Vec<(Vec<String>, Preprocessor)>,
    pub(crate) setters: Vec<(Vec<String>, Preprocessor)>,
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

impl Preprocessors {
    /// No preprocessors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Transforms the value at `path` whenever it is read.
    pub fn getter(mut self, path: &[&str], f: Preprocessor) -> Self {
        self.getters.push((owned(path), f));
        self
    }

    /// Transforms a value for `path` before it is stored.
    pub fn setter(mut self, path: &[&str], f: Preprocessor) -> Self {
        self.setters.push((owned(path), f));
        self
    }

    /// Applies the preprocessors of `path` and of every path below it, as
    /// OctoPrint does for nested values: reading `["sub"]` runs the getter of
    /// `["sub", "flag"]` on that key of the result.
    fn apply(list: &[(Vec<String>, Preprocessor)], path: &[String], mut value: Value) -> Value {
        for (target, f) in list {
            let Some(rest) = target.strip_prefix(path) else {
                continue;
            };
            if rest.is_empty() {
                value = f(value);
            } else if let Some(slot) = rest
                .iter()
                .try_fold(&mut value, |node, key| node.get_mut(key))
            {
                *slot = f(slot.take());
            }
        }
        value
    }

    pub(crate) fn has_setters(&self) -> bool {
        !self.setters.is_empty()
    }

    pub(crate) fn apply_getter(&self, path: &[String], value: Value) -> Value {
        Self::apply(&self.getters, path, value)
    }

    pub(crate) fn apply_setter(&self, path: &[String], value: Value) -> Value {
        Self::apply(&self.setters, path, value)
    }
}

/// Stores and retrieves the plugin's settings in the host's config
/// (`plugins.<id>` of `config.yaml`).
///
/// Only values that differ from [`get_settings_defaults`](SettingsPlugin::get_settings_defaults)
/// are stored. At start-up, and when the plugin is enabled at run time, the host
/// calls: `initialize` → [`on_settings_migrate`](SettingsPlugin::on_settings_migrate)
/// (when the stored version is missing or older) → [`on_settings_cleanup`](SettingsPlugin::on_settings_cleanup)
/// → save → [`on_settings_initialized`](SettingsPlugin::on_settings_initialized).
///
/// Secrets must be listed in [`get_settings_restricted_paths`](SettingsPlugin::get_settings_restricted_paths):
/// the settings API answers anonymous callers too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `SettingsPlugin`, but `Settings` is in its export_plugin! `mixins:` list",
    label = "implement `SettingsPlugin` for `{Self}`, or remove `Settings` from `mixins:`"
)]
pub trait SettingsPlugin: Plugin {
    /// The default settings: a JSON object.
    fn get_settings_defaults(&self) -> Value {
        Value::Object(Map::new())
    }

    /// Getter and setter preprocessors.
    fn get_settings_preprocessors(&self) -> Preprocessors {
        Preprocessors::new()
    }

    /// Paths restricted on the REST API: an object whose keys are `admin`, `user`,
    /// `never` or a permission name, each mapping to a list of paths (lists of keys).
    /// A path may also be `{"path": [...], "default": value}` to choose the replacement.
    fn get_settings_restricted_paths(&self) -> Value {
        Value::Object(Map::new())
    }

    /// The settings format version; `None` disables version tracking.
    fn get_settings_version(&self) -> Option<i64> {
        None
    }

    /// Migrates stored settings from version `current` (`None`: no version stored) to `target`.
    /// The host saves afterwards. An error marks the plugin failed and puts back
    /// the settings as they were.
    fn on_settings_migrate(&self, target: Option<i64>, current: Option<i64>) -> PluginResult<()> {
        let _ = (target, current);
        Ok(())
    }

    /// Called after migration, before `on_settings_initialized`. The default
    /// reduces the stored data to its difference from the defaults.
    fn on_settings_cleanup(&self) -> PluginResult<()> {
        self.host()
            .settings()
            .default_on_settings_cleanup()
            .map_err(host_error)
    }

    /// Called once the settings are initialized (and migrated).
    fn on_settings_initialized(&self) {}

    /// The plugin's settings for the settings API. The default returns the stored
    /// settings merged over the defaults. The host removes restricted paths from
    /// what this returns for each caller, even when it is overridden.
    fn on_settings_load(&self) -> PluginResult<Value> {
        self.host()
            .settings()
            .default_on_settings_load()
            .map_err(host_error)
    }

    /// Saves settings received by the settings API. The default merges `data`
    /// into the stored settings, stores the minimal difference to the defaults
    /// and returns what was actually saved. An override that wants to react to
    /// changes wraps [`Settings::default_on_settings_save`](crate::Settings::default_on_settings_save).
    fn on_settings_save(&self, data: &Value) -> PluginResult<Value> {
        self.host()
            .settings()
            .default_on_settings_save(data)
            .map_err(host_error)
    }
}

fn host_error(e: HostError) -> PluginError {
    PluginError::new(e.to_string())
}

mixin_marker!(Settings, SettingsPlugin, on_instantiate: |inst| { preprocessors(&inst.plugin); }, |inst, method, args| {
    let p = &inst.plugin;
    let pre = || preprocessors(p);
    match method {
        GetSettingsDefaults::ID => {
            serve::<GetSettingsDefaults>(args, |()| p.get_settings_defaults())
        }
        GetSettingsPreprocessorPaths::ID => serve::<GetSettingsPreprocessorPaths>(args, |()| {
            let pre = pre();
            let paths =
                |l: &[(Vec<String>, Preprocessor)]| l.iter().map(|(p, _)| p.clone()).collect();
            (paths(&pre.getters), paths(&pre.setters))
        }),
        ApplyGetterPreprocessor::ID => {
            serve::<ApplyGetterPreprocessor>(args, |(path, v)| pre().apply_getter(&path, v))
        }
        ApplySetterPreprocessor::ID => {
            serve::<ApplySetterPreprocessor>(args, |(path, v)| pre().apply_setter(&path, v))
        }
        GetSettingsRestrictedPaths::ID => {
            serve::<GetSettingsRestrictedPaths>(args, |()| p.get_settings_restricted_paths())
        }
        GetSettingsVersion::ID => serve::<GetSettingsVersion>(args, |()| p.get_settings_version()),
        OnSettingsMigrate::ID => {
            serve_result::<OnSettingsMigrate>(args, |(t, c)| p.on_settings_migrate(t, c))
        }
        OnSettingsCleanup::ID => {
            serve_result::<OnSettingsCleanup>(args, |()| p.on_settings_cleanup())
        }
        OnSettingsInitialized::ID => {
            serve::<OnSettingsInitialized>(args, |()| p.on_settings_initialized())
        }
        OnSettingsLoad::ID => serve_result::<OnSettingsLoad>(args, |()| p.on_settings_load()),
        OnSettingsSave::ID => serve_result::<OnSettingsSave>(args, |d| p.on_settings_save(&d)),
        _ => CallOutcome::Unsupported,
    }
});

/// The plugin's preprocessors, asked for once and kept in its host handle.
fn preprocessors<P: SettingsPlugin>(p: &P) -> &Preprocessors {
    p.host()
        .preprocessors()
        .get_or_init(|| p.get_settings_preprocessors())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upper(v: Value) -> Value {
        v.as_str()
            .map(|s| Value::from(s.to_uppercase()))
            .unwrap_or(v)
    }

    #[test]
    fn preprocessors_apply_to_their_path_and_to_it_inside_larger_values() {
        let pre = Preprocessors::new().getter(&["sub", "name"], upper);
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            pre.apply_getter(&path(&["sub", "name"]), json!("x")),
            json!("X")
        );
        assert_eq!(
            pre.apply_getter(&path(&["sub"]), json!({"name": "x", "o": "y"})),
            json!({"name": "X", "o": "y"})
        );
        assert_eq!(
            pre.apply_getter(&[], json!({"sub": {"name": "x"}})),
            json!({"sub": {"name": "X"}})
        );
        assert_eq!(
            pre.apply_getter(&[], json!({"other": 1})),
            json!({"other": 1})
        );
        assert_eq!(
            pre.apply_getter(&path(&["sub", "name", "deeper"]), json!("x")),
            json!("x")
        );
        assert_eq!(
            pre.apply_setter(&path(&["sub", "name"]), json!("x")),
            json!("x")
        );
    }
}
