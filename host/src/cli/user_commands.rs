//! `plinth user …`: add, list and remove users, and make API keys.

use super::{CliError, UserCommand};
use crate::users::Users;

/// Runs one `plinth user` command.
pub(super) fn run(users: &Users, cmd: UserCommand) -> Result<(), CliError> {
    match cmd {
        UserCommand::Add {
            name,
            admin,
            permissions,
        } => {
            let password = read_password(&name)?;
            users.add(&name, &password, admin, permissions)?;
            println!(
                "added {} {name}",
                if admin { "administrator" } else { "user" }
            );
        }
        UserCommand::List => {
            for (name, user) in users.all()? {
                let role = match (user.admin, user.active) {
                    (true, true) => "admin",
                    (false, true) => "user",
                    (true, false) => "admin (deactivated)",
                    (false, false) => "user (deactivated)",
                };
                let perms = if user.admin && user.permissions.is_empty() {
                    "all".to_owned()
                } else {
                    user.permissions
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let key = if user.api_key_sha256.is_some() {
                    "api key"
                } else {
                    "no api key"
                };
                println!("{name}\t{role}\t{key}\t{perms}");
            }
        }
        UserCommand::Remove { name } => {
            users.remove(&name)?;
            println!("removed {name}");
        }
        UserCommand::Apikey { name } => println!("{}", users.new_api_key(&name)?),
    }
    Ok(())
}

/// The password from standard input: asked for without echo on a terminal,
/// else the first line.
fn read_password(name: &str) -> Result<String, CliError> {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))
            .map_err(CliError::Password)?;
        let again = rpassword::prompt_password("again: ").map_err(CliError::Password)?;
        if first != again {
            return Err(CliError::PasswordsDiffer);
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CliError::Password)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    Ok(password)
}
