//! The plugin manager over HTTP (the `plugin_manager` permission):
//! `GET /api/plugins` lists every plugin as `plinth plugins list --json` does,
//! with `pending_*`, `needs_restart`, `needs_refresh`, and what it adds
//! through hooks: `custom_events` and `permissions`;
//! `POST /api/plugins/<id>` with `{"command": "enable" | "disable" | "uninstall"}`,
//! or `{"command": "mode", "mode": "isolated" | "in_process"}` to choose where
//! it runs.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use plinth_abi::{json, Value};

use super::calls::call_plugin;
use super::extract::{perm, Permitted};
use super::{ApiError, App};
use crate::plugins::discover::Source;
use crate::plugins::manager::{ManagerError, NoPlugin};

/// Reload-needing plugins toggled since the server started: the page must reload.
#[derive(Default)]
pub struct Refresh(Mutex<BTreeSet<String>>);

fn listing(app: &App) -> Vec<Value> {
    let refresh = app.refresh.0.lock().unwrap().clone();
    let contributions = app.manager.contributions();
    app.manager
        .plugins()
        .into_iter()
        .map(|p| {
            let needs_restart = p.pending_enable || p.pending_disable || p.pending_uninstall;
            let needs_refresh = p.reload_needing && refresh.contains(&p.id);
            let mut v = serde_json::to_value(&p).expect("plugin info serialises");
            v["needs_restart"] = json!(needs_restart);
            v["needs_refresh"] = json!(needs_refresh);
            v["custom_events"] =
                json!(contributions.events.get(&p.id).cloned().unwrap_or_default());
            let permissions: Vec<_> = contributions
                .permissions
                .iter()
                .filter(|perm| perm.plugin == p.id)
                .collect();
            v["permissions"] = json!(permissions);
            v
        })
        .collect()
}

/// `GET /api/plugins`; `restart_needed` when plugins were installed since
/// the host started (they load at the next start).
pub async fn list(
    State(app): State<Arc<App>>,
    _: Permitted<perm::PluginManager>,
) -> Result<Json<Value>, ApiError> {
    let installed: Vec<String> = app.installed.0.lock().unwrap().iter().cloned().collect();
    let plugins = super::blocking(move || listing(&app)).await?;
    Ok(Json(json!({
        "plugins": plugins,
        "installed": installed,
        "restart_needed": !installed.is_empty(),
    })))
}

/// Plugins installed through the page since the host started.
#[derive(Default)]
pub struct Installed(Mutex<BTreeSet<String>>);

/// `POST /api/plugins`: installs a plugin library or plugin archive
/// uploaded as the multipart field `file` (a library named as the platform
/// names them, `lib<id>.so`; an archive `.zip`, `.tar.gz`, `.tgz` or
/// `.tar` holding the plugin's folder). The upload is checked and installed by `plinth plugins
/// install` in a process of its own (loading a library to check it runs
/// its code: never in the server's process); the plugin loads at the next
/// start. 201 with its identifier; 400 with the installer's reason.
pub async fn install(
    State(app): State<Arc<App>>,
    _: Permitted<perm::PluginManager>,
    mut form: axum::extract::Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let failed = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), format!("the upload failed: {}", e.body_text()))
    };
    while let Some(mut field) = form.next_field().await.map_err(failed)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_owned();
        let name = name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_owned();
        let as_path = std::path::Path::new(&name);
        let library = crate::paths::is_library_name(as_path)
            && crate::paths::check_id(&crate::paths::id_from_library(as_path)).is_ok();
        if !library && crate::plugins::archive::Format::of(as_path).is_none() {
            return Err(bad(format!(
                "{name:?} is not a plugin library of this system (lib<id>.{}) or a plugin archive (.zip, .tar.gz, .tgz, .tar)",
                crate::paths::LIB_EXT
            )));
        }
        // Streamed to a private temporary folder, never held in memory.
        let staging =
            tempfile::tempdir().map_err(|e| bad(format!("cannot stage the upload: {e}")))?;
        let file = staging.path().join(&name);
        let mut out = tokio::fs::File::create(&file)
            .await
            .map_err(|e| bad(format!("cannot stage the upload: {e}")))?;
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk)
                .await
                .map_err(|e| bad(format!("cannot stage the upload: {e}")))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut out)
            .await
            .map_err(|e| bad(format!("cannot stage the upload: {e}")))?;
        drop(out);
        let paths = app.manager.paths().clone();
        let answer = super::blocking(move || install_in_subprocess(&paths, &file)).await?;
        drop(staging);
        let id = answer.map_err(bad)?;
        app.installed.0.lock().unwrap().insert(id.clone());
        let output = format!("installed {id} from {name}; it loads at the next start of the host");
        tracing::info!("{output}");
        return Ok((
            StatusCode::CREATED,
            Json(json!({"id": id, "needs_restart": true, "output": output})),
        ));
    }
    Err(bad("the upload has no `file` field".into()))
}

/// How long the installer may take (checking a library runs its code).
const INSTALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `plinth plugins install` on the staged upload `file`, ended after
/// [`INSTALL_TIMEOUT`]; the plugin's identifier, or why it refused.
fn install_in_subprocess(
    paths: &crate::paths::Paths,
    file: &std::path::Path,
) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find plinth: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .arg("--basedir")
        .arg(&paths.basedir)
        .arg("--bundled-dir")
        .arg(&paths.bundled)
        .args(["plugins", "install", "--json"])
        .arg(file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the installer: {e}"))?;
    // Read both pipes while it runs: a library that prints a lot while it
    // loads must not stall the installer on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = std::io::Read::read_to_end(&mut pipe, &mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + INSTALL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the installer took more than {} s (the library's code hung) and was stopped",
                INSTALL_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let said = |t: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&t.join().unwrap_or_default())
            .trim()
            .to_owned()
    };
    let (out, err) = (said(stdout), said(stderr));
    if status.success() {
        // The answer is the last line: a library may print while it loads.
        out.lines()
            .last()
            .and_then(|line| serde_json::from_str::<Value>(line).ok())
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("the installer answered {out:?}"))
    } else {
        // Its error is its last `error:` line, after anything the library
        // printed.
        let line = err
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
            .or(err.lines().last())
            .unwrap_or("the installer failed without a word");
        Err(line.trim_start_matches("error: ").to_owned())
    }
}

/// A command of `POST /api/plugins/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Enable,
    Disable,
    Uninstall,
    Mode,
}

impl Command {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "enable" => Some(Command::Enable),
            "disable" => Some(Command::Disable),
            "uninstall" => Some(Command::Uninstall),
            "mode" => Some(Command::Mode),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Command::Enable => "enable",
            Command::Disable => "disable",
            Command::Uninstall => "uninstall",
            Command::Mode => "mode",
        }
    }
}

/// `POST /api/plugins/<id>`.
pub async fn command(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    _: Permitted<perm::PluginManager>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let data: Value = super::json_body(&body)?;
    let named = data
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let command = Command::parse(named);
    let info = app
        .manager
        .plugin(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, NoPlugin(id.clone()).to_string()))?;
    if command == Some(Command::Uninstall) && info.source == Source::Bundled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("`{id}` is a bundled plugin and cannot be uninstalled"),
        ));
    }
    let Some(command) = command else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown command {named:?}: use enable, disable, uninstall or mode"),
        ));
    };
    let plugin = id.clone();
    let toggled = match command {
        Command::Enable | Command::Disable => {
            let enable = command == Command::Enable;
            call_plugin(&app, &id, command.name(), move |pm| {
                pm.set_enabled(&plugin, enable)
            })
            .await?
        }
        Command::Uninstall => {
            call_plugin(&app, &id, command.name(), move |pm| pm.uninstall(&plugin)).await?
        }
        Command::Mode => return change_mode(&app, id, &data).await,
    };
    let toggle = toggled.map_err(|e| match e {
        ManagerError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        _ => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
    })?;
    if toggle.needs_refresh {
        app.refresh.0.lock().unwrap().insert(id.clone());
    }
    let plugin = entry(&app, id).await?;
    Ok(Json(json!({
        "id": toggle.id,
        "state": toggle.state,
        "needs_restart": toggle.needs_restart,
        "needs_refresh": toggle.needs_refresh,
        "plugin": plugin,
    })))
}

/// `{"command": "mode", "mode": "isolated" | "in_process"}`: where it runs.
async fn change_mode(app: &Arc<App>, id: String, data: &Value) -> Result<Json<Value>, ApiError> {
    let word = data.get("mode").and_then(Value::as_str).unwrap_or_default();
    let Some(mode) = crate::plugins::placement::Mode::parse(word) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("mode {word:?}: use isolated or in_process"),
        ));
    };
    let plugin = id.clone();
    let changed = call_plugin(app, &id, "mode", move |pm| pm.set_mode(&plugin, mode))
        .await?
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let plugin = entry(app, id).await?;
    Ok(Json(json!({
        "id": changed.id,
        "mode": changed.mode,
        "needs_restart": changed.needs_restart,
        "plugin": plugin,
    })))
}

/// Plugin `id`'s entry of the listing (asked off the async threads: it may
/// ask plugins what they contribute).
async fn entry(app: &Arc<App>, id: String) -> Result<Option<Value>, ApiError> {
    let app = app.clone();
    super::blocking(move || listing(&app).into_iter().find(|p| p["id"] == id.as_str())).await
}
