//! An isolated plugin as the rest of the host sees it: a [`Library`] whose
//! objects live in processes of their own, each reached through a
//! [`Transport`] that sends the ABI's calls over the process's channel.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use plinth_abi::vtable::CallOutcome;
use serde::{Deserialize, Serialize};

use super::child::{Connection, Limits};
use super::frame::{batch, control};
use crate::plugins::metadata::Refusal;
use crate::plugins::object::CallError;
use crate::plugins::services::{HostServices, PluginContext};
use crate::plugins::transport::{Fault, Library, Transport};

/// How long a plugin being dropped may take before its process is ended anyway.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// Why the runner refused a library, as it sends it.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoadRefusal {
    /// Not something this host can run (else: a damaged plugin).
    pub incompatible: bool,
    /// Why.
    pub message: String,
}

/// A plugin library run in processes of its own.
pub struct Isolated {
    id: String,
    path: PathBuf,
    limits: Limits,
    services: Weak<dyn HostServices>,
    /// A process that loaded the library and has no object yet (the one
    /// `load` started), taken by the next `instantiate`.
    parked: Mutex<Option<Arc<Connection>>>,
    /// The process of the current object, for embedded files.
    current: Mutex<Weak<Connection>>,
    /// Embedded files fetched so far (each is asked for once).
    files: Mutex<HashMap<String, Option<Arc<[u8]>>>>,
}

impl Isolated {
    /// Starts a process for the library at `path` and has it load and
    /// check the library; the refusal when it cannot (a process that dies
    /// while loading is a failure naming how). With `park`, the process
    /// waits for the plugin object; without, it ends (a check only: the
    /// next object gets a process of its own).
    pub fn load(
        id: &str,
        path: &Path,
        limits: Limits,
        services: Weak<dyn HostServices>,
        park: bool,
    ) -> Result<Arc<dyn Library>, Refusal> {
        let library = Self {
            id: id.to_owned(),
            path: path.to_owned(),
            limits,
            services,
            parked: Mutex::new(None),
            current: Mutex::new(Weak::new()),
            files: Mutex::default(),
        };
        let connection = library.start()?;
        if park {
            *library.parked.lock().unwrap() = Some(connection);
        } else {
            connection.end(Duration::ZERO);
        }
        Ok(Arc::new(library))
    }

    /// A new process with the library loaded.
    fn start(&self) -> Result<Arc<Connection>, Refusal> {
        let connection =
            Connection::spawn(&self.id, &self.path, self.limits, self.services.clone())
                .map_err(|e| Refusal::Failed(e.to_string()))?;
        let path = self.path.to_string_lossy();
        match connection.call(control::LOAD, path.as_bytes()) {
            Ok(CallOutcome::Ok(_)) => Ok(connection),
            Ok(CallOutcome::Error(e)) => {
                connection.end(Duration::ZERO);
                Err(match serde_json::from_str::<LoadRefusal>(e.as_str()) {
                    Ok(r) if r.incompatible => Refusal::Incompatible(r.message),
                    Ok(r) => Refusal::Failed(r.message),
                    Err(_) => Refusal::Failed(e.into()),
                })
            }
            Ok(other) => {
                connection.end(Duration::ZERO);
                Err(Refusal::Failed(format!(
                    "the plugin's process answered loading with {other:?}"
                )))
            }
            Err(fault) => Err(Refusal::Failed(format!("its process ended: {fault}"))),
        }
    }
}

impl Library for Isolated {
    fn instantiate(&self, context: &Arc<PluginContext>) -> Result<Box<dyn Transport>, CallError> {
        let parked = self.parked.lock().unwrap().take();
        let connection = match parked.filter(|c| !c.is_closed()) {
            Some(c) => c,
            None => self.start().map_err(|r| CallError::Failed(r.to_string()))?,
        };
        let _ = connection.context.set(context.clone());
        *self.current.lock().unwrap() = Arc::downgrade(&connection);
        let remote = Remote(connection);
        match remote.0.call(control::INSTANTIATE, b"") {
            Ok(CallOutcome::Ok(_)) => Ok(Box::new(remote)),
            Ok(CallOutcome::Error(e) | CallOutcome::Panic(e)) => Err(CallError::Failed(e.into())),
            Ok(CallOutcome::Unsupported) => Err(CallError::Unsupported),
            Err(fault) => Err(CallError::Crashed(Box::new(fault))),
        }
    }

    fn embedded_file(&self, path: &str) -> Option<Cow<'static, [u8]>> {
        if let Some(known) = self.files.lock().unwrap().get(path) {
            return known.as_ref().map(|b| Cow::Owned(b.to_vec()));
        }
        let connection = self.current.lock().unwrap().upgrade()?;
        let file: Option<Arc<[u8]>> = match connection.call(control::EMBEDDED_FILE, path.as_bytes())
        {
            Ok(CallOutcome::Ok(bytes)) => Some(bytes.into_vec().into()),
            Ok(CallOutcome::Unsupported) => None,
            // Not known: asked again next time.
            _ => return None,
        };
        self.files
            .lock()
            .unwrap()
            .insert(path.to_owned(), file.clone());
        file.map(|b| Cow::Owned(b.to_vec()))
    }

    fn isolated(&self) -> bool {
        true
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        if let Some(parked) = self.parked.lock().unwrap().take() {
            parked.end(Duration::ZERO);
        }
    }
}

/// A plugin object in its own process.
struct Remote(Arc<Connection>);

impl Transport for Remote {
    fn call(&self, method: u32, args: &[u8]) -> Result<CallOutcome, Box<Fault>> {
        self.0.call(method, args).map_err(Box::new)
    }

    fn origin(&self) -> Option<u64> {
        Some(self.0.serial)
    }

    fn end_calls_by(&self, deadline: std::time::Instant) {
        self.0.end_calls_by(deadline);
    }

    fn call_batch(
        &self,
        method: u32,
        args: &[&[u8]],
    ) -> Option<Result<Vec<CallOutcome>, Box<Fault>>> {
        let body = batch::encode_calls(method, args);
        Some(
            self.0
                .call(control::BATCH, &body)
                .and_then(|outcome| match outcome {
                    CallOutcome::Ok(bytes) => {
                        batch::decode_outcomes(&bytes).ok_or_else(|| Fault::gone(None))
                    }
                    // A runner that cannot batch: each call reports what it got.
                    other => {
                        let text = format!("{other:?}");
                        Ok(args
                            .iter()
                            .map(|_| CallOutcome::Error(text.clone().into()))
                            .collect())
                    }
                })
                .map_err(Box::new),
        )
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // The object is dropped in its process, then the process ends:
        // nothing of the plugin keeps running.
        self.0.going();
        let connection = self.0.clone();
        let dropped = std::thread::Builder::new()
            .name("plugin-drop".into())
            .spawn(move || connection.call(control::DROP, b""));
        // At most the grace, and never past the host's shutdown deadline.
        let mut deadline = std::time::Instant::now() + DROP_GRACE;
        if let Some(shutdown) = self.0.calls_deadline() {
            deadline = deadline.min(shutdown);
        }
        // Without a thread to wait on, the process just ends.
        while dropped.as_ref().is_ok_and(|d| !d.is_finished())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.end(Duration::from_millis(200));
    }
}
