//! `/api/plugin/<id>`: the Simple API of a plugin, validated as OctoPrint
//! does before the plugin is called.
//!
//! | case | GET | POST |
//! |---|---|---|
//! | no such plugin (or no Simple API) | 404 | 404 |
//! | protected API (default), anonymous caller | 403 | 403 |
//! | admin-only API, caller not admin | 403 | 403 |
//! | the plugin declares no commands | – | 405 |
//! | body not `application/json` | – | 415 |
//! | body not valid JSON | – | 400 |
//! | `command` missing or unknown, a mandatory parameter missing | – | 400 |
//! | the handler returns nothing | 204 | 204 |
//! | the handler fails or panics | 500 | 500 |

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use plinth_abi::methods::plugin as m;
use plinth_abi::Value;

use super::auth::Caller;
use super::calls::{call_plugin, into_http, plugin_error, plugin_request};
use super::{ApiError, App};
use crate::plugins::state::State as PluginState;
use plinth_abi::Mixin;

/// `GET /api/plugin/<id>`.
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Caller,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_access(&app, &id, &caller).await?;
    let request = plugin_request(&Method::GET, "/".into(), query, &headers, &caller);
    let plugin = id.clone();
    let answer = call_plugin(&app, &id, "on_api_get", move |pm| {
        pm.call::<m::OnApiGet>(&plugin, &request)
    })
    .await?;
    match answer.map_err(|e| plugin_error(&id, "on_api_get", e))? {
        Some(response) => Ok(into_http(response)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /api/plugin/<id>` with a JSON command.
pub async fn post(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_access(&app, &id, &caller).await?;
    caller.check_csrf(&headers)?;
    let plugin = id.clone();
    let commands = call_plugin(&app, &id, "get_api_commands", move |pm| {
        pm.call::<m::GetApiCommands>(&plugin, &())
    })
    .await?
    .map_err(|e| plugin_error(&id, "get_api_commands", e))?;
    if commands.is_empty() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("plugin `{id}` has no API commands"),
        ));
    }
    let data: Value = super::json_request(&headers, &body)?;
    let command = data
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(command) = command else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "missing `command`"));
    };
    let Some(mandatory) = commands.get(&command) else {
        let known = commands.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command `{command}` (known: {known})"),
        ));
    };
    let missing: Vec<&str> = mandatory
        .iter()
        .map(String::as_str)
        .filter(|p| data.get(*p).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "command `{command}` needs {}",
                missing
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let plugin = id.clone();
    let answer = call_plugin(&app, &id, "on_api_command", move |pm| {
        pm.call::<m::OnApiCommand>(&plugin, &(command, data))
    })
    .await?;
    match answer.map_err(|e| plugin_error(&id, "on_api_command", e))? {
        Some(response) => Ok(into_http(response)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// 404 unless the plugin is enabled with a Simple API; 403 for a protected
/// API and an anonymous caller, or an admin-only API and a non-admin.
async fn check_access(app: &Arc<App>, id: &str, caller: &Caller) -> Result<(), ApiError> {
    let has_api = app
        .manager
        .plugin(id)
        .is_some_and(|p| p.state == PluginState::Enabled && p.has(Mixin::SimpleApi));
    if !has_api {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no plugin `{id}` with a simple API"),
        ));
    }
    let plugin = id.to_owned();
    let (protected, admin_only) = call_plugin(app, id, "is_api_protected", move |pm| {
        (
            pm.call::<m::IsApiProtected>(&plugin, &()),
            pm.call::<m::IsApiAdminonly>(&plugin, &()),
        )
    })
    .await?;
    let protected = protected.map_err(|e| plugin_error(id, "is_api_protected", e))?;
    let admin_only = admin_only.map_err(|e| plugin_error(id, "is_api_adminonly", e))?;
    if admin_only && !caller.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this API is for administrators",
        ));
    }
    if protected && caller.user.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to use this API",
        ));
    }
    Ok(())
}
