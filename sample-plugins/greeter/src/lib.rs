//! Calling hooks and other plugins' helpers through the [`Host`].
//!
//! The plugin answers the hook `sample.greeting` itself (order 20, so after
//! the `wordsmith` sample's order 10). Once the host is listening
//! ([`StartupPlugin::on_after_startup`]) it calls that hook, joins the string
//! answers in order with `", "`, has them upper-cased by the `wordsmith`
//! plugin's helper `shout` and logs the result:
//!
//! ```text
//! greeting: WORDSMITH SAYS HELLO, GREETER SAYS HELLO
//! ```
//!
//! When `wordsmith` is missing or disabled, the helper call fails and the
//! plugin logs a warning instead. Built with the cargo feature `polite`, it
//! says "good day" instead of "hello".

use plinth_sdk::prelude::*;

/// What the plugin answers the hook `sample.greeting` with.
pub const GREETING: &str = if cfg!(feature = "polite") {
    "greeter says good day"
} else {
    "greeter says hello"
};

/// The plugin object.
pub struct Greeter {
    host: Host,
}

impl Plugin for Greeter {
    fn new(host: Host) -> Self {
        Greeter { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }

    fn register(&self, registry: &mut Registry<Self>) {
        registry.hook("sample.greeting", Some(20), Self::greeting);
    }
}

impl Greeter {
    /// The handler of the hook `sample.greeting`.
    fn greeting(&self, _args: &Value) -> PluginResult<Value> {
        Ok(json!(GREETING))
    }
}

impl StartupPlugin for Greeter {
    fn on_after_startup(&self) {
        let logger = self.host.logger();

        let replies = match self.host.call_hook("sample.greeting", json!({})) {
            Ok(replies) => replies,
            Err(e) => {
                logger.warn(format_args!("cannot call the hook sample.greeting: {e}"));
                return;
            }
        };
        let mut greetings = Vec::new();
        for reply in &replies {
            match &reply.result {
                Ok(Value::String(text)) => greetings.push(text.as_str()),
                Ok(other) => logger.debug(format_args!(
                    "ignoring the non-string answer of {}: {other}",
                    reply.plugin
                )),
                Err(e) => logger.warn(format_args!(
                    "the handler of {} for sample.greeting failed: {e}",
                    reply.plugin
                )),
            }
        }
        let joined = greetings.join(", ");

        match self
            .host
            .call_helper("wordsmith", "shout", json!({ "text": joined }))
        {
            Ok(Value::String(text)) => logger.info(format_args!("greeting: {text}")),
            Ok(other) => logger.info(format_args!("greeting: {other}")),
            Err(e) => logger.warn(format_args!(
                "cannot call the helper shout of wordsmith (missing or disabled?): {e}"
            )),
        }
    }
}

export_plugin! {
    plugin: Greeter,
    name: "Greeter",
    description: "Collects the answers to the hook `sample.greeting` and has wordsmith shout them.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Startup],
}
