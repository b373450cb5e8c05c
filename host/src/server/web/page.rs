//! The default page: what goes into it ([`Survey`]), the render keyword
//! arguments (the same ones a UiPlugin gets), and the layout of the injected
//! components per template type around the host's own (core) components.

use std::collections::BTreeMap;
use std::path::PathBuf;

use minijinja::Value as Mj;
use plinth_abi::{json, Value};

use super::injection::{self, Component, Injection, PluginTemplates, TEMPLATE_TYPES};
use super::render::Renderer;
use super::sources::{self, Assets, TemplatePlugin};
use super::wizards::{self, Wizard};
use crate::PluginManager;

/// Everything the page is made of, before rendering.
pub struct Survey {
    pub plugins: Vec<TemplatePlugin>,
    pub injection: Injection,
    pub assets: Assets,
    /// Every enabled WizardPlugin.
    pub wizards: Vec<Wizard>,
    /// No user exists yet: the first-run wizard creates the administrator.
    pub first_run: bool,
    pub debug: bool,
}

impl Survey {
    /// Asks the enabled plugins what they inject.
    pub fn take(manager: &PluginManager, first_run: bool) -> Self {
        let plugins = sources::template_plugins(manager);
        let mut injection = injection::collect(
            &plugins
                .iter()
                .map(|p| PluginTemplates {
                    id: &p.id,
                    name: &p.name,
                    configs: &p.configs,
                    files: &p.files,
                })
                .collect::<Vec<_>>(),
        );
        for problem in &injection.problems {
            tracing::warn!("template injection: {problem}");
        }
        let wizards = wizards::wizards(manager);
        // Only the wizards shown keep their wizard templates.
        if let Some(steps) = injection.components.get_mut("wizard") {
            steps.retain(|c| wizards.iter().any(|w| w.id == c.plugin && w.shown()));
        }
        let debug = crate::config::host_settings::DEBUG.get(manager.config());
        Self {
            assets: sources::assets(manager),
            plugins,
            injection,
            wizards,
            first_run,
            debug,
        }
    }

    /// The wizards shown, in the page's order: those with a wizard step in
    /// step order (mandatory first, then by name), then the others by name.
    pub fn shown_wizards(&self) -> Vec<(&Wizard, Option<&Component>)> {
        let steps = self.injection.page_order("wizard");
        let mut out: Vec<(&Wizard, Option<&Component>)> = Vec::new();
        for step in &steps {
            if let Some(w) = self.wizards.iter().find(|w| w.id == step.plugin) {
                if !out.iter().any(|(o, _)| o.id == w.id) {
                    out.push((w, Some(step)));
                }
            }
        }
        let mut rest: Vec<&Wizard> = self
            .wizards
            .iter()
            .filter(|w| w.shown() && !out.iter().any(|(o, _)| o.id == w.id))
            .collect();
        rest.sort_by_key(|w| w.name.to_lowercase());
        out.extend(rest.into_iter().map(|w| (w, None)));
        out
    }

    /// The asset URLs by type (`js`, `css`, `less`), marked safe for the page.
    pub fn asset_urls(&self) -> Mj {
        let safe = |urls: &[String]| -> Mj {
            urls.iter()
                .map(|u| Mj::from_safe_string(u.clone()))
                .collect::<Vec<_>>()
                .into()
        };
        Mj::from_object(BTreeMap::from([
            ("js".to_owned(), safe(&self.assets.js)),
            ("css".to_owned(), safe(&self.assets.css)),
            ("less".to_owned(), safe(&self.assets.less)),
            ("clientjs".to_owned(), safe(&self.assets.client_urls())),
        ]))
    }

    /// The files whose changes make a cached page stale: every template and
    /// asset (or the library holding it).
    pub fn tracked(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .plugins
            .iter()
            .flat_map(sources::tracked_templates)
            .chain(self.assets.tracked.iter().cloned())
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// The fields the default ETag adds to the tracked files: what changes the
    /// page without changing a file.
    pub fn etag_fields(&self) -> Vec<String> {
        let mut fields = vec![
            format!("firstRun={}", self.first_run),
            format!("debug={}", self.debug),
        ];
        // What the plugins answered: their configurations and variables
        // (which settings often drive) change the page as much as a file does.
        fields.extend(self.plugins.iter().map(|p| {
            format!(
                "template:{}:{}:{}",
                p.id,
                Value::Array(p.configs.clone()),
                Value::Object(p.vars.clone())
            )
        }));
        fields.extend(self.assets.js.iter().map(|u| format!("js:{u}")));
        fields.extend(self.assets.css.iter().map(|u| format!("css:{u}")));
        fields.extend(self.assets.less.iter().map(|u| format!("less:{u}")));
        fields.extend(
            self.assets
                .client_urls()
                .iter()
                .map(|u| format!("clientjs:{u}")),
        );
        fields.extend(
            self.wizards
                .iter()
                .filter(|w| w.shown())
                .map(|w| format!("wizard:{}:{:?}", w.id, w.version)),
        );
        fields
    }

    /// The render keyword arguments shared by every template: OctoPrint's
    /// (`debug`, `firstRun`, `version`, `display_version`, `pluginNames`,
    /// `locales`, `supportedExtensions`), the assets, and every plugin's
    /// template variables as `plugin_<id>_<name>`.
    pub fn kwargs(&self, manager: &PluginManager) -> serde_json::Map<String, Value> {
        let version = env!("CARGO_PKG_VERSION");
        let tree = crate::jobs::uploads::extension_tree(manager);
        let mut extensions: Vec<String> = tree
            .as_object()
            .into_iter()
            .flat_map(|t| t.values())
            .filter_map(Value::as_object)
            .flat_map(|s| s.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect();
        extensions.dedup();
        let mut kwargs = json!({
            "debug": self.debug,
            "firstRun": self.first_run,
            "version": {"number": version, "branch": null, "display": version},
            "display_version": version,
            "pluginNames": self.plugins.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "locales": [],
            "supportedExtensions": extensions,
            "assets": self.assets,
        });
        let map = kwargs.as_object_mut().expect("an object");
        for plugin in &self.plugins {
            for (name, value) in &plugin.vars {
                map.insert(format!("plugin_{}_{name}", plugin.id), value.clone());
            }
        }
        std::mem::take(map)
    }

    /// The components per template type, rendered, in the layout of
    /// [`layout`], as `{type: {"order": [key], "entries": {key: entry}}}`.
    /// With `safe` the rendered HTML is marked safe for the host page; without,
    /// it is plain text (for a UiPlugin's render keyword arguments).
    pub fn templates(&self, renderer: &Renderer, globals: &Mj, safe: bool) -> Mj {
        let mut out: BTreeMap<String, Mj> = BTreeMap::new();
        for kind in TEMPLATE_TYPES {
            let mut order = Vec::new();
            let mut entries: BTreeMap<String, Mj> = BTreeMap::new();
            for slot in layout(&self.injection, kind, self.first_run) {
                match slot {
                    Slot::Core(key, name) => {
                        order.push(key.to_owned());
                        entries.insert(
                            key.to_owned(),
                            Mj::from_serialize(json!({"core": true, "key": key, "name": name})),
                        );
                    }
                    Slot::Plugin(c) => {
                        order.push(c.key.clone());
                        entries.insert(c.key.clone(), entry(renderer, globals, c, safe));
                    }
                }
            }
            out.insert(
                (*kind).to_owned(),
                Mj::from_serialize(BTreeMap::from([
                    ("order", Mj::from_serialize(&order)),
                    ("entries", Mj::from_object(entries)),
                ])),
            );
        }
        Mj::from_object(out)
    }
}

/// One place on the page.
#[derive(Debug, PartialEq)]
pub enum Slot<'a> {
    /// A component of the host: key and name.
    Core(&'static str, &'static str),
    Plugin(&'a Component),
}

/// The host's own components per type, and whether plugin components come
/// before them (navbar: plugins left of the core links).
fn core_components(kind: &str, first_run: bool) -> (&'static [(&'static str, &'static str)], bool) {
    match kind {
        "navbar" => (
            &[
                ("settings", "Settings"),
                ("about", "About"),
                ("login", "Login"),
            ],
            true,
        ),
        "sidebar" => (
            &[
                ("connection", "Connection"),
                ("state", "State"),
                ("files", "Files"),
            ],
            false,
        ),
        "tab" => (
            &[
                ("temperature", "Temperature"),
                ("control", "Control"),
                ("terminal", "Terminal"),
                ("pluginmanager", "Plugin Manager"),
                ("events", "Events"),
            ],
            false,
        ),
        "about" => (&[("about", "About Plinth")], false),
        "webcam" => (&[("snapshot", "Webcam")], false),
        "wizard" if first_run => (&[("firstrun_acl", "Access Control")], false),
        _ => (&[], false),
    }
}

/// The page's order for one template type: core components, with a plugin's
/// component in the place of each core one it replaces, and the other plugin
/// components in [`Injection::page_order`] before or after them.
pub fn layout<'a>(injection: &'a Injection, kind: &str, first_run: bool) -> Vec<Slot<'a>> {
    let (core, plugins_first) = core_components(kind, first_run);
    let core_slots: Vec<Slot<'a>> = core
        .iter()
        .map(|(key, name)| match injection.replacement(kind, key) {
            Some(c) => Slot::Plugin(c),
            None => Slot::Core(key, name),
        })
        .collect();
    let plugin_slots: Vec<Slot<'a>> = injection
        .page_order(kind)
        .into_iter()
        .filter(|c| {
            !core
                .iter()
                .any(|(key, _)| c.replaces.as_deref() == Some(*key))
        })
        .map(Slot::Plugin)
        .collect();
    if plugins_first {
        plugin_slots.into_iter().chain(core_slots).collect()
    } else {
        core_slots.into_iter().chain(plugin_slots).collect()
    }
}

/// One plugin component for the page, rendered. A template that fails to
/// render becomes a visible error box (and a log line); the page still renders.
fn entry(renderer: &Renderer, globals: &Mj, c: &Component, safe: bool) -> Mj {
    let wrap = |html: String| {
        if safe {
            Mj::from_safe_string(html)
        } else {
            Mj::from(html)
        }
    };
    let (html, error) = match renderer.plugin_template(&c.plugin, &c.template, globals) {
        Ok(html) => (html, None),
        Err(e) => {
            tracing::warn!(
                "plugin {}: template {} ({} {}) failed: {e}",
                c.plugin,
                c.template,
                c.kind,
                c.key
            );
            let message = format!("{} failed to render: {e}", c.template);
            (
                format!(
                    "<div class=\"plugin-template-error\">{}</div>",
                    escape_html(&message)
                ),
                Some(message),
            )
        }
    };
    let header = c
        .template_header()
        .and_then(|h| renderer.plugin_template(&c.plugin, h, globals).ok());
    let mut map: BTreeMap<String, Mj> = [
        ("core", Mj::from(false)),
        ("key", Mj::from(c.key.clone())),
        ("plugin", Mj::from(c.plugin.clone())),
        ("type", Mj::from(c.kind.clone())),
        ("name", Mj::from(c.name.clone())),
        ("div", Mj::from_serialize(&c.div)),
        ("html", wrap(html)),
        ("header_html", header.map_or(Mj::from(()), wrap)),
        ("icon", Mj::from_serialize(c.icon())),
        ("mandatory", Mj::from(c.mandatory())),
        ("custom_bindings", Mj::from(c.custom_bindings)),
        ("data_bind", Mj::from_serialize(&c.data_bind)),
        ("classes", Mj::from(c.classes.join(" "))),
        ("styles", Mj::from(c.styles.join("; "))),
        ("error", Mj::from_serialize(&error)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for part in ["wrapper", "content", "link"] {
        let classes = c.classes_for(part).join(" ");
        let styles = c.styles_for(part).join("; ");
        map.insert(format!("classes_{part}"), Mj::from(classes));
        map.insert(format!("styles_{part}"), Mj::from(styles));
    }
    Mj::from_object(map)
}

/// Text for HTML content or a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(slots: &[Slot<'_>]) -> Vec<String> {
        slots
            .iter()
            .map(|s| match s {
                Slot::Core(key, _) => format!("core:{key}"),
                Slot::Plugin(c) => c.key.clone(),
            })
            .collect()
    }

    #[test]
    fn plugins_go_around_the_core_components_and_take_the_place_they_replace() {
        let files: BTreeSet<String> = ["a_navbar.jinja2", "a_tab.jinja2", "a_control.jinja2"]
            .map(str::to_owned)
            .into();
        let configs = vec![
            json!({"type": "tab"}),
            json!({"type": "tab", "template": "a_control.jinja2", "replaces": "control"}),
        ];
        let injection = injection::collect(&[PluginTemplates {
            id: "a",
            name: "A",
            configs: &configs,
            files: &files,
        }]);
        assert_eq!(
            keys(&layout(&injection, "navbar", false)),
            ["plugin_a", "core:settings", "core:about", "core:login"],
            "navbar: plugins left of the core links"
        );
        assert_eq!(
            keys(&layout(&injection, "tab", false)),
            [
                "core:temperature",
                "plugin_a_2",
                "core:terminal",
                "core:pluginmanager",
                "core:events",
                "plugin_a"
            ],
            "tab: the replacement in the place of `control`, the others after the core tabs"
        );
        assert_eq!(
            keys(&layout(&injection, "wizard", false)),
            Vec::<String>::new()
        );
        assert_eq!(
            keys(&layout(&injection, "wizard", true)),
            ["core:firstrun_acl"],
            "the first-run step only on the first run"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
