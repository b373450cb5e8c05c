//! Files in `<basedir>/uploads`: list, upload (multipart), information,
//! delete and download.
//!
//! Names are sanitised (letters, digits, `.`, `_`, `-`; spaces become `_`;
//! no folders, no leading dot), and only extensions of the extension tree are
//! accepted: G-code by default, plus what every enabled slicer plugin adds
//! through `get_slicer_extension_tree` (STL models by default). Uploads are
//! limited to `server.upload_max_bytes` (default 1 GiB) and written
//! atomically. `FileAdded` and `FileRemoved` are fired.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_sdk::methods::plugin as m;
use plinth_sdk::{json, Value};

use super::auth::Caller;
use super::{ApiError, App};
use crate::registry::State as PluginState;

/// The default largest upload.
pub const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

fn uploads(app: &App) -> PathBuf {
    app.manager.paths().basedir.join("uploads")
}

fn need(caller: &Caller, permission: &str) -> Result<(), ApiError> {
    if caller.has(permission) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this needs the `{permission}` permission"),
        ))
    }
}

/// The extension tree: `{type: {subtype: [extensions]}}`, G-code plus what slicers add.
fn extension_tree(app: &App) -> Value {
    let mut tree = json!({"machinecode": {"gcode": ["gcode", "gco", "g"]}});
    for p in app.manager.plugins() {
        if p.state == PluginState::Enabled && p.mixins.iter().any(|x| x == "Slicer") {
            if let Ok(more) = app.manager.call::<m::GetSlicerExtensionTree>(&p.id, &()) {
                tree = crate::values::merge(&tree, &more);
            }
        }
    }
    tree
}

/// The type path (`["machinecode", "gcode"]`) of a file name, if the tree accepts it.
fn type_of(tree: &Value, name: &str) -> Option<Vec<String>> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    for (kind, subtypes) in tree.as_object()? {
        for (sub, exts) in subtypes.as_object()? {
            if exts
                .as_array()?
                .iter()
                .any(|e| e.as_str().is_some_and(|e| e.eq_ignore_ascii_case(&ext)))
            {
                return Some(vec![kind.clone(), sub.clone()]);
            }
        }
    }
    None
}

/// OctoPrint-like sanitising of an uploaded file's name.
pub fn sanitize(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('_'),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') => Some(c),
            _ => None,
        })
        .collect();
    let clean = clean.trim_start_matches('.').to_owned();
    (!clean.is_empty()).then_some(clean)
}

fn entry(tree: &Value, name: &str, meta: &std::fs::Metadata) -> Value {
    let date = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let type_path = type_of(tree, name).unwrap_or_default();
    json!({
        "name": name,
        "path": name,
        "origin": "local",
        "size": meta.len(),
        "date": date,
        "type": type_path.first(),
        "typePath": type_path,
        "refs": {
            "resource": format!("/api/files/local/{name}"),
            "download": format!("/downloads/files/local/{name}"),
        },
    })
}

/// `GET /api/files`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    need(&caller, "files_list")?;
    let app2 = app.clone();
    let files = tokio::task::spawn_blocking(move || {
        let tree = extension_tree(&app2);
        let mut files: Vec<Value> = std::fs::read_dir(uploads(&app2))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                (!name.starts_with('.')).then(|| entry(&tree, &name, &meta))
            })
            .collect();
        files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        files
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "files": files })))
}

/// `POST /api/files/local`: a multipart upload with the field `file`.
pub async fn upload(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    need(&caller, "files_upload")?;
    caller.check_csrf(&headers)?;
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    // Multipart errors carry their status: 413 past the upload limit, 400 otherwise.
    let failed = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), format!("the upload failed: {}", e.body_text()))
    };
    while let Some(field) = form.next_field().await.map_err(failed)? {
        if field.name() != Some("file") {
            continue;
        }
        let original = field.file_name().unwrap_or_default().to_owned();
        let name = sanitize(&original)
            .ok_or_else(|| bad(format!("{original:?} is not a usable file name")))?;
        let data = field.bytes().await.map_err(failed)?;
        let app2 = app.clone();
        let stored = name.clone();
        let info = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
            let tree = extension_tree(&app2);
            let kind = type_of(&tree, &stored).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{stored}: this file type is not accepted (accepted: {tree})"),
                )
            })?;
            let path = uploads(&app2).join(&stored);
            crate::config::write_atomic(&path, &data).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot store {stored}: {e}"),
                )
            })?;
            let meta = std::fs::metadata(&path)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            app2.manager.fire_event(
                "FileAdded",
                &json!({"storage": "local", "path": stored, "name": stored, "type": kind}),
            );
            Ok(entry(&tree, &stored, &meta))
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
        return Ok((
            StatusCode::CREATED,
            Json(json!({"done": true, "files": {"local": info}})),
        )
            .into_response());
    }
    Err(bad("the upload has no `file` field".into()))
}

fn existing(app: &App, name: &str) -> Result<(String, PathBuf), ApiError> {
    let clean = sanitize(name)
        .filter(|c| c == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no file {name:?}")))?;
    let path = uploads(app).join(&clean);
    if path.is_file() {
        Ok((clean, path))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no file {name:?}"),
        ))
    }
}

/// `GET /api/files/local/<name>`.
pub async fn info(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    need(&caller, "files_list")?;
    let (name, path) = existing(&app, &name)?;
    let meta = std::fs::metadata(&path)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(entry(&extension_tree(&app), &name, &meta)))
}

/// `DELETE /api/files/local/<name>`.
pub async fn delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    need(&caller, "files_delete")?;
    caller.check_csrf(&headers)?;
    let (name, path) = existing(&app, &name)?;
    std::fs::remove_file(&path).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot remove {name}: {e}"),
        )
    })?;
    app.manager.fire_event(
        "FileRemoved",
        &json!({"storage": "local", "path": name, "name": name}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /downloads/files/local/<name>`.
pub async fn download(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    need(&caller, "files_download")?;
    let (name, path) = existing(&app, &name)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The upload limit from the config.
pub fn max_upload(app: &App) -> u64 {
    app.manager
        .config()
        .effective(&crate::config::key_path(&["server", "upload_max_bytes"]))
        .and_then(|v| v.as_u64())
        .unwrap_or(DEFAULT_MAX_UPLOAD)
}

#[cfg(test)]
mod tests {
    use super::{sanitize, type_of};
    use plinth_sdk::json;

    #[test]
    fn names_and_types() {
        assert_eq!(
            sanitize("my part (v2).gcode").as_deref(),
            Some("my_part_v2.gcode")
        );
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            sanitize("C:\\x\\..\\.hidden.stl").as_deref(),
            Some("hidden.stl")
        );
        assert_eq!(sanitize("ääö"), None);
        let tree = json!({"machinecode": {"gcode": ["gcode", "g"]}, "model": {"stl": ["stl"]}});
        assert_eq!(type_of(&tree, "a.GCODE").unwrap(), ["machinecode", "gcode"]);
        assert_eq!(type_of(&tree, "a.stl").unwrap(), ["model", "stl"]);
        assert_eq!(type_of(&tree, "a.exe"), None);
    }
}
