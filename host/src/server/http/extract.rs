//! What handlers take from a request, checked before they run: the caller
//! with a permission ([`Permitted`]), a state change's CSRF token
//! ([`Changing`]), a JSON body ([`JsonBody`]). A check that fails answers
//! with its JSON error and the handler never runs.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use plinth_abi::Value;

use super::auth::{identify, Caller};
use super::{json_request, need, ApiError, App};

/// A permission a handler needs, by its name in the user records.
pub trait Permission {
    /// The permission's name (`files_list`, `settings`, …).
    const NAME: &'static str;
}

/// The permissions handlers name.
pub mod perm {
    macro_rules! permissions {
        ($($(#[$doc:meta])* $ty:ident = $name:literal),* $(,)?) => {
            $(
                $(#[$doc])*
                pub struct $ty;
                impl super::Permission for $ty {
                    const NAME: &'static str = $name;
                }
            )*
        };
    }

    permissions! {
        /// The printer's state and the push channel.
        Status = "status",
        /// Changing settings.
        Settings = "settings",
        /// System information.
        System = "system",
        /// Webcam snapshots.
        Webcam = "webcam",
        /// Listing uploaded files.
        FilesList = "files_list",
        /// Uploading files.
        FilesUpload = "files_upload",
        /// Deleting uploaded files.
        FilesDelete = "files_delete",
        /// Downloading uploaded files.
        FilesDownload = "files_download",
        /// Printing.
        Print = "print",
        /// Connecting to and disconnecting from the printer.
        Connection = "connection",
        /// Controlling the printer: temperatures, moves, commands.
        Control = "control",
        /// Slicing.
        Slice = "slice",
        /// The plugin manager.
        PluginManager = "plugin_manager",
    }
}

/// The caller, who has permission `P` (403 otherwise). A state change (not
/// GET, HEAD or OPTIONS) authenticated by the session cookie must also carry
/// its CSRF token (400 otherwise).
pub struct Permitted<P>(pub Caller, pub PhantomData<P>);

impl<P: Permission> FromRequestParts<Arc<App>> for Permitted<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let caller = identify(app, &parts.headers).await?;
        need(&caller, P::NAME)?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            caller.check_csrf(&parts.headers)?;
        }
        Ok(Self(caller, PhantomData))
    }
}

/// An administrator (403 otherwise; OctoPrint's `ADMIN`, which no other
/// permission grants), with the CSRF token on a state change by cookie.
pub struct Admin(pub Caller);

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let caller = identify(app, &parts.headers).await?;
        if !caller.is_admin() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "only administrators do this",
            ));
        }
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            caller.check_csrf(&parts.headers)?;
        }
        Ok(Self(caller))
    }
}

/// The caller of a state change: when authenticated by the session cookie,
/// the request carries its CSRF token (400 otherwise).
pub struct Changing(pub Caller);

impl FromRequestParts<Arc<App>> for Changing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let caller = identify(app, &parts.headers).await?;
        caller.check_csrf(&parts.headers)?;
        Ok(Self(caller))
    }
}

/// A JSON request body: 415 unless sent as `application/json`, 400 when it
/// does not parse.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        json_request(&headers, &bytes).map(JsonBody)
    }
}
