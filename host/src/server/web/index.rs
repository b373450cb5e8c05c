//! What `GET /` answers: the first UiPlugin (in the `UiPlugin.will_handle_ui`
//! sorting order) whose `will_handle_ui` is true and whose `on_ui_render`
//! answers, else the default page; both through the page cache, and recorded
//! for preemptive caching at the next start-up.

use std::collections::BTreeMap;
use std::time::SystemTime;

use std::sync::Arc;

use plinth_abi::methods::plugin as m;
use plinth_abi::{Request, Response, Value};

use super::cache::{self, Page, RecordedRequest, Stamp, StampInput};
use super::page::Survey;
use super::render::{RenderError, Renderer};
use super::Web;
use crate::plugins::sorting::Context;
use crate::PluginManager;
use plinth_abi::Mixin;

/// What the default page asks of the caller.
pub const DEFAULT_PERMISSIONS: &[&str] = &["status", "settings_read"];

/// A request for the page.
pub struct PageRequest<'a> {
    /// As a UiPlugin sees it (header names in lower case).
    pub request: Request,
    /// `Cache-Control: no-cache`, `Pragma: no-cache` or `?_refresh=true`.
    pub refresh: bool,
    /// No user exists yet: no login is asked for.
    pub first_run: bool,
    /// Whether the caller has a permission.
    pub may: &'a dyn Fn(&str) -> bool,
    /// Record this request for preemptive caching (false while warming the cache).
    pub record: bool,
}

/// The answer.
#[derive(Debug)]
pub enum Outcome {
    /// A page, from the cache (`hit`) or rendered now.
    Page {
        page: Page,
        stamp: Stamp,
        hit: bool,
        /// The UiPlugin that answered; `None` for the default page.
        plugin: Option<String>,
    },
    /// The caller lacks these permissions, which the page needs: show the
    /// login page (or, to a logged-in caller, say what is missing).
    Login(Vec<String>),
    /// The default page failed to render.
    Failed(RenderError),
}

/// Answers a request for `/`.
pub fn answer(manager: &PluginManager, web: &Web, req: &PageRequest<'_>) -> Outcome {
    let mut survey: Option<Arc<Surveyed>> = None;
    // On the first run the default page's wizard creates the administrator:
    // no UiPlugin may stand in its way.
    let ui_plugins = if req.first_run {
        Vec::new()
    } else {
        manager.implementations(Mixin::Ui, Some(Context::WillHandleUi))
    };
    for (id, _) in ui_plugins {
        match manager.call::<m::WillHandleUi>(&id, &req.request) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!("plugin {id}: will_handle_ui failed: {e}; trying the next UiPlugin");
                continue;
            }
        }
        let permissions = manager
            .call::<m::GetUiPermissions>(&id, &())
            .unwrap_or_else(|_| default_permissions());
        let missing = missing(&permissions, req.may);
        if !missing.is_empty() {
            return Outcome::Login(missing);
        }
        let survey = survey.get_or_insert_with(|| surveyed(manager, web, req));
        if let Some(outcome) = plugin_page(manager, web, &id, survey, req) {
            return outcome;
        }
    }
    let missing = missing(&default_permissions(), req.may);
    if !req.first_run && !missing.is_empty() {
        return Outcome::Login(missing);
    }
    let survey = survey.unwrap_or_else(|| surveyed(manager, web, req));
    default_page(manager, web, &survey, req)
}

/// What a survey was taken under: the plugins (loaded, enabled, …), the
/// settings (which drive what plugins inject and which wizards show) and
/// whether it is the first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SurveyKey {
    plugins: u64,
    settings: u64,
    first_run: bool,
}

/// A survey with the ETag fields of its answers, worked out once. (The
/// tracked files are listed at every request: a file added to a template
/// folder changes the page.)
pub struct Surveyed {
    pub survey: Survey,
    pub fields: Vec<String>,
    /// The fields hashed into one (what the default page's ETag takes).
    pub digest: String,
}

impl Surveyed {
    fn new(survey: Survey) -> Self {
        use sha2::{Digest, Sha256};
        let fields = survey.etag_fields();
        let mut hash = Sha256::new();
        for field in &fields {
            hash.update(field.as_bytes());
            hash.update("\n");
        }
        let digest = hex::encode(hash.finalize());
        Self {
            survey,
            fields,
            digest,
        }
    }
}

/// The survey of what the plugins inject: the last one while neither the
/// plugins, the settings nor the first run changed (as OctoPrint gathers
/// its templates once and keys its page on the settings), a new one
/// otherwise, or when the request asks for a fresh page.
fn surveyed(manager: &PluginManager, web: &Web, req: &PageRequest<'_>) -> Arc<Surveyed> {
    survey_for(manager, web, req.first_run, req.refresh)
}

/// [`surveyed`] for the first run or not, taken anew when `fresh`.
fn survey_for(manager: &PluginManager, web: &Web, first_run: bool, fresh: bool) -> Arc<Surveyed> {
    let key = SurveyKey {
        plugins: manager.generation(),
        settings: manager.config().revision(),
        first_run,
    };
    if !fresh {
        if let Some((at, surveyed)) = web.surveys.lock().unwrap().as_ref() {
            if *at == key {
                return surveyed.clone();
            }
        }
    }
    let survey = Survey::take(manager, first_run);
    let surveyed = Arc::new(Surveyed::new(survey));
    *web.surveys.lock().unwrap() = Some((key, surveyed.clone()));
    surveyed
}

fn default_permissions() -> Vec<String> {
    DEFAULT_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect()
}

/// The permissions the caller lacks, matched case-insensitively (OctoPrint's
/// names are upper case, Plinth's lower case).
fn missing(permissions: &[String], may: &dyn Fn(&str) -> bool) -> Vec<String> {
    permissions
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| !may(p))
        .collect()
}

/// The cache key of a request: who renders it, the path and the plugin's
/// additional key data. Not the query string (as OctoPrint keys on the base
/// URL): a caller must not be able to fill the cache with `?x=1`, `?x=2`, ….
fn cache_key(who: &str, req: &Request, extra: &str) -> String {
    format!("{who}|{}|{extra}", req.path)
}

/// The cached page for `key` under the current ETag, unless the request
/// asks for a fresh render.
fn from_cache(
    web: &Web,
    key: &str,
    stamp: &Stamp,
    req: &PageRequest<'_>,
    plugin: Option<&str>,
) -> Option<Outcome> {
    if req.refresh {
        return None;
    }
    let page = web.cache.get(key, &stamp.etag)?;
    Some(Outcome::Page {
        page,
        stamp: stamp.clone(),
        hit: true,
        plugin: plugin.map(str::to_owned),
    })
}

fn default_page(
    manager: &PluginManager,
    web: &Web,
    surveyed: &Surveyed,
    req: &PageRequest<'_>,
) -> Outcome {
    let survey = &surveyed.survey;
    let tracked = survey.tracked();
    let stamp = cache::stamp(&StampInput {
        tracked: &tracked,
        fields: std::slice::from_ref(&surveyed.digest),
        ..Default::default()
    });
    let key = cache_key("_default", &req.request, "");
    if let Some(hit) = from_cache(web, &key, &stamp, req, None) {
        return hit;
    }
    let renderer = Renderer::new(manager, survey.plugins.clone());
    let kwargs = survey.kwargs(manager);
    let globals = minijinja::Value::from_serialize(&kwargs);
    let mut context: BTreeMap<String, minijinja::Value> = kwargs
        .iter()
        .map(|(k, v)| (k.clone(), minijinja::Value::from_serialize(v)))
        .collect();
    context.insert(
        "templates".into(),
        survey.templates(&renderer, &globals, true),
    );
    // The asset URLs are built here (identifiers and percent-encoded paths):
    // safe in an attribute as they are.
    context.insert("assets".into(), survey.asset_urls());
    let html = match renderer.render("index.jinja2", &minijinja::Value::from_object(context)) {
        Ok(html) => html,
        Err(e) => return Outcome::Failed(e),
    };
    let page = Page::from(Response::html(html));
    web.cache.put(key, stamp.etag.clone(), page.clone());
    if req.record {
        web.records.add(RecordedRequest {
            plugin: "_default".into(),
            path: req.request.path.clone(),
            headers: BTreeMap::new(),
            data: String::new(),
        });
    }
    Outcome::Page {
        page,
        stamp,
        hit: false,
        plugin: None,
    }
}

/// A UiPlugin's page, or `None` to move on to the next plugin.
fn plugin_page(
    manager: &PluginManager,
    web: &Web,
    id: &str,
    surveyed: &Surveyed,
    req: &PageRequest<'_>,
) -> Option<Outcome> {
    let survey = &surveyed.survey;
    let tracked: Vec<std::path::PathBuf> = match manager.call::<m::GetUiCustomTrackedFiles>(id, &())
    {
        Ok(Some(files)) => files.into_iter().map(Into::into).collect(),
        _ => {
            let mut files = survey.tracked();
            if let Ok(Some(more)) = manager.call::<m::GetUiAdditionalTrackedFiles>(id, &()) {
                files.extend(more.into_iter().map(Into::into));
            }
            files
        }
    };
    let defaults = surveyed.fields.clone();
    let mut fields = match manager.call::<m::GetUiAdditionalEtag>(id, &defaults) {
        Ok(Some(fields)) => fields,
        Ok(None) => Vec::new(),
        Err(_) => defaults,
    };
    fields.push(format!("ui:{id}"));
    let stamp = cache::stamp(&StampInput {
        tracked: &tracked,
        fields: &fields,
        custom_etag: manager.call::<m::GetUiCustomEtag>(id, &()).ok().flatten(),
        custom_last_modified: manager
            .call::<m::GetUiCustomLastmodified>(id, &())
            .ok()
            .flatten(),
    });
    let key_data = manager
        .call::<m::GetUiAdditionalKeyDataForCache>(id, &())
        .ok()
        .flatten()
        .map_or_else(String::new, |v| v.to_string());
    let key = cache_key(&format!("ui:{id}"), &req.request, &key_data);
    if let Some(hit) = from_cache(web, &key, &stamp, req, Some(id)) {
        return Some(hit);
    }

    let renderer = Renderer::new(manager, survey.plugins.clone());
    let mut kwargs = survey.kwargs(manager);
    let globals = minijinja::Value::from_serialize(&kwargs);
    let templates = survey.templates(&renderer, &globals, false);
    let mut templates = serde_json::to_value(&templates).unwrap_or(Value::Null);
    filter_templates(manager, id, &mut templates);
    kwargs.insert("templates".into(), templates);
    let now = rfc3339(SystemTime::now());
    let args = (now, req.request.clone(), Value::Object(kwargs));
    let page = match manager.call::<m::OnUiRender>(id, &args) {
        Ok(Some(response)) => Page::from(response),
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!("plugin {id}: on_ui_render failed: {e}; trying the next UiPlugin");
            return None;
        }
    };
    // Not cached: what the plugin says must not be, and what sets cookies
    // (one caller's cookie must never be replayed to another).
    let no_cache = page.headers.iter().any(|(name, value)| {
        let name = name.to_ascii_lowercase();
        let value = value.to_ascii_lowercase();
        ((name == "cache-control" || name == "pragma") && value.contains("no-cache"))
            || (name == "cache-control" && value.contains("no-store"))
            || name == "set-cookie"
    });
    if (200..300).contains(&page.status) && !no_cache {
        web.cache.put(key, stamp.etag.clone(), page.clone());
        if req.record {
            record_plugin_request(manager, web, id, &req.request);
        }
    }
    Some(Outcome::Page {
        page,
        stamp,
        hit: false,
        plugin: Some(id.to_owned()),
    })
}

/// Applies a UiPlugin's `get_ui_custom_template_filter` to its render
/// arguments' templates: an entry the filter refuses leaves `order` and `entries`.
fn filter_templates(manager: &PluginManager, id: &str, templates: &mut Value) {
    let Some(kinds) = templates.as_object_mut() else {
        return;
    };
    for (kind, data) in kinds.iter_mut() {
        let keys: Vec<String> = data["order"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        for key in keys {
            let args = (kind.clone(), key.clone(), true);
            let keep = manager
                .call::<m::GetUiCustomTemplateFilter>(id, &args)
                .unwrap_or(true);
            if !keep {
                if let Some(order) = data["order"].as_array_mut() {
                    order.retain(|k| k.as_str() != Some(key.as_str()));
                }
                if let Some(entries) = data["entries"].as_object_mut() {
                    entries.remove(&key);
                }
            }
        }
    }
}

/// Records a request a UiPlugin answered, unless the plugin opts out.
fn record_plugin_request(manager: &PluginManager, web: &Web, id: &str, request: &Request) {
    let enabled = manager
        .call::<m::GetUiPreemptiveCachingEnabled>(id, &())
        .unwrap_or(true);
    let unless = manager
        .call::<m::GetUiPreemptiveCachingAdditionalUnless>(id, &())
        .unwrap_or(false);
    if !enabled || unless {
        return;
    }
    let mut headers: BTreeMap<String, String> = request
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() == "user-agent")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Ok(extra) = manager.call::<m::GetUiAdditionalRequestDataForPreemptiveCaching>(id, &()) {
        headers.extend(cache::string_map(
            extra.get("headers").unwrap_or(&Value::Null),
        ));
    }
    let data = manager
        .call::<m::GetUiDataForPreemptiveCaching>(id, &())
        .map(|v| v.to_string())
        .unwrap_or_default();
    web.records.add(RecordedRequest {
        plugin: id.to_owned(),
        path: request.path.clone(),
        headers,
        data,
    });
}

/// Renders every recorded request into the cache (at start-up). Returns how
/// many pages were cached. A recorded UiPlugin that is gone, opted out, or no
/// longer handles its request is skipped.
pub fn warm(manager: &PluginManager, web: &Web, first_run: bool) -> usize {
    let records = web.records.all();
    if records.is_empty() {
        return 0;
    }
    // The survey the requests will find: pages warmed now stay hits.
    let survey = survey_for(manager, web, first_run, false);
    let ui_plugins = manager.implementations(Mixin::Ui, Some(Context::WillHandleUi));
    let mut cached = 0;
    for record in records {
        let request = Request {
            method: "GET".into(),
            path: record.path.clone(),
            headers: record.headers.clone(),
            ..Default::default()
        };
        let may = |_: &str| true;
        let req = PageRequest {
            request,
            refresh: true,
            first_run,
            may: &may,
            record: false,
        };
        let outcome = if record.plugin == "_default" {
            Some(default_page(manager, web, &survey, &req))
        } else {
            let wanted = ui_plugins.iter().any(|(id, _)| id == &record.plugin)
                && manager
                    .call::<m::GetUiPreemptiveCachingEnabled>(&record.plugin, &())
                    .unwrap_or(false)
                && manager
                    .call::<m::WillHandleUi>(&record.plugin, &req.request)
                    .unwrap_or(false);
            wanted
                .then(|| plugin_page(manager, web, &record.plugin, &survey, &req))
                .flatten()
        };
        match outcome {
            Some(Outcome::Page { .. }) => cached += 1,
            Some(Outcome::Failed(e)) => {
                tracing::warn!("preemptive caching of {}: {e}", record.path)
            }
            _ => {}
        }
    }
    cached
}

/// A time as RFC 3339 in UTC, to the second (`2026-11-21T09:30:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;
    use std::time::{Duration, SystemTime};

    #[test]
    fn rfc3339_dates() {
        let at = |s: u64| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_258_861), "2026-11-21T11:01:01Z");
    }
}
