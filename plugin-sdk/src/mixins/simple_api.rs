//! SimpleApiPlugin.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{PluginResult, Request, Response};

/// A simple API at `/api/plugin/<id>`: one GET resource and JSON commands POSTed to it.
///
/// The host validates POST requests before calling the plugin: the body must be
/// JSON, its `command` one of [`get_api_commands`](SimpleApiPlugin::get_api_commands),
/// and every mandatory parameter of that command present.
///
/// What a handler's answer becomes:
/// - `Ok(Some(response))` is sent as it is, status included. A 4xx is
///   answered this way, as OctoPrint's `flask.abort(400, …)`:
///   `Ok(Some(Response::json(&json!({"error": "no such item"})).status(404)))`.
/// - `Ok(None)` is `204 No Content`.
/// - `Err(…)` (a `?` on any error, or a panic) is logged with the plugin's
///   identifier and answered `500` with the message; a plugin that runs
///   isolated and whose process died answers `502`; one that takes longer
///   than the call budget (`server.plugin_call_timeout`) answers `504`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `SimpleApiPlugin`, but `SimpleApi` is in its export_plugin! `mixins:` list",
    label = "implement `SimpleApiPlugin` for `{Self}`, or remove `SimpleApi` from `mixins:`"
)]
pub trait SimpleApiPlugin: Plugin {
    /// The accepted commands, each with the names of its mandatory parameters.
    fn get_api_commands(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::new()
    }

    /// Whether only administrators may use the API (default `false`).
    fn is_api_adminonly(&self) -> bool {
        false
    }

    /// Whether callers must be logged in (default `true`).
    fn is_api_protected(&self) -> bool {
        true
    }

    /// Handles a command. `data` is the whole request body, `command` included.
    /// `Ok(None)` answers `204 No Content`.
    fn on_api_command(&self, command: &str, data: &Value) -> PluginResult<Option<Response>> {
        let _ = (command, data);
        Ok(None)
    }

    /// Handles a GET request. `Ok(None)` answers `204 No Content`.
    fn on_api_get(&self, request: &Request) -> PluginResult<Option<Response>> {
        let _ = request;
        Ok(None)
    }
}

mixin_marker!(SimpleApi, SimpleApiPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        GetApiCommands::ID => serve::<GetApiCommands>(args, |()| p.get_api_commands()),
        IsApiAdminonly::ID => serve::<IsApiAdminonly>(args, |()| p.is_api_adminonly()),
        IsApiProtected::ID => serve::<IsApiProtected>(args, |()| p.is_api_protected()),
        OnApiCommand::ID => serve_result::<OnApiCommand>(args, |(c, d)| p.on_api_command(&c, &d)),
        OnApiGet::ID => serve_result::<OnApiGet>(args, |r| p.on_api_get(&r)),
        _ => CallOutcome::Unsupported,
    }
});
