//! Plain calls into enabled plugins: mixin implementations in sorted order,
//! hooks, helpers and events, and the services plugins call back through.
//! Each goes through the plugin's call gate (see `PluginObject::call_active`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use plinth_abi::methods::plugin as m;
use plinth_abi::{HookReply, Mixin, Value};

use crate::plugins::discover::Source;
use crate::plugins::error::{HelperError, NoPlugin, ProgressError};
use crate::plugins::events::EventSink;
use crate::plugins::manager::{PluginManager, Shared};
use crate::plugins::object::{CallError, PluginObject};
use crate::plugins::services::HostServices;
use crate::plugins::sorting::{self, DEFAULT_ORDER};
use crate::plugins::state::State;

impl PluginManager {
    /// The enabled plugins implementing `mixin`, sorted for `context`:
    /// by sorting key (config override, else the plugin's key, else 1000),
    /// then bundled before others, then identifier.
    pub fn implementations(
        &self,
        mixin: Mixin,
        context: Option<sorting::Context>,
    ) -> Vec<(String, Arc<PluginObject>)> {
        let candidates: Vec<(String, bool, Arc<PluginObject>)> = {
            let records = self.shared.records.read().unwrap();
            records
                .iter()
                .filter(|r| r.state == State::Enabled && r.has_mixin(mixin))
                .filter_map(|r| {
                    let object = r.object()?.clone();
                    Some((
                        r.found.id.clone(),
                        r.found.source == Source::Bundled,
                        object,
                    ))
                })
                .collect()
        };
        // One implementation (or none) needs no order: its key is not asked
        // (the page asks for the UiPlugins at every request).
        let context = context.filter(|_| candidates.len() > 1);
        // Without a sorting context every key is the default: no config read
        // (events ask for their handlers on every event).
        let overrides = if context.is_some() {
            self.sorting_overrides()
        } else {
            BTreeMap::new()
        };
        let mut keyed: Vec<_> = candidates
            .into_iter()
            .map(|(id, bundled, object)| {
                let key = context.map_or(DEFAULT_ORDER, |ctx| {
                    sorting::override_for(&overrides, &id, ctx.as_str()).unwrap_or_else(|| {
                        object
                            .call::<m::GetSortingKey>(&ctx.as_str().to_owned())
                            .ok()
                            .flatten()
                            .unwrap_or(DEFAULT_ORDER)
                    })
                });
                ((key, !bundled, id.clone()), (id, object))
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.into_iter().map(|(_, v)| v).collect()
    }

    /// Identifiers of the enabled implementations of a mixin, sorted for `context`.
    pub fn implementation_ids(
        &self,
        mixin: Mixin,
        context: Option<sorting::Context>,
    ) -> Vec<String> {
        self.implementations(mixin, context)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    fn sorting_overrides(&self) -> BTreeMap<String, BTreeMap<String, i64>> {
        self.shared.config.sorting_order().unwrap_or_default()
    }

    /// A receiver of the push channel (events and plugin messages as JSON text).
    pub fn subscribe_push(
        &self,
    ) -> tokio::sync::broadcast::Receiver<crate::plugins::events::PushMessage> {
        self.shared.events.subscribe()
    }

    /// Sends a message (`{"<type>": payload}`) to the push channel's clients,
    /// after the events fired so far.
    pub fn push(&self, message: &Value) {
        self.shared.events.push(message.to_string().into());
    }

    /// Routes slicing job `job`'s progress reports from plugin `slicer` to `sink`
    /// until [`end_slicing_progress`](Self::end_slicing_progress).
    pub fn route_slicing_progress(
        &self,
        job: u64,
        slicer: &str,
        sink: crate::plugins::manager::ProgressSink,
    ) {
        self.shared
            .slicing_progress
            .lock()
            .unwrap()
            .insert(job, (slicer.to_owned(), sink));
    }

    /// Stops routing slicing job `job`'s progress reports.
    pub fn end_slicing_progress(&self, job: u64) {
        self.shared.slicing_progress.lock().unwrap().remove(&job);
    }

    /// Fires an event on the bus.
    pub fn fire_event(&self, event: &str, payload: &Value) {
        self.shared.events.fire(event, payload);
    }

    /// Waits until every event fired so far was delivered.
    pub fn flush_events(&self) -> bool {
        self.shared.events.flush(Duration::from_secs(30))
    }

    /// The enabled plugins handling `hook`, in `(order, identifier)` order.
    pub fn hook_handlers(&self, hook: &str) -> Vec<(String, Arc<PluginObject>)> {
        let mut handlers: Vec<(i64, String, Arc<PluginObject>)> = {
            let overrides = self.sorting_overrides();
            let records = self.shared.records.read().unwrap();
            records
                .iter()
                .filter(|r| r.state == State::Enabled)
                .filter_map(|r| {
                    let live = r.live()?;
                    let (_, order) = live.registrations.hooks.iter().find(|(n, _)| n == hook)?;
                    let order = sorting::hook_order(&overrides, &r.found.id, hook, *order);
                    Some((order, r.found.id.clone(), live.object.clone()))
                })
                .collect()
        };
        handlers.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        handlers.into_iter().map(|(_, id, o)| (id, o)).collect()
    }

    /// Gives plugins the server's printer, file manager and slicing manager.
    pub fn attach_server(
        &self,
        jobs: std::sync::Weak<dyn crate::plugins::services::ServerServices>,
    ) {
        let _ = self.shared.jobs.set(jobs);
    }

    /// A number that changes whenever a plugin is loaded, enabled,
    /// disabled or unloaded: what caches [`hook_handlers`](Self::hook_handlers) compares.
    pub fn generation(&self) -> u64 {
        self.shared
            .generation
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Calls every handler of `hook` in `(order, identifier)` order.
    pub fn call_hook(&self, hook: &str, args: &Value) -> Vec<HookReply> {
        let encoded = serde_json::to_vec(&(hook, args)).expect("JSON values always encode");
        self.hook_handlers(hook)
            .into_iter()
            .map(|(id, object)| {
                let result = object
                    .call_encoded_active::<m::CallHook>(&encoded)
                    .map_err(|e| {
                        tracing::error!(plugin = %id, "hook {hook}: {e}");
                        e.to_string()
                    });
                HookReply { plugin: id, result }
            })
            .collect()
    }

    /// Calls the helper `helper` of the enabled plugin `plugin`.
    pub fn call_helper(
        &self,
        plugin: &str,
        helper: &str,
        args: &Value,
    ) -> Result<Value, HelperError> {
        let object = {
            let records = self.shared.records.read().unwrap();
            let r = records
                .get(plugin)
                .ok_or_else(|| NoPlugin(plugin.to_owned()))?;
            if r.state != State::Enabled {
                return Err(HelperError::NotEnabled {
                    plugin: plugin.to_owned(),
                    state: r.state,
                });
            }
            // Helpers are registered when the plugin is enabled: none before.
            let registered = r
                .live()
                .is_some_and(|l| l.registrations.helpers.iter().any(|h| h == helper));
            if !registered {
                return Err(HelperError::NoHelper {
                    plugin: plugin.to_owned(),
                    helper: helper.to_owned(),
                });
            }
            r.object().cloned().ok_or_else(|| HelperError::NotRunning {
                plugin: plugin.to_owned(),
            })?
        };
        object
            .call_active::<m::CallHelper>(&(helper.to_owned(), args.clone()))
            .map_err(|error| HelperError::Failed {
                plugin: plugin.to_owned(),
                helper: helper.to_owned(),
                error,
            })
    }

    /// A file compiled into a plugin's library (`templates/…`, `static/…`).
    /// `None` when it has no such file, or was built before ABI 1.1 had them.
    pub fn embedded_file(&self, id: &str, path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
        let library = self.with(id, |r| r.library().cloned())??;
        library.embedded_file(path)
    }

    /// The object of `id` when it is enabled and implements `mixin`.
    pub fn enabled_with(&self, id: &str, mixin: plinth_abi::Mixin) -> Option<Arc<PluginObject>> {
        self.with(id, |r| {
            (r.state == State::Enabled && r.has_mixin(mixin))
                .then(|| r.object().cloned())
                .flatten()
        })
        .flatten()
    }

    /// Whether plugin `id` runs in a process of its own (false for a plugin
    /// in process and for one that is not loaded).
    pub fn runs_isolated(&self, id: &str) -> bool {
        self.with(id, |r| r.object().is_some_and(|o| o.origin().is_some()))
            .unwrap_or(false)
    }

    /// Calls method `M` on an enabled plugin (for the services of later layers and tests).
    pub fn call<M: plinth_abi::Method>(
        &self,
        id: &str,
        args: &M::Args,
    ) -> Result<M::Output, CallError> {
        let object = self
            .with(id, |r| {
                (r.state == State::Enabled)
                    .then(|| r.object().cloned())
                    .flatten()
            })
            .flatten();
        object
            .ok_or_else(|| CallError::Failed(format!("plugin `{id}` is not enabled")))?
            .call_active::<M>(args)
    }
}

impl HostServices for Shared {
    fn fire_event(&self, event: &str, payload: &serde_json::value::RawValue) {
        self.events.fire_json(event, payload);
    }

    fn keep_log_line(&self, plugin: &str, level: u8, message: &str) {
        use plinth_abi::vtable::level as l;
        if let Some(lines) = &self.options.log_lines {
            lines.push(crate::plugins::state::LogLine {
                plugin: plugin.to_owned(),
                level: match level {
                    l::ERROR => "error",
                    l::WARN => "warn",
                    l::INFO => "info",
                    l::DEBUG => "debug",
                    _ => "trace",
                },
                message: message.to_owned(),
            });
        }
    }

    fn call_helper(&self, plugin: &str, helper: &str, args: Value) -> Result<Value, HelperError> {
        self.manager().call_helper(plugin, helper, &args)
    }

    fn call_hook(&self, hook: &str, args: Value) -> Vec<HookReply> {
        self.manager().call_hook(hook, &args)
    }

    fn send_plugin_message(&self, plugin: &str, data: Value) {
        let message = serde_json::json!({"plugin": {"plugin": plugin, "data": data}}).to_string();
        self.events.push(message.into());
    }

    fn report_slicing_progress(
        &self,
        plugin: &str,
        job: u64,
        fraction: f64,
    ) -> Result<(), ProgressError> {
        let sink = self
            .slicing_progress
            .lock()
            .unwrap()
            .get(&job)
            .filter(|(slicer, _)| slicer == plugin)
            .map(|(_, sink)| sink.clone())
            .ok_or_else(|| ProgressError::NoJob {
                plugin: plugin.to_owned(),
                job,
            })?;
        if !fraction.is_finite() {
            return Err(ProgressError::NotANumber(fraction));
        }
        sink(fraction.clamp(0.0, 1.0));
        Ok(())
    }

    fn implementations(&self, mixins: &[Mixin]) -> Vec<String> {
        let Some((first, rest)) = mixins.split_first() else {
            return Vec::new();
        };
        let manager = self.manager();
        manager
            .implementation_ids(*first, None)
            .into_iter()
            .filter(|id| {
                manager
                    .with(id, |r| rest.iter().all(|m| r.has_mixin(*m)))
                    .unwrap_or(false)
            })
            .collect()
    }

    fn plugin_infos(&self, id: Option<&str>) -> Vec<plinth_abi::PluginSummary> {
        self.manager()
            .plugins()
            .into_iter()
            .filter(|p| id.is_none_or(|id| p.id == id))
            .map(|p| plinth_abi::PluginSummary {
                enabled: p.state == State::Enabled,
                bundled: p.source == Source::Bundled,
                state: p.state.as_str().to_owned(),
                id: p.id,
                name: p.name,
                version: p.version,
                description: p.description,
                author: p.author,
                url: p.url,
                license: p.license,
                mixins: p.mixins,
            })
            .collect()
    }

    fn find_user(&self, name: &str) -> Option<plinth_abi::UserSummary> {
        let users = crate::users::Users::new(&self.paths.basedir);
        let all = users.all().ok()?;
        let user = all.get(name)?;
        let mut summary = user.summary(name);
        let plugin = self.manager().contributions().plugin_permissions_of(user);
        summary.permissions.extend(plugin);
        Some(summary)
    }

    fn server(&self) -> Option<Arc<dyn crate::plugins::services::ServerServices>> {
        self.jobs.get().and_then(std::sync::Weak::upgrade)
    }

    fn plugin_lost(&self, id: &str, origin: u64, fault: crate::plugins::transport::Fault) {
        self.manager().plugin_lost(id, origin, fault);
    }
}

impl EventSink for Shared {
    fn handlers(&self) -> Vec<(String, Arc<PluginObject>)> {
        self.manager().implementations(Mixin::EventHandler, None)
    }
}

impl Shared {
    fn manager(&self) -> PluginManager {
        PluginManager {
            shared: self
                .me
                .upgrade()
                .expect("the manager is alive while it serves calls"),
        }
    }
}
