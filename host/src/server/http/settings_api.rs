//! `GET /api/settings` and `POST /api/settings`.
//!
//! GET answers OctoPrint's core sections where Plinth has the feature
//! ([`super::settings_core`], to callers with `settings_read`), the host's
//! own stored settings over them (to callers with `settings`) and, under
//! `plugins`, OctoPrint's `discovery` (built in: [`super::discovery`]) and
//! every enabled Settings plugin's
//! `on_settings_load`, with the plugin's restricted paths filtered for the
//! caller, as OctoPrint does (anonymous callers may read what is not
//! restricted). A plugin that fails to load its settings is logged and left
//! out; the others still answer.
//!
//! POST needs the `settings` permission: other keys than `plugins` are host
//! settings (checked against their declared types and ranges first: a bad one
//! is a 400 naming it and changes nothing), and each plugin in `plugins` gets
//! `on_settings_save` with its part. When a plugin's save fails (an error, a
//! panic, no answer in time), the answer is 500 naming each such plugin and
//! why, and saying which parts were saved. `SettingsUpdated` is fired with
//! OctoPrint's payload, `{"config_hash", "effective_hash"}`: never the
//! settings themselves, which every logged-in push client would receive;
//! clients read `/api/settings` again, filtered for them.

use plinth_abi::events;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};
use serde_json::Map;

use super::auth::Caller;
use super::calls::call_plugin;
use super::extract::{perm, JsonBody, Permitted};
use super::{ApiError, App};
use crate::config::restrict;
use crate::plugins::state::State as PluginState;
use plinth_abi::Mixin;

fn settings_plugins(app: &App) -> Vec<String> {
    app.manager
        .plugins()
        .into_iter()
        .filter(|p| p.state == PluginState::Enabled && p.has(Mixin::Settings))
        .map(|p| p.id)
        .collect()
}

/// `GET /api/settings`. As OctoPrint's: a caller without `settings_read`
/// (nor `settings`) gets 403 unless the first run is not over. Plinth's
/// first run ends with the first user (however made), so that is: unless
/// no user exists yet (the first-run wizard reads them before anyone can
/// log in).
pub async fn get(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let may_read = caller.has("settings_read") || caller.has("settings");
    if !may_read {
        let app2 = app.clone();
        let open =
            super::blocking(move || Ok::<_, ApiError>(app2.users.is_empty().unwrap_or(false)))
                .await??;
        if !open {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "reading the settings needs the permission settings_read",
            ));
        }
    }
    let mut out = Map::new();
    if may_read {
        let app2 = app.clone();
        let webcam = caller.has("webcam");
        out = super::blocking(move || super::settings_core::sections(&app2, webcam)).await?;
    }
    if caller.has("settings") {
        // What is stored, over the core sections' values.
        if let Value::Object(host) = app.manager.config().snapshot() {
            for (key, value) in host.into_iter().filter(|(k, _)| k != "plugins") {
                let merged = match out.remove(&key) {
                    Some(core) => crate::config::values::merge(&core, &value),
                    None => value,
                };
                out.insert(key, merged);
            }
        }
    }
    let who = caller.for_settings();
    let mut plugins = Map::new();
    for id in settings_plugins(&app) {
        let plugin = id.clone();
        let loaded = call_plugin(&app, &id, "on_settings_load", move |pm| {
            let data = pm.call::<m::OnSettingsLoad>(&plugin, &())?;
            let restricted = pm.call::<m::GetSettingsRestrictedPaths>(&plugin, &())?;
            Ok::<_, crate::plugins::object::CallError>((data, restricted))
        })
        .await;
        match loaded {
            Ok(Ok((data, restricted))) => {
                plugins.insert(id, restrict::filter(&data, &restricted, &who));
            }
            Ok(Err(e)) => tracing::error!(plugin = %id, "on_settings_load: {e}"),
            Err(e) => tracing::error!(plugin = %id, "on_settings_load: {}", e.message),
        }
    }
    // OctoPrint's bundled discovery plugin, which Plinth builds in.
    if caller.has("settings_read") || caller.has("settings") {
        let app2 = app.clone();
        let discovery = super::blocking(move || super::discovery::settings(&app2)).await?;
        plugins.entry("discovery").or_insert(discovery);
    }
    out.insert("plugins".into(), Value::Object(plugins));
    Ok(Json(Value::Object(out)))
}

/// `POST /api/settings`.
pub async fn post(
    State(app): State<Arc<App>>,
    Permitted(caller, _): Permitted<perm::Settings>,
    JsonBody(data): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(data) = data else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "send a mapping of settings",
        ));
    };
    // Check everything before changing anything: a refused request writes nothing.
    let known = settings_plugins(&app);
    let plugins = match data.get("plugins") {
        None => Map::new(),
        Some(Value::Object(plugins)) => plugins.clone(),
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "`plugins` must be a mapping",
            ))
        }
    };
    // OctoPrint's discovery plugin is built in: its part is the host's.
    let builtin = |id: &str| id == "discovery" && !known.iter().any(|k| k == id);
    if plugins
        .get("discovery")
        .is_some_and(|part| builtin("discovery") && !part.is_object())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`plugins.discovery` must be a mapping",
        ));
    }
    if let Some(id) = plugins
        .keys()
        .find(|id| !known.contains(id) && !builtin(id))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("no enabled plugin `{id}` with settings"),
        ));
    }
    let config = app.manager.config();
    let mut probe = config.snapshot();
    for (key, value) in data.iter().filter(|(k, _)| *k != "plugins") {
        crate::config::values::set(&mut probe, std::slice::from_ref(key), value.clone());
    }
    crate::config::check(&probe)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    for key in data.keys().filter(|k| *k != "plugins") {
        crate::config::host_settings::check_change(std::slice::from_ref(key), &probe)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    }
    for (key, value) in data.iter().filter(|(k, _)| *k != "plugins") {
        config
            .set(vec![key.clone()], value.clone())
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    }
    let mut plugins = plugins;
    if let Some(part) = plugins.remove("discovery").filter(|_| builtin("discovery")) {
        super::discovery::save(&app, &part)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    }
    config
        .save()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut saved = Vec::new();
    let mut failed = Map::new();
    for (id, part) in plugins {
        let plugin = id.clone();
        let outcome = call_plugin(&app, &id, "on_settings_save", move |pm| {
            pm.call::<m::OnSettingsSave>(&plugin, &part)
        })
        .await;
        let why = match outcome {
            Ok(Ok(_)) => {
                saved.push(id);
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.message,
        };
        tracing::error!(plugin = %id, "on_settings_save: {why}; its settings were not saved");
        failed.insert(id, Value::String(why));
    }
    let (config_hash, effective_hash) = config.hashes();
    app.manager.fire_event(
        events::SETTINGS_UPDATED,
        &json!({"config_hash": config_hash, "effective_hash": effective_hash}),
    );
    if !failed.is_empty() {
        let names: Vec<String> = failed.keys().map(|id| format!("`{id}`")).collect();
        let message = format!("the settings of plugin {} were not saved", names.join(", "));
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            .with("failed", Value::Object(failed))
            .with("saved", json!(saved)));
    }
    get(State(app), caller).await
}
