//! The HTTP server: the host's REST API and the plugins' endpoints.
//!
//! Everything under `/api/` answers errors as JSON `{"error": "..."}`.

mod access_api;
mod appkeys;
pub(crate) mod assets;
mod auth;
pub(crate) mod blueprint;
mod calls;
mod compat;
mod discovery;
mod extract;
mod files;
mod framing;
mod inline_calls;
mod job_api;
mod login;
mod page;
mod plugins_api;
mod printer_api;
mod profiles_api;
mod push;
mod server_api;
mod sessions;
mod settings_api;
mod settings_core;
mod setup_api;
mod simple_api;
mod slicing_api;
mod system_api;
mod webcams;

pub use auth::Caller;

use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::plugins::manager::PluginManager;
use crate::users::Users;

/// What request handlers share.
pub struct App {
    pub manager: PluginManager,
    pub users: Users,
    /// How long a call into a plugin may take before the request gets 504.
    pub call_budget: std::time::Duration,
    /// Calls that ran past the budget.
    pub slow_calls: std::sync::atomic::AtomicU64,
    /// Login sessions and failed-login counts.
    pub sessions: sessions::Sessions,
    /// Reload-needing plugins toggled since start.
    pub refresh: plugins_api::Refresh,
    /// The blueprints mounted so far.
    pub blueprints: blueprint::Blueprints,
    /// Calls into each plugin still running.
    pub in_flight: calls::CallSlots,
    /// The virtual printer and the slicing manager.
    pub jobs: Arc<crate::jobs::Jobs>,
    /// The page cache and the requests recorded for preemptive caching.
    pub web: crate::server::web::Web,
    /// The server listens on a loopback address only (set by `serve`).
    pub loopback: std::sync::atomic::AtomicBool,
    /// The push channels open, per user.
    pub push_clients: push::Clients,
    /// Application key requests waiting for a decision or to be fetched.
    pub app_keys: appkeys::Requests,
    /// Plugins installed through the page since the host started.
    pub installed: plugins_api::Installed,
    /// The instance's UPnP identifier (OctoPrint's discovery plugin).
    pub upnp_uuid: String,
}

impl App {
    /// The state of a server for `manager`; the call budget comes from
    /// `server.plugin_call_timeout` in the config.
    pub fn new(manager: PluginManager) -> Self {
        let call_budget =
            crate::config::host_settings::PLUGIN_CALL_TIMEOUT.duration(manager.config());
        let sessions = sessions::Sessions::new(
            sessions::SESSION_IDLE,
            sessions::LoginLimits::from_config(manager.config()),
        );
        let users = Users::new(&manager.paths().basedir);
        let jobs = crate::jobs::Jobs::new(&manager);
        let web = crate::server::web::Web::new(&manager.paths().basedir);
        let upnp_uuid = discovery::upnp_uuid(&manager);
        Self {
            upnp_uuid,
            jobs,
            web,
            loopback: Default::default(),
            push_clients: Default::default(),
            app_keys: Default::default(),
            installed: Default::default(),
            manager,
            users,
            call_budget,
            slow_calls: Default::default(),
            sessions,
            refresh: Default::default(),
            blueprints: Default::default(),
            in_flight: calls::CallSlots::new(call_budget),
        }
    }
}

/// The host's routes.
pub fn router(app: Arc<App>) -> Router {
    let upload_limit = usize::try_from(files::max_upload(&app)).unwrap_or(usize::MAX);
    let routes = Router::new()
        .route("/api/files", get(files::list))
        .route(
            "/api/files/local",
            get(files::list)
                .post(files::upload)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/api/files/local/{*name}",
            get(files::info).delete(files::delete).post(files::command),
        )
        .route("/api/job", get(job_api::get).post(job_api::command))
        .route(
            "/api/connection",
            get(printer_api::connection).post(printer_api::connection_command),
        )
        .route("/api/printer", get(printer_api::state))
        .route(
            "/api/printerprofiles",
            get(profiles_api::list).post(profiles_api::add),
        )
        .route(
            "/api/printerprofiles/{id}",
            get(profiles_api::get)
                .patch(profiles_api::update)
                .delete(profiles_api::remove),
        )
        .route(
            "/api/printer/tool",
            get(printer_api::tool_state).post(printer_api::tool_command),
        )
        .route(
            "/api/printer/{heater}",
            get(printer_api::heater_state).post(printer_api::heater_command),
        )
        .route(
            "/api/printer/printhead",
            axum::routing::post(printer_api::printhead_command),
        )
        .route(
            "/api/printer/command",
            axum::routing::post(printer_api::command),
        )
        .route(
            "/api/printer/sd",
            get(printer_api::sd_state).post(printer_api::sd_command),
        )
        .route("/api/slicing", get(slicing_api::overview))
        .route("/api/slicing/jobs", get(slicing_api::jobs))
        .route(
            "/api/slicing/jobs/{id}",
            axum::routing::delete(slicing_api::cancel),
        )
        .route("/api/slicing/{slicer}/profiles", get(slicing_api::profiles))
        .route(
            "/api/slicing/{slicer}/profiles/{name}",
            get(slicing_api::profile)
                .put(slicing_api::put_profile)
                .delete(slicing_api::delete_profile),
        )
        .route("/api/webcams", get(webcams::list))
        .route("/api/webcams/{name}/snapshot", get(webcams::snapshot))
        .route("/api/system/environment", get(system_api::environment))
        .route("/api/system/commands", get(system_api::commands))
        .route("/downloads/files/local/{*name}", get(files::download))
        .route("/api/server", get(server_api::server))
        .route("/api/version", get(server_api::version))
        .route("/api/currentuser", get(login::current_user))
        .route("/api/access/permissions", get(access_api::permissions))
        .route("/api/access/groups", get(access_api::groups))
        .route(
            "/api/access/users",
            get(access_api::list).post(access_api::add),
        )
        .route(
            "/api/access/users/{name}",
            get(access_api::one)
                .put(access_api::change)
                .delete(access_api::remove),
        )
        .route(
            "/api/access/users/{name}/password",
            axum::routing::put(access_api::password),
        )
        .route(
            "/api/access/users/{name}/apikey",
            axum::routing::post(access_api::generate).delete(access_api::revoke),
        )
        .route("/plugin/{id}/{*rest}", axum::routing::any(blueprint::route))
        .route("/plugin/{id}/", axum::routing::any(blueprint::route))
        .route(
            "/api/plugin/{id}",
            get(simple_api::get).post(simple_api::post),
        )
        .route(
            "/api/settings",
            get(settings_api::get).post(settings_api::post),
        )
        .route(
            "/api/plugins",
            get(plugins_api::list)
                .post(plugins_api::install)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/api/plugins/{id}",
            axum::routing::post(plugins_api::command),
        )
        .route("/plugin/appkeys/probe", get(appkeys::probe))
        .route("/plugin/appkeys/auth/{token}", get(appkeys::auth_dialog))
        .route(
            "/plugin/discovery/discovery.xml",
            get(discovery::description),
        )
        .route(
            "/plugin/appkeys/request",
            axum::routing::post(appkeys::request),
        )
        .route("/plugin/appkeys/request/{token}", get(appkeys::poll))
        .route(
            "/plugin/appkeys/decision/{token}",
            axum::routing::post(appkeys::decide),
        )
        .route(
            "/api/plugin/appkeys",
            get(appkeys::list).post(appkeys::command),
        )
        .route("/ws", get(push::ws))
        .route("/sockjs/websocket", get(push::sockjs))
        .route("/sockjs/info", get(framing::info))
        .route(
            "/sockjs/{server}/{session}/websocket",
            get(push::sockjs_framed),
        )
        .route("/api/login", axum::routing::post(login::login))
        .route("/api/logout", axum::routing::post(login::logout))
        .route("/", get(page::index))
        .route("/login", get(page::login))
        .route("/static/{file}", get(page::static_file))
        .route("/favicon.ico", get(page::favicon))
        .route("/static/client/{file}", get(page::client_part))
        .route("/api/setup/admin", axum::routing::post(setup_api::admin))
        .route(
            "/api/setup/wizard",
            get(setup_api::list).post(setup_api::finish),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(compat::layer));
    // Before routing: `//api/printer/bed` is `/api/printer/bed`, as
    // OctoPrint's router (werkzeug) takes it; some clients join a base URL
    // ending in `/` with a path starting with one.
    let routes = tower::ServiceBuilder::new()
        .map_request(compat::collapse_leading_slashes)
        .service(routes.with_state(app));
    Router::new().fallback_service(routes)
}

/// 403 unless the caller has `permission`.
pub fn need(caller: &Caller, permission: &str) -> Result<(), ApiError> {
    if caller.has(permission) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this needs the `{permission}` permission"),
        ))
    }
}

/// An error answer: JSON `{"error": message}` under `/api/`, plus any details.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// More fields of the answer beside `error`.
    pub details: serde_json::Map<String, plinth_abi::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Default::default(),
        }
    }

    /// Adds the field `key` to the answer.
    pub fn with(mut self, key: &str, value: plinth_abi::Value) -> Self {
        self.details.insert(key.to_owned(), value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.details;
        body.insert("error".into(), plinth_abi::Value::String(self.message));
        (self.status, Json(plinth_abi::Value::Object(body))).into_response()
    }
}

/// A request body that must be sent as `application/json`: 415 when it is
/// not, 400 when it does not parse.
pub fn json_request(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<plinth_abi::Value, ApiError> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected content type application/json",
        ));
    }
    json_body(body)
}

/// Runs blocking work (files, plugin calls) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// An optional text field of a JSON body (`null` counts as absent); 400 for another type.
pub fn optional_text(body: &plinth_abi::Value, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(plinth_abi::Value::Null) => Ok(None),
        Some(plinth_abi::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{key}` must be text"),
        )),
    }
}

/// An optional true/false field of a JSON body (absent is false); 400 for another type.
pub fn optional_flag(body: &plinth_abi::Value, key: &str) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(plinth_abi::Value::Null) => Ok(false),
        Some(plinth_abi::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{key}` must be true or false"),
        )),
    }
}

/// A request body as JSON, or 400 saying why not.
pub fn json_body(body: &[u8]) -> Result<plinth_abi::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

async fn method_not_allowed(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} does not take this method", uri.path()),
        )
        .into_response()
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed").into_response()
    }
}

async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such resource: {}", uri.path()),
        )
        .into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}
