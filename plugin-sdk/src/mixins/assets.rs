//! AssetPlugin.

use std::collections::BTreeMap;

use super::{mixin_marker, serve};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;

/// Static assets (JavaScript, CSS, LESS) embedded into the host's pages, served at
/// `/plugin/<id>/static/<path>`. Restart-needing.
///
/// Files are looked up in the asset folder first, then among the files compiled
/// into the library with `export_plugin!`'s `files` list (`static/<path>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `AssetPlugin`, but `Asset` is in its export_plugin! `mixins:` list",
    label = "implement `AssetPlugin` for `{Self}`, or remove `Asset` from `mixins:`"
)]
pub trait AssetPlugin: Plugin {
    /// The folder holding the assets; `None` (default) means `<base folder>/static`.
    /// A relative path is taken from the plugin's base folder.
    fn get_asset_folder(&self) -> Option<String> {
        None
    }

    /// The assets by type (`js`, `clientjs`, `css`, `less`), each a list of paths
    /// relative to the asset folder.
    fn get_assets(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::new()
    }
}

mixin_marker!(Asset, AssetPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        GetAssetFolder::ID => serve::<GetAssetFolder>(args, |()| p.get_asset_folder()),
        GetAssets::ID => serve::<GetAssets>(args, |()| p.get_assets()),
        _ => CallOutcome::Unsupported,
    }
});
