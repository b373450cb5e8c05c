//! Calls into plugins from request handlers: on the blocking pool, under a
//! time budget. A call that runs past it is logged with the plugin's
//! identifier and counted; the request gets 504 and the server goes on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, App};
use crate::plugins::object::CallError;
use crate::PluginManager;

/// Calls past the call budget one plugin may have still running: a plugin
/// whose calls hang keeps at most this many threads, and further requests
/// to it get 503 at once. Calls that answer in time never count.
pub const MAX_HUNG_CALLS_PER_PLUGIN: usize = 16;

/// Calls one plugin may have running at once, however fast: a bound on the
/// threads one plugin holds while its calls have not yet run past the budget.
pub const MAX_CALLS_PER_PLUGIN: usize = 256;

/// The calls from requests running into each plugin, with when each began.
#[derive(Default)]
pub struct CallSlots {
    running: Mutex<HashMap<String, Vec<(u64, Instant)>>>,
    next: AtomicU64,
}

/// Why a plugin takes no more calls for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// This many of its calls ran past the budget and still run.
    Hung(usize),
    /// This many of its calls run.
    Full(usize),
}

impl CallSlots {
    /// A slot for a call into `id` (`budget`: the call budget), unless too
    /// many of its calls hang or run.
    fn enter(&self, id: &str, budget: Duration) -> Result<u64, Busy> {
        let mut running = self.running.lock().unwrap();
        let calls = match running.get_mut(id) {
            Some(calls) => calls,
            None => running.entry(id.to_owned()).or_default(),
        };
        if calls.len() >= MAX_CALLS_PER_PLUGIN {
            return Err(Busy::Full(calls.len()));
        }
        let hung = calls.iter().filter(|(_, t)| t.elapsed() >= budget).count();
        if hung >= MAX_HUNG_CALLS_PER_PLUGIN {
            return Err(Busy::Hung(hung));
        }
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        calls.push((ticket, Instant::now()));
        Ok(ticket)
    }

    fn leave(&self, id: &str, ticket: u64) {
        let mut running = self.running.lock().unwrap();
        if let Some(calls) = running.get_mut(id) {
            calls.retain(|(t, _)| *t != ticket);
            if calls.is_empty() {
                running.remove(id);
            }
        }
    }

    /// The plugins with calls still running, and how many.
    pub fn still_running(&self) -> Vec<(String, usize)> {
        let running = self.running.lock().unwrap();
        running
            .iter()
            .map(|(id, c)| (id.clone(), c.len()))
            .collect()
    }
}

/// Frees a plugin's slot when the call ends (also when it panics).
struct Slot {
    app: Arc<App>,
    id: String,
    ticket: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.app.in_flight.leave(&self.id, self.ticket);
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
/// in one of the plugin's call slots ([`CallSlots`]).
pub async fn call_plugin<T: Send + 'static>(
    app: &Arc<App>,
    id: &str,
    what: &str,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let ticket = app.in_flight.enter(id, app.call_budget).map_err(|busy| {
        let why = match busy {
            Busy::Hung(n) => format!(
                "{n} calls into it ran past {} s and are still running",
                app.call_budget.as_secs_f64()
            ),
            Busy::Full(n) => format!("{n} calls into it are running"),
        };
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("plugin `{id}` is busy: {why}"),
        )
    })?;
    let slot = Slot {
        app: app.clone(),
        id: id.to_owned(),
        ticket,
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

#[cfg(test)]
mod slot_tests {
    use super::*;

    #[test]
    fn only_hung_calls_or_a_great_many_refuse_a_plugin() {
        let slots = CallSlots::default();
        let budget = Duration::from_millis(30);
        // Many calls at once that are not late: all admitted, up to the bound.
        let tickets: Vec<u64> = (0..MAX_CALLS_PER_PLUGIN)
            .map(|_| slots.enter("p", budget).unwrap())
            .collect();
        assert_eq!(
            slots.enter("p", budget),
            Err(Busy::Full(MAX_CALLS_PER_PLUGIN))
        );
        assert!(slots.enter("other", budget).is_ok(), "other plugins go on");
        for t in &tickets[MAX_HUNG_CALLS_PER_PLUGIN..] {
            slots.leave("p", *t);
        }
        // The 16 left run past the budget: now they refuse further calls.
        std::thread::sleep(budget * 2);
        assert_eq!(
            slots.enter("p", budget),
            Err(Busy::Hung(MAX_HUNG_CALLS_PER_PLUGIN))
        );
        slots.leave("p", tickets[0]);
        assert!(slots.enter("p", budget).is_ok(), "one fewer hangs");
    }

    #[test]
    fn a_plugin_with_no_call_running_leaves_no_entry() {
        let slots = CallSlots::default();
        let t = slots
            .enter("no such plugin", Duration::from_secs(1))
            .unwrap();
        assert_eq!(slots.still_running(), [("no such plugin".to_owned(), 1)]);
        slots.leave("no such plugin", t);
        assert!(slots.still_running().is_empty());
    }
}
