//! Plane geometry: mesh placement, polygon area, containment, clean-up and inset.

use crate::stl::{Mesh, Vec3};

/// A point in the XY plane, in millimetres.
pub type Point = [f64; 2];

/// A closed polygon; the last point connects back to the first (which is not repeated).
pub type Polygon = Vec<Point>;

/// The axis-aligned bounding box of a mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Smallest x, y and z.
    pub min: Vec3,
    /// Largest x, y and z.
    pub max: Vec3,
}

/// The bounding box of `mesh`, or `None` for an empty mesh.
pub fn bounds(mesh: &Mesh) -> Option<Bounds> {
    let mut vertices = mesh.triangles.iter().flatten();
    let first = *vertices.next()?;
    let mut b = Bounds {
        min: first,
        max: first,
    };
    for v in vertices {
        for ((lo, hi), &c) in b.min.iter_mut().zip(&mut b.max).zip(v) {
            *lo = lo.min(c);
            *hi = hi.max(c);
        }
    }
    Some(b)
}

/// Moves `mesh` onto the bed: its lowest point to z = 0 and the centre of its
/// XY bounding box to `centre`. Returns the new bounds.
pub fn place(mesh: &mut Mesh, centre: Point) -> Option<Bounds> {
    let b = bounds(mesh)?;
    let shift = [
        centre[0] - (b.min[0] + b.max[0]) / 2.0,
        centre[1] - (b.min[1] + b.max[1]) / 2.0,
        -b.min[2],
    ];
    for v in mesh.triangles.iter_mut().flatten() {
        for (c, s) in v.iter_mut().zip(shift) {
            *c += s;
        }
    }
    bounds(mesh)
}

/// The signed area (positive when the polygon runs counter-clockwise).
pub fn signed_area(poly: &[Point]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// Whether `p` lies inside `poly` (even-odd rule).
pub fn contains(poly: &[Point], p: Point) -> bool {
    let n = poly.len();
    let mut inside = false;
    let mut j = n.wrapping_sub(1);
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Distance between two points.
pub fn distance(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Removes repeated points (closer than `tolerance`) and points that lie on
/// the straight line between their neighbours (off it by at most `tolerance`),
/// including the tips of zero-width spikes. May return fewer than three points.
pub fn simplify(poly: &[Point], tolerance: f64) -> Polygon {
    let mut out: Polygon = Vec::with_capacity(poly.len());
    for &p in poly {
        push_simplified(&mut out, p, tolerance);
    }
    // The first points may be redundant with the last ones.
    loop {
        let n = out.len();
        if n < 3 {
            return out;
        }
        if distance(out[n - 1], out[0]) <= tolerance
            || redundant(out[n - 2], out[n - 1], out[0], tolerance)
        {
            out.pop();
        } else if redundant(out[n - 1], out[0], out[1], tolerance) {
            out.remove(0);
        } else {
            return out;
        }
    }
}

/// Appends `p` to a simplified chain, dropping the points it makes redundant.
fn push_simplified(out: &mut Polygon, p: Point, tolerance: f64) {
    while out.len() >= 2 && redundant(out[out.len() - 2], out[out.len() - 1], p, tolerance) {
        out.pop();
    }
    if out.last().is_none_or(|&q| distance(p, q) > tolerance) {
        out.push(p);
    }
}

/// Whether `m` can be dropped from `a → m → b`: it lies within `tolerance` of
/// the line through `a` and `b`, or `a` and `b` coincide (a spike).
fn redundant(a: Point, m: Point, b: Point, tolerance: f64) -> bool {
    let base = distance(a, b);
    if base <= tolerance {
        return true;
    }
    let cross = (b[0] - a[0]) * (m[1] - a[1]) - (b[1] - a[1]) * (m[0] - a[0]);
    (cross / base).abs() <= tolerance
}

/// Offsets `poly` by `d` to the left of its edges (into the material when the
/// outer outline runs counter-clockwise and holes clockwise), mitring corners.
/// Returns `None` when the result degenerates: an edge collapses or turns
/// around, the orientation flips or (almost) nothing is left.
pub fn inset(poly: &[Point], d: f64) -> Option<Polygon> {
    let n = poly.len();
    if n < 3 {
        return None;
    }
    let normals: Vec<Point> = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            let len = distance(a, b);
            [-(b[1] - a[1]) / len, (b[0] - a[0]) / len]
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (np, nc) = (normals[(i + n - 1) % n], normals[i]);
        let denom = 1.0 + np[0] * nc[0] + np[1] * nc[1];
        if denom.is_nan() || denom <= 1e-9 {
            return None;
        }
        let k = d / denom;
        out.push([
            poly[i][0] + (np[0] + nc[0]) * k,
            poly[i][1] + (np[1] + nc[1]) * k,
        ]);
    }
    for i in 0..n {
        let j = (i + 1) % n;
        let before = [poly[j][0] - poly[i][0], poly[j][1] - poly[i][1]];
        let after = [out[j][0] - out[i][0], out[j][1] - out[i][1]];
        if before[0] * after[0] + before[1] * after[1] <= 0.0 {
            return None;
        }
    }
    let (old, new) = (signed_area(poly), signed_area(&out));
    if old.signum() != new.signum() || new.abs() < 1e-6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stl::tests::box_mesh;

    fn square(x0: f64, y0: f64, size: f64) -> Polygon {
        vec![
            [x0, y0],
            [x0 + size, y0],
            [x0 + size, y0 + size],
            [x0, y0 + size],
        ]
    }

    #[test]
    fn place_centres_the_model_and_puts_it_on_the_bed() {
        let mut mesh = box_mesh([-3.0, 4.0, 7.0], [1.0, 8.0, 9.0]);
        let b = place(&mut mesh, [100.0, 50.0]).unwrap();
        assert_eq!(b.min, [98.0, 48.0, 0.0]);
        assert_eq!(b.max, [102.0, 52.0, 2.0]);
        assert!(place(&mut Mesh::default(), [0.0, 0.0]).is_none());
    }

    #[test]
    fn area_and_containment() {
        let sq = square(0.0, 0.0, 2.0);
        assert_eq!(signed_area(&sq), 4.0);
        let rev: Polygon = sq.iter().rev().copied().collect();
        assert_eq!(signed_area(&rev), -4.0);
        assert!(contains(&sq, [1.0, 1.0]));
        assert!(!contains(&sq, [3.0, 1.0]));
        assert!(!contains(&sq, [1.0, -0.5]));
    }

    #[test]
    fn simplify_drops_duplicates_and_collinear_points() {
        let poly = vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [0.0, 1.0],
            [0.0, 0.0],
        ];
        assert_eq!(simplify(&poly, 1e-6), square(0.0, 0.0, 2.0));
        // Collinear points around the start are dropped too.
        let rotated = [[1.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]];
        assert_eq!(
            simplify(&rotated, 1e-6),
            vec![[2.0, 0.0], [2.0, 2.0], [0.0, 2.0], [0.0, 0.0]]
        );
        // A back-and-forth "polygon" collapses.
        assert!(simplify(&[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]], 1e-6).len() < 3);
        assert!(simplify(&[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]], 1e-6).len() < 3);
    }

    #[test]
    fn inset_shrinks_outer_outlines_and_grows_holes() {
        let outer = square(0.0, 0.0, 10.0);
        let inner = inset(&outer, 0.5).unwrap();
        assert_eq!(inner, square(0.5, 0.5, 9.0));
        let hole: Polygon = square(4.0, 4.0, 2.0).into_iter().rev().collect();
        let grown = inset(&hole, 0.5).unwrap();
        assert!((signed_area(&grown) + 9.0).abs() < 1e-9);
    }

    #[test]
    fn inset_degenerates() {
        let outer = square(0.0, 0.0, 1.0);
        assert!(inset(&outer, 0.6).is_none());
        assert!(inset(&outer[..2], 0.1).is_none());
        // A spike folding back onto itself.
        assert!(inset(&[[0.0, 0.0], [2.0, 0.0], [0.0, 0.0 + 1e-12]], 0.1).is_none());
    }
}
