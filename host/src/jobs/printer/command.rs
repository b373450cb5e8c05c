//! One command on its way to the printer, and how the G-code hooks' answers
//! change it (OctoPrint's `_normalize_command_handler_result`).

use std::collections::BTreeSet;

use plinth_abi::hooks::{GcodeHookArgs, GcodePhase};
use plinth_abi::Value;

/// A command in the send queue, with what the G-code hooks see of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The command, without line number or checksum.
    pub cmd: String,
    /// Its type, if the sender gave one.
    pub cmd_type: Option<String>,
    /// Where it came from and why (`source:file`, `trigger:…`, `plugin:<id>`).
    pub tags: BTreeSet<String>,
}

impl Command {
    /// A command with `tags`.
    pub fn new(cmd: impl Into<String>, tags: &[&str]) -> Self {
        Self {
            cmd: cmd.into(),
            cmd_type: None,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Its G-code (`G1`, `M104`, `T`, `F`) and subcode, as OctoPrint reads them.
    pub fn gcode(&self) -> (Option<&str>, Option<&str>) {
        gcode_and_subcode(&self.cmd)
    }

    /// Whether it is an `@command` (handled by the host, never sent).
    pub fn is_atcommand(&self) -> bool {
        self.cmd.trim_start().starts_with('@')
    }

    /// The hook arguments for `phase`, in the compact encoding of
    /// `CallGcodeHook`.
    pub fn encode(&self, phase: GcodePhase) -> Vec<u8> {
        let (gcode, subcode) = self.gcode();
        plinth_abi::hooks::encode_gcode_args(
            phase,
            &self.cmd,
            self.cmd_type.as_deref(),
            gcode,
            subcode,
            self.tags.iter().map(String::as_str),
        )
    }

    /// The hook arguments for `phase`.
    pub fn hook_args(&self, phase: GcodePhase) -> GcodeHookArgs {
        let (gcode, subcode) = self.gcode();
        GcodeHookArgs {
            phase,
            cmd: self.cmd.clone(),
            cmd_type: self.cmd_type.clone(),
            gcode: gcode.map(str::to_owned),
            subcode: subcode.map(str::to_owned),
            tags: self.tags.iter().cloned().collect(),
        }
    }
}

/// Why a handler's answer was not used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadAnswer {
    /// The answer is of a shape the hook does not take.
    #[error(
        "a G-code hook answers null, a string, an object with `cmd`, or an array of those; got {0}"
    )]
    Shape(String),
    /// Several commands where only one may be (every phase but queuing).
    #[error("only a queuing handler may expand a command into several; the {0} handler's answer was ignored")]
    Expansion(&'static str),
}

/// The commands a handler's `answer` leaves in place of `command` (empty:
/// dropped). Added and rewritten commands get `added_tags`.
pub fn apply_answer(
    command: &Command,
    answer: &Value,
    phase: GcodePhase,
    added_tags: &[String],
) -> Result<Vec<Command>, BadAnswer> {
    let entries: Vec<&Value> = match answer {
        Value::Null => return Ok(vec![command.clone()]),
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let (cmd, cmd_type, tags) = match entry {
            Value::Null => continue,
            Value::String(cmd) => (cmd.clone(), command.cmd_type.clone(), None),
            Value::Object(fields) => {
                let cmd = match fields.get("cmd") {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(cmd)) => cmd.clone(),
                    Some(other) => return Err(BadAnswer::Shape(format!("`cmd`: {other}"))),
                };
                let cmd_type = match fields.get("cmd_type") {
                    None => command.cmd_type.clone(),
                    Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(t.clone()),
                    Some(other) => return Err(BadAnswer::Shape(format!("`cmd_type`: {other}"))),
                };
                let tags = match fields.get("tags") {
                    None | Some(Value::Null) => None,
                    Some(Value::Array(tags)) => Some(
                        tags.iter()
                            .map(|t| t.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| BadAnswer::Shape("`tags`: not all strings".into()))?,
                    ),
                    Some(other) => return Err(BadAnswer::Shape(format!("`tags`: {other}"))),
                };
                (cmd, cmd_type, tags)
            }
            other => return Err(BadAnswer::Shape(other.to_string())),
        };
        if cmd.contains(['\n', '\r']) {
            return Err(BadAnswer::Shape(format!(
                "a command with a line break: {cmd:?}"
            )));
        }
        // As OctoPrint sends commands: without comments, and nothing for an empty one.
        let cmd = super::job::strip_comment(&cmd).to_owned();
        if cmd.is_empty() {
            continue;
        }
        let mut next = Command {
            cmd,
            cmd_type,
            tags: command.tags.clone(),
        };
        next.tags.extend(tags.into_iter().flatten());
        if next.cmd != command.cmd || next.cmd_type != command.cmd_type {
            next.tags.extend(added_tags.iter().cloned());
        }
        out.push(next);
    }
    if out.len() > 1 && phase != GcodePhase::Queuing {
        return Err(BadAnswer::Expansion(phase.name()));
    }
    Ok(out)
}

/// OctoPrint's `gcode_and_subcode_for_cmd`: `G1`/`M104` (with `.n` as
/// subcode) and `T` for a tool change.
pub fn gcode_and_subcode(cmd: &str) -> (Option<&str>, Option<&str>) {
    let text = cmd.trim_start();
    let bytes = text.as_bytes();
    let Some(&first) = bytes.first() else {
        return (None, None);
    };
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let n = digits(1);
    if n == 0 {
        return (None, None);
    }
    // OctoPrint matches upper case only, and a bare `F` only with
    // `supportFAsCommand` (off by default).
    match first {
        b'G' | b'M' => {
            let gcode = &text[..1 + n];
            let after = 1 + n;
            let sub = if bytes.get(after) == Some(&b'.') {
                let m = digits(after + 1);
                (m > 0).then(|| &text[after + 1..after + 1 + m])
            } else {
                None
            };
            (Some(gcode), sub)
        }
        b'T' => (Some(&text[..1]), None),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plinth_abi::json;

    fn m105() -> Command {
        Command::new("M105", &["source:api"])
    }

    fn cmds(list: &[Command]) -> Vec<&str> {
        list.iter().map(|c| c.cmd.as_str()).collect()
    }

    #[test]
    fn gcodes_and_subcodes_as_octoprint_reads_them() {
        assert_eq!(gcode_and_subcode("G1 X10"), (Some("G1"), None));
        assert_eq!(gcode_and_subcode("  M104 S200"), (Some("M104"), None));
        assert_eq!(gcode_and_subcode("G29.1"), (Some("G29"), Some("1")));
        assert_eq!(gcode_and_subcode("T1"), (Some("T"), None));
        assert_eq!(gcode_and_subcode("F3000"), (None, None));
        assert_eq!(gcode_and_subcode("g1 x1"), (None, None));
        assert_eq!(gcode_and_subcode("@pause"), (None, None));
        assert_eq!(gcode_and_subcode("G"), (None, None));
        assert_eq!(gcode_and_subcode(""), (None, None));
    }

    #[test]
    fn answers_keep_rewrite_expand_or_drop() {
        let tags = ["source:rewrite".to_owned()];
        let q = GcodePhase::Queuing;
        assert_eq!(
            apply_answer(&m105(), &Value::Null, q, &tags).unwrap(),
            [m105()]
        );
        let one = apply_answer(&m105(), &json!("M110"), q, &tags).unwrap();
        assert_eq!(cmds(&one), ["M110"]);
        assert!(one[0].tags.contains("source:rewrite") && one[0].tags.contains("source:api"));
        let many = apply_answer(&m105(), &json!(["M110", null, "M117 Hi"]), q, &tags).unwrap();
        assert_eq!(cmds(&many), ["M110", "M117 Hi"]);
        let typed = apply_answer(
            &m105(),
            &json!([{"cmd": "M105", "cmd_type": "temperature_poll", "tags": ["x"]}, {"cmd": null}]),
            q,
            &tags,
        )
        .unwrap();
        assert_eq!(typed.len(), 1);
        assert_eq!(typed[0].cmd_type.as_deref(), Some("temperature_poll"));
        assert!(typed[0].tags.contains("x") && typed[0].tags.contains("source:rewrite"));
        assert!(apply_answer(&m105(), &json!([]), q, &tags)
            .unwrap()
            .is_empty());
        assert!(apply_answer(&m105(), &json!([null]), q, &tags)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn bad_answers_and_late_expansions_are_refused() {
        let s = GcodePhase::Sending;
        assert!(matches!(
            apply_answer(&m105(), &json!(42), s, &[]),
            Err(BadAnswer::Shape(_))
        ));
        assert!(matches!(
            apply_answer(&m105(), &json!({"cmd": 1}), s, &[]),
            Err(BadAnswer::Shape(_))
        ));
        assert!(matches!(
            apply_answer(&m105(), &json!("M117 a\nM112"), s, &[]),
            Err(BadAnswer::Shape(_))
        ));
        assert_eq!(
            apply_answer(&m105(), &json!(["M1", "M2"]), s, &[]),
            Err(BadAnswer::Expansion("sending"))
        );
        assert_eq!(
            cmds(&apply_answer(&m105(), &json!("M1"), s, &[]).unwrap()),
            ["M1"]
        );
    }
}
