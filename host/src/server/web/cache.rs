//! The server-side cache of rendered pages (the default page and UiPlugin
//! responses), their ETag and Last-Modified, and the record of requests to
//! render again at the next start-up (preemptive caching).
//!
//! A cached page is served while its ETag still matches: the ETag hashes
//! Plinth's version, the host page's own files, the tracked files (path,
//! modification time and size of each) and the additional fields. Changing a
//! tracked file, or what the fields describe, makes a new ETag and a new
//! render. A request with `Cache-Control: no-cache` (or `Pragma: no-cache`),
//! or `?_refresh=true`, always renders afresh.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use plinth_abi::{Response, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A page's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Quoted, ready for the header.
    pub etag: String,
    pub last_modified: Option<SystemTime>,
}

/// What decides a page's validators.
#[derive(Debug, Default)]
pub struct StampInput<'a> {
    pub tracked: &'a [PathBuf],
    pub fields: &'a [String],
    /// Replaces the computed ETag (`get_ui_custom_etag`).
    pub custom_etag: Option<String>,
    /// Replaces the newest tracked modification time (`get_ui_custom_lastmodified`, seconds).
    pub custom_last_modified: Option<i64>,
}

/// A tracked file's modification time and size; `None` when it is gone.
///
/// A plugin library (tracked for the templates and assets compiled into
/// it) is looked at once: the host serves those from the copy it mapped at
/// load, which a file replaced on disk does not change before a restart, so
/// its first look stands for the process (and a cache hit is spared a
/// `stat` for each such plugin).
fn file_stamp(file: &Path) -> Option<(Option<SystemTime>, u64)> {
    type Seen = HashMap<PathBuf, Option<(Option<SystemTime>, u64)>>;
    static LIBRARIES: std::sync::LazyLock<Mutex<Seen>> = std::sync::LazyLock::new(Mutex::default);
    let look = || {
        std::fs::metadata(file)
            .ok()
            .map(|meta| (meta.modified().ok(), meta.len()))
    };
    let library = file.extension().is_some_and(|e| e == crate::LIB_EXT);
    if !library {
        return look();
    }
    *LIBRARIES
        .lock()
        .unwrap()
        .entry(file.to_path_buf())
        .or_insert_with(look)
}

/// Computes the ETag and Last-Modified of a page.
pub fn stamp(input: &StampInput<'_>) -> Stamp {
    // Plinth's version and the host page's own files, hashed once.
    static HOST_PAGE: std::sync::LazyLock<Sha256> = std::sync::LazyLock::new(|| {
        let mut hash = Sha256::new();
        hash.update(env!("CARGO_PKG_VERSION"));
        hash.update(super::render::INDEX);
        hash.update(super::statics::PLINTH_JS);
        hash.update(super::statics::PLINTH_CSS);
        hash
    });
    let mut newest: Option<SystemTime> = None;
    let mut hash = HOST_PAGE.clone();
    for file in input.tracked {
        hash.update(file.as_os_str().as_encoded_bytes());
        match file_stamp(file) {
            Some((modified, len)) => {
                if let Some(m) = modified {
                    newest = Some(newest.map_or(m, |n| n.max(m)));
                }
                let nanos = modified
                    .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                hash.update(b":");
                hash.update(nanos.to_le_bytes());
                hash.update(len.to_le_bytes());
            }
            None => hash.update(":missing"),
        }
        hash.update(b"\n");
    }
    for field in input.fields {
        hash.update(field.as_bytes());
        hash.update("\n");
    }
    let last_modified = match input.custom_last_modified {
        Some(secs) => u64::try_from(secs)
            .ok()
            .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s)),
        None => newest,
    };
    let etag = match &input.custom_etag {
        Some(custom) => format!("\"{}\"", custom.replace(['"', '\\', '\r', '\n'], "")),
        None => {
            let digest = hash.finalize();
            let hex = hex::encode(&digest[..16]);
            format!("\"{hex}\"")
        }
    };
    Stamp {
        etag,
        last_modified,
    }
}

/// A page as the cache keeps it: every hit shares the body, none copies it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The status code.
    pub status: u16,
    /// The headers the renderer or the UiPlugin set.
    pub headers: BTreeMap<String, String>,
    /// The HTML.
    pub body: axum::body::Bytes,
}

impl From<Response> for Page {
    fn from(response: Response) -> Self {
        Self {
            status: response.status,
            headers: response.headers,
            body: response.body.into(),
        }
    }
}

/// The cache: one page per key, with the ETag it was rendered under.
#[derive(Default)]
pub struct PageCache {
    pages: Mutex<HashMap<String, (String, Page)>>,
}

impl PageCache {
    /// The page cached under `key` for ETag `etag`, if any.
    pub fn get(&self, key: &str, etag: &str) -> Option<Page> {
        let pages = self.pages.lock().unwrap();
        pages
            .get(key)
            .filter(|(e, _)| e == etag)
            .map(|(_, page)| page.clone())
    }

    /// Keeps `page` under `key` for ETag `etag`. Beyond [`MAX_PAGES`] keys,
    /// an arbitrary other page makes room.
    pub fn put(&self, key: String, etag: String, page: Page) {
        let mut pages = self.pages.lock().unwrap();
        if pages.len() >= MAX_PAGES && !pages.contains_key(&key) {
            if let Some(victim) = pages.keys().next().cloned() {
                pages.remove(&victim);
            }
        }
        pages.insert(key, (etag, page));
    }
}

/// A request recorded for preemptive caching: rendered again at start-up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// The UiPlugin that answered, or `_default` for the default page.
    pub plugin: String,
    pub path: String,
    /// Request headers that decide the page (`user-agent`, and what the
    /// plugin's `get_ui_additional_request_data_for_preemptive_caching` adds).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What the plugin's `get_ui_data_for_preemptive_caching` returned (as JSON text).
    #[serde(default)]
    pub data: String,
}

/// The recorded requests, kept in `<basedir>/data/preemptive_cache.json`.
pub struct RecordedRequests {
    path: PathBuf,
    lock: Mutex<()>,
}

impl RecordedRequests {
    pub fn new(basedir: &Path) -> Self {
        Self {
            path: basedir.join("data").join("preemptive_cache.json"),
            lock: Mutex::new(()),
        }
    }

    /// Every record; a missing file is none, an unreadable one is logged and none.
    pub fn all(&self) -> Vec<RecordedRequest> {
        let _guard = self.lock.lock().unwrap();
        self.read()
    }

    fn read(&self) -> Vec<RecordedRequest> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "{}: not a list of preemptive cache records ({e}); ignored",
                    self.path.display()
                );
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!("{}: cannot read: {e}", self.path.display());
                Vec::new()
            }
        }
    }

    /// Adds a record unless it is there already. Records of the same plugin
    /// and path replace each other only when everything matches; at most
    /// [`MAX_RECORDS`] are kept (the oldest go first).
    pub fn add(&self, record: RecordedRequest) {
        let _guard = self.lock.lock().unwrap();
        let mut all = self.read();
        if all.contains(&record) {
            return;
        }
        all.push(record);
        if all.len() > MAX_RECORDS {
            let excess = all.len() - MAX_RECORDS;
            all.drain(..excess);
        }
        let text = serde_json::to_vec_pretty(&all).expect("records serialise");
        if let Some(parent) = self.path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = crate::disk::write_atomic(&self.path, &text) {
            tracing::warn!("{}: cannot write: {e}", self.path.display());
        }
    }
}

/// How many pages the cache holds at most.
pub const MAX_PAGES: usize = 64;

/// How many requests are recorded for preemptive caching at most.
pub const MAX_RECORDS: usize = 32;

/// A JSON object's string values as headers (lower-case names).
pub fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_library_is_looked_at_once_other_files_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join(format!("libx.{}", crate::LIB_EXT));
        let template = dir.path().join("x.jinja2");
        for file in [&library, &template] {
            std::fs::write(file, "one").unwrap();
        }
        let stamp_of = |file: &PathBuf| {
            stamp(&StampInput {
                tracked: std::slice::from_ref(file),
                ..Default::default()
            })
        };
        let (lib_before, tpl_before) = (stamp_of(&library), stamp_of(&template));
        for file in [&library, &template] {
            std::fs::write(file, "a longer content").unwrap();
        }
        assert_eq!(stamp_of(&library), lib_before, "the mapped copy is served");
        assert_ne!(stamp_of(&template), tpl_before);
    }

    #[test]
    fn a_changed_file_changes_the_etag_and_last_modified() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a_tab.jinja2");
        std::fs::write(&file, "one").unwrap();
        let tracked = vec![file.clone()];
        let input = StampInput {
            tracked: &tracked,
            ..Default::default()
        };
        let first = stamp(&input);
        assert_eq!(first, stamp(&input), "stable while nothing changes");
        assert!(first.last_modified.is_some());
        std::fs::write(&file, "two, longer").unwrap();
        assert_ne!(first.etag, stamp(&input).etag);
    }

    #[test]
    fn fields_and_custom_values_count() {
        let fields = vec!["wizard:x:Some(1)".to_owned()];
        let plain = stamp(&StampInput::default());
        let with_fields = stamp(&StampInput {
            fields: &fields,
            ..Default::default()
        });
        assert_ne!(plain.etag, with_fields.etag);
        let custom = stamp(&StampInput {
            custom_etag: Some("v\"1".into()),
            custom_last_modified: Some(1_000),
            ..Default::default()
        });
        assert_eq!(custom.etag, "\"v1\"");
        assert_eq!(
            custom.last_modified,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000))
        );
    }

    #[test]
    fn records_are_kept_once_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordedRequests::new(dir.path());
        assert!(records.all().is_empty());
        let record = |path: &str| RecordedRequest {
            plugin: "_default".into(),
            path: path.into(),
            headers: BTreeMap::new(),
            data: String::new(),
        };
        records.add(record("/"));
        records.add(record("/"));
        assert_eq!(records.all(), vec![record("/")]);
        for i in 0..MAX_RECORDS + 5 {
            records.add(record(&format!("/{i}")));
        }
        let all = records.all();
        assert_eq!(all.len(), MAX_RECORDS);
        assert_eq!(all.last().unwrap().path, format!("/{}", MAX_RECORDS + 4));
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = PageCache::default();
        let page = Page::from(Response::html("x"));
        for i in 0..MAX_PAGES * 2 {
            cache.put(format!("k{i}"), "\"e\"".into(), page.clone());
        }
        assert_eq!(cache.pages.lock().unwrap().len(), MAX_PAGES);
        let last = format!("k{}", MAX_PAGES * 2 - 1);
        assert!(
            cache.get(&last, "\"e\"").is_some(),
            "the newest page is kept"
        );
        assert!(
            cache.get(&last, "\"other\"").is_none(),
            "a stale ETag misses"
        );
    }

    #[test]
    fn a_broken_record_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let records = RecordedRequests::new(dir.path());
        std::fs::create_dir_all(records.path.parent().unwrap()).unwrap();
        std::fs::write(&records.path, "{not json").unwrap();
        assert!(records.all().is_empty());
    }
}
