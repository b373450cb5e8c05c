//! The host's own static files, compiled into the binary and served under
//! `/static/`: the page's script and styles, the core client library, and
//! each AssetPlugin's part of the client library (its `clientjs` files).

use plinth_abi::methods::plugin as m;

use crate::PluginManager;

/// The page's script.
pub const PLINTH_JS: &str = include_str!("../../../web/static/plinth.js");
/// The page's styles.
pub const PLINTH_CSS: &str = include_str!("../../../web/static/plinth.css");
/// The core of the client library.
pub const CLIENT_JS: &str = include_str!("../../../web/static/client.js");
/// The page's printer workflow: connection, state, files, temperature, terminal.
pub const PRINTER_JS: &str = include_str!("../../../web/static/printer.js");
/// The settings dialog's core sections: account, users, server, printer,
/// printer profiles, webcams.
pub const SETTINGS_JS: &str = include_str!("../../../web/static/settings.js");
/// The icon, also served at `/favicon.ico`.
pub const FAVICON_SVG: &str = include_str!("../../../web/static/favicon.svg");

/// A host static file by name: its bytes.
pub fn file(name: &str) -> Option<&'static [u8]> {
    match name {
        "plinth.js" => Some(PLINTH_JS.as_bytes()),
        "plinth.css" => Some(PLINTH_CSS.as_bytes()),
        "client.js" => Some(CLIENT_JS.as_bytes()),
        "printer.js" => Some(PRINTER_JS.as_bytes()),
        "settings.js" => Some(SETTINGS_JS.as_bytes()),
        "favicon.svg" => Some(FAVICON_SVG.as_bytes()),
        _ => None,
    }
}

/// The URL of a plugin's part of the client library.
pub fn client_part_url(id: &str) -> String {
    format!("/static/client/{id}.js")
}

/// A plugin's part of the client library: its `clientjs` files in order,
/// each under a comment naming it and inside a `try` block, so that a file
/// that throws stops only itself. Each plugin's part is a file of its own, so
/// that a syntax error in one stops no other plugin's part, and never the
/// page. `None` when the plugin (enabled, an AssetPlugin) has no `clientjs`.
pub fn client_part(manager: &PluginManager, plugin: &str) -> Option<String> {
    let files = manager
        .call::<m::GetAssets>(plugin, &())
        .ok()?
        .remove("clientjs")
        .filter(|files| !files.is_empty())?;
    let mut out = String::new();
    for path in files {
        let shown = path.replace("*/", "* /");
        let found = crate::server::http::assets::find(manager, plugin, std::path::Path::new(&path));
        let Some(bytes) = found.map(|asset| asset.bytes) else {
            tracing::warn!("plugin {plugin}: clientjs file {path} not found");
            out.push_str(&format!("/* plugin {plugin}: {shown} not found */\n"));
            continue;
        };
        let label = serde_json::to_string(&format!("plugin {plugin}: {path}"))
            .expect("a string serialises");
        out.push_str(&format!("/* plugin {plugin}: {shown} */\ntry {{\n"));
        out.push_str(&String::from_utf8_lossy(&bytes));
        out.push_str(&format!(
            "\n}} catch (error) {{\n    console.warn({label}, \"failed:\", error);\n}}\n"
        ));
    }
    Some(out)
}
