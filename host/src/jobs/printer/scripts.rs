//! GCODE scripts: named G-code templates the printer sends at moments of a
//! job (`afterPrintCancelled`, …) or on request (`/api/printer/command`
//! with `script`), as OctoPrint's. A script is a Jinja2 template, read from
//! `<basedir>/scripts/gcode/<name>`; without such a file, OctoPrint's
//! default is used where it has one. `{% snippet 'name' %}` includes the
//! snippet `<basedir>/scripts/gcode/snippets/<name>` (or the default).
//!
//! Templates see `printer_profile`, `last_position` (`{x, y, z, e, t, f}`),
//! `last_temperature` (by heater: `{tool0: {actual, target}, …}`) and what
//! the caller passes (`/api/printer/command`'s `context`).

use std::path::PathBuf;

use minijinja::Environment;
use plinth_abi::Value;

/// The scripts OctoPrint runs around a job and a connection.
pub const KNOWN: &[&str] = &[
    "afterPrinterConnected",
    "beforePrinterDisconnected",
    "beforePrintStarted",
    "afterPrintCancelled",
    "afterPrintDone",
    "beforePrintPaused",
    "afterPrintPaused",
    "beforePrintResumed",
    "afterPrintResumed",
    "beforeToolChange",
    "afterToolChange",
];

/// OctoPrint's default script contents (the others are empty).
fn default_script(name: &str) -> Option<&'static str> {
    match name {
        "afterPrintCancelled" => Some(
            "; disable motors\nM84\n\n;disable all heaters\n{% snippet 'disable_hotends' %}\n{% snippet 'disable_bed' %}\n;disable fan\nM106 S0",
        ),
        "snippets/disable_hotends" => Some(
            "{% if printer_profile.extruder.sharedNozzle %}M104 T0 S0\n{% else %}{% for tool in range(printer_profile.extruder.count) %}M104 T{{ tool }} S0\n{% endfor %}{% endif %}",
        ),
        "snippets/disable_bed" => Some("{% if printer_profile.heatedBed %}M140 S0\n{% endif %}"),
        _ => None,
    }
}

/// Why a script cannot be sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// No file and no default of that name.
    #[error("there is no GCODE script {0:?} (scripts live in {1})")]
    Unknown(String, String),
    /// A name with a path in it.
    #[error("{0:?} is not a script name: use letters, digits and `_` only")]
    BadName(String),
    /// The template does not render.
    #[error("GCODE script {name:?} does not render: {error}")]
    Render { name: String, error: String },
}

/// The scripts folder of one host.
#[derive(Debug, Clone)]
pub struct Scripts {
    folder: PathBuf,
}

impl Scripts {
    /// Scripts in `folder` (`<basedir>/scripts/gcode`).
    pub fn new(folder: PathBuf) -> Self {
        Self { folder }
    }

    fn source(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.folder.join(name))
            .ok()
            .or_else(|| default_script(name).map(str::to_owned))
    }

    /// The lines of script `name` rendered with `context`, comments and
    /// blank lines left out. A known script without content renders to
    /// nothing; an unknown one is an error.
    pub fn render(&self, name: &str, context: &Value) -> Result<Vec<String>, ScriptError> {
        if !is_name(name) {
            return Err(ScriptError::BadName(name.to_owned()));
        }
        let Some(source) = self.source(name) else {
            if KNOWN.contains(&name) {
                return Ok(Vec::new());
            }
            return Err(ScriptError::Unknown(
                name.to_owned(),
                self.folder.display().to_string(),
            ));
        };
        let failed = |e: minijinja::Error| ScriptError::Render {
            name: name.to_owned(),
            error: e.to_string(),
        };
        let mut env = Environment::new();
        let scripts = self.clone();
        // Only scripts and snippets by name: nothing outside the folder.
        env.set_loader(move |path| {
            let name = path.strip_prefix("snippets/").unwrap_or(path);
            Ok(is_name(name).then(|| scripts.source(path)).flatten())
        });
        let source = expand_snippets(&source);
        let template = env.template_from_str(&source).map_err(failed)?;
        let text = template.render(context).map_err(failed)?;
        Ok(text
            .split(['\r', '\n'])
            .map(|l| l.split(';').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// OctoPrint's `{% snippet 'x' %}` as a plain include of `snippets/x`.
fn expand_snippets(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{% snippet ") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{% snippet ".len()..];
        let Some(end) = after.find("%}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim().trim_matches(['\'', '"']);
        out.push_str(&format!("{{% include 'snippets/{name}' %}}"));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use plinth_abi::json;

    fn context(count: u32, bed: bool) -> Value {
        json!({"printer_profile": {"extruder": {"count": count, "sharedNozzle": false}, "heatedBed": bed}})
    }

    #[test]
    fn the_default_cancel_script_turns_everything_off() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = Scripts::new(dir.path().to_owned());
        assert_eq!(
            scripts
                .render("afterPrintCancelled", &context(2, true))
                .unwrap(),
            ["M84", "M104 T0 S0", "M104 T1 S0", "M140 S0", "M106 S0"]
        );
        assert_eq!(
            scripts
                .render("afterPrintCancelled", &context(1, false))
                .unwrap(),
            ["M84", "M104 T0 S0", "M106 S0"]
        );
        assert!(scripts
            .render("afterPrintDone", &context(1, true))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_users_script_wins_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("purge"),
            "G1 E{{ amount }} ; purge\n\nG92 E0",
        )
        .unwrap();
        let scripts = Scripts::new(dir.path().to_owned());
        assert_eq!(
            scripts.render("purge", &json!({"amount": 5})).unwrap(),
            ["G1 E5", "G92 E0"]
        );
        assert!(matches!(
            scripts.render("nothing_here", &json!({})),
            Err(ScriptError::Unknown(..))
        ));
        assert!(matches!(
            scripts.render("../config.yaml", &json!({})),
            Err(ScriptError::BadName(_))
        ));
        std::fs::write(dir.path().join("broken"), "{% if %}").unwrap();
        assert!(matches!(
            scripts.render("broken", &json!({})),
            Err(ScriptError::Render { .. })
        ));
    }
}
