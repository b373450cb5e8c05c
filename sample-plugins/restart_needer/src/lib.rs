//! A Blueprint plugin: full HTTP endpoints under `/plugin/restart_needer/`.
//!
//! `BlueprintPlugin` is restart-needing, so enabling or disabling this plugin
//! takes effect at the next start of the host only. The sample shows:
//! - `GET /echo?text=…`: the seed's echo example, answering the query
//!   parameter `text` as plain text, or `400 Bad Request` when it is missing;
//! - `POST /hello_you`: subject to CSRF protection;
//! - `POST /hello_me`: exempt from CSRF protection (the seed's `csrf_exempt` example);
//! - an error handler answering `404 Not Found` with `{"error": "not found"}`.

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
    /// `GET /echo`: answers the query parameter `text`.
    fn echo(&self, request: &Request) -> PluginResult<Response> {
        Ok(match request.query.get("text") {
            Some(text) => Response::text(text.clone()),
            None => Response::text("Expected a text to echo back.").status(400),
        })
    }

    /// `POST /hello_you`: CSRF-protected.
    fn hello_you(&self, _request: &Request) -> PluginResult<Response> {
        Ok(Response::text("Hello you!"))
    }

    /// `POST /hello_me`: exempt from CSRF protection.
    fn hello_me(&self, _request: &Request) -> PluginResult<Response> {
        Ok(Response::text("Hello me!"))
    }

    /// Answers `404 Not Found` under the blueprint with a JSON body.
    fn not_found(&self, _request: &Request) -> Response {
        Response::json(&json!({ "error": "not found" })).status(404)
    }
}

impl BlueprintPlugin for RestartNeeder {
    fn blueprint(&self, routes: &mut BlueprintRoutes<Self>) {
        routes
            .route(&["GET"], "/echo", Self::echo)
            .route(&["POST"], "/hello_you", Self::hello_you)
            .route(&["POST"], "/hello_me", Self::hello_me)
            .csrf_exempt()
            .error_handler(404, Self::not_found);
    }

    fn is_blueprint_csrf_protected(&self) -> bool {
        true
    }
}

export_plugin! {
    plugin: RestartNeeder,
    name: "Restart Needer",
    description: "A Blueprint plugin: echo route, CSRF-protected and exempt routes, JSON 404 handler.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Blueprint],
}
