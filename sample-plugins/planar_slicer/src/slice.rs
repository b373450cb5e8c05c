//! Cutting a placed mesh into layers and joining the cut segments into closed outlines.
//!
//! Layer `i` has its top at `first_layer_height + i * layer_height` and is cut
//! in its middle (the first layer at half its height). A vertex exactly on a
//! cut plane counts as above it, as if the plane were nudged down by an
//! infinitesimal amount, so every edge is either crossed once or not at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use plinth_sdk::SliceError;

use crate::geometry::{self, Point, Polygon};
use crate::stl::{Mesh, Triangle};

/// Endpoints closer than this (mm) are the same point when joining segments.
pub const JOIN_TOLERANCE: f64 = 1e-3;
/// Outline points off a straight line by less than this (mm) are dropped.
const SIMPLIFY_TOLERANCE: f64 = 1e-4;
/// Outlines with a smaller area (mm²) are dropped.
const MIN_AREA: f64 = 1e-6;
/// Most layers a job may produce.
pub const MAX_LAYERS: usize = 100_000;

/// How the model is cut into layers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerPlan {
    /// Thickness of the first layer, mm.
    pub first_layer_height: f64,
    /// Thickness of the other layers, mm.
    pub layer_height: f64,
}

impl LayerPlan {
    /// Top of layer `i` (the nozzle height when printing it).
    pub fn top(&self, i: usize) -> f64 {
        self.first_layer_height + i as f64 * self.layer_height
    }

    /// Thickness of layer `i`.
    pub fn thickness(&self, i: usize) -> f64 {
        if i == 0 {
            self.first_layer_height
        } else {
            self.layer_height
        }
    }

    /// Height of the plane cutting layer `i`: the middle of the layer.
    pub fn cut(&self, i: usize) -> f64 {
        self.top(i) - self.thickness(i) / 2.0
    }

    /// Number of layers whose cut plane lies within `0..=height`.
    pub fn layer_count(&self, height: f64) -> Result<usize, String> {
        if height.is_nan() || height < self.cut(0) {
            return Ok(0);
        }
        let estimate = ((height - self.first_layer_height) / self.layer_height + 1.5).max(1.0);
        if estimate > MAX_LAYERS as f64 + 1.0 {
            return Err(format!(
                "a {height:.3} mm tall model would have about {estimate:.0} layers, more than \
                 {MAX_LAYERS}; use a larger layer_height"
            ));
        }
        // Settle the estimate against `cut` itself, so rounding cannot disagree with it.
        let mut n = estimate as usize;
        while n > 0 && self.cut(n - 1) > height {
            n -= 1;
        }
        while self.cut(n) <= height {
            n += 1;
        }
        Ok(n)
    }
}

/// One layer of the sliced model.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Top of the layer, mm.
    pub z: f64,
    /// Thickness of the layer, mm.
    pub thickness: f64,
    /// Closed outlines: outer ones counter-clockwise, holes clockwise.
    pub outlines: Vec<Polygon>,
    /// Chains of segments that did not close and were discarded.
    pub open_chains: usize,
}

/// Cuts `mesh` (already placed with its bottom at z = 0) into layers.
/// `progress` receives the fraction done after each layer; `cancel` is checked
/// before each layer.
pub fn slice_mesh(
    mesh: &Mesh,
    plan: LayerPlan,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<Vec<Layer>, SliceError> {
    let tris = &mesh.triangles;
    let z_range: Vec<(f64, f64)> = tris
        .iter()
        .map(|t| {
            let zs = [t[0][2], t[1][2], t[2][2]];
            (zs[0].min(zs[1]).min(zs[2]), zs[0].max(zs[1]).max(zs[2]))
        })
        .collect();
    let height = z_range.iter().map(|r| r.1).fold(0.0, f64::max);
    let count = plan.layer_count(height).map_err(SliceError::Failed)?;

    // Sweep the planes upwards: triangles enter the active set when the plane
    // passes their lowest point and leave it when it passes their highest.
    let mut order: Vec<usize> = (0..tris.len()).collect();
    order.sort_by(|&a, &b| z_range[a].0.total_cmp(&z_range[b].0));
    let mut next = 0;
    let mut active: Vec<usize> = Vec::new();
    let mut layers = Vec::with_capacity(count);
    for i in 0..count {
        if cancel.load(Ordering::Relaxed) {
            return Err(SliceError::Cancelled);
        }
        let plane = plan.cut(i);
        while next < order.len() && z_range[order[next]].0 < plane {
            active.push(order[next]);
            next += 1;
        }
        active.retain(|&t| z_range[t].1 >= plane);
        let segments: Vec<[Point; 2]> = active
            .iter()
            .filter_map(|&t| cut_triangle(&tris[t], plane))
            .filter(|s| geometry::distance(s[0], s[1]) > JOIN_TOLERANCE)
            .collect();
        let (mut outlines, open_chains) = join_segments(&segments);
        orient(&mut outlines);
        layers.push(Layer {
            z: plan.top(i),
            thickness: plan.thickness(i),
            outlines,
            open_chains,
        });
        progress((i + 1) as f64 / count as f64);
    }
    Ok(layers)
}

/// The segment where the plane at `z` crosses `triangle`, if it does.
fn cut_triangle(triangle: &Triangle, z: f64) -> Option<[Point; 2]> {
    let above = triangle.map(|v| v[2] >= z);
    let lone = match above {
        [true, true, true] | [false, false, false] => return None,
        [a, b, _] if a == b => 2,
        [a, _, c] if a == c => 1,
        _ => 0,
    };
    let a = triangle[lone];
    Some([
        cross_edge(a, triangle[(lone + 1) % 3], z),
        cross_edge(a, triangle[(lone + 2) % 3], z),
    ])
}

/// Where the edge `u`–`v` (one end below `z`, the other at or above) crosses `z`.
/// Computed from the lower end, so both triangles sharing an edge get the very same point.
fn cross_edge(u: [f64; 3], v: [f64; 3], z: f64) -> Point {
    let (lo, hi) = if u[2] < v[2] { (u, v) } else { (v, u) };
    if hi[2] == z {
        return [hi[0], hi[1]];
    }
    let t = (z - lo[2]) / (hi[2] - lo[2]);
    [lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1])]
}

/// Joins segments into closed polygons, matching endpoints within
/// [`JOIN_TOLERANCE`]. Returns the polygons and the number of open chains,
/// which are discarded.
pub fn join_segments(segments: &[[Point; 2]]) -> (Vec<Polygon>, usize) {
    let cell = |p: Point| {
        (
            (p[0] / JOIN_TOLERANCE).floor() as i64,
            (p[1] / JOIN_TOLERANCE).floor() as i64,
        )
    };
    // Endpoint `2 * s + e` is end `e` of segment `s`.
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::with_capacity(segments.len() * 2);
    for (s, seg) in segments.iter().enumerate() {
        for (e, &p) in seg.iter().enumerate() {
            grid.entry(cell(p)).or_default().push(2 * s + e);
        }
    }
    let mut used = vec![false; segments.len()];
    let endpoint = |id: usize| segments[id / 2][id % 2];
    let find = |p: Point, used: &[bool]| -> Option<usize> {
        let (cx, cy) = cell(p);
        (-1..=1)
            .flat_map(|dx| (-1..=1).map(move |dy| (cx + dx, cy + dy)))
            .filter_map(|key| grid.get(&key))
            .flatten()
            .copied()
            .find(|&id| !used[id / 2] && geometry::distance(endpoint(id), p) <= JOIN_TOLERANCE)
    };

    let mut polygons = Vec::new();
    let mut open = 0;
    for start in 0..segments.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut chain = segments[start].to_vec();
        let mut closed = false;
        loop {
            let end = chain[chain.len() - 1];
            if chain.len() > 2 && geometry::distance(end, chain[0]) <= JOIN_TOLERANCE {
                chain.pop();
                closed = true;
                break;
            }
            let Some(id) = find(end, &used) else { break };
            used[id / 2] = true;
            chain.push(endpoint(id ^ 1));
        }
        if !closed {
            // Consume the rest of the chain backwards so it counts once.
            chain.reverse();
            while let Some(id) = find(chain[chain.len() - 1], &used) {
                used[id / 2] = true;
                chain.push(endpoint(id ^ 1));
            }
            open += 1;
            continue;
        }
        let polygon = geometry::simplify(&chain, SIMPLIFY_TOLERANCE);
        if polygon.len() >= 3 && geometry::signed_area(&polygon).abs() >= MIN_AREA {
            polygons.push(polygon);
        }
    }
    (polygons, open)
}

/// Orients outlines by nesting depth: outer outlines (inside an even number of
/// others) counter-clockwise, holes clockwise, so the material is always on
/// the left. Outer outlines come first, larger before smaller.
pub fn orient(outlines: &mut [Polygon]) {
    let areas: Vec<f64> = outlines
        .iter()
        .map(|p| geometry::signed_area(p).abs())
        .collect();
    let boxes: Vec<[f64; 4]> = outlines.iter().map(|p| bbox(p)).collect();
    let depth: Vec<usize> = (0..outlines.len())
        .map(|i| {
            let probe = outlines[i][0];
            (0..outlines.len())
                .filter(|&j| {
                    j != i
                        && areas[j] > areas[i]
                        && inside_box(&boxes[j], &boxes[i])
                        && geometry::contains(&outlines[j], probe)
                })
                .count()
        })
        .collect();
    for (i, outline) in outlines.iter_mut().enumerate() {
        let ccw = geometry::signed_area(outline) > 0.0;
        if ccw != depth[i].is_multiple_of(2) {
            outline.reverse();
        }
    }
    let mut keyed: Vec<(usize, f64, Polygon)> = outlines
        .iter_mut()
        .enumerate()
        .map(|(i, p)| (depth[i], areas[i], std::mem::take(p)))
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    for (slot, (_, _, p)) in outlines.iter_mut().zip(keyed) {
        *slot = p;
    }
}

/// `[min_x, min_y, max_x, max_y]` of a polygon.
fn bbox(p: &[Point]) -> [f64; 4] {
    p.iter().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, q| {
            [
                b[0].min(q[0]),
                b[1].min(q[1]),
                b[2].max(q[0]),
                b[3].max(q[1]),
            ]
        },
    )
}

/// Whether box `inner` lies within box `outer`.
fn inside_box(outer: &[f64; 4], inner: &[f64; 4]) -> bool {
    outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stl::tests::{box_mesh, sphere, torus};

    pub(crate) const PLAN: LayerPlan = LayerPlan {
        first_layer_height: 0.2,
        layer_height: 0.2,
    };

    fn slice(mesh: &Mesh, plan: LayerPlan) -> Vec<Layer> {
        slice_mesh(mesh, plan, &mut |_| {}, &AtomicBool::new(false)).unwrap()
    }

    /// Asserts `p` is an axis-aligned rectangle from `min` to `max`.
    fn assert_rect(p: &Polygon, min: Point, max: Point) {
        assert_eq!(p.len(), 4, "{p:?}");
        let b = bbox(p);
        for (got, want) in b.iter().zip([min[0], min[1], max[0], max[1]]) {
            assert!((got - want).abs() < 1e-9, "{p:?} is not {min:?}..{max:?}");
        }
        let area = (max[0] - min[0]) * (max[1] - min[1]);
        assert!((geometry::signed_area(p).abs() - area).abs() < 1e-9);
    }

    /// A box with a box-shaped cavity: the inner box's triangles face inwards.
    fn hollow_box() -> Mesh {
        let mut mesh = box_mesh([0.0; 3], [20.0, 20.0, 10.0]);
        let mut inner = box_mesh([5.0, 5.0, 2.0], [15.0, 15.0, 8.0]);
        for t in &mut inner.triangles {
            t.swap(1, 2);
        }
        mesh.triangles.extend(inner.triangles);
        mesh
    }

    #[test]
    fn layer_plan() {
        assert_eq!(PLAN.layer_count(10.0), Ok(50));
        assert_eq!(PLAN.layer_count(0.1), Ok(1));
        assert_eq!(PLAN.layer_count(0.09), Ok(0));
        assert_eq!(PLAN.layer_count(0.0), Ok(0));
        let plan = LayerPlan {
            first_layer_height: 0.3,
            layer_height: 0.1,
        };
        assert_eq!(plan.cut(0), 0.15);
        assert!((plan.cut(1) - 0.35).abs() < 1e-12);
        assert_eq!(plan.layer_count(1.0), Ok(8));
        let tiny = LayerPlan {
            first_layer_height: 1e-6,
            layer_height: 1e-6,
        };
        let err = tiny.layer_count(200.0).unwrap_err();
        assert!(err.contains("layer_height"), "{err}");
    }

    #[test]
    fn cube_gives_fifty_square_layers() {
        let layers = slice(&box_mesh([0.0; 3], [10.0; 3]), PLAN);
        assert_eq!(layers.len(), 50);
        for (i, layer) in layers.iter().enumerate() {
            assert!((layer.z - 0.2 * (i + 1) as f64).abs() < 1e-9);
            assert_eq!(layer.open_chains, 0);
            assert_eq!(layer.outlines.len(), 1, "layer {i}");
            let outline = &layer.outlines[0];
            assert_rect(outline, [0.0, 0.0], [10.0, 10.0]);
            assert!(
                geometry::signed_area(outline) > 0.0,
                "outer outlines run counter-clockwise"
            );
            // Each perimeter is a square inset by the extrusion width.
            let second = geometry::inset(outline, 0.45).unwrap();
            assert_rect(&second, [0.45, 0.45], [9.55, 9.55]);
        }
    }

    #[test]
    fn cavities_become_clockwise_holes() {
        let layers = slice(&hollow_box(), PLAN);
        assert_eq!(layers.len(), 50);
        for layer in &layers {
            let cut = layer.z - 0.1;
            if (2.0..8.0).contains(&cut) {
                assert_eq!(layer.outlines.len(), 2);
                assert_rect(&layer.outlines[0], [0.0, 0.0], [20.0, 20.0]);
                assert_rect(&layer.outlines[1], [5.0, 5.0], [15.0, 15.0]);
                assert!(geometry::signed_area(&layer.outlines[0]) > 0.0);
                assert!(geometry::signed_area(&layer.outlines[1]) < 0.0);
                let grown = geometry::inset(&layer.outlines[1], 0.5).unwrap();
                assert_rect(&grown, [4.5, 4.5], [15.5, 15.5]);
            } else {
                assert_eq!(layer.outlines.len(), 1);
            }
        }
    }

    #[test]
    fn curved_surfaces_give_closed_outlines() {
        let mut sphere = sphere(10.0, 60, 80);
        geometry::place(&mut sphere, [0.0, 0.0]);
        let layers = slice(&sphere, PLAN);
        assert_eq!(layers.len(), 100);
        for layer in &layers {
            assert_eq!(layer.open_chains, 0);
            assert_eq!(layer.outlines.len(), 1, "z = {}", layer.z);
            assert!(geometry::signed_area(&layer.outlines[0]) > 0.0);
        }

        // A ring: its middle layers have an outer outline and a hole.
        let mut ring = torus(10.0, 3.0, 32, 64);
        geometry::place(&mut ring, [50.0, 50.0]);
        let layers = slice(&ring, PLAN);
        assert_eq!(layers.len(), 30);
        for layer in &layers {
            assert_eq!(layer.open_chains, 0);
            assert_eq!(layer.outlines.len(), 2, "z = {}", layer.z);
            let (outer, hole) = (&layer.outlines[0], &layer.outlines[1]);
            assert!(geometry::signed_area(outer) > 0.0);
            assert!(geometry::signed_area(hole) < 0.0);
            assert!(geometry::contains(outer, hole[0]));
            assert!(
                !geometry::contains(hole, [50.0 + 10.0, 50.0]),
                "the tube is material"
            );
        }
    }

    /// Run with `cargo test --release -p planar_slicer -- --ignored --nocapture`.
    #[test]
    #[ignore = "performance check; run in release"]
    fn hundred_thousand_triangles_slice_quickly() {
        let mut mesh = sphere(40.0, 250, 200);
        assert_eq!(mesh.triangles.len(), 100_000);
        geometry::place(&mut mesh, [100.0, 100.0]);
        let started = std::time::Instant::now();
        let layers = slice(&mesh, PLAN);
        let elapsed = started.elapsed();
        println!("{} layers in {elapsed:?}", layers.len());
        assert_eq!(layers.len(), 400);
        assert!(layers
            .iter()
            .all(|l| l.outlines.len() == 1 && l.open_chains == 0));
        assert!(elapsed.as_secs_f64() < 2.0, "{elapsed:?}");
    }

    #[test]
    fn planes_through_vertices_are_handled() {
        // Side walls split at z = 0.5, so the first cut runs through a vertex ring;
        // the second cut lies exactly on the top face.
        let mut mesh = box_mesh([0.0; 3], [4.0, 4.0, 0.5]);
        let upper = box_mesh([0.0, 0.0, 0.5], [4.0, 4.0, 1.0]);
        mesh.triangles.retain(|t| t.iter().any(|v| v[2] == 0.0));
        mesh.triangles.extend(
            upper
                .triangles
                .into_iter()
                .filter(|t| t.iter().any(|v| v[2] == 1.0)),
        );
        let plan = LayerPlan {
            first_layer_height: 1.0,
            layer_height: 0.5,
        };
        assert_eq!(plan.cut(0), 0.5);
        assert_eq!(plan.cut(1), 1.25);
        let layers = slice(&mesh, plan);
        assert_eq!(layers.len(), 1);
        assert_rect(&layers[0].outlines[0], [0.0, 0.0], [4.0, 4.0]);

        let plan = LayerPlan {
            first_layer_height: 0.5,
            layer_height: 1.0,
        };
        assert_eq!(plan.cut(1), 1.0);
        let layers = slice(&mesh, plan);
        assert_eq!(layers.len(), 2);
        for layer in &layers {
            assert_eq!(layer.outlines.len(), 1);
            assert_eq!(layer.open_chains, 0);
            assert_rect(&layer.outlines[0], [0.0, 0.0], [4.0, 4.0]);
        }
    }

    #[test]
    fn open_chains_are_counted_and_dropped() {
        let mut mesh = box_mesh([0.0; 3], [10.0; 3]);
        // Remove one triangle of the x = max wall: every layer gets a gap.
        let gap = mesh
            .triangles
            .iter()
            .position(|t| t.iter().all(|v| v[0] == 10.0))
            .unwrap();
        mesh.triangles.remove(gap);
        let layers = slice(&mesh, PLAN);
        assert_eq!(layers.len(), 50);
        for layer in &layers {
            assert!(layer.outlines.is_empty());
            assert_eq!(layer.open_chains, 1);
        }
    }

    #[test]
    fn nearby_endpoints_are_joined() {
        let e = JOIN_TOLERANCE / 3.0;
        let segments = [
            [[0.0, 0.0], [1.0, 0.0]],
            [[1.0, 1.0], [1.0 + e, e]],
            [[0.0, 1.0], [1.0, 1.0 - e]],
            [[e, 1.0 - e], [0.0, 0.0]],
        ];
        let (polygons, open) = join_segments(&segments);
        assert_eq!(open, 0);
        assert_eq!(polygons.len(), 1);
        assert_eq!(polygons[0].len(), 4);
    }

    #[test]
    fn degenerate_chains_are_dropped() {
        // Two segments back and forth close but enclose nothing.
        let segments = [[[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]];
        assert_eq!(join_segments(&segments), (vec![], 0));
    }

    #[test]
    fn progress_and_cancel() {
        let mesh = box_mesh([0.0; 3], [10.0; 3]);
        let mut reports = Vec::new();
        slice_mesh(
            &mesh,
            PLAN,
            &mut |f| reports.push(f),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(reports.len(), 50);
        assert!(reports.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(reports.last(), Some(&1.0));

        let cancel = AtomicBool::new(false);
        let mut calls = 0;
        let result = slice_mesh(
            &mesh,
            PLAN,
            &mut |_| {
                calls += 1;
                if calls == 10 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        );
        assert_eq!(result, Err(SliceError::Cancelled));
        assert_eq!(calls, 10);
    }
}
