//! Calls into plugins from request handlers: on the blocking pool, under a
//! time budget. A call that runs past it is logged with the plugin's
//! identifier and counted; the request gets 504 and the server goes on.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, App};
use crate::plugins::object::CallError;
use crate::PluginManager;

/// Calls one plugin may have running at once. A plugin whose calls hang keeps
/// at most this many threads, and further requests to it get 503 at once.
pub const MAX_CALLS_PER_PLUGIN: usize = 16;

/// Frees a plugin's slot when the call ends (also when it panics).
struct Slot {
    app: Arc<App>,
    id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = self.app.in_flight.lock().unwrap().get_mut(&self.id) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Why work for a request did not finish.
pub enum Unfinished {
    /// It ran past the call budget (counted as a slow call); it goes on on its thread.
    Late(std::time::Duration),
    /// It panicked in the host.
    Failed,
}

/// Runs `f` with the plugin manager on the blocking pool, within the call
/// budget (`server.plugin_call_timeout`): the one path by which request
/// handlers call plugins. Past the budget the call is counted as slow and the
/// request goes on without it.
pub async fn within_budget<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, Unfinished> {
    let manager = app.manager.clone();
    let task = tokio::task::spawn_blocking(move || f(&manager));
    match tokio::time::timeout(app.call_budget, task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(Unfinished::Failed),
        Err(_) => {
            app.slow_calls.fetch_add(1, Ordering::Relaxed);
            Err(Unfinished::Late(app.call_budget))
        }
    }
}

/// A plugin's view of a request: method, path (below its mount point),
/// query, headers (names lower case) and the logged-in user.
pub fn plugin_request(
    method: &axum::http::Method,
    path: String,
    query: std::collections::BTreeMap<String, String>,
    headers: &axum::http::HeaderMap,
    caller: &super::auth::Caller,
) -> plinth_abi::Request {
    plinth_abi::Request {
        method: method.as_str().to_owned(),
        path,
        query,
        headers: plugin_headers(headers),
        user: caller.name().map(str::to_owned),
        ..Default::default()
    }
}

/// Runs `f` with the plugin manager on the blocking pool, within the budget,
/// in one of the plugin's call slots ([`MAX_CALLS_PER_PLUGIN`]).
pub async fn call_plugin<T: Send + 'static>(
    app: &Arc<App>,
    id: &str,
    what: &str,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, ApiError> {
    {
        let mut in_flight = app.in_flight.lock().unwrap();
        let n = in_flight.entry(id.to_owned()).or_insert(0);
        if *n >= MAX_CALLS_PER_PLUGIN {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("plugin `{id}` is busy: {n} calls into it are still running"),
            ));
        }
        *n += 1;
    }
    let slot = Slot {
        app: app.clone(),
        id: id.to_owned(),
    };
    match within_budget(app, move |manager| {
        let _slot = slot;
        f(manager)
    })
    .await
    {
        Ok(value) => Ok(value),
        Err(Unfinished::Failed) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("plugin `{id}` failed in {what}"),
        )),
        Err(Unfinished::Late(budget)) => {
            tracing::warn!(plugin = %id, "{what} did not answer within {budget:?}");
            Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "plugin `{id}` did not answer within {} s",
                    budget.as_secs_f64()
                ),
            ))
        }
    }
}

/// A plugin's error as an answer, logged with its identifier: 500, or 502
/// when its process ended before it answered (isolated plugins).
pub fn plugin_error(id: &str, what: &str, e: CallError) -> ApiError {
    tracing::error!(plugin = %id, "{what}: {e}");
    match e {
        CallError::Crashed(fault) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("plugin `{id}` crashed: {fault}"),
        ),
        e => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("plugin `{id}` failed in {what}: {e}"),
        ),
    }
}

/// Request headers as a plugin sees them (names lower case; values that are not text left out).
pub fn plugin_headers(
    headers: &axum::http::HeaderMap,
) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// A plugin's response as an HTTP response.
pub fn into_http(response: plinth_abi::Response) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, Body::from(response.body)).into_response();
    for (name, value) in response.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.headers_mut().insert(n, v);
        }
    }
    out
}
