//! Webcams of the WebcamProvider plugins (OctoPrint's webcam API):
//!
//! - `GET /api/webcams`: every provider's configurations, providers in the
//!   `WebcamProviderPlugin.get_webcam_configurations` sorting order, each
//!   webcam with OctoPrint's schema fields and its `provider`;
//! - `GET /api/webcams/<name>/snapshot`: the JPEG from the first provider
//!   with a webcam of that name (404 when none has it, 502 when the provider
//!   fails or answers something that is not a JPEG).
//!
//! Both need the `webcam` permission.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value, Webcam};

use super::calls::call_plugin;
use super::extract::{perm, Permitted};
use super::{blocking, ApiError, App};
use crate::plugins::manager::PluginManager;
use crate::plugins::sorting::Context;
use plinth_abi::Mixin;

/// Every provider's webcams, in provider order.
pub(crate) fn webcams(manager: &PluginManager) -> Vec<(String, Webcam)> {
    let mut out = Vec::new();
    for (id, plugin) in
        manager.implementations(Mixin::WebcamProvider, Some(Context::WebcamConfigurations))
    {
        match plugin.call_active::<m::GetWebcamConfigurations>(&()) {
            Ok(cams) => out.extend(cams.into_iter().map(|c| (id.clone(), c))),
            Err(e) => tracing::error!(plugin = %id, "get_webcam_configurations: {e}"),
        }
    }
    out
}

/// `GET /api/webcams`.
pub async fn list(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Webcam>,
) -> Result<Json<Value>, ApiError> {
    let manager = app.manager.clone();
    let cams = blocking(move || webcams(&manager)).await?;
    let list: Vec<Value> = cams
        .into_iter()
        .map(|(provider, cam)| {
            let mut v = serde_json::to_value(&cam).expect("encodes");
            v["provider"] = json!(provider);
            v
        })
        .collect();
    Ok(Json(json!({ "webcams": list })))
}

/// `GET /api/webcams/<name>/snapshot`.
pub async fn snapshot(
    State(app): State<Arc<App>>,
    _: Permitted<perm::Webcam>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let manager = app.manager.clone();
    let wanted = name.clone();
    let provider = blocking(move || {
        webcams(&manager)
            .into_iter()
            .find(|(_, cam)| cam.name == wanted)
    })
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no webcam {name:?}")))?;
    let (provider, webcam) = provider;
    if !webcam.can_snapshot {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("webcam {name:?} takes no snapshots"),
        ));
    }
    let (id, cam) = (provider.clone(), name.clone());
    let bytes = call_plugin(&app, &provider, "take_webcam_snapshot", move |pm| {
        pm.call::<m::TakeWebcamSnapshot>(&id, &cam)
    })
    .await?
    .map_err(|e| {
        tracing::error!(plugin = %provider, "take_webcam_snapshot({name}): {e}");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("webcam {name:?} of plugin `{provider}` gave no snapshot: {e}"),
        )
    })?;
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("webcam {name:?} of plugin `{provider}` answered something that is not a JPEG"),
        ));
    }
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
