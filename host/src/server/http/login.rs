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

/// A user as OctoPrint's access API lists it (`User.as_dict()`): name,
/// active, admin, groups, permissions as OctoPrint's keys (`FILES_LIST`;
/// the whole list for an administrator, with `ADMIN`), needs and roles.
pub(super) fn user_record(name: &str, user: &User) -> Value {
    let mut permissions: Vec<String> = match user.admin {
        true => std::iter::once("ADMIN".to_owned())
            .chain(
                crate::users::ADMIN_PERMISSIONS
                    .iter()
                    .chain(crate::users::USER_PERMISSIONS)
                    .map(|p| p.to_ascii_uppercase()),
            )
            .chain(user.permissions.iter().map(|p| p.to_ascii_uppercase()))
            .collect(),
        false => user
            .permissions
            .iter()
            .map(|p| p.to_ascii_uppercase())
            .collect(),
    };
    permissions.sort();
    permissions.dedup();
    let groups: &[&str] = if user.admin {
        &["admins", "users"]
    } else {
        &["users"]
    };
    let roles: &[&str] = if user.admin {
        &["user", "admin"]
    } else {
        &["user"]
    };
    json!({
        "name": name,
        "active": user.active,
        "admin": user.admin,
        "user": true,
        "apikey": null,
        "groups": groups,
        "permissions": permissions,
        "needs": {"group": groups, "role": permissions.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>()},
        "roles": roles,
        "settings": {},
        "has_password": true,
    })
}

/// A user as OctoPrint's login answers it: [`user_record`] with the API
/// key when the caller sent it, and the session a push channel
/// authenticates with (`{"auth": "<name>:<session>"}`).
fn user_json(name: &str, user: &User, session: &str, apikey: Option<&str>) -> Value {
    let mut record = user_record(name, user);
    record["apikey"] = json!(apikey);
    record["session"] = json!(session);
    record["_is_external_client"] = json!(false);
    record["_login_mechanism"] = json!(if apikey.is_some() {
        "apikey"
    } else {
        "password"
    });
    record
}

/// `GET /api/currentuser`: the caller's name (`null` when anonymous), its
/// permissions as OctoPrint's keys and its groups (`guests` when anonymous).
pub async fn current_user(caller: super::auth::Caller) -> Json<Value> {
    match &caller.user {
        Some((name, user)) => {
            let full = user_json(name, user, "", None);
            Json(
                json!({"name": name, "permissions": full["permissions"], "groups": full["groups"]}),
            )
        }
        None => Json(json!({"name": null, "permissions": [], "groups": ["guests"]})),
    }
}

/// Logs in with `{"user": …, "pass": …}` (OctoPrint's fields), or checks the
/// current session with `{"passive": true}`; a passive login with an API key
/// (`X-Api-Key`, `?apikey=`, a bearer token) and no session opens one, as
/// OctoPrint's does for clients that then authenticate their push channel.
pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Only a JSON request: a cross-site form cannot log anyone in (login CSRF).
    let data: Value = super::json_request(&headers, &body)?;
    if data.get("passive").and_then(Value::as_bool) == Some(true) {
        let session = headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| cookie(c, SESSION_COOKIE))
            .and_then(|id| Some((id.to_owned(), app.sessions.get(id)?)));
        let caller = super::auth::identify(&app, &headers).await?;
        return match (session, caller.user) {
            (Some((_, session)), Some((name, user))) if name == session.user => {
                Ok(Json(user_json(&name, &user, &session.push_token, None)).into_response())
            }
            (_, Some((name, user))) if headers.contains_key("x-api-key") => {
                let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                Ok(open_session(&app, &name, &user, key))
            }
            _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "not logged in")),
        };
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
    let app2 = app.clone();
    let user =
        tokio::task::spawn_blocking(move || super::auth::with_plugin_permissions(&app2, user))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot log in"))?;
    Ok(open_session(&app, &name, &user, None))
}

/// Opens a session for `name` and answers with the user and the session's
/// cookies (`apikey`: the key the caller sent, shown back as OctoPrint does).
pub fn open_session(app: &App, name: &str, user: &User, apikey: Option<&str>) -> Response {
    let (id, session) = app.sessions.open(
        name,
        user.identity.clone(),
        apikey.map(crate::users::sha256_hex),
    );
    let mut response = Json(user_json(name, user, &session.push_token, apikey)).into_response();
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
