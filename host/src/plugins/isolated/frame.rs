//! The frames on an isolated plugin's channel. Each is
//! `length: u32 | kind: u8 | id: u64 | code: u32 | body`, little endian,
//! `length` counting what follows it. The body is the ABI's own encoded
//! arguments or result, unchanged.

use std::io::{self, Read};

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call: `code` is the method (host to plugin) or service (plugin to
    /// host) number, or a [`control`] number; `id` names the call.
    Call,
    /// The reply to call `id`: `code` is the outcome ([`outcome`]).
    Reply,
    /// A log line of the plugin's (no reply): `code` is the level.
    Log,
    /// On a lane, from the plugin's side: the batch being served moved on to
    /// its next call, method `code`, whose arguments begin with the body
    /// (no reply). The host times and names that call from now.
    Progress,
}

/// Outcome codes of a reply, as [`CallOutcome`](plinth_abi::vtable::CallOutcome)'s variants.
pub mod outcome {
    /// `Ok(body)`.
    pub const OK: u32 = 0;
    /// `Unsupported`.
    pub const UNSUPPORTED: u32 = 1;
    /// `Error(body as text)`.
    pub const ERROR: u32 = 2;
    /// `Panic(body as text)`.
    pub const PANIC: u32 = 3;
}

/// Call numbers of the runner itself (above every method number the ABI can
/// have: those are `mixin << 8 | index`).
pub mod control {
    /// Maps the library (body: its path) and checks it; an error body is a
    /// [`LoadRefusal`](super::super::runner::LoadRefusal) as JSON.
    pub const LOAD: u32 = 0xffff_ff01;
    /// Creates the plugin object.
    pub const INSTANTIATE: u32 = 0xffff_ff02;
    /// A file compiled into the library (body: its path); `Unsupported` when none.
    pub const EMBEDDED_FILE: u32 = 0xffff_ff03;
    /// Destroys the plugin object (the process then ends).
    pub const DROP: u32 = 0xffff_ff04;
    /// Calls one method once per argument, in order (body: [`batch`](super::batch)
    /// of the method number and the arguments); answers the outcomes.
    pub const BATCH: u32 = 0xffff_ff05;
}

/// Several calls of one method in one frame: `method: u32`, then each
/// argument as `length: u32 | bytes`; the reply holds each outcome as
/// `outcome code: u32 | length: u32 | bytes`.
pub mod batch {
    use plinth_abi::vtable::CallOutcome;

    /// The body of a batch call.
    pub fn encode_calls(method: u32, args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + args.iter().map(|a| a.len() + 4).sum::<usize>());
        out.extend_from_slice(&method.to_le_bytes());
        for arg in args {
            out.extend_from_slice(&(arg.len() as u32).to_le_bytes());
            out.extend_from_slice(arg);
        }
        out
    }

    /// The method and arguments of a batch call; `None` when it is cut short.
    pub fn decode_calls(body: &[u8]) -> Option<(u32, Vec<&[u8]>)> {
        let method = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
        let mut rest = &body[4..];
        let mut args = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            args.push(rest.get(4..4 + len)?);
            rest = &rest[4 + len..];
        }
        Some((method, args))
    }

    /// The reply of a batch call.
    pub fn encode_outcomes(outcomes: Vec<CallOutcome>) -> Vec<u8> {
        let mut out = Vec::new();
        for o in outcomes {
            let (code, body) = super::super::peer::encode_outcome(o);
            out.extend_from_slice(&code.to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&body);
        }
        out
    }

    /// The outcomes of a batch reply; `None` when it is cut short.
    pub fn decode_outcomes(mut body: &[u8]) -> Option<Vec<CallOutcome>> {
        let mut out = Vec::new();
        while !body.is_empty() {
            let code = u32::from_le_bytes(body.get(..4)?.try_into().ok()?);
            let len = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?) as usize;
            let bytes = body.get(8..8 + len)?.to_vec();
            out.push(super::super::peer::decode_outcome(code, bytes));
            body = &body[8 + len..];
        }
        Some(out)
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub id: u64,
    pub code: u32,
    pub body: Vec<u8>,
}

/// The largest frame accepted: a bigger length means a broken channel.
const MAX_FRAME: usize = 1 << 30;
const HEADER: usize = 1 + 8 + 4;

impl Frame {
    /// The frame as bytes, ready for one write.
    pub fn encode(kind: Kind, id: u64, code: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + HEADER + body.len());
        out.extend_from_slice(&((HEADER + body.len()) as u32).to_le_bytes());
        out.push(match kind {
            Kind::Call => 0,
            Kind::Reply => 1,
            Kind::Log => 2,
            Kind::Progress => 3,
        });
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    /// Reads the next frame; `None` when the other side closed the channel
    /// between frames.
    pub fn read(r: &mut impl Read) -> io::Result<Option<Frame>> {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(HEADER..=MAX_FRAME).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a frame of {len} bytes"),
            ));
        }
        let mut header = [0u8; HEADER];
        r.read_exact(&mut header)?;
        let kind = match header[0] {
            0 => Kind::Call,
            1 => Kind::Reply,
            2 => Kind::Log,
            3 => Kind::Progress,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a frame of unknown kind {other}"),
                ))
            }
        };
        let id = u64::from_le_bytes(header[1..9].try_into().expect("8 bytes"));
        let code = u32::from_le_bytes(header[9..13].try_into().expect("4 bytes"));
        // Grown as the bytes arrive: a length alone reserves nothing.
        let mut body = Vec::new();
        let want = (len - HEADER) as u64;
        r.take(want).read_to_end(&mut body)?;
        if body.len() as u64 != want {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(Some(Frame {
            kind,
            id,
            code,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut bytes = Frame::encode(Kind::Call, 7, 0x0401, br#"["Startup",null]"#);
        bytes.extend(Frame::encode(Kind::Reply, 7, outcome::OK, b""));
        let mut r = &bytes[..];
        let call = Frame::read(&mut r).unwrap().unwrap();
        assert_eq!((call.kind, call.id, call.code), (Kind::Call, 7, 0x0401));
        assert_eq!(call.body, br#"["Startup",null]"#);
        let reply = Frame::read(&mut r).unwrap().unwrap();
        assert_eq!((reply.kind, reply.body.len()), (Kind::Reply, 0));
        assert!(Frame::read(&mut r).unwrap().is_none());
    }

    #[test]
    fn batches_round_trip() {
        let body = batch::encode_calls(0x0401, &[b"[\"A\",null]", b""]);
        let (method, args) = batch::decode_calls(&body).unwrap();
        assert_eq!(
            (method, args),
            (0x0401, vec![&b"[\"A\",null]"[..], &b""[..]])
        );
        assert!(batch::decode_calls(&body[..body.len() - 3]).is_none() || body.len() < 8);
        let reply = batch::encode_outcomes(vec![
            plinth_abi::vtable::CallOutcome::Ok(Vec::new().into()),
            plinth_abi::vtable::CallOutcome::Error("no".into()),
        ]);
        let outcomes = batch::decode_outcomes(&reply).unwrap();
        assert!(
            matches!(&outcomes[1], plinth_abi::vtable::CallOutcome::Error(e) if e.as_str() == "no")
        );
        assert!(batch::decode_outcomes(&reply[..5]).is_none());
    }

    #[test]
    fn a_broken_frame_is_an_error_naming_it() {
        let mut bytes = Frame::encode(Kind::Log, 1, 3, b"hello");
        bytes[4] = 9;
        let e = Frame::read(&mut &bytes[..]).unwrap_err();
        assert!(e.to_string().contains("unknown kind 9"), "{e}");
        let short = Frame::encode(Kind::Log, 1, 3, b"hello");
        let e = Frame::read(&mut &short[..short.len() - 2]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = Frame::read(&mut &[2u8, 0, 0, 0][..]).unwrap_err();
        assert!(e.to_string().contains("a frame of 2 bytes"), "{e}");
    }
}
