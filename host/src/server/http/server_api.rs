//! `GET /api/server`: what the host is and how it runs.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use plinth_abi::{json, Value};

use super::App;

/// Version, safe mode and its reason (OctoPrint's `safemode`), whether a
/// plugin toggle waits for a restart, and how many plugin calls ran past
/// their time budget.
pub async fn server(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "safemode": app.manager.safe_mode(),
        "restart_pending": app.manager.restart_pending(),
        "slow_plugin_calls": app.slow_calls.load(std::sync::atomic::Ordering::Relaxed),
    }))
}
