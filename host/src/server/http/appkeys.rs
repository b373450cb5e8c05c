//! Application keys, as OctoPrint's bundled appkeys plugin does them: how
//! Home Assistant, phone apps and slicers sign up without anyone copying
//! an API key by hand.
//!
//! 1. The app probes `GET /plugin/appkeys/probe` (204: supported).
//! 2. It asks `POST /plugin/appkeys/request` with `{"app": "<name>"}` (and
//!    optionally `"user"`), gets 201 with `{"app_token", "auth_dialog"}`
//!    and the absolute poll URL as `Location`. Only the application knows
//!    its `app_token`. `auth_dialog` is a URL it may open in a browser: the
//!    page, where the person logs in and sees the request.
//! 3. Logged-in users see the request on the push channel as OctoPrint's
//!    (`{"plugin": {"plugin": "appkeys", "data": {"type":
//!    "request_access", "app_name", "user_token", "user_id",
//!    "remote_address"}}}`, with a second token; the page shows a dialog,
//!    also for requests that waited before it was opened) and the named user (or, for a request naming none,
//!    any logged-in user, who then owns the key) decides with
//!    `POST /plugin/appkeys/decision/<user_token>` `{"decision": true|false}`.
//! 4. The app polls `GET /plugin/appkeys/request/<app_token>`: 202
//!    `{"message": "Awaiting decision"}` while undecided, 200 `{"api_key"}` once allowed (once only), 404 when
//!    denied, unknown or expired. A request not polled for
//!    [`POLL_TIMEOUT`], or not decided within [`DECISION_TIMEOUT`], expires.
//!
//! One address may ask 3 times a minute, 5 times in 10 minutes and 10
//! times an hour, as OctoPrint allows (429 past that).
//!
//! `GET /api/plugin/appkeys` lists the caller's keys (`?all=true`: every
//! user's, for administrators) and the requests waiting (`pending`, keyed
//! by user token, as OctoPrint's); `POST` with `{"command": "revoke", "app"}`
//! or `{"command": "generate", "app"}` manages them. Only a key's hash is
//! kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{Changing, JsonBody};
use super::{blocking, optional_text, ApiError, App, Caller};

/// A request not polled for this long expires (OctoPrint: a few seconds;
/// longer here, for slow networks).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(60);

/// A request nobody decided within this long expires, polled or not.
pub const DECISION_TIMEOUT: Duration = Duration::from_secs(600);

/// The most requests waiting at once (a flood gets 429).
const MAX_PENDING: usize = 64;

/// The longest application name taken, in characters.
const MAX_APP_NAME: usize = 128;

/// What became of a request.
#[derive(Debug, Clone)]
enum Decision {
    Waiting,
    /// A user decided yes; the key is being made.
    Deciding,
    Allowed(String),
    Denied,
}

#[derive(Debug, Clone)]
struct Request {
    app: String,
    user: Option<String>,
    /// Where the request came from, shown to whoever decides.
    remote: String,
    /// What users decide with; the map's key (`app_token`) is the app's alone.
    user_token: String,
    decision: Decision,
    created: Instant,
    polled: Instant,
}

/// How many key requests one address may make, as OctoPrint limits them:
/// (requests, within).
const ASK_LIMITS: [(usize, Duration); 3] = [
    (3, Duration::from_secs(60)),
    (5, Duration::from_secs(600)),
    (10, Duration::from_secs(3600)),
];

/// The requests waiting for a decision or to be fetched, and when each
/// address asked.
#[derive(Default)]
pub struct Requests {
    waiting: Mutex<HashMap<String, Request>>,
    asked: Mutex<HashMap<std::net::IpAddr, Vec<Instant>>>,
}

impl Requests {
    /// Counts a request from `address`; refused (with how long to wait)
    /// when it asked too often.
    fn count(&self, address: std::net::IpAddr) -> Result<(), Duration> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let longest = ASK_LIMITS[ASK_LIMITS.len() - 1].1;
        asked.retain(|_, times| {
            times.retain(|t| t.elapsed() < longest);
            !times.is_empty()
        });
        let times = asked.entry(address).or_default();
        for (most, within) in ASK_LIMITS {
            let recent: Vec<&Instant> = times.iter().filter(|t| t.elapsed() < within).collect();
            if recent.len() >= most {
                return Err(within.saturating_sub(recent[0].elapsed()));
            }
        }
        times.push(Instant::now());
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Request>> {
        let mut requests = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        requests.retain(|_, r| {
            r.polled.elapsed() < POLL_TIMEOUT
                && (!matches!(r.decision, Decision::Waiting)
                    || r.created.elapsed() < DECISION_TIMEOUT)
        });
        requests
    }
}

fn notify(app: &App, data: Value) {
    app.manager
        .push(&json!({"plugin": {"plugin": "appkeys", "data": data}}));
}

/// `GET /plugin/appkeys/probe`: the workflow is supported.
pub async fn probe() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `POST /plugin/appkeys/request`: an application asks for a key.
pub async fn request(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let name = optional_text(&body, "app")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the request needs an `app` name"))?;
    if name.chars().count() > MAX_APP_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the `app` name must be one line of at most {MAX_APP_NAME} characters"),
        ));
    }
    let user = optional_text(&body, "user")?.filter(|u| !u.is_empty());
    if let Err(wait) = app.app_keys.count(peer.ip()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many key requests from this address; try again in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    let token = crate::users::random_key();
    let user_token = crate::users::random_key();
    {
        let mut requests = app.app_keys.lock();
        if requests.len() >= MAX_PENDING {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many application key requests wait already; try again later",
            ));
        }
        requests.insert(
            token.clone(),
            Request {
                app: name.clone(),
                user: user.clone(),
                remote: peer.ip().to_string(),
                user_token: user_token.clone(),
                decision: Decision::Waiting,
                created: Instant::now(),
                polled: Instant::now(),
            },
        );
    }
    tracing::info!("application {name:?} asks for an API key");
    notify(
        &app,
        json!({"type": "request_access", "app_name": name, "user_token": user_token,
               "user_id": user, "remote_address": peer.ip().to_string()}),
    );
    let base = super::files::base_url(&headers);
    let location = format!("{base}/plugin/appkeys/request/{token}");
    let auth_dialog = format!("{base}/plugin/appkeys/auth/{token}");
    let mut response = (
        StatusCode::CREATED,
        Json(json!({ "app_token": token, "auth_dialog": auth_dialog })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /plugin/appkeys/auth/<token>`: where an application sends the
/// person (OctoPrint's `auth_dialog`): the page, which asks them to log in
/// and then shows the request's dialog. 404 for a request that is not
/// waiting.
pub async fn auth_dialog(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let waiting = app
        .app_keys
        .lock()
        .get(&token)
        .is_some_and(|r| matches!(r.decision, Decision::Waiting));
    if !waiting {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such request: decided, expired or unknown",
        ));
    }
    Ok(axum::response::Redirect::to("/").into_response())
}

/// `GET /plugin/appkeys/request/<token>`: the application polls.
pub async fn poll(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no such request: denied, expired or unknown",
        )
    };
    let mut requests = app.app_keys.lock();
    let request = requests.get_mut(&token).ok_or_else(gone)?;
    request.polled = Instant::now();
    match request.decision.clone() {
        Decision::Waiting | Decision::Deciding => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"message": "Awaiting decision"})),
        )
            .into_response()),
        Decision::Allowed(key) => {
            requests.remove(&token);
            Ok(Json(json!({ "api_key": key })).into_response())
        }
        Decision::Denied => {
            requests.remove(&token);
            Err(gone())
        }
    }
}

/// `POST /plugin/appkeys/decision/<user_token>`: a logged-in user decides.
/// A request that named a user is that user's alone to decide (as
/// OctoPrint: not even an administrator decides for another user), and the
/// key is theirs; otherwise the key is the deciding user's.
pub async fn decide(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(user_token): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let Some(decider) = caller.name().map(str::to_owned) else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "log in to decide"));
    };
    let allow = body
        .get("decision")
        .and_then(Value::as_bool)
        .ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "`decision` must be true or false")
        })?;
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "no such request: expired or unknown");
    // Checked and claimed under one lock: two decisions never both count.
    let (token, request) = {
        let mut requests = app.app_keys.lock();
        let (token, request) = requests
            .iter_mut()
            .find(|(_, r)| r.user_token == user_token)
            .ok_or_else(unknown)?;
        if !matches!(request.decision, Decision::Waiting) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "this request was decided already",
            ));
        }
        if request.user.as_ref().is_some_and(|u| *u != decider) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "the request is for user `{}`: only they decide it",
                    request.user.as_deref().unwrap_or_default()
                ),
            ));
        }
        request.decision = if allow {
            Decision::Deciding
        } else {
            Decision::Denied
        };
        (token.clone(), request.clone())
    };
    if allow {
        let owner = request.user.clone().unwrap_or_else(|| decider.clone());
        let app2 = app.clone();
        let name = request.app.clone();
        let made = blocking(move || app2.users.new_app_key(&owner, &name)).await;
        let decision = match made {
            Ok(Ok(key)) => Decision::Allowed(key),
            _ => Decision::Denied,
        };
        let failed = matches!(decision, Decision::Denied);
        if let Some(r) = app.app_keys.lock().get_mut(&token) {
            r.decision = decision;
        }
        if failed {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the key could not be made",
            ));
        }
    }
    tracing::info!(
        "{decider} {} application {:?} a key",
        if allow { "gave" } else { "refused" },
        request.app
    );
    notify(
        &app,
        json!({"type": "end_request", "user_token": user_token}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// The keys of `users` (name → user), as the list shows them.
fn listing(
    users: &std::collections::BTreeMap<String, crate::users::User>,
    only: Option<&str>,
) -> Vec<Value> {
    users
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
        .flat_map(|(name, user)| {
            user.app_keys
                .iter()
                .map(move |k| json!({"app_id": k.app, "user_id": name, "created": k.created}))
        })
        .collect()
}

/// The query of the list.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/plugin/appkeys`: the caller's application keys (`?all=true`:
/// everyone's, for administrators) and the requests waiting.
pub async fn list(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let Some(name) = caller.name().map(str::to_owned) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to see application keys",
        ));
    };
    if query.all && !caller.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only administrators see every user's keys",
        ));
    }
    let app2 = app.clone();
    let users = blocking(move || app2.users.all())
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let only = (!query.all).then_some(name.as_str());
    let pending: serde_json::Map<String, Value> = app
        .app_keys
        .lock()
        .iter()
        .filter(|(_, r)| matches!(r.decision, Decision::Waiting))
        .filter(|(_, r)| query.all || r.user.as_deref().is_none_or(|u| u == name))
        .map(|(_, r)| {
            let entry = json!({"app_id": r.app, "user_id": r.user, "user_token": r.user_token,
                               "remote_address": r.remote});
            (r.user_token.clone(), entry)
        })
        .collect();
    Ok(Json(
        json!({"keys": listing(&users, only), "pending": pending}),
    ))
}

/// `POST /api/plugin/appkeys`: `{"command": "revoke", "app", "user"}`
/// (another user's: administrators) or `{"command": "generate", "app"}`
/// (a key for the caller, answered once).
pub async fn command(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let Some(me) = caller.name().map(str::to_owned) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to manage application keys",
        ));
    };
    let name = optional_text(&body, "app")?
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the command needs an `app`"))?;
    let user = optional_text(&body, "user")?.unwrap_or_else(|| me.clone());
    if user != me && !caller.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only administrators manage other users' keys",
        ));
    }
    let app2 = app.clone();
    match optional_text(&body, "command")?.as_deref() {
        Some("revoke") => {
            let (owner, app_name) = (user.clone(), name.clone());
            let revoked = blocking(move || app2.users.revoke_app_key(&owner, &app_name))
                .await?
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            if !revoked {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("`{user}` has no key for application {name:?}"),
                ));
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some("generate") => {
            let (owner, app_name) = (me.clone(), name.clone());
            let key = blocking(move || app2.users.new_app_key(&owner, &app_name))
                .await?
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            Ok(Json(json!({"app_id": name, "user_id": me, "api_key": key})).into_response())
        }
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command {other:?} (revoke or generate)"),
        )),
    }
}
