//! The "Hello World" plugin of OctoPrint's plugin tutorial, as a Plinth plugin.
//!
//! It shows how one plugin combines several mixins:
//! - [`StartupPlugin`] and [`ShutdownPlugin`]: log lines when the host starts
//!   up and shuts down;
//! - [`SettingsPlugin`]: the seed's `SettingsPlugin` example. Default settings
//!   `some_setting: "foo"`, `some_value: 23` and `sub.some_flag: true`, read
//!   with the typed getters in `on_after_startup`; `on_settings_save` wraps the
//!   SDK's default save to log `sub.some_flag changed from <old> to <new>` when
//!   the flag changes (see [`HelloWorld::on_settings_save`]);
//! - [`TemplatePlugin`]: navbar, tab and settings templates compiled into the
//!   library with `export_plugin!`'s `files` list and found under their default
//!   names (`helloworld_navbar.jinja2`, …), plus a template variable;
//! - [`AssetPlugin`]: a JavaScript view model, a style sheet and a part of the
//!   client library (`OctoPrint.plugins.helloworld`), compiled in too and
//!   served at `/plugin/helloworld/static/…` (the client part as `/static/client/helloworld.js`);
//! - [`SimpleApiPlugin`]: the seed's `SimpleApiPlugin` example, two commands
//!   POSTed to `/api/plugin/helloworld` and a GET resource answering
//!   `{"foo": "bar"}`.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct HelloWorld {
    host: Host,
}

impl Plugin for HelloWorld {
    fn new(host: Host) -> Self {
        HelloWorld { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl StartupPlugin for HelloWorld {
    fn on_startup(&self, host: &str, port: u16) {
        self.host
            .logger()
            .info(format_args!("Hello World! (listening on {host}:{port})"));
    }

    fn on_after_startup(&self) {
        let logger = self.host.logger();
        logger.info("Hello World!");
        let settings = self.host.settings();
        let some_setting = shown(settings.get(&["some_setting"]));
        let some_value = shown(settings.get_int(&["some_value"], None, None));
        let some_flag = shown(settings.get_boolean(&["sub", "some_flag"]));
        logger.info(format_args!(
            "some_setting = {some_setting}, some_value = {some_value}, sub.some_flag = {some_flag}"
        ));
    }
}

impl ShutdownPlugin for HelloWorld {
    fn on_shutdown(&self) {
        self.host.logger().info("Goodbye World!");
    }
}

/// A value for a log line: strings without quotes, `None` for a missing value
/// (as Python's `format` prints it).
fn shown(value: Option<impl Into<Value>>) -> String {
    match value.map(Into::into) {
        Some(Value::String(s)) => s,
        Some(v) => v.to_string(),
        None => "None".to_owned(),
    }
}

impl SettingsPlugin for HelloWorld {
    fn get_settings_defaults(&self) -> Value {
        json!({
            "some_setting": "foo",
            "some_value": 23,
            "sub": {
                "some_flag": true
            }
        })
    }

    /// The seed's example: reads the flag, saves with the default
    /// implementation ([`Settings::default_on_settings_save`], Python's
    /// `octoprint.plugin.SettingsPlugin.on_settings_save(self, data)`), reads the
    /// flag again and logs a change. Returns what the default save returns: the
    /// settings that differ from the defaults.
    fn on_settings_save(&self, data: &Value) -> PluginResult<Value> {
        let settings = self.host.settings();
        let old_flag = settings.get_boolean(&["sub", "some_flag"]);
        let saved = settings
            .default_on_settings_save(data)
            .map_err(|e| PluginError::new(e.to_string()))?;
        let new_flag = settings.get_boolean(&["sub", "some_flag"]);
        if old_flag != new_flag {
            let (old_flag, new_flag) = (shown(old_flag), shown(new_flag));
            self.host.logger().info(format_args!(
                "sub.some_flag changed from {old_flag} to {new_flag}"
            ));
        }
        Ok(saved)
    }
}

impl TemplatePlugin for HelloWorld {
    fn get_template_vars(&self) -> Value {
        json!({ "greeting": "Hello World!" })
    }
}

impl AssetPlugin for HelloWorld {
    fn get_assets(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("js".to_owned(), vec!["js/helloworld.js".to_owned()]),
            ("css".to_owned(), vec!["css/helloworld.css".to_owned()]),
            (
                "clientjs".to_owned(),
                vec!["clientjs/helloworld.js".to_owned()],
            ),
        ])
    }
}

impl SimpleApiPlugin for HelloWorld {
    fn get_api_commands(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            ("command1".to_owned(), vec![]),
            ("command2".to_owned(), vec!["some_parameter".to_owned()]),
        ])
    }

    fn on_api_command(&self, command: &str, data: &Value) -> PluginResult<Option<Response>> {
        let logger = self.host.logger();
        match command {
            "command1" => {
                let parameter = if data.get("parameter").is_some() {
                    "set"
                } else {
                    "unset"
                };
                logger.info(format_args!("command1 called, parameter is {parameter}"));
            }
            "command2" => {
                // The host has checked that the mandatory parameter is present.
                let value = match data.get("some_parameter") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "null".to_owned(),
                };
                logger.info(format_args!("command2 called, some_parameter is {value}"));
            }
            _ => {}
        }
        Ok(None)
    }

    fn on_api_get(&self, _request: &Request) -> PluginResult<Option<Response>> {
        Ok(Some(Response::json(&json!({ "foo": "bar" }))))
    }
}

export_plugin! {
    plugin: HelloWorld,
    name: "Hello World",
    description: "The plugin tutorial's Hello World: templates, assets, settings and a simple API.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Startup, Shutdown, Settings, Template, Asset, SimpleApi],
    files: {
        "templates/helloworld_navbar.jinja2" => include_bytes!("../templates/helloworld_navbar.jinja2"),
        "templates/helloworld_tab.jinja2" => include_bytes!("../templates/helloworld_tab.jinja2"),
        "templates/helloworld_settings.jinja2" => include_bytes!("../templates/helloworld_settings.jinja2"),
        "static/js/helloworld.js" => include_bytes!("../static/js/helloworld.js"),
        "static/css/helloworld.css" => include_bytes!("../static/css/helloworld.css"),
        "static/clientjs/helloworld.js" => include_bytes!("../static/clientjs/helloworld.js"),
    },
}
