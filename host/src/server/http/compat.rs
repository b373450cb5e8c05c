//! What OctoPrint's clients count on from any request, in one layer around
//! the routes:
//!
//! - an API key is taken from `X-Api-Key`, or else from the query's
//!   `apikey` or an `Authorization: Bearer <key>` header (both as
//!   OctoPrint's), and handed on as `X-Api-Key`;
//! - every error under `/api/` is JSON, `{"error": "<message>"}`, whatever
//!   produced it (a rejected multipart body, a wrong content type, …).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The longest plain-text error that is wrapped as JSON (longer ones are cut).
const ERROR_TEXT_LIMIT: usize = 16 * 1024;

/// The key of a request that has no `X-Api-Key`: `?apikey=` (on the API,
/// plugin, download and push paths only) or a bearer token.
fn other_key(request: &Request) -> Option<String> {
    let path = request.uri().path();
    let keyed = ["/api/", "/plugin/", "/downloads/", "/ws", "/sockjs/"]
        .iter()
        .any(|p| path.starts_with(p));
    let from_query = request.uri().query().filter(|_| keyed).and_then(|q| {
        q.split('&').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name == "apikey").then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    });
    let bearer = || {
        let value = request
            .headers()
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, key) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| key.trim().to_owned())
    };
    from_query.or_else(bearer).filter(|k| !k.is_empty())
}

/// The layer: see the module documentation.
pub async fn layer(mut request: Request, next: Next) -> Response {
    if !request.headers().contains_key("x-api-key") {
        if let Some(key) = other_key(&request).and_then(|k| HeaderValue::from_str(&k).ok()) {
            request.headers_mut().insert("x-api-key", key);
        }
    }
    let under_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !under_api || !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, ERROR_TEXT_LIMIT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = match text.is_empty() {
        true => parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_owned(),
        false => text,
    };
    let mut wrapped = (
        parts.status,
        axum::Json(serde_json::json!({ "error": message })),
    )
        .into_response();
    // Keep what the original answer said beside its body (Allow, Retry-After, …).
    let body_headers = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
    ];
    for (name, value) in parts.headers.iter() {
        if !body_headers.contains(name) {
            wrapped.headers_mut().append(name.clone(), value.clone());
        }
    }
    wrapped
}

/// A request whose path starts with several slashes, with one.
pub fn collapse_leading_slashes(mut request: Request) -> Request {
    let path = request.uri().path();
    if !path.starts_with("//") {
        return request;
    }
    let trimmed = format!("/{}", path.trim_start_matches('/'));
    let rebuilt = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed,
    };
    if let Ok(path_and_query) = rebuilt.parse::<axum::http::uri::PathAndQuery>() {
        let mut parts = request.uri().clone().into_parts();
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}
