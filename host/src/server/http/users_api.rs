//! A user's own API key, as OctoPrint's access API manages it:
//! `POST /api/access/users/<name>/apikey` makes a new key (shown this once:
//! only its hash is kept) and `DELETE` revokes it. A user manages their
//! own key; administrators (the `users` permission) anyone's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::Changing;
use super::{blocking, ApiError, App, Caller};

fn check(caller: &Caller, name: &str) -> Result<(), ApiError> {
    match caller.name() {
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to manage API keys",
        )),
        Some(me) if me == name || caller.has("users") => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("only `{name}` or an administrator manages `{name}`'s API key"),
        )),
    }
}

/// `POST /api/access/users/<name>/apikey`: a new key, `{"apikey"}`.
pub async fn generate(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check(&caller, &name)?;
    let key = blocking(move || app.users.new_api_key(&name))
        .await?
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(Json(json!({ "apikey": key })))
}

/// `DELETE /api/access/users/<name>/apikey`: the key no longer works.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    check(&caller, &name)?;
    blocking(move || app.users.remove_api_key(&name))
        .await?
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
