//! OctoPrint's `PrinterCallback` for plugins: every `current` message the
//! printer pushes (at most every half second while lines or temperatures
//! come in, and at each change of state) is handed to the plugins that
//! handle [`PRINTER_CURRENT_DATA`], [`PRINTER_ADD_LOG`] or
//! [`PRINTER_ADD_TEMPERATURE`], on a thread of its own: a slow plugin
//! never holds the printer up. At most [`BACKLOG`] messages wait; past
//! that the newest is dropped (and counted in the log) until the plugins
//! catch up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;

use plinth_abi::hooks::{PRINTER_ADD_LOG, PRINTER_ADD_TEMPERATURE, PRINTER_CURRENT_DATA};
use plinth_abi::{json, Value};

use crate::plugins::manager::PluginManager;

/// How many `current` messages may wait for slow plugins.
pub const BACKLOG: usize = 64;

/// Hands the printer's `current` messages to the plugins' callbacks.
pub struct Callbacks {
    tx: Mutex<SyncSender<Value>>,
    dropped: AtomicU64,
}

impl Callbacks {
    /// Starts the delivery thread; it ends when the printer is dropped.
    pub fn new(manager: PluginManager) -> Self {
        let (tx, rx) = sync_channel::<Value>(BACKLOG);
        std::thread::Builder::new()
            .name("plinth-printer-callbacks".into())
            .spawn(move || {
                for current in rx {
                    deliver(&manager, &current);
                }
            })
            .expect("cannot start the printer callback thread");
        Self {
            tx: Mutex::new(tx),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues `current` for the callbacks, when any plugin has one.
    pub fn send(&self, manager: &PluginManager, current: &Value) {
        let wanted = [
            PRINTER_CURRENT_DATA,
            PRINTER_ADD_LOG,
            PRINTER_ADD_TEMPERATURE,
        ]
        .iter()
        .any(|hook| !manager.hook_handlers(hook).is_empty());
        if !wanted {
            return;
        }
        match self.tx.lock().unwrap().try_send(current.clone()) {
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        "printer callbacks fall behind: {dropped} current messages dropped so far"
                    );
                }
            }
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Calls every handler of the three callbacks with what `current` holds.
fn deliver(manager: &PluginManager, current: &Value) {
    let logs = &current["logs"];
    let temps = &current["temps"];
    let mut data = current.clone();
    if let Some(data) = data.as_object_mut() {
        data.remove("logs");
        data.remove("temps");
    }
    let calls = [
        (PRINTER_CURRENT_DATA, json!({ "data": data }), true),
        (
            PRINTER_ADD_LOG,
            json!({ "lines": logs }),
            logs.as_array().is_some_and(|l| !l.is_empty()),
        ),
        (
            PRINTER_ADD_TEMPERATURE,
            json!({ "samples": temps }),
            temps.as_array().is_some_and(|t| !t.is_empty()),
        ),
    ];
    for (hook, args, due) in calls {
        if due {
            // Failures are logged under the plugin's name by the call itself.
            manager.call_hook(hook, &args);
        }
    }
}
