//! WizardPlugins: which wizards the page shows, and finishing a wizard session.
//!
//! A wizard is shown when its plugin reports `is_wizard_required` and the
//! wizard is not ignored by the seed's table ([`is_wizard_ignored`]) given the
//! version last seen, which is kept per plugin in the config under
//! `server.seenWizards.<id>` (the version, or null for a wizard without one).

use crate::config::host_settings::SEEN_WIZARDS;
use std::collections::BTreeMap;

use plinth_abi::methods::plugin as m;
use plinth_abi::{is_wizard_ignored, Value};

use crate::config::key_path;
use crate::PluginManager;
use plinth_abi::Mixin;

/// One enabled WizardPlugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Wizard {
    pub id: String,
    /// The plugin's display name.
    pub name: String,
    /// `get_wizard_version`.
    pub version: Option<i64>,
    /// `is_wizard_required` (false when the call fails).
    pub required: bool,
    /// Whether the version was already seen (the seed's table).
    pub ignored: bool,
}

impl Wizard {
    /// Whether the page shows this wizard.
    pub fn shown(&self) -> bool {
        self.required && !self.ignored
    }
}

/// The versions of the wizards finished so far, per plugin.
pub fn seen(manager: &PluginManager) -> BTreeMap<String, Option<i64>> {
    match manager.config().get(&key_path(SEEN_WIZARDS.path)) {
        Some(Value::Object(map)) => map.into_iter().map(|(id, v)| (id, v.as_i64())).collect(),
        _ => BTreeMap::new(),
    }
}

/// Every enabled WizardPlugin in plugin order, with what it reports now.
pub fn wizards(manager: &PluginManager) -> Vec<Wizard> {
    let seen = seen(manager);
    manager
        .implementations(Mixin::Wizard, None)
        .into_iter()
        .map(|(id, _)| {
            let required = manager
                .call::<m::IsWizardRequired>(&id, &())
                .unwrap_or_else(|e| {
                    tracing::warn!("plugin {id}: is_wizard_required failed: {e}");
                    false
                });
            let version = manager
                .call::<m::GetWizardVersion>(&id, &())
                .unwrap_or_else(|e| {
                    tracing::warn!("plugin {id}: get_wizard_version failed: {e}");
                    None
                });
            let ignored = is_wizard_ignored(seen.get(&id).copied(), version);
            let name = manager.plugin(&id).map_or_else(|| id.clone(), |p| p.name);
            Wizard {
                id,
                name,
                version,
                required,
                ignored,
            }
        })
        .collect()
}

/// Ends a wizard session in which the wizards of `handled` were shown: stores
/// the current version of each as seen, then calls `on_wizard_finish(handled)`
/// on every WizardPlugin. (As in OctoPrint, a wizard counts as handled even if
/// the session made it no longer required, as saving its step usually does.)
/// Returns the plugins counted as handled; identifiers that are not enabled
/// WizardPlugins are left out.
pub fn finish(
    manager: &PluginManager,
    handled: &[String],
) -> Result<Vec<String>, crate::config::ConfigError> {
    let all = wizards(manager);
    let done: Vec<&Wizard> = all.iter().filter(|w| handled.contains(&w.id)).collect();
    let config = manager.config();
    for wizard in &done {
        let version = wizard.version.map_or(Value::Null, Value::from);
        config.set(
            [key_path(SEEN_WIZARDS.path), vec![wizard.id.clone()]].concat(),
            version,
        )?;
    }
    config.save()?;
    for wizard in &all {
        let was_handled = done.iter().any(|d| d.id == wizard.id);
        if let Err(e) = manager.call::<m::OnWizardFinish>(&wizard.id, &was_handled) {
            tracing::warn!("plugin {}: on_wizard_finish failed: {e}", wizard.id);
        }
    }
    Ok(done.iter().map(|w| w.id.clone()).collect())
}

/// Details for the page: `get_wizard_details` of a plugin (`{}` when it fails).
pub fn details(manager: &PluginManager, id: &str) -> Value {
    manager
        .call::<m::GetWizardDetails>(id, &())
        .unwrap_or_else(|e| {
            tracing::warn!("plugin {id}: get_wizard_details failed: {e}");
            Value::Object(Default::default())
        })
}
