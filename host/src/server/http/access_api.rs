//! OctoPrint's access API: users, groups and permissions.
//!
//! - `GET /api/access/permissions`: every permission, the plugins' too.
//! - `GET /api/access/groups`: Plinth's two fixed groups, `admins` and
//!   `users` (a user is an administrator or not; groups cannot be made).
//! - `GET /api/access/users` and `POST` (add), `GET`/`PUT`/`DELETE
//!   /api/access/users/<name>`: for administrators only, as OctoPrint's
//!   (`ADMIN`; a user may read their own record). `PUT` changes `active`,
//!   `admin` (or `groups` holding `admins`) and `permissions` (OctoPrint's
//!   keys, any case). Answers with the whole list, as OctoPrint's do. No
//!   change may leave the host without an active administrator (409).
//! - `PUT /api/access/users/<name>/password`: a user changes their own
//!   with `current` (wrong guesses count against the login limits); an
//!   administrator anyone's. 200 `{}`.
//! - `POST /api/access/users/<name>/apikey` makes a new key (shown this
//!   once: only its hash is kept) and `DELETE` revokes it. A user manages
//!   their own key; administrators anyone's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::{json, Value};

use super::extract::{Admin, Changing, JsonBody};
use super::{blocking, ApiError, App, Caller};
use crate::users::{UserError, ADMIN_PERMISSIONS, PERMISSION_DESCRIPTIONS, USER_PERMISSIONS};
use std::net::SocketAddr;

/// The status a refused change of the users gets.
fn refused(e: UserError) -> ApiError {
    let status = match &e {
        UserError::NoSuchUser(_) => StatusCode::NOT_FOUND,
        UserError::Exists(_) | UserError::LastAdmin | UserError::UsersExist => StatusCode::CONFLICT,
        UserError::BadName(..) | UserError::EmptyPassword | UserError::UnknownPermission(_) => {
            StatusCode::BAD_REQUEST
        }
        UserError::File { .. } | UserError::Hash(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// `GET /api/access/permissions`: `{"permissions": [{key, name,
/// description, dangerous, plugin}]}`, keys as OctoPrint's (`FILES_LIST`).
pub async fn permissions(State(app): State<Arc<App>>) -> Json<Value> {
    let mut out: Vec<Value> = PERMISSION_DESCRIPTIONS
        .iter()
        .map(|(key, description, dangerous)| {
            json!({
                "key": key.to_ascii_uppercase(),
                "name": key,
                "description": description,
                "dangerous": dangerous,
                "plugin": null,
            })
        })
        .collect();
    for p in &app.manager.contributions().permissions {
        out.push(json!({
            "key": p.key.to_ascii_uppercase(),
            "name": p.name,
            "description": p.description,
            "dangerous": p.dangerous,
            "plugin": p.plugin,
        }));
    }
    Json(json!({ "permissions": out }))
}

/// `GET /api/access/groups`: `admins` (every permission) and `users` (the
/// user role's), fixed; for administrators.
pub async fn groups(_: Admin) -> Json<Value> {
    let upper = |list: &[&str]| {
        list.iter()
            .map(|p| p.to_ascii_uppercase())
            .collect::<Vec<_>>()
    };
    let all: Vec<&str> = ADMIN_PERMISSIONS
        .iter()
        .chain(USER_PERMISSIONS)
        .copied()
        .collect();
    Json(json!({"groups": [
        {"key": "admins", "name": "Admins", "description": "Administrators: every permission",
         "permissions": upper(&all), "default": false, "removable": false, "changeable": false, "toggleable": false},
        {"key": "users", "name": "Users", "description": "Logged in users",
         "permissions": upper(USER_PERMISSIONS), "default": true, "removable": false, "changeable": false, "toggleable": false},
    ]}))
}

/// Every user as OctoPrint lists them.
async fn listing(app: &Arc<App>) -> Result<Json<Value>, ApiError> {
    let app = app.clone();
    let users = blocking(move || app.users.all()).await?.map_err(refused)?;
    let list: Vec<Value> = users
        .iter()
        .map(|(name, user)| super::login::user_record(name, user))
        .collect();
    Ok(Json(json!({ "users": list })))
}

/// `GET /api/access/users`.
pub async fn list(State(app): State<Arc<App>>, _: Admin) -> Result<Json<Value>, ApiError> {
    listing(&app).await
}

/// `GET /api/access/users/<name>`: for `users`, or the user themselves.
pub async fn one(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if caller.name() != Some(name.as_str()) && !caller.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only administrators see other users",
        ));
    }
    let wanted = name.clone();
    let users = blocking(move || app.users.all()).await?.map_err(refused)?;
    let user = users
        .get(&wanted)
        .ok_or_else(|| refused(UserError::NoSuchUser(name.clone())))?;
    Ok(Json(super::login::user_record(&name, user)))
}

/// Permission keys from a body field: OctoPrint's (`FILES_LIST`) or
/// Plinth's (`files_list`), as Plinth's.
fn permission_list(body: &Value) -> Result<Option<Vec<String>>, ApiError> {
    match body.get("permissions") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| match p.as_str() {
                Some(p) => Ok(p.to_ascii_lowercase()),
                None => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "`permissions` must be a list of permission keys",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`permissions` must be a list of permission keys",
        )),
    }
}

/// Whether the body makes the user an administrator: `admin`, or
/// `groups` holding `admins`; `None` when it says nothing of it.
fn admin_flag(body: &Value) -> Result<Option<bool>, ApiError> {
    if let Some(admin) = body.get("admin").filter(|v| !v.is_null()) {
        return admin.as_bool().map(Some).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "`admin` must be true or false")
        });
    }
    match body.get("groups") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(groups)) => {
            if let Some(bad) = groups
                .iter()
                .find(|g| !matches!(g.as_str(), Some("admins" | "users")))
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown group {bad}: Plinth's groups are `admins` and `users`"),
                ));
            }
            Ok(Some(groups.iter().any(|g| g == "admins")))
        }
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`groups` must be a list of group keys",
        )),
    }
}

fn active_flag(body: &Value) -> Result<Option<bool>, ApiError> {
    match body.get("active") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "`active` must be true or false",
        )),
    }
}

/// `POST /api/access/users`: `{name, password, active?, admin? | groups?,
/// permissions?}`; the whole list, 409 when the name is taken.
pub async fn add(
    State(app): State<Arc<App>>,
    _: Admin,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let name = super::optional_text(&body, "name")?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "`name` is missing"))?;
    let password = super::optional_text(&body, "password")?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "`password` is missing"))?;
    let admin = admin_flag(&body)?.unwrap_or(false);
    let active = active_flag(&body)?.unwrap_or(true);
    let permissions = permission_list(&body)?;
    let app2 = app.clone();
    blocking(move || {
        app2.users.add(&name, &password, admin, permissions)?;
        match active {
            true => Ok(()),
            false => app2.users.modify(&name, |u| u.active = false),
        }
    })
    .await?
    .map_err(refused)?;
    listing(&app).await
}

/// `PUT /api/access/users/<name>`: `{active?, admin? | groups?,
/// permissions?}`; the whole list.
pub async fn change(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let admin = admin_flag(&body)?;
    let active = active_flag(&body)?;
    let permissions = permission_list(&body)?;
    let app2 = app.clone();
    blocking(move || {
        app2.users.modify(&name, |user| {
            if let Some(admin) = admin {
                user.admin = admin;
            }
            if let Some(active) = active {
                user.active = active;
            }
            if let Some(permissions) = permissions {
                user.permissions = permissions.into_iter().collect();
            }
        })
    })
    .await?
    .map_err(refused)?;
    listing(&app).await
}

/// `DELETE /api/access/users/<name>`: the whole list.
pub async fn remove(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if caller.name() == Some(name.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "you cannot remove yourself: another administrator can",
        ));
    }
    let app2 = app.clone();
    blocking(move || app2.users.remove(&name))
        .await?
        .map_err(refused)?;
    listing(&app).await
}

/// `PUT /api/access/users/<name>/password`: `{password, current}`;
/// `current` is needed when users change their own (not when an
/// administrator changes another's); a wrong one counts as a failed login.
/// 200 `{}`, as OctoPrint's.
pub async fn password(
    State(app): State<Arc<App>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    Changing(caller): Changing,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    check(&caller, &name)?;
    let password = super::optional_text(&body, "password")?
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "`password` is missing"))?;
    let own = caller.name() == Some(name.as_str());
    let current = super::optional_text(&body, "current")?;
    blocking(move || {
        if own {
            let current = current.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "`current`, your current password, is missing",
                )
            })?;
            if let Err(locked) = app.sessions.attempt(&name, peer.ip()) {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many wrong passwords; try again in {} s",
                        locked.wait().as_secs().max(1)
                    ),
                ));
            }
            if app.users.authenticate(&name, &current).is_none() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "the current password is wrong",
                ));
            }
            app.sessions.succeeded(&name, peer.ip());
        }
        app.users.set_password(&name, &password).map_err(refused)
    })
    .await??;
    Ok(Json(json!({})))
}

/// A user manages their own key and password; administrators anyone's.
fn check(caller: &Caller, name: &str) -> Result<(), ApiError> {
    match caller.name() {
        None => Err(ApiError::new(StatusCode::FORBIDDEN, "log in first")),
        Some(me) if me == name || caller.is_admin() => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("only `{name}` or an administrator manages `{name}`'s API key and password"),
        )),
    }
}

/// `POST /api/access/users/<name>/apikey`: a new key, `{"apikey"}`.
pub async fn generate(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check(&caller, &name)?;
    let key = blocking(move || app.users.new_api_key(&name))
        .await?
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(Json(json!({ "apikey": key })))
}

/// `DELETE /api/access/users/<name>/apikey`: the key no longer works.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    check(&caller, &name)?;
    blocking(move || app.users.remove_api_key(&name))
        .await?
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
