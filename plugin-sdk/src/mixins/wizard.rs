//! WizardPlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// A wizard dialog (its template comes through [`TemplatePlugin`](crate::TemplatePlugin))
/// shown when [`is_wizard_required`](WizardPlugin::is_wizard_required) is true and the
/// wizard was not yet seen in its current version ([`is_wizard_ignored`](crate::is_wizard_ignored)). Reload-needing.
///
/// The host keeps the version seen per plugin in its config
/// (`server.seenWizards.<id>`). Steps are shown mandatory first (the wizard
/// template's `mandatory` key), then by name; the page's view models get the
/// details in `onWizardDetails({"<id>": {"details": …}})`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `WizardPlugin`, but `Wizard` is in its export_plugin! `mixins:` list",
    label = "implement `WizardPlugin` for `{Self}`, or remove `Wizard` from `mixins:`"
)]
pub trait WizardPlugin: Plugin {
    /// Whether the wizard must be shown (default `false`).
    fn is_wizard_required(&self) -> bool {
        false
    }

    /// The wizard's version; raise it to show the wizard again. `None` by default.
    fn get_wizard_version(&self) -> Option<i64> {
        None
    }

    /// Data handed to the wizard's view model.
    fn get_wizard_details(&self) -> Value {
        Value::Object(Map::new())
    }

    /// Called when the user finishes a wizard session; `handled` tells whether
    /// this plugin's wizard was part of it.
    fn on_wizard_finish(&self, handled: bool) {
        let _ = handled;
    }
}

mixin_marker!(Wizard, WizardPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        IsWizardRequired::ID => serve::<IsWizardRequired>(args, |()| p.is_wizard_required()),
        GetWizardVersion::ID => serve::<GetWizardVersion>(args, |()| p.get_wizard_version()),
        GetWizardDetails::ID => serve::<GetWizardDetails>(args, |()| p.get_wizard_details()),
        OnWizardFinish::ID => serve::<OnWizardFinish>(args, |h| p.on_wizard_finish(h)),
        _ => CallOutcome::Unsupported,
    }
});
