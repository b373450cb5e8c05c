//! `POST /api/login` and `POST /api/logout`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::Changing;
use super::sessions::{cookie, LockedOut, CSRF_COOKIE, SESSION_COOKIE};
use super::{ApiError, App};
use crate::users::User;

fn user_json(name: &str, user: &User) -> Value {
    json!({"name": name, "admin": user.admin, "permissions": user.permissions})
}

/// Logs in with `{"user": …, "pass": …}` (OctoPrint's fields), or checks the
/// current session with `{"passive": true}`.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let data: Value = super::json_body(&body)?;
    if data.get("passive").and_then(Value::as_bool) == Some(true) {
        let session = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| cookie(c, SESSION_COOKIE))
            .and_then(|id| app.sessions.get(id));
        let session =
            session.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "not logged in"))?;
        let app2 = app.clone();
        let name = session.user.clone();
        let user = tokio::task::spawn_blocking(move || {
            app2.users.all().ok().and_then(|mut u| u.remove(&name))
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "not logged in"))?;
        return Ok(Json(user_json(&session.user, &user)).into_response());
    }
    let (Some(name), Some(pass)) = (
        data.get("user").and_then(Value::as_str),
        data.get("pass").and_then(Value::as_str),
    ) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "send `user` and `pass`, or `passive`",
        ));
    };
    let address = peer.ip();
    if let Err(locked) = app.sessions.attempt(name, address) {
        let whom = match locked {
            LockedOut::User(_) => format!("to `{name}` from this address"),
            LockedOut::Address(_) => "from this address".to_owned(),
        };
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed logins {whom}; try again in {} s",
                locked.wait().as_secs().max(1)
            ),
        ));
    }
    let (name, pass) = (name.to_owned(), pass.to_owned());
    let app2 = app.clone();
    let checked = name.clone();
    let user = tokio::task::spawn_blocking(move || app2.users.authenticate(&checked, &pass))
        .await
        .ok()
        .flatten();
    let Some(user) = user else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong user name or password",
        ));
    };
    app.sessions.succeeded(&name, address);
    Ok(open_session(&app, &name, &user))
}

/// Opens a session for `name` and answers with the user and the session's cookies.
pub fn open_session(app: &App, name: &str, user: &User) -> Response {
    let (id, session) = app.sessions.open(name);
    let mut response = Json(user_json(name, user)).into_response();
    let cookies = [
        format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax"),
        format!("{CSRF_COOKIE}={}; Path=/; SameSite=Lax", session.csrf),
    ];
    for c in cookies {
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).expect("ASCII cookie"),
        );
    }
    response
}

/// Ends the session of the request's cookie. Like every other state change
/// authenticated by the cookie, it needs the session's CSRF token (else a
/// page elsewhere could log the user out).
pub async fn logout(
    State(app): State<Arc<App>>,
    _: Changing,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(id) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookie(c, SESSION_COOKIE))
    {
        app.sessions.close(id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let c = format!("{name}=; Path=/; Max-Age=0; SameSite=Lax");
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).expect("ASCII cookie"),
        );
    }
    Ok(response)
}
