//! `plinth plugins run <id> [command] [args…]`: a plugin's own command-line
//! commands (OctoPrint's `octoprint.cli.commands`, run there as
//! `octoprint plugins <id>:<command>`). Only that plugin is enabled for it
//! (initialised, settings ready, `on_plugin_enabled`), without a server;
//! it is shut down afterwards.

use plinth_abi::hooks::CLI_COMMANDS;
use plinth_abi::methods::plugin as m;
use plinth_abi::{json, Value};

use crate::plugins::manager::{PluginManager, State};

/// Why a plugin's command could not run.
#[derive(Debug, thiserror::Error)]
pub enum PluginCommandError {
    /// The plugin is not enabled (disabled, failed, …).
    #[error("plugin `{id}` is {state}: only an enabled plugin's commands run{}", .why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default())]
    NotEnabled {
        id: String,
        state: String,
        why: Option<String>,
    },
    /// The plugin handles no `octoprint.cli.commands`.
    #[error("plugin `{0}` has no command-line commands")]
    NoCommands(String),
    /// The plugin has no such command.
    #[error("plugin `{id}` has no command `{command}` (its commands: {known})")]
    Unknown {
        id: String,
        command: String,
        known: String,
    },
    /// No plugin has this identifier.
    #[error(transparent)]
    NoPlugin(#[from] crate::plugins::manager::NoPlugin),
    /// The plugin's handler failed.
    #[error("plugin `{id}`: its octoprint.cli.commands handler failed: {error}")]
    Failed {
        id: String,
        error: crate::plugins::object::CallError,
    },
    /// The plugin listed its commands as something else than a list.
    #[error("plugin `{id}`: the command list is not a list: {answer}")]
    NotAList { id: String, answer: Value },
}

/// One command a plugin offers.
struct Offered {
    name: String,
    help: String,
}

fn offered(id: &str, answer: &Value) -> Result<Vec<Offered>, PluginCommandError> {
    let list = answer
        .as_array()
        .ok_or_else(|| PluginCommandError::NotAList {
            id: id.to_owned(),
            answer: answer.clone(),
        })?;
    Ok(list
        .iter()
        .filter_map(|c| {
            Some(Offered {
                name: c["name"].as_str().filter(|n| !n.is_empty())?.to_owned(),
                help: c["help"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect())
}

/// Lists plugin `id`'s commands (`command` `None`) or runs one; returns
/// what to print and the exit code.
pub fn run(
    manager: &PluginManager,
    id: &str,
    command: Option<&str>,
    args: &[String],
) -> Result<(String, i32), PluginCommandError> {
    manager.load_all();
    let info = manager
        .plugin(id)
        .ok_or_else(|| crate::plugins::manager::NoPlugin(id.to_owned()))?;
    if info.state != State::Enabled || !manager.enable(id) {
        let info = manager.plugin(id).unwrap_or(info);
        return Err(PluginCommandError::NotEnabled {
            id: id.to_owned(),
            state: info.state.as_str().to_owned(),
            why: info.error,
        });
    }
    let object = manager
        .hook_handlers(CLI_COMMANDS)
        .into_iter()
        .find(|(plugin, _)| plugin == id)
        .map(|(_, object)| object)
        .ok_or_else(|| PluginCommandError::NoCommands(id.to_owned()))?;
    let ask = |args: Value| {
        object
            .call::<m::CallHook>(&(CLI_COMMANDS.to_owned(), args))
            .map_err(|error| PluginCommandError::Failed {
                id: id.to_owned(),
                error,
            })
    };
    let commands = offered(id, &ask(json!({"list": true}))?)?;
    let Some(command) = command else {
        let width = commands.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let lines: String = commands
            .iter()
            .map(|c| format!("{:width$}  {}\n", c.name, c.help))
            .collect();
        return Ok((lines, 0));
    };
    if !commands.iter().any(|c| c.name == command) {
        let known: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        return Err(PluginCommandError::Unknown {
            id: id.to_owned(),
            command: command.to_owned(),
            known: known.join(", "),
        });
    }
    let answer = ask(json!({"command": command, "args": args}))?;
    Ok(match answer {
        Value::String(output) => (output, 0),
        Value::Null => (String::new(), 0),
        other => (
            other["output"].as_str().unwrap_or_default().to_owned(),
            other["exit_code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(0),
        ),
    })
}
