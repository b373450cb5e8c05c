//! Slicing profiles: the default profile, reading and saving profile files,
//! and the validated settings the slicer works with.
//!
//! A profile file is the pretty-printed JSON of a [`SlicingProfile`]; its
//! `data` object holds the settings listed in [`SliceSettings`].

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use plinth_sdk::{SlicingProfile, Value};
use serde_json::Map;

/// The slicer type; profiles are stored under it.
pub const SLICER_TYPE: &str = "planar";

/// The settings of one slice, read from a profile's `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceSettings {
    /// `layer_height`: thickness of every layer but the first, mm.
    pub layer_height: f64,
    /// `first_layer_height`: thickness of the first layer, mm (default: `layer_height`).
    pub first_layer_height: f64,
    /// `nozzle_diameter`: mm; informational, written into the G-code header.
    pub nozzle_diameter: f64,
    /// `extrusion_width`: width of an extruded line and the distance between perimeters, mm.
    pub extrusion_width: f64,
    /// `filament_diameter`: mm.
    pub filament_diameter: f64,
    /// `perimeters`: closed loops per outline (1 to 100); loop k runs (k + ½) × `extrusion_width` inside it.
    pub perimeters: u32,
    /// `print_speed`: speed of extruding moves, mm/s.
    pub print_speed: f64,
    /// `travel_speed`: speed of travel moves, mm/s.
    pub travel_speed: f64,
    /// `hotend_temperature`: °C; 0 leaves the hotend alone.
    pub hotend_temperature: f64,
    /// `bed_temperature`: °C; 0 leaves the bed alone.
    pub bed_temperature: f64,
}

impl Default for SliceSettings {
    fn default() -> Self {
        SliceSettings {
            layer_height: 0.2,
            first_layer_height: 0.2,
            nozzle_diameter: 0.4,
            extrusion_width: 0.45,
            filament_diameter: 1.75,
            perimeters: 2,
            print_speed: 40.0,
            travel_speed: 120.0,
            hotend_temperature: 210.0,
            bed_temperature: 60.0,
        }
    }
}

/// Most perimeters a profile may ask for.
const MAX_PERIMETERS: u32 = 100;

impl SliceSettings {
    /// Reads the settings from a profile's `data` (a JSON object; `null` counts
    /// as empty). Missing keys and `null` values take their defaults; a value
    /// of the wrong type or out of range is an error naming the key.
    pub fn from_data(data: &Value) -> Result<Self, String> {
        let empty = Map::new();
        let map = match data {
            Value::Object(map) => map,
            Value::Null => &empty,
            other => return Err(format!("profile data must be a JSON object, found {other}")),
        };
        let d = SliceSettings::default();
        let layer_height = number(map, "layer_height", d.layer_height, Range::Positive)?;
        Ok(SliceSettings {
            layer_height,
            first_layer_height: number(map, "first_layer_height", layer_height, Range::Positive)?,
            nozzle_diameter: number(map, "nozzle_diameter", d.nozzle_diameter, Range::Positive)?,
            extrusion_width: number(map, "extrusion_width", d.extrusion_width, Range::Positive)?,
            filament_diameter: number(
                map,
                "filament_diameter",
                d.filament_diameter,
                Range::Positive,
            )?,
            perimeters: perimeters(map, d.perimeters)?,
            print_speed: number(map, "print_speed", d.print_speed, Range::Positive)?,
            travel_speed: number(map, "travel_speed", d.travel_speed, Range::Positive)?,
            hotend_temperature: number(
                map,
                "hotend_temperature",
                d.hotend_temperature,
                Range::NonNegative,
            )?,
            bed_temperature: number(
                map,
                "bed_temperature",
                d.bed_temperature,
                Range::NonNegative,
            )?,
        })
    }

    /// The settings as profile `data`.
    pub fn to_data(&self) -> Value {
        serde_json::json!({
            "layer_height": self.layer_height,
            "first_layer_height": self.first_layer_height,
            "nozzle_diameter": self.nozzle_diameter,
            "extrusion_width": self.extrusion_width,
            "filament_diameter": self.filament_diameter,
            "perimeters": self.perimeters,
            "print_speed": self.print_speed,
            "travel_speed": self.travel_speed,
            "hotend_temperature": self.hotend_temperature,
            "bed_temperature": self.bed_temperature,
        })
    }

    /// Cross-section of the filament, mm².
    pub fn filament_area(&self) -> f64 {
        std::f64::consts::PI * (self.filament_diameter / 2.0).powi(2)
    }
}

/// What values a numeric setting accepts.
#[derive(Clone, Copy)]
enum Range {
    Positive,
    NonNegative,
}

/// A finite number at `key`, `default` when missing or `null`.
fn number(map: &Map<String, Value>, key: &str, default: f64, range: Range) -> Result<f64, String> {
    let value = match map.get(key) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_f64().filter(|v| v.is_finite()),
        Some(_) => None,
    };
    let found = &map[key];
    let value =
        value.ok_or_else(|| format!("profile setting `{key}` must be a number, found {found}"))?;
    match range {
        Range::Positive if value <= 0.0 => Err(format!(
            "profile setting `{key}` must be greater than 0, found {found}"
        )),
        Range::NonNegative if value < 0.0 => Err(format!(
            "profile setting `{key}` must not be negative, found {found}"
        )),
        _ => Ok(value),
    }
}

/// The `perimeters` setting: a whole number from 1 to [`MAX_PERIMETERS`].
fn perimeters(map: &Map<String, Value>, default: u32) -> Result<u32, String> {
    let found = match map.get("perimeters") {
        None | Some(Value::Null) => return Ok(default),
        Some(found) => found,
    };
    found
        .as_f64()
        .filter(|v| v.fract() == 0.0 && (1.0..=f64::from(MAX_PERIMETERS)).contains(v))
        .map(|v| v as u32)
        .ok_or_else(|| {
            format!(
                "profile setting `perimeters` must be a whole number from 1 to {MAX_PERIMETERS}, \
                 found {found}"
            )
        })
}

/// The default profile.
pub fn default_profile() -> SlicingProfile {
    SlicingProfile {
        slicer: SLICER_TYPE.into(),
        name: "default".into(),
        display_name: Some("Default".into()),
        description: Some(
            "0.2 mm layers, two perimeters of 0.45 mm, 1.75 mm filament, PLA temperatures".into(),
        ),
        default: true,
        data: SliceSettings::default().to_data(),
    }
}

/// Reads the profile stored at `path`; errors name the path and the problem.
pub fn read_profile(path: &Path) -> Result<SlicingProfile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read slicing profile {}: {e}", path.display()))?;
    let profile: SlicingProfile = serde_json::from_str(&text)
        .map_err(|e| format!("slicing profile {} is not valid: {e}", path.display()))?;
    if !matches!(profile.data, Value::Object(_) | Value::Null) {
        return Err(format!(
            "slicing profile {} is not valid: `data` must be a JSON object",
            path.display()
        ));
    }
    Ok(profile)
}

/// `profile` with `overrides` (a JSON object) merged into its `data`, key by key.
pub fn apply_overrides(
    profile: &SlicingProfile,
    overrides: Option<&Value>,
) -> Result<SlicingProfile, String> {
    let mut profile = profile.clone();
    let mut data = match std::mem::take(&mut profile.data) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => return Err(format!("profile data must be a JSON object, found {other}")),
    };
    match overrides {
        None | Some(Value::Null) => {}
        Some(Value::Object(overrides)) => {
            for (key, value) in overrides {
                data.insert(key.clone(), value.clone());
            }
        }
        Some(other) => {
            return Err(format!(
                "profile overrides must be a JSON object, found {other}"
            ))
        }
    }
    profile.data = Value::Object(data);
    Ok(profile)
}

/// Saves `profile`, with `overrides` applied, to `path` as pretty-printed JSON.
/// Refuses when the file exists and `allow_overwrite` is false, and when the
/// settings are invalid (so a saved profile always slices).
pub fn save_profile(
    path: &Path,
    profile: &SlicingProfile,
    allow_overwrite: bool,
    overrides: Option<&Value>,
) -> Result<(), String> {
    let profile = apply_overrides(profile, overrides)
        .map_err(|e| format!("cannot save slicing profile {}: {e}", path.display()))?;
    SliceSettings::from_data(&profile.data)
        .map_err(|e| format!("cannot save slicing profile {}: {e}", path.display()))?;
    let mut text = serde_json::to_string_pretty(&profile)
        .map_err(|e| format!("cannot save slicing profile {}: {e}", path.display()))?;
    text.push('\n');
    let io_error =
        |e: std::io::Error| format!("cannot save slicing profile {}: {e}", path.display());
    if allow_overwrite {
        // Write beside the target and rename, so a crash never leaves half a profile.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io_error)
    } else {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => format!(
                    "slicing profile {} already exists and overwriting it is not allowed",
                    path.display()
                ),
                _ => io_error(e),
            })?;
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        if written.is_err() {
            drop(file);
            let _ = std::fs::remove_file(path);
        }
        written.map_err(io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_profile_matches_default_settings() {
        let p = default_profile();
        assert_eq!(p.slicer, "planar");
        assert_eq!(p.name, "default");
        assert!(p.default);
        assert_eq!(
            SliceSettings::from_data(&p.data).unwrap(),
            SliceSettings::default()
        );
        assert_eq!(p.data["layer_height"], json!(0.2));
        assert_eq!(p.data["perimeters"], json!(2));
    }

    #[test]
    fn missing_keys_take_defaults() {
        let s =
            SliceSettings::from_data(&json!({"layer_height": 0.1, "perimeters": null})).unwrap();
        assert_eq!(s.layer_height, 0.1);
        // The first layer defaults to the layer height.
        assert_eq!(s.first_layer_height, 0.1);
        assert_eq!(s.perimeters, 2);
        assert_eq!(s.extrusion_width, 0.45);
        assert_eq!(
            SliceSettings::from_data(&Value::Null).unwrap(),
            SliceSettings::default()
        );
        let s = SliceSettings::from_data(&json!({"perimeters": 3.0, "unknown": "x"})).unwrap();
        assert_eq!(s.perimeters, 3);
    }

    #[test]
    fn invalid_settings_name_the_key() {
        let cases = [
            (
                json!({"layer_height": "0.2"}),
                "`layer_height` must be a number",
            ),
            (
                json!({"layer_height": 0}),
                "`layer_height` must be greater than 0",
            ),
            (
                json!({"first_layer_height": -0.2}),
                "`first_layer_height` must be greater than 0",
            ),
            (
                json!({"extrusion_width": true}),
                "`extrusion_width` must be a number",
            ),
            (
                json!({"print_speed": [1]}),
                "`print_speed` must be a number",
            ),
            (
                json!({"bed_temperature": -1}),
                "`bed_temperature` must not be negative",
            ),
            (
                json!({"perimeters": 1.5}),
                "`perimeters` must be a whole number",
            ),
            (
                json!({"perimeters": 0}),
                "`perimeters` must be a whole number",
            ),
            (
                json!({"perimeters": 101}),
                "`perimeters` must be a whole number",
            ),
            (json!([1, 2]), "profile data must be a JSON object"),
        ];
        for (data, expected) in cases {
            let err = SliceSettings::from_data(&data).unwrap_err();
            assert!(err.contains(expected), "{data}: {err}");
        }
    }

    #[test]
    fn save_and_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fine.profile");
        let profile = default_profile();
        save_profile(&path, &profile, false, None).unwrap();
        assert_eq!(read_profile(&path).unwrap(), profile);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\n  \"slicer\": \"planar\""),
            "pretty printed: {text}"
        );
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn overwrite_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.profile");
        save_profile(&path, &default_profile(), false, None).unwrap();
        let mut other = default_profile();
        other.name = "other".into();
        let err = save_profile(&path, &other, false, None).unwrap_err();
        assert!(
            err.contains("already exists") && err.contains("p.profile"),
            "{err}"
        );
        assert_eq!(read_profile(&path).unwrap().name, "default");
        save_profile(&path, &other, true, None).unwrap();
        assert_eq!(read_profile(&path).unwrap().name, "other");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn overrides_are_merged_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.profile");
        let overrides = json!({"layer_height": 0.1, "perimeters": 3, "note": "x"});
        save_profile(&path, &default_profile(), true, Some(&overrides)).unwrap();
        let saved = read_profile(&path).unwrap();
        assert_eq!(saved.data["layer_height"], json!(0.1));
        assert_eq!(saved.data["perimeters"], json!(3));
        assert_eq!(saved.data["note"], json!("x"));
        assert_eq!(saved.data["extrusion_width"], json!(0.45));
        let mut empty = default_profile();
        empty.data = Value::Null;
        let merged = apply_overrides(&empty, Some(&json!({"perimeters": 1}))).unwrap();
        assert_eq!(merged.data, json!({"perimeters": 1}));
    }

    #[test]
    fn bad_overrides_and_settings_are_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.profile");
        let err = save_profile(&path, &default_profile(), true, Some(&json!([1]))).unwrap_err();
        assert!(
            err.contains("overrides must be a JSON object") && err.contains("bad.profile"),
            "{err}"
        );
        let err = save_profile(
            &path,
            &default_profile(),
            true,
            Some(&json!({"layer_height": -1})),
        )
        .unwrap_err();
        assert!(err.contains("`layer_height`"), "{err}");
        let mut odd = default_profile();
        odd.data = json!("text");
        let err = save_profile(&path, &odd, true, None).unwrap_err();
        assert!(err.contains("data must be a JSON object"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn saving_into_a_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("p.profile");
        for allow in [true, false] {
            let err = save_profile(&path, &default_profile(), allow, None).unwrap_err();
            assert!(
                err.contains("cannot save slicing profile") && err.contains("p.profile"),
                "{err}"
            );
        }
    }

    #[test]
    fn reading_bad_files_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.profile");
        let err = read_profile(&missing).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains("missing.profile"),
            "{err}"
        );
        let broken = dir.path().join("broken.profile");
        std::fs::write(&broken, "{\"slicer\": \"planar\",").unwrap();
        let err = read_profile(&broken).unwrap_err();
        assert!(
            err.contains("broken.profile") && err.contains("not valid"),
            "{err}"
        );
        std::fs::write(&broken, "{\"slicer\": \"planar\"}").unwrap();
        let err = read_profile(&broken).unwrap_err();
        assert!(err.contains("missing field `name`"), "{err}");
        std::fs::write(
            &broken,
            "{\"slicer\": \"planar\", \"name\": \"x\", \"data\": 3}",
        )
        .unwrap();
        let err = read_profile(&broken).unwrap_err();
        assert!(err.contains("`data` must be a JSON object"), "{err}");
    }
}
