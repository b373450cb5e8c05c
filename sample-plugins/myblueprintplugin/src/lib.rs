//! The seed's BlueprintPlugin examples, served under `/plugin/myblueprintplugin/`:
//! - `GET /echo?text=…` answers `text`, or `400 Bad Request` with a message when it is missing;
//! - `GET /hello_world`: a GET, not subject to CSRF protection;
//! - `POST /hello_you`: CSRF-protected;
//! - `POST /hello_me`: exempt from CSRF protection (`csrf_exempt`);
//! - `is_blueprint_csrf_protected` returns true, as the seed recommends.
//!
//! Like every Blueprint plugin it is restart-needing.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct MyBlueprintPlugin {
    host: Host,
}

impl Plugin for MyBlueprintPlugin {
    fn new(host: Host) -> Self {
        MyBlueprintPlugin { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl MyBlueprintPlugin {
    /// `GET /echo`: answers the query parameter `text`.
    fn echo(&self, request: &Request) -> PluginResult<Response> {
        Ok(match request.query.get("text") {
            Some(text) => Response::text(text.clone()),
            None => Response::text("Expected a text to echo back.").status(400),
        })
    }

    /// `GET /hello_world`.
    fn hello_world(&self, _request: &Request) -> PluginResult<Response> {
        Ok(Response::text("Hello world!"))
    }

    /// `POST /hello_you`: CSRF-protected.
    fn hello_you(&self, _request: &Request) -> PluginResult<Response> {
        Ok(Response::text("Hello you!"))
    }

    /// `POST /hello_me`: exempt from CSRF protection.
    fn hello_me(&self, _request: &Request) -> PluginResult<Response> {
        Ok(Response::text("Hello me!"))
    }
}

impl BlueprintPlugin for MyBlueprintPlugin {
    fn blueprint(&self, routes: &mut BlueprintRoutes<Self>) {
        routes
            .route(&["GET"], "/echo", Self::echo)
            .route(&["GET"], "/hello_world", Self::hello_world)
            .route(&["POST"], "/hello_you", Self::hello_you)
            .route(&["POST"], "/hello_me", Self::hello_me)
            .csrf_exempt();
    }

    fn is_blueprint_csrf_protected(&self) -> bool {
        true
    }
}

export_plugin! {
    plugin: MyBlueprintPlugin,
    name: "My Blueprint Plugin",
    description: "The seed's BlueprintPlugin examples: echo, hello_world, a CSRF-protected and an exempt POST.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Blueprint],
}
