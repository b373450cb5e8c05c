//! The `plinth` command line.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

mod plugin_commands;
mod scaffold;
mod show;
mod user_commands;
use plinth_abi::methods::plugin as m;
use plinth_abi::Value;
use show::{details, table};

use crate::config::plugin_settings::PluginSettings;
use crate::config::values::{self, BadPath};
use crate::config::{ConfigError, ConfigStore};
use crate::paths::{Paths, PathsError};
use crate::plugins::install::{self, InstallError};
use crate::plugins::manager::{ManagerError, NoPlugin, Options, PluginManager};
use crate::plugins::object::PluginObject;
use crate::server::{self, ServeError, ServeOptions};
use crate::users::{UserError, Users};

/// Plinth: a plugin host for native plugins with OctoPrint's plugin semantics.
#[derive(Debug, Parser)]
#[command(name = "plinth", version, about)]
pub struct Cli {
    /// The base folder (config.yaml, plugins/, manifests/, data/). Default: the per-user config folder.
    #[arg(long, global = true, env = "PLINTH_BASEDIR", value_name = "DIR")]
    pub basedir: Option<PathBuf>,
    /// The folder of bundled plugins. Default: beside the plinth executable.
    #[arg(long, global = true, value_name = "DIR")]
    pub bundled_dir: Option<PathBuf>,
    /// Safe mode: only bundled plugins load.
    #[arg(long, global = true)]
    pub safe_mode: bool,
    /// Do not start in safe mode after a start-up that did not finish.
    #[arg(long, global = true)]
    pub ignore_incomplete_startup: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, inspect, enable, disable, install and register plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Read, change and check config.yaml.
    #[command(subcommand, after_help = crate::config::host_settings::help(
        "Host settings Plinth reads (checked whenever they are set; a bad value written by hand is reported and its default used):",
        crate::config::host_settings::KEYS,
    ))]
    Config(ConfigCommand),
    /// Add, list and remove users, and make API keys.
    #[command(subcommand)]
    User(UserCommand),
    /// Run the host: start every enabled plugin and run until Ctrl-C or SIGTERM.
    ///
    /// Ctrl-C or SIGTERM stops accepting, lets requests in flight finish (10 s at most),
    /// stops running jobs (5 s at most), runs every on_shutdown (10 s at most) and exits 0,
    /// whatever plugins do; a second signal exits at once (130).
    #[command(after_help = crate::config::host_settings::help(
        "Limits (in config.yaml; plinth config set <key> <value>):",
        crate::config::host_settings::SERVER_LIMITS,
    ))]
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on.
        #[arg(long, default_value_t = 5000)]
        port: u16,
    },
    /// Runs one isolated plugin for the host at the other end of standard
    /// input (started by the host; not for people).
    #[command(name = "__run-plugin", hide = true)]
    RunPlugin {
        library: PathBuf,
        #[arg(long)]
        id: String,
        /// The socket to listen on for the host's lanes.
        #[arg(long)]
        lanes: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every discovered plugin with its state.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One plugin in detail.
    Info {
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a new plugin crate in PATH/<ID> (default: the current folder)
    /// that builds and loads as it is: Cargo.toml with the SDK dependency, a
    /// minimal plugin with a unit test, a README with the build and install
    /// commands.
    New {
        /// The plugin's identifier, also the crate's and the library's name:
        /// lower-case ASCII letters, digits and '_'.
        id: String,
        /// The folder to make it in.
        #[arg(long, value_name = "PATH", default_value = ".")]
        path: PathBuf,
        /// Depend on the SDK at this folder (default: the Plinth checkout
        /// around PATH or the one this plinth was built from, else the
        /// SDK's version).
        #[arg(long, value_name = "DIR")]
        sdk_path: Option<PathBuf>,
    },
    /// Enable a plugin (takes effect at the next start of the host).
    Enable { id: String },
    /// Disable a plugin (takes effect at the next start of the host).
    Disable { id: String },
    /// Copy a plugin library, plugin folder or plugin archive (.zip,
    /// .tar.gz, .tgz, .tar: one plugin folder, or the library at its top)
    /// into BASEDIR/plugins.
    Install {
        path: PathBuf,
        /// Print `{"id", "path"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Choose where a plugin runs: `isolated` (a process of its own) or
    /// `in_process` (takes effect at the next start of the host).
    Mode {
        id: String,
        #[arg(value_parser = ["isolated", "in_process"])]
        mode: String,
    },
    /// Remove a user or manifest plugin (bundled plugins cannot be uninstalled).
    Uninstall { id: String },
    /// Register a plugin library that lives anywhere on disk.
    Register {
        library: PathBuf,
        /// The identifier; default: from the library's file name.
        #[arg(long)]
        id: Option<String>,
    },
    /// Remove a registration.
    Unregister { id: String },
    /// Run a plugin's own command (OctoPrint's `octoprint.cli.commands`);
    /// without a command, list its commands.
    Run {
        id: String,
        command: Option<String>,
        /// The command's arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the value at a dotted path, e.g. `plugins.helloworld.some_setting`.
    /// Plugin paths include the plugin's defaults.
    Get {
        path: String,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Set the value at a dotted path; the value is parsed as YAML (`5`, `true`, `[a, b]`, `{k: v}`).
    /// Plugin paths go through the plugin's setter preprocessors; a value equal to the default is removed.
    Set {
        path: String,
        /// The value, as YAML (negative numbers need no `--`).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Remove the value at a dotted path (a plugin setting reads as its default again).
    Remove { path: String },
    /// Check that config.yaml parses and that every host key Plinth reads holds what it
    /// accepts (the keys, ranges and defaults are listed below).
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input (asked for on a terminal).
    Add {
        name: String,
        /// An administrator: every permission.
        #[arg(long)]
        admin: bool,
        /// Comma-separated permissions; default: the user role's (status, settings_read, webcam, …).
        #[arg(long, value_delimiter = ',')]
        permissions: Option<Vec<String>>,
    },
    /// List the users.
    List,
    /// Remove a user.
    Remove { name: String },
    /// Make a new API key for a user (the old one stops working) and print it.
    Apikey { name: String },
}

/// Why a command failed; `plinth` prints it after `error:` and exits with 1.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Path(#[from] BadPath),
    /// Host keys in the config hold what they do not accept.
    #[error("{}: {}", .file.display(), .problems.join("\n  "))]
    HostKeys {
        file: PathBuf,
        problems: Vec<String>,
    },
    #[error(transparent)]
    NoPlugin(#[from] NoPlugin),
    #[error("no value at {0}")]
    NoValue(String),
    #[error("no value stored at {0}")]
    NothingStored(String),
    #[error("the value {value:?} is not valid YAML: {error}")]
    NotYaml {
        value: String,
        error: yaml_serde::Error,
    },
    #[error("{0}")]
    Print(yaml_serde::Error),
    #[error("cannot read the password: {0}")]
    Password(std::io::Error),
    #[error("the passwords differ")]
    PasswordsDiffer,
    #[error(transparent)]
    PluginCommand(#[from] plugin_commands::PluginCommandError),
    #[error(transparent)]
    Scaffold(#[from] scaffold::ScaffoldError),
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    match execute(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Runs one isolated plugin (the host's runner mode); the exit status.
fn run_plugin(library: &std::path::Path, id: &str, lanes: &std::path::Path) -> i32 {
    #[cfg(unix)]
    return crate::plugins::isolated::runner::run(library, id, lanes);
    #[cfg(not(unix))]
    {
        eprintln!(
            "plinth cannot run {} ({id}, lanes at {}) isolated on this system",
            library.display(),
            lanes.display()
        );
        2
    }
}

fn execute(cli: Cli) -> Result<(), CliError> {
    if let Command::RunPlugin { library, id, lanes } = &cli.command {
        // Before anything else: the runner reads no folder and no config.
        std::process::exit(run_plugin(library, id, lanes));
    }
    let paths = Paths::resolve(cli.basedir, cli.bundled_dir)?;
    let marker = paths.startup_marker();
    let options = if matches!(cli.command, Command::Serve { .. }) {
        Options::for_start(&paths, cli.safe_mode, cli.ignore_incomplete_startup)
    } else {
        Options {
            safe_mode: cli.safe_mode,
            safe_mode_reason: None,
            isolate_all: crate::plugins::placement::ISOLATION_AVAILABLE,
            log_lines: None,
        }
    };
    let manager = || PluginManager::new(paths.clone(), options.clone());
    match cli.command {
        Command::RunPlugin { library, id, lanes } => {
            std::process::exit(run_plugin(&library, &id, &lanes))
        }
        Command::Serve { host, port } => server::run(
            manager()?,
            ServeOptions {
                host,
                port,
                marker: Some(marker),
            },
        )
        .map_err(CliError::from),
        Command::Config(ConfigCommand::Check) => {
            let config = ConfigStore::open(&paths.config_file())?;
            let problems = crate::config::host_settings::problems(&config);
            if !problems.is_empty() {
                return Err(CliError::HostKeys {
                    file: paths.config_file(),
                    problems,
                });
            }
            println!("{}: ok", paths.config_file().display());
            Ok(())
        }
        Command::Config(cmd) => config_command(&manager()?, cmd),
        Command::User(cmd) => user_commands::run(&Users::new(&paths.basedir), cmd),
        Command::Plugins(cmd) => match cmd {
            PluginsCommand::List { json } => {
                let m = manager()?;
                m.load_all();
                let list = m.plugins();
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list).expect("serialises")
                    );
                } else {
                    print!("{}", table(&list));
                }
                Ok(())
            }
            PluginsCommand::Info { id, json } => {
                let m = manager()?;
                m.load_all();
                let info = m.plugin(&id).ok_or(NoPlugin(id))?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&info).expect("serialises")
                    );
                } else {
                    print!("{}", details(&info));
                }
                Ok(())
            }
            PluginsCommand::Mode { id, mode } => {
                let m = manager()?;
                let mode = crate::plugins::placement::Mode::parse(&mode)
                    .expect("clap accepts only the modes");
                m.set_mode(&id, mode)?;
                println!(
                    "{id} runs {} from the next start of the host",
                    match mode {
                        crate::plugins::placement::Mode::Isolated => "isolated",
                        crate::plugins::placement::Mode::InProcess => "in process",
                    }
                );
                Ok(())
            }
            PluginsCommand::Run { id, command, args } => {
                let m = manager()?;
                let outcome = plugin_commands::run(&m, &id, command.as_deref(), &args);
                m.shutdown();
                let (output, code) = outcome?;
                print!("{output}");
                if !output.is_empty() && !output.ends_with('\n') {
                    println!();
                }
                let _ = std::io::Write::flush(&mut std::io::stdout());
                if code != 0 {
                    std::process::exit(code);
                }
                Ok(())
            }
            PluginsCommand::New { id, path, sdk_path } => {
                let made = scaffold::new_plugin(&id, &path, sdk_path.as_deref())?;
                let folder = made.folder;
                println!("made {}", folder.display());
                if !made.with_test_kit {
                    println!(
                        "note:       no Plinth checkout was found, so no plinth-testkit (tests in a real host); see its Cargo.toml"
                    );
                }
                println!(
                    "build it:   cargo build --release --manifest-path {}",
                    folder.join("Cargo.toml").display()
                );
                println!(
                    "install it: plinth plugins install {}",
                    folder
                        .join("target/release")
                        .join(format!("{}{id}.{}", crate::LIB_PREFIX, crate::LIB_EXT))
                        .display()
                );
                Ok(())
            }
            PluginsCommand::Enable { id } => toggle(&manager()?, &id, true),
            PluginsCommand::Disable { id } => toggle(&manager()?, &id, false),
            PluginsCommand::Install { path, json } => {
                let (id, target) = install::install(&paths, &path)?;
                if json {
                    println!("{}", serde_json::json!({"id": id, "path": target}));
                } else {
                    println!(
                        "installed {id} into {}; it loads at the next start of the host",
                        target.display()
                    );
                }
                Ok(())
            }
            PluginsCommand::Uninstall { id } => {
                let m = manager()?;
                m.uninstall(&id)?;
                println!("uninstalled {id}");
                Ok(())
            }
            PluginsCommand::Register { library, id } => {
                let (id, library) = install::register(&paths, &library, id)?;
                println!("registered {id} -> {}", library.display());
                Ok(())
            }
            PluginsCommand::Unregister { id } => {
                let file = install::unregister(&paths, &id)?;
                println!("unregistered {id} ({})", file.display());
                Ok(())
            }
        },
    }
}

/// A plugin's settings as the `config` command reaches them: through its
/// defaults and preprocessors when its code may run, as plain values otherwise.
struct PluginAccess {
    settings: Arc<PluginSettings>,
    object: Option<Arc<PluginObject>>,
}

impl PluginAccess {
    fn open(manager: &PluginManager, id: &str) -> Self {
        match manager.create_alone(id) {
            Ok(object) => {
                let settings = manager
                    .plugin_settings(id)
                    .expect("created plugins have settings");
                Self {
                    settings,
                    object: Some(object),
                }
            }
            Err(e) => {
                eprintln!("note: {e}; its defaults and preprocessors are not applied");
                Self {
                    settings: Arc::new(PluginSettings::new(manager.config().clone(), id)),
                    object: None,
                }
            }
        }
    }

    fn preprocess<M>(&self, path: &[String], value: Value) -> Value
    where
        M: plinth_abi::Method<Args = (Vec<String>, Value), Output = Value>,
    {
        match &self.object {
            Some(object) => object
                .call::<M>(&(path.to_vec(), value.clone()))
                .unwrap_or(value),
            None => value,
        }
    }
}

/// A dotted config path, and the plugin it points into (`plugins.<id>.<rest>`).
struct ConfigPath {
    keys: Vec<String>,
    plugin: Option<(String, Vec<String>)>,
}

impl ConfigPath {
    fn parse(path: &str) -> Result<Self, BadPath> {
        let keys = values::dotted(path)?;
        let plugin = match keys.as_slice() {
            [first, id, rest @ ..] if first == "plugins" && !id.starts_with('_') => {
                Some((id.clone(), rest.to_vec()))
            }
            _ => None,
        };
        Ok(Self { keys, plugin })
    }
}

fn config_command(manager: &PluginManager, cmd: ConfigCommand) -> Result<(), CliError> {
    let store = manager.config();
    match cmd {
        ConfigCommand::Get { path, json } => {
            let ConfigPath { keys, plugin } = ConfigPath::parse(&path)?;
            let value = match plugin {
                Some((id, rest)) => {
                    let access = PluginAccess::open(manager, &id);
                    let value = access.settings.get(&rest);
                    value.map(|v| access.preprocess::<m::ApplyGetterPreprocessor>(&rest, v))
                }
                None => store.effective(&keys),
            };
            let value = value.ok_or(CliError::NoValue(path))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).expect("serialises")
                );
            } else {
                print!(
                    "{}",
                    yaml_serde::to_string(&value).map_err(CliError::Print)?
                );
            }
            Ok(())
        }
        ConfigCommand::Set { path, value } => {
            let ConfigPath { keys, plugin } = ConfigPath::parse(&path)?;
            let value: Value =
                yaml_serde::from_str(&value).map_err(|error| CliError::NotYaml { value, error })?;
            match plugin {
                Some((id, rest)) => {
                    let access = PluginAccess::open(manager, &id);
                    let value = access.preprocess::<m::ApplySetterPreprocessor>(&rest, value);
                    // A value equal to its default is removed (as documented);
                    // a path outside the defaults is stored all the same (an
                    // administrator asked for it: OctoPrint's CLI forces).
                    let known =
                        crate::config::values::get(&access.settings.defaults(), &rest).is_some();
                    access.settings.set(&rest, value, !known)
                }
                None => store.set(keys, value),
            }?;
            Ok(store.save()?)
        }
        ConfigCommand::Remove { path } => {
            let ConfigPath { keys, .. } = ConfigPath::parse(&path)?;
            if store.get(&keys).is_none() {
                return Err(CliError::NothingStored(path));
            }
            store.remove(keys)?;
            Ok(store.save()?)
        }
        ConfigCommand::Check => unreachable!("handled without a plugin manager"),
    }
}

fn toggle(manager: &PluginManager, id: &str, enable: bool) -> Result<(), CliError> {
    let reply = manager.set_enabled(id, enable)?;
    println!(
        "{} {id}; it takes effect at the next start of the host",
        if enable { "enabled" } else { "disabled" }
    );
    let _ = reply;
    Ok(())
}
