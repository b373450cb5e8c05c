//! The slicing API (OctoPrint's, plus running jobs):
//!
//! - `GET /api/slicing`: every registered slicer with its profiles;
//! - `GET /api/slicing/<slicer>/profiles`: a slicer's profiles;
//! - `GET`, `PUT` (`{"displayName", "description", "data"}`: the slicer's
//!   default profile with `data` as overrides) and `DELETE`
//!   `/api/slicing/<slicer>/profiles/<name>`;
//! - `GET /api/slicing/jobs` and `DELETE /api/slicing/jobs/<id>` (cancel).
//!
//! Slicing itself is the `slice` command of `POST /api/files/local/<model>`.
//! Reading needs the `slice` permission, changing profiles `settings`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{perm, JsonBody, Permitted};
use super::{optional_text, ApiError, App};
use crate::jobs::slicing::{profile_json, Slicing};
use crate::jobs::JobError;

/// Runs a slicing-manager call on the blocking pool (it calls plugins).
async fn on_slicing<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&Arc<Slicing>) -> Result<T, JobError> + Send + 'static,
) -> Result<T, ApiError> {
    let slicing = app.jobs.slicing.clone();
    Ok(super::blocking(move || f(&slicing)).await??)
}

/// `GET /api/slicing`.
pub async fn overview(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Slice>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(on_slicing(&app, |s| Ok(s.overview())).await?))
}

/// `GET /api/slicing/<slicer>/profiles`.
pub async fn profiles(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Slice>,
    Path(kind): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let overview = on_slicing(&app, move |s| {
        s.slicer(&kind)?;
        Ok(s.overview()[&kind]["profiles"].clone())
    })
    .await?;
    Ok(Json(overview))
}

/// `GET /api/slicing/<slicer>/profiles/<name>`.
pub async fn profile(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Slice>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let profile = on_slicing(&app, move |s| s.profile(&s.slicer(&kind)?, &name)).await?;
    Ok(Json(profile_json(&profile)))
}

/// `PUT /api/slicing/<slicer>/profiles/<name>`.
pub async fn put_profile(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Settings>,
    Path((kind, name)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let display_name = optional_text(&body, "displayName")?;
    let description = optional_text(&body, "description")?;
    let data = body.get("data").cloned();
    let saved = on_slicing(&app, move |s| {
        s.save_profile(&s.slicer(&kind)?, &name, display_name, description, data)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(profile_json(&saved))).into_response())
}

/// `DELETE /api/slicing/<slicer>/profiles/<name>`.
pub async fn delete_profile(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Settings>,
    Path((kind, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    on_slicing(&app, move |s| s.delete_profile(&s.slicer(&kind)?, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/slicing/jobs`.
pub async fn jobs(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Slice>,
) -> Result<Json<Value>, ApiError> {
    let jobs: Vec<Value> = app
        .jobs
        .slicing
        .jobs()
        .iter()
        .map(|j| j.to_json())
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// `DELETE /api/slicing/jobs/<id>`: cancels a running job.
pub async fn cancel(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Slice>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no slicing job {id:?}")))?;
    on_slicing(&app, move |s| s.cancel(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
