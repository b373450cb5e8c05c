//! `/api/plugin/<id>`: the Simple API of a plugin, validated as OctoPrint
//! does before the plugin is called. Checks and call run in one job on the
//! blocking pool: one hop per request.
//!
//! | case | GET | POST |
//! |---|---|---|
//! | no such plugin (or no Simple API) | 404 | 404 |
//! | protected API (default), anonymous caller | 403 | 403 |
//! | admin-only API, caller not admin | 403 | 403 |
//! | CSRF token missing or wrong (a session's POST) | – | 400 |
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
use plinth_abi::{Mixin, Value};

use super::auth::Caller;
use super::calls::{answer_from_plugin, into_http, plugin_error, plugin_request};
use super::{ApiError, App};
use crate::plugins::object::PluginObject;

/// What the access checks need of the caller.
#[derive(Clone, Copy)]
struct Who {
    logged_in: bool,
    admin: bool,
}

impl Who {
    fn of(caller: &Caller) -> Self {
        Self {
            logged_in: caller.user.is_some(),
            admin: caller.is_admin(),
        }
    }
}

/// `GET /api/plugin/<id>`.
pub async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Caller,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let request = plugin_request(&Method::GET, "/".into(), query, &headers, &caller);
    let who = Who::of(&caller);
    let plugin = id.clone();
    answer_from_plugin(&app, &id, "on_api_get", move |pm| {
        let object = admitted(pm, &plugin, who)?;
        let answer = object
            .call_active::<m::OnApiGet>(&request)
            .map_err(|e| plugin_error(&plugin, "on_api_get", e))?;
        Ok(answered(answer))
    })
    .await?
}

/// `POST /api/plugin/<id>` with a JSON command.
pub async fn post(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = Who::of(&caller);
    let csrf = caller.check_csrf(&headers);
    let plugin = id.clone();
    answer_from_plugin(&app, &id, "on_api_command", move |pm| {
        let object = admitted(pm, &plugin, who)?;
        csrf?;
        let (command, data) = command(&plugin, &object, &headers, &body)?;
        let answer = object
            .call_active::<m::OnApiCommand>(&(command, data))
            .map_err(|e| plugin_error(&plugin, "on_api_command", e))?;
        Ok(answered(answer))
    })
    .await?
}

fn answered(answer: Option<plinth_abi::Response>) -> Response {
    match answer {
        Some(response) => into_http(response),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// The plugin's object when the caller may use its API: 404 unless it is
/// enabled with a Simple API; 403 for a protected API and an anonymous
/// caller, or an admin-only API and a non-admin.
fn admitted(pm: &crate::PluginManager, id: &str, who: Who) -> Result<Arc<PluginObject>, ApiError> {
    let object = pm.enabled_with(id, Mixin::SimpleApi).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no plugin `{id}` with a simple API"),
        )
    })?;
    let protected = object
        .call_active::<m::IsApiProtected>(&())
        .map_err(|e| plugin_error(id, "is_api_protected", e))?;
    let admin_only = object
        .call_active::<m::IsApiAdminonly>(&())
        .map_err(|e| plugin_error(id, "is_api_adminonly", e))?;
    if admin_only && !who.admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this API is for administrators",
        ));
    }
    if protected && !who.logged_in {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in to use this API",
        ));
    }
    Ok(object)
}

/// The command and its data from the body, checked against the plugin's
/// declared commands and their mandatory parameters.
fn command(
    id: &str,
    object: &PluginObject,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Value), ApiError> {
    let commands = object
        .call_active::<m::GetApiCommands>(&())
        .map_err(|e| plugin_error(id, "get_api_commands", e))?;
    if commands.is_empty() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("plugin `{id}` has no API commands"),
        ));
    }
    let data: Value = super::json_request(headers, body)?;
    let Some(command) = data.get("command").and_then(Value::as_str) else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "missing `command`"));
    };
    let Some(mandatory) = commands.get(command) else {
        let known = commands.keys().cloned().collect::<Vec<_>>().join(", ");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command `{command}` (known: {known})"),
        ));
    };
    let missing: Vec<String> = mandatory
        .iter()
        .filter(|p| data.get(p.as_str()).is_none())
        .map(|p| format!("`{p}`"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("command `{command}` needs {}", missing.join(", ")),
        ));
    }
    Ok((command.to_owned(), data))
}
