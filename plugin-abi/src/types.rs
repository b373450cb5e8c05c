//! Data types that plugins and the host exchange.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An HTTP request as a plugin sees it (Blueprint routes, the Simple API, UI plugins).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// The HTTP method, upper case (`GET`, `POST`, …).
    pub method: String,
    /// The path below the plugin's mount point, starting with `/`.
    pub path: String,
    /// Values of the route's `<parameters>`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Query string values (the last one wins when a key repeats).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request headers, names in lower case.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    #[serde(default)]
    pub body: Vec<u8>,
    /// The logged-in user, if any.
    #[serde(default)]
    pub user: Option<String>,
}

impl Request {
    /// A header by name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// An HTTP response from a plugin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The response body.
    #[serde(default)]
    pub body: Vec<u8>,
    /// A template for the host to render, with the body (JSON) as its
    /// context: see [`Response::template`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

impl Response {
    /// A `200 OK` HTML response the host renders from the plugin's template
    /// `name` with `context`, as Flask's `render_template(name, **context)`
    /// in an OctoPrint blueprint: the template is looked up in the
    /// blueprint's `template_folder` (`get_blueprint_kwargs`), else the
    /// plugin's template folder, else among the templates compiled into it,
    /// and rendered with the page's environment (autoescaped HTML, `_()`,
    /// `gettext`). Answered by a blueprint route; a template that is missing
    /// or fails to render is a 500 naming it.
    pub fn template(name: impl Into<String>, context: &Value) -> Self {
        // The context goes as JSON: a host that does not render templates
        // (older than ABI 1.2) never serves it as HTML.
        let mut response =
            Self::with_body(200, "application/json", context.to_string().into_bytes());
        response.template = Some(name.into());
        response
    }

    /// A `200 OK` response with a JSON body.
    pub fn json(value: &Value) -> Self {
        Self::with_body(200, "application/json", value.to_string().into_bytes())
    }

    /// A `200 OK` response with a plain-text body.
    pub fn text(text: impl Into<String>) -> Self {
        Self::with_body(200, "text/plain; charset=utf-8", text.into().into_bytes())
    }

    /// A `200 OK` response with an HTML body.
    pub fn html(html: impl Into<String>) -> Self {
        Self::with_body(200, "text/html; charset=utf-8", html.into().into_bytes())
    }

    /// A response with the given status, content type and body.
    pub fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), content_type.to_owned());
        Self {
            status,
            headers,
            body,
            template: None,
        }
    }

    /// The body parsed as JSON.
    pub fn body_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The same response with another status code.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

/// Who the plugin is, as the host tells it at injection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Identity {
    /// The plugin's identifier.
    pub id: String,
    /// Its human-readable name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The folder the plugin was found in (its own folder, or the one holding its library).
    pub base_folder: String,
    /// `<basedir>/data/<id>`; created on first use (the `EnsureDataFolder` service).
    pub data_folder: String,
}

/// A hook handler or helper a plugin registers when it is enabled.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Registrations {
    /// `(hook name, order)`; handlers are called in `(order, plugin identifier)` order.
    pub hooks: Vec<(String, Option<i64>)>,
    /// Names of helpers other plugins may call.
    pub helpers: Vec<String>,
}

/// One plugin's answer to a hook call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HookReply {
    /// The identifier of the plugin that answered.
    pub plugin: String,
    /// What its handler returned, or why it failed.
    pub result: Result<Value, String>,
}

/// A route of a Blueprint plugin, as the host mounts it under `/plugin/<id>/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RouteSpec {
    /// Allowed HTTP methods.
    pub methods: Vec<String>,
    /// The rule, e.g. `/echo` or `/items/<id>`.
    pub rule: String,
    /// Whether the route is exempt from CSRF protection.
    pub csrf_exempt: bool,
}

/// Everything a Blueprint plugin mounts: routes and error handlers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlueprintSpec {
    /// The routes, in declaration order (a route is called by its index).
    pub routes: Vec<RouteSpec>,
    /// Status codes that have an error handler.
    pub error_handlers: Vec<u16>,
}

/// The properties of a slicer (the seed's `get_slicer_properties`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlicerProperties {
    /// Short unique lower-case identifier of the slicer type; profiles are stored under it.
    #[serde(rename = "type")]
    pub slicer_type: String,
    /// Human-readable name.
    pub name: String,
    /// Whether the slicer runs on the same device as the host.
    pub same_device: bool,
    /// Whether the slicer reports progress.
    pub progress_report: bool,
    /// File types (paths in the extension tree) it accepts as input.
    pub source_file_types: Vec<String>,
    /// Extensions of the files it produces.
    pub destination_extensions: Vec<String>,
}

/// A slicing profile.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlicingProfile {
    /// The slicer type the profile belongs to.
    pub slicer: String,
    /// Profile name (file stem).
    pub name: String,
    /// Human-readable name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it is the default profile.
    #[serde(default)]
    pub default: bool,
    /// The slicer-specific settings.
    #[serde(default)]
    pub data: Value,
}

/// A request to slice a model (the seed's `do_slice` parameters).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SliceRequest {
    /// Absolute path of the model file.
    pub model_path: String,
    /// The printer profile.
    pub printer_profile: Value,
    /// Where to write the machine code; the slicer chooses when `None`.
    pub machinecode_path: Option<String>,
    /// A profile saved through the slicer's own `save_slicer_profile`.
    pub profile_path: Option<String>,
    /// Where the model's centre goes on the bed (`x`, `y`); centre of the bed when `None`.
    pub position: Option<(f64, f64)>,
    /// Token the host uses to route progress reports of this job.
    pub job: u64,
}

/// How a slicing job ended when it did not succeed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum SliceError {
    /// Cancelled through `cancel_slicing`.
    Cancelled,
    /// Failed; a human-readable reason.
    Failed(String),
}

/// Progress of a slicing job, as `on_slicing_progress` receives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SlicingProgress {
    /// Identifier of the slicer reporting the progress.
    pub slicer: String,
    /// Location of the source file.
    pub source_location: String,
    /// Path of the source file.
    pub source_path: String,
    /// Location of the destination file.
    pub destination_location: String,
    /// Path of the destination file.
    pub destination_path: String,
    /// Progress in whole percent, 0 to 100.
    pub progress: u8,
}

/// A webcam configuration (OctoPrint's webcam schema).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Webcam {
    /// Identifier of the webcam, unique per provider.
    pub name: String,
    /// Human-readable name.
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// Whether the webcam can take snapshots.
    #[serde(rename = "canSnapshot", default)]
    pub can_snapshot: bool,
    /// Flip horizontally.
    #[serde(rename = "flipH", default)]
    pub flip_h: bool,
    /// Flip vertically.
    #[serde(rename = "flipV", default)]
    pub flip_v: bool,
    /// Rotate by 90° counter-clockwise.
    #[serde(rename = "rotate90", default)]
    pub rotate_90: bool,
    /// Snapshot URL, if any.
    #[serde(rename = "snapshotDisplay", default)]
    pub snapshot_display: Option<String>,
    /// Additional data for other plugins.
    #[serde(default)]
    pub extras: Value,
    /// Compatibility fields for older clients (stream URL, snapshot URL, …).
    #[serde(default)]
    pub compat: Option<Value>,
}

/// What a plugin learns of another plugin (OctoPrint's
/// `_plugin_manager.get_plugin_info`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginSummary {
    /// Its identifier.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Who wrote it.
    pub author: Option<String>,
    /// Its home page.
    pub url: Option<String>,
    /// Its license.
    pub license: Option<String>,
    /// Its state: `enabled`, `disabled`, `failed`, `incompatible`, …
    pub state: String,
    /// Whether it is enabled (and running).
    pub enabled: bool,
    /// Whether it is a bundled plugin.
    pub bundled: bool,
    /// The mixins it implements.
    pub mixins: Vec<String>,
}

/// What a plugin learns of a user (OctoPrint's `_user_manager.find_user`):
/// never a password or an API key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserSummary {
    /// The login name.
    pub name: String,
    /// Whether the user may log in.
    pub active: bool,
    /// Whether the user is an administrator.
    pub admin: bool,
    /// Every permission the user has (an administrator's included).
    pub permissions: Vec<String>,
}
/// A question to the connectivity checker (OctoPrint's
/// `_connectivity_checker`). Both answer its `as_dict()`: `{"online",
/// "enabled", "connection_ok", "connection_check", "resolution_ok",
/// "resolution_check"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectivityCall {
    /// What the last check found (`online`, `as_dict()`).
    Status,
    /// Checks now, then answers (`check_immediately()`; up to a few
    /// seconds when offline).
    CheckImmediately,
}

/// What kind of refusal a [`Refusal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Something named does not exist (a file, a script): HTTP 404.
    NotFound,
    /// The request is malformed or out of range: HTTP 400.
    Invalid,
    /// The file is of a type the operation cannot take (printing or
    /// analysing what is not G-code, storing an unaccepted type): HTTP 415.
    Unsupported,
    /// It does not fit the current state (the printer offline or busy, a
    /// file in use or already there): HTTP 409.
    Conflict,
    /// The host failed: HTTP 500.
    Failed,
}

/// Why a host service (the printer, the file manager, the slicing
/// manager) refused a call; nothing was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The kind of refusal.
    pub kind: RefusalKind,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// A folder of the host's base folder, by OctoPrint's name for it
/// (`settings.getBaseFolder(type)`, a plugin's `global_get_basefolder`).
/// The host creates the folder when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BaseFolder {
    /// `uploads`: the files of the local storage.
    Uploads,
    /// `data`: the plugins' data folders (`data/<id>`).
    Data,
    /// `logs`: log files, among them a plugin's own
    /// (`plugin_<id>.log`, see the SDK's `plugin_logfile_path`).
    Logs,
    /// `plugins`: plugins the user installed.
    Plugins,
    /// `scripts`: G-code scripts (`scripts/gcode/…`).
    Scripts,
    /// `printerProfiles`: printer profiles.
    PrinterProfiles,
    /// `slicingProfiles`: slicing profiles.
    SlicingProfiles,
    /// `generated`: files the host or plugins generate and may regenerate.
    Generated,
    /// `timelapse`: rendered timelapses.
    Timelapse,
    /// `translations`: installed translations.
    Translations,
}

impl BaseFolder {
    /// Every base folder.
    pub const ALL: [BaseFolder; 10] = [
        Self::Uploads,
        Self::Data,
        Self::Logs,
        Self::Plugins,
        Self::Scripts,
        Self::PrinterProfiles,
        Self::SlicingProfiles,
        Self::Generated,
        Self::Timelapse,
        Self::Translations,
    ];

    /// OctoPrint's name for it, which is also its folder's name under the
    /// base folder: `uploads`, `printerProfiles`, ….
    pub fn name(self) -> &'static str {
        match self {
            Self::Uploads => "uploads",
            Self::Data => "data",
            Self::Logs => "logs",
            Self::Plugins => "plugins",
            Self::Scripts => "scripts",
            Self::PrinterProfiles => "printerProfiles",
            Self::SlicingProfiles => "slicingProfiles",
            Self::Generated => "generated",
            Self::Timelapse => "timelapse",
            Self::Translations => "translations",
        }
    }

    /// The folder of OctoPrint's name `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}
