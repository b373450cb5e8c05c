//! The host's own static files, compiled into the binary and served under
//! `/static/`: the page's script and styles, and the client library with
//! every AssetPlugin's `clientjs` files appended.

use crate::PluginManager;

/// The page's script.
pub const PLINTH_JS: &str = include_str!("../../web/static/plinth.js");
/// The page's styles.
pub const PLINTH_CSS: &str = include_str!("../../web/static/plinth.css");
/// The core of the client library.
pub const CLIENT_JS: &str = include_str!("../../web/static/client.js");
/// The icon, also served at `/favicon.ico`.
pub const FAVICON_SVG: &str = include_str!("../../web/static/favicon.svg");

/// A host static file by name: its bytes. `client.js` is assembled afresh.
pub fn file(manager: &PluginManager, name: &str) -> Option<Vec<u8>> {
    match name {
        "plinth.js" => Some(PLINTH_JS.as_bytes().to_vec()),
        "plinth.css" => Some(PLINTH_CSS.as_bytes().to_vec()),
        "client.js" => Some(client_library(manager).into_bytes()),
        "favicon.svg" => Some(FAVICON_SVG.as_bytes().to_vec()),
        _ => None,
    }
}

/// The client library: the core, then each AssetPlugin's `clientjs` files in
/// plugin order, each under a comment naming it. A file that cannot be read
/// is named in a comment and left out.
pub fn client_library(manager: &PluginManager) -> String {
    let mut out = String::from(CLIENT_JS);
    for (id, path) in super::sources::assets(manager).clientjs {
        let safe_path = path.replace("*/", "* /");
        match super::sources::read_asset(manager, &id, &path) {
            Some(bytes) => {
                out.push_str(&format!("\n/* plugin {id}: {safe_path} */\n"));
                out.push_str(&String::from_utf8_lossy(&bytes));
                out.push('\n');
            }
            None => {
                tracing::warn!("plugin {id}: clientjs file {path} not found");
                out.push_str(&format!("\n/* plugin {id}: {safe_path} not found */\n"));
            }
        }
    }
    out
}
