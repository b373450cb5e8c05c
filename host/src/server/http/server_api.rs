//! `GET /api/server`: what the host is and how it runs.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use plinth_abi::{json, Value};

use super::App;

/// Version, safe mode and its reason (OctoPrint's `safemode`), whether a
/// plugin toggle waits for a restart, how many plugin calls ran past
/// their time budget, and how often isolated plugins crashed and restarted.
pub async fn server(State(app): State<Arc<App>>) -> Json<Value> {
    let (crashes, restarts) = app.manager.crash_totals();
    Json(json!({
        "plugin_crashes": crashes,
        "plugin_restarts": restarts,
        "version": env!("CARGO_PKG_VERSION"),
        "safemode": app.manager.safe_mode(),
        "restart_pending": app.manager.restart_pending(),
        "slow_plugin_calls": app.slow_calls.load(std::sync::atomic::Ordering::Relaxed),
    }))
}
