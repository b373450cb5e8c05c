use std::io::IsTerminal;

use clap::error::ErrorKind;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = match plinth::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            // One line: what is wrong; `--help` has the rest.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("error: invalid usage");
            eprintln!("{first} (see plinth --help)");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_env("PLINTH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    std::process::exit(plinth::cli::run(cli));
}
