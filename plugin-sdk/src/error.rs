//! The errors a plugin's callbacks return.

use serde::{Deserialize, Serialize};

/// An error a plugin callback reports; the host logs it with the plugin's identifier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginError {
    /// What went wrong.
    pub message: String,
}

impl PluginError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        Self { message }
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        Self::new(e.to_string())
    }
}

impl From<crate::HostError> for PluginError {
    fn from(e: crate::HostError) -> Self {
        Self::new(e.to_string())
    }
}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// The result type of fallible plugin callbacks.
pub type PluginResult<T> = Result<T, PluginError>;
