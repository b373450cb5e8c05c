//! The permissions a user may hold, as OctoPrint names them, and what
//! each allows (for the settings dialog and the access API).

/// Permissions only administrators have by default. Managing users is not
/// among them: only administrators do that (OctoPrint's `ADMIN`).
pub const ADMIN_PERMISSIONS: &[&str] = &["settings", "plugin_manager", "system"];

/// The permissions of the user role (OctoPrint's default user group).
pub const USER_PERMISSIONS: &[&str] = &[
    "status",
    "settings_read",
    "webcam",
    "connection",
    "control",
    "files_list",
    "files_upload",
    "files_download",
    "files_delete",
    "files_select",
    "print",
    "slice",
    "monitor_terminal",
    "timelapse_list",
    "timelapse_download",
];

/// Whether `name` is a permission this host knows, or a plugin's
/// (`plugin_<id>_<key>`: declared through `octoprint.access.permissions`,
/// which only a running host asks).
pub fn is_known_permission(name: &str) -> bool {
    ADMIN_PERMISSIONS.contains(&name)
        || USER_PERMISSIONS.contains(&name)
        || name.strip_prefix("plugin_").is_some_and(|rest| {
            rest.contains('_')
                && rest
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// What each permission lets a user do, as OctoPrint describes its own
/// (the page and `GET /api/access/permissions` show it); `true` marks the
/// dangerous ones.
pub const PERMISSION_DESCRIPTIONS: &[(&str, &str, bool)] = &[
    (
        "settings",
        "Change the settings, the printer profiles and the slicing profiles",
        true,
    ),
    (
        "plugin_manager",
        "Install, uninstall, enable and disable plugins",
        true,
    ),
    (
        "system",
        "Run the system commands (restart, shut down)",
        true,
    ),
    (
        "status",
        "See the printer's state, the temperatures and the job",
        false,
    ),
    ("settings_read", "Read the settings", false),
    ("webcam", "Watch the webcams", false),
    (
        "connection",
        "Connect to and disconnect from the printer",
        false,
    ),
    (
        "control",
        "Control the printer: send commands, move, heat",
        true,
    ),
    ("files_list", "List the files", false),
    ("files_upload", "Upload files and make folders", false),
    ("files_download", "Download files", false),
    ("files_delete", "Delete and move files", false),
    ("files_select", "Select a file for printing", false),
    ("print", "Start, pause, resume and cancel prints", false),
    ("slice", "Slice models", false),
    (
        "monitor_terminal",
        "See the terminal: every line sent and received",
        false,
    ),
    ("timelapse_list", "List timelapses", false),
    ("timelapse_download", "Download timelapses", false),
];

/// Every known permission, for an error message.
pub(super) fn known_permissions() -> String {
    ADMIN_PERMISSIONS
        .iter()
        .chain(USER_PERMISSIONS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}
