//! The services the host offers plugins, behind the frozen `HostVTable`.
//!
//! A plugin's handle serves it while the plugin runs. Once it is disabled (or
//! failed, or shut down), the handle refuses what changes anything (settings
//! writes, events, plugin messages, helpers, hooks, progress reports) with an
//! error, and drops its log lines: a thread the plugin left behind can no
//! longer act through the host. The first refusal is logged with the
//! plugin's identifier. Reads (identity, settings) go on being answered.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use plinth_abi::files::{FileCall, SlicingCall};
use plinth_abi::methods::host::*;
use plinth_abi::printer::PrinterCall;
use plinth_abi::vtable::{level, CallOutcome};
use plinth_abi::Refusal;
use plinth_abi::{Codec, HookReply, Identity, Value};
use serde_json::value::RawValue;

use crate::config::plugin_settings::PluginSettings;
use crate::config::ConfigError;
use crate::plugins::error::{HelperError, ProgressError};

thread_local! {
    /// The name of the event a plugin fires, as the bus delivers it.
    static EVENT_NAME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// What plugins reach through their handle; the plugin manager implements it.
pub trait HostServices: Send + Sync {
    /// Fires `event` with `payload` on the event bus.
    fn fire_event(&self, event: &str, payload: &RawValue);
    /// Calls a helper of an enabled plugin.
    fn call_helper(&self, plugin: &str, helper: &str, args: Value) -> Result<Value, HelperError>;
    /// Calls every handler of a hook, in order.
    fn call_hook(&self, hook: &str, args: Value) -> Vec<HookReply>;
    /// Sends a plugin's message to the push channel's clients.
    fn send_plugin_message(&self, plugin: &str, data: Value);
    /// Passes a slicer plugin's progress report for slicing job `job` on.
    fn report_slicing_progress(
        &self,
        plugin: &str,
        job: u64,
        fraction: f64,
    ) -> Result<(), ProgressError>;
    /// Every plugin (`None`), or plugin `id`, as plugins see them.
    fn plugin_infos(&self, id: Option<&str>) -> Vec<plinth_abi::PluginSummary>;
    /// The running plugins implementing every one of `mixins`, in the order
    /// of [`PluginManager::implementations`](crate::PluginManager::implementations)
    /// without a sorting context.
    fn implementations(&self, mixins: &[plinth_abi::Mixin]) -> Vec<String>;
    /// The user `name`, if there is one.
    fn find_user(&self, name: &str) -> Option<plinth_abi::UserSummary>;
    /// Keeps a plugin's log line where the manager's options say (a test
    /// kit's capture); nothing by default.
    fn keep_log_line(&self, _plugin: &str, _level: u8, _message: &str) {}
    /// The printer, the file and slicing managers and the connectivity
    /// checker, once a server made them (`None` without a server:
    /// `plinth plugins …`).
    fn server(&self) -> Option<Arc<dyn ServerServices>>;
    /// The process `origin` of isolated plugin `id` was lost (crashed,
    /// hung, grew past its limit) while it was meant to run.
    fn plugin_lost(&self, id: &str, origin: u64, fault: crate::plugins::transport::Fault);
}

/// The server's services as plugins reach them (implemented by
/// [`crate::jobs::Jobs`]): each call runs for plugin `plugin`.
pub trait ServerServices: Send + Sync {
    /// A call on the printer.
    fn printer(&self, plugin: &str, call: PrinterCall) -> Result<Value, Refusal>;
    /// A call of the file manager.
    fn files(&self, plugin: &str, call: FileCall) -> Result<Value, Refusal>;
    /// A call of the slicing manager.
    fn slicing(&self, plugin: &str, call: SlicingCall) -> Result<Value, Refusal>;
    /// A question to the connectivity checker.
    fn connectivity(&self, call: plinth_abi::ConnectivityCall) -> Value;
}

/// Why a service call of a plugin failed; the plugin receives the message.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The arguments or the answer do not fit the service's types.
    #[error("{0}")]
    Wire(String),
    /// The host is shutting down: nothing answers the plugin any more.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The plugin's data folder, or a base folder, cannot be created.
    #[error("cannot create {}: {error}", .path.display())]
    DataFolder {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The helper call failed.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// The progress report was refused.
    #[error(transparent)]
    Progress(#[from] ProgressError),
    /// Reading or writing its settings failed.
    #[error(transparent)]
    Settings(#[from] ConfigError),
}

/// The host's state for one plugin, shared with the plugin through its handle.
pub struct PluginContext {
    pub identity: Identity,
    pub services: Weak<dyn HostServices>,
    /// The plugin's settings (`plugins.<id>` of the config).
    pub settings: Arc<PluginSettings>,
    /// Closed once the plugin stops running: what changes anything is refused.
    closed: AtomicBool,
    /// Whether a refusal was logged since the handle closed.
    refusal_logged: AtomicBool,
    /// Built against an ABI before 1.2, whose `set` stored a path outside
    /// the defaults too: such plugins keep that (see [`Self::built_for_abi`]).
    stores_any_path: AtomicBool,
}

impl PluginContext {
    /// The context of a plugin, open.
    pub fn new(
        identity: Identity,
        services: Weak<dyn HostServices>,
        settings: Arc<PluginSettings>,
    ) -> Self {
        Self {
            identity,
            services,
            settings,
            closed: AtomicBool::new(false),
            refusal_logged: AtomicBool::new(false),
            stores_any_path: AtomicBool::new(false),
        }
    }

    /// The context of a plugin built against ABI 1.`minor`: before 1.2 its
    /// settings `set` stored a path outside the defaults, and a plugin built
    /// then keeps that behaviour (OctoPrint's rule applies from 1.2 on).
    pub fn built_for_abi(self, minor: u32) -> Self {
        self.stores_any_path.store(minor < 2, Ordering::Relaxed);
        self
    }

    /// Where base folder `folder` is: `<basedir>/<its name>`, the base folder
    /// being the config file's folder.
    fn base_folder(&self, folder: plinth_abi::BaseFolder) -> PathBuf {
        let config = self.settings.store().path();
        config
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(folder.name())
    }

    /// The plugin stopped running: refuse what changes anything from now on.
    pub fn close(&self) {
        self.refusal_logged.store(false, Ordering::SeqCst);
        self.closed.store(true, Ordering::SeqCst);
    }

    /// The plugin runs (again): serve everything.
    pub fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }

    /// Whether the handle refuses what changes anything.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Logs the first refusal since the handle closed.
    fn note_refusal(&self, what: &str) {
        if !self.refusal_logged.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                plugin = %self.identity.id,
                "the plugin is not running, but something of it still calls the host ({what}); \
                 refusing its settings writes, events, messages, helper and hook calls, and dropping its log lines"
            );
        }
    }

    /// Writes a log line of the plugin's (dropped once the handle closed).
    pub fn log(&self, lvl: u8, message: &str) {
        if self.is_closed() {
            self.note_refusal("log lines");
            return;
        }
        let id = self.identity.id.as_str();
        match lvl {
            level::ERROR => tracing::error!(target: "plugin", plugin = id, "{message}"),
            level::WARN => tracing::warn!(target: "plugin", plugin = id, "{message}"),
            level::INFO => tracing::info!(target: "plugin", plugin = id, "{message}"),
            level::DEBUG => tracing::debug!(target: "plugin", plugin = id, "{message}"),
            _ => tracing::trace!(target: "plugin", plugin = id, "{message}"),
        }
        if let Some(services) = self.services.upgrade() {
            services.keep_log_line(id, lvl, message);
        }
    }

    /// Answers the plugin's call of service number `service`.
    pub fn serve(&self, service: u32, args: &[u8]) -> CallOutcome {
        if self.is_closed() && changes_something(service) {
            let name = service_name(service);
            self.note_refusal(name);
            return CallOutcome::Error(
                format!(
                    "plugin `{}` is not running: the host refuses its {name}",
                    self.identity.id
                )
                .into(),
            );
        }
        match service {
            GetIdentity::ID => reply::<GetIdentity>(args, |()| Ok(self.identity.clone())),
            EnsureDataFolder::ID => reply::<EnsureDataFolder>(args, |()| {
                let dir = PathBuf::from(&self.identity.data_folder);
                std::fs::create_dir_all(&dir)
                    .map_err(|error| ServiceError::DataFolder { path: dir, error })?;
                Ok(self.identity.data_folder.clone())
            }),
            FireEvent::ID => {
                // The payload stays the JSON text it came as (checked, not
                // decoded): the bus passes it on as is.
                let fired = serde_json::from_slice::<(Cow<'_, str>, &RawValue)>(args)
                    .map_err(|e| ServiceError::Wire(format!("cannot decode: {e}")))
                    .and_then(|(name, payload)| {
                        let services = self.services()?;
                        // `plugin_<id>_<name>`, built in a buffer reused for every event.
                        EVENT_NAME.with_borrow_mut(|event| {
                            plinth_abi::events::write_plugin_event(event, &self.identity.id, &name);
                            services.fire_event(event, payload);
                        });
                        Ok(())
                    });
                match fired {
                    Ok(()) => CallOutcome::Ok(Vec::new().into()),
                    Err(e) => CallOutcome::Error(e.to_string().into()),
                }
            }
            CallHelper::ID => reply::<CallHelper>(args, |(plugin, helper, a)| {
                Ok(self.services()?.call_helper(&plugin, &helper, a)?)
            }),
            CallHook::ID => {
                reply::<CallHook>(args, |(hook, a)| Ok(self.services()?.call_hook(&hook, a)))
            }
            SendPluginMessage::ID => reply::<SendPluginMessage>(args, |data| {
                self.services()?
                    .send_plugin_message(&self.identity.id, data);
                Ok(())
            }),
            ReportSlicingProgress::ID => reply::<ReportSlicingProgress>(args, |(job, fraction)| {
                Ok(self
                    .services()?
                    .report_slicing_progress(&self.identity.id, job, fraction)?)
            }),
            SettingsGet::ID => reply::<SettingsGet>(args, |path| Ok(self.settings.get(&path))),
            SettingsSet::ID => reply::<SettingsSet>(args, |(path, value)| {
                let force = self.stores_any_path.load(Ordering::Relaxed)
                    && !self.settings.in_defaults(&path);
                self.settings
                    .set(&path, value, force)
                    .map_err(ServiceError::from)
            }),
            SettingsSetForced::ID => reply::<SettingsSetForced>(args, |(path, value)| {
                self.settings
                    .set(&path, value, true)
                    .map_err(ServiceError::from)
            }),
            SettingsGlobalSet::ID => reply::<SettingsGlobalSet>(args, |(path, value, force)| {
                self.settings
                    .global_set(&path, value, force)
                    .map_err(ServiceError::from)
            }),
            SettingsGlobalRemove::ID => reply::<SettingsGlobalRemove>(args, |path| {
                self.settings
                    .global_remove(&path)
                    .map_err(ServiceError::from)
            }),
            BaseFolderPath::ID => reply::<BaseFolderPath>(args, |folder| {
                let path = self.base_folder(folder);
                std::fs::create_dir_all(&path).map_err(|error| ServiceError::DataFolder {
                    path: path.clone(),
                    error,
                })?;
                Ok(path.to_string_lossy().into_owned())
            }),
            SettingsRemove::ID => reply::<SettingsRemove>(args, |path| {
                self.settings.remove(&path).map_err(ServiceError::from)
            }),
            SettingsHas::ID => reply::<SettingsHas>(args, |path| Ok(self.settings.has(&path))),
            SettingsPersist::ID => reply::<SettingsPersist>(args, |()| {
                self.settings.persist().map_err(ServiceError::from)
            }),
            SettingsGlobalGet::ID => {
                reply::<SettingsGlobalGet>(args, |path| Ok(self.settings.global_get(&path)))
            }
            SettingsLoad::ID => reply::<SettingsLoad>(args, |()| Ok(self.settings.all())),
            SettingsSave::ID => reply::<SettingsSave>(args, |data| {
                self.settings.save_data(&data).map_err(ServiceError::from)
            }),
            SettingsDiff::ID => reply::<SettingsDiff>(args, |data| Ok(self.settings.diff(&data))),
            SettingsStoreAll::ID => reply::<SettingsStoreAll>(args, |data| {
                self.settings.store_all(&data).map_err(ServiceError::from)
            }),
            SettingsCleanup::ID => reply::<SettingsCleanup>(args, |()| {
                self.settings.cleanup().map_err(ServiceError::from)
            }),
            PluginInfos::ID => {
                reply::<PluginInfos>(args, |id| Ok(self.services()?.plugin_infos(id.as_deref())))
            }
            FindUser::ID => reply::<FindUser>(args, |name| Ok(self.services()?.find_user(&name))),
            Implementations::ID => reply::<Implementations>(args, |mixins| {
                Ok(self.services()?.implementations(&mixins))
            }),
            Printer::ID => reply::<Printer>(args, |call| {
                let changes = changes_printer(&call);
                self.on_server("printer commands", changes, |j, id| j.printer(id, call))
            }),
            Files::ID => reply::<Files>(args, |call| {
                let changes = changes_files(&call);
                self.on_server("file changes", changes, |j, id| j.files(id, call))
            }),
            Slicing::ID => reply::<Slicing>(args, |call| {
                let changes = !matches!(
                    call,
                    SlicingCall::Slicers
                        | SlicingCall::Profiles { .. }
                        | SlicingCall::Profile { .. }
                        | SlicingCall::Jobs
                );
                self.on_server("slicing jobs", changes, |j, id| j.slicing(id, call))
            }),
            Connectivity::ID => reply::<Connectivity>(args, |call| {
                self.on_server("connectivity", false, |j, _| Ok(j.connectivity(call)))
            }),
            _ => CallOutcome::Unsupported,
        }
    }

    fn services(&self) -> Result<Arc<dyn HostServices>, ServiceError> {
        self.services.upgrade().ok_or(ServiceError::ShuttingDown)
    }

    /// A call on the server's jobs: refused when it `changes` something
    /// and the plugin stopped, or when there is no server.
    fn on_server(
        &self,
        what: &str,
        changes: bool,
        call: impl FnOnce(&dyn ServerServices, &str) -> Result<Value, Refusal>,
    ) -> Result<Result<Value, Refusal>, ServiceError> {
        let refusal = |message: String| {
            Ok(Err(Refusal {
                kind: plinth_abi::RefusalKind::Conflict,
                message,
            }))
        };
        if self.is_closed() && changes {
            self.note_refusal(what);
            return refusal(format!(
                "plugin `{}` is not running: the host refuses its {what}",
                self.identity.id
            ));
        }
        match self.services()?.server() {
            Some(jobs) => Ok(call(jobs.as_ref(), &self.identity.id)),
            None => refusal("this host runs without a server: no printer, files or slicing".into()),
        }
    }
}

/// Whether a file manager call changes anything (refused once the plugin stopped).
fn changes_files(call: &FileCall) -> bool {
    !matches!(
        call,
        FileCall::List { .. }
            | FileCall::FileExists { .. }
            | FileCall::FolderExists { .. }
            | FileCall::GetMetadata { .. }
            | FileCall::PathOnDisk { .. }
            | FileCall::Stat { .. }
    )
}

/// Whether a printer call changes anything (refused once the plugin stopped).
fn changes_printer(call: &PrinterCall) -> bool {
    !matches!(
        call,
        PrinterCall::State
            | PrinterCall::CurrentData
            | PrinterCall::CurrentJob
            | PrinterCall::CurrentTemperatures
            | PrinterCall::TemperatureHistory { .. }
            | PrinterCall::CurrentConnection
            | PrinterCall::TerminalLines
            | PrinterCall::Profiles
            | PrinterCall::CurrentProfile
    )
}

/// Whether a service changes anything (refused once the plugin stopped).
/// The printer, file and slicing services decide per call.
fn changes_something(service: u32) -> bool {
    !matches!(
        service,
        Printer::ID
            | Connectivity::ID
            | Files::ID
            | Slicing::ID
            | PluginInfos::ID
            | Implementations::ID
            | FindUser::ID
            | GetIdentity::ID
            | EnsureDataFolder::ID
            | SettingsGet::ID
            | SettingsHas::ID
            | SettingsGlobalGet::ID
            | SettingsLoad::ID
            | SettingsDiff::ID
    )
}

/// The name of a service, for messages.
fn service_name(service: u32) -> &'static str {
    match service {
        FireEvent::ID => "events",
        SendPluginMessage::ID => "plugin messages",
        CallHelper::ID => "helper calls",
        CallHook::ID => "hook calls",
        ReportSlicingProgress::ID => "slicing progress reports",
        _ => "settings writes",
    }
}

fn reply<M: Method>(
    args: &[u8],
    f: impl FnOnce(M::Args) -> Result<M::Output, ServiceError>,
) -> CallOutcome {
    let result = M::ArgsCodec::decode(args)
        .map_err(ServiceError::Wire)
        .and_then(f)
        .and_then(|out| M::OutputCodec::encode(&out).map_err(ServiceError::Wire));
    match result {
        Ok(bytes) => CallOutcome::Ok(bytes.into()),
        Err(e) => CallOutcome::Error(e.to_string().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plinth_abi::json;

    fn context(minor: u32) -> (tempfile::TempDir, PluginContext) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::config::ConfigStore::open(&dir.path().join("config.yaml")).unwrap();
        let settings = Arc::new(PluginSettings::new(store, "p"));
        settings.set_defaults(json!({"known": 1}), None);
        let identity = Identity {
            id: "p".into(),
            name: "P".into(),
            version: "1".into(),
            base_folder: String::new(),
            data_folder: String::new(),
        };
        let services: Weak<dyn HostServices> = Weak::<NoServices>::new();
        let context = PluginContext::new(identity, services, settings).built_for_abi(minor);
        (dir, context)
    }

    struct NoServices;

    impl HostServices for NoServices {
        fn fire_event(&self, _: &str, _: &RawValue) {}
        fn call_helper(&self, p: &str, _: &str, _: Value) -> Result<Value, HelperError> {
            Err(HelperError::NoPlugin(crate::plugins::error::NoPlugin(
                p.to_owned(),
            )))
        }
        fn call_hook(&self, _: &str, _: Value) -> Vec<HookReply> {
            Vec::new()
        }
        fn send_plugin_message(&self, _: &str, _: Value) {}
        fn report_slicing_progress(&self, p: &str, job: u64, _: f64) -> Result<(), ProgressError> {
            Err(ProgressError::NoJob {
                plugin: p.to_owned(),
                job,
            })
        }
        fn plugin_infos(&self, _: Option<&str>) -> Vec<plinth_abi::PluginSummary> {
            Vec::new()
        }
        fn implementations(&self, _: &[plinth_abi::Mixin]) -> Vec<String> {
            Vec::new()
        }
        fn find_user(&self, _: &str) -> Option<plinth_abi::UserSummary> {
            None
        }
        fn server(&self) -> Option<Arc<dyn ServerServices>> {
            None
        }
        fn plugin_lost(&self, _: &str, _: u64, _: crate::plugins::transport::Fault) {}
    }

    fn set(context: &PluginContext, key: &str, value: Value) {
        let args = serde_json::to_vec(&(vec![key.to_owned()], value)).unwrap();
        assert!(matches!(
            context.serve(SettingsSet::ID, &args),
            CallOutcome::Ok(_)
        ));
    }

    #[test]
    fn plugins_built_before_abi_1_2_keep_storing_paths_outside_their_defaults() {
        let (_d, old) = context(1);
        set(&old, "outside", json!("kept"));
        assert_eq!(
            old.settings.get(&["outside".to_owned()]),
            Some(json!("kept"))
        );
        // A default is still not stored.
        set(&old, "known", json!(1));
        assert_eq!(old.settings.stored(), json!({"outside": "kept"}));
        let (_d, new) = context(2);
        set(&new, "outside", json!("dropped"));
        assert_eq!(new.settings.get(&["outside".to_owned()]), None);
    }
}
