//! What the printer's lines mean: acknowledgements, temperatures, resend
//! requests, firmware information, capabilities, positions, action commands
//! and errors, parsed as OctoPrint's serial layer parses them.

use std::collections::BTreeMap;

/// One heater's reading: actual and target temperature (°C).
pub type Reading = (f64, Option<f64>);

/// A line from the printer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `ok`, possibly followed by temperatures (`ok T:…`).
    Ok(Option<BTreeMap<String, Reading>>),
    /// A temperature report (`T:21.3 /0.0 B:…`) without `ok`.
    Temperatures(BTreeMap<String, Reading>),
    /// `Resend: <n>` (or `rs <n>`): send again from line `n`.
    Resend(u64),
    /// `FIRMWARE_NAME:…` (the `M115` answer): the fields, in order.
    FirmwareInfo(Vec<(String, String)>),
    /// `Cap:<NAME>:<0|1>`.
    Capability(String, bool),
    /// `X:… Y:… Z:… E:…` (the `M114` answer).
    Position { x: f64, y: f64, z: f64, e: f64 },
    /// `//action:<name> <params>`.
    Action { name: String, params: String },
    /// `Error:<text>` that is part of a resend request, or about an unknown
    /// command (nothing to do).
    LineError(String),
    /// `Error:<text>` of any other kind: the printer failed.
    Error(String),
    /// Anything else (`echo:…`, `Active Extruder: 0`, …).
    Other,
}

/// Reads one line from the printer. `tool` is the active tool, for a `T:`
/// without a number.
pub fn parse(line: &str, tool: usize) -> Reply {
    let line = line.trim();
    let lower = line.to_ascii_lowercase();
    if lower == "ok" || lower.starts_with("ok ") {
        return Reply::Ok(temperatures(&line[2..], tool));
    }
    if let Some(n) = resend_number(line) {
        return Reply::Resend(n);
    }
    if let Some(rest) = line
        .strip_prefix("Error:")
        .or_else(|| line.strip_prefix("!!"))
    {
        let text = rest.trim().to_owned();
        let lower = text.to_ascii_lowercase();
        // Errors about a line (answered by a resend) or an unknown command
        // (as OctoPrint, ignored) are not failures of the printer.
        let about_lines = [
            "checksum",
            "line number",
            "expected line",
            "no line number",
            "unknown command",
        ]
        .iter()
        .any(|k| lower.contains(k));
        return if about_lines {
            Reply::LineError(text)
        } else {
            Reply::Error(text)
        };
    }
    if let Some(rest) = line.strip_prefix("//action:") {
        let rest = rest.trim();
        let (name, params) = rest.split_once(' ').unwrap_or((rest, ""));
        return Reply::Action {
            name: name.to_owned(),
            params: params.trim().to_owned(),
        };
    }
    if line.starts_with("FIRMWARE_NAME:") {
        return Reply::FirmwareInfo(firmware_fields(line));
    }
    if let Some(rest) = line.strip_prefix("Cap:") {
        if let Some((name, value)) = rest.rsplit_once(':') {
            return Reply::Capability(name.trim().to_owned(), value.trim() == "1");
        }
    }
    if let Some(position) = position(line) {
        return position;
    }
    match temperatures(line, tool) {
        Some(t) => Reply::Temperatures(t),
        None => Reply::Other,
    }
}

fn resend_number(line: &str) -> Option<u64> {
    let lower = line.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("resend:")
        .or_else(|| lower.strip_prefix("rs "))?;
    rest.trim()
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `T:21.30 /0.00 T0:… B:… C:…` → `{"T0": (21.3, Some(0.0)), "B": …}`.
/// `None` when the line has no temperature.
pub fn temperatures(text: &str, tool: usize) -> Option<BTreeMap<String, Reading>> {
    let mut found = BTreeMap::new();
    let mut plain_t = None;
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let Some((sensor, value)) = word.split_once(':') else {
            continue;
        };
        let is_sensor = sensor == "B"
            || sensor == "C"
            || (sensor.starts_with('T') && sensor[1..].chars().all(|c| c.is_ascii_digit()));
        if !is_sensor {
            continue;
        }
        let Ok(actual) = value.parse::<f64>() else {
            continue;
        };
        let target = match words.peek() {
            Some(next) if next.starts_with('/') => {
                let t = next[1..].parse::<f64>().ok();
                words.next();
                t
            }
            _ => None,
        };
        if sensor == "T" {
            plain_t = Some((actual, target));
        } else {
            found.insert(sensor.to_owned(), (actual, target));
        }
    }
    if let Some(reading) = plain_t {
        found.entry(format!("T{tool}")).or_insert(reading);
    }
    (!found.is_empty()).then_some(found)
}

/// `FIRMWARE_NAME:Marlin 2.1 PROTOCOL_VERSION:1.0 …` → its fields; a value
/// runs until the next `UPPER_CASE:` key.
fn firmware_fields(line: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for word in line.split(' ') {
        let key = word.split_once(':').filter(|(k, _)| {
            !k.is_empty()
                && k.starts_with(|c: char| c.is_ascii_uppercase())
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        });
        match (key, fields.last_mut()) {
            (Some((k, v)), _) => fields.push((k.to_owned(), v.to_owned())),
            (None, Some((_, value))) => {
                value.push(' ');
                value.push_str(word);
            }
            (None, None) => {}
        }
    }
    for (_, value) in &mut fields {
        *value = value.trim().to_owned();
    }
    fields
}

fn position(line: &str) -> Option<Reply> {
    if !line.starts_with("X:") {
        return None;
    }
    let before_count = line.split(" Count").next().unwrap_or(line);
    let mut axes = [None; 4];
    for word in before_count.split_whitespace() {
        let Some((axis, value)) = word.split_once(':') else {
            continue;
        };
        let slot = match axis {
            "X" => 0,
            "Y" => 1,
            "Z" => 2,
            "E" => 3,
            _ => continue,
        };
        axes[slot] = value.parse::<f64>().ok();
    }
    let [Some(x), Some(y), Some(z), Some(e)] = axes else {
        return None;
    };
    Some(Reply::Position { x, y, z, e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_and_temperatures() {
        assert_eq!(parse("ok", 0), Reply::Ok(None));
        let Reply::Ok(Some(t)) = parse("ok T:21.30 /0.00 B:60.00 /60.00", 0) else {
            panic!("temperatures in ok")
        };
        assert_eq!(t["T0"], (21.3, Some(0.0)));
        assert_eq!(t["B"], (60.0, Some(60.0)));
        let Reply::Temperatures(t) = parse("T:200.0 /210.0 T0:190.0 /200.0 T1:200.0 /210.0", 1)
        else {
            panic!("a report")
        };
        assert_eq!(t["T0"], (190.0, Some(200.0)), "numbered wins over plain T");
        assert_eq!(t["T1"], (200.0, Some(210.0)));
        let Reply::Temperatures(t) = parse("T:30.5 C:25.0", 2) else {
            panic!("a report")
        };
        assert_eq!(t["T2"], (30.5, None));
        assert_eq!(t["C"], (25.0, None));
    }

    #[test]
    fn resends_errors_actions_and_positions() {
        assert_eq!(parse("Resend: 12", 0), Reply::Resend(12));
        assert_eq!(parse("rs N5", 0), Reply::Resend(5));
        assert!(matches!(
            parse("Error:checksum mismatch, Last Line: 3", 0),
            Reply::LineError(_)
        ));
        assert!(matches!(
            parse("Error:Unknown command: \"M9999\"", 0),
            Reply::LineError(_)
        ));
        assert_eq!(
            parse("Error:Printer halted. kill() called!", 0),
            Reply::Error("Printer halted. kill() called!".into())
        );
        assert_eq!(
            parse("//action:pause now please", 0),
            Reply::Action {
                name: "pause".into(),
                params: "now please".into()
            }
        );
        assert_eq!(
            parse("X:10.00 Y:2.50 Z:0.30 E:1.00 Count X:1000 Y:250 Z:30", 0),
            Reply::Position {
                x: 10.0,
                y: 2.5,
                z: 0.3,
                e: 1.0
            }
        );
        assert_eq!(parse("echo:busy: processing", 0), Reply::Other);
        assert_eq!(parse("Active Extruder: 0", 0), Reply::Other);
    }

    #[test]
    fn firmware_info_and_capabilities() {
        let Reply::FirmwareInfo(fields) = parse(
            "FIRMWARE_NAME:Plinth Virtual Printer PROTOCOL_VERSION:1.0 MACHINE_TYPE:Virtual EXTRUDER_COUNT:1",
            0,
        ) else {
            panic!("firmware info")
        };
        assert_eq!(
            fields,
            [
                (
                    "FIRMWARE_NAME".to_owned(),
                    "Plinth Virtual Printer".to_owned()
                ),
                ("PROTOCOL_VERSION".to_owned(), "1.0".to_owned()),
                ("MACHINE_TYPE".to_owned(), "Virtual".to_owned()),
                ("EXTRUDER_COUNT".to_owned(), "1".to_owned()),
            ]
        );
        assert_eq!(
            parse("Cap:AUTOREPORT_TEMP:1", 0),
            Reply::Capability("AUTOREPORT_TEMP".into(), true)
        );
        assert_eq!(
            parse("Cap:EMERGENCY_PARSER:0", 0),
            Reply::Capability("EMERGENCY_PARSER".into(), false)
        );
    }
}
