//! `<basedir>/config.yaml`: the host's settings and every plugin's, in one
//! human-editable file that is never lost.
//!
//! - A file that does not parse is never overwritten; the error names the
//!   file, the line and the problem.
//! - Writes are serialised between threads (a mutex) and between processes (an
//!   exclusive lock on `config.yaml.lock`), and atomic: a temporary file in the
//!   same folder, fsync, rename, fsync of the folder. The saved text is also
//!   kept as `config.yaml.bak`.
//! - Reads show the file as it is on disk: when another process (`plinth
//!   config set`, an editor) changed it, it is read again first, with the
//!   changes not saved yet applied on top.
//! - Changes are kept as a list of operations until saved; when another
//!   process changed the file in between, they are applied to its new content
//!   instead of overwriting it. Every change is kept, even one that sets what
//!   is already there, so a save that returns has put every value it was
//!   given on disk, whatever another process wrote meanwhile; a save that
//!   would change nothing writes nothing.
//! - A save that finds its changes already written by a concurrent save returns
//!   at once (group commit).
//!
//! Plugins' own keys live under `plugins.<id>`; the host's keys under `plugins`
//! start with `_`: `_disabled`, `_blocklist`, `_sortingOrder`. Plugin overlays
//! (defaults a plugin ships for other parts of the config) sit under the file's content.

mod error;
mod format;
pub mod host_settings;
pub mod plugin_settings;
pub mod restrict;
pub mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::disk::{fault_point, remove_stale_temporaries, write_atomic, write_atomic_with};
pub use format::{check, parse};
use format::{check_doc, parse_blocklist, read, sibling, stamp, string_list, Stamp};

pub use error::{Change, ConfigError, Problem, SaveStep};

/// One blocklist entry: a plugin, optionally only in a version range.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEntry {
    pub id: String,
    pub versions: Option<semver::VersionReq>,
}

impl BlockEntry {
    /// Whether the entry blocks `id` at `version`. A range never matches a version that is not semver.
    pub fn blocks(&self, id: &str, version: &str) -> bool {
        self.id == id
            && match &self.versions {
                None => true,
                Some(req) => semver::Version::parse(version).is_ok_and(|v| req.matches(&v)),
            }
    }
}

/// One change, kept until saved and re-applied on top of the file when
/// another process wrote it meanwhile. Changes are as small as possible
/// (single keys, single list items) so that such merges keep both sides.
enum Op {
    Set(Vec<String>, Value),
    Remove(Vec<String>),
    ListAdd(Vec<String>, Value),
    ListRemove(Vec<String>, Value),
}

impl Op {
    fn apply(&self, doc: &mut Value) {
        match self {
            Op::Set(path, value) => values::set(doc, path, value.clone()),
            Op::Remove(path) => {
                values::remove(doc, path);
            }
            Op::ListAdd(path, item) => {
                let mut list = match values::get(doc, path) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                if !list.contains(item) {
                    list.push(item.clone());
                }
                values::set(doc, path, Value::Array(list));
            }
            Op::ListRemove(path, item) => {
                if let Some(Value::Array(items)) = values::get(doc, path) {
                    let list: Vec<Value> = items.iter().filter(|i| *i != item).cloned().collect();
                    values::set(doc, path, Value::Array(list));
                }
            }
        }
    }
}

/// The single-key changes that turn `current` (at `path`) into `new`.
fn leaf_ops(current: Option<&Value>, path: Vec<String>, new: &Value, out: &mut Vec<Op>) {
    match (current, new) {
        (Some(Value::Object(cur)), Value::Object(next)) if !next.is_empty() => {
            for key in cur.keys().filter(|k| !next.contains_key(*k)) {
                out.push(Op::Remove([path.clone(), vec![key.clone()]].concat()));
            }
            for (key, value) in next {
                leaf_ops(
                    cur.get(key),
                    [path.clone(), vec![key.clone()]].concat(),
                    value,
                    out,
                );
            }
        }
        _ => out.push(Op::Set(path, new.clone())),
    }
}

struct State {
    /// The content as last read from or written to disk.
    base: Value,
    /// `base` with the pending operations applied: what readers see.
    doc: Value,
    pending: Vec<(u64, Op)>,
    last_gen: u64,
    saved_gen: u64,
    stamp: Option<Stamp>,
    /// The stamp of a changed file that did not load (reported once).
    refused: Option<Stamp>,
    overlays: Vec<(String, Value)>,
    /// Counts every change of what readers see (a change, a reload, overlays).
    revision: u64,
    /// Open [`Held`] guards; while there are any, reads look at the file
    /// once (`looked`) rather than each time.
    held: usize,
    looked: bool,
}

/// The config file and its unsaved changes; shared by everything in the process.
pub struct ConfigStore {
    path: PathBuf,
    state: Mutex<State>,
    writer: Mutex<()>,
}

/// While it lives, reads of the config (on every thread) look at the file
/// once, not at each read: start-up asks it thousands of questions (about
/// eleven for each plugin) before the server answers anyone, and a `stat`
/// for each was a tenth of a start with a thousand plugins. Changes and
/// saves still look at the file first, so none is made against a stale
/// copy.
#[must_use = "the config is held only while the guard lives"]
pub struct Held<'a>(&'a ConfigStore);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap();
        state.held -= 1;
        if state.held == 0 {
            state.looked = false;
        }
    }
}

impl ConfigStore {
    /// Reads and checks the config; a missing file is an empty config.
    pub fn open(path: &Path) -> Result<Arc<Self>, ConfigError> {
        let (base, stamp) = match read(path)? {
            Some((doc, stamp)) => (doc, stamp),
            None => (Value::Object(Map::new()), None),
        };
        let state = State {
            doc: base.clone(),
            base,
            pending: Vec::new(),
            last_gen: 0,
            saved_gen: 0,
            stamp,
            refused: None,
            overlays: Vec::new(),
            revision: 0,
            held: 0,
            looked: false,
        };
        Ok(Arc::new(Self {
            path: path.to_path_buf(),
            state: Mutex::new(state),
            writer: Mutex::new(()),
        }))
    }

    /// Looks at the file once until the guard is dropped (see [`Held`]).
    pub fn hold(&self) -> Held<'_> {
        self.state.lock().unwrap().held += 1;
        Held(self)
    }

    /// The file this config lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The state, first brought up to date with the file when another
    /// process changed it since it was last read or written.
    fn fresh(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap();
        if state.held > 0 {
            if state.looked {
                return state;
            }
            state.looked = true;
        }
        self.catch_up(&mut state);
        state
    }

    /// The state brought up to date with the file whether held or not: what
    /// a change is made against.
    fn fresh_for_change(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap();
        self.catch_up(&mut state);
        state
    }

    /// Reads the file again if another process changed it.
    fn catch_up(&self, state: &mut State) {
        let disk = stamp(&self.path);
        if disk != state.stamp && disk != state.refused {
            if let Err(e) = self.reload(state) {
                // Keep what was read last; a save refuses to write over it.
                tracing::warn!("{e}; going on with the settings read before");
                state.refused = disk;
            }
        }
    }

    /// Reads the file again and applies the changes not saved yet on top.
    fn reload(&self, state: &mut State) -> Result<(), ConfigError> {
        let (base, stamp) = read(&self.path)?.unwrap_or((Value::Object(Map::new()), None));
        let mut doc = base.clone();
        for (_, op) in &state.pending {
            op.apply(&mut doc);
        }
        state.base = base;
        state.doc = doc;
        state.stamp = stamp;
        state.refused = None;
        state.revision += 1;
        Ok(())
    }

    /// The value at `path` in the file's content (with unsaved changes), without overlays.
    pub fn get(&self, path: &[String]) -> Option<Value> {
        values::get(&self.fresh().doc, path).cloned()
    }

    /// The value at `path` with the plugins' overlays underneath.
    pub fn effective(&self, path: &[String]) -> Option<Value> {
        let under = self.overlays_at(path);
        let own = self.get(path);
        match (under, own) {
            (Some(under), Some(own)) => Some(values::merge(&under, &own)),
            (under, own) => own.or(under),
        }
    }

    /// The overlays' value at `path`, merged in plugin order (the file not included).
    pub fn overlays_at(&self, path: &[String]) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state
            .overlays
            .iter()
            .filter_map(|(_, o)| values::get(o, path))
            .fold(None, |under, layer| {
                Some(match under {
                    Some(under) => values::merge(&under, layer),
                    None => layer.clone(),
                })
            })
    }

    /// The whole content (with unsaved changes), without overlays.
    pub fn snapshot(&self) -> Value {
        self.fresh().doc.clone()
    }

    /// Hashes of the file's content and of the content over the plugins'
    /// overlays (OctoPrint's `config_hash` and `effective_hash`): clients
    /// compare them to learn that the settings changed.
    pub fn hashes(&self) -> (String, String) {
        use sha2::{Digest, Sha256};
        let state = self.fresh();
        let effective = state
            .overlays
            .iter()
            .map(|(_, o)| o)
            .chain(std::iter::once(&state.doc))
            .fold(Value::Object(Map::new()), |under, layer| {
                values::merge(&under, layer)
            });
        let hash = |v: &Value| {
            let digest = Sha256::digest(serde_json::to_vec(v).expect("JSON values encode"));
            hex::encode(digest)
        };
        (hash(&state.doc), hash(&effective))
    }

    /// Sets `path` to `value` (not saved until [`save`](Self::save)). Refused when
    /// it would give a part Plinth reads the wrong type.
    /// A value that equals what is there changes nothing (and writes nothing).
    pub fn set(&self, path: Vec<String>, value: Value) -> Result<(), ConfigError> {
        let mut state = self.fresh_for_change();
        if let Some(blocker) = values::blocked(&state.doc, &path) {
            return Err(ConfigError::NotAMapping {
                change: Change::Set,
                key: path,
                blocker,
            });
        }
        let mut ops = Vec::new();
        leaf_ops(
            values::get(&state.doc, &path),
            path.clone(),
            &value,
            &mut ops,
        );
        let mut doc = state.doc.clone();
        ops.iter().for_each(|op| op.apply(&mut doc));
        if let Err(problem) = check_doc(&doc) {
            return Err(ConfigError::WrongType { key: path, problem });
        }
        if let Err(error) = crate::config::host_settings::check_change(&path, &doc) {
            return Err(ConfigError::HostKey {
                key: path,
                error: Box::new(error),
            });
        }
        state.doc = doc;
        Self::record(&mut state, ops);
        Ok(())
    }

    fn record(state: &mut State, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        state.last_gen += 1;
        state.revision += 1;
        let gen = state.last_gen;
        state.pending.extend(ops.into_iter().map(|op| (gen, op)));
    }

    /// Removes `path` and the objects it leaves empty (not saved until [`save`](Self::save)).
    /// Removing what is not there changes nothing.
    pub fn remove(&self, path: Vec<String>) -> Result<(), ConfigError> {
        let mut state = self.fresh_for_change();
        if let Some(blocker) = values::blocked(&state.doc, &path) {
            return Err(ConfigError::NotAMapping {
                change: Change::Remove,
                key: path,
                blocker,
            });
        }
        let op = Op::Remove(path);
        op.apply(&mut state.doc);
        Self::record(&mut state, vec![op]);
        Ok(())
    }

    /// Adds `item` to the list at `path` (or takes it out), as a change of its own.
    pub fn list_change(
        &self,
        path: Vec<String>,
        item: Value,
        add: bool,
    ) -> Result<(), ConfigError> {
        let mut state = self.fresh_for_change();
        let op = if add {
            Op::ListAdd(path, item)
        } else {
            Op::ListRemove(path, item)
        };
        let mut doc = state.doc.clone();
        op.apply(&mut doc);
        check_doc(&doc).map_err(|problem| ConfigError::ListChange { problem })?;
        state.doc = doc;
        Self::record(&mut state, vec![op]);
        Ok(())
    }

    /// Plugin overlays, in plugin order: defaults for other parts of the config.
    pub fn set_overlays(&self, overlays: Vec<(String, Value)>) {
        let mut state = self.state.lock().unwrap();
        state.overlays = overlays;
        state.revision += 1;
    }

    /// A number that changes whenever what readers see changes (a change,
    /// the file changed on disk, overlays): what caches of derived values
    /// compare.
    pub fn revision(&self) -> u64 {
        self.fresh().revision
    }

    /// Writes every change made so far to disk. Returns once they are there.
    pub fn save(&self) -> Result<(), ConfigError> {
        let wanted = self.state.lock().unwrap().last_gen;
        let _writer = self.writer.lock().unwrap();
        if self.state.lock().unwrap().saved_gen >= wanted {
            return Ok(()); // Written by a save that ran while we waited.
        }
        let err = |step: SaveStep| {
            move |error| ConfigError::Save {
                path: self.path.clone(),
                step,
                error,
            }
        };
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(err(SaveStep::CreateFolder))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(err(SaveStep::OpenLock))?;
        lock.lock().map_err(err(SaveStep::Lock))?;
        remove_stale_temporaries(&self.path);

        // Another process wrote the file since we read it: apply our changes to its content.
        let disk = stamp(&self.path);
        let (doc, gen) = {
            let mut state = self.state.lock().unwrap();
            if disk != state.stamp {
                self.reload(&mut state)
                    .map_err(|e| ConfigError::ChangedElsewhere(Box::new(e)))?;
            }
            (state.doc.clone(), state.last_gen)
        };
        // The file on disk is `base` (its stamp was checked under the lock): a
        // save that changes nothing writes nothing, so comments survive.
        let unchanged = doc == self.state.lock().unwrap().base;
        if !unchanged {
            let text = yaml_serde::to_string(&doc).map_err(|error| ConfigError::Serialise {
                path: self.path.clone(),
                error,
            })?;
            // Never write a file that would not load again.
            parse(&self.path, &text).map_err(|e| ConfigError::WouldNotLoad(Box::new(e)))?;
            self.keep_backup();
            write_atomic_with(&self.path, text.as_bytes(), fault_point)
                .map_err(err(SaveStep::Write))?;
        }
        let mut state = self.state.lock().unwrap();
        state.base = doc;
        state.pending.retain(|(g, _)| *g > gen);
        state.saved_gen = gen;
        state.stamp = stamp(&self.path);
        drop(lock);
        Ok(())
    }

    /// Copies the file about to be replaced to `config.yaml.bak`, if it is a
    /// good config: one that loads and is not empty (called with the lock held).
    fn keep_backup(&self) {
        let Ok(text) = fs::read_to_string(&self.path) else {
            return;
        };
        if text.trim().is_empty() || parse(&self.path, &text).is_err() {
            return;
        }
        if let Err(e) = write_atomic(&self.backup_path(), text.as_bytes()) {
            tracing::warn!("cannot keep {}: {e}", self.backup_path().display());
        }
    }

    fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// `config.yaml.bak`: the config as it was before the last successful save
    /// (the last good one: a file that did not load, or was empty, is never kept).
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".bak")
    }

    /// `plugins._disabled` (the file's, plus those of overlays).
    pub fn disabled(&self) -> Result<Vec<String>, ConfigError> {
        let mut out = BTreeSet::new();
        let state = self.fresh();
        let layers = state
            .overlays
            .iter()
            .map(|(_, o)| o)
            .chain(std::iter::once(&state.doc));
        for layer in layers {
            if let Some(v) = values::get(layer, &key_path(&["plugins", "_disabled"])) {
                out.extend(string_list(v).ok_or_else(|| {
                    self.entry_error(Problem::new(
                        key_path(&["plugins", "_disabled"]),
                        "must be a list of plugin identifiers",
                    ))
                })?);
            }
        }
        Ok(out.into_iter().collect())
    }

    /// Replaces the file's `plugins._disabled`.
    pub fn set_disabled(&self, id: &str, disabled: bool) -> Result<(), ConfigError> {
        self.list_change(
            key_path(&["plugins", "_disabled"]),
            Value::from(id),
            disabled,
        )
    }

    /// The plugin whose overlay disables `id`, if one does.
    pub fn disabled_by_overlay(&self, id: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let path = key_path(&["plugins", "_disabled"]);
        state
            .overlays
            .iter()
            .find_map(|(owner, overlay)| match values::get(overlay, &path) {
                Some(Value::Array(items)) if items.iter().any(|i| i == id) => Some(owner.clone()),
                _ => None,
            })
    }

    fn entry_error(&self, problem: Problem) -> ConfigError {
        ConfigError::Entry {
            path: self.path.clone(),
            problem,
        }
    }

    /// `plugins._blocklist`: entries `id` or `{id: …, version: "<semver range>"}`.
    pub fn blocklist(&self) -> Result<Vec<BlockEntry>, ConfigError> {
        let list = self.effective(&key_path(&["plugins", "_blocklist"]));
        parse_blocklist(list.as_ref()).map_err(|problem| self.entry_error(problem))
    }

    /// `plugins._sortingOrder`: `{id: {context: key}}` overrides.
    pub fn sorting_order(&self) -> Result<BTreeMap<String, BTreeMap<String, i64>>, ConfigError> {
        match self.effective(&key_path(&["plugins", "_sortingOrder"])) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                self.entry_error(Problem::new(
                    key_path(&["plugins", "_sortingOrder"]),
                    format!("must map identifiers to {{context: integer}}: {e}"),
                ))
            }),
        }
    }
}

/// A path from literal keys.
pub fn key_path(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// A store over a config file holding `yaml`, in a folder of its own (for tests).
#[cfg(test)]
pub(crate) fn test_store(yaml: &str) -> (tempfile::TempDir, Arc<ConfigStore>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let store = ConfigStore::open(&path).unwrap();
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(text: &str) -> (tempfile::TempDir, Result<Arc<ConfigStore>, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        fs::write(&path, text).unwrap();
        let c = ConfigStore::open(&path);
        (dir, c)
    }

    #[test]
    fn the_revision_changes_with_every_change_readers_see() {
        let (dir, c) = store("server: {}\n");
        let c = c.unwrap();
        let r0 = c.revision();
        assert_eq!(c.revision(), r0, "reading changes nothing");
        c.set(key_path(&["plugins", "x", "a"]), json!(1)).unwrap();
        let r1 = c.revision();
        assert_ne!(r1, r0);
        c.save().unwrap();
        assert_eq!(c.revision(), r1, "saving changes nothing readers see");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.path().join("config.yaml"), "plugins:\n  x:\n    a: 2\n").unwrap();
        let r2 = c.revision();
        assert_ne!(r2, r1, "another process changed the file");
        c.set_overlays(vec![("o".into(), json!({}))]);
        assert_ne!(c.revision(), r2);
    }

    #[test]
    fn a_held_store_looks_at_the_file_once_and_saves_merge_what_it_missed() {
        let (dir, c) = store("plugins:\n  x:\n    a: 1\n");
        let c = c.unwrap();
        let a = key_path(&["plugins", "x", "a"]);
        let file = dir.path().join("config.yaml");
        let held = c.hold();
        assert_eq!(c.get(&a), Some(json!(1)));
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&file, "plugins:\n  x:\n    a: 2\n    b: 3\n").unwrap();
        assert_eq!(
            c.get(&a),
            Some(json!(1)),
            "held: the file was looked at once"
        );
        // A change while held is made against the file as it is now, and
        // its save applies it to what is on disk.
        c.set(key_path(&["plugins", "x", "c"]), json!(4)).unwrap();
        assert_eq!(
            c.get(&a),
            Some(json!(2)),
            "the change caught up with the file"
        );
        c.save().unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains("b: 3") && text.contains("c: 4"), "{text}");
        // Guards overlap, on any thread; reads look again once all are gone.
        std::thread::scope(|s| {
            s.spawn(|| drop(c.hold()));
        });
        drop(held);
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&file, "plugins:\n  x:\n    a: 5\n").unwrap();
        assert_eq!(
            c.get(&a),
            Some(json!(5)),
            "released: every read looks again"
        );
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = ConfigStore::open(&dir.path().join("config.yaml")).unwrap();
        assert!(c.disabled().unwrap().is_empty());
        assert!(c.blocklist().unwrap().is_empty());
    }

    #[test]
    fn syntax_error_names_file_and_line_and_is_not_overwritten() {
        let text = "plugins:\n  _disabled: [a, b\nserver: {}\n";
        let (dir, c) = store(text);
        let err = c.err().unwrap().to_string();
        assert!(
            err.contains("config.yaml") && err.contains("line 3"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
            text
        );
    }

    #[test]
    fn tab_indentation_non_mapping_top_level_and_wrong_plugin_type() {
        let (_d, c) = store("plugins:\n\thelloworld:\n\t\tsome_setting: x\n");
        let err = c.err().unwrap().to_string();
        assert!(err.contains("line 2") && err.contains("tab"), "{err}");
        let (_d, c) = store("- a\n- b\n");
        assert!(c
            .err()
            .unwrap()
            .to_string()
            .contains("line 1: the top level must be a mapping"));
        let (_d, c) = store("server:\n  port: 5000\nplugins:\n  other: {}\n  helloworld: 5\n");
        let err = c.err().unwrap().to_string();
        assert!(
            err.contains("line 5: plugins.helloworld must be a mapping"),
            "{err}"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let (_d, c) = store("plugins:\n  _disabled: yes\n");
        assert!(c
            .err()
            .unwrap()
            .to_string()
            .contains("line 2: plugins._disabled must be a list"));
        let (_d, c) = store("plugins:\n  _blocklist:\n    - {version: '<1'}\n");
        assert!(c
            .err()
            .unwrap()
            .to_string()
            .contains("plugins._blocklist[0] needs an `id`"));
        let (_d, c) = store("plugins:\n  _blocklist:\n    - {id: x, version: 'not a range'}\n");
        assert!(c
            .err()
            .unwrap()
            .to_string()
            .contains("invalid version range"));
        let (_d, c) = store("plugins:\n  _sortingOrder: {x: {ctx: high}}\n");
        assert!(c
            .err()
            .unwrap()
            .to_string()
            .contains("line 2: plugins._sortingOrder"));
    }

    #[test]
    fn blocklist_entries_with_and_without_ranges() {
        let (_d, c) =
            store("plugins:\n  _blocklist:\n    - a\n    - {id: b, version: '>=1.0, <1.2'}\n");
        let list = c.unwrap().blocklist().unwrap();
        assert!(list[0].blocks("a", "9.9.9"));
        assert!(list[1].blocks("b", "1.1.0"));
        assert!(!list[1].blocks("b", "1.2.0"));
        assert!(!list[1].blocks("b", "not-semver"));
    }

    #[test]
    fn saving_keeps_other_keys_their_order_and_a_backup() {
        let original = "server:\n  port: 5001\nplugins:\n  helloworld:\n    some_setting: bar\n";
        let (dir, c) = store(original);
        let c = c.unwrap();
        for id in ["x", "a", "x"] {
            c.set_disabled(id, true).unwrap();
        }
        c.save().unwrap();
        let again = ConfigStore::open(&dir.path().join("config.yaml")).unwrap();
        assert_eq!(again.disabled().unwrap(), ["a", "x"]);
        let text = fs::read_to_string(dir.path().join("config.yaml")).unwrap();
        assert!(text.starts_with("server:\n  port: 5001\n"), "{text}");
        assert!(text.contains("some_setting: bar"), "{text}");
        // The backup is the good config the save replaced.
        let bak = dir.path().join("config.yaml.bak");
        assert_eq!(fs::read_to_string(&bak).unwrap(), original);
        again.set_disabled("x", false).unwrap();
        again.save().unwrap();
        assert_eq!(fs::read_to_string(&bak).unwrap(), text);
    }

    #[test]
    fn an_emptied_file_never_replaces_the_backup() {
        let (dir, c) = store("server:\n  port: 5001\n");
        let c = c.unwrap();
        c.set(key_path(&["a"]), json!(1)).unwrap();
        c.save().unwrap();
        let path = dir.path().join("config.yaml");
        fs::write(&path, "   \n").unwrap();
        let emptied = ConfigStore::open(&path).unwrap();
        emptied.set(key_path(&["b"]), json!(2)).unwrap();
        emptied.save().unwrap();
        let bak = fs::read_to_string(dir.path().join("config.yaml.bak")).unwrap();
        assert_eq!(
            bak, "server:\n  port: 5001\n",
            "the last good config survives"
        );
    }

    #[test]
    fn unchanged_values_write_nothing_and_keep_comments() {
        let text = "# my notes\nplugins:\n  hw:\n    a: 1 # one\n";
        let (dir, c) = store(text);
        let c = c.unwrap();
        c.set(key_path(&["plugins", "hw", "a"]), json!(1)).unwrap();
        c.set(key_path(&["plugins", "hw"]), json!({"a": 1}))
            .unwrap();
        c.remove(key_path(&["plugins", "nothing"])).unwrap();
        c.save().unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
            text
        );
    }

    #[test]
    fn replacing_a_whole_mapping_keeps_keys_another_process_added() {
        let (dir, c) = store("plugins:\n  hw:\n    a: 1\n");
        let path = dir.path().join("config.yaml");
        let ours = c.unwrap();
        // Ours changes the mapping before the other process writes; its save comes after.
        ours.set(key_path(&["plugins", "hw"]), json!({"a": 2}))
            .unwrap();
        ours.set_disabled("x", true).unwrap();
        let theirs = ConfigStore::open(&path).unwrap();
        theirs
            .set(key_path(&["plugins", "hw", "b"]), json!(7))
            .unwrap();
        theirs.set_disabled("y", true).unwrap();
        theirs.save().unwrap();
        ours.save().unwrap();
        let disk = ConfigStore::open(&path).unwrap();
        assert_eq!(
            disk.get(&key_path(&["plugins", "hw"])),
            Some(json!({"a": 2, "b": 7}))
        );
        assert_eq!(disk.disabled().unwrap(), ["x", "y"]);
    }

    #[test]
    fn no_writing_through_lists_or_values() {
        let (_d, c) = store("webcam:\n  urls: [a, b]\nserver:\n  port: 5000\n");
        let c = c.unwrap();
        let err = c
            .set(key_path(&["webcam", "urls", "1"]), json!("x"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("webcam.urls is not a mapping; set it as a whole"),
            "{err}"
        );
        assert!(c
            .set(key_path(&["server", "port", "deep"]), json!(1))
            .is_err());
        assert!(c.remove(key_path(&["webcam", "urls", "0"])).is_err());
        assert_eq!(
            c.get(&key_path(&["webcam", "urls"])),
            Some(json!(["a", "b"]))
        );
    }

    #[test]
    fn duplicate_keys_and_numbers_that_cannot_be_kept_are_refused() {
        let (_d, c) = store("plugins:\n  hw: {a: 1}\nplugins:\n  hw: {a: 2}\n");
        let err = c.err().unwrap().to_string();
        assert!(err.contains("duplicate") && err.contains("line 3"), "{err}");
        let (_d, c) = store("server:\n  ratio: .inf\n");
        let err = c.err().unwrap().to_string();
        assert!(err.contains("line 2: server.ratio is inf"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn saving_keeps_the_files_mode_and_writes_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.yaml");
        fs::write(&real, "a: 1\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("config.yaml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let c = ConfigStore::open(&link).unwrap();
        c.set(key_path(&["b"]), json!(2)).unwrap();
        c.save().unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "a: 1\nb: 2\n");
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let fresh = dir.path().join("new.yaml");
        let c = ConfigStore::open(&fresh).unwrap();
        c.set(key_path(&["s"]), json!("secret")).unwrap();
        c.save().unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_change_that_would_break_the_file_is_refused() {
        let (dir, c) = store("plugins:\n  hw: {a: 1}\n");
        let c = c.unwrap();
        let err = c
            .set(key_path(&["plugins", "hw"]), json!(5))
            .unwrap_err()
            .to_string();
        assert!(err.contains("plugins.hw must be a mapping"), "{err}");
        assert!(c
            .set(key_path(&["plugins", "_disabled"]), json!("x"))
            .is_err());
        assert!(c.set(key_path(&[]), json!([1])).is_err());
        assert_eq!(c.get(&key_path(&["plugins", "hw"])), Some(json!({"a": 1})));
        c.set(key_path(&["plugins", "hw", "b"]), json!(2)).unwrap();
        c.save().unwrap();
        let text = fs::read_to_string(dir.path().join("config.yaml")).unwrap();
        assert_eq!(text, "plugins:\n  hw:\n    a: 1\n    b: 2\n");
    }

    #[test]
    fn reads_show_the_disk_and_an_acknowledged_save_is_on_disk() {
        let (dir, c) = store("server:\n  port: 1\nplugins:\n  hw:\n    a: 1\n");
        let path = dir.path().join("config.yaml");
        let ours = c.unwrap();
        let theirs = ConfigStore::open(&path).unwrap();
        let port = key_path(&["server", "port"]);
        let a = key_path(&["plugins", "hw", "a"]);
        let on_disk = |p: &[String]| ConfigStore::open(&path).unwrap().get(p);
        // Another process changes both keys: reads show it at once.
        theirs.set(port.clone(), json!(2)).unwrap();
        theirs.set(a.clone(), json!(2)).unwrap();
        theirs.save().unwrap();
        assert_eq!(ours.get(&port), Some(json!(2)));
        // Setting them back is a change, and it is saved.
        ours.set(port.clone(), json!(1)).unwrap();
        ours.set(a.clone(), json!(1)).unwrap();
        ours.save().unwrap();
        assert_eq!(
            (on_disk(&port), on_disk(&a)),
            (Some(json!(1)), Some(json!(1)))
        );
        // Set to what it already holds, then the other process writes before
        // the save: the save still puts the value it was given on disk.
        ours.set(port.clone(), json!(1)).unwrap();
        theirs.set(port.clone(), json!(3)).unwrap();
        theirs.save().unwrap();
        ours.save().unwrap();
        assert_eq!(on_disk(&port), Some(json!(1)));
        // A removal of what is not there is kept the same way.
        ours.remove(key_path(&["server", "gone"])).unwrap();
        theirs
            .set(key_path(&["server", "gone"]), json!(true))
            .unwrap();
        theirs.save().unwrap();
        ours.save().unwrap();
        assert_eq!(on_disk(&key_path(&["server", "gone"])), None);
    }

    #[test]
    fn a_file_broken_by_hand_meanwhile_keeps_what_was_read_and_is_not_saved_over() {
        let (dir, c) = store("a: 1\n");
        let path = dir.path().join("config.yaml");
        let c = c.unwrap();
        fs::write(&path, "a: [1\n").unwrap();
        assert_eq!(c.get(&key_path(&["a"])), Some(json!(1)));
        c.set(key_path(&["b"]), json!(2)).unwrap();
        let err = c.save().unwrap_err().to_string();
        assert!(err.contains("not saving over it"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "a: [1\n");
    }

    #[test]
    fn host_keys_are_checked_on_every_change() {
        let (_d, c) = store("server:\n  port: 5000\n");
        let c = c.unwrap();
        let err = c
            .set(key_path(&["server", "plugin_call_timeout"]), json!(1e308))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot set server.plugin_call_timeout: server.plugin_call_timeout must be a number of seconds from 0.1 to 86400"),
            "{err}"
        );
        assert!(c
            .set(key_path(&["server"]), json!({"debug": "yes"}))
            .is_err());
        assert!(c.set(key_path(&["server"]), json!(5)).is_err());
        assert_eq!(c.snapshot(), json!({"server": {"port": 5000}}));
        c.set(key_path(&["server", "plugin_call_timeout"]), json!(12.5))
            .unwrap();
    }

    #[test]
    fn changes_made_by_another_process_are_kept() {
        let (dir, c) = store("a: 1\n");
        let path = dir.path().join("config.yaml");
        let ours = c.unwrap();
        ours.set(key_path(&["b"]), json!(2)).unwrap();
        // Another program writes the file meanwhile.
        let theirs = ConfigStore::open(&path).unwrap();
        theirs.set(key_path(&["c"]), json!(3)).unwrap();
        theirs.save().unwrap();
        ours.save().unwrap();
        let merged = ConfigStore::open(&path).unwrap().snapshot();
        assert_eq!(merged, json!({"a": 1, "c": 3, "b": 2}));
    }

    #[test]
    fn overlays_sit_under_the_file() {
        let (_d, c) = store("plugins:\n  _disabled: [mine]\n  x:\n    a: 1\n");
        let c = c.unwrap();
        c.set_overlays(vec![(
            "o".into(),
            json!({"plugins": {"_disabled": ["theirs"], "x": {"a": 0, "b": 2}}}),
        )]);
        assert_eq!(c.disabled().unwrap(), ["mine", "theirs"]);
        assert_eq!(
            c.effective(&key_path(&["plugins", "x"])),
            Some(json!({"a": 1, "b": 2}))
        );
        assert_eq!(c.get(&key_path(&["plugins", "x"])), Some(json!({"a": 1})));
    }
}
