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

/// Routes of a plugin that take bodies larger than the default.
#[derive(Debug, Clone)]
pub struct BodySize {
    /// The plugin.
    pub plugin: String,
    /// The HTTP method, upper case: `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// The routes below `/plugin/<id>`: a regular expression matched at
    /// the start of the path (`/upload`, `/files/.*`), as OctoPrint's.
    pub route: regex::Regex,
    /// The largest body they take, in bytes.
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
            .filter(|b| b.plugin == plugin && b.method == method && b.route.is_match(path))
            .map(|b| b.bytes)
            .fold(default, usize::max)
    }
}

/// A plugin identifier as permission keys spell it: lower case, anything
/// but letters and digits as `_` (`PSU-Control` → `psu_control`).
fn permission_id(plugin: &str) -> String {
    plugin
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect()
}

/// Drops every permission whose key two declarations share (`plugin_a_b_c`
/// is plugin `a`'s `b_c` and plugin `a_b`'s `c`): neither plugin may
/// grant what the other's key names.
fn without_clashes(all: Vec<PluginPermission>) -> Vec<PluginPermission> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &all {
        seen.entry(p.key.clone())
            .or_default()
            .push(p.plugin.clone());
    }
    for (key, plugins) in seen.iter().filter(|(_, p)| p.len() > 1) {
        tracing::warn!(
            "{ACCESS_PERMISSIONS}: the permission {key} is declared by {}; none of them is used",
            plugins.join(", ")
        );
    }
    all.into_iter()
        .filter(|p| seen[&p.key].len() == 1)
        .collect()
}

/// Why a plugin's answer to one of these hooks is left out.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    /// The answer is not a list.
    #[error("not a list of {0}")]
    NotAList(&'static str),
    /// An entry is not what the hook takes.
    #[error("{entry}: {needs}")]
    Entry { entry: Value, needs: &'static str },
    /// A route is not a regular expression.
    #[error("{entry}: the route is not a regular expression: {error}")]
    Route { entry: Value, error: regex::Error },
}

/// A key as a permission key takes it: letters, digits and `_`.
fn clean_key(key: &str) -> Option<String> {
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then(|| key.to_ascii_lowercase())
}

fn permissions_of(plugin: &str, answer: &Value) -> Result<Vec<PluginPermission>, Malformed> {
    let list = answer
        .as_array()
        .ok_or(Malformed::NotAList("permissions"))?;
    list.iter()
        .map(|p| {
            let key = p["key"]
                .as_str()
                .and_then(clean_key)
                .ok_or_else(|| Malformed::Entry {
                    entry: p.clone(),
                    needs: "`key` must be letters, digits and `_`",
                })?;
            let text = |field: &str| p[field].as_str().unwrap_or_default().to_owned();
            let groups = p["default_groups"].as_array().cloned().unwrap_or_default();
            Ok(PluginPermission {
                key: format!("plugin_{}_{key}", permission_id(plugin)),
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

fn events_of(plugin: &str, answer: &Value) -> Result<Vec<String>, Malformed> {
    let list = answer
        .as_array()
        .ok_or(Malformed::NotAList("event names"))?;
    list.iter()
        .map(|e| {
            e.as_str()
                .and_then(clean_key)
                .map(|name| events::plugin_event(plugin, &name))
                .ok_or_else(|| Malformed::Entry {
                    entry: e.clone(),
                    needs: "an event name is letters, digits and `_`",
                })
        })
        .collect()
}

fn body_sizes_of(plugin: &str, answer: &Value) -> Result<Vec<BodySize>, Malformed> {
    let list = answer
        .as_array()
        .ok_or(Malformed::NotAList("[method, route, bytes]"))?;
    let wrong = |entry: &Value| Malformed::Entry {
        entry: entry.clone(),
        needs: "needs [\"POST\"|\"PUT\"|\"PATCH\", \"route\", bytes]",
    };
    list.iter()
        .map(|entry| {
            let Some([method, route, bytes]) = entry.as_array().map(Vec::as_slice) else {
                return Err(wrong(entry));
            };
            let method = method.as_str().map(str::to_ascii_uppercase);
            let method = method.filter(|m| ["POST", "PUT", "PATCH"].contains(&m.as_str()));
            let (Some(method), Some(route), Some(bytes)) = (method, route.as_str(), bytes.as_u64())
            else {
                return Err(wrong(entry));
            };
            let pattern = format!("^/{}", route.trim_start_matches('/'));
            let route = regex::Regex::new(&pattern).map_err(|error| Malformed::Route {
                entry: entry.clone(),
                error,
            })?;
            Ok(BodySize {
                plugin: plugin.to_owned(),
                method,
                route,
                bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
            })
        })
        .collect()
}

/// Asks every handler of `hook` and keeps what `parse` accepts.
fn gather<T>(
    manager: &PluginManager,
    hook: &str,
    args: &Value,
    mut parse: impl FnMut(&str, &Value) -> Result<T, Malformed>,
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
        permissions: without_clashes(permissions.into_iter().flat_map(|(_, p)| p).collect()),
        events: events.into_iter().collect(),
        body_sizes: body_sizes.into_iter().flat_map(|(_, b)| b).collect(),
    }
}

impl PluginManager {
    /// The contributions when they were collected at the current generation
    /// (no plugin is asked): `None` when they must be collected again.
    pub fn contributions_cached(&self) -> Option<Arc<Contributions>> {
        let generation = self.generation();
        match &*self.shared.contributions.lock().unwrap() {
            Some((at, found)) if *at == generation => Some(found.clone()),
            _ => None,
        }
    }

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
        let odd = permissions_of("PSU-Control", &json!([{"key": "On"}])).unwrap();
        assert_eq!(odd[0].key, "plugin_psu_control_on");
        assert!(crate::users::is_known_permission(&odd[0].key));
        let a = permissions_of("a", &json!([{"key": "b_c"}, {"key": "x"}])).unwrap();
        let ab = permissions_of("a_b", &json!([{"key": "c"}])).unwrap();
        let kept: Vec<String> = without_clashes([a, ab].concat())
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(kept, ["plugin_a_x"], "a clash leaves neither");
        assert!(permissions_of("psu", &json!({"key": "x"})).is_err());
        assert_eq!(
            events_of("psu", &json!(["on", "off"])).unwrap(),
            ["plugin_psu_on", "plugin_psu_off"]
        );
        assert!(events_of("psu", &json!(["bad name"])).is_err());
        let sizes = body_sizes_of(
            "big",
            &json!([["post", "/upload", 10_000_000], ["PUT", "files/[a-z]+", 7]]),
        )
        .unwrap();
        assert_eq!(
            (sizes[0].method.as_str(), sizes[0].bytes),
            ("POST", 10_000_000)
        );
        assert!(body_sizes_of("big", &json!([["GET", "/x", 1]])).is_err());
        assert!(body_sizes_of("big", &json!([["POST", "/(", 1]])).is_err());
        assert!(body_sizes_of("big", &json!([["POST", "/x"]])).is_err());
        let all = Contributions {
            body_sizes: sizes,
            ..Default::default()
        };
        assert_eq!(all.body_limit("big", "POST", "/upload", 5), 10_000_000);
        assert_eq!(
            all.body_limit("big", "POST", "/uploads/x", 5),
            10_000_000,
            "matched at the start"
        );
        assert_eq!(all.body_limit("big", "PUT", "/upload", 5), 5);
        assert_eq!(all.body_limit("big", "PUT", "/files/abc", 5), 7);
        assert_eq!(all.body_limit("big", "PUT", "/x/files/abc", 5), 5);
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
            identity: None,
            active: true,
            admin: false,
            permissions: ["plugin_p_c".to_owned()].into(),
            api_key_sha256: None,
            app_keys: Vec::new(),
        };
        assert_eq!(
            all.plugin_permissions_of(&user),
            BTreeSet::from(["plugin_p_a".to_owned(), "plugin_p_c".to_owned()])
        );
        user.admin = true;
        assert_eq!(all.plugin_permissions_of(&user).len(), 3);
    }
}
