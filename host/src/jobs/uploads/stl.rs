//! Checking an uploaded STL file, read as a stream: memory stays small
//! whatever the file's size.

use std::io::{BufRead, BufReader, Read};

/// Words longer than this are kept cut (no keyword or number is that long).
const MAX_WORD: usize = 64;

/// What is wrong with an uploaded STL file.
#[derive(Debug, thiserror::Error)]
pub enum StlError {
    /// The file cannot be read.
    #[error("{0}")]
    Read(std::io::Error),
    /// A binary STL with no triangles.
    #[error("the binary STL has no triangles")]
    NoTriangles,
    /// Neither a binary STL (its size does not fit) nor an ASCII one.
    #[error("{binary}, and it is no ASCII STL ({ascii})")]
    Neither { binary: NotBinary, ascii: NotAscii },
    /// An ASCII STL that ends before `endsolid`.
    #[error("the ASCII STL does not end with `endsolid`")]
    NoEndSolid,
    /// A vertex coordinate that is not a finite number.
    #[error("vertex {vertex} has a bad {axis} coordinate {value:?}")]
    BadCoordinate {
        vertex: usize,
        axis: &'static str,
        value: String,
    },
    /// An ASCII STL with no facets.
    #[error("the ASCII STL has no facets")]
    NoFacets,
    /// An ASCII STL whose facets do not have three vertices each.
    #[error("the ASCII STL has {facets} facets but {vertices} vertices (3 per facet)")]
    VertexCount { facets: usize, vertices: usize },
}

/// Why a file is not a binary STL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotBinary {
    /// Shorter than the 84-byte header.
    #[error("{len} bytes is too short for a binary STL")]
    TooShort { len: u64 },
    /// Its size does not fit its triangle count.
    #[error("as a binary STL of {count} triangles it should have {expected} bytes, not {len}")]
    WrongSize { count: u64, expected: u64, len: u64 },
}

/// Why a file is not an ASCII STL.
#[derive(Debug, thiserror::Error)]
pub enum NotAscii {
    /// It does not begin with `solid`.
    #[error("those begin with `solid`")]
    NoSolid,
    /// It holds a NUL byte.
    #[error("it holds binary data")]
    BinaryData,
    /// Reading it failed.
    #[error("{0}")]
    Read(std::io::Error),
}

/// Checks that an STL file of `len` bytes is well formed: binary (84 + 50
/// bytes per triangle, at least one) or ASCII (`solid` … `facet` … `endsolid`,
/// three finite coordinates per vertex, three vertices per facet). The error
/// says what is wrong.
pub fn check_stl(file: impl Read, len: u64) -> Result<(), StlError> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let head = reader.fill_buf().map_err(StlError::Read)?.to_vec();
    let mut binary = NotBinary::TooShort { len };
    if len >= 84 && head.len() >= 84 {
        let count = u32::from_le_bytes([head[80], head[81], head[82], head[83]]) as u64;
        if len == 84 + 50 * count {
            return if count == 0 {
                Err(StlError::NoTriangles)
            } else {
                Ok(())
            };
        }
        binary = NotBinary::WrongSize {
            count,
            expected: 84 + 50 * count,
            len,
        };
    }
    let mut words = Words::new(reader);
    let not_ascii = |ascii| StlError::Neither { binary, ascii };
    match words.next() {
        Ok(Some(b"solid")) => {}
        Ok(_) => return Err(not_ascii(NotAscii::NoSolid)),
        Err(e) => return Err(not_ascii(e)),
    }
    let (mut facets, mut vertices) = (0usize, 0usize);
    loop {
        let word = match words.next() {
            Ok(Some(word)) => word,
            Ok(None) => return Err(StlError::NoEndSolid),
            Err(e) => return Err(not_ascii(e)),
        };
        match word {
            b"facet" => facets += 1,
            b"vertex" => {
                vertices += 1;
                for axis in ["x", "y", "z"] {
                    let value = words.next().map_err(not_ascii)?.unwrap_or(b"");
                    let number = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<f32>().ok());
                    if !number.is_some_and(f32::is_finite) {
                        return Err(StlError::BadCoordinate {
                            vertex: vertices,
                            axis,
                            value: String::from_utf8_lossy(value).into_owned(),
                        });
                    }
                }
            }
            b"endsolid" => break,
            _ => {}
        }
    }
    if facets == 0 {
        return Err(StlError::NoFacets);
    }
    if vertices != facets * 3 {
        return Err(StlError::VertexCount { facets, vertices });
    }
    Ok(())
}

/// The whitespace-separated words of a stream, without holding more than one.
struct Words<R> {
    reader: BufReader<R>,
    word: Vec<u8>,
}

impl<R: Read> Words<R> {
    fn new(reader: BufReader<R>) -> Self {
        Self {
            reader,
            word: Vec::with_capacity(MAX_WORD),
        }
    }

    /// The next word (`None` at the end); an error for binary data.
    fn next(&mut self) -> Result<Option<&[u8]>, NotAscii> {
        self.word.clear();
        let mut started = false;
        loop {
            let chunk = self.reader.fill_buf().map_err(NotAscii::Read)?;
            if chunk.is_empty() {
                return Ok(started.then_some(&self.word[..]));
            }
            let mut used = 0;
            let mut ended = false;
            for &b in chunk {
                used += 1;
                if b == 0 {
                    return Err(NotAscii::BinaryData);
                }
                if b.is_ascii_whitespace() {
                    if started {
                        ended = true;
                        break;
                    }
                } else {
                    started = true;
                    if self.word.len() < MAX_WORD {
                        self.word.push(b);
                    }
                }
            }
            self.reader.consume(used);
            if ended {
                return Ok(Some(&self.word[..]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(bytes: &[u8]) -> Result<(), String> {
        check_stl(bytes, bytes.len() as u64).map_err(|e| e.to_string())
    }

    fn binary(triangles: u32, extra: usize) -> Vec<u8> {
        let mut b = vec![0u8; 80];
        b.extend(triangles.to_le_bytes());
        b.extend(vec![0u8; 50 * triangles as usize + extra]);
        b
    }

    #[test]
    fn stl_files_are_checked() {
        assert_eq!(check(&binary(2, 0)), Ok(()));
        assert!(check(&binary(0, 0)).unwrap_err().contains("no triangles"));
        assert!(check(&binary(2, 7))
            .unwrap_err()
            .contains("should have 184 bytes, not 191"));
        let facet =
            "facet normal 0 0 1 outer loop vertex 0 0 0 vertex 1 0 0 vertex 0 1 0 endloop endfacet";
        assert_eq!(
            check(format!("solid x {facet} endsolid x").as_bytes()),
            Ok(())
        );
        assert!(check(b"solid x endsolid")
            .unwrap_err()
            .contains("no facets"));
        assert!(check(format!("solid x {facet}").as_bytes())
            .unwrap_err()
            .contains("endsolid"));
        let bad = facet.replace("vertex 1 0 0", "vertex 1 zero 0");
        assert!(check(format!("solid x {bad} endsolid").as_bytes())
            .unwrap_err()
            .contains("vertex 2 has a bad y coordinate \"zero\""));
        let nan = facet.replace("vertex 1 0 0", "vertex 1 NaN 0");
        assert!(check(format!("solid x {nan} endsolid").as_bytes()).is_err());
        let short = facet.replace("vertex 0 1 0 ", "");
        assert!(check(format!("solid x {short} endsolid").as_bytes())
            .unwrap_err()
            .contains("1 facets but 2 vertices"));
        assert!(check(b"hello").unwrap_err().contains("too short"));
        assert!(check(b"solid \0\0").unwrap_err().contains("binary data"));
    }

    #[test]
    fn a_large_ascii_file_is_read_in_pieces() {
        let facet = "facet normal 0 0 1\n outer loop\n  vertex 0 0 0\n  vertex 1 0 0\n  vertex 0 1 0\n endloop\nendfacet\n";
        let mut text = String::from("solid big\n");
        for _ in 0..20_000 {
            text.push_str(facet);
        }
        text.push_str("endsolid big\n");
        assert!(text.len() > 1 << 20, "bigger than the reader's buffer");
        assert_eq!(check(text.as_bytes()), Ok(()));
        let broken = text.replacen("vertex 1 0 0", "vertex 1 0 x", 1);
        assert!(check(broken.as_bytes()).unwrap_err().contains("vertex 2"));
        let word = format!("solid {} endsolid", "w".repeat(10 * MAX_WORD));
        assert!(check(word.as_bytes()).unwrap_err().contains("no facets"));
    }
}
