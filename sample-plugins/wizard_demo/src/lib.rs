//! The seed's `WizardPlugin` example as a Plinth plugin: a plugin that needs
//! the setting `some_key` filled in by the user before it can work, and asks
//! for it with a wizard step.
//!
//! It shows how the mixins behind a wizard work together:
//! - [`SettingsPlugin`]: the default settings are `{"some_key": null}`;
//! - [`WizardPlugin`]: the wizard is required
//!   ([`is_wizard_required`](WizardDemo::is_wizard_required)) while
//!   `some_key` is unset or null (the seed's
//!   `self._settings.get(["some_key"]) is None`), the wizard's version is 1
//!   (raise it to show the wizard again to users who already finished it),
//!   [`get_wizard_details`](WizardDemo::get_wizard_details) hands the view
//!   model `{"some_key_set": bool, "hint": "…"}`, and
//!   [`on_wizard_finish`](WizardDemo::on_wizard_finish) logs the end of a
//!   wizard session and appends `handled=<true|false> some_key=<value or null>`
//!   to `finished.log` in the plugin's data folder
//!   (`<basedir>/data/wizard_demo/finished.log`);
//! - [`TemplatePlugin`]: the wizard step (`wizard_demo_wizard.jinja2`) and a
//!   settings section (`wizard_demo_settings.jinja2`), both found under their
//!   default names among the files compiled into the library. Both bind a text
//!   input to `settings.plugins.wizard_demo.some_key`, so the page saves the
//!   value with the settings when the wizard (or the settings dialog) is done;
//! - [`AssetPlugin`]: a plain-JavaScript view model (`static/js/wizard_demo.js`)
//!   whose `onWizardDetails` shows the hint from the wizard details in the step.

use std::io::Write;
use std::sync::Mutex;

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct WizardDemo {
    host: Host,
    /// Serialises appends to `finished.log`.
    log: Mutex<()>,
}

impl WizardDemo {
    /// The current value of `some_key`; `None` when it is unset or null.
    fn some_key(&self) -> Option<Value> {
        self.host
            .settings()
            .get(&["some_key"])
            .filter(|v| !v.is_null())
    }
}

impl Plugin for WizardDemo {
    fn new(host: Host) -> Self {
        WizardDemo {
            host,
            log: Mutex::new(()),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl SettingsPlugin for WizardDemo {
    fn get_settings_defaults(&self) -> Value {
        json!({ "some_key": null })
    }
}

impl TemplatePlugin for WizardDemo {}

impl AssetPlugin for WizardDemo {
    fn get_assets(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("js".to_owned(), vec!["js/wizard_demo.js".to_owned()])])
    }
}

impl WizardPlugin for WizardDemo {
    /// The seed's check: the wizard is needed while `some_key` is unset.
    fn is_wizard_required(&self) -> bool {
        self.some_key().is_none()
    }

    /// Version 1: users who finished the wizard in version 1 do not see it
    /// again, even if `some_key` is unset later; raising the version shows it
    /// once more.
    fn get_wizard_version(&self) -> Option<i64> {
        Some(1)
    }

    fn get_wizard_details(&self) -> Value {
        wizard_details(self.some_key().is_some())
    }

    fn on_wizard_finish(&self, handled: bool) {
        let line = finish_line(handled, self.some_key().as_ref());
        let logger = self.host.logger();
        logger.info(format_args!("wizard finished: {line}"));
        let _guard = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let appended = self
            .host
            .data_folder()
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("finished.log"))
                    .and_then(|mut f| writeln!(f, "{line}"))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = appended {
            logger.error(format_args!("cannot append to finished.log: {e}"));
        }
    }
}

/// What the wizard's view model receives in `onWizardDetails`, under
/// `wizard_demo.details`.
pub fn wizard_details(some_key_set: bool) -> Value {
    let hint = if some_key_set {
        "some_key is set; nothing to do here."
    } else {
        "Wizard Demo needs a value for some_key: type anything below and finish the wizard."
    };
    json!({ "some_key_set": some_key_set, "hint": hint })
}

/// The line `on_wizard_finish` appends to `finished.log`:
/// `handled=<true|false> some_key=<value>`, strings as they are, other values
/// as JSON, `null` when unset.
pub fn finish_line(handled: bool, some_key: Option<&Value>) -> String {
    let value = match some_key {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "null".to_owned(),
    };
    format!("handled={handled} some_key={value}")
}

export_plugin! {
    plugin: WizardDemo,
    name: "Wizard Demo",
    description: "The WizardPlugin example: a wizard step that asks for some_key until it is set.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Settings, Template, Asset, Wizard],
    files: {
        "templates/wizard_demo_wizard.jinja2" => include_bytes!("../templates/wizard_demo_wizard.jinja2"),
        "templates/wizard_demo_settings.jinja2" => include_bytes!("../templates/wizard_demo_settings.jinja2"),
        "static/js/wizard_demo.js" => include_bytes!("../static/js/wizard_demo.js"),
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_details_say_whether_some_key_is_set_and_give_a_hint() {
        let unset = wizard_details(false);
        assert_eq!(unset["some_key_set"], false);
        assert!(unset["hint"].as_str().unwrap().contains("some_key"));
        let set = wizard_details(true);
        assert_eq!(set["some_key_set"], true);
        assert_ne!(set["hint"], unset["hint"]);
    }

    #[test]
    fn the_finish_line_shows_handled_and_the_value() {
        assert_eq!(finish_line(true, None), "handled=true some_key=null");
        assert_eq!(
            finish_line(false, Some(&json!("abc"))),
            "handled=false some_key=abc"
        );
        assert_eq!(
            finish_line(true, Some(&json!(42))),
            "handled=true some_key=42"
        );
    }

    #[test]
    fn the_templates_bind_some_key_and_the_script_feeds_the_details() {
        let wizard = include_str!("../templates/wizard_demo_wizard.jinja2");
        let settings = include_str!("../templates/wizard_demo_settings.jinja2");
        let binding = r#"data-bind="value: settings.plugins.wizard_demo.some_key""#;
        for (template, id) in [
            (wizard, "wizard_demo_some_key"),
            (settings, "wizard_demo_settings_some_key"),
        ] {
            assert!(template.contains(binding));
            assert!(template.contains(&format!(r#"id="{id}""#)));
            assert!(template.contains(&format!(r#"for="{id}""#)));
        }
        assert!(wizard.contains(r#"<p id="wizard_demo_details"></p>"#));
        let script = include_str!("../static/js/wizard_demo.js");
        assert!(script.contains("OCTOPRINT_VIEWMODELS.push"));
        assert!(script.contains("onWizardDetails"));
        assert!(!script.contains("$("), "no jQuery on the page");
    }
}
