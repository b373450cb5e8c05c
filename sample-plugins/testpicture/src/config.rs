//! The plugin's settings: their defaults, and turning stored values into a
//! picture size and JPEG quality with sane bounds.

use plinth_sdk::{json, to_int, Value};

/// An integer setting: its key, default and allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntSetting {
    /// The key under the plugin's settings.
    pub key: &'static str,
    /// The value when unset or unusable.
    pub default: i64,
    /// The smallest allowed value; smaller values are raised to it.
    pub min: i64,
    /// The largest allowed value; larger values are lowered to it.
    pub max: i64,
}

/// The picture width in pixels.
pub const WIDTH: IntSetting = IntSetting {
    key: "width",
    default: 640,
    min: 16,
    max: 4096,
};

/// The picture height in pixels.
pub const HEIGHT: IntSetting = IntSetting {
    key: "height",
    default: 480,
    min: 16,
    max: 4096,
};

/// The JPEG quality, 1 (smallest) to 100 (best).
pub const QUALITY: IntSetting = IntSetting {
    key: "quality",
    default: 85,
    min: 1,
    max: 100,
};

/// The settings defaults (`SettingsPlugin::get_settings_defaults`).
pub fn defaults() -> Value {
    json!({
        WIDTH.key: WIDTH.default,
        HEIGHT.key: HEIGHT.default,
        QUALITY.key: QUALITY.default,
    })
}

/// A setting's value to use, and a warning to log when the stored value was
/// not used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The value to use, within the setting's range.
    pub value: i64,
    /// Why the stored value was replaced or changed, if it was.
    pub warning: Option<String>,
}

impl IntSetting {
    /// The value to use for the stored `value`.
    ///
    /// Numbers (floats are truncated) and strings holding an integer are
    /// accepted and clamped to the range, with a warning when outside it.
    /// Anything else (booleans, null, lists, mappings, other strings) is the
    /// wrong type: the default is used, with a warning. A missing value (the
    /// host could not be asked; it logs that itself) is the default, silently.
    pub fn resolve(&self, value: Option<&Value>) -> Resolved {
        let Some(value) = value else {
            return Resolved {
                value: self.default,
                warning: None,
            };
        };
        let number = match value {
            Value::Number(_) | Value::String(_) => to_int(value),
            _ => None,
        };
        let Some(number) = number else {
            return Resolved {
                value: self.default,
                warning: Some(format!(
                    "setting {key} = {value} is not an integer, using the default {default}",
                    key = self.key,
                    default = self.default,
                )),
            };
        };
        let clamped = number.clamp(self.min, self.max);
        Resolved {
            value: clamped,
            warning: (clamped != number).then(|| {
                format!(
                    "setting {key} = {number} is outside {min}..={max}, using {clamped}",
                    key = self.key,
                    min = self.min,
                    max = self.max,
                )
            }),
        }
    }
}

/// The picture the settings ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureSettings {
    /// Width in pixels, 16–4096.
    pub width: u16,
    /// Height in pixels, 16–4096.
    pub height: u16,
    /// JPEG quality, 1–100.
    pub quality: u8,
}

impl Default for PictureSettings {
    fn default() -> Self {
        Self::read(|_| None, |_| {})
    }
}

impl PictureSettings {
    /// The settings from `get` (a key's stored value, `None` when unavailable),
    /// passing every warning to `warn`.
    pub fn read(get: impl Fn(&str) -> Option<Value>, mut warn: impl FnMut(String)) -> Self {
        let mut value = |setting: IntSetting| {
            let resolved = setting.resolve(get(setting.key).as_ref());
            if let Some(warning) = resolved.warning {
                warn(warning);
            }
            resolved.value
        };
        let (width, height, quality) = (value(WIDTH), value(HEIGHT), value(QUALITY));
        // The ranges above keep these within `u16` and `u8`.
        Self {
            width: u16::try_from(width).unwrap_or(u16::MAX),
            height: u16::try_from(height).unwrap_or(u16::MAX),
            quality: u8::try_from(quality).unwrap_or(u8::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(setting: IntSetting, value: Value) -> Resolved {
        setting.resolve(Some(&value))
    }

    #[test]
    fn defaults_are_640_by_480_at_quality_85() {
        assert_eq!(
            defaults(),
            json!({"width": 640, "height": 480, "quality": 85})
        );
        assert_eq!(
            PictureSettings::default(),
            PictureSettings {
                width: 640,
                height: 480,
                quality: 85
            }
        );
    }

    #[test]
    fn good_values_are_used_as_they_are() {
        for value in [json!(321), json!(321.9), json!(" 321 ")] {
            assert_eq!(
                resolve(WIDTH, value),
                Resolved {
                    value: 321,
                    warning: None
                }
            );
        }
        assert_eq!(WIDTH.resolve(None).value, 640);
        assert_eq!(WIDTH.resolve(None).warning, None);
    }

    #[test]
    fn values_out_of_range_are_clamped_with_a_warning() {
        let r = resolve(WIDTH, json!(5));
        assert_eq!(r.value, 16);
        assert!(r
            .warning
            .unwrap()
            .contains("width = 5 is outside 16..=4096"));
        assert_eq!(resolve(HEIGHT, json!(100_000)).value, 4096);
        assert_eq!(resolve(HEIGHT, json!(-3)).value, 16);
        assert_eq!(resolve(QUALITY, json!(0)).value, 1);
        assert_eq!(resolve(QUALITY, json!(101)).value, 100);
        assert_eq!(resolve(QUALITY, json!(i64::MIN)).value, 1);
    }

    #[test]
    fn values_of_the_wrong_type_fall_back_to_the_default_with_a_warning() {
        for value in [
            json!(true),
            json!(null),
            json!("large"),
            json!([640]),
            json!({"w": 640}),
        ] {
            let r = resolve(QUALITY, value.clone());
            assert_eq!(r.value, 85, "{value}");
            let warning = r.warning.expect("a warning");
            assert!(warning.contains("quality"), "{warning}");
            assert!(warning.contains("not an integer"), "{warning}");
        }
    }

    #[test]
    fn reading_all_settings_collects_the_warnings() {
        let stored = json!({"width": "wide", "height": 10, "quality": 50});
        let mut warnings = Vec::new();
        let s = PictureSettings::read(|key| stored.get(key).cloned(), |w| warnings.push(w));
        assert_eq!(
            s,
            PictureSettings {
                width: 640,
                height: 16,
                quality: 50
            }
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
