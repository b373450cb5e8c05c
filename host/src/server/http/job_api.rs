//! `GET`/`POST /api/job`: the virtual printer's job (OctoPrint's job API).
//!
//! Commands: `start` (the selected file), `restart` (a paused job, from
//! the beginning), `pause` (with `action` `pause`,
//! `resume` or `toggle`; `toggle` by default, as in OctoPrint), `resume`,
//! `cancel`. Pausing a paused job or resuming a printing one does nothing; a
//! command that does not fit the printer's state is 409.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::Value;

use super::extract::{perm, JsonBody, Permitted};
use super::{blocking, ApiError, App};
use crate::jobs::JobError;

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        let status = match &e {
            JobError::NotFound(_) => StatusCode::NOT_FOUND,
            JobError::Invalid(_) => StatusCode::BAD_REQUEST,
            JobError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JobError::Conflict(_) => StatusCode::CONFLICT,
            JobError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// `GET /api/job`.
pub async fn get(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Status>,
) -> Result<Json<Value>, ApiError> {
    let jobs = app.jobs.clone();
    let job = blocking(move || jobs.printer.job()).await?;
    Ok(Json(job))
}

/// `POST /api/job`.
pub async fn command(
    State(app): State<Arc<App>>,
    Permitted(caller, _): Permitted<perm::Print>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let command = body
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the body needs a `command`"))?
        .to_owned();
    let action = match body.get("action") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "`action` must be pause, resume or toggle",
            ))
        }
    };
    let printer = app.jobs.printer.clone();
    let user = caller.name().map(str::to_owned);
    blocking(move || match (command.as_str(), action.as_deref()) {
        ("start", _) => printer.start_as(user.as_deref()),
        ("restart", _) => printer.restart(),
        ("pause", Some("pause")) => printer.pause(),
        ("pause", Some("resume")) | ("resume", _) => printer.resume(),
        ("pause", None | Some("toggle")) => printer.toggle_pause(),
        ("pause", Some(other)) => Err(JobError::Invalid(format!(
            "unknown pause action {other:?} (pause, resume or toggle)"
        ))),
        ("cancel", _) => printer.cancel(),
        (other, _) => Err(JobError::Invalid(format!(
            "unknown command {other:?} (start, restart, pause, resume or cancel)"
        ))),
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}
