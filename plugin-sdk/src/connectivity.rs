//! The connectivity checker, as a plugin reaches it: OctoPrint's
//! `self._connectivity_checker`.

use serde_json::Value;

use crate::error::ServiceError;
use crate::host::Host;
use crate::methods::host as services;
use plinth_abi::ConnectivityCall;

/// Whether the host is online, from [`Host::connectivity_checker`].
///
/// The host checks every `server.onlineCheck.interval` seconds when
/// `server.onlineCheck.enabled` is set (off by default: then the host
/// counts as online and nothing is sent). A change fires the
/// `ConnectivityChanged` event ([`crate::events::CONNECTIVITY_CHANGED`]).
///
/// | OctoPrint (`self._connectivity_checker.…`) | Plinth |
/// |---|---|
/// | `online` | [`online`](Self::online) |
/// | `check_immediately()` | [`check_immediately`](Self::check_immediately) |
/// | `as_dict()` | [`as_dict`](Self::as_dict) |
/// | `enabled`, `host`, `port`, `name`, `interval` | [`as_dict`](Self::as_dict)'s `enabled`, `connection_check`, `resolution_check`; the settings `server.onlineCheck.*` |
#[derive(Clone)]
pub struct ConnectivityChecker {
    host: Host,
}

impl ConnectivityChecker {
    pub(crate) fn new(host: Host) -> Self {
        Self { host }
    }

    /// `as_dict()`: `{"online", "enabled", "connection_ok",
    /// "connection_check", "resolution_ok", "resolution_check"}`.
    pub fn as_dict(&self) -> Result<Value, ServiceError> {
        self.host
            .service::<services::Connectivity>(&ConnectivityCall::Status)
    }

    /// `online`: what the last check found (`true` when the check is off).
    pub fn online(&self) -> Result<bool, ServiceError> {
        Ok(self.as_dict()?["online"].as_bool().unwrap_or(true))
    }

    /// `check_immediately()`: checks now and answers whether the host is
    /// online (takes a few seconds when it is not).
    pub fn check_immediately(&self) -> Result<bool, ServiceError> {
        let found = self
            .host
            .service::<services::Connectivity>(&ConnectivityCall::CheckImmediately)?;
        Ok(found["online"].as_bool().unwrap_or(true))
    }
}
