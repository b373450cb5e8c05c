//! Sorting keys: config overrides, and the order of hook handlers.
//!
//! As in OctoPrint, a hook order of 0 counts as none (1000), and a
//! `_sortingOrder` override of 0 is ignored; a sorting key of 0 that a
//! plugin returns for a mixin's context stays 0.

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

/// `plugins._sortingOrder.<id>.<context>`, if set to anything but 0
/// (OctoPrint ignores an override of 0).
pub fn override_for(
    overrides: &BTreeMap<String, BTreeMap<String, i64>>,
    id: &str,
    context: &str,
) -> Option<i64> {
    overrides.get(id)?.get(context).copied().filter(|o| *o != 0)
}

/// The order of plugin `id`'s handler of `hook`: the config override, else the
/// order it registered with, else 1000. An order of 0, registered or in the
/// config, counts as none (as in OctoPrint, where a falsy order is the
/// default).
pub fn hook_order(
    overrides: &BTreeMap<String, BTreeMap<String, i64>>,
    id: &str,
    hook: &str,
    registered: Option<i64>,
) -> i64 {
    override_for(overrides, id, hook)
        .or(registered.filter(|o| *o != 0))
        .unwrap_or(DEFAULT_ORDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_no_order_and_overrides_win() {
        let mut o = BTreeMap::new();
        o.insert("b".to_owned(), BTreeMap::from([("h".to_owned(), 0)]));
        o.insert("c".to_owned(), BTreeMap::from([("h".to_owned(), -3)]));
        assert_eq!(hook_order(&o, "a", "h", Some(0)), DEFAULT_ORDER);
        assert_eq!(hook_order(&o, "a", "h", Some(-1)), -1);
        assert_eq!(hook_order(&o, "a", "h", None), DEFAULT_ORDER);
        assert_eq!(
            hook_order(&o, "b", "h", Some(5)),
            5,
            "an override of 0 is ignored"
        );
        assert_eq!(hook_order(&o, "c", "h", Some(5)), -3);
        assert_eq!(override_for(&o, "b", "h"), None);
        assert_eq!(override_for(&o, "b", "other"), None);
    }
}
