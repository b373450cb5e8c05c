//! What can be wrong with the config, as values. Every error names the file
//! or the key, and what is wrong; the messages are what users read in the
//! log, from `plinth config` and in API answers.

use std::fmt;
use std::path::{Path, PathBuf};

/// A value in the wrong place or of the wrong type: the keys leading to it
/// (empty for the whole document) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The keys from the top of the document, e.g. `["plugins", "_disabled"]`.
    pub keys: Vec<String>,
    /// What is wrong, said of the value: "must be a list of plugin identifiers".
    pub what: String,
}

impl Problem {
    /// The problem `what` at `keys`.
    pub fn new(keys: Vec<String>, what: impl Into<String>) -> Self {
        Self {
            keys,
            what: what.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys.is_empty() {
            write!(f, "the top level {}", self.what)
        } else {
            write!(f, "{} {}", self.keys.join("."), self.what)
        }
    }
}

/// Where in the file: a line (1-based), and the column when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, counted from 1.
    pub line: usize,
    /// The column, counted from 1, when the YAML parser gives one.
    pub column: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}, column {column}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// Why a text is not a config Plinth can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// It is not YAML: the parser's message, and whether a tab indents the
    /// line it stopped at (YAML does not allow that).
    #[error("{message}{}", if *.tabs { " (YAML does not allow tabs for indentation; use spaces)" } else { "" })]
    Yaml { message: String, tabs: bool },
    /// It is YAML, but a part Plinth reads is wrong.
    #[error("{0}")]
    Value(Problem),
}

/// A change to the config: setting a key, or removing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Setting a key.
    Set,
    /// Removing a key.
    Remove,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Set => "set",
            Change::Remove => "remove",
        })
    }
}

/// The step of a save that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveStep {
    /// Creating the folder of the file.
    CreateFolder,
    /// Opening `config.yaml.lock`.
    OpenLock,
    /// Taking the lock.
    Lock,
    /// Writing the file (atomically).
    Write,
}

impl fmt::Display for SaveStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaveStep::CreateFolder => "cannot create its folder",
            SaveStep::OpenLock => "cannot open the lock file",
            SaveStep::Lock => "cannot lock",
            SaveStep::Write => "cannot write",
        })
    }
}

/// A problem with the config file or a change to it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A plugin asked to write or remove the whole config (an empty path).
    #[error("cannot {0} the whole config: give the path of a setting")]
    EmptyPath(Change),
    /// The file exists but cannot be read.
    #[error("{}: cannot read: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file (or the text about to be saved) is not a config Plinth can
    /// use; `backup` is the last good config, when there is one.
    #[error("{}: {}{what}{}", .path.display(), at(.position), backup_note(.backup))]
    Invalid {
        path: PathBuf,
        position: Option<Position>,
        what: Invalid,
        backup: Option<PathBuf>,
    },
    /// A key on the way to the one changed holds a value, not a mapping.
    #[error("cannot {change} {}: {} is not a mapping; set it as a whole", .key.join("."), .blocker.join("."))]
    NotAMapping {
        change: Change,
        key: Vec<String>,
        blocker: Vec<String>,
    },
    /// Setting `key` would make a part Plinth reads wrong.
    #[error("cannot set {}: {problem}", .key.join("."))]
    WrongType { key: Vec<String>, problem: Problem },
    /// Setting `key` would give a host key a value it does not accept.
    #[error("cannot set {}: {error}", .key.join("."))]
    HostKey {
        key: Vec<String>,
        error: Box<super::host_settings::KeyError>,
    },
    /// Changing a list would make a part Plinth reads wrong.
    #[error("{}: {}", .problem.keys.join("."), .problem.what)]
    ListChange { problem: Problem },
    /// A step of saving failed; nothing was written.
    #[error("{}: {step}: {error}", .path.display())]
    Save {
        path: PathBuf,
        step: SaveStep,
        error: std::io::Error,
    },
    /// The config cannot be written as YAML.
    #[error("{}: cannot serialise: {error}", .path.display())]
    Serialise {
        path: PathBuf,
        error: yaml_serde::Error,
    },
    /// Another program changed the file since it was read, and its new
    /// content cannot be read; nothing was written over it.
    #[error("{0} (it was changed by another program; not saving over it)")]
    ChangedElsewhere(Box<ConfigError>),
    /// The text about to be saved would not load again; nothing was written.
    #[error("refusing to save: {0}")]
    WouldNotLoad(Box<ConfigError>),
    /// A host entry under `plugins` (`_disabled`, `_blocklist`,
    /// `_sortingOrder`) holds what it does not accept, counting the plugins'
    /// overlays.
    #[error("{}: {problem}", .path.display())]
    Entry { path: PathBuf, problem: Problem },
}

fn at(position: &Option<Position>) -> String {
    position.map(|p| format!("{p}: ")).unwrap_or_default()
}

fn backup_note(backup: &Option<PathBuf>) -> String {
    backup
        .as_deref()
        .map(|b: &Path| format!(" (the last good config is in {})", b.display()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_the_line_and_the_key() {
        let invalid = ConfigError::Invalid {
            path: "/c/config.yaml".into(),
            position: Some(Position {
                line: 3,
                column: Some(2),
            }),
            what: Invalid::Yaml {
                message: "found a tab".into(),
                tabs: true,
            },
            backup: Some("/c/config.yaml.bak".into()),
        };
        assert_eq!(
            invalid.to_string(),
            "/c/config.yaml: line 3, column 2: found a tab (YAML does not allow tabs for \
             indentation; use spaces) (the last good config is in /c/config.yaml.bak)"
        );
        let top = ConfigError::Invalid {
            path: "c.yaml".into(),
            position: Some(Position {
                line: 1,
                column: None,
            }),
            what: Invalid::Value(Problem::new(vec![], "must be a mapping of keys to values")),
            backup: None,
        };
        assert_eq!(
            top.to_string(),
            "c.yaml: line 1: the top level must be a mapping of keys to values"
        );
        let blocked = ConfigError::NotAMapping {
            change: Change::Remove,
            key: vec!["webcam".into(), "urls".into(), "0".into()],
            blocker: vec!["webcam".into(), "urls".into()],
        };
        assert_eq!(
            blocked.to_string(),
            "cannot remove webcam.urls.0: webcam.urls is not a mapping; set it as a whole"
        );
    }
}
