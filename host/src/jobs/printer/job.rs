//! The file being printed: read command by command, with the byte offset
//! reached (OctoPrint's progress is the file position).

use std::fs::File;
use std::io::{BufRead, BufReader};

/// A G-code file read one command at a time.
pub struct JobFile {
    reader: BufReader<File>,
    /// Its size when it was opened (at least 1).
    pub size: u64,
    /// Bytes read so far.
    pub pos: u64,
    /// Lines read so far (commands, comments and blank lines).
    pub line: u64,
    buffer: Vec<u8>,
    /// What follows a lone carriage return in the last line read: a line
    /// of its own, as Python's universal newlines read it.
    rest: Option<String>,
}

impl JobFile {
    /// Opens `file` to be read from its start.
    pub fn new(file: File) -> Self {
        let size = file.metadata().map_or(1, |m| m.len()).max(1);
        Self {
            reader: BufReader::with_capacity(64 * 1024, file),
            size,
            pos: 0,
            line: 0,
            buffer: Vec::with_capacity(256),
            rest: None,
        }
    }

    /// The next command, comments and surrounding blanks removed; `None` at
    /// the end of the file.
    pub fn next_command(&mut self) -> std::io::Result<Option<String>> {
        loop {
            let text = match self.rest.take() {
                Some(rest) => rest,
                None => {
                    self.buffer.clear();
                    let n = self.reader.read_until(b'\n', &mut self.buffer)?;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.pos += n as u64;
                    self.line += 1;
                    String::from_utf8_lossy(&self.buffer).into_owned()
                }
            };
            let text = text.trim_end_matches(['\r', '\n']);
            let text = match text.split_once('\r') {
                Some((first, rest)) => {
                    self.rest = Some(rest.to_owned());
                    first
                }
                None => text,
            };
            let command = strip_comment(text);
            if !command.is_empty() {
                return Ok(Some(command.to_owned()));
            }
        }
    }

    /// How far the file was read, from 0 to 1.
    pub fn fraction(&self) -> f64 {
        (self.pos.min(self.size) as f64) / self.size as f64
    }
}

/// A line without its comment (`;` to the end) and surrounding blanks.
pub fn strip_comment(line: &str) -> &str {
    line.split(';').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_come_without_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gcode");
        std::fs::write(
            &path,
            "; start\nG28 ; home\n\n  G1 X1 \r\nM105\rM106\nM104 S0",
        )
        .unwrap();
        let mut job = JobFile::new(File::open(&path).unwrap());
        assert_eq!(job.next_command().unwrap().as_deref(), Some("G28"));
        assert_eq!(job.line, 2);
        assert_eq!(job.next_command().unwrap().as_deref(), Some("G1 X1"));
        assert_eq!(job.next_command().unwrap().as_deref(), Some("M105"));
        assert_eq!(job.next_command().unwrap().as_deref(), Some("M106"));
        assert_eq!(job.next_command().unwrap().as_deref(), Some("M104 S0"));
        assert_eq!(job.fraction(), 1.0);
        assert_eq!(job.next_command().unwrap(), None);
    }
}
