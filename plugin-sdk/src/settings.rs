//! The plugin's settings handle (OctoPrint's `self._settings`).

use std::path::PathBuf;

use plinth_abi::BaseFolder;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::host::{Host, HostError};
use crate::methods::host as services;

/// The plugin's settings: `plugins.<id>` of the host's `config.yaml`, over the
/// plugin's defaults. Get it with [`Host::settings`].
///
/// Paths are lists of keys: `&["sub", "some_flag"]`. Reads see the stored value
/// merged over the defaults, after the getter preprocessors of that path and
/// of the paths below it; writes go through the setter preprocessors likewise, and a value equal to its default is not
/// stored (it removes the stored one). [`save`](Settings::save) writes to disk.
///
/// Read errors (the host is shutting down) read as `None` and are logged.
#[derive(Clone)]
pub struct Settings {
    host: Host,
    /// Every write as OctoPrint's `force=True` (see [`Settings::forced`]).
    force: bool,
}

fn as_string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

impl Settings {
    pub(crate) fn new(host: Host) -> Self {
        Self { host, force: false }
    }

    /// The same settings, every setter through it forced (`set`, the typed
    /// setters and the `global_set` family): OctoPrint's `force=True`, e.g.
    /// `settings.forced().set_int(&["copies"], 3, None, None)` for
    /// `set_int(["copies"], 3, force=True)`. A forced write stores the value
    /// even when it equals its default or is not among the defaults.
    pub fn forced(&self) -> Settings {
        Settings {
            host: self.host.clone(),
            force: true,
        }
    }

    fn read<M: crate::wire::Method>(&self, args: &M::Args) -> Option<M::Output> {
        match self.host.call::<M>(args) {
            Ok(v) => Some(v),
            Err(e) => {
                self.host.logger().warn(format_args!("settings: {e}"));
                None
            }
        }
    }

    /// The value at `path`, or `None` when neither stored nor defaulted.
    pub fn get(&self, path: &[&str]) -> Option<Value> {
        let path = owned(path);
        let value = self.read::<services::SettingsGet>(&path)??;
        Some(match self.host.preprocessors().get() {
            Some(pre) => pre.apply_getter(&path, value),
            None => value,
        })
    }

    /// The value at `path` as an integer, clamped to `min` and `max`;
    /// `None` when missing or not convertible.
    pub fn get_int(&self, path: &[&str], min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let v = to_int(&self.get(path)?)?;
        Some(v.max(min.unwrap_or(i64::MIN)).min(max.unwrap_or(i64::MAX)))
    }

    /// The value at `path` as a float, clamped to `min` and `max`;
    /// `None` when missing or not convertible.
    pub fn get_float(&self, path: &[&str], min: Option<f64>, max: Option<f64>) -> Option<f64> {
        let mut v = to_float(&self.get(path)?)?;
        if let Some(min) = min {
            v = v.max(min);
        }
        if let Some(max) = max {
            v = v.min(max);
        }
        Some(v)
    }

    /// The value at `path` as a boolean (see [`to_bool`]); `None` when missing.
    pub fn get_boolean(&self, path: &[&str]) -> Option<bool> {
        self.get(path).map(|v| to_bool(&v))
    }

    /// The value at `path` as text; `None` when missing or not a string.
    /// `settings.get_str(&["greeting"])` rather than matching on a `Value`.
    pub fn get_str(&self, path: &[&str]) -> Option<String> {
        as_string(self.get(path)?)
    }

    /// The value at `path` read into any type serde can read it into: a
    /// list (`Vec<String>`), a map, a struct of the plugin's own. `None`
    /// when missing; a value of another shape is `None` too, and logged (at
    /// debug level, as it may be asked often) with the path and what serde
    /// said.
    pub fn get_as<T: DeserializeOwned>(&self, path: &[&str]) -> Option<T> {
        self.typed(path, self.get(path)?)
    }

    fn typed<T: DeserializeOwned>(&self, path: &[&str], value: Value) -> Option<T> {
        match serde_json::from_value(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.host
                    .logger()
                    .debug(format_args!("settings: {}: {e}", path.join(".")));
                None
            }
        }
    }

    /// Whether `path` has a value, stored or default.
    pub fn has(&self, path: &[&str]) -> bool {
        self.read::<services::SettingsHas>(&owned(path))
            .unwrap_or(false)
    }

    /// All settings, stored values merged over the defaults (no preprocessors).
    pub fn get_all(&self) -> Value {
        self.read::<services::SettingsLoad>(&())
            .unwrap_or(Value::Null)
    }

    /// Sets the value at `path` (after the setter preprocessor), as
    /// OctoPrint's `set(path, value)`. Not saved to disk until
    /// [`save`](Settings::save).
    ///
    /// A value equal to its default is not stored (it removes the stored
    /// one), and, as in OctoPrint, a path that is neither among the
    /// defaults nor stored is not written at all: declare the key in
    /// [`SettingsPlugin::get_settings_defaults`](crate::SettingsPlugin::get_settings_defaults),
    /// or use [`set_forced`](Settings::set_forced).
    pub fn set(&self, path: &[&str], value: impl Into<Value>) -> Result<(), HostError> {
        let (path, value) = self.preprocessed(path, value.into());
        if self.force {
            return self
                .host
                .call::<services::SettingsSetForced>(&(path, value));
        }
        self.host.call::<services::SettingsSet>(&(path, value))
    }

    /// Sets the value at `path` as given, even when it equals its default or
    /// is not among the defaults: OctoPrint's `set(path, value, force=True)`.
    pub fn set_forced(&self, path: &[&str], value: impl Into<Value>) -> Result<(), HostError> {
        self.forced().set(path, value)
    }

    /// [`set`](Settings::set) of a value converted as OctoPrint's `set_int`
    /// converts it ([`to_int`], then clamped to `min` and `max`). A value
    /// that does not convert is not written (an error says so).
    pub fn set_int(
        &self,
        path: &[&str],
        value: impl Into<Value>,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), HostError> {
        self.set(path, converted_int(path, value.into(), min, max)?)
    }

    /// [`set`](Settings::set) of a value converted as OctoPrint's
    /// `set_float` converts it ([`to_float`], then clamped).
    pub fn set_float(
        &self,
        path: &[&str],
        value: impl Into<Value>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<(), HostError> {
        self.set(path, converted_float(path, value.into(), min, max)?)
    }

    /// [`set`](Settings::set) of a value converted as OctoPrint's
    /// `set_boolean` converts it ([`to_bool`]; null stays null).
    pub fn set_boolean(&self, path: &[&str], value: impl Into<Value>) -> Result<(), HostError> {
        self.set(path, converted_bool(value.into()))
    }

    fn preprocessed(&self, path: &[&str], value: Value) -> (Vec<String>, Value) {
        let path = owned(path);
        let value = match self.host.preprocessors().get() {
            Some(pre) => pre.apply_setter(&path, value),
            None => value,
        };
        (path, value)
    }

    /// Removes the stored value at `path`: it reads as its default again.
    pub fn remove(&self, path: &[&str]) -> Result<(), HostError> {
        self.host.call::<services::SettingsRemove>(&owned(path))
    }

    /// Writes the settings to disk (atomically).
    pub fn save(&self) -> Result<(), HostError> {
        self.host.call::<services::SettingsPersist>(&())
    }

    /// What the default [`SettingsPlugin::on_settings_load`](crate::SettingsPlugin::on_settings_load)
    /// does: every setting, stored values merged over the defaults. Call it from an override.
    pub fn default_on_settings_load(&self) -> Result<Value, HostError> {
        let all = self.host.call::<services::SettingsLoad>(&())?;
        Ok(match self.host.preprocessors().get() {
            Some(pre) => pre.apply_getter(&[], all),
            None => all,
        })
    }

    /// What the default [`SettingsPlugin::on_settings_save`](crate::SettingsPlugin::on_settings_save)
    /// does (Python's `SettingsPlugin.on_settings_save(self, data)`): merges `data`
    /// over the current settings, stores and saves the minimal difference to the
    /// defaults, and returns it. Call it from an override that wraps the default.
    pub fn default_on_settings_save(&self, data: &Value) -> Result<Value, HostError> {
        match self
            .host
            .preprocessors()
            .get()
            .filter(|pre| pre.has_setters())
        {
            // As OctoPrint: the difference is taken on the data as received; the
            // setters then run on what is stored.
            Some(pre) => {
                let diff = self.host.call::<services::SettingsDiff>(data)?;
                self.host
                    .call::<services::SettingsStoreAll>(&pre.apply_setter(&[], diff.clone()))?;
                Ok(diff)
            }
            None => self.host.call::<services::SettingsSave>(data),
        }
    }

    /// What the default [`SettingsPlugin::on_settings_cleanup`](crate::SettingsPlugin::on_settings_cleanup)
    /// does: reduces the stored settings to their difference from the defaults.
    pub fn default_on_settings_cleanup(&self) -> Result<(), HostError> {
        self.host.call::<services::SettingsCleanup>(&())
    }

    /// A value of the host's whole config, e.g. `&["server", "debug"]` or
    /// another plugin's `&["plugins", "other", "key"]` (OctoPrint's
    /// `global_get`): what is stored, over the host's own defaults.
    pub fn global_get(&self, path: &[&str]) -> Option<Value> {
        self.read::<services::SettingsGlobalGet>(&owned(path))?
    }

    /// Whether the host's config has a value at `path` (OctoPrint's `global_has`).
    pub fn global_has(&self, path: &[&str]) -> bool {
        self.global_get(path).is_some()
    }

    /// [`global_get`](Settings::global_get) as an integer ([`to_int`]).
    pub fn global_get_int(&self, path: &[&str]) -> Option<i64> {
        to_int(&self.global_get(path)?)
    }

    /// [`global_get`](Settings::global_get) as a float ([`to_float`]).
    pub fn global_get_float(&self, path: &[&str]) -> Option<f64> {
        to_float(&self.global_get(path)?)
    }

    /// [`global_get`](Settings::global_get) as a boolean ([`to_bool`]).
    pub fn global_get_boolean(&self, path: &[&str]) -> Option<bool> {
        self.global_get(path).map(|v| to_bool(&v))
    }

    /// [`global_get`](Settings::global_get) as text; `None` when missing or
    /// not a string.
    pub fn global_get_str(&self, path: &[&str]) -> Option<String> {
        as_string(self.global_get(path)?)
    }

    /// [`global_get`](Settings::global_get) read into `T`, as
    /// [`get_as`](Settings::get_as).
    pub fn global_get_as<T: DeserializeOwned>(&self, path: &[&str]) -> Option<T> {
        self.typed(path, self.global_get(path)?)
    }

    /// Sets a value of the host's whole config (OctoPrint's `global_set`).
    /// The defaults are the host's keys (`plinth config keys`): a value
    /// equal to a key's default removes the stored one, and a path that is
    /// neither a host key nor stored is not written unless
    /// [`global_set_forced`](Settings::global_set_forced). Host keys are
    /// checked: a value a key does not accept is an error naming the key.
    /// Not saved until [`save`](Settings::save).
    pub fn global_set(&self, path: &[&str], value: impl Into<Value>) -> Result<(), HostError> {
        self.host
            .call::<services::SettingsGlobalSet>(&(owned(path), value.into(), self.force))
    }

    /// [`global_set`](Settings::global_set) with OctoPrint's `force=True`:
    /// stored as given in every case.
    pub fn global_set_forced(
        &self,
        path: &[&str],
        value: impl Into<Value>,
    ) -> Result<(), HostError> {
        self.forced().global_set(path, value)
    }

    /// [`global_set`](Settings::global_set) of a value converted as
    /// OctoPrint's `global_set_int` converts it.
    pub fn global_set_int(
        &self,
        path: &[&str],
        value: impl Into<Value>,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), HostError> {
        self.global_set(path, converted_int(path, value.into(), min, max)?)
    }

    /// [`global_set`](Settings::global_set) of a value converted as
    /// OctoPrint's `global_set_float` converts it.
    pub fn global_set_float(
        &self,
        path: &[&str],
        value: impl Into<Value>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<(), HostError> {
        self.global_set(path, converted_float(path, value.into(), min, max)?)
    }

    /// [`global_set`](Settings::global_set) of a value converted as
    /// OctoPrint's `global_set_boolean` converts it.
    pub fn global_set_boolean(
        &self,
        path: &[&str],
        value: impl Into<Value>,
    ) -> Result<(), HostError> {
        self.global_set(path, converted_bool(value.into()))
    }

    /// Removes a value of the host's config (OctoPrint's `global_remove`).
    pub fn global_remove(&self, path: &[&str]) -> Result<(), HostError> {
        self.host
            .call::<services::SettingsGlobalRemove>(&owned(path))
    }

    /// The absolute path of a base folder, created when missing (OctoPrint's
    /// `global_get_basefolder("logs")` is `global_get_basefolder(BaseFolder::Logs)`).
    pub fn global_get_basefolder(&self, folder: BaseFolder) -> Result<PathBuf, HostError> {
        self.host
            .call::<services::BaseFolderPath>(&folder)
            .map(PathBuf::from)
    }

    /// Where the plugin's own log file goes: `plugin_<id>.log`, or
    /// `plugin_<id>_<postfix>.log`, in the `logs` base folder (created), as
    /// OctoPrint's `get_plugin_logfile_path(postfix)`. The plugin writes it
    /// itself; its [`Logger`](crate::Logger) lines go to the host's log.
    pub fn get_plugin_logfile_path(&self, postfix: Option<&str>) -> Result<PathBuf, HostError> {
        let folder = self.global_get_basefolder(BaseFolder::Logs)?;
        let id = self.host.identifier();
        Ok(folder.join(match postfix {
            Some(postfix) => format!("plugin_{id}_{postfix}.log"),
            None => format!("plugin_{id}.log"),
        }))
    }
}

/// OctoPrint's `set_int` conversion: null stays null; else [`to_int`],
/// clamped.
fn converted_int(
    path: &[&str],
    value: Value,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<Value, HostError> {
    if value.is_null() {
        return Ok(value);
    }
    let v = to_int(&value).ok_or_else(|| {
        HostError::Failed(format!("{}: {value} is not a whole number", path.join(".")))
    })?;
    Ok(Value::from(
        v.max(min.unwrap_or(i64::MIN)).min(max.unwrap_or(i64::MAX)),
    ))
}

/// OctoPrint's `set_float` conversion: null stays null; else [`to_float`],
/// clamped.
fn converted_float(
    path: &[&str],
    value: Value,
    min: Option<f64>,
    max: Option<f64>,
) -> Result<Value, HostError> {
    if value.is_null() {
        return Ok(value);
    }
    let mut v = to_float(&value)
        .ok_or_else(|| HostError::Failed(format!("{}: {value} is not a number", path.join("."))))?;
    if let Some(min) = min {
        v = v.max(min);
    }
    if let Some(max) = max {
        v = v.min(max);
    }
    Ok(Value::from(v))
}

/// OctoPrint's `set_boolean` conversion: null and booleans as they are; a
/// string is true when it is `true`, `yes`, `y` or `1` in any case (not
/// trimmed); anything else, numbers included, is false.
fn converted_bool(value: Value) -> Value {
    match value {
        Value::Null | Value::Bool(_) => value,
        Value::String(s) => Value::Bool(matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "yes" | "y" | "1"
        )),
        _ => Value::Bool(false),
    }
}

/// OctoPrint's integer conversion: integers as they are, floats truncated,
/// booleans as 0 or 1, strings parsed; anything else is `None`.
pub fn to_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// OctoPrint's float conversion: numbers, booleans as 0 or 1, strings parsed; else `None`.
pub fn to_float(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// OctoPrint's boolean conversion: `true` for true, for the strings `true`,
/// `yes`, `y` and `1` (any case), for non-zero numbers and for lists and
/// mappings; `false` for null, other strings, and zero.
pub fn to_bool(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "y" | "1"
        ),
        Value::Null => false,
        // As OctoPrint: any other value is true (`value is not None`).
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_boolean_converts_as_octoprints_set_boolean() {
        for (given, stored) in [
            (json!(null), json!(null)),
            (json!(true), json!(true)),
            (json!("Yes"), json!(true)),
            (json!("1"), json!(true)),
            (json!(" true"), json!(false)),
            (json!("no"), json!(false)),
            (json!(1), json!(false)),
            (json!([1]), json!(false)),
        ] {
            assert_eq!(converted_bool(given.clone()), stored, "{given}");
        }
    }

    #[test]
    fn conversions_as_octoprint_does_them() {
        assert_eq!(to_int(&json!(23)), Some(23));
        assert_eq!(to_int(&json!(2.9)), Some(2));
        assert_eq!(to_int(&json!(" 42 ")), Some(42));
        assert_eq!(to_int(&json!("4.2")), None);
        assert_eq!(to_int(&json!(true)), Some(1));
        assert_eq!(to_int(&json!([1])), None);
        assert_eq!(to_float(&json!("2.5")), Some(2.5));
        assert_eq!(to_float(&json!("x")), None);
        for t in [
            json!(true),
            json!("yes"),
            json!("Y"),
            json!("1"),
            json!("TRUE"),
            json!(2),
            json!(-0.5),
        ] {
            assert!(to_bool(&t), "{t}");
        }
        assert!(to_bool(&json!({})) && to_bool(&json!([])));
        for f in [
            json!(false),
            json!("no"),
            json!("0"),
            json!(""),
            json!(0),
            json!(null),
        ] {
            assert!(!to_bool(&f), "{f}");
        }
    }
}
