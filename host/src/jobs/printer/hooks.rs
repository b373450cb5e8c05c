//! The printer's calls into the hooks plugins register
//! ([`plinth_abi::hooks`]): who handles each is read once and read again
//! only when the plugins change, so a line through hooks nobody handles
//! costs nothing.
//!
//! A handler that fails is logged under its plugin's name and treated as if
//! it answered "unchanged"; a handler that keeps failing is logged at error
//! level once, then at debug level until it answers again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use plinth_abi::hooks::{self, AtCommandHookArgs, GcodePhase};
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};
use serde::Serialize;

use super::command::{apply_answer, Command};
use super::replies::Reading;
use crate::plugins::manager::PluginManager;
use crate::plugins::object::{CallError, PluginObject};

/// Every hook the printer calls, as an index into [`HookSet`]'s handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrinterHook {
    Queuing,
    Queued,
    Sending,
    Sent,
    Received,
    AtQueuing,
    AtSending,
    Temperatures,
    FirmwareInfo,
    Capabilities,
    Action,
}

impl PrinterHook {
    const ALL: [PrinterHook; 11] = [
        PrinterHook::Queuing,
        PrinterHook::Queued,
        PrinterHook::Sending,
        PrinterHook::Sent,
        PrinterHook::Received,
        PrinterHook::AtQueuing,
        PrinterHook::AtSending,
        PrinterHook::Temperatures,
        PrinterHook::FirmwareInfo,
        PrinterHook::Capabilities,
        PrinterHook::Action,
    ];

    /// Its name, as plugins register it.
    pub const fn name(self) -> &'static str {
        match self {
            PrinterHook::Queuing => hooks::GCODE_QUEUING,
            PrinterHook::Queued => hooks::GCODE_QUEUED,
            PrinterHook::Sending => hooks::GCODE_SENDING,
            PrinterHook::Sent => hooks::GCODE_SENT,
            PrinterHook::Received => hooks::GCODE_RECEIVED,
            PrinterHook::AtQueuing => hooks::ATCOMMAND_QUEUING,
            PrinterHook::AtSending => hooks::ATCOMMAND_SENDING,
            PrinterHook::Temperatures => hooks::TEMPERATURES_RECEIVED,
            PrinterHook::FirmwareInfo => hooks::FIRMWARE_INFO,
            PrinterHook::Capabilities => hooks::FIRMWARE_CAPABILITIES,
            PrinterHook::Action => hooks::ACTION,
        }
    }

    /// The hook of a G-code phase.
    pub const fn of_phase(phase: GcodePhase) -> Self {
        match phase {
            GcodePhase::Queuing => PrinterHook::Queuing,
            GcodePhase::Queued => PrinterHook::Queued,
            GcodePhase::Sending => PrinterHook::Sending,
            GcodePhase::Sent => PrinterHook::Sent,
        }
    }
}

type Handlers = Arc<[(String, Arc<PluginObject>)]>;

/// The handlers of the printer's hooks, as of one generation of plugins.
pub struct HookSet {
    manager: PluginManager,
    generation: Option<u64>,
    handlers: [Handlers; PrinterHook::ALL.len()],
    broken: HashSet<(String, &'static str)>,
    /// Plugins built before `CallGcodeHook` (SDK 2.0 and older).
    json_only: HashSet<String>,
    /// Buffers kept between lines.
    scratch_encoded: Vec<Option<Vec<u8>>>,
    scratch_answers: Vec<Value>,
}

impl HookSet {
    /// Handlers read at the first call.
    pub fn new(manager: PluginManager) -> Self {
        Self {
            manager,
            generation: None,
            handlers: std::array::from_fn(|_| Handlers::from([])),
            broken: HashSet::new(),
            json_only: HashSet::new(),
            scratch_encoded: Vec::new(),
            scratch_answers: Vec::new(),
        }
    }

    /// Reads the handlers again if plugins changed since they were read.
    pub fn refresh(&mut self) {
        let generation = self.manager.generation();
        if self.generation == Some(generation) {
            return;
        }
        self.generation = Some(generation);
        self.handlers =
            PrinterHook::ALL.map(|hook| Handlers::from(self.manager.hook_handlers(hook.name())));
    }

    fn of(&self, hook: PrinterHook) -> Handlers {
        self.handlers[hook as usize].clone()
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
                if !self.broken.is_empty() {
                    self.broken.remove(&(id.to_owned(), hook));
                }
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
        let handlers = self.of(PrinterHook::of_phase(phase));
        if handlers.is_empty() {
            return commands;
        }
        let mut commands = commands;
        // Each command's arguments, encoded once for every handler that leaves it as it is.
        let mut encoded = std::mem::take(&mut self.scratch_encoded);
        encoded.clear();
        encoded.resize(commands.len(), None);
        let mut answers = std::mem::take(&mut self.scratch_answers);
        for (id, object) in handlers.iter() {
            answers.clear();
            for (command, bytes) in commands.iter().zip(encoded.iter_mut()) {
                let bytes = bytes.get_or_insert_with(|| command.encode(phase));
                match self.call_gcode(id, object, phase, command, bytes) {
                    Some(answer) => answers.push(answer),
                    None => break,
                }
            }
            // A failed handler changes nothing, for any of the commands (as OctoPrint).
            if answers.len() < commands.len() || !phase.rewrites() {
                continue;
            }
            if answers.iter().all(Value::is_null) {
                continue;
            }
            let added = [
                "source:rewrite".to_owned(),
                format!("phase:{}", phase.name()),
                format!("plugin:{id}"),
            ];
            let mut next = Vec::with_capacity(commands.len());
            let mut next_encoded = Vec::with_capacity(commands.len());
            for ((command, bytes), answer) in commands
                .into_iter()
                .zip(encoded.drain(..))
                .zip(answers.drain(..))
            {
                if answer.is_null() {
                    next.push(command);
                    next_encoded.push(bytes);
                    continue;
                }
                match apply_answer(&command, &answer, phase, &added) {
                    Ok(out) => {
                        next_encoded.extend(out.iter().map(|_| None));
                        next.extend(out);
                    }
                    Err(e) => {
                        self.failed(phase.hook(), id, &e);
                        next.push(command);
                        next_encoded.push(bytes);
                    }
                }
            }
            commands = next;
            encoded.extend(next_encoded);
            if commands.is_empty() {
                break;
            }
        }
        answers.clear();
        self.scratch_answers = answers;
        self.scratch_encoded = encoded;
        commands
    }

    /// Whether any plugin handles `hook`.
    pub fn handles(&self, hook: PrinterHook) -> bool {
        !self.handlers[hook as usize].is_empty()
    }

    /// One G-code handler: without JSON where the plugin can
    /// (`CallGcodeHook`, SDK 2.1), else through `CallHook`.
    fn call_gcode(
        &mut self,
        id: &str,
        object: &PluginObject,
        phase: GcodePhase,
        command: &Command,
        encoded: &[u8],
    ) -> Option<Value> {
        if self.json_only.is_empty() || !self.json_only.contains(id) {
            match object.call_encoded_active::<m::CallGcodeHook>(encoded) {
                Ok(answer) => {
                    if !self.broken.is_empty() {
                        self.broken.remove(&(id.to_owned(), phase.hook()));
                    }
                    return Some(answer);
                }
                Err(CallError::Unsupported) => {
                    self.json_only.insert(id.to_owned());
                }
                Err(e) => {
                    self.failed(phase.hook(), id, &e);
                    return None;
                }
            }
        }
        self.call(phase.hook(), id, object, &command.hook_args(phase))
    }

    /// Tells the `@command` handlers of `phase`.
    pub fn atcommand(&mut self, phase: GcodePhase, command: &Command) {
        let hook = match phase {
            GcodePhase::Queuing => PrinterHook::AtQueuing,
            GcodePhase::Sending => PrinterHook::AtSending,
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
            self.call(hook.name(), id, object, &args);
        }
    }

    /// A line from the printer through the `received` handlers; `None` when
    /// one dropped it.
    pub fn received(&mut self, line: String) -> Option<String> {
        let mut line = line;
        for (id, object) in self.of(PrinterHook::Received).iter() {
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
        for (id, object) in self.of(PrinterHook::Temperatures).iter() {
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
        for (id, object) in self.of(PrinterHook::FirmwareInfo).iter() {
            self.call(hooks::FIRMWARE_INFO, id, object, &args);
        }
    }

    /// Tells the `firmware.capabilities` handlers.
    pub fn capabilities(&mut self, capabilities: &BTreeMap<String, bool>) {
        let args = json!({"firmware_capabilities": capabilities});
        for (id, object) in self.of(PrinterHook::Capabilities).iter() {
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
        for (id, object) in self.of(PrinterHook::Action).iter() {
            self.call(hooks::ACTION, id, object, &args);
        }
    }
}
