//! The plugin's handle to the host.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use abi_stable::std_types::{RSlice, RStr};
use serde_json::Value;

use crate::abi::{level, CallOutcome, HostHandle};
use crate::methods::host as services;
use crate::mixins::Preprocessors;
use crate::settings::Settings;
use crate::types::{HookReply, Identity, PluginSummary, UserSummary};
use crate::wire::{Codec, Method};
use plinth_abi::Mixin;

/// Why a call to the host failed.
#[derive(Debug, Clone, PartialEq)]
pub enum HostError {
    /// The running host does not offer this service: it is older than the SDK
    /// the plugin was built with.
    Unsupported {
        /// The service's name.
        service: &'static str,
        /// The ABI minor that introduced it.
        since_abi_minor: u32,
    },
    /// The host (or the plugin it forwarded the call to) reported an error.
    Failed(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Unsupported { service, since_abi_minor } => write!(
                f,
                "the host does not offer `{service}` (it needs Plinth ABI 1.{since_abi_minor} or newer)"
            ),
            HostError::Failed(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for HostError {}

struct Raw(HostHandle);

// SAFETY: the host's context is reference counted and its services are
// thread-safe by contract (HostVTable is implemented with `Send + Sync` state).
unsafe impl Send for Raw {}
// SAFETY: as above.
unsafe impl Sync for Raw {}

impl Drop for Raw {
    fn drop(&mut self) {
        (self.0.vtable.release)(self.0.ctx);
    }
}

impl Raw {
    fn call<M: Method>(&self, args: &M::Args) -> Result<M::Output, HostError> {
        let bytes = M::ArgsCodec::encode(args).map_err(HostError::Failed)?;
        self.call_encoded::<M>(&bytes)
    }

    /// Calls `M` with arguments already encoded as its codec would.
    fn call_encoded<M: Method>(&self, bytes: &[u8]) -> Result<M::Output, HostError> {
        match (self.0.vtable.call)(self.0.ctx, M::ID, RSlice::from_slice(bytes)) {
            CallOutcome::Ok(out) => M::OutputCodec::decode(&out).map_err(HostError::Failed),
            CallOutcome::Unsupported => Err(HostError::Unsupported {
                service: M::NAME,
                since_abi_minor: M::SINCE,
            }),
            CallOutcome::Error(e) | CallOutcome::Panic(e) => Err(HostError::Failed(e.into())),
        }
    }
}

/// The plugin's handle to the host, given to [`Plugin::new`](crate::Plugin::new).
///
/// Cheap to clone; clones may be moved to other threads and outlive the call
/// that received them.
#[derive(Clone)]
pub struct Host {
    raw: Arc<Raw>,
    /// Asked of the host at the first use (most plugins never ask it while
    /// they are enabled, and decoding it in each of a thousand libraries
    /// was half of enabling them).
    identity: Arc<OnceLock<Identity>>,
    preprocessors: Arc<OnceLock<Preprocessors>>,
    timers: Arc<crate::timers::Timers>,
}

impl Host {
    /// # Safety
    /// `handle` must come from the host's `instantiate` call: its context is
    /// alive for this call, and this takes its own reference to it.
    pub(crate) unsafe fn from_raw(handle: HostHandle) -> Self {
        (handle.vtable.retain)(handle.ctx);
        Self {
            raw: Arc::new(Raw(handle)),
            identity: Arc::default(),
            preprocessors: Arc::default(),
            timers: Arc::default(),
        }
    }

    /// Who the plugin is, asked of the host once.
    fn identity(&self) -> &Identity {
        self.identity.get_or_init(|| {
            self.raw
                .call::<services::GetIdentity>(&())
                .unwrap_or_else(|e| {
                    // Only a host that is gone fails to answer it.
                    self.logger()
                        .error(format_args!("cannot learn who this plugin is: {e}"));
                    Identity {
                        id: String::new(),
                        name: String::new(),
                        version: String::new(),
                        base_folder: String::new(),
                        data_folder: String::new(),
                    }
                })
        })
    }

    /// The plugin's identifier (folder name, file stem or manifest id).
    pub fn identifier(&self) -> &str {
        &self.identity().id
    }

    /// The plugin's human-readable name.
    pub fn name(&self) -> &str {
        &self.identity().name
    }

    /// The plugin's version.
    pub fn version(&self) -> &str {
        &self.identity().version
    }

    /// The folder the plugin was found in: its own folder, or the folder of its library.
    pub fn base_folder(&self) -> &Path {
        Path::new(&self.identity().base_folder)
    }

    /// The plugin's data folder, `<basedir>/data/<id>`, created if it does not exist yet.
    pub fn data_folder(&self) -> Result<PathBuf, HostError> {
        self.raw
            .call::<services::EnsureDataFolder>(&())
            .map(PathBuf::from)
    }

    /// The plugin's settings (`plugins.<id>` of the host's `config.yaml`),
    /// with its defaults and preprocessors applied.
    pub fn settings(&self) -> Settings {
        Settings::new(self.clone())
    }

    /// The plugin's timers.
    pub(crate) fn timers(&self) -> &crate::timers::Timers {
        &self.timers
    }

    /// Stops the plugin's timers (it is disabled or shut down), waiting a
    /// little for a function that runs.
    pub(crate) fn stop_timers(&self) {
        self.timers.stop_all(std::time::Duration::from_secs(5));
    }

    /// The getter and setter preprocessors, filled once the plugin object exists.
    pub(crate) fn preprocessors(&self) -> &OnceLock<Preprocessors> {
        &self.preprocessors
    }

    /// The printer (OctoPrint's `self._printer`): its state, temperatures,
    /// commands and job control. See [`Printer`](crate::Printer).
    pub fn printer(&self) -> crate::Printer {
        crate::Printer::new(self.clone())
    }

    /// The uploads folder's file manager and analysis queue (OctoPrint's
    /// `self._file_manager` and `self._analysis_queue`).
    pub fn file_manager(&self) -> crate::FileManager {
        crate::FileManager::new(self.clone())
    }

    /// Whether the host is online (OctoPrint's `self._connectivity_checker`).
    pub fn connectivity_checker(&self) -> crate::ConnectivityChecker {
        crate::ConnectivityChecker::new(self.clone())
    }

    /// The slicing manager (OctoPrint's `self._slicing_manager`).
    pub fn slicing_manager(&self) -> crate::SlicingManager {
        crate::SlicingManager::new(self.clone())
    }

    /// A logger that writes into the host's log under the plugin's identifier.
    pub fn logger(&self) -> Logger {
        Logger {
            raw: self.raw.clone(),
        }
    }

    /// Fires the event `plugin_<id>_<name>` with `payload` on the host's event bus.
    pub fn fire_event(&self, name: &str, payload: Value) -> Result<(), HostError> {
        // Encoded as `(String, Value)` is, without copying either.
        let args =
            serde_json::to_vec(&(name, &payload)).map_err(|e| HostError::Failed(e.to_string()))?;
        self.raw.call_encoded::<services::FireEvent>(&args)
    }

    /// Sends `data` to every client connected to the host's push channel
    /// (`/ws`), as `{"plugin": {"plugin": "<id>", "data": data}}` (OctoPrint's
    /// `send_plugin_message`).
    pub fn send_plugin_message(&self, data: Value) -> Result<(), HostError> {
        self.raw.call::<services::SendPluginMessage>(&data)
    }

    /// `_plugin_manager.get_plugin_info(id)`: what the host knows of
    /// plugin `id` (`None` when there is no such plugin).
    pub fn get_plugin_info(&self, id: &str) -> Result<Option<PluginSummary>, HostError> {
        let mut found = self
            .raw
            .call::<services::PluginInfos>(&Some(id.to_owned()))?;
        Ok(found.pop())
    }

    /// `_plugin_manager.plugins`: every plugin the host knows, whatever its state.
    pub fn plugins(&self) -> Result<Vec<PluginSummary>, HostError> {
        self.raw.call::<services::PluginInfos>(&None)
    }

    /// `_plugin_manager.get_implementations(*types)`: the identifiers of the
    /// running plugins that implement every one of `mixins`, in OctoPrint's
    /// order without a sorting context (bundled plugins first, then by
    /// identifier). A plugin counts once it is enabled (called during
    /// enabling, the plugins enabled so far). No mixins give none, as in
    /// OctoPrint. The plugins themselves are reached through
    /// [`call_helper`](Self::call_helper) and [`call_hook`](Self::call_hook),
    /// not as objects.
    pub fn get_implementations(&self, mixins: &[Mixin]) -> Result<Vec<String>, HostError> {
        if mixins.is_empty() {
            return Ok(Vec::new());
        }
        self.raw.call::<services::Implementations>(&mixins.to_vec())
    }

    /// `_user_manager.find_user(name)`: the user of this name, with the
    /// permissions they have (read only; no password, no API key).
    pub fn find_user(&self, name: &str) -> Result<Option<UserSummary>, HostError> {
        self.raw.call::<services::FindUser>(&name.to_owned())
    }

    /// Calls the helper `helper` of the enabled plugin `plugin`.
    pub fn call_helper(&self, plugin: &str, helper: &str, args: Value) -> Result<Value, HostError> {
        self.raw
            .call::<services::CallHelper>(&(plugin.to_owned(), helper.to_owned(), args))
    }

    /// Calls every handler of the hook `hook`, in order, and returns each plugin's answer.
    pub fn call_hook(&self, hook: &str, args: Value) -> Result<Vec<HookReply>, HostError> {
        self.raw
            .call::<services::CallHook>(&(hook.to_owned(), args))
    }

    pub(crate) fn call<M: Method>(&self, args: &M::Args) -> Result<M::Output, HostError> {
        self.raw.call::<M>(args)
    }

    /// Calls a host service that answers JSON or a refusal.
    pub(crate) fn service<M>(&self, args: &M::Args) -> Result<Value, crate::ServiceError>
    where
        M: Method<Output = Result<Value, crate::Refusal>>,
    {
        self.raw
            .call::<M>(args)
            .map_err(crate::ServiceError::Host)?
            .map_err(crate::ServiceError::Refused)
    }

    /// Reports a slicing job's progress (see [`SlicingJob::report_progress`](crate::SlicingJob::report_progress)).
    pub(crate) fn report_slicing_progress(&self, job: u64, progress: f64) -> Result<(), HostError> {
        self.raw
            .call::<services::ReportSlicingProgress>(&(job, progress))
    }
}

/// Writes into the host's log under the plugin's identifier.
#[derive(Clone)]
pub struct Logger {
    raw: Arc<Raw>,
}

impl Logger {
    fn log(&self, level: u8, message: &dyn fmt::Display) {
        let text = message.to_string();
        (self.raw.0.vtable.log)(self.raw.0.ctx, level, RStr::from_str(&text));
    }

    /// Logs at error level.
    pub fn error(&self, message: impl fmt::Display) {
        self.log(level::ERROR, &message)
    }

    /// Logs at warning level.
    pub fn warn(&self, message: impl fmt::Display) {
        self.log(level::WARN, &message)
    }

    /// Logs at info level.
    pub fn info(&self, message: impl fmt::Display) {
        self.log(level::INFO, &message)
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl fmt::Display) {
        self.log(level::DEBUG, &message)
    }

    /// Logs at trace level.
    pub fn trace(&self, message: impl fmt::Display) {
        self.log(level::TRACE, &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::HostVTable;
    use crate::wire::Codec;
    use abi_stable::std_types::RString;
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A host that answers `GetIdentity` (or fails it) and keeps log lines.
    struct Fake {
        answer: Option<Identity>,
        asked: AtomicUsize,
        logged: Mutex<Vec<String>>,
    }

    fn fake(ctx: *const c_void) -> &'static Fake {
        // SAFETY: every handle of these tests points at a leaked `Fake`.
        unsafe { &*(ctx as *const Fake) }
    }

    extern "C" fn keep(_: *const c_void) {}

    extern "C" fn log(ctx: *const c_void, _: u8, message: RStr<'_>) {
        fake(ctx).logged.lock().unwrap().push(message.to_string());
    }

    extern "C" fn call(ctx: *const c_void, service: u32, _: RSlice<'_, u8>) -> CallOutcome {
        let host = fake(ctx);
        assert_eq!(service, services::GetIdentity::ID);
        host.asked.fetch_add(1, Ordering::SeqCst);
        match &host.answer {
            Some(identity) => CallOutcome::Ok(
                <services::GetIdentity as Method>::OutputCodec::encode(identity)
                    .unwrap()
                    .into(),
            ),
            None => CallOutcome::Error(RString::from("the host is gone")),
        }
    }

    static VTABLE: HostVTable = HostVTable {
        retain: keep,
        release: keep,
        log,
        call,
    };

    fn host(answer: Option<Identity>) -> (Host, &'static Fake) {
        let fake: &'static Fake = Box::leak(Box::new(Fake {
            answer,
            asked: AtomicUsize::new(0),
            logged: Mutex::default(),
        }));
        let handle = HostHandle {
            ctx: fake as *const Fake as *const c_void,
            vtable: &VTABLE,
        };
        // SAFETY: the context is leaked, so alive for every call.
        (unsafe { Host::from_raw(handle) }, fake)
    }

    #[test]
    fn the_identity_is_asked_once_at_first_use() {
        let identity = Identity {
            id: "probe".into(),
            name: "Probe".into(),
            version: "1.0".into(),
            base_folder: "/plugins/probe".into(),
            data_folder: "/data/probe".into(),
        };
        let (host, fake) = host(Some(identity));
        assert_eq!(fake.asked.load(Ordering::SeqCst), 0, "not while made");
        assert_eq!(host.identifier(), "probe");
        assert_eq!(host.clone().name(), "Probe");
        assert_eq!(host.version(), "1.0");
        assert_eq!(host.base_folder(), Path::new("/plugins/probe"));
        assert_eq!(fake.asked.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_identity_the_host_cannot_give_is_empty_and_logged() {
        let (host, fake) = host(None);
        assert_eq!(host.identifier(), "");
        assert_eq!(host.name(), "");
        assert_eq!(
            fake.asked.load(Ordering::SeqCst),
            1,
            "asked once, not again"
        );
        let logged = fake.logged.lock().unwrap().clone();
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(
            logged[0].contains("cannot learn who this plugin is")
                && logged[0].contains("the host is gone"),
            "{logged:?}"
        );
    }
}
