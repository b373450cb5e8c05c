//! The hooks the host calls, by name, with their arguments and what their
//! handlers return.
//!
//! A plugin registers a handler by name (`Registry::hook` in the SDK, or one
//! of its typed helpers). The host calls every handler of a hook in
//! `(order, plugin identifier)` order, each with the arguments below as JSON,
//! and reads the handler's answer as described. A handler that fails (an
//! error, a panic, a crash of its process) is logged under the plugin's name
//! and skipped: the line, temperatures or data go on as if it had answered
//! "unchanged".
//!
//! Names, arguments and answers are OctoPrint's; where OctoPrint passes
//! Python objects (the `comm_instance`, tuples, sets) the host passes JSON:
//! the comm instance is left out (use the host handle's printer instead),
//! tuples are arrays and sets are arrays of strings.

use serde::{Deserialize, Serialize};

/// `octoprint.comm.protocol.gcode.queuing`: a command is about to enter the
/// send queue. Arguments: [`GcodeHookArgs`]. Answer: a [`GcodeHookArgs`]
/// answer (see [`GcodeHookArgs`]): keep, rewrite, expand into several
/// commands (only in this phase) or drop.
pub const GCODE_QUEUING: &str = "octoprint.comm.protocol.gcode.queuing";
/// `octoprint.comm.protocol.gcode.queued`: a command entered the send
/// queue. Arguments: [`GcodeHookArgs`]. The answer is ignored.
pub const GCODE_QUEUED: &str = "octoprint.comm.protocol.gcode.queued";
/// `octoprint.comm.protocol.gcode.sending`: a command is about to be written
/// to the printer. Arguments: [`GcodeHookArgs`]. Answer: keep, rewrite or
/// drop (one command at most: an expansion is refused, logged, and the
/// command sent as it was).
pub const GCODE_SENDING: &str = "octoprint.comm.protocol.gcode.sending";
/// `octoprint.comm.protocol.gcode.sent`: a command was written to the
/// printer. Arguments: [`GcodeHookArgs`]. The answer is ignored.
pub const GCODE_SENT: &str = "octoprint.comm.protocol.gcode.sent";
/// `octoprint.comm.protocol.gcode.received`: the printer sent a line.
/// Arguments: `{"line": "<line>"}`. Answer: the line, possibly rewritten,
/// as a string; `null` drops it (later handlers and the host do not see it).
pub const GCODE_RECEIVED: &str = "octoprint.comm.protocol.gcode.received";
/// `octoprint.comm.protocol.atcommand.queuing`: an `@command` (a line
/// starting with `@`, never sent to the printer) is queued. Arguments:
/// [`AtCommandHookArgs`]. The answer is ignored.
pub const ATCOMMAND_QUEUING: &str = "octoprint.comm.protocol.atcommand.queuing";
/// `octoprint.comm.protocol.atcommand.sending`: an `@command` reached the
/// head of the send queue. Arguments: [`AtCommandHookArgs`]. The answer is
/// ignored. The host itself handles `@pause`, `@resume`, `@cancel` and
/// `@abort` in this phase, after the handlers.
pub const ATCOMMAND_SENDING: &str = "octoprint.comm.protocol.atcommand.sending";
/// `octoprint.comm.protocol.temperatures.received`: the printer reported
/// temperatures. Arguments: `{"parsed_temperatures": {"T0": [actual,
/// target], "B": [actual, target], …}}` (target `null` when not reported).
/// Answer: the temperatures, possibly changed, in the same shape; `null` or
/// `{}` drops the report.
pub const TEMPERATURES_RECEIVED: &str = "octoprint.comm.protocol.temperatures.received";
/// `octoprint.comm.protocol.firmware.info`: the printer answered `M115`.
/// Arguments: `{"firmware_name": "<name>", "firmware_data": {"FIRMWARE_NAME":
/// …, "PROTOCOL_VERSION": …, …}}`. The answer is ignored.
pub const FIRMWARE_INFO: &str = "octoprint.comm.protocol.firmware.info";
/// `octoprint.comm.protocol.firmware.capabilities`: the printer reported
/// its capabilities (`Cap:` lines after `M115`). Arguments:
/// `{"firmware_capabilities": {"AUTOREPORT_TEMP": true, …}}`. The answer is
/// ignored.
pub const FIRMWARE_CAPABILITIES: &str = "octoprint.comm.protocol.firmware.capabilities";
/// `octoprint.comm.protocol.action`: the printer sent an action command
/// (`//action:<name> <params>`). Arguments: `{"line": "<line>", "action":
/// "<name> <params>", "name": "<name>", "params": "<params>"}`. The answer
/// is ignored. The host itself handles `pause` and `paused` (pauses the
/// print), `resume` and `resumed`, `cancel` and `disconnect` after the
/// handlers.
pub const ACTION: &str = "octoprint.comm.protocol.action";

/// OctoPrint's `PrinterCallback.on_printer_send_current_data(data)`: the
/// printer's current data, at most every half second while it reports and
/// at each change of state. Arguments: `{"data": {"state": {"text",
/// "flags", "error"}, "job", "progress", "currentZ", "offsets", "resends",
/// "messages", "busyFiles", "serverTime"}}`, the push channel's `current`
/// message without its logs and temperatures. The answer is ignored.
/// Delivered on a thread of its own; a plugin that falls behind misses
/// messages rather than slowing the printer.
pub const PRINTER_CURRENT_DATA: &str = "plinth.printer.send_current_data";
/// OctoPrint's `PrinterCallback.on_printer_add_log(data)`: terminal lines
/// (`Send: …`, `Recv: …`) since the last call. Arguments: `{"lines":
/// ["…", …]}`, oldest first. The answer is ignored. Delivered as
/// [`PRINTER_CURRENT_DATA`].
pub const PRINTER_ADD_LOG: &str = "plinth.printer.add_log";
/// OctoPrint's `PrinterCallback.on_printer_add_temperature(data)`:
/// temperature samples since the last call. Arguments: `{"samples":
/// [{"time": <seconds>, "tool0": {"actual", "target"}, "bed": …}, …]}`,
/// oldest first. The answer is ignored. Delivered as
/// [`PRINTER_CURRENT_DATA`].
pub const PRINTER_ADD_TEMPERATURE: &str = "plinth.printer.add_temperature";

/// `octoprint.filemanager.extension_tree`: file types the uploads folder
/// accepts, beside G-code and what slicers add. Arguments: `{}`. Answer: an
/// extension tree to merge, `{"<type>": {"<subtype>": ["<extension>", …]}}`
/// (`{"model": {"amf": ["amf"]}}`); anything else is ignored.
pub const FILEMANAGER_EXTENSION_TREE: &str = "octoprint.filemanager.extension_tree";
/// `octoprint.filemanager.preprocessor`: a file is about to be stored
/// (uploaded or added by a plugin). Arguments: `{"path": "<destination in
/// the uploads folder>", "file": "<path on disk of the new content>",
/// "printer_profile": {…the current printer profile…}, "allow_overwrite":
/// bool}`. The handler may rewrite the file at `"file"` in place (it is a
/// temporary file the host then moves into place); the answer is ignored.
/// Handlers run in order, each seeing what the one before wrote.
pub const FILEMANAGER_PREPROCESSOR: &str = "octoprint.filemanager.preprocessor";
/// `octoprint.access.permissions`: the plugin's own permissions. Arguments:
/// `{}`. Answer: a list of `{"key": "<KEY>", "name": "<name>",
/// "description": "<text>", "dangerous": bool, "default_groups":
/// ["users", …]}` (`roles` is accepted and ignored). Each becomes the
/// permission `plugin_<id>_<key>` (lower case): `users` among its default
/// groups grants it to every user, administrators have it, and others get
/// it when granted (`plinth user add … --permissions plugin_<id>_<key>`).
/// It is listed with the user's permissions wherever those are (the
/// `FindUser` service, the REST API's checks), so a plugin checks a
/// request's user with `Host::find_user`. Asked once per change of the
/// plugins; restart-needing, as in OctoPrint.
pub const ACCESS_PERMISSIONS: &str = "octoprint.access.permissions";
/// `octoprint.events.register_custom_events`: the plugin's own events.
/// Arguments: `{}`. Answer: a list of names; each is registered as
/// `plugin_<id>_<name>` (what the plugin's host handle fires) and listed
/// with the host's events.
pub const EVENTS_REGISTER_CUSTOM_EVENTS: &str = "octoprint.events.register_custom_events";
/// `octoprint.server.http.bodysize`: larger request bodies for some of the
/// plugin's Blueprint routes. Arguments: `{"current_max_body_sizes": [...],
/// "default_max_body_size": <bytes>}`. Answer: a list of `["POST"|"PUT"|
/// "PATCH", "<route>", <bytes>]`, the route a regular expression matched at
/// the start of the path below `/plugin/<id>` (`/upload`, `/files/.*`), as
/// OctoPrint's. Other routes take 2 MiB; a larger body gets 413.
/// Restart-needing.
pub const SERVER_HTTP_BODYSIZE: &str = "octoprint.server.http.bodysize";
/// `octoprint.cli.commands`: subcommands under `plinth plugins run <id>`.
/// Called with `{"list": true}`: answer a list of `{"name": "<command>",
/// "help": "<one line>"}`. Called with `{"command": "<name>", "args":
/// ["…"]}`: run it; answer `{"output": "<text printed>", "exit_code":
/// <n>}` (a string answer is printed, exit code 0).
pub const CLI_COMMANDS: &str = "octoprint.cli.commands";

/// The hooks that make a plugin restart-needing (OctoPrint's
/// `plugin_restart_needing_hooks`): a plugin handling one of them is
/// enabled or disabled at the next start, as a `RestartNeedingPlugin`.
/// Patterns as [`hook_matches_hooks`] reads them.
pub const RESTART_NEEDING: &[&str] = &[
    "octoprint.server.http.*",
    "octoprint.printer.factory",
    "octoprint.access.permissions",
    "octoprint.timelapse.extensions",
];

/// Whether handling `hook` makes a plugin restart-needing.
pub fn is_restart_needing(hook: &str) -> bool {
    hook_matches_hooks(hook, RESTART_NEEDING)
}

/// Whether `hook` matches one of `patterns`, as OctoPrint's
/// `PluginManager.hook_matches_hooks`: shell-style patterns (its
/// `fnmatch`): `*` any run of characters, `?` one character, `[abc]` one
/// of those, `[!abc]` one that is not, `[a-z]` a range; anything else
/// itself. An empty hook matches nothing, an empty pattern never matches.
pub fn hook_matches_hooks(hook: &str, patterns: &[&str]) -> bool {
    !hook.is_empty()
        && patterns.iter().any(|pattern| {
            let (name, pattern): (Vec<char>, Vec<char>) =
                (hook.chars().collect(), pattern.chars().collect());
            !pattern.is_empty() && fnmatch(&name, &pattern)
        })
}

/// `name` against a shell-style `pattern` (see [`hook_matches_hooks`]).
fn fnmatch(name: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        // `*`: nothing here, or one more character and `*` again.
        Some(('*', rest)) => {
            fnmatch(name, rest) || (!name.is_empty() && fnmatch(&name[1..], pattern))
        }
        Some(('?', rest)) => !name.is_empty() && fnmatch(&name[1..], rest),
        Some(('[', rest)) => match class(rest) {
            Some((members, negated, after)) => name
                .split_first()
                .is_some_and(|(c, tail)| in_class(members, *c) != negated && fnmatch(tail, after)),
            // An unclosed `[` is itself, as in fnmatch.
            None => name.first() == Some(&'[') && fnmatch(&name[1..], rest),
        },
        Some((c, rest)) => name.first() == Some(c) && fnmatch(&name[1..], rest),
    }
}

/// A `[...]` class from what follows its `[`: its members, whether it is
/// negated (`[!...]`) and the pattern after its `]`; `None` when unclosed.
fn class(after_bracket: &[char]) -> Option<(&[char], bool, &[char])> {
    let (negated, body) = match after_bracket.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, after_bracket),
    };
    // A `]` first in the class is one of its members.
    let from = usize::from(body.first() == Some(&']'));
    let close = from + body[from..].iter().position(|c| *c == ']')?;
    Some((&body[..close], negated, &body[close + 1..]))
}

/// Whether `c` is among a class's members (`a-z` a range).
fn in_class(members: &[char], c: char) -> bool {
    match members {
        [] => false,
        [from, '-', to, rest @ ..] => (*from <= c && c <= *to) || in_class(rest, c),
        [m, rest @ ..] => *m == c || in_class(rest, c),
    }
}

/// The G-code hooks' phase, in the order a command passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GcodePhase {
    /// Before it enters the send queue: [`GCODE_QUEUING`].
    Queuing,
    /// After it entered the send queue: [`GCODE_QUEUED`].
    Queued,
    /// Before it is written: [`GCODE_SENDING`].
    Sending,
    /// After it was written: [`GCODE_SENT`].
    Sent,
}

impl GcodePhase {
    /// Every phase, in order.
    pub const ALL: [GcodePhase; 4] = [
        GcodePhase::Queuing,
        GcodePhase::Queued,
        GcodePhase::Sending,
        GcodePhase::Sent,
    ];

    /// The phase as OctoPrint names it (`queuing`, …).
    pub const fn name(self) -> &'static str {
        match self {
            GcodePhase::Queuing => "queuing",
            GcodePhase::Queued => "queued",
            GcodePhase::Sending => "sending",
            GcodePhase::Sent => "sent",
        }
    }

    /// The hook of this phase.
    pub const fn hook(self) -> &'static str {
        match self {
            GcodePhase::Queuing => GCODE_QUEUING,
            GcodePhase::Queued => GCODE_QUEUED,
            GcodePhase::Sending => GCODE_SENDING,
            GcodePhase::Sent => GCODE_SENT,
        }
    }

    /// Whether the handlers' answers count (queuing and sending); the
    /// answers of queued and sent handlers are ignored.
    pub const fn rewrites(self) -> bool {
        matches!(self, GcodePhase::Queuing | GcodePhase::Sending)
    }
}

/// The arguments of the G-code hooks (OctoPrint's `phase, cmd, cmd_type,
/// gcode, subcode, tags`).
///
/// # The answer (queuing and sending)
/// - `null`: the command goes on unchanged;
/// - a string: it replaces the command;
/// - an object `{"cmd": "<command>", "cmd_type": "<type>", "tags": […]}`
///   (`cmd_type` and `tags` optional; tags are added): it replaces the
///   command (OctoPrint's 1-, 2- and 3-tuples);
/// - an array of strings and objects: the command is replaced by all of them,
///   in order (only in the queuing phase); `null` entries and entries whose
///   `cmd` is `null` are left out, so `[]` drops the command (OctoPrint's
///   `None,`).
///
/// Commands a handler added or rewrote carry the tags `source:rewrite`,
/// `phase:<phase>` and `plugin:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GcodeHookArgs {
    /// The phase: `queuing`, `queued`, `sending` or `sent`.
    pub phase: GcodePhase,
    /// The command, e.g. `G1 X10 F3000` (no line number, no checksum).
    pub cmd: String,
    /// The command's type, if its sender gave one (e.g. `temperature_poll`).
    pub cmd_type: Option<String>,
    /// Its G-code: `G1`, `M104`, `T` (tool changes); `null` for others.
    pub gcode: Option<String>,
    /// The subcode after a dot (`G29.1` has `1`).
    pub subcode: Option<String>,
    /// Where it came from and why, e.g. `source:file`, `source:api`,
    /// `plugin:<id>`, `trigger:printer.commands`, `filepos:1234`.
    pub tags: Vec<String>,
}

/// The arguments of the `@command` hooks (OctoPrint's `phase, command,
/// parameters, tags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtCommandHookArgs {
    /// `queuing` or `sending`.
    pub phase: GcodePhase,
    /// The command without its `@`, e.g. `pause`.
    pub command: String,
    /// The text after the command.
    pub parameters: String,
    /// As [`GcodeHookArgs::tags`].
    pub tags: Vec<String>,
}

/// The compact encoding of [`GcodeHookArgs`] for
/// [`CallGcodeHook`](crate::methods::plugin::CallGcodeHook): a line of a
/// print crosses to every handler without JSON.
///
/// Layout: the phase (one byte, 0 to 3 in [`GcodePhase::ALL`] order), then
/// `cmd`, `cmd_type`, `gcode`, `subcode` and the tags, each text as a
/// little-endian `u32` length and UTF-8 bytes; an absent optional text is
/// the length `u32::MAX`; the tags are preceded by their count (`u32`).
pub struct GcodeWire;

const ABSENT: u32 = u32::MAX;

fn put(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(t) => {
            out.extend_from_slice(&(t.len() as u32).to_le_bytes());
            out.extend_from_slice(t.as_bytes());
        }
        None => out.extend_from_slice(&ABSENT.to_le_bytes()),
    }
}

/// Encodes the arguments from borrowed parts (the host does not build a
/// [`GcodeHookArgs`] per line).
pub fn encode_gcode_args<'a>(
    phase: GcodePhase,
    cmd: &str,
    cmd_type: Option<&str>,
    gcode: Option<&str>,
    subcode: Option<&str>,
    tags: impl ExactSizeIterator<Item = &'a str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + cmd.len() + tags.len() * 16);
    let index = GcodePhase::ALL
        .iter()
        .position(|p| *p == phase)
        .unwrap_or(0);
    out.push(index as u8);
    put(&mut out, Some(cmd));
    put(&mut out, cmd_type);
    put(&mut out, gcode);
    put(&mut out, subcode);
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for tag in tags {
        put(&mut out, Some(tag));
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, String> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or("the G-code arguments end early")?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*head))
    }

    fn text(&mut self) -> Result<Option<&'a str>, String> {
        let len = self.u32()?;
        if len == ABSENT {
            return Ok(None);
        }
        let len = len as usize;
        if self.0.len() < len {
            return Err("the G-code arguments end early".into());
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        std::str::from_utf8(text)
            .map(Some)
            .map_err(|_| "a G-code argument is not UTF-8".to_owned())
    }
}

/// The tags of a [`GcodeCommand`].
#[derive(Debug, Clone, Copy)]
pub struct Tags<'a>(TagsInner<'a>);

#[derive(Debug, Clone, Copy)]
enum TagsInner<'a> {
    /// Checked encoded tags: `count` texts in [`GcodeWire`]'s layout.
    Encoded {
        bytes: &'a [u8],
        count: usize,
    },
    List(&'a [String]),
}

impl<'a> Tags<'a> {
    /// Every tag, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (mut encoded, mut list) = match self.0 {
            TagsInner::Encoded { bytes, count } => (Some((Reader(bytes), count)), None),
            TagsInner::List(list) => (None, Some(list.iter().map(String::as_str))),
        };
        std::iter::from_fn(move || {
            if let Some((reader, left)) = &mut encoded {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // Checked when the command was parsed.
                return reader.text().ok().flatten();
            }
            list.as_mut().and_then(Iterator::next)
        })
    }

    /// Whether `tag` is one of them.
    pub fn contains(&self, tag: &str) -> bool {
        self.iter().any(|t| t == tag)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        match self.0 {
            TagsInner::Encoded { count, .. } => count,
            TagsInner::List(list) => list.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A command as a G-code hook handler sees it, borrowed from the call (no
/// copy per handler): OctoPrint's `cmd`, `cmd_type`, `gcode`, `subcode` and
/// `tags`.
#[derive(Debug, Clone, Copy)]
pub struct GcodeCommand<'a> {
    /// The phase.
    pub phase: GcodePhase,
    /// The command, e.g. `G1 X10 F3000`.
    pub cmd: &'a str,
    /// Its type, if its sender gave one.
    pub cmd_type: Option<&'a str>,
    /// Its G-code: `G1`, `M104`, `T`; `None` for others.
    pub gcode: Option<&'a str>,
    /// The subcode after a dot.
    pub subcode: Option<&'a str>,
    /// Its tags.
    pub tags: Tags<'a>,
}

impl<'a> GcodeCommand<'a> {
    /// Reads [`GcodeWire`]'s bytes, checking all of them.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let (&phase, rest) = bytes.split_first().ok_or("no G-code arguments")?;
        let phase = *GcodePhase::ALL
            .get(phase as usize)
            .ok_or_else(|| format!("unknown G-code phase {phase}"))?;
        let mut r = Reader(rest);
        let cmd = r.text()?.ok_or("a G-code command without text")?;
        let (cmd_type, gcode, subcode) = (r.text()?, r.text()?, r.text()?);
        let count = r.u32()? as usize;
        let tags_start = r.0;
        for _ in 0..count {
            r.text()?.ok_or("a tag without text")?;
        }
        if !r.0.is_empty() {
            return Err("bytes left after the G-code arguments".into());
        }
        Ok(GcodeCommand {
            phase,
            cmd,
            cmd_type,
            gcode,
            subcode,
            tags: Tags(TagsInner::Encoded {
                bytes: tags_start,
                count,
            }),
        })
    }

    /// A view of owned arguments.
    pub fn of(args: &'a GcodeHookArgs) -> Self {
        GcodeCommand {
            phase: args.phase,
            cmd: &args.cmd,
            cmd_type: args.cmd_type.as_deref(),
            gcode: args.gcode.as_deref(),
            subcode: args.subcode.as_deref(),
            tags: Tags(TagsInner::List(&args.tags)),
        }
    }

    /// The same, owned.
    pub fn to_args(&self) -> GcodeHookArgs {
        GcodeHookArgs {
            phase: self.phase,
            cmd: self.cmd.to_owned(),
            cmd_type: self.cmd_type.map(str::to_owned),
            gcode: self.gcode.map(str::to_owned),
            subcode: self.subcode.map(str::to_owned),
            tags: self.tags.iter().map(str::to_owned).collect(),
        }
    }
}

impl crate::wire::Codec<GcodeHookArgs> for GcodeWire {
    fn encode(a: &GcodeHookArgs) -> Result<Vec<u8>, String> {
        Ok(encode_gcode_args(
            a.phase,
            &a.cmd,
            a.cmd_type.as_deref(),
            a.gcode.as_deref(),
            a.subcode.as_deref(),
            a.tags.iter().map(String::as_str),
        ))
    }

    fn decode(bytes: &[u8]) -> Result<GcodeHookArgs, String> {
        GcodeCommand::parse(bytes).map(|c| c.to_args())
    }
}

/// The answer of [`CallGcodeHook`](crate::methods::plugin::CallGcodeHook):
/// JSON as [`GcodeHookArgs`] describes, with "unchanged" (`null`) as no
/// bytes at all, the answer to nearly every line.
pub struct GcodeAnswerWire;

impl crate::wire::Codec<serde_json::Value> for GcodeAnswerWire {
    fn encode(value: &serde_json::Value) -> Result<Vec<u8>, String> {
        if value.is_null() {
            return Ok(Vec::new());
        }
        serde_json::to_vec(value).map_err(|e| format!("cannot encode: {e}"))
    }

    fn decode(bytes: &[u8]) -> Result<serde_json::Value, String> {
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(bytes).map_err(|e| format!("cannot decode: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_needing_hooks_match_as_octoprints() {
        assert!(is_restart_needing("octoprint.server.http.routes"));
        assert!(is_restart_needing("octoprint.server.http.bodysize"));
        assert!(is_restart_needing("octoprint.access.permissions"));
        assert!(!is_restart_needing("octoprint.server.api.before_request"));
        assert!(!is_restart_needing(GCODE_QUEUING));
    }

    /// OctoPrint's `test_hook_matches_hooks`, row by row (its `None`
    /// rows are the empty hook and an empty pattern here), and the rest of
    /// `fnmatch`'s patterns.
    #[test]
    fn hooks_match_patterns_as_octoprints_fnmatch() {
        let hook = "octoprint.some_hook";
        for (hook, patterns, expected) in [
            (
                hook,
                &["octoprint.another_hook", "octoprint.some_hook"][..],
                true,
            ),
            (hook, &["octoprint.*"][..], true),
            (hook, &["octoprint.some_hook*"][..], true),
            (hook, &["octoprint.*_hook"][..], true),
            (hook, &["octoprint.another_hook.*"][..], false),
            ("", &["octoprint.some_hook"][..], false),
            (hook, &[][..], false),
            (hook, &[""][..], false),
            // Beyond OctoPrint's rows: ?, classes, ranges, negation.
            (hook, &["octoprint.some_hoo?"][..], true),
            (hook, &["octoprint.some_hoo??"][..], false),
            (hook, &["octoprint.[st]ome_hook"][..], true),
            (hook, &["octoprint.[!s]ome_hook"][..], false),
            (hook, &["octoprint.[a-z]ome_hook"][..], true),
            (hook, &["octoprint.[0-9]ome_hook"][..], false),
            ("a[b", &["a[b"][..], true),
            ("a]b", &["a[]]b"][..], true),
            (hook, &["*"][..], true),
            (hook, &["octoprint"][..], false),
        ] {
            assert_eq!(
                hook_matches_hooks(hook, patterns),
                expected,
                "{hook:?} against {patterns:?}"
            );
        }
    }

    #[test]
    fn gcode_arguments_round_trip_and_bad_bytes_are_refused() {
        let args = GcodeHookArgs {
            phase: GcodePhase::Sent,
            cmd: "G1 X10 ; ünïcode".into(),
            cmd_type: None,
            gcode: Some("G1".into()),
            subcode: Some("".into()),
            tags: vec!["source:file".into(), "filepos:12".into()],
        };
        let bytes = GcodeWire::encode(&args).unwrap();
        assert_eq!(GcodeWire::decode(&bytes).unwrap(), args);
        for cut in 0..bytes.len() {
            assert!(GcodeWire::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let view = GcodeCommand::parse(&bytes).unwrap();
        assert_eq!(
            view.tags.iter().collect::<Vec<_>>(),
            ["source:file", "filepos:12"]
        );
        assert!(view.tags.contains("filepos:12") && !view.tags.contains("x"));
        assert_eq!(GcodeCommand::of(&args).to_args(), args);
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(GcodeWire::decode(&extra).is_err());
        let mut bad_phase = bytes.clone();
        bad_phase[0] = 9;
        assert!(GcodeWire::decode(&bad_phase).is_err());
        use crate::wire::Codec as _;
        assert_eq!(
            GcodeAnswerWire::encode(&serde_json::Value::Null).unwrap(),
            b""
        );
        assert_eq!(
            GcodeAnswerWire::decode(b"").unwrap(),
            serde_json::Value::Null
        );
        assert_eq!(
            GcodeAnswerWire::decode(b"[]").unwrap(),
            serde_json::json!([])
        );
        let mut huge = vec![0u8];
        huge.extend_from_slice(&1_000_000u32.to_le_bytes());
        assert!(GcodeWire::decode(&huge).is_err());
    }
}
