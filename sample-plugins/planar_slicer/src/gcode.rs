//! Writing G-code for sliced layers, and the analysis of what was written.
//!
//! Coordinates are rounded to whole micrometres before anything is measured,
//! so lengths, extrusion, time and extents describe exactly the G-code
//! written. Extrusion is absolute (`M82`) and strictly increasing.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use plinth_sdk::{json, Value};

use crate::geometry::{self, Polygon};
use crate::profile::SliceSettings;
use crate::slice::Layer;

/// What the header says about the job.
#[derive(Debug, Clone, Copy)]
pub struct JobInfo<'a> {
    /// File name of the model.
    pub model: &'a str,
    /// Name of the slicing profile.
    pub profile: &'a str,
}

/// Why writing stopped.
#[derive(Debug)]
pub enum WriteError {
    /// The cancel flag was raised.
    Cancelled,
    /// The output could not be written.
    Io(io::Error),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// The analysis of the written G-code (OctoPrint's analysis shape).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    /// Estimated print time in seconds, from move lengths and speeds (heating not included).
    pub print_time: f64,
    /// Filament used, mm (the final E value).
    pub filament_length: f64,
    /// Filament used, cm³.
    pub filament_volume: f64,
    /// Extent of the extruding moves: `[min_x, min_y, min_z]`.
    pub min: [f64; 3],
    /// Extent of the extruding moves: `[max_x, max_y, max_z]`.
    pub max: [f64; 3],
    /// Number of layers written.
    pub layer_count: usize,
    /// Whether anything is extruded at all.
    pub extrudes: bool,
}

impl Analysis {
    /// The analysis as OctoPrint's G-code analysis dictionary, plus `layerCount`.
    pub fn to_json(&self) -> Value {
        json!({
            "estimatedPrintTime": self.print_time,
            "filament": {"tool0": {"length": self.filament_length, "volume": self.filament_volume}},
            "dimensions": {
                "width": self.max[0] - self.min[0],
                "depth": self.max[1] - self.min[1],
                "height": self.max[2] - self.min[2],
            },
            "printingArea": {
                "minX": self.min[0], "maxX": self.max[0],
                "minY": self.min[1], "maxY": self.max[1],
                "minZ": self.min[2], "maxZ": self.max[2],
            },
            "layerCount": self.layer_count,
        })
    }
}

/// Micrometres per millimetre: coordinates are written with 3 decimals.
const UM: f64 = 1000.0;
/// E steps per millimetre: E is written with 5 decimals.
const E_STEPS: f64 = 100_000.0;

/// Writes the G-code for `layers`. `progress` receives the fraction done after
/// each layer; `cancel` is checked before each layer and each outline.
pub fn write_gcode(
    out: &mut dyn Write,
    layers: &[Layer],
    settings: &SliceSettings,
    info: JobInfo<'_>,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<Analysis, WriteError> {
    let mut w = Writer::new(out, settings);
    w.start_code(layers.len(), info)?;
    for (i, layer) in layers.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(WriteError::Cancelled);
        }
        w.layer(i, layer)?;
        for outline in &layer.outlines {
            if cancel.load(Ordering::Relaxed) {
                return Err(WriteError::Cancelled);
            }
            for k in 0..settings.perimeters {
                // Each loop's centre line lies half a line width inside the
                // previous wall, so the outer wall's edge is the model's.
                let inset = (f64::from(k) + 0.5) * settings.extrusion_width;
                let perimeter = geometry::inset(outline, inset);
                // A degenerate inset means the next ones would be too.
                let Some(perimeter) = perimeter else { break };
                w.perimeter(&perimeter, layer)?;
            }
        }
        progress((i + 1) as f64 / layers.len() as f64);
    }
    w.end_code()?;
    Ok(w.finish(layers.len()))
}

/// Position in micrometres.
type Um = [i64; 3];

/// G-code output with the running state of the machine.
struct Writer<'a> {
    out: &'a mut dyn Write,
    settings: &'a SliceSettings,
    /// Last position written, micrometres (homing puts it at the origin).
    pos: Um,
    /// Exact extrusion so far, mm of filament.
    e_exact: f64,
    /// Last E written, in E steps.
    e_steps: i64,
    time: f64,
    min: [i64; 3],
    max: [i64; 3],
    extrudes: bool,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut dyn Write, settings: &'a SliceSettings) -> Self {
        Writer {
            out,
            settings,
            pos: [0; 3],
            e_exact: 0.0,
            e_steps: 0,
            time: 0.0,
            min: [i64::MAX; 3],
            max: [i64::MIN; 3],
            extrudes: false,
        }
    }

    fn start_code(&mut self, layer_count: usize, info: JobInfo<'_>) -> io::Result<()> {
        let s = self.settings;
        writeln!(
            self.out,
            "; generated by planar_slicer {}",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(self.out, "; model: {}", clean(info.model))?;
        writeln!(self.out, "; profile: {}", clean(info.profile))?;
        writeln!(
            self.out,
            "; layer_height: {}, first_layer_height: {}, perimeters: {}, extrusion_width: {}, \
             nozzle_diameter: {}, filament_diameter: {}",
            s.layer_height,
            s.first_layer_height,
            s.perimeters,
            s.extrusion_width,
            s.nozzle_diameter,
            s.filament_diameter
        )?;
        writeln!(self.out, ";LAYER_COUNT:{layer_count}")?;
        writeln!(self.out, "G21 ; millimetres")?;
        writeln!(self.out, "G90 ; absolute positioning")?;
        writeln!(self.out, "M82 ; absolute extrusion")?;
        let (bed, hotend) = (s.bed_temperature, s.hotend_temperature);
        if bed > 0.0 {
            writeln!(self.out, "M140 S{bed} ; heat the bed")?;
        }
        if hotend > 0.0 {
            writeln!(self.out, "M104 S{hotend} ; heat the hotend")?;
        }
        if bed > 0.0 {
            writeln!(self.out, "M190 S{bed} ; wait for the bed")?;
        }
        if hotend > 0.0 {
            writeln!(self.out, "M109 S{hotend} ; wait for the hotend")?;
        }
        writeln!(self.out, "G28 ; home all axes")?;
        writeln!(self.out, "G92 E0 ; reset the extruder")
    }

    fn layer(&mut self, index: usize, layer: &Layer) -> io::Result<()> {
        let z = (layer.z * UM).round() as i64;
        writeln!(self.out, ";LAYER:{index}")?;
        writeln!(
            self.out,
            "G0 Z{} F{}",
            fixed(z, 3),
            feed(self.settings.travel_speed)
        )?;
        self.travel_time([self.pos[0], self.pos[1], z]);
        self.pos[2] = z;
        Ok(())
    }

    /// One closed loop: travel to its first point, extrude through the others and back.
    fn perimeter(&mut self, polygon: &Polygon, layer: &Layer) -> io::Result<()> {
        let z = self.pos[2];
        let mut points: Vec<Um> = Vec::with_capacity(polygon.len());
        for p in polygon {
            let q = [(p[0] * UM).round() as i64, (p[1] * UM).round() as i64, z];
            if points.last() != Some(&q) {
                points.push(q);
            }
        }
        while points.len() > 1 && points.first() == points.last() {
            points.pop();
        }
        if points.len() < 3 {
            return Ok(());
        }
        let start = points[0];
        writeln!(
            self.out,
            "G0 X{} Y{} F{}",
            fixed(start[0], 3),
            fixed(start[1], 3),
            feed(self.settings.travel_speed)
        )?;
        self.travel_time(start);
        self.pos = start;
        self.note_extent(start);
        let per_mm =
            layer.thickness * self.settings.extrusion_width / self.settings.filament_area();
        for (n, &p) in points.iter().skip(1).chain([&start]).enumerate() {
            let length = distance(self.pos, p);
            self.e_exact += length * per_mm;
            self.e_steps = ((self.e_exact * E_STEPS).round() as i64).max(self.e_steps + 1);
            self.time += length / self.settings.print_speed;
            write!(
                self.out,
                "G1 X{} Y{} E{}",
                fixed(p[0], 3),
                fixed(p[1], 3),
                fixed(self.e_steps, 5)
            )?;
            if n == 0 {
                write!(self.out, " F{}", feed(self.settings.print_speed))?;
            }
            writeln!(self.out)?;
            self.pos = p;
            self.note_extent(p);
        }
        self.extrudes = true;
        Ok(())
    }

    fn end_code(&mut self) -> io::Result<()> {
        writeln!(self.out, ";END")?;
        writeln!(self.out, "M104 S0 ; hotend off")?;
        writeln!(self.out, "M140 S0 ; bed off")?;
        writeln!(self.out, "M84 ; motors off")?;
        self.out.flush()
    }

    fn travel_time(&mut self, to: Um) {
        self.time += distance(self.pos, to) / self.settings.travel_speed;
    }

    fn note_extent(&mut self, p: Um) {
        for ((lo, hi), c) in self.min.iter_mut().zip(&mut self.max).zip(p) {
            *lo = (*lo).min(c);
            *hi = (*hi).max(c);
        }
    }

    fn finish(self, layer_count: usize) -> Analysis {
        let to_mm = |v: [i64; 3]| v.map(|c| c as f64 / UM);
        let length = self.e_steps as f64 / E_STEPS;
        Analysis {
            print_time: self.time,
            filament_length: length,
            filament_volume: length * self.settings.filament_area() / 1000.0,
            min: if self.extrudes {
                to_mm(self.min)
            } else {
                [0.0; 3]
            },
            max: if self.extrudes {
                to_mm(self.max)
            } else {
                [0.0; 3]
            },
            layer_count,
            extrudes: self.extrudes,
        }
    }
}

/// Distance in mm between two positions in micrometres.
fn distance(a: Um, b: Um) -> f64 {
    let d = [0, 1, 2].map(|c| (b[c] - a[c]) as f64 / UM);
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// `value / 10^decimals` with exactly `decimals` decimals (never "-0.000").
fn fixed(value: i64, decimals: u32) -> String {
    let scale = 10u64.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let v = value.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        v / scale,
        v % scale,
        width = decimals as usize
    )
}

/// A feed rate in mm/min for a speed in mm/s.
fn feed(speed: f64) -> String {
    let f = speed * 60.0;
    if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f:.1}")
    }
}

/// A header value on one line.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::slice::{slice_mesh, tests::PLAN};
    use crate::stl::tests::box_mesh;

    /// A move parsed back from G-code.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) struct Move {
        pub g: u8,
        pub x: Option<f64>,
        pub y: Option<f64>,
        pub z: Option<f64>,
        pub e: Option<f64>,
    }

    /// The G0/G1 moves of `gcode`.
    pub(crate) fn moves(gcode: &str) -> Vec<Move> {
        gcode
            .lines()
            .filter_map(|line| {
                let code = line.split(';').next().unwrap();
                let mut words = code.split_whitespace();
                let g = match words.next()? {
                    "G0" => 0,
                    "G1" => 1,
                    _ => return None,
                };
                let mut m = Move {
                    g,
                    x: None,
                    y: None,
                    z: None,
                    e: None,
                };
                for w in words {
                    let value = w[1..].parse().ok();
                    match &w[..1] {
                        "X" => m.x = value,
                        "Y" => m.y = value,
                        "Z" => m.z = value,
                        "E" => m.e = value,
                        _ => {}
                    }
                }
                Some(m)
            })
            .collect()
    }

    /// Checks the G-code conventions; returns the closed loops as (layer, points).
    pub(crate) fn check_gcode(gcode: &str) -> Vec<(usize, Vec<[f64; 2]>)> {
        let mut loops: Vec<(usize, Vec<[f64; 2]>)> = Vec::new();
        let mut layer = None;
        let mut last_e = 0.0;
        let mut current: Option<Vec<[f64; 2]>> = None;
        let close = |current: &mut Option<Vec<[f64; 2]>>, loops: &mut Vec<_>, layer| {
            if let Some(points) = current.take() {
                assert!(
                    points.len() >= 4,
                    "a loop has at least three moves: {points:?}"
                );
                assert_eq!(points.first(), points.last(), "every perimeter is closed");
                loops.push((layer, points));
            }
        };
        for line in gcode.lines() {
            if let Some(i) = line.strip_prefix(";LAYER:") {
                close(&mut current, &mut loops, layer.unwrap_or(0));
                layer = Some(i.parse().unwrap());
                continue;
            }
            let Some(m) = moves(line).pop() else { continue };
            match m.g {
                0 => {
                    assert!(m.e.is_none(), "travel moves do not extrude: {line}");
                    close(&mut current, &mut loops, layer.unwrap());
                    if let (Some(x), Some(y)) = (m.x, m.y) {
                        current = Some(vec![[x, y]]);
                    }
                }
                _ => {
                    let e = m.e.expect("every G1 extrudes");
                    assert!(e > last_e, "E strictly increasing: {line} after {last_e}");
                    last_e = e;
                    let points = current.as_mut().expect("G1 follows a G0 to the loop start");
                    points.push([m.x.unwrap(), m.y.unwrap()]);
                }
            }
        }
        close(&mut current, &mut loops, layer.unwrap_or(0));
        loops
    }

    fn cube_layers() -> Vec<Layer> {
        let mut mesh = box_mesh([0.0; 3], [10.0; 3]);
        crate::geometry::place(&mut mesh, [100.0, 100.0]);
        slice_mesh(&mesh, PLAN, &mut |_| {}, &AtomicBool::new(false)).unwrap()
    }

    fn write(layers: &[Layer], settings: &SliceSettings) -> (String, Analysis) {
        let mut out = Vec::new();
        let info = JobInfo {
            model: "cube.stl",
            profile: "default",
        };
        let analysis = write_gcode(
            &mut out,
            layers,
            settings,
            info,
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap();
        (String::from_utf8(out).unwrap(), analysis)
    }

    #[test]
    fn cube_gcode_follows_the_conventions() {
        let settings = SliceSettings::default();
        let (gcode, analysis) = write(&cube_layers(), &settings);
        assert!(gcode.starts_with("; generated by planar_slicer "));
        assert!(gcode.contains("\n;LAYER_COUNT:50\n"));
        for code in [
            "G21",
            "G90",
            "M82",
            "M140 S60",
            "M104 S210",
            "M190 S60",
            "M109 S210",
            "G28",
            "G92 E0",
        ] {
            assert!(gcode.contains(&format!("\n{code} ")), "{code} missing");
        }
        assert!(gcode.find("M109").unwrap() < gcode.find(";LAYER:0").unwrap());
        assert!(gcode.trim_end().ends_with("M84 ; motors off"));
        assert_eq!(gcode.matches(";LAYER:").count(), 50);
        assert!(gcode.contains(";LAYER:0\nG0 Z0.200 F7200\nG0 X"));
        assert!(gcode.contains(" F7200\nG1 X"));
        assert!(gcode.contains(" F2400\nG1 X"));

        let loops = check_gcode(&gcode);
        assert_eq!(loops.len(), 100, "two perimeters per layer");
        for (n, (layer, points)) in loops.iter().enumerate() {
            assert_eq!(*layer, n / 2);
            let xs = points.iter().map(|p| p[0]);
            let (lo, hi) = (
                xs.clone().fold(f64::MAX, f64::min),
                xs.fold(f64::MIN, f64::max),
            );
            let inset = if n % 2 == 0 { 0.225 } else { 0.675 };
            assert!((lo - (95.0 + inset)).abs() < 1e-9 && (hi - (105.0 - inset)).abs() < 1e-9);
        }

        // Two squares per layer, their centre lines 0.225 and 0.675 mm inside
        // the 10 mm outline (sides 9.55 and 8.65 mm), 0.2 mm layers.
        let per_layer = 4.0 * 9.55 + 4.0 * 8.65;
        let expected = 50.0 * per_layer * 0.2 * 0.45 / settings.filament_area();
        assert!(
            (analysis.filament_length - expected).abs() < 1e-3,
            "{analysis:?}"
        );
        let last_e = moves(&gcode)
            .iter()
            .filter_map(|m| m.e)
            .next_back()
            .unwrap();
        assert_eq!(analysis.filament_length, last_e);
        let volume = expected * settings.filament_area() / 1000.0;
        assert!((analysis.filament_volume - volume).abs() < 1e-6);
        assert!(analysis.print_time > 50.0 * per_layer / 40.0);
        assert!(analysis.print_time < 50.0 * per_layer / 40.0 + 60.0);

        let json = analysis.to_json();
        assert_eq!(json["layerCount"], 50);
        assert_eq!(json["printingArea"]["minX"], 95.225);
        assert_eq!(json["printingArea"]["maxY"], 104.775);
        assert_eq!(json["printingArea"]["minZ"], 0.2);
        assert_eq!(json["printingArea"]["maxZ"], 10.0);
        assert!((json["dimensions"]["width"].as_f64().unwrap() - 9.55).abs() < 1e-9);
        assert!((json["dimensions"]["height"].as_f64().unwrap() - 9.8).abs() < 1e-9);
        assert_eq!(
            json["filament"]["tool0"]["length"],
            analysis.filament_length
        );
    }

    #[test]
    fn first_layer_uses_its_own_thickness() {
        let mut mesh = box_mesh([0.0; 3], [10.0; 3]);
        crate::geometry::place(&mut mesh, [100.0, 100.0]);
        let plan = crate::slice::LayerPlan {
            first_layer_height: 0.4,
            layer_height: 0.2,
        };
        let layers = slice_mesh(&mesh, plan, &mut |_| {}, &AtomicBool::new(false)).unwrap();
        let settings = SliceSettings {
            perimeters: 1,
            ..SliceSettings::default()
        };
        let (gcode, _) = write(&layers[..2], &settings);
        let e: Vec<f64> = moves(&gcode).iter().filter_map(|m| m.e).collect();
        // Four sides per layer: the first layer extrudes twice as much.
        let first = e[3];
        let second = e[7] - e[3];
        assert!((first / second - 2.0).abs() < 1e-3, "{first} vs {second}");
    }

    #[test]
    fn zero_temperatures_skip_heating() {
        let settings = SliceSettings {
            bed_temperature: 0.0,
            hotend_temperature: 0.0,
            ..SliceSettings::default()
        };
        let (gcode, _) = write(&cube_layers()[..1], &settings);
        for code in ["M140 S0 ; heat", "M190", "M109", "M104 S0 ; heat"] {
            assert!(!gcode.contains(code), "{code}");
        }
    }

    #[test]
    fn tiny_steps_still_increase_e() {
        // Outlines whose moves are a micrometre long extrude less than an E step each.
        let settings = SliceSettings {
            layer_height: 0.01,
            first_layer_height: 0.01,
            // Half of it is the inset: far less than a step.
            extrusion_width: 0.0001,
            perimeters: 1,
            ..SliceSettings::default()
        };
        let mut polygon = Vec::new();
        for i in 0..100 {
            polygon.push([i as f64 * 0.001, 0.0]);
        }
        polygon.push([0.1, 0.1]);
        let layer = Layer {
            z: 0.01,
            thickness: 0.01,
            outlines: vec![polygon],
            open_chains: 0,
        };
        let (gcode, analysis) = write(&[layer], &settings);
        let loops = check_gcode(&gcode);
        assert_eq!(loops.len(), 1);
        assert!(analysis.extrudes);
    }

    #[test]
    fn degenerate_outlines_and_insets_are_skipped() {
        let settings = SliceSettings {
            perimeters: 5,
            ..SliceSettings::default()
        };
        let layer = Layer {
            z: 0.2,
            thickness: 0.2,
            outlines: vec![
                // Collapses to fewer than three points at micrometre resolution.
                vec![[0.0, 0.0], [0.0001, 0.0], [0.0, 0.0001]],
                // A 2 mm square has room for loops inset by 0.225 and 0.675 mm, not 1.125 mm.
                vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]],
            ],
            open_chains: 0,
        };
        let (gcode, analysis) = write(&[layer], &settings);
        assert_eq!(check_gcode(&gcode).len(), 2);
        assert_eq!(analysis.min[0], 0.225);
        assert_eq!(analysis.max[0], 1.775);

        let empty = Layer {
            z: 0.2,
            thickness: 0.2,
            outlines: vec![],
            open_chains: 0,
        };
        let (gcode, analysis) = write(&[empty], &settings);
        assert!(check_gcode(&gcode).is_empty());
        assert!(!analysis.extrudes);
        assert_eq!(analysis.to_json()["dimensions"]["width"], 0.0);
    }

    #[test]
    fn cancel_stops_writing() {
        let layers = cube_layers();
        let cancel = AtomicBool::new(false);
        let mut out = Vec::new();
        let mut calls = 0;
        let result = write_gcode(
            &mut out,
            &layers,
            &SliceSettings::default(),
            JobInfo {
                model: "m",
                profile: "p",
            },
            &mut |_| {
                calls += 1;
                if calls == 3 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        );
        assert!(matches!(result, Err(WriteError::Cancelled)));
        assert_eq!(calls, 3);
    }

    #[test]
    fn write_errors_are_reported() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let result = write_gcode(
            &mut Full,
            &cube_layers(),
            &SliceSettings::default(),
            JobInfo {
                model: "m",
                profile: "p",
            },
            &mut |_| {},
            &AtomicBool::new(false),
        );
        assert!(matches!(result, Err(WriteError::Io(e)) if e.to_string() == "disk full"));
    }

    #[test]
    fn number_formatting() {
        assert_eq!(fixed(0, 3), "0.000");
        assert_eq!(fixed(-5, 3), "-0.005");
        assert_eq!(fixed(123456, 3), "123.456");
        assert_eq!(fixed(7, 5), "0.00007");
        assert_eq!(feed(40.0), "2400");
        assert_eq!(feed(12.345), "740.7");
        assert_eq!(clean("a\nb"), "a?b");
    }
}
