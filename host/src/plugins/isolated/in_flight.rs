//! A call in flight as the host times it and names it to a person:
//! `on_event(PrintStarted)`, `loading`.

use std::time::{Duration, Instant};

use super::frame::control;

/// A call in flight, as the host's watch sees it.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Its method or control number.
    pub code: u32,
    /// When it was sent (or last moved on, or came back from the host).
    pub since: Instant,
    /// The plugin's time before `since` (its time between its calls back to
    /// the host, which do not count).
    pub used: Duration,
    /// The host is serving a call of the plugin's meanwhile: the time is
    /// the host's, not the plugin's.
    pub paused: bool,
    /// What it was about (an event's name, a command), when known.
    pub detail: Option<String>,
}

impl InFlight {
    /// Call `code` with `body`, sent now (a batch is described by its first call).
    pub fn new(code: u32, body: &[u8]) -> Self {
        if code == control::BATCH {
            if let Some((method, args)) = super::frame::batch::decode_calls(body) {
                return Self {
                    code: method,
                    since: Instant::now(),
                    used: Duration::ZERO,
                    paused: false,
                    detail: args.first().and_then(|a| detail(method, a)),
                };
            }
        }
        Self {
            code,
            since: Instant::now(),
            used: Duration::ZERO,
            paused: false,
            detail: detail(code, body),
        }
    }

    /// The plugin's time in this call so far.
    pub fn spent(&self) -> Duration {
        if self.paused {
            self.used
        } else {
            self.used + self.since.elapsed()
        }
    }

    /// The host serves a call of the plugin's from now (`true`) or is done
    /// with it: the plugin's clock stops or goes on.
    pub fn pause(&mut self, paused: bool) {
        if paused && !self.paused {
            self.used += self.since.elapsed();
        }
        if !paused {
            self.since = Instant::now();
        }
        self.paused = paused;
    }

    /// The call as the person reads it: `on_event(PrintStarted)`, `loading`.
    pub fn describe(&self) -> String {
        let name = match self.code {
            control::LOAD => return "loading".into(),
            control::INSTANTIATE => return "construction".into(),
            control::EMBEDDED_FILE => return "reading an embedded file".into(),
            control::DROP => return "being dropped".into(),
            // A batch of events is named as the events are.
            code if code == <plinth_abi::methods::plugin::OnEvents as plinth_abi::Method>::ID => {
                "on_event".into()
            }
            code => plinth_abi::methods::plugin::name(code)
                .map(snake_case)
                .unwrap_or_else(|| format!("method {code:#x}")),
        };
        match &self.detail {
            Some(d) => format!("{name}({d})"),
            None => name,
        }
    }
}

/// `OnEvent` → `on_event`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The leading string argument of calls that have one worth naming (the
/// event, command, hook or helper), read without parsing the rest.
fn detail(code: u32, body: &[u8]) -> Option<String> {
    use plinth_abi::methods::plugin as m;
    use plinth_abi::Method;
    if code == m::OnEvents::ID {
        return batch_detail(body);
    }
    if ![
        m::OnEvent::ID,
        m::OnApiCommand::ID,
        m::CallHook::ID,
        m::CallHelper::ID,
    ]
    .contains(&code)
    {
        return None;
    }
    let rest = body.strip_prefix(b"[\"")?;
    let end = rest
        .iter()
        .take(200)
        .position(|&b| b == b'"' || b == b'\\')?;
    String::from_utf8(rest[..end].to_vec()).ok()
}

/// The events of a batch (`OnEvents`), as far as `body` holds them: the
/// only one, or those it may have been in (`one of A, B, …`).
fn batch_detail(body: &[u8]) -> Option<String> {
    // Read by hand: the record may end inside an event, even inside the
    // payload of the first (the name still counts then).
    let mut names = Vec::new();
    let mut cut = false;
    let mut at = 0;
    let part = |at: &mut usize| -> Option<&[u8]> {
        let len = u32::from_le_bytes(body.get(*at..*at + 4)?.try_into().ok()?) as usize;
        let bytes = body.get(*at + 4..(*at + 4).checked_add(len)?)?;
        *at += 4 + len;
        Some(bytes)
    };
    while at < body.len() {
        let Some(name) = part(&mut at).and_then(|n| std::str::from_utf8(n).ok()) else {
            cut = true;
            break;
        };
        names.push(name);
        if part(&mut at).is_none() {
            cut = true;
            break;
        }
    }
    match (names.as_slice(), cut) {
        ([], _) => None,
        ([only], false) => Some((*only).to_owned()),
        (names, cut) => Some(format!(
            "one of {}{}",
            names.join(", "),
            if cut { ", …" } else { "" }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_described_by_name_and_leading_argument() {
        use plinth_abi::methods::plugin as m;
        use plinth_abi::Method;
        let call = |code, body: &[u8]| InFlight::new(code, body);
        assert_eq!(
            call(m::OnEvent::ID, br#"["PrintStarted",{"name":"x"}]"#).describe(),
            "on_event(PrintStarted)"
        );
        assert_eq!(call(m::OnApiGet::ID, b"{}").describe(), "on_api_get");
        let mut batch = Vec::new();
        plinth_abi::events::packed::push(&mut batch, "PrintStarted", b"{}");
        assert_eq!(
            call(m::OnEvents::ID, &batch).describe(),
            "on_event(PrintStarted)"
        );
        plinth_abi::events::packed::push(&mut batch, "PrintDone", b"{}");
        assert_eq!(
            call(m::OnEvents::ID, &batch).describe(),
            "on_event(one of PrintStarted, PrintDone)"
        );
        assert_eq!(
            call(m::OnEvents::ID, &batch[..batch.len() - 3]).describe(),
            "on_event(one of PrintStarted, PrintDone, …)"
        );
        assert_eq!(call(control::LOAD, b"/x.so").describe(), "loading");
        assert_eq!(call(0x7f09, b"").describe(), "method 0x7f09");
    }

    #[test]
    fn the_plugins_time_stops_while_the_host_serves_it() {
        let mut call = InFlight::new(0x0505, b"{}");
        std::thread::sleep(Duration::from_millis(20));
        call.pause(true);
        let before = call.spent();
        assert!(before >= Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(call.spent(), before, "the host's time is not the plugin's");
        call.pause(false);
        std::thread::sleep(Duration::from_millis(10));
        assert!(call.spent() >= before + Duration::from_millis(10));
    }
}
