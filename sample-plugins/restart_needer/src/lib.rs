//! A minimal Blueprint plugin, hence restart-needing: enabling or disabling it
//! takes effect at the next start of the host only (it becomes
//! `pending_enable` / `pending_disable` meanwhile).
//!
//! It answers `GET /plugin/restart_needer/items/<item>` with the item as JSON,
//! declares only `/items` as its API (JSON errors there, plain text elsewhere),
//! and answers unknown paths with its own 404 handler. It needs no login.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct RestartNeeder {
    host: Host,
}

impl Plugin for RestartNeeder {
    fn new(host: Host) -> Self {
        RestartNeeder { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl RestartNeeder {
    /// `GET /items/<item>`.
    fn item(&self, request: &Request) -> PluginResult<Response> {
        let item = request.params.get("item").cloned().unwrap_or_default();
        if item == "broken" {
            return Err(PluginError::new("this item is broken"));
        }
        Ok(Response::json(&json!({ "item": item })))
    }

    /// Answers `404 Not Found` under the blueprint.
    fn not_found(&self, request: &Request) -> Response {
        Response::text(format!("restart_needer has nothing at {}", request.path)).status(404)
    }
}

impl BlueprintPlugin for RestartNeeder {
    fn blueprint(&self, routes: &mut BlueprintRoutes<Self>) {
        routes
            .route(&["GET", "POST"], "/items/<item>", Self::item)
            .error_handler(404, Self::not_found);
    }

    fn is_blueprint_protected(&self) -> bool {
        false
    }

    fn get_blueprint_api_prefixes(&self) -> Option<Vec<String>> {
        Some(vec!["/items".to_owned()])
    }
}

export_plugin! {
    plugin: RestartNeeder,
    name: "Restart Needer",
    description: "A minimal Blueprint plugin (restart-needing): one public route with a parameter (GET, and POST with the CSRF token), an API prefix, a 404 handler.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Blueprint],
}
