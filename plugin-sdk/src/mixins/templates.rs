//! TemplatePlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// Injects Jinja2 templates into the web interface (navbar, sidebar, tab,
/// settings, usersettings, wizard, webcam, about, generic). Reload-needing.
///
/// Without configuration, a template of each type is looked for under its
/// default name, `<id>_<type>.jinja2` (`<id>.jinja2` for generic), in the
/// template folder or among the files compiled into the library (`templates/<name>`).
///
/// Templates are Jinja2 (rendered by minijinja, HTML autoescaping on). They see
/// the page's render arguments (`debug`, `firstRun`, `version`,
/// `display_version`, `pluginNames`, `supportedExtensions`, …) and every
/// plugin's variables as `plugin_<id>_<name>`. The host wraps each component
/// (div id `<type>_plugin_<id><suffix>`); the template supplies the content.
/// In the page, `data-bind="value: settings.plugins.<id>.<key>"` (also
/// `checked:` and `text:`) binds an element to the plugin's settings; the
/// settings dialog and the wizard save bound inputs. A template that fails to
/// render is replaced by an error box; the rest of the page is unaffected.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `TemplatePlugin`, but `Template` is in its export_plugin! `mixins:` list",
    label = "implement `TemplatePlugin` for `{Self}`, or remove `Template` from `mixins:`"
)]
pub trait TemplatePlugin: Plugin {
    /// Template configurations: objects with `type` and optionally `name`,
    /// `template`, `suffix`, `div`, `replaces`, `custom_bindings`, `data_bind`,
    /// `classes`, `styles` and the type-specific keys of the seed. A configured
    /// type replaces that type's implicit default template.
    fn get_template_configs(&self) -> Vec<Value> {
        Vec::new()
    }

    /// The folder holding the templates; `None` (default) means `<base folder>/templates`.
    /// A relative path is taken from the plugin's base folder.
    fn get_template_folder(&self) -> Option<String> {
        None
    }

    /// Variables available to the templates as `plugin_<id>_<name>`.
    fn get_template_vars(&self) -> Value {
        Value::Object(Map::new())
    }
}

mixin_marker!(Template, TemplatePlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        GetTemplateConfigs::ID => serve::<GetTemplateConfigs>(args, |()| p.get_template_configs()),
        GetTemplateFolder::ID => serve::<GetTemplateFolder>(args, |()| p.get_template_folder()),
        GetTemplateVars::ID => serve::<GetTemplateVars>(args, |()| p.get_template_vars()),
        _ => CallOutcome::Unsupported,
    }
});
