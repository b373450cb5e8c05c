//! UiPlugin.

use serde_json::{Map, Value};

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{PluginResult, Request, Response};

/// Replaces the whole page served at `/` for the requests it chooses
/// (sorting context `UiPlugin.will_handle_ui`). The first plugin whose
/// [`will_handle_ui`](UiPlugin::will_handle_ui) is true and whose
/// [`on_ui_render`](UiPlugin::on_ui_render) answers wins; the default page is the fallback.
///
/// Responses are cached by the host; the `get_ui_*` methods steer that cache.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `UiPlugin`, but `Ui` is in its export_plugin! `mixins:` list",
    label = "implement `UiPlugin` for `{Self}`, or remove `Ui` from `mixins:`"
)]
pub trait UiPlugin: Plugin {
    /// Whether this plugin serves `request`.
    fn will_handle_ui(&self, request: &Request) -> bool;

    /// Renders the page. `now` is the request time (RFC 3339); `render_kwargs`
    /// holds what the default page is rendered with (`debug`, `firstRun`,
    /// `version` (`number`, `branch`, `display`), `display_version`,
    /// `templates` (per template type `{"order": [key], "entries": {key: entry}}`,
    /// each plugin entry with its rendered `html`), `pluginNames`, `locales`,
    /// `supportedExtensions`, `assets` (`js`, `css`, `less` URLs) and every
    /// plugin's template variables as `plugin_<id>_<name>`).
    /// `Ok(None)` and `Err` move on to the next plugin (the error is logged).
    /// A response with `Cache-Control: no-cache` is not cached.
    fn on_ui_render(
        &self,
        now: &str,
        request: &Request,
        render_kwargs: &Value,
    ) -> PluginResult<Option<Response>>;

    /// Additional fields for the ETag; the default keeps `default_additional`.
    fn get_ui_additional_etag(&self, default_additional: &[String]) -> Option<Vec<String>> {
        Some(default_additional.to_vec())
    }

    /// Additional data for the cache key.
    fn get_ui_additional_key_data_for_cache(&self) -> Option<Value> {
        None
    }

    /// Additional request data to record for preemptive caching.
    fn get_ui_additional_request_data_for_preemptive_caching(&self) -> Value {
        Value::Object(Map::new())
    }

    /// Additional files whose changes invalidate the cache.
    fn get_ui_additional_tracked_files(&self) -> Option<Vec<String>> {
        None
    }

    /// A custom ETag instead of the default one.
    fn get_ui_custom_etag(&self) -> Option<String> {
        None
    }

    /// A custom Last-Modified (seconds since the epoch) instead of the newest tracked file.
    fn get_ui_custom_lastmodified(&self) -> Option<i64> {
        None
    }

    /// Filters the templates handed to the page; `default` is the stock filter's verdict.
    fn get_ui_custom_template_filter(
        &self,
        template_type: &str,
        template_key: &str,
        default: bool,
    ) -> bool {
        let _ = (template_type, template_key);
        default
    }

    /// The only files to track for cache invalidation, replacing the default set.
    fn get_ui_custom_tracked_files(&self) -> Option<Vec<String>> {
        None
    }

    /// Additional data to record for preemptive caching.
    fn get_ui_data_for_preemptive_caching(&self) -> Value {
        Value::Object(Map::new())
    }

    /// Permissions the session needs, else the login page is shown. An empty list
    /// disables the check.
    fn get_ui_permissions(&self) -> Vec<String> {
        vec!["status".to_owned(), "settings_read".to_owned()]
    }

    /// Whether to skip recording this request for preemptive caching.
    fn get_ui_preemptive_caching_additional_unless(&self) -> bool {
        false
    }

    /// Whether the page may be cached preemptively at start-up (default `true`).
    fn get_ui_preemptive_caching_enabled(&self) -> bool {
        true
    }
}

mixin_marker!(Ui, UiPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        WillHandleUi::ID => serve::<WillHandleUi>(args, |r| p.will_handle_ui(&r)),
        OnUiRender::ID => {
            serve_result::<OnUiRender>(args, |(now, r, kw)| p.on_ui_render(&now, &r, &kw))
        }
        GetUiAdditionalEtag::ID => {
            serve::<GetUiAdditionalEtag>(args, |d| p.get_ui_additional_etag(&d))
        }
        GetUiAdditionalKeyDataForCache::ID => serve::<GetUiAdditionalKeyDataForCache>(args, |()| {
            p.get_ui_additional_key_data_for_cache()
        }),
        GetUiAdditionalRequestDataForPreemptiveCaching::ID => {
            serve::<GetUiAdditionalRequestDataForPreemptiveCaching>(args, |()| {
                p.get_ui_additional_request_data_for_preemptive_caching()
            })
        }
        GetUiAdditionalTrackedFiles::ID => {
            serve::<GetUiAdditionalTrackedFiles>(args, |()| p.get_ui_additional_tracked_files())
        }
        GetUiCustomEtag::ID => serve::<GetUiCustomEtag>(args, |()| p.get_ui_custom_etag()),
        GetUiCustomLastmodified::ID => {
            serve::<GetUiCustomLastmodified>(args, |()| p.get_ui_custom_lastmodified())
        }
        GetUiCustomTemplateFilter::ID => serve::<GetUiCustomTemplateFilter>(args, |(t, k, d)| {
            p.get_ui_custom_template_filter(&t, &k, d)
        }),
        GetUiCustomTrackedFiles::ID => {
            serve::<GetUiCustomTrackedFiles>(args, |()| p.get_ui_custom_tracked_files())
        }
        GetUiDataForPreemptiveCaching::ID => serve::<GetUiDataForPreemptiveCaching>(args, |()| {
            p.get_ui_data_for_preemptive_caching()
        }),
        GetUiPermissions::ID => serve::<GetUiPermissions>(args, |()| p.get_ui_permissions()),
        GetUiPreemptiveCachingAdditionalUnless::ID => {
            serve::<GetUiPreemptiveCachingAdditionalUnless>(args, |()| {
                p.get_ui_preemptive_caching_additional_unless()
            })
        }
        GetUiPreemptiveCachingEnabled::ID => {
            serve::<GetUiPreemptiveCachingEnabled>(args, |()| p.get_ui_preemptive_caching_enabled())
        }
        _ => CallOutcome::Unsupported,
    }
});
