//! Hooks and helpers without any mixin (`mixins: []`).
//!
//! Everything this plugin offers is registered in [`Plugin::register`]:
//! - the helper `shout`, which other plugins call with
//!   `host.call_helper("wordsmith", "shout", json!({"text": "…"}))` and which
//!   answers the upper-cased text as a JSON string (an error when `text` is
//!   missing or not a string);
//! - a handler of the hook `sample.greeting` with order 10, answering
//!   `"wordsmith says hello"`. The `greeter` sample calls that hook.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct Wordsmith {
    host: Host,
}

impl Plugin for Wordsmith {
    fn new(host: Host) -> Self {
        Wordsmith { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn register(&self, registry: &mut Registry<Self>) {
        registry
            .helper("shout", Self::shout)
            .hook("sample.greeting", Some(10), Self::greeting);
    }
}

impl Wordsmith {
    /// The helper `shout`: `{"text": "…"}` → the text in upper case.
    fn shout(&self, args: &Value) -> PluginResult<Value> {
        match args.get("text") {
            Some(Value::String(text)) => Ok(Value::String(text.to_uppercase())),
            Some(_) => Err(PluginError::new("`text` must be a string")),
            None => Err(PluginError::new("missing argument `text`")),
        }
    }

    /// The handler of the hook `sample.greeting`.
    fn greeting(&self, _args: &Value) -> PluginResult<Value> {
        Ok(json!("wordsmith says hello"))
    }
}

export_plugin! {
    plugin: Wordsmith,
    name: "Wordsmith",
    description: "Exposes the helper `shout` and answers the hook `sample.greeting`.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [],
}
