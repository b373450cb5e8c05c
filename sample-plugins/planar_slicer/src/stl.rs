//! Reading STL files, ASCII and binary, into a triangle soup.
//!
//! A binary STL is an 80-byte header, a little-endian `u32` triangle count and
//! 50 bytes per triangle (normal, three vertices as `f32`, a 2-byte attribute).
//! An ASCII STL is `solid …`, then `facet normal … outer loop vertex x y z ×3
//! endloop endfacet` per triangle, then `endsolid …`. Binary files may begin
//! with `solid` as well, so a file whose size matches its declared triangle
//! count exactly is always read as binary.

use std::path::Path;

/// A point in model space, in millimetres.
pub type Vec3 = [f64; 3];

/// A triangle: three vertices (the stored normal is ignored).
pub type Triangle = [Vec3; 3];

/// A triangle mesh, as read from an STL file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    /// The triangles, in file order.
    pub triangles: Vec<Triangle>,
}

/// Size of the binary header plus the triangle count.
const BINARY_PREAMBLE: u64 = 84;
/// Size of one triangle record in a binary STL.
const BINARY_TRIANGLE: u64 = 50;

/// Reads and parses the STL file at `path`; errors name the file.
pub fn read(path: &Path) -> Result<Mesh, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read model {}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("model {}: {e}", path.display()))
}

/// Parses STL data, ASCII or binary.
pub fn parse(bytes: &[u8]) -> Result<Mesh, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let declared = declared_binary_size(bytes);
    if declared == Some(bytes.len() as u64) {
        return parse_binary(bytes);
    }
    if is_ascii_stl(bytes) {
        return parse_ascii(bytes);
    }
    match declared {
        None => Err(format!(
            "not an STL file: it does not start with \"solid\" and {} bytes are too few for a \
             binary STL (at least {BINARY_PREAMBLE})",
            bytes.len()
        )),
        Some(expected) => Err(format!(
            "binary STL has the wrong size: its header declares {} triangles ({expected} bytes) \
             but the file has {} bytes",
            triangle_count(bytes),
            bytes.len()
        )),
    }
}

/// The triangle count stored in a binary header (the file must have at least 84 bytes).
fn triangle_count(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]])
}

/// The size a binary STL with this header must have, if there is a header.
fn declared_binary_size(bytes: &[u8]) -> Option<u64> {
    (bytes.len() as u64 >= BINARY_PREAMBLE)
        .then(|| BINARY_PREAMBLE + BINARY_TRIANGLE * u64::from(triangle_count(bytes)))
}

/// Whether the data looks like ASCII STL: `solid` first and no NUL byte
/// (binary STLs practically always contain one, e.g. in the attribute bytes).
fn is_ascii_stl(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..]
        .get(..5)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"solid"))
        && !bytes.contains(&0)
}

/// Parses a binary STL whose size has been checked against its count.
fn parse_binary(bytes: &[u8]) -> Result<Mesh, String> {
    let count = triangle_count(bytes) as usize;
    if count == 0 {
        return Err("binary STL contains no triangles".into());
    }
    let mut triangles = Vec::with_capacity(count);
    for (index, record) in bytes[BINARY_PREAMBLE as usize..]
        .chunks_exact(BINARY_TRIANGLE as usize)
        .enumerate()
    {
        let mut triangle = [[0.0; 3]; 3];
        for (v, vertex) in triangle.iter_mut().enumerate() {
            for (c, coord) in vertex.iter_mut().enumerate() {
                let at = 12 + 12 * v + 4 * c;
                let value = f32::from_le_bytes([
                    record[at],
                    record[at + 1],
                    record[at + 2],
                    record[at + 3],
                ]);
                if !value.is_finite() {
                    return Err(format!(
                        "binary STL triangle {} has a non-finite coordinate ({value})",
                        index + 1
                    ));
                }
                *coord = f64::from(value);
            }
        }
        triangles.push(triangle);
    }
    Ok(Mesh { triangles })
}

/// Whitespace-separated tokens with their (1-based) line numbers.
struct Tokens<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    current: std::str::SplitWhitespace<'a>,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Self {
        Tokens {
            lines: text.lines().enumerate(),
            current: "".split_whitespace(),
            line: 0,
        }
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        loop {
            if let Some(token) = self.current.next() {
                return Some((self.line, token));
            }
            let (index, line) = self.lines.next()?;
            self.line = index + 1;
            self.current = line.split_whitespace();
        }
    }

    /// Drops the rest of the current line (the name after `solid`/`endsolid`).
    fn skip_line(&mut self) {
        self.current = "".split_whitespace();
    }

    fn end_of_file(&self, expected: &str) -> String {
        format!(
            "ASCII STL ends unexpectedly after line {}: expected {expected}",
            self.line
        )
    }

    /// Consumes the keyword `word` (case-insensitive); returns its line.
    fn expect(&mut self, word: &str) -> Result<usize, String> {
        match self.next() {
            Some((line, token)) if token.eq_ignore_ascii_case(word) => Ok(line),
            Some((line, token)) => Err(format!(
                "line {line}: expected \"{word}\", found \"{token}\""
            )),
            None => Err(self.end_of_file(&format!("\"{word}\""))),
        }
    }

    /// Consumes a number; `finite` rejects NaN and infinities.
    fn number(&mut self, finite: bool) -> Result<f64, String> {
        let (line, token) = self.next().ok_or_else(|| self.end_of_file("a number"))?;
        let value: f64 = token
            .parse()
            .map_err(|_| format!("line {line}: \"{token}\" is not a number"))?;
        if finite && !value.is_finite() {
            return Err(format!("line {line}: \"{token}\" is not a finite number"));
        }
        Ok(value)
    }
}

/// Parses an ASCII STL; errors carry the line number.
fn parse_ascii(bytes: &[u8]) -> Result<Mesh, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!("line {line}: ASCII STL is not valid UTF-8 text")
    })?;
    let mut tokens = Tokens::new(text);
    tokens.expect("solid")?;
    tokens.skip_line();
    let mut triangles = Vec::new();
    loop {
        let Some((line, token)) = tokens.next() else {
            return Err(tokens.end_of_file("\"facet\" or \"endsolid\""));
        };
        if token.eq_ignore_ascii_case("facet") {
            triangles.push(parse_facet(&mut tokens, line)?);
        } else if token.eq_ignore_ascii_case("endsolid") {
            tokens.skip_line();
            // Some exporters write several solids into one file.
            match tokens.next() {
                None => break,
                Some((_, t)) if t.eq_ignore_ascii_case("solid") => tokens.skip_line(),
                Some((line, t)) => {
                    return Err(format!(
                        "line {line}: expected \"solid\" or the end of the file after \
                         \"endsolid\", found \"{t}\""
                    ))
                }
            }
        } else {
            return Err(format!(
                "line {line}: expected \"facet\" or \"endsolid\", found \"{token}\""
            ));
        }
    }
    if triangles.is_empty() {
        return Err("ASCII STL contains no triangles".into());
    }
    Ok(Mesh { triangles })
}

/// Parses one facet after its `facet` keyword (found on `facet_line`).
fn parse_facet(tokens: &mut Tokens<'_>, facet_line: usize) -> Result<Triangle, String> {
    tokens.expect("normal")?;
    for _ in 0..3 {
        // The normal is ignored; some exporters write NaN for degenerate facets.
        tokens.number(false)?;
    }
    tokens.expect("outer")?;
    tokens.expect("loop")?;
    let mut vertices = Vec::with_capacity(3);
    loop {
        match tokens.next() {
            Some((_, t)) if t.eq_ignore_ascii_case("vertex") => vertices.push([
                tokens.number(true)?,
                tokens.number(true)?,
                tokens.number(true)?,
            ]),
            Some((_, t)) if t.eq_ignore_ascii_case("endloop") => break,
            Some((line, t)) => {
                return Err(format!(
                    "line {line}: expected \"vertex\" or \"endloop\", found \"{t}\""
                ))
            }
            None => return Err(tokens.end_of_file("\"vertex\" or \"endloop\"")),
        }
    }
    tokens.expect("endfacet")?;
    match <[Vec3; 3]>::try_from(vertices) {
        Ok(triangle) => Ok(triangle),
        Err(vertices) => Err(format!(
            "line {facet_line}: facet has {} vertices, expected 3",
            vertices.len()
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An axis-aligned box from `min` to `max`, outward-facing triangles.
    pub(crate) fn box_mesh(min: Vec3, max: Vec3) -> Mesh {
        let corner = |i: usize| {
            [
                if i & 1 == 0 { min[0] } else { max[0] },
                if i & 2 == 0 { min[1] } else { max[1] },
                if i & 4 == 0 { min[2] } else { max[2] },
            ]
        };
        // Quads as corner indices, counter-clockwise seen from outside.
        let quads = [
            [0, 2, 3, 1], // bottom (z = min)
            [4, 5, 7, 6], // top
            [0, 1, 5, 4], // y = min
            [2, 6, 7, 3], // y = max
            [0, 4, 6, 2], // x = min
            [1, 3, 7, 5], // x = max
        ];
        let mut triangles = Vec::new();
        for q in quads {
            triangles.push([corner(q[0]), corner(q[1]), corner(q[2])]);
            triangles.push([corner(q[0]), corner(q[2]), corner(q[3])]);
        }
        Mesh { triangles }
    }

    /// `mesh` as ASCII STL text.
    pub(crate) fn to_ascii(mesh: &Mesh) -> String {
        let mut s = String::from("solid test\n");
        for t in &mesh.triangles {
            s.push_str("  facet normal 0 0 0\n    outer loop\n");
            for v in t {
                s.push_str(&format!("      vertex {} {} {}\n", v[0], v[1], v[2]));
            }
            s.push_str("    endloop\n  endfacet\n");
        }
        s.push_str("endsolid test\n");
        s
    }

    /// `mesh` as binary STL; the header starts with "solid" on purpose.
    pub(crate) fn to_binary(mesh: &Mesh) -> Vec<u8> {
        let mut b = vec![b' '; 80];
        b[..12].copy_from_slice(b"solid binary");
        b.extend_from_slice(&(mesh.triangles.len() as u32).to_le_bytes());
        for t in &mesh.triangles {
            b.extend_from_slice(&[0; 12]);
            for v in t {
                for c in v {
                    b.extend_from_slice(&(*c as f32).to_le_bytes());
                }
            }
            b.extend_from_slice(&[0; 2]);
        }
        b
    }

    /// A closed surface from a `rows × cols` grid of points, wrapping around
    /// in both directions (`point(row, col)`), two triangles per cell.
    fn grid_mesh(rows: usize, cols: usize, point: impl Fn(usize, usize) -> Vec3) -> Mesh {
        let grid: Vec<Vec<Vec3>> = (0..=rows)
            .map(|r| (0..cols).map(|c| point(r, c)).collect())
            .collect();
        let mut triangles = Vec::with_capacity(rows * cols * 2);
        for r in 0..rows {
            for c in 0..cols {
                let c1 = (c + 1) % cols;
                let (a, b) = (grid[r][c], grid[r][c1]);
                let (d, e) = (grid[r + 1][c], grid[r + 1][c1]);
                triangles.push([a, b, e]);
                triangles.push([a, e, d]);
            }
        }
        Mesh { triangles }
    }

    /// A UV sphere; the cells at the poles have one degenerate triangle each.
    pub(crate) fn sphere(radius: f64, rows: usize, cols: usize) -> Mesh {
        use std::f64::consts::PI;
        grid_mesh(rows, cols, |r, c| {
            let polar = PI * r as f64 / rows as f64;
            let azimuth = 2.0 * PI * c as f64 / cols as f64;
            [
                radius * polar.sin() * azimuth.cos(),
                radius * polar.sin() * azimuth.sin(),
                -radius * polar.cos(),
            ]
        })
    }

    /// A torus around the z axis.
    pub(crate) fn torus(major: f64, minor: f64, rows: usize, cols: usize) -> Mesh {
        use std::f64::consts::PI;
        let mut mesh = grid_mesh(rows, cols, |r, c| {
            let tube = 2.0 * PI * (r % rows) as f64 / rows as f64;
            let azimuth = 2.0 * PI * c as f64 / cols as f64;
            let rho = major + minor * tube.cos();
            [rho * azimuth.cos(), rho * azimuth.sin(), minor * tube.sin()]
        });
        mesh.triangles
            .retain(|t| t[0] != t[1] && t[1] != t[2] && t[0] != t[2]);
        mesh
    }

    fn cube() -> Mesh {
        box_mesh([0.0; 3], [10.0; 3])
    }

    #[test]
    fn ascii_and_binary_of_the_same_cube_agree() {
        let ascii = parse(to_ascii(&cube()).as_bytes()).unwrap();
        let binary = parse(&to_binary(&cube())).unwrap();
        assert_eq!(ascii.triangles.len(), 12);
        assert_eq!(ascii, binary);
        assert_eq!(ascii, cube());
    }

    #[test]
    fn ascii_keywords_are_case_insensitive_and_several_solids_are_read() {
        let one = to_ascii(&cube());
        let two = format!("{one}{}", one.to_uppercase());
        assert_eq!(parse(two.as_bytes()).unwrap().triangles.len(), 24);
    }

    #[test]
    fn read_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.stl");
        std::fs::write(&path, b"solid x\nendsolid x\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(err.contains("broken.stl"), "{err}");
        assert!(err.contains("no triangles"), "{err}");
        let err = read(&dir.path().join("missing.stl")).unwrap_err();
        assert!(
            err.contains("cannot read model") && err.contains("missing.stl"),
            "{err}"
        );
    }

    #[test]
    fn empty_and_tiny_files_are_rejected() {
        assert!(parse(b"").unwrap_err().contains("empty"));
        let err = parse(&[1, 2, 3]).unwrap_err();
        assert!(err.contains("not an STL file"), "{err}");
    }

    #[test]
    fn truncated_binary_is_rejected() {
        let mut b = to_binary(&cube());
        b.truncate(b.len() - 7);
        let err = parse(&b).unwrap_err();
        assert!(
            err.contains("wrong size") && err.contains("12 triangles"),
            "{err}"
        );
    }

    #[test]
    fn binary_with_extra_bytes_is_rejected() {
        let mut b = to_binary(&cube());
        b.extend_from_slice(&[0; 50]);
        let err = parse(&b).unwrap_err();
        assert!(err.contains("wrong size"), "{err}");
        assert!(err.contains(&format!("{} bytes", 84 + 50 * 13)), "{err}");
    }

    #[test]
    fn binary_without_triangles_is_rejected() {
        let mut b = vec![0; 80];
        b.extend_from_slice(&0u32.to_le_bytes());
        assert!(parse(&b).unwrap_err().contains("no triangles"));
    }

    #[test]
    fn binary_nan_is_rejected() {
        let mut b = to_binary(&cube());
        let at = 84 + 50 * 3 + 12 + 4;
        b[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        let err = parse(&b).unwrap_err();
        assert!(
            err.contains("triangle 4") && err.contains("non-finite"),
            "{err}"
        );
    }

    #[test]
    fn ascii_bad_number_names_the_line() {
        let text = to_ascii(&cube()).replacen("vertex 10 0 0", "vertex 10 0.0.0 0", 1);
        let line = text.lines().position(|l| l.contains("0.0.0")).unwrap() + 1;
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains(&format!("line {line}:")), "{err}");
        assert!(err.contains("\"0.0.0\" is not a number"), "{err}");
    }

    #[test]
    fn ascii_nan_and_infinity_are_rejected() {
        for bad in ["nan", "inf", "-infinity"] {
            let text = to_ascii(&cube()).replacen("vertex 10 0 0", &format!("vertex {bad} 0 0"), 1);
            let err = parse(text.as_bytes()).unwrap_err();
            assert!(err.contains("not a finite number"), "{bad}: {err}");
        }
    }

    #[test]
    fn ascii_nan_normal_is_tolerated() {
        let text = to_ascii(&cube()).replacen("normal 0 0 0", "normal nan nan nan", 1);
        assert_eq!(parse(text.as_bytes()).unwrap().triangles.len(), 12);
    }

    #[test]
    fn ascii_empty_solid_is_rejected() {
        let err = parse(b"solid empty\nendsolid empty\n").unwrap_err();
        assert!(err.contains("no triangles"), "{err}");
    }

    #[test]
    fn ascii_wrong_vertex_count_is_rejected() {
        let text = to_ascii(&cube()).replacen("      vertex 10 0 0\n", "", 1);
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains("has 2 vertices, expected 3"), "{err}");
        let text = to_ascii(&cube()).replacen(
            "      vertex 10 0 0\n",
            "      vertex 10 0 0\n      vertex 1 2 3\n",
            1,
        );
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains("has 4 vertices"), "{err}");
    }

    #[test]
    fn ascii_truncated_is_rejected() {
        let text = to_ascii(&cube());
        let cut = &text[..text.find("endloop").unwrap()];
        let err = parse(cut.as_bytes()).unwrap_err();
        assert!(err.contains("ends unexpectedly after line 7"), "{err}");
        assert!(err.contains("expected \"vertex\" or \"endloop\""), "{err}");
        let text = text.replace("endsolid test\n", "");
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(
            err.contains("ends unexpectedly") && err.contains("endsolid"),
            "{err}"
        );
    }

    #[test]
    fn ascii_unexpected_keywords_are_rejected() {
        let text = to_ascii(&cube()).replacen("outer loop", "outer lop", 1);
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(
            err.contains("line 3: expected \"loop\", found \"lop\""),
            "{err}"
        );
        let text = to_ascii(&cube()).replacen("  facet", "  facte", 1);
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(
            err.contains("line 2: expected \"facet\" or \"endsolid\""),
            "{err}"
        );
        let text = format!("{}garbage\n", to_ascii(&cube()));
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains("after \"endsolid\""), "{err}");
        let text = to_ascii(&cube()).replacen("endloop", "vertexx", 1);
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.contains("expected \"vertex\" or \"endloop\""), "{err}");
    }

    #[test]
    fn ascii_invalid_utf8_names_the_line() {
        let mut text = to_ascii(&cube()).into_bytes();
        let at = text.iter().position(|&b| b == b'\n').unwrap() + 3;
        text[at] = 0xff;
        let err = parse(&text).unwrap_err();
        assert!(
            err.contains("line 2: ASCII STL is not valid UTF-8"),
            "{err}"
        );
    }
}
