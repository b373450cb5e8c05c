//! Streaming G-code analysis: filament use, print time estimate and the
//! areas a file prints and travels in.
//!
//! The reference is OctoPrint's `octoprint/util/gcodeInterpreter.py` (class
//! `gcode`, method `load`), which its analysis queue runs on every uploaded
//! G-code file; the results and their JSON shape follow it, quirks included
//! (E, I, J, R and G92 values are not scaled by `G20`, `G91` makes E relative
//! too, `G90` does not undo `M83`, the Z minimum starts at the bed, a
//! full-circle arc counts as length 0). Deliberate differences: line numbers
//! (`N12`), checksums (`*71`), lower-case letters and packed words (`X1Y2`)
//! are understood; a bare axis letter after `G28` homes that axis only; tools
//! at or above `max_extruders` are ignored; the filament diameter falls back
//! to [`AnalysisOptions::filament_diameter`] when no slicer comment declares
//! one (Cura's compressed profile comment is not read); tool offsets (profile
//! or `M218`) are not modelled; tools that extruded nothing are left out of
//! the JSON `filament` (OctoPrint's UI hides them anyway).

use std::f64::consts::{PI, TAU};
use std::io::BufRead;

use serde_json::{json, Map, Value};

/// Lines read between two polls of the abort flag.
const ABORT_POLL_LINES: u64 = 4096;

/// Options of one analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisOptions {
    /// Filament diameter in mm for volumes when no slicer comment declares
    /// one (`filament_diameter = …`, `filament_diameter: …`,
    /// `filamentDiameter,…`); 1.75 by default.
    pub filament_diameter: f64,
    /// Feedrate in mm/min until the file sets one with `F` (OctoPrint's
    /// smaller of the profile's X and Y speed, 6000 by default). As in
    /// OctoPrint, G0 and G1 then share the last `F`; 0 stands for 2000.
    pub speed_g0: f64,
    /// Tool numbers from this one up are ignored; 10 by default.
    pub max_extruders: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            filament_diameter: 1.75,
            speed_g0: 6000.0,
            max_extruders: 10,
        }
    }
}

/// Why an analysis stopped.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Reading the G-code failed.
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    /// The abort callback asked to stop.
    #[error("the analysis was aborted")]
    Aborted,
}

/// A box in mm (X, Y, Z), as OctoPrint's `printingArea` and `travelArea`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Area {
    /// Smallest X, Y and Z (Z never above the bed, 0, as in OctoPrint).
    pub min: [f64; 3],
    /// Largest X, Y and Z.
    pub max: [f64; 3],
}

impl Area {
    /// Width, depth and height: the extents along X, Y and Z.
    pub fn size(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.max[a] - self.min[a])
    }

    fn area_json(&self) -> Value {
        let ([min_x, min_y, min_z], [max_x, max_y, max_z]) = (self.min, self.max);
        json!({
            "minX": min_x, "minY": min_y, "minZ": min_z,
            "maxX": max_x, "maxY": max_y, "maxZ": max_z,
        })
    }

    fn dimensions_json(&self) -> Value {
        let [width, depth, height] = self.size();
        json!({ "width": width, "depth": depth, "height": height })
    }

    /// A box to grow: nothing recorded yet, Z's minimum at the bed.
    fn tracker() -> Self {
        let inf = f64::INFINITY;
        let (min, max) = ([inf, inf, 0.0], [-inf; 3]);
        Self { min, max }
    }

    fn record(&mut self, p: [f64; 3]) {
        for (axis, v) in p.into_iter().enumerate() {
            self.min[axis] = self.min[axis].min(v);
            self.max[axis] = self.max[axis].max(v);
        }
    }

    /// Widens to the extreme points of the axes an arc crosses, OctoPrint's
    /// way: counter-clockwise from `start` to `end` (radians in 0..2π).
    fn record_arc(&mut self, (center, radius, start, end): Curve) {
        let (start, end) = (start.to_degrees(), end.to_degrees());
        let crosses =
            |angle: f64| (end < start && angle == 0.0) || (start <= angle && angle <= end);
        for (angle, axis, sign) in [
            (0.0, 0, 1.0),
            (90.0, 1, 1.0),
            (180.0, 0, -1.0),
            (270.0, 1, -1.0),
        ] {
            if crosses(angle) {
                let extreme = center[axis] + sign * radius;
                if sign > 0.0 {
                    self.max[axis] = self.max[axis].max(extreme);
                } else {
                    self.min[axis] = self.min[axis].min(extreme);
                }
            }
        }
    }

    /// The box, if anything was recorded.
    fn recorded(&self) -> Option<Area> {
        self.max[0].is_finite().then_some(*self)
    }
}

/// An arc: centre (X, Y), radius, start and end angle.
type Curve = ([f64; 2], f64, f64, f64);

/// The filament one tool used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToolFilament {
    /// Length in mm: the most E the tool pushed out net of retractions.
    pub length: f64,
    /// Volume in cm³ of that length.
    pub volume: f64,
}

/// The result of an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct GcodeAnalysis {
    /// Estimated print time in seconds.
    pub print_time: f64,
    /// Filament per tool, indexed by tool number: every tool up to the
    /// highest one selected, including those that extruded nothing.
    pub filament: Vec<ToolFilament>,
    /// Filament diameter in mm the volumes were computed with.
    pub filament_diameter: f64,
    /// Box of the moves that extrude; `None` when there are none.
    pub printing_area: Option<Area>,
    /// Box of all moves; `None` when there are none.
    pub travel_area: Option<Area>,
}

impl GcodeAnalysis {
    /// Whether nothing was printed: the printing area has no extent (the
    /// test of OctoPrint's `octoprint analysis gcode` for an empty result).
    pub fn is_empty(&self) -> bool {
        self.printing_area.is_none_or(|a| a.size() == [0.0; 3])
    }

    /// OctoPrint's JSON shape: `printingArea`, `dimensions`, `travelArea`,
    /// `travelDimensions`, `estimatedPrintTime` (seconds, left out when 0)
    /// and `filament` (`toolN` with `length` in mm and `volume` in cm³).
    /// An empty result is OctoPrint's: all 0s, `_empty` and no time.
    pub fn to_json(&self) -> Value {
        if self.is_empty() {
            let zeros = json!({"minX": 0, "maxX": 0, "minY": 0, "maxY": 0, "minZ": 0, "maxZ": 0});
            let dims = json!({"width": 0, "height": 0, "depth": 0});
            return json!({
                "_empty": true,
                "printingArea": zeros, "travelArea": zeros,
                "dimensions": dims, "travelDimensions": dims,
                "filament": {},
            });
        }
        let (print, travel) = (self.printing_area, self.travel_area);
        let (print, travel) = (print.unwrap_or_default(), travel.unwrap_or_default());
        let filament = self
            .filament
            .iter()
            .enumerate()
            .filter(|(_, t)| t.length > 0.0);
        let filament: Map<String, Value> = filament
            .map(|(i, t)| {
                (
                    format!("tool{i}"),
                    json!({"length": t.length, "volume": t.volume}),
                )
            })
            .collect();
        let mut out = json!({
            "printingArea": print.area_json(), "dimensions": print.dimensions_json(),
            "travelArea": travel.area_json(), "travelDimensions": travel.dimensions_json(),
            "filament": filament,
        });
        if self.print_time != 0.0 {
            out["estimatedPrintTime"] = json!(self.print_time);
        }
        out
    }
}

/// Analyses G-code read from `reader`. `total_bytes` is the file size, for
/// `progress`, which gets the fraction read (0 to 1) at most every 1% and 1
/// at the end; `abort` is polled every few thousand lines.
pub fn analyse(
    mut reader: impl BufRead,
    total_bytes: u64,
    options: &AnalysisOptions,
    progress: &mut dyn FnMut(f64),
    abort: &dyn Fn() -> bool,
) -> Result<GcodeAnalysis, AnalysisError> {
    let mut machine = Machine::new(options);
    let mut line = Vec::with_capacity(256);
    let step = (total_bytes / 100).max(1);
    let (mut read, mut next_report, mut lines) = (0u64, step, 0u64);
    loop {
        if lines % ABORT_POLL_LINES == 0 && abort() {
            return Err(AnalysisError::Aborted);
        }
        line.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        lines += 1;
        read += n as u64;
        if n as u64 == MAX_LINE && line.last() != Some(&b'\n') {
            // No G-code line is this long: the rest of it is skipped unread.
            read += skip_line(&mut reader)?;
            continue;
        }
        machine.line(&line);
        if read >= next_report && read < total_bytes {
            progress(read as f64 / total_bytes as f64);
            next_report = read + step;
        }
    }
    progress(1.0);
    Ok(machine.finish())
}

/// The longest line parsed, in bytes; a longer one is skipped.
const MAX_LINE: u64 = 64 * 1024;

/// Skips to the end of the current line; the bytes skipped.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(skipped);
        }
        let (used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        reader.consume(used);
        skipped += used as u64;
        if done {
            return Ok(skipped);
        }
    }
}

/// Splits a line (comment and checksum already cut) into its command letter
/// (upper case), number and the text of its parameters, skipping a line
/// number; a `.n` subcode is ignored.
fn parse_command(text: &[u8]) -> Option<(u8, u32, &[u8])> {
    let mut rest = text.trim_ascii_start();
    if let [b'N' | b'n', tail @ ..] = rest {
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        rest = tail[digits..].trim_ascii_start();
    }
    let (&letter, tail) = rest.split_first()?;
    let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
    let number = std::str::from_utf8(&tail[..digits]).ok()?.parse().ok()?;
    let mut params = &tail[digits..];
    if let [b'.', sub @ ..] = params {
        params = &sub[sub.iter().take_while(|b| b.is_ascii_digit()).count()..];
    }
    Some((letter.to_ascii_uppercase(), number, params))
}

/// The first word with `letter` (either case): `Some(None)` when the letter
/// is there without a number.
fn word(params: &[u8], letter: u8) -> Option<Option<f64>> {
    let at = params
        .iter()
        .position(|b| b.eq_ignore_ascii_case(&letter))?;
    Some(number(&params[at + 1..]))
}

/// The number of the first word with `letter`, if any.
fn value(params: &[u8], letter: u8) -> Option<f64> {
    word(params, letter).flatten()
}

/// The finite decimal number at the start of `bytes`.
fn number(bytes: &[u8]) -> Option<f64> {
    let mut len = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let mut dot = false;
    while let Some(&b) = bytes.get(len) {
        if b == b'.' && !dot {
            dot = true;
        } else if !b.is_ascii_digit() {
            break;
        }
        len += 1;
    }
    let parsed: f64 = std::str::from_utf8(&bytes[..len]).ok()?.parse().ok()?;
    parsed.is_finite().then_some(parsed)
}

/// The straight distance between two points.
fn distance(from: [f64; 3], to: [f64; 3]) -> f64 {
    (0..3)
        .map(|a| (to[a] - from[a]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// E bookkeeping of one tool.
#[derive(Debug, Clone, Copy, Default)]
struct Extruder {
    /// The E position the firmware believes in (reset by G92).
    position: f64,
    /// Net E pushed out since the start.
    total: f64,
    /// The largest `total` reached: the filament length.
    max: f64,
}

impl Extruder {
    fn push(&mut self, delta: f64) {
        self.position += delta;
        self.total += delta;
        self.max = self.max.max(self.total);
    }
}

/// The interpreter's state while reading.
#[derive(Default)]
struct Machine {
    pos: [f64; 3],
    feedrate: f64,
    minutes: f64,
    scale: f64,
    relative: bool,
    relative_e: bool,
    duplication: bool,
    tool: usize,
    tools: Vec<Extruder>,
    max_extruders: usize,
    /// Firmware retraction (M207): minutes and length.
    retract: (f64, f64),
    /// Firmware recovery (M208): minutes.
    recover: f64,
    print: Area,
    travel: Area,
    declared_diameter: Option<f64>,
    default_diameter: f64,
}

impl Machine {
    fn new(options: &AnalysisOptions) -> Self {
        Self {
            feedrate: Some(options.speed_g0)
                .filter(|&f| f != 0.0)
                .unwrap_or(2000.0),
            scale: 1.0,
            tools: vec![Extruder::default()],
            max_extruders: options.max_extruders,
            print: Area::tracker(),
            travel: Area::tracker(),
            default_diameter: options.filament_diameter,
            ..Self::default()
        }
    }

    fn line(&mut self, raw: &[u8]) {
        let mut text = raw;
        if let Some(at) = text.iter().position(|&b| b == b';') {
            self.comment(&text[at + 1..]);
            text = &text[..at];
        }
        if let Some(at) = text.iter().position(|&b| b == b'*') {
            text = &text[..at];
        }
        let Some((letter, number, p)) = parse_command(text) else {
            return;
        };
        match (letter, number) {
            (b'G', 0 | 1) => self.movement(p, None),
            (b'G', 2) => self.movement(p, Some(true)),
            (b'G', 3) => self.movement(p, Some(false)),
            (b'G', 4) => {
                self.minutes += value(p, b'S').map_or(0.0, |s| s / 60.0);
                self.minutes += value(p, b'P').map_or(0.0, |ms| ms / 60.0 / 1000.0);
            }
            (b'G', 10) => self.minutes += self.retract.0,
            (b'G', 11) => self.minutes += self.recover,
            (b'G', 20) => self.scale = 25.4,
            (b'G', 21) => self.scale = 1.0,
            (b'G', 28) => {
                let named = [b'X', b'Y', b'Z'].map(|l| word(p, l).is_some());
                let all = !named.contains(&true);
                for (at, named) in self.pos.iter_mut().zip(named) {
                    if all || named {
                        *at = 0.0;
                    }
                }
            }
            (b'G', 90) => self.relative = false,
            (b'G', 91) => self.relative = true,
            (b'G', 92) => self.set_position(p),
            (b'M', 82) => self.relative_e = false,
            (b'M', 83) => self.relative_e = true,
            (b'M', 207 | 208) => {
                if let (Some(s), Some(f)) = (value(p, b'S'), value(p, b'F')) {
                    let minutes = |length: f64| if f > 0.0 { length / f } else { 0.0 };
                    if number == 207 {
                        self.retract = (minutes(s), s);
                    } else {
                        self.recover = minutes(self.retract.1 + s);
                    }
                }
            }
            (b'M', 605) => {
                let s = value(p, b'S');
                self.duplication = matches!(s, Some(s) if [2.0, 4.0, 5.0, 6.0].contains(&s));
            }
            (b'T', tool) if (tool as usize) < self.max_extruders => {
                self.tool = tool as usize;
                if self.tools.len() <= self.tool {
                    self.tools.resize(self.tool + 1, Extruder::default());
                }
            }
            _ => {}
        }
    }

    /// Notes a slicer's filament diameter comment; the last one wins.
    fn comment(&mut self, text: &[u8]) {
        let text = text.trim_ascii();
        let found = if let Some(rest) = text.strip_prefix(b"filament_diameter") {
            let sep = rest.iter().position(|&b| b == b'=');
            sep.or_else(|| rest.iter().position(|&b| b == b':'))
                .map(|at| &rest[at + 1..])
        } else {
            text.strip_prefix(b"filamentDiameter,")
        };
        let parse = |b: &[u8]| -> Option<f64> {
            let d: f64 = std::str::from_utf8(b.trim_ascii()).ok()?.parse().ok()?;
            d.is_finite().then_some(d)
        };
        // The number, else the first of a list, else 0, as OctoPrint.
        if let Some(found) = found {
            let first = || parse(found.split(|&b| b == b',').next()?);
            self.declared_diameter = Some(parse(found).or_else(first).unwrap_or(0.0));
        }
    }

    /// Books an E word; returns how far E moved (negative when retracting).
    fn extrude(&mut self, p: &[u8]) -> f64 {
        let Some(e) = value(p, b'E') else {
            return 0.0;
        };
        let extruder = &mut self.tools[self.tool];
        let relative = self.relative || self.relative_e;
        let delta = e - if relative { 0.0 } else { extruder.position };
        extruder.push(delta);
        if self.tool == 0 && self.duplication {
            self.tools[1..].iter_mut().for_each(|t| t.push(delta));
        }
        delta
    }

    /// G0/G1 (`arc` is `None`) and G2/G3 (`Some(clockwise)`).
    fn movement(&mut self, p: &[u8], arc: Option<bool>) {
        let from = self.pos;
        let mut moved = false;
        for (axis, letter) in [b'X', b'Y', b'Z'].into_iter().enumerate() {
            if let Some(v) = value(p, letter) {
                moved = true;
                let v = v * self.scale;
                self.pos[axis] = if self.relative { from[axis] + v } else { v };
            }
        }
        let to = self.pos;
        if let Some(f) = value(p, b'F').filter(|&f| f != 0.0) {
            self.feedrate = f;
        }
        let e = self.extrude(p);
        let (length, curve) = match arc {
            None => (distance(from, to), None),
            Some(clockwise) => {
                let (i, j, r) = (value(p, b'I'), value(p, b'J'), value(p, b'R'));
                moved |= i.is_some() || j.is_some() || r.is_some();
                let (i, j) = (i.unwrap_or(0.0), j.unwrap_or(0.0));
                let radius = r.unwrap_or_else(|| i.hypot(j));
                let center = [from[0] + i, from[1] + j];
                let mut start = (from[1] - center[1]).atan2(from[0] - center[0]);
                let mut end = (to[1] - center[1]).atan2(to[0] - center[0]);
                let mut sweep = end - start;
                if clockwise {
                    std::mem::swap(&mut start, &mut end);
                    sweep = -sweep;
                }
                for angle in [&mut start, &mut end, &mut sweep] {
                    if *angle < 0.0 {
                        *angle += TAU;
                    }
                }
                let length = (from[2] - to[2]).hypot(sweep * radius);
                (length, Some((center, radius, start, end)))
            }
        };
        if moved {
            for (bounds, wanted) in [(&mut self.travel, true), (&mut self.print, e > 0.0)] {
                if wanted {
                    bounds.record(from);
                    bounds.record(to);
                    curve.into_iter().for_each(|c| bounds.record_arc(c));
                }
            }
        }
        self.minutes += length.max(e.abs()) / self.feedrate.abs();
    }

    /// G92: sets the named axes and E, or all of them to 0 when none is named.
    fn set_position(&mut self, p: &[u8]) {
        let axes = [b'X', b'Y', b'Z'].map(|l| value(p, l));
        let e = value(p, b'E');
        let none = e.is_none() && axes == [None; 3];
        if let Some(e) = e.or(none.then_some(0.0)) {
            self.tools[self.tool].position = e;
        }
        for (at, v) in self.pos.iter_mut().zip(axes) {
            if let Some(v) = v.or(none.then_some(0.0)) {
                *at = v;
            }
        }
    }

    fn finish(self) -> GcodeAnalysis {
        let diameter = self.declared_diameter.unwrap_or(self.default_diameter);
        let radius = diameter / 2.0;
        let filament = self.tools.iter().map(|t| ToolFilament {
            length: t.max,
            volume: t.max * (PI * radius * radius) / 1000.0,
        });
        GcodeAnalysis {
            print_time: self.minutes * 60.0,
            filament: filament.collect(),
            filament_diameter: diameter,
            printing_area: self.print.recorded(),
            travel_area: self.travel.recorded(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn run_with(src: &[u8], options: &AnalysisOptions) -> GcodeAnalysis {
        analyse(src, src.len() as u64, options, &mut |_| {}, &|| false).unwrap()
    }

    fn run(src: &str) -> GcodeAnalysis {
        run_with(src.as_bytes(), &AnalysisOptions::default())
    }

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    fn lengths(a: &GcodeAnalysis) -> Vec<f64> {
        a.filament.iter().map(|t| t.length).collect()
    }

    fn area(min: [f64; 3], max: [f64; 3]) -> Option<Area> {
        Some(Area { min, max })
    }

    #[test]
    fn an_overlong_line_is_skipped_and_the_rest_read() {
        let mut src = b"G1 X10 E1 F600\n".to_vec();
        src.extend(std::iter::repeat_n(b'x', 200_000));
        src.extend_from_slice(b"\nG1 Y10 E2\n");
        let a = run_with(&src, &AnalysisOptions::default());
        assert_eq!(lengths(&a), [2.0]);
        assert_eq!(a.printing_area.unwrap().max[1], 10.0);
    }

    #[test]
    fn cube_outline() {
        let src = "G21\nG90\nM82\nG28\nG1 Z0.2 F600\nG1 X10 Y10 F3000\nG92 E0\nG1 X30 Y10 E1\n\
                   G1 X30 Y30 E2\nG1 X10 Y30 E3\nG1 X10 Y10 E4\nG1 Z10\n";
        let json = run(src).to_json();
        let volume = 0.009_621_127_501_618_741;
        let expected = json!({
            "printingArea": {"minX": 10.0, "minY": 10.0, "minZ": 0.0,
                             "maxX": 30.0, "maxY": 30.0, "maxZ": 0.2},
            "dimensions": {"width": 20.0, "depth": 20.0, "height": 0.2},
            "travelArea": {"minX": 0.0, "minY": 0.0, "minZ": 0.0,
                           "maxX": 30.0, "maxY": 30.0, "maxZ": 10.0},
            "travelDimensions": {"width": 30.0, "depth": 30.0, "height": 10.0},
            "estimatedPrintTime": json["estimatedPrintTime"],
            "filament": {"tool0": {"length": 4.0, "volume": json["filament"]["tool0"]["volume"]}},
        });
        assert_eq!(json, expected);
        close(
            json["estimatedPrintTime"].as_f64().unwrap(),
            2.098_842_712_474_619,
        );
        close(
            json["filament"]["tool0"]["volume"].as_f64().unwrap(),
            volume,
        );
    }

    #[test]
    fn relative_moves_make_e_relative_too() {
        let a = run("G91\nG1 X10 Y5 E1 F6000\nG1 X10 E1\nG1 Y-20 E1\n");
        assert_eq!(lengths(&a), [3.0]);
        assert_eq!(a.printing_area, area([0.0, -15.0, 0.0], [20.0, 5.0, 0.0]));
    }

    #[test]
    fn relative_extrusion_survives_g90() {
        let a = run("M83\nG90\nG1 X10 E2\nG1 X20 E2\nG1 X30 E-1\nG1 E1\nG1 X40 E2\n");
        assert_eq!(lengths(&a), [6.0]);
        assert_eq!(a.printing_area, area([0.0, 0.0, 0.0], [40.0, 0.0, 0.0]));
        let a = run("M83\nG1 X10 E6\nM82\nG1 X20 E10\n");
        assert_eq!(lengths(&a), [10.0]);
    }

    #[test]
    fn g92_resets_and_retractions() {
        let a = run("G1 X10 E5\nG1 E3\nG92 E0\nG1 E2\nG1 X20 E4\n");
        assert_eq!(lengths(&a), [7.0]);
        let a = run("G1 X10 E5\nG1 E3\nG92 E0\nG1 E2\nG1 X20 E4\nG92\nG1 X5 E1\n");
        assert_eq!(lengths(&a), [8.0]);
        assert_eq!(a.travel_area, area([0.0; 3], [20.0, 0.0, 0.0]));
    }

    #[test]
    fn tool_changes() {
        let a = run("T0\nG1 X10 E3\nT1\nG92 E0\nG1 X20 E4\nT0\nG1 X30 E5\n\
                     T12\nG1 X40 E6\nT3\nT0\n");
        assert_eq!(lengths(&a), [6.0, 4.0, 0.0, 0.0]);
        let json = a.to_json();
        let tools: Vec<_> = json["filament"].as_object().unwrap().keys().collect();
        assert_eq!(tools, ["tool0", "tool1"]);
        close(a.filament[1].volume, 0.009_621_127_501_618_741);
    }

    #[test]
    fn inches_scale_axes_but_not_e() {
        let a = run("G20\nG1 X1 Y1 E0.5 F600\nG21\nG1 X30\n");
        assert_eq!(lengths(&a), [0.5]);
        assert_eq!(a.printing_area, area([0.0; 3], [25.4, 25.4, 0.0]));
        assert_eq!(a.travel_area, area([0.0; 3], [30.0, 25.4, 0.0]));
    }

    #[test]
    fn dwell_and_firmware_retraction_take_time() {
        let a = run("G4 P500\nG4 S2\nM207 S2 F1200\nM208 S0.5 F600\nG10\nG11\n");
        close(a.print_time, 2.85);
        assert_eq!(lengths(&a), [0.0]);
    }

    #[test]
    fn arcs() {
        let a = run("G1 X10 Y0 F600\nG3 X-10 Y0 I-10 J0 E5\n");
        close(a.print_time, 1.0 + PI);
        assert_eq!(a.printing_area, area([-10.0, 0.0, 0.0], [10.0, 10.0, 0.0]));
        let a = run("G2 X10 Y0 I5 J0 E1 F600\n");
        close(a.print_time, PI / 2.0);
        assert_eq!(a.printing_area, area([0.0; 3], [10.0, 5.0, 0.0]));
    }

    #[test]
    fn estimated_time() {
        let src = "G0 X100\nG1 X130 Y40 F3000\nG1 E10 F600\nG1 X100 Y0 E20 F6000\n\
                   G0 X110\nG4 P400\n";
        let options = AnalysisOptions {
            speed_g0: 3000.0,
            ..Default::default()
        };
        let a = run_with(src.as_bytes(), &options);
        close(a.print_time, 5.0);
        close(a.to_json()["estimatedPrintTime"].as_f64().unwrap(), 5.0);
    }

    #[test]
    fn no_extrusion_is_empty() {
        let a = run("G28\nG0 X50 Y50 Z5 F6000\nG1 X100\nG1 E5\n");
        assert!(a.is_empty());
        assert_eq!(a.printing_area, None);
        assert_eq!(a.travel_area, area([0.0; 3], [100.0, 50.0, 5.0]));
        assert_eq!(lengths(&a), [5.0]);
        let zeros = json!({"minX": 0, "maxX": 0, "minY": 0, "maxY": 0, "minZ": 0, "maxZ": 0});
        let dims = json!({"width": 0, "height": 0, "depth": 0});
        let expected = json!({"_empty": true, "printingArea": zeros, "travelArea": zeros,
                              "dimensions": dims, "travelDimensions": dims, "filament": {}});
        assert_eq!(a.to_json(), expected);
    }

    #[test]
    fn line_numbers_checksums_comments_and_bytes() {
        let src = b"N1 G28*18\nN2 g1 x10 y10 e1 f1200*45 ; E99 X500\n  ; X600 Y600\n\n\r\n\
                    N3 G1 X20 Y10 E2 ; filament_diameter = 2.85,1.75\r\nG1X30Y10E3 ;\xff\xfe\n";
        let a = run_with(src, &AnalysisOptions::default());
        assert_eq!(lengths(&a), [3.0]);
        assert_eq!(a.filament_diameter, 2.85);
        close(a.filament[0].volume, 0.019_138_189_746_587_323);
        assert_eq!(a.printing_area, area([0.0; 3], [30.0, 10.0, 0.0]));
        assert_eq!(a.travel_area, area([0.0; 3], [30.0, 10.0, 0.0]));
    }

    #[test]
    fn abort_stops_the_analysis() {
        let options = AnalysisOptions::default();
        let result = analyse(&b"G1 X1 E1\n"[..], 9, &options, &mut |_| {}, &|| true);
        assert!(matches!(result, Err(AnalysisError::Aborted)));
        let src = "G1 X1 E1\n".repeat(10_000);
        let polls = Cell::new(0);
        let abort = || {
            polls.set(polls.get() + 1);
            polls.get() == 2
        };
        let result = analyse(
            src.as_bytes(),
            src.len() as u64,
            &options,
            &mut |_| {},
            &abort,
        );
        assert!(matches!(result, Err(AnalysisError::Aborted)));
        assert_eq!(polls.get(), 2);
    }

    #[test]
    fn progress_is_monotonic_and_reaches_one() {
        let src: String = (0..20_000)
            .map(|i| format!("G1 X{} E{i}\n", i % 100))
            .collect();
        let mut seen = Vec::new();
        let options = AnalysisOptions::default();
        let a = analyse(
            src.as_bytes(),
            src.len() as u64,
            &options,
            &mut |f| seen.push(f),
            &|| false,
        );
        assert_eq!(lengths(&a.unwrap()), [19_999.0]);
        assert_eq!(seen.last(), Some(&1.0));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert!(seen.iter().all(|f| (0.0..=1.0).contains(f)));
        assert!((95..=101).contains(&seen.len()), "{} reports", seen.len());
    }
}
