//! Files in `<basedir>/uploads` through the file manager
//! ([`crate::jobs::files`]): list (`?recursive=true`), upload (multipart,
//! into the folder `path`, or a new folder `foldername`), information,
//! delete, download, and the commands select, slice, copy and move.
//!
//! Names are sanitised (letters, digits, `.`, `_`, `-`; spaces become `_`;
//! no leading dot, at most 200 bytes: longer names are shortened), and only
//! extensions of the extension tree are accepted: G-code by default, plus
//! what every enabled slicer plugin adds through `get_slicer_extension_tree`
//! (STL models by default) and the `octoprint.filemanager.extension_tree`
//! hook. Uploads are limited to `server.upload_max_bytes` (default 1 GiB),
//! streamed to disk and renamed into place when complete; downloads are
//! streamed. No symlink in the folder is ever followed (see
//! [`crate::jobs::uploads::Folder`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use plinth_abi::{json, Value};
use tokio::io::AsyncWriteExt;

use super::extract::{perm, Changing, JsonBody, Permitted};
use super::{blocking, need, optional_flag, optional_text, ApiError, App};
use crate::jobs::files::Transfer;
use crate::jobs::slicing::SliceOrder;
use crate::jobs::uploads::{self, join_path, sanitize};

fn server_error(what: String) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, what)
}

/// The query of a listing.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    recursive: bool,
}

/// `GET /api/files` and `GET /api/files/local`: the entries, with the
/// disk's `free` and `total` bytes, as OctoPrint.
pub async fn list(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesList>,
    Query(query): Query<ListQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let files = app.jobs.files.clone();
    let (mut listed, usage) = blocking(move || {
        let listed = files.list("", query.recursive)?;
        Ok::<_, crate::jobs::JobError>((listed, files.usage()))
    })
    .await??;
    let base = base_url(&headers);
    for entry in &mut listed {
        absolute_refs(entry, &base);
    }
    let mut answer = json!({ "files": listed });
    if let Some((free, total)) = usage {
        answer["free"] = json!(free);
        answer["total"] = json!(total);
    }
    Ok(Json(answer))
}

/// `http://host:port` of the request, as the client reached the server
/// (a proxy's `X-Forwarded-Proto`/`X-Forwarded-Host` first).
pub(super) fn base_url(headers: &axum::http::HeaderMap) -> String {
    // The first of a list, and only what a scheme or a host can be.
    let first = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?.split(',').next()?.trim();
        let fine = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c));
        fine.then_some(value)
    };
    let scheme = first("x-forwarded-proto")
        .filter(|s| *s == "http" || *s == "https")
        .unwrap_or("http");
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or("127.0.0.1");
    format!("{scheme}://{host}")
}

/// Makes an entry's `refs` (and its children's) absolute URLs, as OctoPrint's.
fn absolute_refs(entry: &mut Value, base: &str) {
    if let Some(refs) = entry.get_mut("refs").and_then(Value::as_object_mut) {
        for url in refs.values_mut() {
            if let Some(path) = url.as_str().filter(|u| u.starts_with('/')) {
                *url = json!(format!("{base}{path}"));
            }
        }
    }
    if let Some(children) = entry.get_mut("children").and_then(Value::as_array_mut) {
        for child in children {
            absolute_refs(child, base);
        }
    }
}

/// A multipart text field's value.
async fn text_field(field: axum::extract::multipart::Field<'_>) -> Result<String, ApiError> {
    field
        .text()
        .await
        .map_err(|e| ApiError::new(e.status(), format!("the upload failed: {}", e.body_text())))
}

/// A multipart flag (`true`, `1`, `yes`, `on`; anything else is false).
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

/// `POST /api/files/local`: a multipart upload with the field `file` (into
/// the folder named by the field `path`), or `foldername` to create a
/// folder there. `select` and `print` select the uploaded G-code and start
/// it, as OctoPrint (`effectiveSelect`/`effectivePrint` say what happened).
/// An existing file is replaced only for callers with `files_delete` (403
/// otherwise) and unless `noOverwrite` is set (409).
///
/// The file streams to a temporary file in the uploads folder (memory stays
/// small whatever its size), is checked there (STL models), and is renamed
/// into place only when complete: a failed or cut upload leaves nothing.
pub async fn upload(
    State(app): State<Arc<App>>,
    Permitted(caller, _): Permitted<perm::FilesUpload>,
    headers: axum::http::HeaderMap,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let base = base_url(&headers);
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    // Multipart errors carry their status: 413 past the upload limit, 400 otherwise.
    let failed = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), format!("the upload failed: {}", e.body_text()))
    };
    let (mut folder, mut foldername, mut select, mut print) = (String::new(), None, false, false);
    let mut no_overwrite = false;
    let mut upload = None;
    while let Some(mut field) = form.next_field().await.map_err(failed)? {
        match field.name() {
            Some("path") => folder = text_field(field).await?,
            Some("foldername") => foldername = Some(text_field(field).await?),
            Some("noOverwrite") => no_overwrite = is_true(&text_field(field).await?),
            Some("select") => select = is_true(&text_field(field).await?),
            Some("print") => print = is_true(&text_field(field).await?),
            Some("file") if upload.is_none() => {
                let original = field.file_name().unwrap_or_default().to_owned();
                let name = sanitize(&original)
                    .ok_or_else(|| bad(format!("{original:?} is not a usable file name")))?;
                // The type and the name are checked before anything is written.
                let files = app.jobs.files.clone();
                let path = join_path(folder.trim_matches('/'), &name);
                let temp = blocking(move || -> Result<_, ApiError> {
                    files.check_new_file(&path, true)?;
                    files
                        .folder()
                        .temp(".upload-")
                        .map_err(|e| server_error(format!("cannot store {path}: {e}")))
                })
                .await??;
                let cannot = |e: std::io::Error| server_error(format!("cannot store {name}: {e}"));
                let mut writer =
                    tokio::fs::File::from_std(temp.as_file().try_clone().map_err(cannot)?);
                while let Some(chunk) = field.chunk().await.map_err(failed)? {
                    writer.write_all(&chunk).await.map_err(cannot)?;
                }
                writer.flush().await.map_err(cannot)?;
                upload = Some((name, temp));
            }
            _ => {}
        }
    }
    let files = app.jobs.files.clone();
    if let Some((name, temp)) = upload {
        let path = join_path(folder.trim_matches('/'), &name);
        let printer = app.jobs.printer.clone();
        let (may_select, may_print) = (caller.has("files_select"), caller.has("print"));
        let may_replace = caller.has("files_delete");
        let user = caller.name().map(str::to_owned);
        let answer = blocking(move || -> Result<Value, ApiError> {
            // Replacing a file is deleting it, as OctoPrint checks.
            if files.file_exists(&path) {
                if no_overwrite {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        format!("{path} exists and the upload says noOverwrite"),
                    ));
                }
                if !may_replace {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!("{path} exists: replacing it needs the files_delete permission"),
                    ));
                }
            }
            let path = files.add_file(&path, temp, true)?;
            let info = files.entry(&path, false)?;
            let machinecode = uploads::is_machinecode(&path);
            let effective_select = (select || print) && may_select && machinecode;
            let effective_print = print && may_print && effective_select;
            let mut info = info;
            absolute_refs(&mut info, &base);
            let mut answer = json!({"done": true, "files": {"local": info}});
            if select || print {
                let chosen = effective_select
                    && printer
                        .select_as(&path, effective_print, user.as_deref())
                        .is_ok();
                answer["effectiveSelect"] = json!(chosen);
                answer["effectivePrint"] = json!(chosen && effective_print);
            }
            Ok(answer)
        })
        .await??;
        return Ok((StatusCode::CREATED, Json(answer)).into_response());
    }
    if let Some(name) = foldername {
        let path = join_path(folder.trim_matches('/'), &name);
        let answer = blocking(move || -> Result<Value, ApiError> {
            let path = files.add_folder(&path, false)?;
            let (_, name) = uploads::split_path(&path);
            Ok(json!({"done": true, "folder": {
                "name": name,
                "path": path,
                "origin": "local",
                "refs": {"resource": format!("/api/files/local/{path}")},
            }}))
        })
        .await??;
        return Ok((StatusCode::CREATED, Json(answer)).into_response());
    }
    Err(bad(
        "the upload has no `file` field (nor a `foldername`)".into()
    ))
}

/// `GET /api/files/local/<path>`: a file, or a folder with its children.
pub async fn info(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesList>,
    Path(path): Path<String>,
    Query(query): Query<ListQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let files = app.jobs.files.clone();
    let recursive = query.recursive;
    let entry = blocking(move || {
        files.entry(&path, true).map(|mut e| {
            if !recursive {
                // A folder's direct children only, as OctoPrint without `recursive`.
                if let Some(children) = e.get_mut("children").and_then(Value::as_array_mut) {
                    for child in children {
                        if let Some(o) = child.as_object_mut() {
                            o.remove("children");
                        }
                    }
                }
            }
            e
        })
    })
    .await??;
    let mut entry = entry;
    absolute_refs(&mut entry, &base_url(&headers));
    Ok(Json(entry))
}

/// `DELETE /api/files/local/<path>`: a file, or a folder with what it holds.
pub async fn delete(
    State(app): State<Arc<App>>,
    _: Permitted<perm::FilesDelete>,
    Path(path): Path<String>,
) -> Result<StatusCode, ApiError> {
    let files = app.jobs.files.clone();
    blocking(move || match files.existing_file(&path) {
        Ok(file) => files.remove_file(&file),
        Err(_) => files.remove_folder(&path, true),
    })
    .await??;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/files/local/<name>`: OctoPrint's file commands.
///
/// - `{"command": "select", "print": bool}` selects a G-code file for
///   printing (and starts it);
/// - `{"command": "slice", "slicer": "<type>", "profile": "<name>",
///   "gcode": "<destination>", "position": {"x": …, "y": …}, "select": bool,
///   "print": bool}` slices a model file; answers 202 with the job, which
///   runs on (see `/api/slicing/jobs`);
/// - `{"command": "copy" | "move", "destination": "<folder or path>"}`;
/// - `{"command": "analyse"}` queues a G-code file for analysis again.
pub async fn command(
    State(app): State<Arc<App>>,
    Changing(caller): Changing,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
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
            let name = app.jobs.files.existing_file(&name)?;
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
            let source = app.jobs.files.existing_file(&name)?;
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
                printer_profile: text("printerProfile")?,
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
        Some(command @ ("copy" | "move")) => {
            need(&caller, "files_upload")?;
            if command == "move" {
                need(&caller, "files_delete")?;
            }
            let destination = text("destination")?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("`{command}` needs a `destination`"),
                )
            })?;
            let files = app.jobs.files.clone();
            let moved = command == "move";
            let how = match moved {
                true => Transfer::Move,
                false => Transfer::Copy,
            };
            let entry = blocking(move || {
                let path = files.transfer(&name, &destination, false, how)?;
                files.entry(&path, false)
            })
            .await??;
            let location = format!("/api/files/local/{}", entry["path"].as_str().unwrap_or(""));
            let mut entry = entry;
            absolute_refs(&mut entry, &base_url(&headers));
            let mut response = (StatusCode::CREATED, Json(entry)).into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Ok(response)
        }
        Some("analyse") => {
            need(&caller, "files_upload")?;
            let files = app.jobs.files.clone();
            blocking(move || files.analyse(&name)).await??;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command {other:?} (select, slice, copy, move or analyse)"),
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
    let name = app.jobs.files.existing_file(&name)?;
    let file = app
        .jobs
        .files
        .folder()
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
    let (_, base) = uploads::split_path(&name);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{base}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The upload limit from the config.
pub fn max_upload(app: &App) -> u64 {
    crate::config::host_settings::UPLOAD_MAX_BYTES.get(app.manager.config())
}
