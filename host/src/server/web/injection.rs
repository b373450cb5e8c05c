//! TemplatePlugin injection rules: which components of which plugins go into
//! the page, per template type, and under which keys and div ids.
//!
//! Pure data in, data out: [`collect`] takes each TemplatePlugin's identifier,
//! display name, template configurations (from `get_template_configs`) and the
//! names of the template files it has, and returns an [`Injection`]. Nothing
//! is rendered and no plugin is called.
//!
//! The rules, from the seed's "TemplatePlugin" section:
//!
//! - Types: navbar, sidebar, tab, settings, usersettings, wizard, about,
//!   generic, webcam ([`TEMPLATE_TYPES`]). Types added through the
//!   `octoprint.ui.web.templatetypes` hook are not supported here.
//! - Without a configuration of a type, the type's default template
//!   `<id>_<type>.jinja2` (`<id>.jinja2` for generic) is injected if the plugin
//!   has that file; a missing default file is normal and not a problem. Any
//!   configuration naming a type replaces that type's implicit default, even
//!   one that turns out to be unusable.
//! - Component key `plugin_<id><suffix>`, div id `<type>_plugin_<id><suffix>`
//!   unless `div` is given (generic templates get no wrapper, so no div unless
//!   one is configured). The suffix is the configured `suffix`, or `_<n>` for
//!   the n-th configuration of a type with n > 1 (none for the first).
//! - `name` defaults to the plugin's display name; `custom_bindings` defaults
//!   to true, which makes the wrapper's knockout binding
//!   `allowBindings: true[, <data_bind>]`; `classes` and `styles` are lists
//!   (a single string is one entry).
//! - `replaces` makes a component take another component's slot: a core
//!   component's (keyed by its own name) or another plugin's component of the
//!   same type (which is then left out).
//! - Unusable configurations are skipped and reported in
//!   [`Injection::problems`]; the page still renders without them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// The template types a TemplatePlugin can inject, in the seed's order.
pub const TEMPLATE_TYPES: &[&str] = &[
    "navbar",
    "sidebar",
    "tab",
    "settings",
    "usersettings",
    "wizard",
    "about",
    "generic",
    "webcam",
];

/// Configuration keys every template type understands; all other keys go to
/// [`Component::extra`].
const COMMON_KEYS: &[&str] = &[
    "type",
    "name",
    "template",
    "suffix",
    "div",
    "replaces",
    "custom_bindings",
    "data_bind",
    "classes",
    "styles",
];

/// Type-specific keys whose values are class or style lists (a string or a
/// list of strings, stored in [`Component::extra`] as a list).
const LIST_KEYS: &[&str] = &[
    "classes_wrapper",
    "classes_content",
    "classes_link",
    "styles_wrapper",
    "styles_content",
    "styles_link",
];

/// One TemplatePlugin, as [`collect`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct PluginTemplates<'a> {
    /// The plugin identifier.
    pub id: &'a str,
    /// The plugin's display name, the default `name` of its components.
    pub name: &'a str,
    /// What `get_template_configs` returned, in order.
    pub configs: &'a [Value],
    /// The names of the template files the plugin has (relative to its
    /// template folder), e.g. `helloworld_navbar.jinja2`.
    pub files: &'a BTreeSet<String>,
}

/// One component a plugin injects into the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// The template type, one of [`TEMPLATE_TYPES`].
    pub kind: String,
    /// The component key, `plugin_<id><suffix>`.
    pub key: String,
    /// The identifier of the plugin injecting it.
    pub plugin: String,
    /// The template file to include, relative to the plugin's template folder.
    pub template: String,
    /// The id of the wrapping div: the configured `div`, else
    /// `<type>_plugin_<id><suffix>`; `None` for a generic template without a
    /// configured `div` (generic templates are included unwrapped).
    pub div: Option<String>,
    /// The name shown for the component (sidebar heading, tab heading, settings,
    /// wizard and about link); the plugin's display name unless configured.
    pub name: String,
    /// The key of the component whose place this one takes, if any.
    pub replaces: Option<String>,
    /// Whether the plugin binds its own view models to the component (true,
    /// the default) rather than the page's default view model.
    pub custom_bindings: bool,
    /// The knockout `data-bind` value for the wrapper: with custom bindings
    /// `allowBindings: true`, followed by `, <data_bind>` if one is
    /// configured; without, the configured `data_bind` as is. Not escaped:
    /// escaping for the attribute is the renderer's job.
    pub data_bind: Option<String>,
    /// Additional classes for the component.
    pub classes: Vec<String>,
    /// Additional CSS declarations for the component.
    pub styles: Vec<String>,
    /// Every other configured key: the type-specific ones (`icon`,
    /// `template_header`, `mandatory`, and `classes_*`/`styles_*` normalised to
    /// lists of strings) and any unknown key, passed through unchanged.
    pub extra: Map<String, Value>,
}

impl Component {
    /// The slot the component fills: the key it replaces, else its own key.
    #[cfg(test)]
    pub fn slot(&self) -> &str {
        self.replaces.as_deref().unwrap_or(&self.key)
    }

    /// Whether a wizard step is mandatory (`mandatory`, default false).
    pub fn mandatory(&self) -> bool {
        self.extra.get("mandatory").and_then(Value::as_bool) == Some(true)
    }

    /// The icon of a sidebar component, if configured.
    pub fn icon(&self) -> Option<&str> {
        self.extra.get("icon").and_then(Value::as_str)
    }

    /// The template to include in a sidebar component's heading, if
    /// configured and present.
    pub fn template_header(&self) -> Option<&str> {
        self.extra.get("template_header").and_then(Value::as_str)
    }

    /// The classes of one part of the component (`"wrapper"`, `"content"` or
    /// `"link"`): `classes_<part>` if configured, else [`Component::classes`].
    pub fn classes_for(&self, part: &str) -> Vec<&str> {
        self.list_for("classes", part, &self.classes)
    }

    /// The styles of one part of the component (`"wrapper"`, `"content"` or
    /// `"link"`): `styles_<part>` if configured, else [`Component::styles`].
    pub fn styles_for(&self, part: &str) -> Vec<&str> {
        self.list_for("styles", part, &self.styles)
    }

    fn list_for<'s>(&'s self, prefix: &str, part: &str, fallback: &'s [String]) -> Vec<&'s str> {
        match self.extra.get(&format!("{prefix}_{part}")) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => fallback.iter().map(String::as_str).collect(),
        }
    }
}

/// Something wrong with a plugin's template configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The plugin identifier.
    pub plugin: String,
    /// The index of the configuration in `get_template_configs`' list;
    /// `None` for an implicit default template.
    pub config: Option<usize>,
    /// What is wrong, and what became of the configuration.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.config {
            Some(i) => write!(
                f,
                "plugin {}, template config {i}: {}",
                self.plugin, self.message
            ),
            None => write!(
                f,
                "plugin {}, default template: {}",
                self.plugin, self.message
            ),
        }
    }
}

/// The result of [`collect`]: the components to inject, per template type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Injection {
    /// Per template type (only types with components), the components in
    /// plugin order, and within a plugin in configuration order. Components
    /// replaced by another plugin's component are left out; components
    /// replacing a core component are included (see [`Component::slot`]).
    pub components: BTreeMap<String, Vec<Component>>,
    /// Per template type (only types with replacements): replaced key →
    /// key of the component replacing it. The page leaves out core components
    /// whose key is here and puts the replacing component in their place.
    pub replaced: BTreeMap<String, BTreeMap<String, String>>,
    /// What was skipped or left out, and why.
    pub problems: Vec<Problem>,
}

impl Injection {
    /// The components of one type, in plugin order.
    pub fn of(&self, kind: &str) -> &[Component] {
        self.components.get(kind).map_or(&[], Vec::as_slice)
    }

    /// The component of a type with the given key, if injected.
    pub fn get(&self, kind: &str, key: &str) -> Option<&Component> {
        self.of(kind).iter().find(|c| c.key == key)
    }

    /// Whether the component `key` of a type (core or plugin) is replaced.
    #[cfg(test)]
    pub fn is_replaced(&self, kind: &str, key: &str) -> bool {
        self.replaced
            .get(kind)
            .is_some_and(|keys| keys.contains_key(key))
    }

    /// The component taking the place of component `key` of a type.
    pub fn replacement(&self, kind: &str, key: &str) -> Option<&Component> {
        let replacer = self.replaced.get(kind)?.get(key)?;
        self.get(kind, replacer)
    }

    /// The components of a type in the order the seed gives for the page:
    /// settings and about sorted alphabetically by name (case-insensitive);
    /// wizards mandatory first, then alphabetically by name; every other type
    /// in plugin order. Core components and the page's placement of plugin
    /// components relative to them (navbar left of the core links, sidebar
    /// below, tabs right, settings under a "Plugins" header) are the page's
    /// business.
    pub fn page_order(&self, kind: &str) -> Vec<&Component> {
        let mut list: Vec<&Component> = self.of(kind).iter().collect();
        match kind {
            "settings" | "about" => list.sort_by(|a, b| by_name(a, b)),
            "wizard" => list.sort_by(|a, b| {
                b.mandatory()
                    .cmp(&a.mandatory())
                    .then_with(|| by_name(a, b))
            }),
            _ => {}
        }
        list
    }
}

fn by_name(a: &Component, b: &Component) -> Ordering {
    a.name
        .to_lowercase()
        .cmp(&b.name.to_lowercase())
        .then_with(|| a.name.cmp(&b.name))
}

/// Whether `kind` is one of [`TEMPLATE_TYPES`].
#[cfg(test)]
pub fn is_template_type(kind: &str) -> bool {
    TEMPLATE_TYPES.contains(&kind)
}

/// The default template name of a plugin for a type: `<id>_<type>.jinja2`,
/// or `<id>.jinja2` for generic.
pub fn default_template(id: &str, kind: &str) -> String {
    if kind == "generic" {
        format!("{id}.jinja2")
    } else {
        format!("{id}_{kind}.jinja2")
    }
}

/// Whether `s` can be a div id (and a CSS `#id` selector without escaping):
/// a letter, `_` or `-`, followed by letters, digits, `_` and `-`.
fn valid_div(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_suffix(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads configuration keys, collecting every type error. `null` counts as
/// absent.
struct Reader<'c> {
    config: &'c Map<String, Value>,
    errors: Vec<String>,
}

impl<'c> Reader<'c> {
    fn get(&self, key: &str) -> Option<&'c Value> {
        self.config.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.errors
                    .push(format!("`{key}` must be a string, not {}", describe(other)));
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.errors.push(format!(
                    "`{key}` must be true or false, not {}",
                    describe(other)
                ));
                None
            }
        }
    }

    fn list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.get(key)? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) if items.iter().all(Value::is_string) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            ),
            Value::Array(_) => {
                self.errors
                    .push(format!("`{key}` must be a list of strings only"));
                None
            }
            other => {
                self.errors.push(format!(
                    "`{key}` must be a string or a list of strings, not {}",
                    describe(other)
                ));
                None
            }
        }
    }
}

/// Builds the component of the `counter`-th configuration of type `kind`
/// (an empty configuration for the implicit default). `Err` lists why the
/// configuration is skipped; `notes` collects what was left out of a
/// component that is kept.
fn build(
    plugin: &PluginTemplates<'_>,
    kind: &str,
    config: &Map<String, Value>,
    counter: usize,
    notes: &mut Vec<String>,
) -> Result<Component, Vec<String>> {
    let mut r = Reader {
        config,
        errors: Vec::new(),
    };
    let id = plugin.id;

    let template = match r.string("template") {
        Some(t) if !t.is_empty() => t,
        _ => default_template(id, kind),
    };
    if !plugin.files.contains(&template) {
        r.errors
            .push(format!("template file `{template}` does not exist"));
    }

    let suffix = match r.string("suffix") {
        Some(s) => {
            if !valid_suffix(&s) {
                r.errors.push(format!(
                    "suffix `{s}` may only contain letters, digits, `_` and `-`"
                ));
            }
            s
        }
        None if counter > 1 => format!("_{counter}"),
        None => String::new(),
    };
    let key = format!("plugin_{id}{suffix}");

    let div = match r.string("div") {
        Some(d) => Some(d),
        None if kind == "generic" => None,
        None => Some(format!("{kind}_plugin_{id}{suffix}")),
    };
    if let Some(d) = &div {
        if !valid_div(d) {
            r.errors.push(format!(
                "div id `{d}` must be a letter, `_` or `-` followed by letters, digits, `_` and `-`"
            ));
        }
    }

    let name = r.string("name").unwrap_or_else(|| plugin.name.to_owned());

    let replaces = r.string("replaces");
    match replaces.as_deref() {
        Some("") => r.errors.push("`replaces` must not be empty".to_owned()),
        Some(target) if target == key => r
            .errors
            .push(format!("`replaces` names the component's own key `{key}`")),
        _ => {}
    }

    let custom_bindings = r.boolean("custom_bindings").unwrap_or(true);
    let configured_bind = r.string("data_bind");
    let data_bind = if custom_bindings {
        Some(match configured_bind {
            Some(extra) => format!("allowBindings: true, {extra}"),
            None => "allowBindings: true".to_owned(),
        })
    } else {
        configured_bind
    };

    let classes = r.list("classes").unwrap_or_default();
    let styles = r.list("styles").unwrap_or_default();

    let mut extra = Map::new();
    for (k, v) in config {
        if COMMON_KEYS.contains(&k.as_str()) {
            continue;
        }
        match k.as_str() {
            "icon" => {
                if let Some(icon) = r.string(k) {
                    extra.insert(k.clone(), Value::String(icon));
                }
            }
            "template_header" => {
                if let Some(header) = r.string(k) {
                    if plugin.files.contains(&header) {
                        extra.insert(k.clone(), Value::String(header));
                    } else {
                        notes.push(format!(
                            "template_header file `{header}` does not exist; the component is kept without it"
                        ));
                    }
                }
            }
            "mandatory" => {
                if let Some(m) = r.boolean(k) {
                    extra.insert(k.clone(), Value::Bool(m));
                }
            }
            list if LIST_KEYS.contains(&list) => {
                if let Some(items) = r.list(k) {
                    extra.insert(
                        k.clone(),
                        Value::Array(items.into_iter().map(Value::String).collect()),
                    );
                }
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }

    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(Component {
        kind: kind.to_owned(),
        key,
        plugin: id.to_owned(),
        template,
        div,
        name,
        replaces,
        custom_bindings,
        data_bind,
        classes,
        styles,
        extra,
    })
}

/// Accumulates admitted components and problems.
#[derive(Default)]
struct Collector {
    /// Per type: components with the index of their configuration.
    admitted: BTreeMap<&'static str, Vec<(Component, Option<usize>)>>,
    /// Div id → key of the component using it, page-wide.
    divs: BTreeMap<String, (String, String)>,
    problems: Vec<Problem>,
}

impl Collector {
    fn problem(&mut self, plugin: &str, config: Option<usize>, message: String) {
        self.problems.push(Problem {
            plugin: plugin.to_owned(),
            config,
            message,
        });
    }

    fn admit(&mut self, kind: &'static str, component: Component, config: Option<usize>) {
        let owner = self.admitted.get(kind).and_then(|list| {
            list.iter()
                .find(|(c, _)| c.key == component.key)
                .map(|(c, _)| c.plugin.clone())
        });
        if let Some(owner) = owner {
            let message = format!(
                "{kind} component key `{}` is already used by plugin {owner}; skipped",
                component.key
            );
            self.problem(&component.plugin, config, message);
            return;
        }
        if let Some(div) = &component.div {
            if let Some((other_kind, other_key)) = self.divs.get(div) {
                let message = format!(
                    "div id `{div}` is already used by {other_kind} component `{other_key}`; skipped"
                );
                self.problem(&component.plugin, config, message);
                return;
            }
            self.divs
                .insert(div.clone(), (kind.to_owned(), component.key.clone()));
        }
        self.admitted
            .entry(kind)
            .or_default()
            .push((component, config));
    }

    fn build_and_admit(
        &mut self,
        plugin: &PluginTemplates<'_>,
        kind: &'static str,
        config: &Map<String, Value>,
        counter: usize,
        index: Option<usize>,
    ) {
        let mut notes = Vec::new();
        match build(plugin, kind, config, counter, &mut notes) {
            Ok(component) => {
                for note in notes {
                    self.problem(plugin.id, index, note);
                }
                self.admit(kind, component, index);
            }
            Err(errors) => {
                let message = format!("{kind} template skipped: {}", errors.join("; "));
                self.problem(plugin.id, index, message);
            }
        }
    }

    fn plugin(&mut self, plugin: &PluginTemplates<'_>) {
        let mut counters: BTreeMap<&'static str, usize> = BTreeMap::new();
        for (index, value) in plugin.configs.iter().enumerate() {
            let Some(config) = value.as_object() else {
                let message = format!("must be an object, not {}; skipped", describe(value));
                self.problem(plugin.id, Some(index), message);
                continue;
            };
            let kind = match config.get("type") {
                None | Some(Value::Null) => {
                    self.problem(plugin.id, Some(index), "has no `type`; skipped".into());
                    continue;
                }
                Some(Value::String(t)) => match TEMPLATE_TYPES.iter().find(|k| **k == t) {
                    Some(kind) => *kind,
                    None => {
                        let message = format!("unknown template type `{t}`; skipped");
                        self.problem(plugin.id, Some(index), message);
                        continue;
                    }
                },
                Some(other) => {
                    let message =
                        format!("`type` must be a string, not {}; skipped", describe(other));
                    self.problem(plugin.id, Some(index), message);
                    continue;
                }
            };
            // Every configuration of a known type counts, usable or not: the
            // n-th one is `_n` whatever became of the ones before it, and its
            // presence replaces the type's implicit default.
            let counter = counters.entry(kind).or_default();
            *counter += 1;
            let counter = *counter;
            self.build_and_admit(plugin, kind, config, counter, Some(index));
        }
        for kind in TEMPLATE_TYPES {
            if counters.contains_key(kind) {
                continue;
            }
            if plugin.files.contains(&default_template(plugin.id, kind)) {
                self.build_and_admit(plugin, kind, &Map::new(), 1, None);
            }
        }
    }

    fn finish(mut self) -> Injection {
        let mut injection = Injection::default();
        for (kind, list) in std::mem::take(&mut self.admitted) {
            // Replacers claim their targets; the first claim wins.
            let mut claims: BTreeMap<String, String> = BTreeMap::new();
            let mut kept = Vec::with_capacity(list.len());
            for (component, index) in list {
                if let Some(target) = &component.replaces {
                    if let Some(previous) = claims.get(target) {
                        let message = format!(
                            "{kind} component `{}` replaces `{target}`, which `{previous}` already replaces; skipped",
                            component.key
                        );
                        self.problem(&component.plugin, index, message);
                        continue;
                    }
                    claims.insert(target.clone(), component.key.clone());
                }
                kept.push(component);
            }
            // A plugin component replaced by another one is left out; one that
            // itself replaces something sits in that other slot and stays.
            kept.retain(|c| c.replaces.is_some() || !claims.contains_key(&c.key));
            if !claims.is_empty() {
                injection.replaced.insert(kind.to_owned(), claims);
            }
            if !kept.is_empty() {
                injection.components.insert(kind.to_owned(), kept);
            }
        }
        injection.problems = self.problems;
        injection
    }
}

/// Computes the components TemplatePlugins inject, per template type.
///
/// `plugins` come in plugin order (the caller sorts them); each type's
/// components keep that order, a plugin's configured components in
/// configuration order. Unusable configurations are skipped and reported in
/// [`Injection::problems`]: a non-object, a missing, non-string or unknown
/// `type`, a template file the plugin does not have, a key or div id already
/// used, a second claim on the same replaced key, an invalid suffix or div id,
/// or a value of the wrong type.
pub fn collect(plugins: &[PluginTemplates<'_>]) -> Injection {
    let mut collector = Collector::default();
    for plugin in plugins {
        collector.plugin(plugin);
    }
    collector.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Owned {
        id: &'static str,
        name: &'static str,
        configs: Vec<Value>,
        files: BTreeSet<String>,
    }

    fn plugin(id: &'static str, configs: Value, files: &[&str]) -> Owned {
        Owned {
            id,
            name: id,
            configs: match configs {
                Value::Array(list) => list,
                other => panic!("configs must be a list, got {other}"),
            },
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    fn named(mut p: Owned, name: &'static str) -> Owned {
        p.name = name;
        p
    }

    fn run(plugins: &[Owned]) -> Injection {
        let borrowed: Vec<PluginTemplates<'_>> = plugins
            .iter()
            .map(|p| PluginTemplates {
                id: p.id,
                name: p.name,
                configs: &p.configs,
                files: &p.files,
            })
            .collect();
        collect(&borrowed)
    }

    fn keys<'i>(inj: &'i Injection, kind: &str) -> Vec<&'i str> {
        inj.of(kind).iter().map(|c| c.key.as_str()).collect()
    }

    fn templates<'i>(inj: &'i Injection, kind: &str) -> Vec<&'i str> {
        inj.of(kind).iter().map(|c| c.template.as_str()).collect()
    }

    #[test]
    fn default_templates_per_type() {
        let files = [
            "hello_navbar.jinja2",
            "hello_sidebar.jinja2",
            "hello_tab.jinja2",
            "hello_settings.jinja2",
            "hello_usersettings.jinja2",
            "hello_wizard.jinja2",
            "hello_about.jinja2",
            "hello_webcam.jinja2",
            "hello.jinja2",
            // Not the generic default: that one is `<id>.jinja2`.
            "hello_generic.jinja2",
        ];
        let inj = run(&[named(plugin("hello", json!([]), &files), "Hello World")]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        assert!(inj.replaced.is_empty());
        for kind in TEMPLATE_TYPES {
            let list = inj.of(kind);
            assert_eq!(list.len(), 1, "{kind}");
            let c = &list[0];
            assert_eq!(c.kind, *kind);
            assert_eq!(c.key, "plugin_hello");
            assert_eq!(c.plugin, "hello");
            assert_eq!(c.name, "Hello World");
            assert!(c.custom_bindings);
            assert_eq!(c.data_bind.as_deref(), Some("allowBindings: true"));
            assert!(c.classes.is_empty() && c.styles.is_empty() && c.extra.is_empty());
            if *kind == "generic" {
                assert_eq!(c.template, "hello.jinja2");
                assert_eq!(c.div, None);
            } else {
                assert_eq!(c.template, format!("hello_{kind}.jinja2"));
                assert_eq!(
                    c.div.as_deref(),
                    Some(format!("{kind}_plugin_hello").as_str())
                );
            }
        }
        assert_eq!(default_template("x", "generic"), "x.jinja2");
        assert_eq!(default_template("x", "tab"), "x_tab.jinja2");
        assert!(is_template_type("usersettings") && !is_template_type("usersettings_mfa"));
    }

    #[test]
    fn missing_default_files_are_not_problems() {
        let inj = run(&[plugin(
            "hello",
            json!([]),
            &["hello_navbar.jinja2", "other.jinja2"],
        )]);
        assert!(inj.problems.is_empty());
        assert_eq!(inj.components.keys().collect::<Vec<_>>(), ["navbar"]);
        assert!(inj.of("tab").is_empty());
        assert!(inj.of("generic").is_empty());
    }

    #[test]
    fn configured_type_replaces_its_implicit_default_only() {
        let files = [
            "hello_tab.jinja2",
            "hello_othertab.jinja2",
            "hello_navbar.jinja2",
        ];
        // The seed's pitfall: configuring the other tab drops the default one.
        let inj = run(&[plugin(
            "hello",
            json!([{"type": "tab", "template": "hello_othertab.jinja2"}]),
            &files,
        )]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        assert_eq!(templates(&inj, "tab"), ["hello_othertab.jinja2"]);
        assert_eq!(keys(&inj, "tab"), ["plugin_hello"]);
        // Navbar is not configured, so its default stays.
        assert_eq!(templates(&inj, "navbar"), ["hello_navbar.jinja2"]);

        // The seed's fix: list both explicitly.
        let inj = run(&[plugin(
            "hello",
            json!([
                {"type": "tab"},
                {"type": "tab", "template": "hello_othertab.jinja2"}
            ]),
            &files,
        )]);
        assert_eq!(
            templates(&inj, "tab"),
            ["hello_tab.jinja2", "hello_othertab.jinja2"]
        );
        assert_eq!(keys(&inj, "tab"), ["plugin_hello", "plugin_hello_2"]);
    }

    #[test]
    fn empty_template_falls_back_to_the_default_name() {
        let inj = run(&[plugin(
            "hello",
            json!([{"type": "sidebar", "template": ""}]),
            &["hello_sidebar.jinja2"],
        )]);
        assert_eq!(templates(&inj, "sidebar"), ["hello_sidebar.jinja2"]);
    }

    #[test]
    fn suffixes_count_per_type_and_explicit_suffix_wins() {
        let files = ["a.jinja2", "b.jinja2", "c.jinja2", "n.jinja2", "m.jinja2"];
        let inj = run(&[plugin(
            "my",
            json!([
                {"type": "tab", "template": "a.jinja2"},
                {"type": "navbar", "template": "n.jinja2"},
                {"type": "tab", "template": "b.jinja2"},
                {"type": "navbar", "template": "m.jinja2"},
                {"type": "tab", "template": "c.jinja2"}
            ]),
            &files,
        )]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        assert_eq!(
            keys(&inj, "tab"),
            ["plugin_my", "plugin_my_2", "plugin_my_3"]
        );
        assert_eq!(keys(&inj, "navbar"), ["plugin_my", "plugin_my_2"]);
        let divs: Vec<_> = inj
            .of("tab")
            .iter()
            .map(|c| c.div.clone().unwrap())
            .collect();
        assert_eq!(
            divs,
            ["tab_plugin_my", "tab_plugin_my_2", "tab_plugin_my_3"]
        );

        // The seed's second example: explicit suffixes, no `_1`.
        let inj = run(&[plugin(
            "myplugin",
            json!([
                {"type": "tab", "template": "a.jinja2", "suffix": "_1st"},
                {"type": "tab", "template": "b.jinja2", "suffix": "_2nd"}
            ]),
            &files,
        )]);
        assert_eq!(
            keys(&inj, "tab"),
            ["plugin_myplugin_1st", "plugin_myplugin_2nd"]
        );
        let divs: Vec<_> = inj
            .of("tab")
            .iter()
            .map(|c| c.div.clone().unwrap())
            .collect();
        assert_eq!(divs, ["tab_plugin_myplugin_1st", "tab_plugin_myplugin_2nd"]);
    }

    #[test]
    fn generic_templates_get_keys_but_no_div_unless_configured() {
        let inj = run(&[plugin(
            "g",
            json!([
                {"type": "generic"},
                {"type": "generic", "template": "dialog.jinja2", "div": "g_dialog"}
            ]),
            &["g.jinja2", "dialog.jinja2"],
        )]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        assert_eq!(keys(&inj, "generic"), ["plugin_g", "plugin_g_2"]);
        assert_eq!(inj.of("generic")[0].div, None);
        assert_eq!(inj.of("generic")[1].div.as_deref(), Some("g_dialog"));
    }

    #[test]
    fn div_ids_configured_validated_and_unique() {
        let inj = run(&[
            plugin(
                "a",
                json!([
                    {"type": "tab", "div": "my_tab"},
                    {"type": "sidebar", "div": "has space"},
                    {"type": "navbar", "suffix": "!"}
                ]),
                &["a_tab.jinja2", "a_sidebar.jinja2", "a_navbar.jinja2"],
            ),
            // Same explicit div as plugin a's tab, in another type.
            plugin(
                "b",
                json!([{"type": "settings", "div": "my_tab"}]),
                &["b_settings.jinja2"],
            ),
        ]);
        assert_eq!(inj.of("tab")[0].div.as_deref(), Some("my_tab"));
        assert_eq!(inj.of("tab")[0].key, "plugin_a");
        assert!(inj.of("sidebar").is_empty());
        assert!(inj.of("navbar").is_empty());
        assert!(inj.of("settings").is_empty());
        assert_eq!(inj.problems.len(), 3, "{:?}", inj.problems);
        assert_eq!(
            (inj.problems[0].plugin.as_str(), inj.problems[0].config),
            ("a", Some(1))
        );
        assert!(inj.problems[0].message.contains("`has space`"));
        assert_eq!(inj.problems[1].config, Some(2));
        assert!(inj.problems[1].message.contains("suffix `!`"));
        assert_eq!(
            (inj.problems[2].plugin.as_str(), inj.problems[2].config),
            ("b", Some(0))
        );
        assert!(inj.problems[2]
            .message
            .contains("div id `my_tab` is already used"));
    }

    #[test]
    fn duplicate_keys_within_a_type_are_skipped() {
        let inj = run(&[plugin(
            "d",
            json!([
                {"type": "tab", "template": "x.jinja2", "suffix": "_2"},
                {"type": "tab", "template": "y.jinja2"},
                {"type": "navbar", "template": "y.jinja2", "suffix": "_2"}
            ]),
            &["x.jinja2", "y.jinja2"],
        )]);
        // The second tab would be `_2` too; the navbar's `_2` is another type.
        assert_eq!(templates(&inj, "tab"), ["x.jinja2"]);
        assert_eq!(keys(&inj, "navbar"), ["plugin_d_2"]);
        assert_eq!(inj.problems.len(), 1);
        assert_eq!(inj.problems[0].config, Some(1));
        assert!(inj.problems[0]
            .message
            .contains("`plugin_d_2` is already used"));
    }

    #[test]
    fn replaces_core_and_plugin_components() {
        let inj = run(&[
            plugin(
                "conn",
                json!([{"type": "sidebar", "replaces": "connection"}]),
                &["conn_sidebar.jinja2"],
            ),
            plugin("old", json!([]), &["old_tab.jinja2"]),
            plugin(
                "new",
                json!([{"type": "tab", "replaces": "plugin_old"}]),
                &["new_tab.jinja2"],
            ),
        ]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);

        // Core component: the replacer stays in the list, keyed as itself,
        // and takes the core slot.
        let conn = &inj.of("sidebar")[0];
        assert_eq!(conn.key, "plugin_conn");
        assert_eq!(conn.replaces.as_deref(), Some("connection"));
        assert_eq!(conn.slot(), "connection");
        assert!(inj.is_replaced("sidebar", "connection"));
        assert_eq!(inj.replacement("sidebar", "connection"), Some(conn));
        assert!(!inj.is_replaced("tab", "connection"));

        // Plugin component: the replaced one is left out.
        assert_eq!(keys(&inj, "tab"), ["plugin_new"]);
        assert_eq!(inj.get("tab", "plugin_old"), None);
        assert_eq!(
            inj.replacement("tab", "plugin_old").unwrap().key,
            "plugin_new"
        );
        assert_eq!(inj.replaced["tab"]["plugin_old"], "plugin_new");
        assert_eq!(inj.of("tab")[0].slot(), "plugin_old");
    }

    #[test]
    fn replacement_does_not_depend_on_plugin_order() {
        let inj = run(&[
            plugin(
                "new",
                json!([{"type": "tab", "replaces": "plugin_old"}]),
                &["new_tab.jinja2"],
            ),
            plugin("old", json!([]), &["old_tab.jinja2"]),
        ]);
        assert_eq!(keys(&inj, "tab"), ["plugin_new"]);
    }

    #[test]
    fn second_claim_on_a_key_and_self_replacement_are_skipped() {
        let inj = run(&[
            plugin(
                "a",
                json!([{"type": "tab", "replaces": "temperature"}]),
                &["a_tab.jinja2"],
            ),
            plugin(
                "b",
                json!([{"type": "tab", "replaces": "temperature"}]),
                &["b_tab.jinja2"],
            ),
            plugin(
                "c",
                json!([{"type": "tab", "replaces": "plugin_c"}]),
                &["c_tab.jinja2"],
            ),
        ]);
        assert_eq!(keys(&inj, "tab"), ["plugin_a"]);
        assert_eq!(inj.replaced["tab"].len(), 1);
        assert_eq!(inj.replaced["tab"]["temperature"], "plugin_a");
        let who: Vec<_> = inj.problems.iter().map(|p| p.plugin.as_str()).collect();
        assert_eq!(who, ["c", "b"]);
        assert!(inj.problems[0].message.contains("own key"));
        assert!(inj.problems[1]
            .message
            .contains("`plugin_a` already replaces"));
    }

    #[test]
    fn custom_bindings_default_and_data_bind() {
        let inj = run(&[plugin(
            "kb",
            json!([
                {"type": "tab", "template": "t.jinja2"},
                {"type": "tab", "template": "t.jinja2", "data_bind": "visible: loginState.isAdmin"},
                {"type": "tab", "template": "t.jinja2", "custom_bindings": false,
                 "data_bind": "visible: loginState.isAdmin"},
                {"type": "tab", "template": "t.jinja2", "custom_bindings": false},
                {"type": "tab", "template": "t.jinja2", "custom_bindings": "no"}
            ]),
            &["t.jinja2"],
        )]);
        let tabs = inj.of("tab");
        assert_eq!(tabs.len(), 4);
        assert!(tabs[0].custom_bindings);
        assert_eq!(tabs[0].data_bind.as_deref(), Some("allowBindings: true"));
        assert!(tabs[1].custom_bindings);
        assert_eq!(
            tabs[1].data_bind.as_deref(),
            Some("allowBindings: true, visible: loginState.isAdmin")
        );
        assert!(!tabs[2].custom_bindings);
        assert_eq!(
            tabs[2].data_bind.as_deref(),
            Some("visible: loginState.isAdmin")
        );
        assert!(!tabs[3].custom_bindings);
        assert_eq!(tabs[3].data_bind, None);
        assert_eq!(inj.problems.len(), 1);
        assert_eq!(inj.problems[0].config, Some(4));
        assert!(inj.problems[0]
            .message
            .contains("`custom_bindings` must be true or false"));
    }

    #[test]
    fn classes_and_styles_as_string_or_list() {
        let inj = run(&[plugin(
            "cs",
            json!([
                {"type": "sidebar", "classes": "one", "styles": ["color: red", "display: block"],
                 "classes_content": "pane", "styles_wrapper": ["display: none"]},
                {"type": "sidebar", "classes": ["a", 1]},
                {"type": "sidebar", "styles": {"color": "red"}}
            ]),
            &["cs_sidebar.jinja2"],
        )]);
        let list = inj.of("sidebar");
        assert_eq!(list.len(), 1);
        let c = &list[0];
        assert_eq!(c.classes, ["one"]);
        assert_eq!(c.styles, ["color: red", "display: block"]);
        // Type-specific lists are normalised to lists and override the
        // general ones for their part only.
        assert_eq!(c.extra["classes_content"], json!(["pane"]));
        assert_eq!(c.classes_for("content"), ["pane"]);
        assert_eq!(c.classes_for("wrapper"), ["one"]);
        assert_eq!(c.styles_for("wrapper"), ["display: none"]);
        assert_eq!(c.styles_for("content"), ["color: red", "display: block"]);
        assert_eq!(inj.problems.len(), 2);
        assert!(inj.problems[0]
            .message
            .contains("`classes` must be a list of strings"));
        assert!(inj.problems[1]
            .message
            .contains("`styles` must be a string or a list"));
    }

    #[test]
    fn type_specific_and_unknown_keys_are_kept() {
        let inj = run(&[plugin(
            "ts",
            json!([
                {"type": "sidebar", "icon": "fas fa-plus", "template_header": "ts_head.jinja2",
                 "classes_wrapper": ["w"], "order": 3},
                {"type": "wizard", "mandatory": true},
                {"type": "tab", "classes_link": "l", "styles_link": "color: blue",
                 "classes_content": ["c"]}
            ]),
            &[
                "ts_sidebar.jinja2",
                "ts_head.jinja2",
                "ts_wizard.jinja2",
                "ts_tab.jinja2",
            ],
        )]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        let side = &inj.of("sidebar")[0];
        assert_eq!(side.icon(), Some("fas fa-plus"));
        assert_eq!(side.template_header(), Some("ts_head.jinja2"));
        assert_eq!(side.classes_for("wrapper"), ["w"]);
        assert_eq!(side.extra["order"], json!(3));
        assert!(inj.of("wizard")[0].mandatory());
        let tab = &inj.of("tab")[0];
        assert_eq!(tab.classes_for("link"), ["l"]);
        assert_eq!(tab.styles_for("link"), ["color: blue"]);
        assert_eq!(tab.classes_for("content"), ["c"]);
        assert!(!tab.mandatory());
        assert_eq!(tab.icon(), None);
    }

    #[test]
    fn bad_type_specific_values_and_missing_header() {
        let inj = run(&[plugin(
            "ts",
            json!([
                {"type": "wizard", "mandatory": "yes"},
                {"type": "sidebar", "icon": 5},
                {"type": "sidebar", "template_header": "gone.jinja2"}
            ]),
            &["ts_wizard.jinja2", "ts_sidebar.jinja2"],
        )]);
        assert!(inj.of("wizard").is_empty());
        // The header-less sidebar is kept (as the second of its type).
        let side = inj.of("sidebar");
        assert_eq!(side.len(), 1);
        assert_eq!(side[0].key, "plugin_ts_2");
        assert_eq!(side[0].template_header(), None);
        let msgs: Vec<_> = inj
            .problems
            .iter()
            .map(|p| (p.config, p.message.as_str()))
            .collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].1.contains("`mandatory` must be true or false"));
        assert!(msgs[1].1.contains("`icon` must be a string"));
        assert_eq!(msgs[2].0, Some(2));
        assert!(msgs[2]
            .1
            .contains("`gone.jinja2` does not exist; the component is kept"));
    }

    #[test]
    fn missing_template_file_is_skipped_and_reported() {
        let inj = run(&[plugin(
            "hello",
            json!([{"type": "tab", "template": "nope.jinja2"}]),
            &["hello_tab.jinja2", "hello_navbar.jinja2"],
        )]);
        // Skipped, and the configured type still suppresses the default tab.
        assert!(inj.of("tab").is_empty());
        assert_eq!(keys(&inj, "navbar"), ["plugin_hello"]);
        assert_eq!(inj.problems.len(), 1);
        let p = &inj.problems[0];
        assert_eq!((p.plugin.as_str(), p.config), ("hello", Some(0)));
        assert!(p
            .message
            .contains("template file `nope.jinja2` does not exist"));
        assert_eq!(
            p.to_string(),
            "plugin hello, template config 0: tab template skipped: template file `nope.jinja2` does not exist"
        );
    }

    #[test]
    fn bad_configs_are_reported_without_stopping_others() {
        let inj = run(&[
            plugin(
                "bad",
                json!([
                    42,
                    {},
                    {"type": "nope"},
                    {"type": 5},
                    {"type": "tab", "name": 3, "div": "x y"},
                    {"type": "tab"},
                    {"type": "navbar", "name": null}
                ]),
                &["bad_tab.jinja2", "bad_navbar.jinja2"],
            ),
            plugin("good", json!([]), &["good_tab.jinja2"]),
        ]);
        let at: Vec<_> = inj
            .problems
            .iter()
            .map(|p| (p.plugin.as_str(), p.config))
            .collect();
        assert_eq!(
            at,
            [
                ("bad", Some(0)),
                ("bad", Some(1)),
                ("bad", Some(2)),
                ("bad", Some(3)),
                ("bad", Some(4))
            ]
        );
        assert!(inj.problems[0]
            .message
            .contains("must be an object, not a number"));
        assert!(inj.problems[1].message.contains("has no `type`"));
        assert!(inj.problems[2]
            .message
            .contains("unknown template type `nope`"));
        assert!(inj.problems[3].message.contains("`type` must be a string"));
        // Every error of a config is reported at once.
        assert!(inj.problems[4].message.contains("`name` must be a string"));
        assert!(inj.problems[4].message.contains("div id `x y`"));
        // The skipped tab config still counted: the next one is the second tab.
        assert_eq!(keys(&inj, "tab"), ["plugin_bad_2", "plugin_good"]);
        // `null` counts as absent.
        assert_eq!(inj.of("navbar")[0].name, "bad");
    }

    #[test]
    fn order_follows_plugins_then_configuration() {
        let inj = run(&[
            plugin(
                "zeta",
                json!([
                    {"type": "navbar", "template": "z1.jinja2"},
                    {"type": "navbar", "template": "z2.jinja2"}
                ]),
                &["z1.jinja2", "z2.jinja2", "zeta_tab.jinja2"],
            ),
            plugin(
                "alpha",
                json!([]),
                &["alpha_navbar.jinja2", "alpha_tab.jinja2"],
            ),
            plugin(
                "mid",
                json!([{"type": "navbar", "template": "m.jinja2"}]),
                &["m.jinja2"],
            ),
        ]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        assert_eq!(
            templates(&inj, "navbar"),
            ["z1.jinja2", "z2.jinja2", "alpha_navbar.jinja2", "m.jinja2"]
        );
        let owners: Vec<_> = inj.of("tab").iter().map(|c| c.plugin.as_str()).collect();
        assert_eq!(owners, ["zeta", "alpha"]);
    }

    #[test]
    fn page_order_sorts_settings_about_and_wizards_as_the_seed_says() {
        let inj = run(&[
            named(
                plugin(
                    "p1",
                    json!([{"type": "wizard"}]),
                    &["p1_settings.jinja2", "p1_wizard.jinja2", "p1_tab.jinja2"],
                ),
                "beta",
            ),
            named(
                plugin(
                    "p2",
                    json!([{"type": "wizard", "mandatory": true}]),
                    &["p2_settings.jinja2", "p2_wizard.jinja2", "p2_tab.jinja2"],
                ),
                "Zulu",
            ),
            named(
                plugin(
                    "p3",
                    json!([{"type": "wizard", "mandatory": false}]),
                    &["p3_settings.jinja2", "p3_wizard.jinja2", "p3_tab.jinja2"],
                ),
                "Alpha",
            ),
            named(
                plugin(
                    "p4",
                    json!([{"type": "wizard", "mandatory": true}]),
                    &["p4_wizard.jinja2", "p4_about.jinja2"],
                ),
                "delta",
            ),
        ]);
        assert!(inj.problems.is_empty(), "{:?}", inj.problems);
        let names = |kind: &str| -> Vec<String> {
            inj.page_order(kind)
                .iter()
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(names("settings"), ["Alpha", "beta", "Zulu"]);
        assert_eq!(names("wizard"), ["delta", "Zulu", "Alpha", "beta"]);
        // Tabs keep plugin order.
        assert_eq!(names("tab"), ["beta", "Zulu", "Alpha"]);
        assert_eq!(names("about"), ["delta"]);
        assert!(inj.page_order("navbar").is_empty());
    }

    #[test]
    fn serialises_as_plain_data() {
        let inj = run(&[plugin(
            "s",
            json!([{"type": "tab", "replaces": "control"}]),
            &["s_tab.jinja2"],
        )]);
        let v = serde_json::to_value(&inj).unwrap();
        assert_eq!(v["components"]["tab"][0]["key"], "plugin_s");
        assert_eq!(v["components"]["tab"][0]["div"], "tab_plugin_s");
        assert_eq!(v["replaced"]["tab"]["control"], "plugin_s");
        assert_eq!(v["problems"], json!([]));
    }
}
