//! The base of every plugin: construction, lifecycle callbacks, sorting,
//! hooks and helpers.

use serde_json::Value;

use crate::host::Host;
use crate::types::PluginResult;

/// A hook handler: gets the hook's arguments, returns its answer.
pub type HookHandler<P> = fn(&P, &Value) -> PluginResult<Value>;
/// A helper: gets the caller's arguments, returns its answer.
pub type HelperFn<P> = fn(&P, &Value) -> PluginResult<Value>;

/// A registered hook handler, typed or not.
pub(crate) type BoxedHook<P> = Box<dyn Fn(&P, &Value) -> PluginResult<Value> + Send + Sync>;

/// The hook handlers and helpers a plugin registers when it is enabled.
///
/// Filled in [`Plugin::register`]; the host removes them again when the
/// plugin is disabled. Besides [`hook`](Self::hook), which takes and
/// returns JSON, the typed helpers (`gcode_hook`, `received_hook`, …) cover
/// the hooks the host calls ([`crate::hooks`]).
pub struct Registry<P> {
    pub(crate) hooks: Vec<(String, Option<i64>, BoxedHook<P>)>,
    /// The typed G-code handlers, also in `hooks`: the host calls these
    /// without JSON (`CallGcodeHook`).
    pub(crate) gcode: Vec<(crate::hooks::GcodePhase, crate::hooks::GcodeHandler<P>)>,
    pub(crate) helpers: Vec<(String, HelperFn<P>)>,
}

impl<P> Default for Registry<P> {
    fn default() -> Self {
        Self {
            hooks: Vec::new(),
            gcode: Vec::new(),
            helpers: Vec::new(),
        }
    }
}

impl<P: 'static> Registry<P> {
    /// Handles the hook `name`. Handlers of one hook are called in
    /// `(order, plugin identifier)` order; `None` and `Some(0)` sort as 1000
    /// (OctoPrint's falsy order is its default).
    /// One handler per plugin per hook: a second registration replaces the first.
    pub fn hook(&mut self, name: &str, order: Option<i64>, handler: HookHandler<P>) -> &mut Self {
        self.boxed_hook(name, order, Box::new(handler))
    }

    pub(crate) fn boxed_hook(
        &mut self,
        name: &str,
        order: Option<i64>,
        handler: BoxedHook<P>,
    ) -> &mut Self {
        self.hooks.retain(|(n, _, _)| n != name);
        self.gcode.retain(|(phase, _)| phase.hook() != name);
        self.hooks.push((name.to_owned(), order, handler));
        self
    }

    /// Exposes a helper that other plugins call by this plugin's identifier and `name`.
    pub fn helper(&mut self, name: &str, helper: HelperFn<P>) -> &mut Self {
        self.helpers.retain(|(n, _)| n != name);
        self.helpers.push((name.to_owned(), helper));
        self
    }
}

/// The base trait of every plugin (OctoPrint's `OctoPrintPlugin` and `SortablePlugin`).
///
/// The mixin traits ([`StartupPlugin`](crate::StartupPlugin), …) add the
/// behaviour; [`export_plugin!`](crate::export_plugin) names the ones a plugin implements.
///
/// # Lifecycle
/// When the host enables the plugin it calls, in this order: [`new`](Plugin::new)
/// (injection: the plugin receives its [`Host`]), [`initialize`](Plugin::initialize),
/// [`register`](Plugin::register), then [`on_plugin_enabled`](Plugin::on_plugin_enabled).
/// Disabling calls [`on_plugin_disabled`](Plugin::on_plugin_disabled); a later
/// enable reuses the same object and calls `on_plugin_enabled` again. When the
/// host unloads the plugin the object is dropped; the library's code stays mapped
/// until the host exits (native code cannot be unloaded safely).
///
/// Every callback may be called from any thread, hence `Send + Sync`: keep mutable
/// state behind a `Mutex` or atomics. A panic in any callback is caught by the SDK
/// and reported to the host as an error of that call.
///
/// # Background work
/// Timers made with [`Host::repeated_timer`] and [`Host::resettable_timer`]
/// (OctoPrint's `RepeatedTimer` and `ResettableTimer`) are stopped by the
/// SDK when the plugin is disabled or shut down. Threads the plugin starts
/// itself are its own to end: stop them in
/// [`on_plugin_disabled`](Plugin::on_plugin_disabled) (and
/// [`ShutdownPlugin::on_shutdown`](crate::ShutdownPlugin::on_shutdown)). Once
/// `on_plugin_disabled` (or `on_shutdown`) has returned, or the plugin has
/// failed, its [`Host`] refuses whatever changes anything (settings writes,
/// events, plugin messages, helper and hook calls) with a [`HostError`](crate::HostError)
/// and drops its log lines; reads still work. Save what must be kept in those
/// callbacks, not in `Drop` after an uninstall. Enabling the plugin again
/// opens the handle again.
pub trait Plugin: Send + Sync + 'static {
    /// Creates the plugin object. `host` is the plugin's handle to the host:
    /// its identifier, folders, logger, events, hooks and helpers. Keep it.
    fn new(host: Host) -> Self
    where
        Self: Sized;

    /// The handle given to [`new`](Plugin::new); default methods use it.
    fn host(&self) -> &Host;

    /// Called once after injection, before anything else.
    /// An error marks the plugin `failed`.
    fn initialize(&self) -> PluginResult<()> {
        Ok(())
    }

    /// Registers hook handlers and helpers. Called after `initialize`.
    fn register(&self, registry: &mut Registry<Self>)
    where
        Self: Sized,
    {
        let _ = registry;
    }

    /// Called when the plugin has been enabled, after `initialize` (at start-up and at run time alike).
    fn on_plugin_enabled(&self) {}

    /// Called when the plugin is disabled at run time. The last moment its
    /// [`Host`] serves writes: stop background work here (see "Background work").
    fn on_plugin_disabled(&self) {}

    /// Called by the plugin manager before the plugin is uninstalled.
    /// Not called when the files are removed by other means.
    fn on_plugin_pending_uninstall(&self) {}

    /// The sorting key of this plugin in a sorting context such as
    /// `StartupPlugin.on_startup`. `None` sorts as 1000. The host's config
    /// (`plugins._sortingOrder.<id>.<context>`) overrides it. Asked each
    /// time the host orders two or more plugins in that context (OctoPrint
    /// asks even when a plugin is the only one): keep it quick and free of
    /// side effects.
    fn get_sorting_key(&self, context: &str) -> Option<i64> {
        let _ = context;
        None
    }
}
