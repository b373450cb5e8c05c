//! The printer's calls into the hooks plugins register
//! ([`plinth_abi::hooks`]): who handles each is read once and read again
//! only when the plugins change, so a line through hooks nobody handles
//! costs nothing.
//!
//! A handler that fails is logged under its plugin's name and treated as if
//! it answered "unchanged"; a handler that keeps failing is logged at error
//! level once, then at debug level until it answers again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use plinth_abi::hooks::{self, AtCommandHookArgs, GcodePhase};
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};
use serde::Serialize;

use super::command::{apply_answer, Command};
use super::replies::Reading;
use crate::plugins::manager::PluginManager;
use crate::plugins::object::PluginObject;

/// Every hook the printer calls.
const PRINTER_HOOKS: &[&str] = &[
    hooks::GCODE_QUEUING,
    hooks::GCODE_QUEUED,
    hooks::GCODE_SENDING,
    hooks::GCODE_SENT,
    hooks::GCODE_RECEIVED,
    hooks::ATCOMMAND_QUEUING,
    hooks::ATCOMMAND_SENDING,
    hooks::TEMPERATURES_RECEIVED,
    hooks::FIRMWARE_INFO,
    hooks::FIRMWARE_CAPABILITIES,
    hooks::ACTION,
];

type Handlers = Arc<[(String, Arc<PluginObject>)]>;

/// The handlers of the printer's hooks, as of one generation of plugins.
pub struct HookSet {
    manager: PluginManager,
    generation: Option<u64>,
    handlers: HashMap<&'static str, Handlers>,
    broken: HashSet<(String, &'static str)>,
}

impl HookSet {
    /// Handlers read at the first call.
    pub fn new(manager: PluginManager) -> Self {
        Self {
            manager,
            generation: None,
            handlers: HashMap::new(),
            broken: HashSet::new(),
        }
    }

    /// Reads the handlers again if plugins changed since they were read.
    pub fn refresh(&mut self) {
        let generation = self.manager.generation();
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        self.handlers = PRINTER_HOOKS
            .iter()
            .map(|&hook| (hook, Handlers::from(self.manager.hook_handlers(hook))))
            .filter(|(_, h)| !h.is_empty())
            .collect();
    }

    fn of(&self, hook: &'static str) -> Handlers {
        self.handlers
            .get(hook)
            .cloned()
            .unwrap_or_else(|| Arc::new([]))
    }

    /// Calls one handler; `None` when it failed (logged).
    fn call(
        &mut self,
        hook: &'static str,
        id: &str,
        object: &PluginObject,
        args: &impl Serialize,
    ) -> Option<Value> {
        let encoded = serde_json::to_vec(&(hook, args)).expect("hook arguments always encode");
        match object.call_encoded_active::<m::CallHook>(&encoded) {
            Ok(answer) => {
                self.broken.remove(&(id.to_owned(), hook));
                Some(answer)
            }
            Err(e) => {
                self.failed(hook, id, &e);
                None
            }
        }
    }

    fn failed(&mut self, hook: &'static str, id: &str, error: &dyn std::fmt::Display) {
        if self.broken.insert((id.to_owned(), hook)) {
            tracing::error!(plugin = %id, "hook {hook} failed: {error} (the data goes on unchanged)");
        } else {
            tracing::debug!(plugin = %id, "hook {hook} failed again: {error}");
        }
    }

    /// Passes `commands` through the handlers of a G-code phase, in order;
    /// what comes out goes on (nothing: dropped). Handlers of `queued` and
    /// `sent` are told; their answers are ignored.
    pub fn gcode(&mut self, phase: GcodePhase, commands: Vec<Command>) -> Vec<Command> {
        let handlers = self.of(phase.hook());
        let mut commands = commands;
        for (id, object) in handlers.iter() {
            let added = [
                "source:rewrite".to_owned(),
                format!("phase:{}", phase.name()),
                format!("plugin:{id}"),
            ];
            let mut next = Vec::with_capacity(commands.len());
            let mut failed = false;
            for command in &commands {
                let Some(answer) = self.call(phase.hook(), id, object, &command.hook_args(phase))
                else {
                    failed = true;
                    break;
                };
                if !phase.rewrites() {
                    next.push(command.clone());
                    continue;
                }
                match apply_answer(command, &answer, phase, &added) {
                    Ok(out) => next.extend(out),
                    Err(e) => {
                        self.failed(phase.hook(), id, &e);
                        next.push(command.clone());
                    }
                }
            }
            // A failed handler changes nothing, for any of the commands (as OctoPrint).
            if failed {
                continue;
            }
            if next.is_empty() {
                return next;
            }
            commands = next;
        }
        commands
    }

    /// Tells the `@command` handlers of `phase`.
    pub fn atcommand(&mut self, phase: GcodePhase, command: &Command) {
        let hook = match phase {
            GcodePhase::Queuing => hooks::ATCOMMAND_QUEUING,
            GcodePhase::Sending => hooks::ATCOMMAND_SENDING,
            _ => return,
        };
        let text = command.cmd.trim_start().trim_start_matches('@');
        let (name, parameters) = text.split_once(' ').unwrap_or((text, ""));
        let args = AtCommandHookArgs {
            phase,
            command: name.to_owned(),
            parameters: parameters.trim().to_owned(),
            tags: command.tags.iter().cloned().collect(),
        };
        for (id, object) in self.of(hook).iter() {
            self.call(hook, id, object, &args);
        }
    }

    /// A line from the printer through the `received` handlers; `None` when
    /// one dropped it.
    pub fn received(&mut self, line: String) -> Option<String> {
        let mut line = line;
        for (id, object) in self.of(hooks::GCODE_RECEIVED).iter() {
            match self.call(hooks::GCODE_RECEIVED, id, object, &json!({"line": line})) {
                None => {}
                Some(Value::String(rewritten)) => line = rewritten,
                Some(Value::Null) => return None,
                Some(other) => self.failed(
                    hooks::GCODE_RECEIVED,
                    id,
                    &format!("answered {other}, not a line (a string) or null"),
                ),
            }
        }
        Some(line)
    }

    /// Temperatures through the `temperatures.received` handlers; `None`
    /// when one dropped the report.
    pub fn temperatures(
        &mut self,
        parsed: BTreeMap<String, Reading>,
    ) -> Option<BTreeMap<String, Reading>> {
        let mut parsed = parsed;
        for (id, object) in self.of(hooks::TEMPERATURES_RECEIVED).iter() {
            let args = json!({"parsed_temperatures": parsed});
            match self.call(hooks::TEMPERATURES_RECEIVED, id, object, &args) {
                None => {}
                Some(Value::Null) => return None,
                Some(answer) => match serde_json::from_value::<BTreeMap<String, Reading>>(answer) {
                    Ok(t) if t.is_empty() => return None,
                    Ok(t) => parsed = t,
                    Err(e) => self.failed(
                        hooks::TEMPERATURES_RECEIVED,
                        id,
                        &format!("answered temperatures in the wrong shape: {e}"),
                    ),
                },
            }
        }
        Some(parsed)
    }

    /// Tells the `firmware.info` handlers.
    pub fn firmware_info(&mut self, name: &str, data: &Value) {
        let args = json!({"firmware_name": name, "firmware_data": data});
        for (id, object) in self.of(hooks::FIRMWARE_INFO).iter() {
            self.call(hooks::FIRMWARE_INFO, id, object, &args);
        }
    }

    /// Tells the `firmware.capabilities` handlers.
    pub fn capabilities(&mut self, capabilities: &BTreeMap<String, bool>) {
        let args = json!({"firmware_capabilities": capabilities});
        for (id, object) in self.of(hooks::FIRMWARE_CAPABILITIES).iter() {
            self.call(hooks::FIRMWARE_CAPABILITIES, id, object, &args);
        }
    }

    /// Tells the `action` handlers.
    pub fn action(&mut self, line: &str, name: &str, params: &str) {
        let action = if params.is_empty() {
            name.to_owned()
        } else {
            format!("{name} {params}")
        };
        let args = json!({"line": line, "action": action, "name": name, "params": params});
        for (id, object) in self.of(hooks::ACTION).iter() {
            self.call(hooks::ACTION, id, object, &args);
        }
    }
}
