//! `GET /api/server`: what the host is and how it runs; `GET /api/version`:
//! which OctoPrint API it speaks.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{perm, Permitted};
use super::App;

/// The OctoPrint release whose REST API and push channel Plinth speaks.
pub const OCTOPRINT_API_LEVEL: &str = "1.11.8";

/// `GET /api/version` (the `status` permission), as OctoPrint answers it:
/// `api` 0.1, `server` the OctoPrint release whose API Plinth speaks, and a
/// `text` that starts with "OctoPrint" (slicers such as PrusaSlicer check
/// it) and names Plinth.
pub async fn version(_: Permitted<perm::Status>) -> Json<Value> {
    Json(json!({
        "api": "0.1",
        "server": OCTOPRINT_API_LEVEL,
        "text": format!("OctoPrint {OCTOPRINT_API_LEVEL} (Plinth {})", env!("CARGO_PKG_VERSION")),
    }))
}

/// OctoPrint's `version` (the release whose API Plinth speaks, as
/// `/api/version`'s `server`: clients compare it) and `safemode` (with its
/// reason); then Plinth's own: its version, whether a plugin toggle waits
/// for a restart, how many plugin calls ran past their time budget, and
/// how often isolated plugins crashed and restarted.
pub async fn server(State(app): State<Arc<App>>) -> Json<Value> {
    let (crashes, restarts) = app.manager.crash_totals();
    Json(json!({
        "plugin_crashes": crashes,
        "plugin_restarts": restarts,
        "version": OCTOPRINT_API_LEVEL,
        "plinth_version": env!("CARGO_PKG_VERSION"),
        "safemode": app.manager.safe_mode(),
        "restart_pending": app.manager.restart_pending(),
        "slow_plugin_calls": app.slow_calls.load(std::sync::atomic::Ordering::Relaxed),
    }))
}
