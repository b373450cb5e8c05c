//! Jinja2 rendering with minijinja: the host's own templates (the page and the
//! login page, compiled into the binary) and the plugins' templates, all with
//! HTML autoescaping.
//!
//! Plugin templates share one namespace, as in OctoPrint: a bare name such as
//! `helloworld_tab.jinja2` is looked up in every TemplatePlugin in plugin
//! order (so a template can `{% include %}` another). A component is rendered
//! from its own plugin's file through the name `<id>:<name>`.

use std::sync::Arc;

use minijinja::{AutoEscape, Environment, Error, ErrorKind};

use super::sources::{find_template, Found, TemplatePlugin};
use crate::PluginManager;

/// The host's page.
pub const INDEX: &str = include_str!("../../../web/templates/index.jinja2");
/// The host's login page.
pub const LOGIN: &str = include_str!("../../../web/templates/login.jinja2");

/// A minijinja environment for one render.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// An environment with the host templates and a loader for the templates
    /// of `plugins`.
    pub fn new(manager: &PluginManager, plugins: Vec<TemplatePlugin>) -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_template("index.jinja2", INDEX)
            .expect("the host page compiles");
        env.add_template("login.jinja2", LOGIN)
            .expect("the login page compiles");
        // OctoPrint's templates are translated with `_()`, `gettext()` and
        // `ngettext()`; Plinth has no translations, so they return the text.
        env.add_function("_", |text: String| text);
        env.add_function("gettext", |text: String| text);
        env.add_function(
            "ngettext",
            |one: String, many: String, n: i64| {
                if n == 1 {
                    one
                } else {
                    many
                }
            },
        );
        let manager = manager.clone();
        let plugins = Arc::new(plugins);
        env.set_loader(move |name| load(&manager, &plugins, name));
        Self { env }
    }

    /// Renders template `name` of `plugin` with `context`.
    pub fn plugin_template(
        &self,
        plugin: &str,
        name: &str,
        context: &minijinja::Value,
    ) -> Result<String, RenderError> {
        self.render(&format!("{plugin}:{name}"), context)
    }

    /// Renders a template by its full name (`index.jinja2`, `<id>:<name>`, a bare plugin template name).
    pub fn render(&self, name: &str, context: &minijinja::Value) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(RenderError)
    }
}

/// A template that did not render: minijinja's error, said on one line with
/// its location and causes.
#[derive(Debug)]
pub struct RenderError(pub Error);

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for RenderError {}

fn load(
    manager: &PluginManager,
    plugins: &[TemplatePlugin],
    name: &str,
) -> Result<Option<String>, Error> {
    let (candidates, file): (Vec<&TemplatePlugin>, &str) = match name.split_once(':') {
        Some((id, file)) => (plugins.iter().filter(|p| p.id == id).collect(), file),
        None => (plugins.iter().collect(), name),
    };
    for plugin in candidates {
        let bytes = match find_template(manager, plugin, file) {
            Some(Found::File(path)) => std::fs::read(&path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
            Some(Found::Embedded(bytes)) => bytes.into_owned(),
            None => continue,
        };
        return String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("template {file} of plugin {} is not UTF-8", plugin.id),
            )
        });
    }
    Ok(None)
}
