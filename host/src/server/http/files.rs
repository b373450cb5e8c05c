//! Files in `<basedir>/uploads`: list, upload (multipart), information,
//! delete and download.
//!
//! Names are sanitised (letters, digits, `.`, `_`, `-`; spaces become `_`;
//! no folders, no leading dot, at most 200 bytes: longer names are shortened),
//! and only extensions of the extension tree are accepted: G-code by default,
//! plus what every enabled slicer plugin adds through
//! `get_slicer_extension_tree` (STL models by default). Uploads are limited to
//! `server.upload_max_bytes` (default 1 GiB), streamed to disk and renamed
//! into place when complete; downloads are streamed. No symlink in the
//! folder is ever followed (see [`crate::jobs::uploads::Folder`]). `FileAdded` and
//! `FileRemoved` are fired.

use plinth_abi::events;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::{json, Value};
use tokio::io::AsyncWriteExt;

use super::extract::{perm, Changing, JsonBody, Permitted};
use super::{blocking, need, optional_flag, optional_text, ApiError, App};
use crate::jobs::slicing::SliceOrder;
use crate::jobs::uploads::{self, extension_tree, sanitize, type_of, Folder};

fn uploads(app: &App) -> Folder {
    uploads::folder(&app.manager)
}

fn entry(folder: &Folder, tree: &Value, name: &str, meta: &std::fs::Metadata) -> Value {
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
    if let Some(analysis) = folder.analysis(name) {
        entry["gcodeAnalysis"] = analysis;
    }
    entry
}

fn server_error(what: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, what)
}

/// `GET /api/files`.
pub async fn list(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesList>,
) -> Result<Json<Value>, ApiError> {
    let app2 = app.clone();
    let files = blocking(move || {
        let tree = extension_tree(&app2.manager);
        let folder = uploads(&app2);
        let mut files: Vec<Value> = folder
            .list()
            .into_iter()
            .map(|(name, meta)| entry(&folder, &tree, &name, &meta))
            .collect();
        files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        files
    })
    .await?;
    Ok(Json(json!({ "files": files })))
}

/// 409 when a print or a slicing job uses `name`.
fn check_free(app: &App, name: &str) -> Result<(), ApiError> {
    if app.jobs.printer.is_printing_file(name) || app.jobs.slicing.is_writing(name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{name} is in use by a print or slicing job; upload it under another name"),
        ));
    }
    Ok(())
}

/// `POST /api/files/local`: a multipart upload with the field `file`.
///
/// The file streams to a temporary file in the uploads folder (memory stays
/// small whatever its size), is checked there (STL models), and is renamed
/// into place only when complete: a failed or cut upload leaves nothing.
pub async fn upload(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesUpload>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    // Multipart errors carry their status: 413 past the upload limit, 400 otherwise.
    let failed = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), format!("the upload failed: {}", e.body_text()))
    };
    while let Some(mut field) = form.next_field().await.map_err(failed)? {
        if field.name() != Some("file") {
            continue;
        }
        let original = field.file_name().unwrap_or_default().to_owned();
        let name = sanitize(&original)
            .ok_or_else(|| bad(format!("{original:?} is not a usable file name")))?;
        // The type and the name are checked before anything is written.
        let app2 = app.clone();
        let stored = name.clone();
        let (tree, kind, temp) = blocking(move || -> Result<_, ApiError> {
            let tree = extension_tree(&app2.manager);
            let kind = type_of(&tree, &stored).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{stored}: this file type is not accepted (accepted: {tree})"),
                )
            })?;
            check_free(&app2, &stored)?;
            let temp = uploads(&app2)
                .temp(".upload-")
                .map_err(|e| server_error(format!("cannot store {stored}: {e}")))?;
            Ok((tree, kind, temp))
        })
        .await??;
        let cannot = |e: std::io::Error| server_error(format!("cannot store {name}: {e}"));
        let mut writer = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(cannot)?);
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            writer.write_all(&chunk).await.map_err(cannot)?;
        }
        writer.flush().await.map_err(cannot)?;
        drop(writer);
        let app2 = app.clone();
        let info = blocking(move || -> Result<Value, ApiError> {
            let folder = uploads(&app2);
            let cannot = |e: std::io::Error| server_error(format!("cannot store {name}: {e}"));
            if kind == ["model", "stl"] {
                let len = temp.as_file().metadata().map_err(cannot)?.len();
                let file = temp.reopen().map_err(cannot)?;
                uploads::check_stl(file, len).map_err(|why| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name} is not a valid STL file: {why}"),
                    )
                })?;
            }
            // A print or slicing job may have taken the name meanwhile.
            check_free(&app2, &name)?;
            folder.persist(temp, &name).map_err(cannot)?;
            folder.forget_analysis(&name);
            let meta = folder.metadata(&name).map_err(cannot)?;
            app2.manager.fire_event(
                events::FILE_ADDED,
                &json!({"storage": "local", "path": name, "name": name, "type": kind}),
            );
            Ok(entry(&folder, &tree, &name, &meta))
        })
        .await??;
        return Ok((
            StatusCode::CREATED,
            Json(json!({"done": true, "files": {"local": info}})),
        )
            .into_response());
    }
    Err(bad("the upload has no `file` field".into()))
}

/// The clean name of an uploaded file and its metadata; 404 unless it is a
/// regular file in the uploads folder.
fn existing(app: &App, name: &str) -> Result<(String, std::fs::Metadata), ApiError> {
    let gone = || ApiError::new(StatusCode::NOT_FOUND, format!("no file {name:?}"));
    let clean = uploads::clean_name(name).ok_or_else(gone)?;
    let meta = uploads(app).metadata(clean).map_err(|_| gone())?;
    Ok((clean.to_owned(), meta))
}

/// `GET /api/files/local/<name>`.
pub async fn info(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesList>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (name, meta) = existing(&app, &name)?;
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
    _: Permitted<perm::FilesDelete>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (name, _) = existing(&app, &name)?;
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
    let folder = uploads(&app);
    folder
        .remove(&name)
        .map_err(|e| server_error(format!("cannot remove {name}: {e}")))?;
    folder.forget_analysis(&name);
    app.manager.fire_event(
        events::FILE_REMOVED,
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
    Changing(caller): Changing,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
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
            let user = caller.name().map(str::to_owned);
            blocking(move || printer.select_as(&name, print, user.as_deref())).await??;
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

/// `GET /downloads/files/local/<name>`: streamed from the file.
pub async fn download(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesDownload>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (name, _) = existing(&app, &name)?;
    let file = uploads(&app)
        .open(&name)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, format!("no file {name:?}")))?;
    let len = file
        .metadata()
        .map_err(|e| server_error(e.to_string()))?
        .len();
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The upload limit from the config.
pub fn max_upload(app: &App) -> u64 {
    crate::config::host_settings::UPLOAD_MAX_BYTES.get(app.manager.config())
}
