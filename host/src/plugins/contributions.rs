//! What plugins add to the host through hooks the host reads whole, once
//! per change of the plugins (never per request): their permissions
//! (`octoprint.access.permissions`), their custom events
//! (`octoprint.events.register_custom_events`) and larger request bodies
//! for their routes (`octoprint.server.http.bodysize`). A malformed answer
//! is logged under the plugin's name and left out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use plinth_abi::hooks::{ACCESS_PERMISSIONS, EVENTS_REGISTER_CUSTOM_EVENTS, SERVER_HTTP_BODYSIZE};
use plinth_abi::{events, json, Value};
use serde::Serialize;

use crate::plugins::manager::PluginManager;

/// A permission a plugin declares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginPermission {
    /// `plugin_<id>_<key>`, lower case: what users are granted and checked for.
    pub key: String,
    /// The declaring plugin.
    pub plugin: String,
    /// For people.
    pub name: String,
    /// For people.
    pub description: String,
    /// Whether it grants something risky.
    pub dangerous: bool,
    /// OctoPrint's default groups; `users` grants it to every user.
    pub default_groups: Vec<String>,
}

/// A route of a plugin that takes bodies larger than the default.
#[derive(Debug, Clone, PartialEq)]
pub struct BodySize {
    /// The plugin.
    pub plugin: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The route below `/plugin/<id>`, starting with `/`.
    pub route: String,
    /// The largest body it takes, in bytes.
    pub bytes: usize,
}

/// Everything plugins contribute through those hooks.
#[derive(Debug, Default)]
pub struct Contributions {
    /// Their permissions.
    pub permissions: Vec<PluginPermission>,
    /// Their custom events by plugin, as delivered: `plugin_<id>_<name>`.
    pub events: BTreeMap<String, Vec<String>>,
    /// Their larger bodies.
    pub body_sizes: Vec<BodySize>,
}

impl Contributions {
    /// The plugin permissions every user has by default (`users` among
    /// their default groups).
    pub fn granted_to_users(&self) -> impl Iterator<Item = &str> {
        self.permissions
            .iter()
            .filter(|p| p.default_groups.iter().any(|g| g == "users"))
            .map(|p| p.key.as_str())
    }

    /// The permissions `user` has beside the host's own: the plugin
    /// permissions granted to them or to every user (an administrator has all).
    pub fn plugin_permissions_of(&self, user: &crate::users::User) -> BTreeSet<String> {
        let defaults: BTreeSet<&str> = self.granted_to_users().collect();
        self.permissions
            .iter()
            .map(|p| p.key.as_str())
            .filter(|k| user.admin || user.permissions.contains(*k) || defaults.contains(k))
            .map(str::to_owned)
            .collect()
    }

    /// The largest body `method` may send to `path` of plugin `plugin`.
    pub fn body_limit(&self, plugin: &str, method: &str, path: &str, default: usize) -> usize {
        self.body_sizes
            .iter()
            .filter(|b| b.plugin == plugin && b.method == method && b.route == path)
            .map(|b| b.bytes)
            .fold(default, usize::max)
    }
}

/// A key as a permission key takes it: letters, digits and `_`.
fn clean_key(key: &str) -> Option<String> {
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_ascii_lowercase())
}

fn permissions_of(plugin: &str, answer: &Value) -> Result<Vec<PluginPermission>, String> {
    let list = answer.as_array().ok_or("not a list of permissions")?;
    list.iter()
        .map(|p| {
            let key = p["key"]
                .as_str()
                .and_then(clean_key)
                .ok_or_else(|| format!("{p}: `key` must be letters, digits and `_`"))?;
            let text = |field: &str| p[field].as_str().unwrap_or_default().to_owned();
            let groups = p["default_groups"].as_array().cloned().unwrap_or_default();
            Ok(PluginPermission {
                key: format!("plugin_{plugin}_{key}"),
                plugin: plugin.to_owned(),
                name: match text("name") {
                    name if name.is_empty() => key,
                    name => name,
                },
                description: text("description"),
                dangerous: p["dangerous"].as_bool().unwrap_or(false),
                default_groups: groups
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect(),
            })
        })
        .collect()
}

fn events_of(plugin: &str, answer: &Value) -> Result<Vec<String>, String> {
    let list = answer.as_array().ok_or("not a list of event names")?;
    list.iter()
        .map(|e| {
            e.as_str()
                .and_then(clean_key)
                .map(|name| events::plugin_event(plugin, &name))
                .ok_or_else(|| format!("{e}: an event name is letters, digits and `_`"))
        })
        .collect()
}

fn body_sizes_of(plugin: &str, answer: &Value) -> Result<Vec<BodySize>, String> {
    let list = answer
        .as_array()
        .ok_or("not a list of [method, route, bytes]")?;
    list.iter()
        .map(|entry| match entry.as_array().map(Vec::as_slice) {
            Some([method, route, bytes]) => {
                let method = method.as_str().filter(|m| !m.is_empty());
                let route = route.as_str().filter(|r| r.starts_with('/'));
                match (method, route, bytes.as_u64()) {
                    (Some(method), Some(route), Some(bytes)) => Ok(BodySize {
                        plugin: plugin.to_owned(),
                        method: method.to_ascii_uppercase(),
                        route: route.to_owned(),
                        bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
                    }),
                    _ => Err(format!("{entry}: needs [\"METHOD\", \"/route\", bytes]")),
                }
            }
            _ => Err(format!("{entry}: needs [\"METHOD\", \"/route\", bytes]")),
        })
        .collect()
}

/// Asks every handler of `hook` and keeps what `parse` accepts.
fn gather<T>(
    manager: &PluginManager,
    hook: &str,
    args: &Value,
    mut parse: impl FnMut(&str, &Value) -> Result<T, String>,
) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for reply in manager.call_hook(hook, args) {
        let Ok(answer) = reply.result else { continue };
        match parse(&reply.plugin, &answer) {
            Ok(found) => out.push((reply.plugin, found)),
            Err(why) => tracing::warn!(plugin = %reply.plugin, "{hook}: ignored: {why}"),
        }
    }
    out
}

/// Asks the plugins.
pub fn collect(manager: &PluginManager, default_body: usize) -> Contributions {
    let permissions = gather(manager, ACCESS_PERMISSIONS, &json!({}), permissions_of);
    let events = gather(
        manager,
        EVENTS_REGISTER_CUSTOM_EVENTS,
        &json!({}),
        events_of,
    );
    let body_args = json!({"current_max_body_sizes": [], "default_max_body_size": default_body});
    let body_sizes = gather(manager, SERVER_HTTP_BODYSIZE, &body_args, body_sizes_of);
    Contributions {
        permissions: permissions.into_iter().flat_map(|(_, p)| p).collect(),
        events: events.into_iter().collect(),
        body_sizes: body_sizes.into_iter().flat_map(|(_, b)| b).collect(),
    }
}

impl PluginManager {
    /// What the plugins contribute, asked again only after plugins changed.
    /// The plugins are asked without a lock held: a handler may call back
    /// into the host (two racing callers both ask; the answers are alike).
    pub fn contributions(&self) -> Arc<Contributions> {
        let generation = self.generation();
        if let Some((at, found)) = &*self.shared.contributions.lock().unwrap() {
            if *at == generation {
                return found.clone();
            }
        }
        let found = Arc::new(collect(self, DEFAULT_BODY_BYTES));
        *self.shared.contributions.lock().unwrap() = Some((generation, found.clone()));
        found
    }
}

/// The body limit of plugin routes no hook raised (axum's default).
pub const DEFAULT_BODY_BYTES: usize = 2 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_and_named_after_the_plugin() {
        let perms = permissions_of(
            "psu",
            &json!([{"key": "CONTROL", "name": "Control", "default_groups": ["users"], "dangerous": true}]),
        )
        .unwrap();
        assert_eq!(perms[0].key, "plugin_psu_control");
        assert!(perms[0].dangerous);
        assert!(permissions_of("psu", &json!([{"key": "a b"}])).is_err());
        assert!(permissions_of("psu", &json!({"key": "x"})).is_err());
        assert_eq!(
            events_of("psu", &json!(["on", "off"])).unwrap(),
            ["plugin_psu_on", "plugin_psu_off"]
        );
        assert!(events_of("psu", &json!(["bad name"])).is_err());
        let sizes = body_sizes_of("big", &json!([["post", "/upload", 10_000_000]])).unwrap();
        assert_eq!(
            (sizes[0].method.as_str(), sizes[0].bytes),
            ("POST", 10_000_000)
        );
        assert!(body_sizes_of("big", &json!([["POST", "upload", 1]])).is_err());
        let all = Contributions {
            body_sizes: sizes,
            ..Default::default()
        };
        assert_eq!(all.body_limit("big", "POST", "/upload", 5), 10_000_000);
        assert_eq!(all.body_limit("big", "PUT", "/upload", 5), 5);
        assert_eq!(all.body_limit("other", "POST", "/upload", 5), 5);
    }

    #[test]
    fn users_get_plugin_permissions_by_default_group_or_grant() {
        let all = Contributions {
            permissions: [("a", vec!["users"]), ("b", vec!["admins"]), ("c", vec![])]
                .into_iter()
                .map(|(k, groups)| PluginPermission {
                    key: format!("plugin_p_{k}"),
                    plugin: "p".into(),
                    name: k.into(),
                    description: String::new(),
                    dangerous: false,
                    default_groups: groups.into_iter().map(str::to_owned).collect(),
                })
                .collect(),
            ..Default::default()
        };
        let mut user = crate::users::User {
            password: String::new(),
            admin: false,
            permissions: ["plugin_p_c".to_owned()].into(),
            api_key_sha256: None,
        };
        assert_eq!(
            all.plugin_permissions_of(&user),
            BTreeSet::from(["plugin_p_a".to_owned(), "plugin_p_c".to_owned()])
        );
        user.admin = true;
        assert_eq!(all.plugin_permissions_of(&user).len(), 3);
    }
}
