//! `GET /api/system/environment`: the environment detected at start-up
//! (administrators only, as OctoPrint's system information), and
//! `GET /api/system/commands`: the system commands (none: Plinth runs no
//! shell commands for the page; OctoPrint's list is empty too until an
//! administrator configures one).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{perm, Permitted};
use super::{ApiError, App};

/// `GET /api/system/environment`.
pub async fn environment(
    State(app): State<Arc<App>>,
    _: Permitted<perm::System>,
) -> Result<Json<Value>, ApiError> {
    let environment = match app.manager.environment() {
        Some(env) => env.clone(),
        None => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the environment is detected during start-up, which has not run yet",
            ))
        }
    };
    Ok(Json(environment))
}

/// `GET /api/system/commands`: `{"core": [], "custom": []}`, as OctoPrint
/// answers when no system command is configured.
pub async fn commands(_: Permitted<perm::System>) -> Json<Value> {
    Json(json!({"core": [], "custom": []}))
}
