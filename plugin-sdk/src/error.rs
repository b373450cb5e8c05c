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

/// Why a call of a host service (the printer, the file manager, the
/// slicing manager) did nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceError {
    /// The service refused: the request does not fit the current state,
    /// names something that does not exist, or is out of range. The same
    /// refusal the REST API answers with a 4xx; [`crate::Refusal::kind`]
    /// says which.
    Refused(crate::Refusal),
    /// The host could not be asked (too old, shutting down, …).
    Host(crate::HostError),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Refused(refusal) => f.write_str(&refusal.message),
            ServiceError::Host(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<ServiceError> for PluginError {
    fn from(e: ServiceError) -> Self {
        PluginError::new(e.to_string())
    }
}

/// The result type of fallible plugin callbacks.
pub type PluginResult<T> = Result<T, PluginError>;
