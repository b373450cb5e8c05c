//! The log of fired events every handler reads from: events packed one
//! after the other ([`plinth_abi::events::packed`]) in chunks, each event
//! numbered in firing order. A handler's pending events are the run from
//! its cursor to the head, handed over as slices of shared chunks: nothing
//! is copied or encoded per handler.

use std::collections::VecDeque;
use std::sync::Arc;

use plinth_abi::events::packed;

/// Events numbered `first..first + len`, packed into `bytes`.
#[derive(Debug)]
pub(super) struct Chunk {
    first: u64,
    bytes: Vec<u8>,
    /// Where each event starts in `bytes`.
    starts: Vec<u32>,
}

impl Chunk {
    fn new(first: u64) -> Self {
        Self::with_capacity(first, 0, 0)
    }

    fn with_capacity(first: u64, events: usize, bytes: usize) -> Self {
        Self {
            first,
            bytes: Vec::with_capacity(bytes),
            starts: Vec::with_capacity(events),
        }
    }

    /// The number after its last event.
    pub(super) fn end(&self) -> u64 {
        self.first + self.starts.len() as u64
    }

    fn offset(&self, seq: u64) -> usize {
        match usize::try_from(seq - self.first) {
            Ok(i) if i < self.starts.len() => self.starts[i] as usize,
            _ => self.bytes.len(),
        }
    }

    /// Its events numbered `from..to` (clamped to the chunk), packed.
    pub(super) fn slice(&self, from: u64, to: u64) -> &[u8] {
        let from = from.clamp(self.first, self.end());
        let to = to.clamp(from, self.end());
        &self.bytes[self.offset(from)..self.offset(to)]
    }

    /// Appends an event whose payload `write` puts as JSON text; its
    /// number, or `None` (and nothing appended) when it does not fit.
    fn push(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) -> Option<u64> {
        let seq = self.end();
        let start = self.bytes.len();
        let fits = |n: usize| u32::try_from(n).ok();
        let (offset, name_len) = (fits(start)?, fits(name.len())?);
        self.bytes.extend_from_slice(&name_len.to_le_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        write(&mut self.bytes);
        let Some(len) =
            fits(self.bytes.len() - at - 4).filter(|_| fits(self.bytes.len()).is_some())
        else {
            self.bytes.truncate(start);
            return None;
        };
        self.bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.starts.push(offset);
        Some(seq)
    }

    /// The payload JSON of its last event.
    fn last_payload(&self) -> &[u8] {
        let start = self.starts.last().map_or(0, |s| *s as usize);
        match packed::iter(&self.bytes[start..]).next() {
            Some(Ok((_, payload))) => payload,
            _ => b"null",
        }
    }
}

/// Events fired and not yet read by every handler.
#[derive(Debug)]
pub(super) struct Log {
    sealed: VecDeque<Arc<Chunk>>,
    open: Chunk,
}

/// Events the open chunk takes before it is sealed by the firing side (a
/// worker seals it whenever it hands events over).
pub(super) const SEAL_AT: usize = 1024;

impl Log {
    pub(super) fn new() -> Self {
        Self {
            sealed: VecDeque::new(),
            open: Chunk::new(0),
        }
    }

    /// The number the next event gets.
    pub(super) fn head(&self) -> u64 {
        self.open.end()
    }

    /// The number of the oldest event kept.
    pub(super) fn front(&self) -> u64 {
        self.sealed.front().map_or(self.open.first, |c| c.first)
    }

    /// Events in the open chunk.
    pub(super) fn open_len(&self) -> usize {
        self.open.starts.len()
    }

    /// Bytes in the open chunk.
    pub(super) fn open_bytes(&self) -> usize {
        self.open.bytes.len()
    }

    /// Appends an event; its number and its payload's JSON text (`None`
    /// when it is too large to be kept).
    pub(super) fn push(
        &mut self,
        name: &str,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Option<(u64, &[u8])> {
        let seq = self.open.push(name, write)?;
        Some((seq, self.open.last_payload()))
    }

    /// Closes the open chunk so its events can be handed over.
    pub(super) fn seal(&mut self) {
        if !self.open.starts.is_empty() {
            // The next chunk is likely to hold about as much as this one.
            let next = Chunk::with_capacity(
                self.open.end(),
                self.open.starts.len(),
                self.open.bytes.len(),
            );
            self.sealed
                .push_back(Arc::new(std::mem::replace(&mut self.open, next)));
        }
    }

    /// The sealed chunks holding events from `from` on, until they hold at
    /// least `at_least` of them.
    pub(super) fn chunks_from(&self, from: u64, at_least: u64) -> Vec<Arc<Chunk>> {
        let mut chunks = Vec::new();
        let first = self.sealed.partition_point(|c| c.end() <= from);
        for chunk in self.sealed.range(first..) {
            chunks.push(chunk.clone());
            if chunk.end() - from >= at_least {
                break;
            }
        }
        chunks
    }

    /// Forgets the chunks whose events all come before `seq`.
    pub(super) fn forget_before(&mut self, seq: u64) {
        while self.sealed.front().is_some_and(|c| c.end() <= seq) {
            self.sealed.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(log: &mut Log, name: &str, json: &str) -> u64 {
        log.push(name, |b| b.extend_from_slice(json.as_bytes()))
            .unwrap()
            .0
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        packed::iter(bytes)
            .map(|e| e.unwrap().0.to_owned())
            .collect()
    }

    #[test]
    fn events_are_numbered_and_handed_over_as_slices_of_sealed_chunks() {
        let mut log = Log::new();
        assert_eq!(push(&mut log, "A", "1"), 0);
        assert_eq!(
            log.push("B", |b| b.extend_from_slice(b"{}")).unwrap().1,
            b"{}"
        );
        log.seal();
        push(&mut log, "C", "null");
        assert_eq!(log.head(), 3);
        assert!(
            log.chunks_from(2, 10).is_empty(),
            "the open chunk is not handed over"
        );
        log.seal();
        let chunks = log.chunks_from(1, 10);
        assert_eq!(chunks.len(), 2);
        assert_eq!(names(chunks[0].slice(1, 3)), ["B"]);
        assert_eq!(names(chunks[1].slice(1, 3)), ["C"]);
        assert_eq!(names(chunks[0].slice(0, 1)), ["A"]);
        assert_eq!(log.chunks_from(0, 1).len(), 1, "enough events in the first");
        log.forget_before(2);
        assert_eq!(log.front(), 2);
        log.forget_before(3);
        assert_eq!(log.front(), 3);
        assert_eq!(log.open_len(), 0);
    }
}
