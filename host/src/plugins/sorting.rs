//! Sorting keys: config overrides, and the order of hook handlers.
//!
//! Unlike OctoPrint, an order or override of 0 stays 0.

use std::collections::BTreeMap;

/// The default sorting key and hook order.
pub const DEFAULT_ORDER: i64 = 1000;

/// Where implementations of a mixin are sorted (OctoPrint's sorting
/// contexts); a plugin's `get_sorting_key` and the config's
/// `plugins._sortingOrder` name them as [`as_str`](Context::as_str) spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// `StartupPlugin.on_startup`.
    OnStartup,
    /// `StartupPlugin.on_after_startup`.
    OnAfterStartup,
    /// `ShutdownPlugin.on_shutdown`.
    OnShutdown,
    /// `UiPlugin.will_handle_ui`.
    WillHandleUi,
    /// `WebcamProviderPlugin.get_webcam_configurations`.
    WebcamConfigurations,
}

impl Context {
    /// The context's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Context::OnStartup => "StartupPlugin.on_startup",
            Context::OnAfterStartup => "StartupPlugin.on_after_startup",
            Context::OnShutdown => "ShutdownPlugin.on_shutdown",
            Context::WillHandleUi => "UiPlugin.will_handle_ui",
            Context::WebcamConfigurations => "WebcamProviderPlugin.get_webcam_configurations",
        }
    }
}

/// `plugins._sortingOrder.<id>.<context>`, if set.
pub fn override_for(
    overrides: &BTreeMap<String, BTreeMap<String, i64>>,
    id: &str,
    context: &str,
) -> Option<i64> {
    overrides.get(id)?.get(context).copied()
}

/// The order of plugin `id`'s handler of `hook`: the config override, else the
/// order it registered with, else 1000.
pub fn hook_order(
    overrides: &BTreeMap<String, BTreeMap<String, i64>>,
    id: &str,
    hook: &str,
    registered: Option<i64>,
) -> i64 {
    override_for(overrides, id, hook)
        .or(registered)
        .unwrap_or(DEFAULT_ORDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_stays_zero_and_overrides_win() {
        let mut o = BTreeMap::new();
        o.insert("b".to_owned(), BTreeMap::from([("h".to_owned(), 0)]));
        assert_eq!(hook_order(&o, "a", "h", Some(0)), 0);
        assert_eq!(hook_order(&o, "a", "h", None), DEFAULT_ORDER);
        assert_eq!(hook_order(&o, "b", "h", Some(5)), 0);
        assert_eq!(override_for(&o, "b", "other"), None);
    }
}
