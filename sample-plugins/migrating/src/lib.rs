//! Settings migration: a plugin at settings version 2 that migrates the
//! settings of version 1, and settings stored without a version.
//!
//! The plugin talks to a server. Its settings formats:
//!
//! **Version 1** (and settings without `_config_version`, written before the
//! plugin tracked versions: the same format) keep the server as one URL:
//! ```yaml
//! plugins:
//!   migrating:
//!     _config_version: 1     # absent in unversioned settings
//!     url: https://printer.local:8443/api
//!     timeout: 10
//! ```
//!
//! **Version 2** (the current one) splits it into its parts; the path of the
//! URL is dropped, the port defaults to 80 for `http` and 443 for `https`:
//! ```yaml
//! plugins:
//!   migrating:
//!     _config_version: 2
//!     server:
//!       host: printer.local
//!       port: 8443
//!       tls: true
//!     timeout: 10
//! ```
//! The defaults are `server: {host: localhost, port: 80, tls: false}` and
//! `timeout: 30`; as always only what differs from them is stored.
//!
//! The host calls [`on_settings_migrate`](SettingsPlugin::on_settings_migrate)
//! at start-up when the stored version is missing or lower than 2, then writes
//! `_config_version: 2`, cleans up and saves. Settings already at version 2 are
//! not migrated again. A URL that cannot be parsed is left where it is (and
//! logged), never dropped.

use plinth_sdk::prelude::*;
use plinth_sdk::HostError;

/// The settings format version of this plugin.
pub const SETTINGS_VERSION: i64 = 2;

/// The plugin object.
pub struct Migrating {
    host: Host,
}

impl Plugin for Migrating {
    fn new(host: Host) -> Self {
        Migrating { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

/// A server address of the version-2 format.
#[derive(Debug, PartialEq)]
pub struct Server {
    /// Host name or address (IPv6 addresses without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to use TLS (`https`).
    pub tls: bool,
}

impl Server {
    /// Parses a version-1 URL: `http://` or `https://`, a host, an optional
    /// port and an optional path (ignored). `None` when it is not such a URL.
    pub fn from_url(url: &str) -> Option<Server> {
        let url = url.trim();
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().ok()?),
                None if after.is_empty() => (host, default_port),
                None => return None,
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Server {
            host: host.to_owned(),
            port,
            tls,
        })
    }

    /// The version-2 settings value.
    pub fn to_value(&self) -> Value {
        json!({ "host": self.host, "port": self.port, "tls": self.tls })
    }
}

impl Migrating {
    /// Turns the version-1 `url` into the version-2 `server`.
    fn migrate_url(&self) -> Result<(), HostError> {
        let settings = self.host.settings();
        let Some(url) = settings.get(&["url"]) else {
            return Ok(()); // Nothing stored: the defaults are already version 2.
        };
        match url.as_str().and_then(Server::from_url) {
            Some(server) => {
                settings.set(&["server"], server.to_value())?;
                settings.remove(&["url"])
            }
            None => {
                self.host.logger().warn(format_args!(
                    "cannot migrate url {url}: not an http(s) URL; left in place, please set server instead"
                ));
                Ok(())
            }
        }
    }
}

impl SettingsPlugin for Migrating {
    fn get_settings_defaults(&self) -> Value {
        json!({
            "server": {
                "host": "localhost",
                "port": 80,
                "tls": false
            },
            "timeout": 30
        })
    }

    fn get_settings_version(&self) -> Option<i64> {
        Some(SETTINGS_VERSION)
    }

    /// Migrates version 1, and settings without a version (the same format), to version 2.
    fn on_settings_migrate(&self, target: Option<i64>, current: Option<i64>) -> PluginResult<()> {
        self.host.logger().info(format_args!(
            "migrating settings from version {current:?} to {target:?}"
        ));
        if current.is_none_or(|c| c < 2) {
            // On an error the host puts back the settings as they were and
            // marks the plugin failed.
            self.migrate_url()
                .map_err(|e| PluginError::new(format!("migrating the settings failed: {e}")))?;
        }
        Ok(())
    }
}

export_plugin! {
    plugin: Migrating,
    name: "Settings Migration",
    description: "Settings at version 2: migrates the server URL of version 1 (and of unversioned settings) into host, port and TLS.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Settings],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_urls() {
        let s = |host: &str, port, tls| {
            Some(Server {
                host: host.to_owned(),
                port,
                tls,
            })
        };
        assert_eq!(
            Server::from_url("https://printer.local:8443/api"),
            s("printer.local", 8443, true)
        );
        assert_eq!(
            Server::from_url("http://10.0.0.5"),
            s("10.0.0.5", 80, false)
        );
        assert_eq!(Server::from_url("https://h?x=1"), s("h", 443, true));
        assert_eq!(
            Server::from_url("http://[::1]:5000/"),
            s("::1", 5000, false)
        );
        for bad in [
            "ftp://h",
            "printer.local:80",
            "http://",
            "http://h:x",
            "http://[::1",
        ] {
            assert_eq!(Server::from_url(bad), None, "{bad}");
        }
    }
}
