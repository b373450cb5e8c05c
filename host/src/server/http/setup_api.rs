//! The wizards over HTTP.
//!
//! - `POST /api/setup/admin {"user", "pass"}`: the first-run wizard's access
//!   control step. Only while no user exists (409 after); creates the
//!   administrator and logs them in.
//! - `GET /api/setup/wizard`: the wizards shown, in order, with their details.
//! - `POST /api/setup/wizard {"handled": [ids]}`: finishes a wizard session.
//!
//! Both wizard routes need the `settings` permission; on the first run the
//! list is open to everyone.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use plinth_abi::{json, Value};

use super::auth::Caller;
use super::extract::{Changing, JsonBody};
use super::{blocking, json_request, need, optional_text, ApiError, App};
use crate::server::web::page::Survey;
use crate::server::web::wizards;
use crate::users::UserError;

/// `POST /api/setup/admin`.
pub async fn admin(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if app.loopback.load(std::sync::atomic::Ordering::Relaxed) && !local_host(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "while Plinth listens on loopback only, the administrator is created only \
             through http://127.0.0.1 or http://localhost (a page under another name \
             could be a DNS-rebinding attack)",
        ));
    }
    let data = json_request(&headers, &body)?;
    let text = |key: &str| {
        optional_text(&data, key)?
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("`{key}` is missing")))
    };
    let (name, pass) = (text("user")?, text("pass")?);
    let worker = app.clone();
    let user_name = name.clone();
    let refused = |e: UserError| {
        let status = match e {
            UserError::UsersExist => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    };
    let bad = |e: String| ApiError::new(StatusCode::BAD_REQUEST, e);
    let user = blocking(move || {
        if !crate::server::web::first_run(&worker.manager, &worker.users) {
            return Err(refused(UserError::UsersExist));
        }
        worker
            .users
            .add_first_admin(&user_name, &pass)
            .map_err(refused)?;
        crate::server::web::end_first_run(&worker.manager).map_err(|e| bad(e.to_string()))?;
        worker
            .users
            .all()
            .map_err(refused)?
            .remove(&user_name)
            .ok_or_else(|| bad("the new user vanished".into()))
    })
    .await??;
    tracing::info!("first run: administrator {name} created");
    Ok(super::login::open_session(&app, &name, &user, None))
}

/// Whether the request's `Host` names this machine's loopback interface.
fn local_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get("host").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `GET /api/setup/wizard`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let worker = app.clone();
    blocking(move || {
        let first = crate::server::web::first_run(&worker.manager, &worker.users);
        if !first {
            need(&caller, "settings")?;
        }
        let survey = Survey::take(&worker.manager, first);
        let shown: Vec<Value> = survey
            .shown_wizards()
            .into_iter()
            .map(|(w, step)| {
                json!({
                    "id": w.id,
                    "name": step.map_or(w.name.as_str(), |s| s.name.as_str()),
                    "version": w.version,
                    "mandatory": step.is_some_and(|s| s.mandatory()),
                    "details": wizards::details(&worker.manager, &w.id),
                })
            })
            .collect();
        Ok(Json(json!({"firstRun": first, "wizards": shown})))
    })
    .await?
}

/// `POST /api/setup/wizard`.
pub async fn finish(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    JsonBody(data): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let handled: Vec<String> = data
        .get("handled")
        .and_then(Value::as_array)
        .and_then(|items| {
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "`handled` must be a list of plugin identifiers",
            )
        })?;
    let worker = app.clone();
    blocking(move || {
        // Finishing changes what every wizard plugin does next: always the
        // `settings` permission (the page creates the administrator first).
        need(&caller, "settings")?;
        let done = wizards::finish(&worker.manager, &handled)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(Json(json!({ "handled": done })))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::local_host;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn only_loopback_names_are_local() {
        let with = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_str(host).unwrap());
            local_host(&headers)
        };
        for good in [
            "127.0.0.1:5000",
            "localhost:5000",
            "LOCALHOST",
            "[::1]:5000",
            "127.0.0.2",
        ] {
            assert!(with(good), "{good}");
        }
        for bad in [
            "evil.example:5000",
            "evil.example",
            "192.168.1.2:5000",
            "[::2]:80",
            "localhost.evil.example",
        ] {
            assert!(!with(bad), "{bad}");
        }
        assert!(!local_host(&HeaderMap::new()));
    }
}
