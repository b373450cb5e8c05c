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
use plinth_sdk::{json, Value};

use super::auth::Caller;
use super::{blocking, json_request, need, optional_flag, optional_text, ApiError, App};
use crate::jobs::slicing::SliceOrder;
use crate::uploads::{self, extension_tree, sanitize, type_of};

fn uploads(app: &App) -> PathBuf {
    uploads::folder(&app.manager)
}

fn entry(folder: &std::path::Path, tree: &Value, name: &str, meta: &std::fs::Metadata) -> Value {
    let date = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let type_path = type_of(tree, name).unwrap_or_default();
    let mut entry = json!({
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
    });
    if let Some(analysis) = uploads::analysis(folder, name) {
        entry["gcodeAnalysis"] = analysis;
    }
    entry
}

/// `GET /api/files`.
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    need(&caller, "files_list")?;
    let app2 = app.clone();
    let files = blocking(move || {
        let tree = extension_tree(&app2.manager);
        let folder = uploads(&app2);
        let mut files: Vec<Value> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let meta = e.metadata().ok().filter(|m| m.is_file())?;
                (!name.starts_with('.')).then(|| entry(&folder, &tree, &name, &meta))
            })
            .collect();
        files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        files
    })
    .await?;
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
        let info = blocking(move || -> Result<Value, ApiError> {
            let tree = extension_tree(&app2.manager);
            let kind = type_of(&tree, &stored).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{stored}: this file type is not accepted (accepted: {tree})"),
                )
            })?;
            if kind == ["model", "stl"] {
                uploads::check_stl(&data).map_err(|why| {
                    ApiError::new(StatusCode::BAD_REQUEST, format!("{stored} is not a valid STL file: {why}"))
                })?;
            }
            if app2.jobs.printer.is_printing_file(&stored) || app2.jobs.slicing.is_writing(&stored) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("{stored} is in use by a print or slicing job; upload it under another name"),
                ));
            }
            let folder = uploads(&app2);
            let path = folder.join(&stored);
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
            uploads::forget_analysis(&folder, &stored);
            Ok(entry(&folder, &tree, &stored, &meta))
        }).await??;
        return Ok((
            StatusCode::CREATED,
            Json(json!({"done": true, "files": {"local": info}})),
        )
            .into_response());
    }
    Err(bad("the upload has no `file` field".into()))
}

fn existing(app: &App, name: &str) -> Result<(String, PathBuf), ApiError> {
    let clean = uploads::clean_name(name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no file {name:?}")))?;
    let path = uploads(app).join(clean);
    if path.is_file() {
        Ok((clean.to_owned(), path))
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
    Ok(Json(entry(
        &uploads(&app),
        &extension_tree(&app.manager),
        &name,
        &meta,
    )))
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
    if app.jobs.printer.is_printing_file(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} is being printed; cancel the print first"),
        ));
    }
    if app.jobs.slicing.is_writing(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} is being sliced; cancel the slicing job first"),
        ));
    }
    app.jobs.printer.deselect(&name);
    std::fs::remove_file(&path).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot remove {name}: {e}"),
        )
    })?;
    uploads::forget_analysis(&uploads(&app), &name);
    app.manager.fire_event(
        "FileRemoved",
        &json!({"storage": "local", "path": name, "name": name}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/files/local/<name>`: OctoPrint's file commands.
///
/// - `{"command": "select", "print": bool}` selects a G-code file for
///   printing (and starts it);
/// - `{"command": "slice", "slicer": "<type>", "profile": "<name>",
///   "gcode": "<destination>", "position": {"x": …, "y": …}, "select": bool,
///   "print": bool}` slices a model file; answers 202 with the job, which
///   runs on (see `/api/slicing/jobs`).
pub async fn command(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.check_csrf(&headers)?;
    let body = json_request(&headers, &body)?;
    let text = |key: &str| optional_text(&body, key);
    let (select, print) = (
        optional_flag(&body, "select")?,
        optional_flag(&body, "print")?,
    );
    match text("command")?.as_deref() {
        Some("select") => {
            need(&caller, "files_select")?;
            if print {
                need(&caller, "print")?;
            }
            let (name, _) = existing(&app, &name)?;
            let printer = app.jobs.printer.clone();
            blocking(move || printer.select(&name, print)).await??;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some("slice") => {
            need(&caller, "slice")?;
            if print {
                need(&caller, "print")?;
            }
            let (source, _) = existing(&app, &name)?;
            let slicer = text("slicer")?.ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "`slice` needs a `slicer`")
            })?;
            let position = match body.get("position") {
                None | Some(Value::Null) => None,
                Some(p) => match (
                    p.get("x").and_then(Value::as_f64),
                    p.get("y").and_then(Value::as_f64),
                ) {
                    (Some(x), Some(y)) => Some((x, y)),
                    _ => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "`position` must be {\"x\": number, \"y\": number}",
                        ))
                    }
                },
            };
            let order = SliceOrder {
                source,
                slicer,
                profile: text("profile")?,
                destination: text("gcode")?,
                position,
                select,
                print,
            };
            let slicing = app.jobs.slicing.clone();
            let job = blocking(move || slicing.slice(order)).await??;
            let dest = &job.destination;
            let mut response = (
                StatusCode::ACCEPTED,
                Json(json!({
                    "origin": "local",
                    "name": dest,
                    "path": dest,
                    "job": job.to_json(),
                    "refs": {
                        "resource": format!("/api/files/local/{dest}"),
                        "download": format!("/downloads/files/local/{dest}"),
                        "job": format!("/api/slicing/jobs/{}", job.id),
                    },
                })),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("/api/files/local/{dest}")) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Ok(response)
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command {other:?} (select or slice)"),
        )),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body needs a `command`",
        )),
    }
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
    crate::host_settings::UPLOAD_MAX_BYTES.get(app.manager.config())
}
