//! BlueprintPlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{BlueprintSpec, PluginError, PluginResult, Request, Response, RouteSpec};

/// Handles a request to one route.
pub type RouteHandler<P> = fn(&P, &Request) -> PluginResult<Response>;
/// Answers an error status raised under the blueprint.
pub type ErrorHandler<P> = fn(&P, &Request) -> Response;

/// The routes and error handlers of a blueprint (Flask's `@route` and `@errorhandler`).
pub struct BlueprintRoutes<P> {
    pub(crate) routes: Vec<(RouteSpec, RouteHandler<P>)>,
    pub(crate) errors: Vec<(u16, ErrorHandler<P>)>,
}

impl<P> Default for BlueprintRoutes<P> {
    fn default() -> Self {
        Self {
            routes: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl<P> BlueprintRoutes<P> {
    /// Adds a route. `rule` is relative to `/plugin/<id>` and may hold
    /// `<name>` parameters (`/items/<item>`); `methods` are HTTP methods.
    pub fn route(&mut self, methods: &[&str], rule: &str, handler: RouteHandler<P>) -> &mut Self {
        let spec = RouteSpec {
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            rule: rule.to_owned(),
            csrf_exempt: false,
        };
        self.routes.push((spec, handler));
        self
    }

    /// Exempts the route added last from CSRF protection (`@csrf_exempt`).
    pub fn csrf_exempt(&mut self) -> &mut Self {
        if let Some((spec, _)) = self.routes.last_mut() {
            spec.csrf_exempt = true;
        }
        self
    }

    /// Answers the error status `code` with `handler`.
    pub fn error_handler(&mut self, code: u16, handler: ErrorHandler<P>) -> &mut Self {
        self.errors.retain(|(c, _)| *c != code);
        self.errors.push((code, handler));
        self
    }

    pub(crate) fn spec(&self) -> BlueprintSpec {
        BlueprintSpec {
            routes: self.routes.iter().map(|(s, _)| s.clone()).collect(),
            error_handlers: self.errors.iter().map(|(c, _)| *c).collect(),
        }
    }
}

/// Full HTTP endpoints under `/plugin/<id>/` (Flask blueprints in OctoPrint).
/// Restart-needing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `BlueprintPlugin`, but `Blueprint` is in its export_plugin! `mixins:` list",
    label = "implement `BlueprintPlugin` for `{Self}`, or remove `Blueprint` from `mixins:`"
)]
pub trait BlueprintPlugin: Plugin {
    /// Declares the routes and error handlers. Called once, when the plugin is enabled.
    fn blueprint(&self, routes: &mut BlueprintRoutes<Self>)
    where
        Self: Sized;

    /// Whether a logged-in user is needed for the routes (default `true`;
    /// anonymous callers get 403). Static files are always public.
    fn is_blueprint_protected(&self) -> bool {
        true
    }

    /// Whether unsafe methods need a CSRF token (default `true`).
    fn is_blueprint_csrf_protected(&self) -> bool {
        true
    }

    /// Path prefixes under which errors are answered as JSON; `None` (default) means all.
    /// A request matches a prefix by `starts_with`.
    fn get_blueprint_api_prefixes(&self) -> Option<Vec<String>> {
        None
    }

    /// Options of the blueprint, as OctoPrint's: `{"static_folder": …,
    /// "template_folder": …}`, each a folder relative to the plugin's base
    /// folder (or absolute). `static_folder` serves
    /// `/plugin/<id>/static/…` (before the plugin's asset folder and the
    /// files compiled in); `template_folder` is where
    /// [`Response::template`](crate::Response::template) finds templates
    /// first. Default: neither, and then, as OctoPrint's default, static
    /// files come from an [`AssetPlugin`](crate::AssetPlugin)'s
    /// `get_asset_folder` and templates from a
    /// [`TemplatePlugin`](crate::TemplatePlugin)'s `get_template_folder`,
    /// else from the plugin's `static/` and `templates/`.
    /// The host asks once, when the blueprint is mounted.
    fn get_blueprint_kwargs(&self) -> Value {
        Value::Object(Map::new())
    }
}

mixin_marker!(Blueprint, BlueprintPlugin, |inst, method, args| {
    let p = &inst.plugin;
    let routes = || {
        inst.blueprint.get_or_init(|| {
            let mut r = BlueprintRoutes::default();
            p.blueprint(&mut r);
            r
        })
    };
    match method {
        GetBlueprintSpec::ID => serve::<GetBlueprintSpec>(args, |()| routes().spec()),
        HandleBlueprintRoute::ID => serve_result::<HandleBlueprintRoute>(args, |(i, req)| {
            match routes().routes.get(i as usize) {
                Some((_, handler)) => handler(p, &req),
                None => Err(PluginError::new(format!("no route number {i}"))),
            }
        }),
        HandleBlueprintError::ID => serve_result::<HandleBlueprintError>(args, |(code, req)| {
            match routes().errors.iter().find(|(c, _)| *c == code) {
                Some((_, handler)) => Ok(handler(p, &req)),
                None => Err(PluginError::new(format!("no error handler for {code}"))),
            }
        }),
        IsBlueprintProtected::ID => {
            serve::<IsBlueprintProtected>(args, |()| p.is_blueprint_protected())
        }
        IsBlueprintCsrfProtected::ID => {
            serve::<IsBlueprintCsrfProtected>(args, |()| p.is_blueprint_csrf_protected())
        }
        GetBlueprintApiPrefixes::ID => {
            serve::<GetBlueprintApiPrefixes>(args, |()| p.get_blueprint_api_prefixes())
        }
        GetBlueprintKwargs::ID => serve::<GetBlueprintKwargs>(args, |()| p.get_blueprint_kwargs()),
        _ => CallOutcome::Unsupported,
    }
});
