//! `/plugin/<id>/…`: a Blueprint plugin's routes (and, under `static/`, any
//! plugin's static files).
//!
//! Rules are Flask's: `/items/<item>`, `<int:n>` (digits), `<path:rest>`
//! (the rest, slashes included). A path that matches a rule but not its
//! method is 405. Routes need a logged-in user unless the plugin's
//! `is_blueprint_protected` is false. With `is_blueprint_csrf_protected`
//! (the default), unsafe methods on routes not marked exempt need a CSRF
//! token, as OctoPrint's: a session's own, or for anonymous callers the
//! double-submit `plinth_csrf` cookie the page sets, echoed as
//! `X-CSRF-Token` (API keys are exempt); 400 without it. Errors are
//! JSON under the plugin's API prefixes (all of it by default), plain text
//! elsewhere, unless the plugin has an error handler for the status.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use plinth_abi::methods::plugin as m;
use plinth_abi::BlueprintSpec;

use super::auth::{identify, Caller};
use super::calls::{answer_from_plugin, call_plugin, into_http, plugin_request};
use super::{assets, ApiError, App};
use crate::plugins::contributions::DEFAULT_BODY_BYTES;
use crate::plugins::state::State as PluginState;
use plinth_abi::Mixin;

/// What the host knows of one plugin's blueprint, asked for once.
pub struct Mounted {
    spec: BlueprintSpec,
    protected: bool,
    csrf: bool,
    api_prefixes: Option<Vec<String>>,
    /// `get_blueprint_kwargs`' `static_folder`, resolved.
    static_folder: Option<PathBuf>,
    /// `get_blueprint_kwargs`' `template_folder`, else (OctoPrint's default
    /// kwargs) a TemplatePlugin's `get_template_folder`, resolved.
    template_folder: Option<PathBuf>,
}

/// A folder of `get_blueprint_kwargs` (`key`), relative to the plugin's base
/// folder unless absolute; `None` when absent or not text (logged).
fn kwargs_folder(id: &str, base: &Path, kwargs: &plinth_abi::Value, key: &str) -> Option<PathBuf> {
    match kwargs.get(key)? {
        plinth_abi::Value::String(folder) => Some(base.join(folder)),
        plinth_abi::Value::Null => None,
        other => {
            tracing::warn!(plugin = %id, "get_blueprint_kwargs: `{key}` must be a folder, not {other}");
            None
        }
    }
}

/// The mounted blueprints (a Blueprint plugin is restart-needing: they do not change while running).
#[derive(Default)]
pub struct Blueprints(RwLock<HashMap<String, Arc<Mounted>>>);

/// Every request under `/plugin/<id>/`.
pub async fn route(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Body,
) -> Response {
    let Some(rest) = uri.path().strip_prefix("/plugin/") else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let (id, path) = match rest.split_once('/') {
        Some((id, path)) => (id.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), "/".to_owned()),
    };
    // Static files are public: served before anything looks at credentials,
    // from the blueprint's `static_folder` first when it has one.
    if path.starts_with("/static/") && (method == Method::GET || method == Method::HEAD) {
        if let Some(response) = from_static_folder(&app, &id, &path, &headers).await {
            return response;
        }
        return assets::static_file(app, id, &uri, &headers).await;
    }
    let caller = match identify(&app, &headers).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    // Decoded once, before matching, as Flask does; an encoded slash cannot
    // smuggle extra segments into a parameter.
    let Some(path) = decode_path(&path) else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    match handle(&app, &caller, &id, method, path, headers, query, body).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

/// The request body, refused (413) past the route's limit: 2 MiB unless
/// the plugin raised it through `octoprint.server.http.bodysize`.
async fn read_body(
    app: &Arc<App>,
    id: &str,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, Response> {
    let limits = app.manager.clone();
    let limits = super::blocking(move || limits.contributions())
        .await
        .map_err(IntoResponse::into_response)?;
    let limit = limits.body_limit(id, method.as_str(), path, DEFAULT_BODY_BYTES);
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes, the limit of {method} {path} of plugin {id}"),
        )
        .into_response()
    };
    // A declared length past the limit is refused before anything is read.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    app: &Arc<App>,
    caller: &Caller,
    id: &str,
    method: Method,
    path: String,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
    body: axum::body::Body,
) -> Result<Response, Response> {
    let enabled = app
        .manager
        .plugin(id)
        .is_some_and(|p| p.state == PluginState::Enabled && p.has(Mixin::Blueprint));
    if !enabled {
        return Err(plain(StatusCode::NOT_FOUND, "not found"));
    }
    let mounted = mounted(app, id)
        .await
        .map_err(IntoResponse::into_response)?;
    let json_errors = mounted
        .api_prefixes
        .as_ref()
        .is_none_or(|ps| ps.iter().any(|p| path.starts_with(p.as_str())));
    let fail = |status: StatusCode, message: &str| -> Response {
        if json_errors {
            ApiError::new(status, message).into_response()
        } else {
            plain(status, message)
        }
    };
    if mounted.protected && caller.user.is_none() {
        return Err(fail(StatusCode::FORBIDDEN, "log in to use this"));
    }
    // Read only once the caller may call: a raised limit is not offered to
    // callers the plugin refuses anyway.
    let body = read_body(app, id, &method, &path, &headers, body).await?;
    let mut request = plugin_request(&method, path.clone(), query, &headers, caller);
    request.body = body.to_vec();
    let mut wrong_method = false;
    let mut chosen = None;
    for (i, spec) in mounted.spec.routes.iter().enumerate() {
        if let Some(params) = match_rule(&spec.rule, &path) {
            if spec.methods.iter().any(|m| m.as_str() == method.as_str()) {
                chosen = Some((i, spec.csrf_exempt, params));
                break;
            }
            wrong_method = true;
        }
    }
    let Some((index, exempt, params)) = chosen else {
        let status = if wrong_method {
            StatusCode::METHOD_NOT_ALLOWED
        } else {
            StatusCode::NOT_FOUND
        };
        return Err(error_page(
            app,
            id,
            &mounted,
            status,
            request,
            fail(status, "no such route"),
        )
        .await);
    };
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && mounted.csrf && !exempt {
        caller
            .check_csrf_anonymous_too(&headers)
            .map_err(|e| fail(e.status, &e.message))?;
    }
    request.params = params;
    let plugin = id.to_owned();
    let req = request.clone();
    let answer = answer_from_plugin(app, id, "a blueprint route", move |pm| {
        pm.call::<m::HandleBlueprintRoute>(&plugin, &(index as u32, req))
    })
    .await
    .map_err(|e| fail(e.status, &e.message))?;
    match answer {
        Ok(response) if response.template.is_some() => {
            match rendered(app, id, &mounted, response).await {
                Ok(page) => Ok(page),
                Err(e) => {
                    tracing::error!(plugin = %id, "{} {path}: {e}", request.method);
                    Err(fail(StatusCode::INTERNAL_SERVER_ERROR, &e))
                }
            }
        }
        Ok(response) => Ok(into_http(response)),
        Err(e) => {
            tracing::error!(plugin = %id, "{} {path}: {e}", request.method);
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            Err(error_page(
                app,
                id,
                &mounted,
                status,
                request,
                fail(status, &format!("the plugin failed: {e}")),
            )
            .await)
        }
    }
}

/// Renders what a route answered with `Response::template`: the plugin's
/// template (from the blueprint's `template_folder`, else, as OctoPrint's
/// default `get_blueprint_kwargs`, a TemplatePlugin's `get_template_folder`
/// or the plugin's `templates/`, else compiled in) with the body, JSON, as
/// its context.
fn render(
    manager: &crate::PluginManager,
    id: &str,
    mounted: &Mounted,
    response: &plinth_abi::Response,
) -> Result<String, String> {
    use crate::server::web::{render::Renderer, sources::TemplatePlugin};
    let name = response.template.as_deref().unwrap_or_default();
    let info = manager
        .plugin(id)
        .ok_or_else(|| format!("template {name}: the plugin is gone"))?;
    let context: plinth_abi::Value = serde_json::from_slice(&response.body)
        .map_err(|e| format!("template {name}: its context is not JSON: {e}"))?;
    let plugin = TemplatePlugin {
        id: id.to_owned(),
        name: info.name.clone(),
        configs: Vec::new(),
        vars: Default::default(),
        folder: mounted
            .template_folder
            .clone()
            .or_else(|| assets::default_folder(&info, "templates")),
        library: info.path.clone(),
        files: Default::default(),
    };
    Renderer::new(manager, vec![plugin])
        .plugin_template(id, name, &minijinja::Value::from_serialize(&context))
        .map_err(|e| format!("template {name} of plugin {id} did not render: {e}"))
}

/// A file of the blueprint's `static_folder` (when the plugin is a mounted
/// Blueprint plugin with one), or `None`.
async fn from_static_folder(
    app: &Arc<App>,
    id: &str,
    path: &str,
    headers: &HeaderMap,
) -> Option<Response> {
    let blueprint = app
        .manager
        .plugin(id)
        .is_some_and(|p| p.state == PluginState::Enabled && p.has(Mixin::Blueprint));
    if !blueprint {
        return None;
    }
    let folder = mounted(app, id).await.ok()?.static_folder.clone()?;
    let rel = assets::safe_relative(path.strip_prefix("/static/")?)?;
    let asset = super::blocking(move || assets::from_folder(&folder, &rel))
        .await
        .ok()??;
    Some(asset.respond(headers))
}

/// The plugin's own error handler for `status`, if it has one, else `fallback`.
async fn error_page(
    app: &Arc<App>,
    id: &str,
    mounted: &Arc<Mounted>,
    status: StatusCode,
    request: plinth_abi::Request,
    fallback: Response,
) -> Response {
    if !mounted.spec.error_handlers.contains(&status.as_u16()) {
        return fallback;
    }
    let plugin = id.to_owned();
    let code = status.as_u16();
    match call_plugin(app, id, "an error handler", move |pm| {
        pm.call::<m::HandleBlueprintError>(&plugin, &(code, request))
    })
    .await
    {
        Ok(Ok(response)) if response.template.is_some() => {
            match rendered(app, id, mounted, response).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(plugin = %id, "error handler for {code}: {e}");
                    fallback
                }
            }
        }
        Ok(Ok(response)) => into_http(response),
        _ => fallback,
    }
}

/// The page a route or error handler answered with `Response::template`,
/// rendered (HTML, its status and headers kept), or why not.
async fn rendered(
    app: &Arc<App>,
    id: &str,
    mounted: &Arc<Mounted>,
    response: plinth_abi::Response,
) -> Result<Response, String> {
    let (app, plugin, mounted) = (app.clone(), id.to_owned(), mounted.clone());
    let html = super::blocking(move || {
        render(&app.manager, &plugin, &mounted, &response).map(|html| (response, html))
    })
    .await
    .map_err(|e| e.message)?;
    let (response, html) = html?;
    let mut headers = response.headers;
    headers.insert("content-type".into(), "text/html; charset=utf-8".into());
    Ok(super::calls::http_response(response.status, headers, html))
}

async fn mounted(app: &Arc<App>, id: &str) -> Result<Arc<Mounted>, ApiError> {
    if let Some(m) = app.blueprints.0.read().unwrap().get(id) {
        return Ok(m.clone());
    }
    let plugin = id.to_owned();
    let asked = call_plugin(app, id, "mounting its blueprint", move |pm| {
        let info = pm.plugin(&plugin);
        let base = info
            .as_ref()
            .map(|p| p.base_folder.clone())
            .unwrap_or_default();
        let kwargs = pm.call::<m::GetBlueprintKwargs>(&plugin, &())?;
        let template_folder =
            kwargs_folder(&plugin, &base, &kwargs, "template_folder").or_else(|| {
                let info = info.as_ref()?;
                assets::configured_folder::<m::GetTemplateFolder>(pm, info, Mixin::Template)
            });
        Ok::<_, crate::plugins::object::CallError>(Mounted {
            spec: pm.call::<m::GetBlueprintSpec>(&plugin, &())?,
            protected: pm.call::<m::IsBlueprintProtected>(&plugin, &())?,
            csrf: pm.call::<m::IsBlueprintCsrfProtected>(&plugin, &())?,
            api_prefixes: pm.call::<m::GetBlueprintApiPrefixes>(&plugin, &())?,
            static_folder: kwargs_folder(&plugin, &base, &kwargs, "static_folder"),
            template_folder,
        })
    })
    .await?
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("plugin `{id}`: {e}"),
        )
    })?;
    let mounted = Arc::new(asked);
    app.blueprints
        .0
        .write()
        .unwrap()
        .insert(id.to_owned(), mounted.clone());
    Ok(mounted)
}

fn plain(status: StatusCode, message: &str) -> Response {
    (status, message.to_owned()).into_response()
}

/// The path with each segment percent-decoded; `None` when a segment decodes
/// to something holding a slash, a backslash or a NUL, or is not UTF-8.
fn decode_path(path: &str) -> Option<String> {
    let segments: Option<Vec<String>> = path
        .split('/')
        .map(|segment| {
            let decoded = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .ok()?;
            (!decoded.contains(['/', '\\', '\0'])).then(|| decoded.into_owned())
        })
        .collect();
    Some(segments?.join("/"))
}

/// Matches a Flask-style rule against a decoded path; the route's parameters on success.
pub fn match_rule(rule: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let rule_parts: Vec<&str> = rule.trim_start_matches('/').split('/').collect();
    let path_parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut params = BTreeMap::new();
    for (i, part) in rule_parts.iter().enumerate() {
        let Some(inner) = part.strip_prefix('<').and_then(|p| p.strip_suffix('>')) else {
            if path_parts.get(i) != Some(part) {
                return None;
            }
            continue;
        };
        let (converter, name) = inner.split_once(':').unwrap_or(("string", inner));
        let value = match converter {
            "path" => {
                let rest = path_parts.get(i..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                params.insert(name.to_owned(), rest);
                return Some(params);
            }
            _ => *path_parts.get(i)?,
        };
        let ok =
            !value.is_empty() && (converter != "int" || value.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return None;
        }
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?;
        params.insert(name.to_owned(), decoded.into_owned());
    }
    (rule_parts.len() == path_parts.len()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::match_rule;

    #[test]
    fn flask_rules() {
        assert!(match_rule("/echo", "/echo").unwrap().is_empty());
        assert!(match_rule("/echo", "/echo/more").is_none());
        assert_eq!(
            match_rule("/items/<item>", "/items/a%20b").unwrap()["item"],
            "a b"
        );
        assert!(match_rule("/items/<int:n>", "/items/x").is_none());
        assert_eq!(
            match_rule("/items/<int:n>", "/items/42").unwrap()["n"],
            "42"
        );
        assert_eq!(
            match_rule("/files/<path:p>", "/files/a/b/c").unwrap()["p"],
            "a/b/c"
        );
        assert!(match_rule("/", "/").is_some());
    }
}
