//! Where the page's parts come from: each enabled TemplatePlugin's template
//! configurations, variables and template files, and each AssetPlugin's
//! assets, with the files whose changes must invalidate a cached page.
//!
//! A template named `n` of plugin `p` is the file `n` in the plugin's template
//! folder (`get_template_folder`, else `templates/` beside a plugin in its own
//! folder), else the file `templates/n` compiled into its library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plinth_abi::methods::plugin as m;
use plinth_abi::Value;

use super::injection::{default_template, TEMPLATE_TYPES};
use crate::server::http::assets::{asset_folder, file_within, template_folder};
use crate::{PluginInfo, PluginManager};
use plinth_abi::Mixin;

/// One enabled TemplatePlugin.
#[derive(Debug, Clone)]
pub struct TemplatePlugin {
    pub id: String,
    /// The display name.
    pub name: String,
    /// What `get_template_configs` returned (empty when the call failed).
    pub configs: Vec<Value>,
    /// What `get_template_vars` returned (an object, else empty).
    pub vars: serde_json::Map<String, Value>,
    /// The template folder, if the plugin has one.
    pub folder: Option<PathBuf>,
    /// The plugin's library file (tracked for compiled-in templates).
    pub library: PathBuf,
    /// The names among the default and configured templates that exist.
    pub files: BTreeSet<String>,
}

/// The assets of the enabled AssetPlugins, in plugin order, as URLs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Assets {
    pub js: Vec<String>,
    pub css: Vec<String>,
    pub less: Vec<String>,
    /// `clientjs`: (plugin, path below its asset folder).
    #[serde(skip)]
    pub clientjs: Vec<(String, String)>,
    /// The files behind all of them, for cache invalidation.
    #[serde(skip)]
    pub tracked: Vec<PathBuf>,
}

impl Assets {
    /// The URL of each plugin's part of the client library, in plugin order.
    pub fn client_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for (id, _) in &self.clientjs {
            let url = super::statics::client_part_url(id);
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        urls
    }
}

/// The enabled TemplatePlugins in plugin order. A plugin whose calls fail is
/// kept without configurations or variables (and logged).
pub fn template_plugins(manager: &PluginManager) -> Vec<TemplatePlugin> {
    manager
        .implementations(Mixin::Template, None)
        .into_iter()
        .filter_map(|(id, _)| manager.plugin(&id))
        .map(|info| template_plugin(manager, &info))
        .collect()
}

fn template_plugin(manager: &PluginManager, info: &PluginInfo) -> TemplatePlugin {
    let id = info.id.clone();
    let configs = manager
        .call::<m::GetTemplateConfigs>(&id, &())
        .unwrap_or_else(|e| {
            tracing::warn!("plugin {id}: get_template_configs failed: {e}");
            Vec::new()
        });
    let vars = match manager.call::<m::GetTemplateVars>(&id, &()) {
        Ok(Value::Object(vars)) => vars,
        Ok(Value::Null) => Default::default(),
        Ok(other) => {
            tracing::warn!("plugin {id}: get_template_vars must return an object, not {other}");
            Default::default()
        }
        Err(e) => {
            tracing::warn!("plugin {id}: get_template_vars failed: {e}");
            Default::default()
        }
    };
    let folder = template_folder(manager, info);
    let mut plugin = TemplatePlugin {
        id,
        name: info.name.clone(),
        configs,
        vars,
        folder,
        library: info.path.clone(),
        files: BTreeSet::new(),
    };
    let mut candidates: BTreeSet<String> = TEMPLATE_TYPES
        .iter()
        .map(|kind| default_template(&plugin.id, kind))
        .collect();
    for config in &plugin.configs {
        for key in ["template", "template_header"] {
            if let Some(name) = config.get(key).and_then(Value::as_str) {
                candidates.insert(name.to_owned());
            }
        }
    }
    plugin.files = candidates
        .into_iter()
        .filter(|name| find_template(manager, &plugin, name).is_some())
        .collect();
    plugin
}

/// Where a template of a plugin is.
pub enum Found {
    /// A file in the template folder.
    File(PathBuf),
    /// Compiled into the library.
    Embedded(std::borrow::Cow<'static, [u8]>),
}

/// Finds template `name` of `plugin`; `None` when it has none by that name or
/// the name could lead out of its folder.
pub fn find_template(
    manager: &PluginManager,
    plugin: &TemplatePlugin,
    name: &str,
) -> Option<Found> {
    if !safe_name(name) {
        return None;
    }
    if let Some(file) = plugin
        .folder
        .as_deref()
        .and_then(|folder| file_within(folder, Path::new(name)))
    {
        return Some(Found::File(file));
    }
    manager
        .embedded_file(&plugin.id, &format!("templates/{name}"))
        .map(Found::Embedded)
}

/// A relative path of plain segments (`a/b.jinja2`), nothing that climbs out.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The files behind a plugin's templates: its library (for compiled-in
/// templates) and every file in its template folder (templates include and
/// import each other; OctoPrint tracks the whole folder too), at most
/// [`MAX_TRACKED`] of them.
pub fn tracked_templates(plugin: &TemplatePlugin) -> Vec<PathBuf> {
    let mut files = vec![plugin.library.clone()];
    if let Some(folder) = &plugin.folder {
        files.extend(
            walkdir::WalkDir::new(folder)
                .max_depth(4)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .take(MAX_TRACKED)
                .map(walkdir::DirEntry::into_path),
        );
    }
    files
}

/// How many files of one template folder are tracked at most.
pub const MAX_TRACKED: usize = 1000;

/// The assets of every enabled AssetPlugin, in plugin order. Paths that
/// could leave the asset folder are skipped (and logged).
pub fn assets(manager: &PluginManager) -> Assets {
    let mut out = Assets::default();
    for (id, _) in manager.implementations(Mixin::Asset, None) {
        let Some(info) = manager.plugin(&id) else {
            continue;
        };
        let listed: BTreeMap<String, Vec<String>> = match manager.call::<m::GetAssets>(&id, &()) {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!("plugin {id}: get_assets failed: {e}");
                continue;
            }
        };
        let folder = asset_folder(manager, &info);
        for (kind, paths) in listed {
            for path in paths {
                if !safe_name(&path) {
                    tracing::warn!(
                        "plugin {id}: asset path {path:?} is not a plain relative path; skipped"
                    );
                    continue;
                }
                let url = format!("/plugin/{id}/static/{}", encode_path(&path));
                match kind.as_str() {
                    "js" => out.js.push(url),
                    "css" => out.css.push(url),
                    "less" => out.less.push(url),
                    "clientjs" => out.clientjs.push((id.clone(), path.clone())),
                    other => {
                        tracing::warn!("plugin {id}: unknown asset type {other:?} (use js, clientjs, css or less); skipped");
                        continue;
                    }
                }
                let file = folder.as_ref().map(|f| f.join(&path));
                out.tracked.push(match file {
                    Some(file) if file.is_file() => file,
                    _ => info.path.clone(),
                });
            }
        }
    }
    out
}

/// Percent-encodes what a URL path segment cannot hold as is.
fn encode_path(path: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(path, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::{encode_path, safe_name};

    #[test]
    fn names_stay_inside() {
        assert!(safe_name("a_tab.jinja2"));
        assert!(safe_name("sub/a.jinja2"));
        for bad in ["", "../a", "a/../b", "/etc/passwd", "a//b", "./a", "a\\b"] {
            assert!(!safe_name(bad), "{bad}");
        }
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(encode_path("js/my file.js"), "js/my%20file.js");
        assert_eq!(encode_path("css/a-b_c.css"), "css/a-b_c.css");
    }
}
