use std::io::IsTerminal;

use clap::error::ErrorKind;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = match plinth::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", one_line(&e.to_string()));
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

/// Clap's message on one line: what is wrong with everything it names (the
/// missing argument, a tip), then the usage; `--help` has the rest.
fn one_line(text: &str) -> String {
    let mut said = Vec::new();
    let mut usage = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage: ") {
            usage = Some(u);
        } else if !line.starts_with("For more information") {
            said.push(line);
        }
    }
    let mut out = said.join(" ");
    if out.is_empty() {
        out.push_str("error: invalid usage");
    }
    match usage {
        Some(usage) => out.push_str(&format!(" (usage: {usage}; see --help)")),
        None => out.push_str(" (see plinth --help)"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_usage_error_is_one_line_naming_what_is_missing() {
        let clap = "error: the following required arguments were not provided:\n  <ID>\n\nUsage: plinth plugins enable <ID>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(clap),
            "error: the following required arguments were not provided: <ID> (usage: plinth plugins enable <ID>; see --help)"
        );
        assert_eq!(one_line(""), "error: invalid usage (see plinth --help)");
    }
}
