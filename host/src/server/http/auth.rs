//! Who makes a request: `X-Api-Key` names a user, else the session cookie;
//! no credentials is anonymous. Requests authenticated by the cookie that
//! change state must also send the session's CSRF token as `X-CSRF-Token`
//! (double submit: the page reads it from the `plinth_csrf` cookie).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;

use super::sessions::{cookie, SESSION_COOKIE};
use super::{ApiError, App};
use crate::config::restrict;
use crate::users::{KeyLookup, User};

/// The caller of a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The user's name and record; `None` for anonymous callers.
    pub user: Option<(String, User)>,
    /// The CSRF token, when the caller was authenticated by the session cookie.
    pub csrf: Option<String>,
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

    /// Refuses a state-changing request authenticated by the session cookie
    /// without the session's CSRF token (API keys need none).
    pub fn check_csrf(&self, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.csrf else {
            return Ok(());
        };
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent.is_some_and(|sent| constant_time_eq(sent.as_bytes(), expected.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the CSRF token is missing or wrong (send X-CSRF-Token)",
            ))
        }
    }

    /// OctoPrint's rule for a plugin's CSRF-protected routes: an API key
    /// needs no token, a session its own, and an anonymous caller the
    /// double-submit token: the `plinth_csrf` cookie (the page sets one for
    /// every visitor) sent back as `X-CSRF-Token`. 400 otherwise.
    pub fn check_csrf_anonymous_too(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<(), ApiError> {
        if self.user.is_some() || self.csrf.is_some() {
            return self.check_csrf(headers);
        }
        let cookie = headers
            .get(axum::http::header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| super::sessions::cookie(c, super::sessions::CSRF_COOKIE));
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        match (cookie, sent) {
            (Some(cookie), Some(sent))
                if !cookie.is_empty() && constant_time_eq(cookie.as_bytes(), sent.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the CSRF token is missing or wrong (send the plinth_csrf cookie's value as X-CSRF-Token)",
            )),
        }
    }

    /// The caller as the restricted-settings filter sees it.
    pub fn for_settings(&self) -> restrict::Viewer {
        match &self.user {
            None => restrict::Viewer::anonymous(),
            Some((_, u)) => restrict::Viewer {
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
        identify(app, &parts.headers).await
    }
}

/// Who sends a request with these headers.
pub async fn identify(app: &Arc<App>, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    if let Some(key) = headers.get("x-api-key") {
        let key = key
            .to_str()
            .map_err(|_| ApiError::new(StatusCode::FORBIDDEN, "invalid API key"))?
            .to_owned();
        // Unless the users file changed, the key is looked up here, on the
        // runtime's thread: one `stat` and a map lookup.
        let cached = app.manager.contributions_cached();
        let user = match (app.users.by_api_key_unchanged(&key), cached) {
            (KeyLookup::Found(name, mut user), Some(contributions)) => {
                let granted = contributions.plugin_permissions_of(&user);
                user.permissions.extend(granted);
                Some((name, user))
            }
            (KeyLookup::Unknown, _) => None,
            _ => {
                let app = app.clone();
                tokio::task::spawn_blocking(move || {
                    app.users
                        .by_api_key(&key)
                        .map(|(name, user)| (name, with_plugin_permissions(&app, user)))
                })
                .await
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "cannot check the API key",
                    )
                })?
            }
        };
        return match user {
            Some(user) => Ok(Caller {
                user: Some(user),
                csrf: None,
            }),
            None => Err(ApiError::new(StatusCode::FORBIDDEN, "invalid API key")),
        };
    }
    let session = headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| cookie(c, SESSION_COOKIE))
        .and_then(|id| app.sessions.get(id));
    let Some(session) = session else {
        return Ok(Caller::default());
    };
    let app = app.clone();
    let name = session.user.clone();
    let key = session.key_sha256.clone();
    let identity = session.identity.clone();
    let user = tokio::task::spawn_blocking(move || {
        let user = app
            .users
            .get(&name)
            .ok()
            .flatten()
            .filter(|u| u.active && u.identity == identity)?;
        // A session an API key opened ends with the key.
        if key.is_some_and(|k| !user.holds_key(&k)) {
            return None;
        }
        Some(with_plugin_permissions(&app, user))
    })
    .await
    .ok()
    .flatten();
    // A user removed (even if one of that name was added again) or
    // deactivated since logging in is anonymous again.
    Ok(match user {
        Some(user) => Caller {
            user: Some((session.user, user)),
            csrf: Some(session.csrf),
        },
        None => Caller::default(),
    })
}

/// `user` with the plugin permissions they have (granted, or given to
/// every user by the plugin's default groups: `octoprint.access.permissions`).
pub fn with_plugin_permissions(app: &App, mut user: User) -> User {
    let granted = app.manager.contributions().plugin_permissions_of(&user);
    user.permissions.extend(granted);
    user
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
