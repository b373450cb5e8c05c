//! `/plugin/<id>/static/<path>`: a plugin's static files, public, from its
//! asset folder or compiled into its library, with ETag and Last-Modified.
//!
//! The path is checked segment by segment on the raw request path: `..`,
//! `.`, empty segments, encoded slashes or backslashes, and files that lead
//! outside the folder (symlinks) are all 404.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use plinth_abi::methods::plugin as m;
use sha2::{Digest, Sha256};

use super::App;
use crate::plugins::state::State as PluginState;
use plinth_abi::Mixin;

/// Serves one static file of an enabled plugin.
pub async fn static_file(app: Arc<App>, id: String, uri: &Uri, headers: &HeaderMap) -> Response {
    let prefix = format!("/plugin/{id}/static/");
    let Some(raw) = uri.path().strip_prefix(&prefix) else {
        return not_found();
    };
    let Some(rel) = safe_relative(raw) else {
        return not_found();
    };
    let manager = app.manager.clone();
    let found = tokio::task::spawn_blocking(move || find(&manager, &id, &rel)).await;
    match found {
        Ok(Some(asset)) => asset.respond(headers),
        _ => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The decoded segments of a request path below the static folder, or `None`
/// when any of them could lead elsewhere.
pub(crate) fn safe_relative(raw: &str) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for segment in raw.split('/') {
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        let bad = decoded.is_empty()
            || decoded == "."
            || decoded == ".."
            || decoded.contains(['/', '\\', '\0'])
            || (cfg!(windows) && decoded.contains(':'));
        if bad {
            return None;
        }
        rel.push(decoded.as_ref());
    }
    Some(rel)
}

pub(crate) struct Asset {
    pub bytes: Vec<u8>,
    pub modified: Option<SystemTime>,
    pub etag: String,
    /// The file name, for the content type.
    pub name: PathBuf,
}

/// A plugin's asset folder: `get_asset_folder` for an AssetPlugin, else (or
/// when it says none) the default `static/` folder.
pub(crate) fn asset_folder(
    manager: &crate::PluginManager,
    info: &crate::PluginInfo,
) -> Option<PathBuf> {
    configured_folder::<m::GetAssetFolder>(manager, info, Mixin::Asset)
        .or_else(|| default_folder(info, "static"))
}

/// A plugin's template folder: `get_template_folder` for a TemplatePlugin,
/// else (or when it says none) the default `templates/` folder.
pub(crate) fn template_folder(
    manager: &crate::PluginManager,
    info: &crate::PluginInfo,
) -> Option<PathBuf> {
    configured_folder::<m::GetTemplateFolder>(manager, info, Mixin::Template)
        .or_else(|| default_folder(info, "templates"))
}

/// The folder the plugin's method `M` names (`get_asset_folder`,
/// `get_template_folder`) when it has `mixin`; a relative path is taken
/// from its base folder, as a blueprint's `get_blueprint_kwargs` folders are.
pub(crate) fn configured_folder<M>(
    manager: &crate::PluginManager,
    info: &crate::PluginInfo,
    mixin: Mixin,
) -> Option<PathBuf>
where
    M: plinth_abi::Method<Args = (), Output = Option<String>>,
{
    if !info.has(mixin) {
        return None;
    }
    let folder = manager.call::<M>(&info.id, &()).ok().flatten()?;
    Some(info.base_folder.join(folder))
}

/// Looks the file up in the plugin's asset folder, then among its embedded files.
pub(crate) fn find(manager: &crate::PluginManager, id: &str, rel: &Path) -> Option<Asset> {
    let info = manager
        .plugin(id)
        .filter(|p| p.state == PluginState::Enabled)?;
    if let Some(asset) = asset_folder(manager, &info).and_then(|f| from_folder(&f, rel)) {
        return Some(asset);
    }
    let key = format!("static/{}", rel.to_string_lossy().replace('\\', "/"));
    let bytes = manager.embedded_file(id, &key)?.to_vec();
    let modified = std::fs::metadata(&info.path)
        .and_then(|m| m.modified())
        .ok();
    Some(Asset::from_bytes(&key, bytes, modified))
}

/// A plugin's default folder `sub` (`static`, `templates`): a plugin in its own
/// folder (or registered from one) has it beside its library; a single library
/// file has only what is compiled into it.
pub(crate) fn default_folder(info: &crate::PluginInfo, sub: &str) -> Option<PathBuf> {
    let own_folder =
        info.path == info.base_folder || info.source == crate::plugins::discover::Source::Manifest;
    own_folder.then(|| info.base_folder.join(sub))
}

/// The file `rel` below `folder`, symlinks resolved, if it exists and stays
/// within the folder.
pub(crate) fn file_within(folder: &Path, rel: &Path) -> Option<PathBuf> {
    let root = std::fs::canonicalize(folder).ok()?;
    let file = std::fs::canonicalize(root.join(rel)).ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

pub(crate) fn from_folder(folder: &Path, rel: &Path) -> Option<Asset> {
    let file = file_within(folder, rel)?;
    let meta = std::fs::metadata(&file).ok()?;
    let modified = meta.modified().ok();
    let stamp = modified
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{stamp:x}-{:x}\"", meta.len());
    Some(Asset {
        bytes: std::fs::read(&file).ok()?,
        modified,
        etag,
        name: rel.to_path_buf(),
    })
}

/// Whether the request's `If-None-Match` names `etag` (or `*`); `None` when
/// the request has no `If-None-Match`.
pub(crate) fn if_none_match(request: &HeaderMap, etag: &str) -> Option<bool> {
    let tags = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())?;
    Some(
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*"),
    )
}

impl Asset {
    /// A file held in memory, its ETag a hash of its bytes.
    pub fn from_bytes(name: &str, bytes: Vec<u8>, modified: Option<SystemTime>) -> Self {
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..12]));
        Self {
            bytes,
            modified,
            etag,
            name: PathBuf::from(name),
        }
    }

    /// 200 with the file, or 304 when the request's validators match.
    pub fn respond(self, request: &HeaderMap) -> Response {
        let mime = mime_guess::from_path(&self.name).first_or_octet_stream();
        let mut content_type = mime.essence_str().to_owned();
        if mime.type_() == "text" || content_type == "application/javascript" {
            content_type.push_str("; charset=utf-8");
        }
        let last_modified = self.modified.map(httpdate::fmt_http_date);
        let not_modified = match if_none_match(request, &self.etag) {
            Some(matched) => matched,
            None => {
                let since = request
                    .get(header::IF_MODIFIED_SINCE)
                    .and_then(|v| v.to_str().ok());
                match (
                    since.and_then(|s| httpdate::parse_http_date(s).ok()),
                    self.modified,
                ) {
                    (Some(since), Some(modified)) => modified
                        .duration_since(since)
                        .map_or(true, |d| d.as_secs() == 0),
                    _ => false,
                }
            }
        };
        let mut headers = HeaderMap::new();
        let mut put = |name, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        put(header::ETAG, &self.etag);
        if let Some(lm) = &last_modified {
            put(header::LAST_MODIFIED, lm);
        }
        put(header::CACHE_CONTROL, "no-cache");
        if not_modified {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        put(header::CONTENT_TYPE, &content_type);
        (StatusCode::OK, headers, self.bytes).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn escapes_are_refused() {
        assert!(safe_relative("js/app.js").is_some());
        assert!(safe_relative("my%20file.css").is_some());
        for bad in [
            "../x", "a/../b", "%2e%2e/x", "%2E%2E", "a%2fb", "a%5cb", "", "a//b", "./a", "a/",
            "%00",
        ] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
