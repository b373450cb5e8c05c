//! The push channel, in OctoPrint's shapes, at `/ws` and at OctoPrint's
//! `/sockjs/websocket` (and in SockJS's framing at
//! `/sockjs/<server>/<session>/websocket`, see [`super::framing`]). A logged-in client (session cookie, `X-Api-Key`,
//! `?apikey=` since browsers cannot set headers on a WebSocket, or on the
//! SockJS path an `{"auth": "<user>:<session>"}` message) with the `status`
//! permission gets `{"connected": …}`, then (SockJS) `{"history": …}`, then
//! every event as `{"event": {"type": "<name>", "payload": …}}`, the
//! printer's `{"current": …}`, `{"slicingProgress": …}` and every plugin
//! message as `{"plugin": {"plugin": "<id>", "data": …}}`. A client that
//! falls more than 1,024 messages behind is told how many it missed:
//! `{"dropped": n}`.
//!
//! - A browser's upgrade authenticated by the session cookie must come from
//!   this server's own page: its `Origin` must name the host it asked (or the
//!   host a proxy in front was asked: `X-Forwarded-Host`, or `host=` of
//!   `Forwarded`). Clients with an API key carry no ambient credentials and
//!   may come from anywhere.
//! - A user has at most [`MAX_PER_USER`] push channels open at once.
//! - The client's credentials are checked again every few seconds: once its
//!   session ends, its user is removed or loses `status`, it is sent
//!   `{"reauthRequired": {"reason": …}}` and the socket is closed.
//! - The server pings; a client that answers nothing for [`SILENCE_LIMIT`] is
//!   closed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::auth::{identify, Caller};
use super::framing::{Channel, Framing, Incoming};
use super::{ApiError, App};

/// The permission every push message needs (OctoPrint's `STATUS`).
const PUSH_PERMISSION: &str = "status";
/// The permission the terminal's lines need (OctoPrint's `MONITOR_TERMINAL`).
const TERMINAL_PERMISSION: &str = "monitor_terminal";

/// A message as a client without the terminal permission gets it: the
/// printer's `current` messages without their terminal lines.
fn without_terminal(text: &str) -> String {
    if !text.starts_with(r#"{"current""#) {
        return text.to_owned();
    }
    match serde_json::from_str::<plinth_abi::Value>(text) {
        Ok(mut message) => {
            message["current"]["logs"] = serde_json::json!([]);
            message.to_string()
        }
        Err(_) => text.to_owned(),
    }
}
/// How often the client's credentials are checked again.
const RECHECK: Duration = Duration::from_secs(5);
/// How often the server pings.
const PING: Duration = Duration::from_secs(30);
/// A client silent for this long (no answer to pings) is closed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// The most push channels one user has open at once.
pub const MAX_PER_USER: usize = 32;

/// How long a channel opened without credentials may wait for its `auth`.
pub const AUTH_WAIT: Duration = Duration::from_secs(10);
/// How many wrong `auth` messages a channel may send before it is closed.
const AUTH_TRIES: usize = 3;
/// The most channels waiting for their `auth` at once.
pub const MAX_UNAUTHENTICATED: usize = 64;

/// The push channels open, per user, and those not authenticated yet.
#[derive(Default)]
pub struct Clients(
    std::sync::Mutex<std::collections::HashMap<String, usize>>,
    std::sync::atomic::AtomicUsize,
);

/// A channel waiting for its `auth`, counted until dropped.
struct Waiting(Arc<App>);

impl Waiting {
    fn new(app: &Arc<App>) -> Option<Self> {
        let waiting = &app.push_clients.1;
        let now = waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if now >= MAX_UNAUTHENTICATED {
            waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return None;
        }
        Some(Self(app.clone()))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0
            .push_clients
            .1
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One open push channel of a user, counted until dropped.
struct Open(Arc<App>, String);

impl Clients {
    /// Counts a new channel of `user`; `None` when the user has too many.
    fn open(app: &Arc<App>, user: &str) -> Option<Open> {
        let mut open = app.push_clients.0.lock().unwrap();
        let n = open.entry(user.to_owned()).or_default();
        if *n >= MAX_PER_USER {
            return None;
        }
        *n += 1;
        Some(Open(app.clone(), user.to_owned()))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut open = self.0.push_clients.0.lock().unwrap();
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// `/ws`: upgrades a request with credentials to the push channel.
pub async fn ws(
    State(app): State<Arc<App>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    open_channel(app, query, headers, upgrade, Framing::Plain, false).await
}

/// `/sockjs/websocket`: OctoPrint's push channel at OctoPrint's path
/// (SockJS's raw WebSocket endpoint: one JSON message per frame). A client
/// without credentials at the upgrade is told `connected` and hears
/// nothing else until it sends `{"auth": "<user>:<session>"}` with the
/// session of its login (`POST /api/login`, passive with an API key too).
pub async fn sockjs(
    State(app): State<Arc<App>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    open_channel(app, query, headers, upgrade, Framing::Plain, true).await
}

/// `/sockjs/<server>/<session>/websocket`: the same in SockJS's framing,
/// for SockJS clients (OctoPrint's own client libraries among them).
pub async fn sockjs_framed(
    State(app): State<Arc<App>>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    open_channel(app, query, headers, upgrade, Framing::SockJs, true).await
}

/// A push channel's user, once known.
struct Listener {
    name: String,
    terminal: bool,
    /// What authenticates it again (a session cookie or an API key).
    credentials: HeaderMap,
    _open: Open,
}

impl Listener {
    /// Admits `caller` (see [`admit`]) and counts the channel.
    fn admit(
        app: &Arc<App>,
        caller: &Caller,
        headers: &HeaderMap,
        credentials: HeaderMap,
    ) -> Result<Self, ApiError> {
        admit(caller, headers)?;
        let name = caller.name().unwrap_or_default().to_owned();
        let open = Clients::open(app, &name).ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("`{name}` has {MAX_PER_USER} push channels open already; close one first"),
            )
        })?;
        Ok(Self {
            terminal: caller.has(TERMINAL_PERMISSION),
            name,
            credentials,
            _open: open,
        })
    }
}

async fn open_channel(
    app: Arc<App>,
    query: BTreeMap<String, String>,
    mut headers: HeaderMap,
    upgrade: WebSocketUpgrade,
    framing: Framing,
    auth_later: bool,
) -> Response {
    if let Some(key) = query
        .get("apikey")
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        headers.insert("x-api-key", key);
    }
    let caller = match identify(&app, &headers).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let mut waiting = None;
    let listener = if auth_later && caller.name().is_none() {
        match Waiting::new(&app) {
            Some(w) => waiting = Some(w),
            None => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                    "{MAX_UNAUTHENTICATED} push channels wait for their `auth` already; try again"
                ),
                )
                .into_response()
            }
        }
        None
    } else {
        // Only what authenticates is kept for the checks to come.
        let mut credentials = HeaderMap::new();
        for key in [header::COOKIE.as_str(), "x-api-key"] {
            if let Some(v) = headers.get(key) {
                credentials.insert(key, v.clone());
            }
        }
        match Listener::admit(&app, &caller, &headers, credentials) {
            Ok(listener) => Some(listener),
            Err(e) => return e.into_response(),
        }
    };
    upgrade.on_upgrade(move |socket| forward(app, socket, framing, listener, waiting))
}

/// Whether `caller` may open the push channel with these request headers.
fn admit(caller: &Caller, headers: &HeaderMap) -> Result<(), ApiError> {
    if caller.name().is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to use the push channel",
        ));
    }
    // Cookie sessions are ambient credentials: refuse other sites' pages.
    if caller.csrf.is_some() && !same_origin(headers) {
        let header = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned()
        };
        tracing::info!(
            "push channel: refused a session cookie sent from Origin {} to Host {} \
             (behind a proxy, pass X-Forwarded-Host)",
            header(header::ORIGIN),
            header(header::HOST)
        );
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the push channel refuses a session cookie sent from another site (Origin does not match Host)",
        ));
    }
    if !caller.has(PUSH_PERMISSION) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the push channel needs the `{PUSH_PERMISSION}` permission"),
        ));
    }
    Ok(())
}

/// Whether a browser's `Origin` is this server: the host it asked, or the
/// host a proxy in front was asked. No `Origin` is not a browser (browsers
/// always send one with a WebSocket upgrade); `null` never matches.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some((scheme, authority)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.trim_end_matches('/').to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let origin = authority
        .strip_suffix(default_port)
        .unwrap_or(&authority)
        .to_owned();
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| {
            first.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("host")
                    .then(|| value.trim_matches('"').to_owned())
            })
        });
    [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .filter_map(|value| value.split(',').next())
        .map(str::to_owned)
        .chain(forwarded)
        .map(|host| host.trim().to_ascii_lowercase())
        .any(|host| {
            let bare = host
                .strip_suffix(":80")
                .or_else(|| host.strip_suffix(":443"))
                .unwrap_or(&host);
            origin == host || origin == bare
        })
}

/// Why a client's credentials no longer hold, if they do not.
async fn recheck(app: &Arc<App>, credentials: &HeaderMap, user: &str) -> Option<&'static str> {
    match identify(app, credentials).await {
        Ok(caller) if caller.name() == Some(user) => {
            (!caller.has(PUSH_PERMISSION)).then_some("permissions")
        }
        _ => Some("logout"),
    }
}

/// OctoPrint's `connected` message: the API level, safe mode, whether the
/// host is online, and every permission there is.
fn connected(app: &App, user: Option<&str>) -> String {
    let mut permissions: Vec<plinth_abi::Value> = crate::users::ADMIN_PERMISSIONS
        .iter()
        .chain(crate::users::USER_PERMISSIONS)
        .map(|p| serde_json::json!({"key": p.to_ascii_uppercase(), "name": p, "needs": {"role": [p]}}))
        .collect();
    for p in &app.manager.contributions().permissions {
        permissions.push(serde_json::json!({
            "key": p.key.to_ascii_uppercase(),
            "name": p.name,
            "description": p.description,
            "dangerous": p.dangerous,
            "default_groups": p.default_groups,
            "plugin": p.plugin,
            "needs": {"role": [p.key]},
        }));
    }
    let level = super::server_api::OCTOPRINT_API_LEVEL;
    serde_json::json!({"connected": {
        "version": level,
        "display_version": format!("{level} (Plinth {})", env!("CARGO_PKG_VERSION")),
        "plinth_version": env!("CARGO_PKG_VERSION"),
        "branch": null,
        "python_version": null,
        "plugin_hash": app.manager.generation().to_string(),
        "config_hash": null,
        "debug": false,
        "safe_mode": app.manager.safe_mode(),
        "online": app.jobs.connectivity.online(),
        "permissions": permissions,
        "user": user,
    }})
    .to_string()
}

/// OctoPrint's `history` message, the first after authentication: the
/// current data with the temperature history and the terminal's lines.
fn history(app: &App, terminal: bool) -> String {
    let printer = &app.jobs.printer;
    let mut data = printer.current_data();
    data["temps"] = serde_json::json!(printer.temperature_history(None));
    data["logs"] = match terminal {
        true => serde_json::json!(printer.log_lines()),
        false => serde_json::json!([]),
    };
    data["messages"] = serde_json::json!([]);
    data["busyFiles"] = serde_json::json!([]);
    data["serverTime"] = serde_json::json!(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64()));
    serde_json::json!({ "history": data }).to_string()
}

/// The user a `{"auth": "<user>:<session>"}` message names, if that
/// session is theirs and they may listen.
async fn authenticate(app: &Arc<App>, text: &str) -> Option<Listener> {
    let message: plinth_abi::Value = serde_json::from_str(text).ok()?;
    let (user, push_token) = message["auth"].as_str()?.split_once(':')?;
    let (session, found) = app.sessions.by_push_token(push_token)?;
    if found.user != user {
        return None;
    }
    let mut credentials = HeaderMap::new();
    let cookie = format!("{}={session}", super::sessions::SESSION_COOKIE);
    credentials.insert(header::COOKIE, HeaderValue::from_str(&cookie).ok()?);
    let caller = identify(app, &credentials).await.ok()?;
    // Not a browser's ambient cookie: the client sent the session itself.
    let caller = Caller {
        csrf: None,
        ..caller
    };
    Listener::admit(app, &caller, &HeaderMap::new(), credentials).ok()
}

/// Sends `text` made on the blocking pool (it may ask plugins or the
/// printer); `false` when the client is gone.
async fn send_made(
    channel: &mut Channel,
    app: &Arc<App>,
    make: impl FnOnce(&App) -> String + Send + 'static,
) -> bool {
    let app = app.clone();
    match super::blocking(move || make(&app)).await {
        Ok(text) => channel.send(&text).await,
        Err(_) => true,
    }
}

async fn forward(
    app: Arc<App>,
    socket: WebSocket,
    framing: Framing,
    mut listener: Option<Listener>,
    waiting: Option<Waiting>,
) {
    let Some(mut channel) = Channel::open(socket, framing).await else {
        return;
    };
    let user = listener.as_ref().map(|l| l.name.clone());
    if !send_made(&mut channel, &app, move |app| {
        connected(app, user.as_deref())
    })
    .await
    {
        return;
    }
    // Until a user is known, only an `auth` message is heard: for a while,
    // and for a few tries.
    let deadline = tokio::time::Instant::now() + AUTH_WAIT;
    let mut tries = 0;
    while listener.is_none() {
        let texts = match tokio::time::timeout_at(deadline, channel.recv()).await {
            Ok(Incoming::Messages(texts)) => texts,
            Ok(Incoming::Closed) => return,
            Err(_) => return channel.close().await,
        };
        for text in texts {
            if listener.is_none() {
                listener = authenticate(&app, &text).await;
                if listener.is_none() {
                    tries += 1;
                    let notice = serde_json::json!({"reauthRequired": {"reason": "logout"}});
                    if !channel.send(&notice.to_string()).await {
                        return;
                    }
                    if tries >= AUTH_TRIES {
                        return channel.close().await;
                    }
                }
            }
        }
    }
    drop(waiting);
    let Some(listener) = listener else { return };
    // Subscribed before the history is made: nothing falls between them.
    let mut messages = app.manager.subscribe_push();
    let terminal = listener.terminal;
    if !send_made(&mut channel, &app, move |app| history(app, terminal)).await {
        return;
    }
    let mut recheck_timer = tokio::time::interval(RECHECK);
    let mut ping_timer = tokio::time::interval(PING);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            message = messages.recv() => {
                let text = match message {
                    Ok(text) if !listener.terminal => without_terminal(&text),
                    Ok(text) => text.to_string(),
                    Err(RecvError::Lagged(n)) => serde_json::json!({"dropped": n}).to_string(),
                    Err(RecvError::Closed) => return,
                };
                if !channel.send(&text).await {
                    return;
                }
            }
            incoming = channel.recv() => match incoming {
                Incoming::Closed => return,
                // `throttle`, `subscribe` and a repeated `auth` are taken as signs of life.
                Incoming::Messages(_) => heard = Instant::now(),
            },
            _ = recheck_timer.tick() => {
                if let Some(reason) = recheck(&app, &listener.credentials, &listener.name).await {
                    let notice = serde_json::json!({"reauthRequired": {"reason": reason}});
                    channel.send(&notice.to_string()).await;
                    channel.close().await;
                    return;
                }
            }
            _ = ping_timer.tick() => {
                if heard.elapsed() > SILENCE_LIMIT || !channel.heartbeat().await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_this_servers_own_pages_are_the_same_origin() {
        let same = |pairs: &[(&str, &str)]| same_origin(&headers(pairs));
        assert!(same(&[("host", "127.0.0.1:5000")]), "no Origin: no browser");
        assert!(same(&[
            ("host", "127.0.0.1:5000"),
            ("origin", "http://127.0.0.1:5000")
        ]));
        assert!(same(&[
            ("host", "Printer.local"),
            ("origin", "http://printer.local")
        ]));
        assert!(same(&[
            ("host", "printer.local:80"),
            ("origin", "http://printer.local")
        ]));
        assert!(same(&[
            ("host", "printer.local"),
            ("origin", "https://printer.local:443")
        ]));
        assert!(same(&[
            ("host", "127.0.0.1:5000"),
            ("x-forwarded-host", "octopi.local"),
            ("origin", "https://octopi.local")
        ]));
        assert!(same(&[
            ("host", "127.0.0.1:5000"),
            (
                "forwarded",
                "for=10.0.0.9;proto=https;host=\"octopi.local\""
            ),
            ("origin", "https://octopi.local")
        ]));
        assert!(!same(&[
            ("host", "127.0.0.1:5000"),
            ("origin", "http://evil.example")
        ]));
        assert!(!same(&[
            ("host", "127.0.0.1:5000"),
            ("origin", "http://127.0.0.1:5001")
        ]));
        assert!(!same(&[("host", "127.0.0.1:5000"), ("origin", "null")]));
        assert!(!same(&[("origin", "http://127.0.0.1:5000")]), "no Host");
    }
}
