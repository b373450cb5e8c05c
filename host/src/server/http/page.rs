//! The web interface over HTTP: `GET /` (see [`crate::server::web::index`]),
//! `GET /login`, and the host's static files under `/static/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::assets::{if_none_match, Asset};
use super::auth::Caller;
use super::calls::{answer_from_plugins, http_response, plugin_request, PAGE};
use super::App;
use crate::server::web::index::{self, Outcome, PageRequest};
use crate::server::web::page::escape_html;
use crate::server::web::render::Renderer;
use crate::server::web::statics;

/// Gives a visitor without one a CSRF token, as OctoPrint's pages set
/// one: anonymous callers send it back (`X-CSRF-Token`) to the
/// CSRF-protected routes of plugins (see `Caller::check_csrf_anonymous_too`).
fn with_csrf_cookie(headers: &HeaderMap, mut response: Response) -> Response {
    let has_token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| super::sessions::cookie(c, super::sessions::CSRF_COOKIE))
        .is_some_and(|t| !t.is_empty());
    if !has_token {
        let cookie = format!(
            "{}={}; Path=/; SameSite=Lax",
            super::sessions::CSRF_COOKIE,
            super::sessions::token()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// `GET /`.
pub async fn index(
    State(app): State<Arc<App>>,
    caller: Caller,
    method: Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let response = page(app, caller, method, uri, query, &headers).await;
    with_csrf_cookie(&headers, response)
}

async fn page(
    app: Arc<App>,
    caller: Caller,
    method: Method,
    uri: Uri,
    query: BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let request = plugin_request(&method, uri.path().to_owned(), query, headers, &caller);
    let refresh = request.query.get("_refresh").map(String::as_str) == Some("true")
        || ["cache-control", "pragma"].iter().any(|h| {
            request
                .headers
                .get(*h)
                .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"))
        });
    let target = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let worker = app.clone();
    let user = caller.name().map(str::to_owned);
    // The page asks many plugins; one that hangs must not hang the page
    // forever: past the call budget the request gets 504 (and the log says
    // so). Pages that came fast lately are made on the request's own thread
    // (see `calls`).
    let work = answer_from_plugins(&app, PAGE, "the page", move |manager| {
        let first_run = crate::server::web::first_run(manager, &worker.users);
        let may = |p: &str| caller.has(p);
        index::answer(
            manager,
            &worker.web,
            &PageRequest {
                request,
                refresh,
                first_run,
                may: &may,
                record: true,
            },
        )
    });
    let outcome = match work.await {
        Ok(outcome) => outcome,
        Err(e) if e.status == StatusCode::GATEWAY_TIMEOUT => {
            tracing::warn!(
                "the page took longer than {:?}: a TemplatePlugin, AssetPlugin, WizardPlugin or UiPlugin is not answering",
                app.call_budget
            );
            return (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the page took longer than {:?}: a plugin is not answering (see the log)",
                    app.call_budget
                ),
            )
                .into_response();
        }
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many pages wait for plugins that do not answer; try again later",
            )
                .into_response()
        }
        Err(_) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed (see the log)",
            )
                .into_response()
        }
    };
    match outcome {
        Outcome::Page {
            page,
            stamp,
            hit,
            plugin,
        } => {
            // The body is shared with the cache, not copied.
            let mut response = http_response(page.status, page.headers, page.body);
            // What the plugin set stays; the rest is the host's.
            let mut put = |name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    response.headers_mut().entry(name).or_insert(v);
                }
            };
            put("etag", &stamp.etag);
            if let Some(lm) = stamp.last_modified {
                put("last-modified", &httpdate::fmt_http_date(lm));
            }
            put("cache-control", "no-cache");
            put("x-plinth-cache", if hit { "hit" } else { "miss" });
            put("x-plinth-ui", plugin.as_deref().unwrap_or("_default"));
            // A plugin may set its own ETag; that is the one the browser sends back.
            let etag = response
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(&stamp.etag)
                .to_owned();
            if !refresh && if_none_match(headers, &etag) == Some(true) {
                let headers = std::mem::take(response.headers_mut());
                return (StatusCode::NOT_MODIFIED, headers).into_response();
            }
            response
        }
        Outcome::Login(missing) => match user {
            // Logging in again would only come back here.
            Some(name) => (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                format!(
                    "<!doctype html><meta charset=\"utf-8\"><title>Plinth</title>\
                     <p>You are logged in as <b>{}</b>, but this page needs the \
                     permissions {}. Ask an administrator for them, or \
                     <a href=\"/login?redirect=%2F\">log in as someone else</a>.</p>",
                    escape_html(&name),
                    escape_html(&missing.join(", "))
                ),
            )
                .into_response(),
            None => {
                let to = format!("/login?redirect={}", urlencode(&target));
                Redirect::to(&to).into_response()
            }
        },
        Outcome::Failed(e) => {
            tracing::error!("the page failed to render: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page failed to render: {e}"),
            )
                .into_response()
        }
    }
}

/// `GET /login?redirect=<path>`: the login page. A redirect that is not a
/// path on this server (`//host`, `http:`) becomes `/`.
pub async fn login(
    State(app): State<Arc<App>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    with_csrf_cookie(&headers, login_page(app, query).await)
}

async fn login_page(app: Arc<App>, query: BTreeMap<String, String>) -> Response {
    let redirect = safe_redirect(query.get("redirect").map(String::as_str));
    let manager = app.manager.clone();
    let rendered = super::blocking(move || {
        let version = env!("CARGO_PKG_VERSION");
        let context = minijinja::Value::from_serialize(plinth_abi::json!({
            "redirect": redirect,
            "version": {"number": version, "branch": null, "display": version},
            "display_version": version,
        }));
        Renderer::new(&manager, Vec::new()).render("login.jinja2", &context)
    })
    .await;
    match rendered {
        Ok(Ok(html)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            html,
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the login page failed to render: {e}"),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// A path on this server to go to after login, else `/`.
pub fn safe_redirect(wanted: Option<&str>) -> String {
    match wanted {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `GET /favicon.ico`: the host's icon (SVG), for pages that name none.
pub async fn favicon(headers: HeaderMap) -> Response {
    let icon = statics::FAVICON_SVG.as_bytes().to_vec();
    Asset::from_bytes("favicon.svg", icon, None).respond(&headers)
}

/// `GET /static/<file>`: the host's script, styles, client library and icon.
pub async fn static_file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match statics::file(&name) {
        Some(bytes) => Asset::from_bytes(&name, bytes.to_vec(), None).respond(&headers),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `GET /static/client/<id>.js`: a plugin's part of the client library.
pub async fn client_part(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = name.strip_suffix(".js").map(str::to_owned) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let manager = app.manager.clone();
    match super::blocking(move || statics::client_part(&manager, &id)).await {
        Ok(Some(text)) => Asset::from_bytes(&name, text.into_bytes(), None).respond(&headers),
        Ok(None) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_redirect;

    #[test]
    fn redirects_stay_on_this_server() {
        assert_eq!(safe_redirect(Some("/?x=1")), "/?x=1");
        assert_eq!(safe_redirect(Some("/plugin/a/b")), "/plugin/a/b");
        for bad in [
            None,
            Some(""),
            Some("//evil.example"),
            Some("http://evil.example"),
            Some("/\\evil"),
            Some("javascript:alert(1)"),
            Some("/a\nb"),
        ] {
            assert_eq!(safe_redirect(bad), "/", "{bad:?}");
        }
    }
}
