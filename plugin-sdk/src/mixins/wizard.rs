//! WizardPlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// A wizard dialog (its template comes through [`TemplatePlugin`](crate::TemplatePlugin))
/// shown when [`is_wizard_required`](WizardPlugin::is_wizard_required) is true and the
/// wizard was not yet seen in its current version ([`is_wizard_ignored`]). Reload-needing.
///
/// The host keeps the version seen per plugin in its config
/// (`server.seenWizards.<id>`). Steps are shown mandatory first (the wizard
/// template's `mandatory` key), then by name; the page's view models get the
/// details in `onWizardDetails({"<id>": {"details": …}})`.
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

/// The seed's `is_wizard_ignored` table: whether a wizard of version `current`
/// is ignored, given what was seen. `seen` is `None` when the wizard was never
/// finished, `Some(v)` when it was finished in version `v` (itself possibly `None`).
///
/// A wizard is ignored when the versions are identical, when the current
/// version is `None` and the seen one is not, or when the seen version is not
/// `None` and the current one is less than or equal to it.
pub fn is_wizard_ignored(seen: Option<Option<i64>>, current: Option<i64>) -> bool {
    let Some(seen) = seen else { return false };
    match (seen, current) {
        (s, c) if s == c => true,
        (Some(_), None) => true,
        (Some(s), Some(c)) => c <= s,
        (None, Some(_)) => false,
        (None, None) => true,
    }
}

mixin_marker!(Wizard, WizardPlugin, 9, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        IsWizardRequired::ID => serve::<IsWizardRequired>(args, |()| p.is_wizard_required()),
        GetWizardVersion::ID => serve::<GetWizardVersion>(args, |()| p.get_wizard_version()),
        GetWizardDetails::ID => serve::<GetWizardDetails>(args, |()| p.get_wizard_details()),
        OnWizardFinish::ID => serve::<OnWizardFinish>(args, |h| p.on_wizard_finish(h)),
        _ => CallOutcome::Unsupported,
    }
});

#[cfg(test)]
mod tests {
    use super::is_wizard_ignored;

    #[test]
    fn the_seeds_table_cell_by_cell() {
        // Never finished: always shown.
        for current in [None, Some(1), Some(2)] {
            assert!(!is_wizard_ignored(None, current));
        }
        // Rows: seen N, 1, 2; columns: current N, 1, 2 ("." ignored, "X" shown).
        let table = [
            (None, [true, false, false]),
            (Some(1), [true, true, false]),
            (Some(2), [true, true, true]),
        ];
        for (seen, row) in table {
            for (current, ignored) in [None, Some(1), Some(2)].into_iter().zip(row) {
                assert_eq!(
                    is_wizard_ignored(Some(seen), current),
                    ignored,
                    "seen {seen:?} current {current:?}"
                );
            }
        }
    }
}
