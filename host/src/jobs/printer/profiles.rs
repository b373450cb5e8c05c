//! The printer profile manager (OctoPrint's `PrinterProfileManager`):
//! profiles stored as `<basedir>/printerProfiles/<id>.profile` (YAML, as
//! OctoPrint), the built-in `_default` beside them (a stored `_default`
//! overrides it), and the default profile's identifier in
//! `printerProfiles.default` of the config.
//!
//! Every profile is checked before it is stored: a partial profile is
//! completed from the default, and each value must have its type and range
//! (the error names the field). A stored file that does not check out is
//! left alone and not listed, with a warning.

use std::path::PathBuf;
use std::sync::Arc;

use plinth_abi::{json, Value};

use super::profile::Profile;
use crate::config::ConfigStore;
use crate::disk::write_atomic;

/// Why a profile request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No profile has this identifier.
    #[error("there is no printer profile {0:?}")]
    Unknown(String),
    /// The identifier is not usable as a file name.
    #[error("{0:?} is not a printer profile identifier: use letters, digits, `_` and `-`")]
    BadId(String),
    /// A field has the wrong type or range.
    #[error("printer profile field `{field}`: {problem}")]
    Invalid { field: String, problem: String },
    /// The profile exists already.
    #[error("a printer profile {0:?} exists already")]
    Exists(String),
    /// The default or the current profile cannot be removed.
    #[error("the printer profile {0:?} is {1}: it cannot be removed")]
    InUse(String, &'static str),
    /// Reading or writing the folder failed.
    #[error("cannot store the printer profile: {0}")]
    Io(#[from] std::io::Error),
    /// Storing the default's identifier failed.
    #[error("cannot store the default printer profile: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// The built-in default's identifier.
pub const DEFAULT_ID: &str = "_default";

/// The printer profiles of one host.
pub struct ProfileManager {
    folder: PathBuf,
    config: Arc<ConfigStore>,
}

impl ProfileManager {
    /// Profiles in `<basedir>/printerProfiles`.
    pub fn new(basedir: &std::path::Path, config: Arc<ConfigStore>) -> Self {
        Self {
            folder: basedir.join("printerProfiles"),
            config,
        }
    }

    fn file(&self, id: &str) -> PathBuf {
        self.folder.join(format!("{id}.profile"))
    }

    fn read(&self, id: &str) -> Option<Profile> {
        let text = std::fs::read_to_string(self.file(id)).ok()?;
        let stored: Value = match yaml_serde::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(
                    "printer profile {id}: {} does not parse: {e}",
                    self.file(id).display()
                );
                return None;
            }
        };
        match validate(id, &stored) {
            Ok(profile) => Some(profile),
            Err(e) => {
                tracing::warn!("printer profile {}: {e}", self.file(id).display());
                None
            }
        }
    }

    /// Every profile, by identifier.
    pub fn all(&self) -> Vec<Profile> {
        let mut ids = vec![DEFAULT_ID.to_owned()];
        if let Ok(entries) = std::fs::read_dir(&self.folder) {
            let mut stored: Vec<String> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".profile")
                        .map(str::to_owned)
                })
                .filter(|id| id != DEFAULT_ID && is_id(id))
                .collect();
            stored.sort();
            ids.extend(stored);
        }
        ids.iter().filter_map(|id| self.get(id)).collect()
    }

    /// The profile `id`.
    pub fn get(&self, id: &str) -> Option<Profile> {
        if !is_id(id) {
            return None;
        }
        match self.read(id) {
            Some(p) => Some(p),
            None if id == DEFAULT_ID => Some(Profile::default()),
            None => None,
        }
    }

    /// The default profile's identifier (`printerProfiles.default`, when
    /// it names a profile; else `_default`).
    pub fn default_id(&self) -> String {
        self.config
            .effective(&["printerProfiles".to_owned(), "default".to_owned()])
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|id| self.get(id).is_some())
            .unwrap_or_else(|| DEFAULT_ID.to_owned())
    }

    /// The default profile.
    pub fn default_profile(&self) -> Profile {
        self.get(&self.default_id()).unwrap_or_default()
    }

    /// Makes `id` the default profile.
    pub fn set_default(&self, id: &str) -> Result<(), ProfileError> {
        if self.get(id).is_none() {
            return Err(ProfileError::Unknown(id.to_owned()));
        }
        self.config
            .set(vec!["printerProfiles".into(), "default".into()], json!(id))?;
        self.config.save()?;
        Ok(())
    }

    /// Stores a new profile: `profile` over `based_on` (the default profile
    /// when `None`).
    pub fn add(&self, profile: &Value, based_on: Option<&str>) -> Result<Profile, ProfileError> {
        let id = profile["id"]
            .as_str()
            .ok_or_else(|| ProfileError::Invalid {
                field: "id".into(),
                problem: "a new profile needs an `id` (text)".into(),
            })?;
        if !is_id(id) {
            return Err(ProfileError::BadId(id.to_owned()));
        }
        if self.get(id).is_some() {
            return Err(ProfileError::Exists(id.to_owned()));
        }
        let base = match based_on {
            Some(b) => self
                .get(b)
                .ok_or_else(|| ProfileError::Unknown(b.to_owned()))?,
            None => self.default_profile(),
        };
        let mut merged = base.0;
        merge(&mut merged, profile);
        let checked = validate(id, &merged)?;
        self.write(&checked)?;
        Ok(checked)
    }

    /// Changes profile `id` with the fields of `patch`.
    pub fn update(&self, id: &str, patch: &Value) -> Result<Profile, ProfileError> {
        let current = self
            .get(id)
            .ok_or_else(|| ProfileError::Unknown(id.to_owned()))?;
        let mut merged = current.0;
        merge(&mut merged, patch);
        let checked = validate(id, &merged)?;
        self.write(&checked)?;
        Ok(checked)
    }

    /// Removes profile `id`; not the default nor `current` (the printer's).
    pub fn remove(&self, id: &str, current: &str) -> Result<(), ProfileError> {
        if self.get(id).is_none() {
            return Err(ProfileError::Unknown(id.to_owned()));
        }
        if id == DEFAULT_ID || id == self.default_id() {
            return Err(ProfileError::InUse(id.to_owned(), "the default"));
        }
        if id == current {
            return Err(ProfileError::InUse(id.to_owned(), "in use by the printer"));
        }
        std::fs::remove_file(self.file(id))?;
        Ok(())
    }

    fn write(&self, profile: &Profile) -> Result<(), ProfileError> {
        std::fs::create_dir_all(&self.folder)?;
        let mut stored = profile.0.clone();
        if let Value::Object(fields) = &mut stored {
            fields.remove("default");
            fields.remove("current");
            fields.remove("resource");
        }
        let text =
            yaml_serde::to_string(&stored).map_err(|e| std::io::Error::other(e.to_string()))?;
        write_atomic(&self.file(profile.id()), text.as_bytes())?;
        Ok(())
    }
}

/// Identifiers are file names: letters, digits, `_` and `-`.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `patch` merged into `base`, mapping by mapping.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// A complete, checked profile with identifier `id` from `value` (missing
/// fields come from OctoPrint's default profile).
pub fn validate(id: &str, value: &Value) -> Result<Profile, ProfileError> {
    let mut profile = Profile::default().0;
    merge(&mut profile, value);
    profile["id"] = json!(id);
    let bad = |field: &str, problem: &str| ProfileError::Invalid {
        field: field.to_owned(),
        problem: problem.to_owned(),
    };
    fn at<'a>(profile: &'a Value, path: &str) -> &'a Value {
        path.split('.').fold(profile, |v, k| &v[k])
    }
    let get = |path: &str| at(&profile, path).clone();
    for path in ["name", "model", "color"] {
        if !get(path).is_string() {
            return Err(bad(path, "must be text"));
        }
    }
    for path in [
        "volume.width",
        "volume.depth",
        "volume.height",
        "extruder.nozzleDiameter",
    ] {
        match get(path).as_f64() {
            Some(v) if v > 0.0 && v.is_finite() => {}
            _ => return Err(bad(path, "must be a number above 0")),
        }
    }
    for path in [
        "axes.x.speed",
        "axes.y.speed",
        "axes.z.speed",
        "axes.e.speed",
    ] {
        match get(path).as_u64() {
            Some(v) if v > 0 => {}
            _ => return Err(bad(path, "must be a whole number of mm/min above 0")),
        }
    }
    for path in [
        "heatedBed",
        "heatedChamber",
        "extruder.sharedNozzle",
        "axes.x.inverted",
        "axes.y.inverted",
        "axes.z.inverted",
        "axes.e.inverted",
    ] {
        if !get(path).is_boolean() {
            return Err(bad(path, "must be true or false"));
        }
    }
    let count = match get("extruder.count").as_u64() {
        Some(c @ 1..=16) => c as usize,
        _ => return Err(bad("extruder.count", "must be a whole number from 1 to 16")),
    };
    let offsets = get("extruder.offsets")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pairs = offsets.iter().all(|o| {
        o.as_array().is_some_and(|xy| {
            xy.len() == 2 && xy.iter().all(|n| n.as_f64().is_some_and(f64::is_finite))
        })
    });
    if !pairs {
        return Err(bad(
            "extruder.offsets",
            "must be a list of [x, y] number pairs",
        ));
    }
    // OctoPrint keeps one offset per extruder: missing ones are [0, 0].
    let mut offsets = offsets;
    offsets.resize(count, json!([0.0, 0.0]));
    if !matches!(
        get("volume.formFactor").as_str(),
        Some("rectangular" | "circular")
    ) {
        return Err(bad("volume.formFactor", "must be rectangular or circular"));
    }
    if !matches!(get("volume.origin").as_str(), Some("lowerleft" | "center")) {
        return Err(bad("volume.origin", "must be lowerleft or center"));
    }
    for kind in ["tool", "bed", "chamber"] {
        let path = format!("temperatures.{kind}");
        match get(&path).as_f64() {
            Some(v) if v > 0.0 && v <= 1000.0 => {}
            _ => {
                return Err(bad(
                    &path,
                    "must be a number of °C above 0 and at most 1000",
                ))
            }
        }
    }
    profile["extruder"]["offsets"] = json!(offsets);
    Ok(Profile(profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> (tempfile::TempDir, ProfileManager) {
        let (dir, config) = crate::config::test_store("");
        let m = ProfileManager::new(dir.path(), config);
        (dir, m)
    }

    #[test]
    fn profiles_are_added_changed_made_default_and_removed() {
        let (dir, m) = manager();
        assert_eq!(m.all().len(), 1);
        assert_eq!(m.default_id(), DEFAULT_ID);
        let big = m
            .add(
                &json!({"id": "big", "name": "Big", "volume": {"width": 300}}),
                None,
            )
            .unwrap();
        assert_eq!(big.0["volume"]["width"], 300);
        assert_eq!(big.0["volume"]["depth"], 200.0, "the rest from the default");
        assert!(dir.path().join("printerProfiles/big.profile").exists());
        assert!(matches!(
            m.add(&json!({"id": "big", "name": "x"}), None),
            Err(ProfileError::Exists(_))
        ));
        let two = m.update("big", &json!({"extruder": {"count": 2}})).unwrap();
        assert_eq!(two.extruders(), 2);
        assert_eq!(
            two.0["extruder"]["offsets"],
            json!([[0.0, 0.0], [0.0, 0.0]])
        );
        m.set_default("big").unwrap();
        assert_eq!(m.default_id(), "big");
        assert!(matches!(
            m.remove("big", "_default"),
            Err(ProfileError::InUse(..))
        ));
        m.set_default(DEFAULT_ID).unwrap();
        assert!(matches!(
            m.remove("big", "big"),
            Err(ProfileError::InUse(..))
        ));
        m.remove("big", DEFAULT_ID).unwrap();
        assert!(m.get("big").is_none());
        assert!(matches!(
            m.remove(DEFAULT_ID, "x"),
            Err(ProfileError::InUse(..))
        ));
    }

    #[test]
    fn bad_profiles_name_the_field_and_store_nothing() {
        let (dir, m) = manager();
        for (profile, field) in [
            (json!({"id": "a", "volume": {"width": -1}}), "volume.width"),
            (
                json!({"id": "a", "extruder": {"count": 0}}),
                "extruder.count",
            ),
            (json!({"id": "a", "heatedBed": "yes"}), "heatedBed"),
            (
                json!({"id": "a", "axes": {"x": {"speed": 1.5}}}),
                "axes.x.speed",
            ),
            (
                json!({"id": "a", "volume": {"formFactor": "hexagonal"}}),
                "volume.formFactor",
            ),
            (
                json!({"id": "a", "extruder": {"offsets": [[1]]}}),
                "extruder.offsets",
            ),
            (
                json!({"id": "a", "temperatures": {"tool": 5000}}),
                "temperatures.tool",
            ),
        ] {
            match m.add(&profile, None) {
                Err(ProfileError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{profile}: {other:?}"),
            }
        }
        assert!(matches!(
            m.add(&json!({"id": "../x"}), None),
            Err(ProfileError::BadId(_))
        ));
        assert!(matches!(
            m.add(&json!({"name": "no id"}), None),
            Err(ProfileError::Invalid { .. })
        ));
        assert!(!dir.path().join("printerProfiles").exists());
        // A hand-broken file is not listed.
        std::fs::create_dir_all(dir.path().join("printerProfiles")).unwrap();
        std::fs::write(dir.path().join("printerProfiles/bad.profile"), "volume: [").unwrap();
        assert_eq!(m.all().len(), 1);
    }
}
