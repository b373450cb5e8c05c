//! `/api/printerprofiles`: OctoPrint's printer profile API. Listing and
//! reading need the `connection` permission; adding, changing and removing
//! need `settings`. Each profile is answered with `default` and `current`
//! flags and its `resource` URL, as OctoPrint's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{perm, JsonBody, Permitted};
use super::{ApiError, App};
use crate::jobs::printer::profiles::ProfileError;
use crate::jobs::printer::Profile;

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let status = match &e {
            ProfileError::Unknown(_) => StatusCode::NOT_FOUND,
            ProfileError::BadId(_) | ProfileError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ProfileError::Exists(_) | ProfileError::InUse(..) => StatusCode::CONFLICT,
            ProfileError::Io(_) | ProfileError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// A profile as the API shows it.
fn shown(app: &App, headers: &HeaderMap, profile: &Profile) -> Value {
    let printer = &app.jobs.printer;
    let mut out = profile.0.clone();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    out["default"] = json!(profile.id() == printer.profiles().default_id());
    out["current"] = json!(profile.id() == printer.profile().id());
    out["resource"] = json!(format!(
        "http://{host}/api/printerprofiles/{}",
        profile.id()
    ));
    out
}

/// The `profile` of a request body (400 without one).
fn profile_of(body: &Value) -> Result<&Value, ApiError> {
    match body.get("profile") {
        Some(p @ Value::Object(_)) => Ok(p),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body needs `profile`, a mapping",
        )),
    }
}

/// `GET /api/printerprofiles`.
pub async fn list(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Connection>,
    headers: HeaderMap,
) -> Json<Value> {
    let profiles: serde_json::Map<String, Value> = app
        .jobs
        .printer
        .profiles()
        .all()
        .iter()
        .map(|p| (p.id().to_owned(), shown(&app, &headers, p)))
        .collect();
    Json(json!({ "profiles": profiles }))
}

/// `GET /api/printerprofiles/<id>`.
pub async fn get(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Connection>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let profile = app
        .jobs
        .printer
        .profiles()
        .get(&id)
        .ok_or(ProfileError::Unknown(id))?;
    Ok(Json(shown(&app, &headers, &profile)))
}

/// `POST /api/printerprofiles`: `{"profile": {…, "id"}, "basedOn": <id>}`.
pub async fn add(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Settings>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let profile = profile_of(&body)?;
    let based_on = super::optional_text(&body, "basedOn")?;
    let profiles = app.jobs.printer.profiles();
    let added = profiles.add(profile, based_on.as_deref())?;
    if profile.get("default") == Some(&Value::Bool(true)) {
        profiles.set_default(added.id())?;
    }
    Ok(Json(json!({"profile": shown(&app, &headers, &added)})))
}

/// `PATCH /api/printerprofiles/<id>`: `{"profile": {…}}` (`"default": true`
/// makes it the default).
pub async fn update(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Settings>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut patch = profile_of(&body)?.clone();
    let make_default = patch.get("default") == Some(&Value::Bool(true));
    if let Value::Object(fields) = &mut patch {
        for key in ["id", "default", "current", "resource"] {
            fields.remove(key);
        }
    }
    let printer = &app.jobs.printer;
    let changed = printer.profiles().update(&id, &patch)?;
    if make_default {
        printer.profiles().set_default(&id)?;
    }
    printer.profile_changed(&id);
    Ok(Json(json!({"profile": shown(&app, &headers, &changed)})))
}

/// `DELETE /api/printerprofiles/<id>`: 409 for the default or current profile.
pub async fn remove(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Settings>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let printer = &app.jobs.printer;
    printer.profiles().remove(&id, printer.profile().id())?;
    Ok(StatusCode::NO_CONTENT)
}
