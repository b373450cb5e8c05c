//! Printer profiles: what the printer is (extruders, heated bed and chamber,
//! volume, axis speeds), in OctoPrint's schema. Until profiles can be
//! edited, the printer uses OctoPrint's default profile (`_default`).
//!
//! Plinth adds one section to OctoPrint's schema: `temperatures`, the
//! highest target each kind of heater accepts (`{"tool": 300, "bed": 150,
//! "chamber": 100}` by default). A target above it, or below 0, is refused.

use plinth_abi::{json, Value};

/// A heater kind, for its temperature limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaterKind {
    /// A hotend (`tool0`, …).
    Tool,
    /// The heated bed.
    Bed,
    /// The heated chamber.
    Chamber,
}

impl HeaterKind {
    fn key(self) -> &'static str {
        match self {
            HeaterKind::Tool => "tool",
            HeaterKind::Bed => "bed",
            HeaterKind::Chamber => "chamber",
        }
    }
}

/// One printer profile, as OctoPrint's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile(pub Value);

impl Default for Profile {
    /// OctoPrint's default profile, with Plinth's temperature limits.
    fn default() -> Self {
        Profile(json!({
            "id": "_default",
            "name": "Default",
            "model": "Generic RepRap Printer",
            "color": "default",
            "volume": {
                "width": 200.0, "depth": 200.0, "height": 200.0,
                "formFactor": "rectangular", "origin": "lowerleft", "custom_box": false
            },
            "heatedBed": true,
            "heatedChamber": false,
            "extruder": {
                "count": 1, "offsets": [[0.0, 0.0]], "nozzleDiameter": 0.4,
                "sharedNozzle": false, "defaultExtrusionLength": 5
            },
            "axes": {
                "x": {"speed": 6000, "inverted": false},
                "y": {"speed": 6000, "inverted": false},
                "z": {"speed": 200, "inverted": false},
                "e": {"speed": 300, "inverted": false}
            },
            "temperatures": {"tool": 300, "bed": 150, "chamber": 100}
        }))
    }
}

impl Profile {
    /// Its identifier.
    pub fn id(&self) -> &str {
        self.0["id"].as_str().unwrap_or("_default")
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.0["name"].as_str().unwrap_or_default()
    }

    /// How many extruders (at least one).
    pub fn extruders(&self) -> usize {
        self.0["extruder"]["count"].as_u64().unwrap_or(1).max(1) as usize
    }

    /// Whether it has a heated bed.
    pub fn heated_bed(&self) -> bool {
        self.0["heatedBed"].as_bool().unwrap_or(true)
    }

    /// Whether it has a heated chamber.
    pub fn heated_chamber(&self) -> bool {
        self.0["heatedChamber"].as_bool().unwrap_or(false)
    }

    /// The speed of an axis (`x`, `y`, `z`, `e`) in mm/min.
    pub fn axis_speed(&self, axis: char) -> f64 {
        self.0["axes"][axis.to_string()]["speed"]
            .as_f64()
            .unwrap_or(if axis == 'z' { 200.0 } else { 6000.0 })
    }

    /// Whether an axis is inverted (jogs go the other way).
    pub fn axis_inverted(&self, axis: char) -> bool {
        self.0["axes"][axis.to_string()]["inverted"]
            .as_bool()
            .unwrap_or(false)
    }

    /// The highest target a heater of `kind` accepts, in °C.
    pub fn max_temperature(&self, kind: HeaterKind) -> f64 {
        let default = match kind {
            HeaterKind::Tool => 300.0,
            HeaterKind::Bed => 150.0,
            HeaterKind::Chamber => 100.0,
        };
        self.0["temperatures"][kind.key()]
            .as_f64()
            .unwrap_or(default)
    }
}
