//! The host's side of a live plugin object: typed calls through its
//! [`Transport`], behind a gate that closes when the plugin is disabled.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plinth_abi::vtable::CallOutcome;
use plinth_abi::{Codec, Method};

use crate::plugins::services::PluginContext;
use crate::plugins::transport::{Fault, Library, Transport};

/// Why a call into a plugin did not return a value. The messages come from
/// the plugin (or the wire), so they stay text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The plugin does not know the method (built against an older SDK, or the
    /// mixin is not implemented).
    #[error("the plugin does not implement this method")]
    Unsupported,
    /// The plugin reported an error.
    #[error("{0}")]
    Failed(String),
    /// The plugin panicked; the SDK caught it.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The plugin's process ended before it answered (isolated plugins).
    #[error("its process ended: {0}")]
    Crashed(Box<Fault>),
}

/// A plugin object created by the plugin's `instantiate`.
///
/// Lifecycle steps call it with [`call`](Self::call). Everything else (events,
/// hooks, helpers, HTTP) uses [`call_active`](Self::call_active), which only
/// runs while the plugin is active: [`deactivate`](Self::deactivate) closes
/// that gate and waits for the calls already inside, so no plain call reaches
/// a plugin once it was told it is disabled.
pub struct PluginObject {
    transport: Box<dyn Transport>,
    id: Arc<str>,
    active: AtomicBool,
    in_flight: AtomicUsize,
}

impl PluginObject {
    /// Creates the plugin object from `library`, handing it `context`.
    pub fn instantiate(
        library: &dyn Library,
        context: &Arc<PluginContext>,
    ) -> Result<Self, CallError> {
        Ok(Self {
            transport: library.instantiate(context)?,
            id: context.identity.id.as_str().into(),
            active: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Calls still running at `deadline` end its process, when isolated.
    pub fn end_calls_by(&self, deadline: Instant) {
        self.transport.end_calls_by(deadline);
    }

    /// The process it lives in, when isolated.
    pub fn origin(&self) -> Option<u64> {
        self.transport.origin()
    }

    /// Calls method `M` with already encoded arguments (events encode once for all plugins).
    #[inline]
    pub fn call_encoded<M: Method>(&self, args: &[u8]) -> Result<M::Output, CallError> {
        match self
            .transport
            .call(M::ID, args)
            .map_err(CallError::Crashed)?
        {
            CallOutcome::Ok(bytes) => M::OutputCodec::decode(&bytes).map_err(CallError::Failed),
            CallOutcome::Unsupported => Err(CallError::Unsupported),
            CallOutcome::Error(e) => Err(CallError::Failed(e.into())),
            CallOutcome::Panic(e) => Err(CallError::Panicked(e.into())),
        }
    }

    /// Calls method `M`.
    #[inline]
    pub fn call<M: Method>(&self, args: &M::Args) -> Result<M::Output, CallError> {
        let bytes = M::ArgsCodec::encode(args).map_err(CallError::Failed)?;
        self.call_encoded::<M>(&bytes)
    }
}

impl PluginObject {
    /// Lets plain calls in.
    pub fn activate(&self) {
        self.active.store(true, SeqCst);
    }

    /// Whether plain calls get in.
    pub fn is_active(&self) -> bool {
        self.active.load(SeqCst)
    }

    /// Stops letting plain calls in and waits (at most `timeout`) for those inside.
    /// Returns false when some were still running at the deadline.
    pub fn deactivate(&self, timeout: Duration) -> bool {
        self.close();
        self.wait_idle(Instant::now() + timeout)
    }

    /// Stops letting plain calls in (those inside go on).
    pub fn close(&self) {
        self.active.store(false, SeqCst);
    }

    /// Waits until no plain call is inside, at most until `deadline`.
    /// Returns false when some were still running then.
    pub fn wait_idle(&self, deadline: Instant) -> bool {
        while self.in_flight.load(SeqCst) > 0 {
            if Instant::now() >= deadline {
                tracing::warn!(plugin = %self.id, "calls still running; going on without them");
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Calls method `M` if the plugin is active.
    pub fn call_active<M: Method>(&self, args: &M::Args) -> Result<M::Output, CallError> {
        let _pass = self.enter()?;
        self.call::<M>(args)
    }

    /// Like [`call_active`](Self::call_active) with already encoded arguments.
    pub fn call_encoded_active<M: Method>(&self, args: &[u8]) -> Result<M::Output, CallError> {
        let _pass = self.enter()?;
        self.call_encoded::<M>(args)
    }

    /// Calls method `M` once per entry of `args` (already encoded), in
    /// order, if the plugin is active: in one exchange where the transport
    /// allows (an isolated plugin), else one by one.
    pub fn call_batch_active<M: Method>(
        &self,
        args: &[&[u8]],
    ) -> Vec<Result<M::Output, CallError>> {
        let _pass = match self.enter() {
            Ok(pass) => pass,
            Err(e) => return args.iter().map(|_| Err(e.clone())).collect(),
        };
        match self.transport.call_batch(M::ID, args) {
            Some(Ok(outcomes)) => outcomes.into_iter().map(decode::<M>).collect(),
            Some(Err(fault)) => args
                .iter()
                .map(|_| Err(CallError::Crashed(fault.clone())))
                .collect(),
            None => args.iter().map(|a| self.call_encoded::<M>(a)).collect(),
        }
    }

    fn enter(&self) -> Result<Pass<'_>, CallError> {
        self.in_flight.fetch_add(1, SeqCst);
        let pass = Pass(&self.in_flight);
        if self.active.load(SeqCst) {
            Ok(pass)
        } else {
            Err(CallError::Failed(format!(
                "plugin `{}` is not enabled",
                self.id
            )))
        }
    }
}

/// The result of a call of `M` from its outcome.
#[inline]
fn decode<M: Method>(outcome: CallOutcome) -> Result<M::Output, CallError> {
    match outcome {
        CallOutcome::Ok(bytes) => M::OutputCodec::decode(&bytes).map_err(CallError::Failed),
        CallOutcome::Unsupported => Err(CallError::Unsupported),
        CallOutcome::Error(e) => Err(CallError::Failed(e.into())),
        CallOutcome::Panic(e) => Err(CallError::Panicked(e.into())),
    }
}

/// One plain call inside the gate.
struct Pass<'a>(&'a AtomicUsize);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Drops a plugin object once nothing else holds it (an event being delivered
/// may still, for a moment), so its `Drop` runs here; gives up after a while.
pub(crate) fn drop_when_unique(object: Arc<PluginObject>) {
    drop_when_unique_by(object, Instant::now() + crate::plugins::manager::CALL_DRAIN)
}

/// [`drop_when_unique`], giving up at `deadline`.
pub(crate) fn drop_when_unique_by(object: Arc<PluginObject>, deadline: Instant) {
    while Arc::strong_count(&object) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(object);
}
