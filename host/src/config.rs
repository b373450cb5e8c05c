//! `<basedir>/config.yaml`: the disabled list, the blocklist and sorting
//! overrides (under `plugins`), beside whatever else the user keeps there.
//!
//! The file is never overwritten when it does not parse, and every write is
//! atomic: a temporary file in the same folder, fsync, rename, fsync of the folder.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

/// A problem with the config file, naming the file and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

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

/// The host's config.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    doc: Value,
}

impl Config {
    /// Reads the config; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ConfigError(format!("{}: cannot read: {e}", path.display()))),
        };
        let doc: Value = if text.trim().is_empty() {
            Value::Mapping(Mapping::new())
        } else {
            yaml_serde::from_str(&text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!("line {}, column {}: ", l.line(), l.column()));
                ConfigError(format!("{}: {}{e}", path.display(), at.unwrap_or_default()))
            })?
        };
        if !matches!(doc, Value::Mapping(_)) {
            return Err(ConfigError(format!(
                "{}: the top level must be a mapping",
                path.display()
            )));
        }
        let config = Self {
            path: path.to_path_buf(),
            doc,
        };
        config.disabled()?;
        config.blocklist()?;
        config.sorting_order()?;
        Ok(config)
    }

    /// The file this config lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn plugins_key(&self, key: &str) -> Option<&Value> {
        self.doc.get("plugins")?.get(key)
    }

    fn field_error(&self, field: &str, what: &str) -> ConfigError {
        ConfigError(format!("{}: plugins.{field} {what}", self.path.display()))
    }

    /// `plugins._disabled`: identifiers of disabled plugins.
    pub fn disabled(&self) -> Result<Vec<String>, ConfigError> {
        let Some(v) = self.plugins_key("_disabled") else {
            return Ok(Vec::new());
        };
        let err = || self.field_error("_disabled", "must be a list of plugin identifiers");
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(items) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned).ok_or_else(err))
                .collect(),
            _ => Err(err()),
        }
    }

    /// Replaces `plugins._disabled`.
    pub fn set_disabled(&mut self, mut ids: Vec<String>) {
        ids.sort();
        ids.dedup();
        let list = Value::Sequence(ids.into_iter().map(Value::String).collect());
        self.plugins_mut()
            .insert(Value::String("_disabled".into()), list);
    }

    fn plugins_mut(&mut self) -> &mut Mapping {
        let root = match &mut self.doc {
            Value::Mapping(m) => m,
            _ => unreachable!("checked at load"),
        };
        let plugins = root
            .entry(Value::String("plugins".into()))
            .or_insert(Value::Mapping(Mapping::new()));
        if !matches!(plugins, Value::Mapping(_)) {
            *plugins = Value::Mapping(Mapping::new());
        }
        match plugins {
            Value::Mapping(m) => m,
            _ => unreachable!(),
        }
    }

    /// `plugins._blocklist`: entries `id` or `{id: …, version: "<semver range>"}`.
    pub fn blocklist(&self) -> Result<Vec<BlockEntry>, ConfigError> {
        let Some(v) = self.plugins_key("_blocklist") else {
            return Ok(Vec::new());
        };
        let Value::Sequence(items) = v else {
            return Err(self.field_error("_blocklist", "must be a list"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let bad = |what: &str| self.field_error(&format!("_blocklist[{i}]"), what);
                match item {
                    Value::String(id) => Ok(BlockEntry {
                        id: id.clone(),
                        versions: None,
                    }),
                    Value::Mapping(_) => {
                        let id = item
                            .get("id")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("needs an `id`"))?;
                        let versions = match item.get("version") {
                            None | Some(Value::Null) => None,
                            Some(Value::String(range)) => {
                                Some(semver::VersionReq::parse(range).map_err(|e| {
                                    bad(&format!("has an invalid version range {range:?}: {e}"))
                                })?)
                            }
                            Some(_) => return Err(bad("has a `version` that is not a string")),
                        };
                        Ok(BlockEntry {
                            id: id.to_owned(),
                            versions,
                        })
                    }
                    _ => Err(bad(
                        "must be an identifier or a mapping with `id` and `version`",
                    )),
                }
            })
            .collect()
    }

    /// `plugins._sortingOrder`: `{id: {context: key}}` overrides.
    pub fn sorting_order(&self) -> Result<BTreeMap<String, BTreeMap<String, i64>>, ConfigError> {
        let Some(v) = self.plugins_key("_sortingOrder") else {
            return Ok(BTreeMap::new());
        };
        yaml_serde::from_value(v.clone()).map_err(|e| {
            self.field_error(
                "_sortingOrder",
                &format!("must map identifiers to {{context: integer}}: {e}"),
            )
        })
    }

    /// Writes the config atomically.
    pub fn save(&self) -> Result<(), ConfigError> {
        let text = yaml_serde::to_string(&self.doc)
            .map_err(|e| ConfigError(format!("{}: cannot serialise: {e}", self.path.display())))?;
        write_atomic(&self.path, text.as_bytes())
            .map_err(|e| ConfigError(format!("{}: cannot write: {e}", self.path.display())))
    }
}

/// Replaces `path` with `bytes` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        fs::write(&path, text).unwrap();
        let c = Config::load(&path);
        (dir, c)
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(&dir.path().join("config.yaml")).unwrap();
        assert!(c.disabled().unwrap().is_empty());
        assert!(c.blocklist().unwrap().is_empty());
    }

    #[test]
    fn syntax_error_names_file_and_line_and_is_not_overwritten() {
        let text = "plugins:\n  _disabled: [a, b\nserver: {}\n";
        let (dir, c) = config(text);
        let err = c.unwrap_err().0;
        assert!(err.contains("config.yaml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert_eq!(
            fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
            text
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let (_d, c) = config("plugins:\n  _disabled: yes\n");
        assert!(c
            .unwrap_err()
            .0
            .contains("plugins._disabled must be a list"));
        let (_d, c) = config("plugins:\n  _blocklist:\n    - {version: '<1'}\n");
        assert!(c
            .unwrap_err()
            .0
            .contains("plugins._blocklist[0] needs an `id`"));
        let (_d, c) = config("plugins:\n  _blocklist:\n    - {id: x, version: 'not a range'}\n");
        assert!(c.unwrap_err().0.contains("invalid version range"));
        let (_d, c) = config("plugins:\n  _sortingOrder: {x: {ctx: high}}\n");
        assert!(c.unwrap_err().0.contains("plugins._sortingOrder"));
        let (_d, c) = config("- a\n- b\n");
        assert!(c.unwrap_err().0.contains("top level must be a mapping"));
    }

    #[test]
    fn blocklist_entries_with_and_without_ranges() {
        let (_d, c) =
            config("plugins:\n  _blocklist:\n    - a\n    - {id: b, version: '>=1.0, <1.2'}\n");
        let list = c.unwrap().blocklist().unwrap();
        assert!(list[0].blocks("a", "9.9.9"));
        assert!(list[1].blocks("b", "1.1.0"));
        assert!(!list[1].blocks("b", "1.2.0"));
        assert!(!list[1].blocks("b", "not-semver"));
    }

    #[test]
    fn saving_keeps_other_keys() {
        let (dir, c) =
            config("server:\n  port: 5001\nplugins:\n  helloworld:\n    some_setting: bar\n");
        let mut c = c.unwrap();
        c.set_disabled(vec!["x".into(), "a".into(), "x".into()]);
        c.save().unwrap();
        let again = Config::load(&dir.path().join("config.yaml")).unwrap();
        assert_eq!(again.disabled().unwrap(), ["a", "x"]);
        let text = fs::read_to_string(dir.path().join("config.yaml")).unwrap();
        assert!(
            text.contains("port: 5001") && text.contains("some_setting: bar"),
            "{text}"
        );
    }
}
