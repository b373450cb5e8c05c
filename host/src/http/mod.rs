//! The HTTP server: the host's REST API and the plugins' endpoints.
//!
//! Everything under `/api/` answers errors as JSON `{"error": "..."}`.

mod assets;
mod server_api;

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use plinth_sdk::json;

use crate::manager::PluginManager;
use crate::users::Users;

/// What request handlers share.
pub struct App {
    pub manager: PluginManager,
    pub users: Users,
}

/// The host's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/server", get(server_api::server))
        .route("/plugin/{id}/static/{*path}", get(assets::static_file))
        .fallback(not_found)
        .with_state(app)
}

/// An error answer: JSON under `/api/`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such resource: {}", uri.path()),
        )
        .into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}
