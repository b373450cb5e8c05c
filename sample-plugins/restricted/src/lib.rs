//! Restricted settings paths: the seed's `get_settings_restricted_paths` example.
//!
//! The settings API answers every caller allowed to read the settings (and,
//! before the first user exists, anonymous callers), so a plugin lists the
//! paths only some callers may see. This plugin has the seed's defaults and restricts:
//! - `admin` (callers with the `settings` permission): `some.admin_only.path`
//!   and `another.admin_only.path`;
//! - `user` (any logged-in caller): `some.user_only.path`;
//! - `never`: `path.to.never.return`;
//! - the permission `webcam` (OctoPrint's `Permissions.WEBCAM`): `the.webcam.data`.
//!
//! A caller who may not see a path gets `null` there (`{}` for a mapping, `[]`
//! for a list); every other value is returned as is. The host applies the
//! filter (`plinth::restrict::filter`) to what `on_settings_load` returns.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct Restricted {
    host: Host,
}

impl Plugin for Restricted {
    fn new(host: Host) -> Self {
        Restricted { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl SettingsPlugin for Restricted {
    fn get_settings_defaults(&self) -> Value {
        json!({
            "some": {
                "admin_only": {
                    "path": "path",
                    "foo": "foo"
                },
                "user_only": {
                    "path": "path",
                    "bar": "bar"
                }
            },
            "another": {
                "admin_only": {
                    "path": "path"
                },
                "field": "field"
            },
            "path": {
                "to": {
                    "never": {
                        "return": "return"
                    }
                }
            },
            "the": {
                "webcam": {
                    "data": "webcam"
                }
            }
        })
    }

    fn get_settings_restricted_paths(&self) -> Value {
        json!({
            "admin": [
                ["some", "admin_only", "path"],
                ["another", "admin_only", "path"]
            ],
            "user": [
                ["some", "user_only", "path"]
            ],
            "never": [
                ["path", "to", "never", "return"]
            ],
            "webcam": [
                ["the", "webcam", "data"]
            ]
        })
    }
}

export_plugin! {
    plugin: Restricted,
    name: "Restricted Settings",
    description: "The seed's restricted settings paths example: admin-only, user-only, never and webcam-permission paths.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Settings],
}
