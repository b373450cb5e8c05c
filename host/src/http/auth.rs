//! Who makes a request: `X-Api-Key` names a user; no credentials is anonymous.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::{ApiError, App};
use crate::restrict;
use crate::users::User;

/// The caller of a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The user's name and record; `None` for anonymous callers.
    pub user: Option<(String, User)>,
}

impl Caller {
    /// The user's name.
    pub fn name(&self) -> Option<&str> {
        self.user.as_ref().map(|(n, _)| n.as_str())
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|(_, u)| u.admin)
    }

    /// Whether the caller has `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.user.as_ref().is_some_and(|(_, u)| u.has(permission))
    }

    /// The caller as the restricted-settings filter sees it.
    pub fn for_settings(&self) -> restrict::Caller {
        match &self.user {
            None => restrict::Caller::anonymous(),
            Some((_, u)) => restrict::Caller {
                logged_in: true,
                permissions: u.permissions.clone(),
                admin: u.admin,
            },
        }
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = parts.headers.get("x-api-key") else {
            return Ok(Caller::default());
        };
        let key = key
            .to_str()
            .map_err(|_| ApiError::new(StatusCode::FORBIDDEN, "invalid API key"))?
            .to_owned();
        let app = app.clone();
        let user = tokio::task::spawn_blocking(move || app.users.by_api_key(&key))
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot check the API key",
                )
            })?;
        match user {
            Some(user) => Ok(Caller { user: Some(user) }),
            None => Err(ApiError::new(StatusCode::FORBIDDEN, "invalid API key")),
        }
    }
}
