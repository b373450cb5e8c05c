//! A port of [OctoPrint-DisplayProgress](https://github.com/OctoPrint/OctoPrint-DisplayProgress)
//! (Gina Häußge, jneilliii; AGPLv3), written again from its behaviour: on
//! every whole percent of a print it sends `M117 <message>` to the printer,
//! which shows the message on its display.
//!
//! The message is the setting `message` (default `{bar} {progress:>3}%%`,
//! as the original), a Python format string with the placeholders `bar`
//! (`[#####     ]`), `progress` (0 to 100), `storage` and `path`; a
//! placeholder may carry an alignment and width (`{progress:>3}`). As in the
//! original, `%%` is not a format directive and stays as written.
//!
//! What the original did through `self._printer` (`is_printing()`,
//! `commands(…)`) it does through [`Host::printer`], unchanged.

use plinth_sdk::prelude::*;

/// The plugin object.
pub struct DisplayProgress {
    host: Host,
}

impl Plugin for DisplayProgress {
    fn new(host: Host) -> Self {
        DisplayProgress { host }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

impl SettingsPlugin for DisplayProgress {
    fn get_settings_defaults(&self) -> Value {
        json!({"message": "{bar} {progress:>3}%%"})
    }
}

impl ProgressPlugin for DisplayProgress {
    fn on_print_progress(&self, storage: &str, path: &str, progress: u8) {
        let printer = self.host.printer();
        if !printer.is_printing().unwrap_or(false) {
            return;
        }
        let template = self
            .host
            .settings()
            .get_str(&["message"])
            .unwrap_or_else(|| "{bar} {progress:>3}%%".to_owned());
        let message = format_message(&template, progress, storage, path);
        if let Err(e) = printer.commands(&[format!("M117 {message}")]) {
            self.host
                .logger()
                .warn(format_args!("cannot show the progress: {e}"));
        }
    }
}

/// `[#####     ]`: one `#` per ten percent, rounded as Python's `round`
/// (halves to even).
fn progress_bar(progress: u8) -> String {
    let hashes = ((f64::from(progress) / 10.0).round_ties_even() as usize).min(10);
    format!("[{}{}]", "#".repeat(hashes), " ".repeat(10 - hashes))
}

/// Fills the placeholders of a Python format string: `{name}` and
/// `{name:<fill><align><width>}` with `<`, `>` or `^`; `{{` and `}}` are
/// braces. An unknown placeholder stays as written.
fn format_message(template: &str, progress: u8, storage: &str, path: &str) -> String {
    let value = |name: &str| match name {
        "bar" => Some(progress_bar(progress)),
        "progress" => Some(progress.to_string()),
        "storage" => Some(storage.to_owned()),
        "path" => Some(path.to_owned()),
        _ => None,
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        };
        let field = &tail[1..end];
        let (name, spec) = field.split_once(':').unwrap_or((field, ""));
        match value(name) {
            Some(v) => out.push_str(&pad(&v, spec)),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Applies a format spec's alignment and width (`>3`, `<5`, `^7`, `*>4`).
fn pad(value: &str, spec: &str) -> String {
    let mut chars: Vec<char> = spec.chars().collect();
    let (fill, align) = match chars.as_slice() {
        [f, a, ..] if matches!(a, '<' | '>' | '^') => (*f, *a),
        [a, ..] if matches!(a, '<' | '>' | '^') => (' ', *a),
        _ => (' ', '<'),
    };
    chars.retain(|c| c.is_ascii_digit());
    let width: usize = chars.iter().collect::<String>().parse().unwrap_or(0);
    let len = value.chars().count();
    if len >= width {
        return value.to_owned();
    }
    let gap = width - len;
    let fill = |n: usize| fill.to_string().repeat(n);
    match align {
        '>' => format!("{}{value}", fill(gap)),
        '^' => format!("{}{value}{}", fill(gap / 2), fill(gap - gap / 2)),
        _ => format!("{value}{}", fill(gap)),
    }
}

plinth_sdk::export_plugin! {
    plugin: DisplayProgress,
    name: "DisplayProgress",
    description: "Displays the print progress on the printer's display (a port of OctoPrint-DisplayProgress).",
    mixins: [Settings, Progress],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_message_is_the_originals() {
        assert_eq!(
            format_message("{bar} {progress:>3}%%", 42, "local", "a.gcode"),
            "[####      ]  42%%"
        );
        assert_eq!(
            format_message("{bar} {progress:>3}%%", 100, "local", "a.gcode"),
            "[##########] 100%%"
        );
        assert_eq!(format_message("{bar}", 0, "", ""), "[          ]");
        assert_eq!(
            format_message("{bar}", 5, "", ""),
            "[          ]",
            "halves to even"
        );
        assert_eq!(format_message("{bar}", 15, "", ""), "[##        ]");
    }

    #[test]
    fn placeholders_braces_and_unknown_names() {
        assert_eq!(
            format_message(
                "{storage}:{path} {{x}} {nope} {progress:*^5}",
                7,
                "local",
                "p.gcode"
            ),
            "local:p.gcode {x} {nope} **7**"
        );
    }
}
