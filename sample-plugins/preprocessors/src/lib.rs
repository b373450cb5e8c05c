//! Settings preprocessors: the seed's `get_settings_preprocessors` example.
//!
//! The defaults are `some_key: "Some_Value"` and `some_other_key: "Some_Value"`.
//! - The getter preprocessor of `some_key` upper-cases it whenever it is read
//!   through the settings handle: `settings.get(&["some_key"])` is
//!   `"SOME_VALUE"`, whatever case is stored.
//! - `some_other_key` has no getter, so it reads as stored: `"Some_Value"`.
//! - The setter preprocessor of `some_other_key` lower-cases it before it is
//!   stored: after `settings.set(&["some_other_key"], "SOME_OTHER_VALUE")` it
//!   reads `"some_other_value"`.
//!
//! Preprocessors run inside the plugin, on the paths they are registered for.
//! Everything else is the SDK's default behaviour (no settings version, no
//! restricted paths, default load, save and clean-up), which makes this plugin
//! the reference for those defaults too.
//!
//! To let others see the settings through the plugin's own handle (with the
//! preprocessors applied), it offers two helpers:
//! - `get`: the argument is a path (`["some_key"]`); answers
//!   `settings.get(path)`, null when there is no value;
//! - `set`: the argument is `{"path": [...], "value": ...}`; calls
//!   `settings.set(path, value)` (not saved to disk) and answers null.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct Preprocessing {
    host: Host,
}

impl Plugin for Preprocessing {
    fn new(host: Host) -> Self {
        Preprocessing { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn register(&self, registry: &mut Registry<Self>) {
        registry.helper("get", Self::get).helper("set", Self::set);
    }
}

/// A path given as a JSON list of keys.
fn path_of(value: Option<&Value>) -> PluginResult<Vec<&str>> {
    value
        .and_then(Value::as_array)
        .and_then(|keys| keys.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| PluginError::new("the path must be a list of strings"))
}

impl Preprocessing {
    /// The helper `get`: `["some_key"]` → the value the plugin reads there.
    fn get(&self, args: &Value) -> PluginResult<Value> {
        let path = path_of(Some(args))?;
        Ok(self.host.settings().get(&path).unwrap_or(Value::Null))
    }

    /// The helper `set`: `{"path": ["some_other_key"], "value": "…"}` sets the value.
    fn set(&self, args: &Value) -> PluginResult<Value> {
        let path = path_of(args.get("path"))?;
        let value = args.get("value").cloned().unwrap_or(Value::Null);
        self.host
            .settings()
            .set(&path, value)
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(Value::Null)
    }
}

/// Upper-cases a string; other values pass unchanged.
fn upper(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_uppercase()),
        other => other,
    }
}

/// Lower-cases a string; other values pass unchanged.
fn lower(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other,
    }
}

impl SettingsPlugin for Preprocessing {
    fn get_settings_defaults(&self) -> Value {
        json!({
            "some_key": "Some_Value",
            "some_other_key": "Some_Value"
        })
    }

    fn get_settings_preprocessors(&self) -> Preprocessors {
        Preprocessors::new()
            .getter(&["some_key"], upper)
            .setter(&["some_other_key"], lower)
    }
}

export_plugin! {
    plugin: Preprocessing,
    name: "Settings Preprocessors",
    description: "The seed's settings preprocessors example: some_key reads upper-cased, some_other_key is stored lower-cased.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Settings],
}
