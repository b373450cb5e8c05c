//! Calls into plugins from request handlers, under a time budget. A call
//! that runs past it is logged with the plugin's identifier and counted;
//! the request gets 504 and the server goes on.
//!
//! Calls run on the blocking pool, except calls that answer a request
//! ([`answer_from_plugin`]) into a plugin running in process that has
//! answered fast lately: those run on the request's own thread, which
//! saves two thread switches per request (most of what a plugin's Simple
//! API costs beyond a plain route). What keeps that safe:
//! - a plugin earns it: [`QUALIFY`] calls in a row that each answered
//!   within [`FAST`], on the pool; one call on the request's thread that
//!   takes longer sends its calls back to the pool, and it must earn it
//!   again with twice as many;
//! - no new call of a plugin runs there while one of its calls runs past
//!   [`FAST`];
//! - at most one runtime thread fewer than the runtime has runs such calls
//!   at once, and a watchdog wakes another when one runs past [`FAST`], so
//!   a call that hangs there never stops the server
//!   ([`super::inline_calls`]).
//!
//! A call that answered fast before and then hangs on the request's thread
//! holds its request until it returns (the budget cannot cut it there); it
//! is logged and counted as slow like the others, and the plugin's later
//! calls go to the pool, where the budget applies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::inline_calls::{InlineCalls, InlineSlot};
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

/// A call that answers within this is fast.
pub const FAST: Duration = Duration::from_millis(2);

/// Fast calls in a row, on the blocking pool, before a plugin's calls that
/// answer requests run on the request's own thread (doubled each time one
/// of them ran there past [`FAST`]).
pub const QUALIFY: u32 = 32;

/// Records of plugins kept while none of their calls runs; past this many,
/// records of plugins with no call running are forgotten.
const KEPT_RECORDS: usize = 1024;

/// The calls from requests into each plugin: those running, with when each
/// began, and how fast its recent calls were.
pub struct CallSlots {
    records: Mutex<HashMap<String, Record>>,
    next: AtomicU64,
    /// The runtime threads that may run calls.
    inline: Arc<InlineCalls>,
}

impl CallSlots {
    /// No call running yet; `budget`: the call budget.
    pub fn new(budget: Duration) -> Self {
        Self {
            records: Default::default(),
            next: AtomicU64::new(0),
            inline: Arc::new(InlineCalls::new(FAST, budget)),
        }
    }
}

/// One plugin's calls.
#[derive(Default)]
struct Record {
    running: Vec<(u64, Instant)>,
    /// Calls in a row that answered within [`FAST`].
    streak: u32,
    /// Times a call of it on a request's thread ran past [`FAST`].
    demotions: u32,
}

impl Record {
    fn earned_inline(&self) -> bool {
        self.streak >= QUALIFY << self.demotions.min(10)
            && self.running.iter().all(|(_, t)| t.elapsed() < FAST)
    }
}

/// Why a plugin takes no more calls for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// This many of its calls ran past the budget and still run.
    Hung(usize),
    /// This many of its calls run.
    Full(usize),
}

/// Where a call runs.
enum Place {
    /// On the blocking pool, under the budget.
    Pool,
    /// On the request's own thread, in this slot.
    Inline(InlineSlot),
}

impl CallSlots {
    /// A slot for a call into `id` (`budget`: the call budget), unless too
    /// many of its calls hang or run; on the request's thread if `inline`
    /// is wanted and the plugin earned it.
    fn enter(
        &self,
        id: &str,
        what: &str,
        budget: Duration,
        inline: bool,
    ) -> Result<(u64, Place), Busy> {
        let mut records = self.records.lock().unwrap();
        if records.len() > KEPT_RECORDS {
            records.retain(|_, r| !r.running.is_empty());
        }
        let record = match records.get_mut(id) {
            Some(record) => record,
            None => records.entry(id.to_owned()).or_default(),
        };
        let calls = &mut record.running;
        if calls.len() >= MAX_CALLS_PER_PLUGIN {
            return Err(Busy::Full(calls.len()));
        }
        let hung = calls.iter().filter(|(_, t)| t.elapsed() >= budget).count();
        if hung >= MAX_HUNG_CALLS_PER_PLUGIN {
            return Err(Busy::Hung(hung));
        }
        let slot = (inline && record.earned_inline())
            .then(|| self.inline.take(format_args!("plugin `{id}`: {what}")))
            .flatten();
        let place = slot.map_or(Place::Pool, Place::Inline);
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        record.running.push((ticket, Instant::now()));
        Ok((ticket, place))
    }

    fn leave(&self, id: &str, ticket: u64, inline: bool) {
        let mut records = self.records.lock().unwrap();
        if let Some(record) = records.get_mut(id) {
            if let Some(i) = record.running.iter().position(|(t, _)| *t == ticket) {
                let (_, began) = record.running.swap_remove(i);
                if began.elapsed() <= FAST {
                    record.streak = record.streak.saturating_add(1);
                } else {
                    record.streak = 0;
                    if inline {
                        record.demotions = record.demotions.saturating_add(1);
                    }
                }
            }
        }
    }

    /// The plugins with calls still running, and how many.
    pub fn still_running(&self) -> Vec<(String, usize)> {
        let records = self.records.lock().unwrap();
        records
            .iter()
            .filter(|(_, r)| !r.running.is_empty())
            .map(|(id, r)| (id.clone(), r.running.len()))
            .collect()
    }
}

/// Frees a plugin's slot when the call ends (also when it panics).
struct Slot {
    app: Arc<App>,
    id: String,
    ticket: u64,
    inline: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.app.in_flight.leave(&self.id, self.ticket, self.inline);
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

/// Runs `f` on this thread; a panic is [`Unfinished::Failed`], a call past
/// the budget is counted and logged (the request waited for it).
fn inline<T>(
    app: &App,
    id: &str,
    what: &str,
    f: impl FnOnce(&PluginManager) -> T,
) -> Result<T, Unfinished> {
    let began = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&app.manager)));
    if began.elapsed() >= app.call_budget {
        app.slow_calls.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            plugin = %id,
            "{what} took {:?}, past the budget of {:?}, after answering fast before: its calls run on the blocking pool again",
            began.elapsed(),
            app.call_budget
        );
    }
    outcome.map_err(|_| Unfinished::Failed)
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
    run_call(app, id, what, false, f).await
}

/// Like [`call_plugin`] for a call that answers a request (a Simple API or
/// blueprint route): on the request's own thread when the plugin runs in
/// process and has answered fast lately (see the module's documentation).
pub async fn answer_from_plugin<T: Send + 'static>(
    app: &Arc<App>,
    id: &str,
    what: &str,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let in_process = !app.manager.runs_isolated(id);
    run_call(app, id, what, in_process, f).await
}

/// The name the page's calls are recorded under in [`CallSlots`] (no
/// plugin identifier starts with a space).
pub const PAGE: &str = " the page";

/// Like [`answer_from_plugin`] for work that asks several plugins (`key`
/// names it in the records, e.g. [`PAGE`]): on the request's own thread
/// when it was fast lately, whichever plugins it asks.
pub async fn answer_from_plugins<T: Send + 'static>(
    app: &Arc<App>,
    key: &str,
    what: &str,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, ApiError> {
    run_call(app, key, what, true, f).await
}

async fn run_call<T: Send + 'static>(
    app: &Arc<App>,
    id: &str,
    what: &str,
    may_inline: bool,
    f: impl FnOnce(&PluginManager) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let (ticket, place) = app
        .in_flight
        .enter(id, what, app.call_budget, may_inline)
        .map_err(|busy| {
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
        inline: matches!(place, Place::Inline(_)),
    };
    let outcome = match place {
        Place::Inline(thread) => {
            let outcome = inline(app, id, what, f);
            drop(thread);
            drop(slot);
            outcome
        }
        Place::Pool => {
            within_budget(app, move |manager| {
                let _slot = slot;
                f(manager)
            })
            .await
        }
    };
    match outcome {
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
    if let Some(template) = &response.template {
        // Rendered by blueprint routes only (see `blueprint::render`).
        tracing::error!("a plugin answered with template {template} where only blueprint routes render templates");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the plugin answered with template {template}, which only blueprint routes render"
            ),
        )
            .into_response();
    }
    http_response(response.status, response.headers, response.body)
}

/// An HTTP response of this status, headers (those that are not valid
/// HTTP left out) and body.
pub fn http_response(
    status: u16,
    headers: std::collections::BTreeMap<String, String>,
    body: impl Into<Body>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, body.into()).into_response();
    for (name, value) in headers {
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
        let slots = CallSlots::new(Duration::from_secs(1));
        let budget = Duration::from_millis(30);
        // Many calls at once that are not late: all admitted, up to the bound.
        let tickets: Vec<u64> = (0..MAX_CALLS_PER_PLUGIN)
            .map(|_| slots.enter("p", "", budget, false).unwrap().0)
            .collect();
        assert_eq!(
            slots.enter("p", "", budget, false).map(|(t, _)| t > 0),
            Err(Busy::Full(MAX_CALLS_PER_PLUGIN))
        );
        assert!(
            slots.enter("other", "", budget, false).is_ok(),
            "other plugins go on"
        );
        for t in &tickets[MAX_HUNG_CALLS_PER_PLUGIN..] {
            slots.leave("p", *t, false);
        }
        // The 16 left run past the budget: now they refuse further calls.
        std::thread::sleep(budget * 2);
        assert_eq!(
            slots.enter("p", "", budget, false).map(|(t, _)| t > 0),
            Err(Busy::Hung(MAX_HUNG_CALLS_PER_PLUGIN))
        );
        slots.leave("p", tickets[0], false);
        assert!(
            slots.enter("p", "", budget, false).is_ok(),
            "one fewer hangs"
        );
    }

    /// Enters a call of `p` that wants the request's thread; whether it got it.
    fn enter(slots: &CallSlots) -> (u64, Place) {
        slots
            .enter("p", "a call", Duration::from_secs(1), true)
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plugin_earns_the_request_thread_with_fast_calls_and_loses_it_with_a_slow_one() {
        let slots = CallSlots::new(Duration::from_secs(1));
        let fast_calls = |n: u32| {
            for _ in 0..n {
                let (t, place) = enter(&slots);
                assert!(matches!(place, Place::Pool), "not earned yet");
                slots.leave("p", t, false);
            }
        };
        fast_calls(QUALIFY);
        let (t, place) = enter(&slots);
        assert!(matches!(place, Place::Inline(_)), "earned");
        // Two workers: one may run calls, so a second call meanwhile goes to the pool.
        let (t2, second) = enter(&slots);
        assert!(matches!(second, Place::Pool));
        slots.leave("p", t2, false);
        // The first runs past FAST: no new call of the plugin gets a thread.
        std::thread::sleep(FAST * 2);
        drop(place);
        let (t3, third) = enter(&slots);
        assert!(matches!(third, Place::Pool), "a call of it runs long");
        slots.leave("p", t3, false);
        // It ends slow: the plugin earns the thread again with twice as many.
        slots.leave("p", t, true);
        fast_calls(2 * QUALIFY);
        let (t, place) = enter(&slots);
        assert!(matches!(place, Place::Inline(_)), "earned again");
        drop(place);
        slots.leave("p", t, true);
        // Calls that do not answer requests never get it.
        let (t, place) = slots.enter("p", "", Duration::from_secs(1), false).unwrap();
        assert!(matches!(place, Place::Pool));
        slots.leave("p", t, false);
    }

    #[test]
    fn outside_a_runtime_every_call_goes_to_the_pool() {
        let slots = CallSlots::new(Duration::from_secs(1));
        for _ in 0..QUALIFY * 2 {
            let (t, place) = enter(&slots);
            assert!(matches!(place, Place::Pool));
            slots.leave("p", t, false);
        }
    }

    #[test]
    fn a_plugin_with_no_call_running_leaves_no_entry() {
        let slots = CallSlots::new(Duration::from_secs(1));
        let (t, _) = slots
            .enter("no such plugin", "", Duration::from_secs(1), false)
            .unwrap();
        assert_eq!(slots.still_running(), [("no such plugin".to_owned(), 1)]);
        slots.leave("no such plugin", t, false);
        assert!(slots.still_running().is_empty());
    }
}
