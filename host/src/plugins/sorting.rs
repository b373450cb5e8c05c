//! Sorting keys: config overrides, and the order of hook handlers.
//!
//! Unlike OctoPrint, an order or override of 0 stays 0.

use std::collections::BTreeMap;

/// The default sorting key and hook order.
pub const DEFAULT_ORDER: i64 = 1000;

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
