//! The planar slicer in a real host (plinth-testkit): a 10 mm cube sliced
//! into G-code with its default profile.

use plinth_testkit::{json, methods, SliceRequest, TestHost};

/// An ASCII STL of a box `x` × `y` × `z` mm at the origin.
fn box_stl(x: f32, y: f32, z: f32) -> String {
    let v = |i: usize| {
        [
            if i & 1 != 0 { x } else { 0.0 },
            if i & 2 != 0 { y } else { 0.0 },
            if i & 4 != 0 { z } else { 0.0 },
        ]
    };
    let faces: [[usize; 4]; 6] = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    let mut out = String::from("solid box\n");
    for [a, b, c, d] in faces {
        for tri in [[a, b, c], [a, c, d]] {
            out.push_str(" facet normal 0 0 0\n  outer loop\n");
            for i in tri {
                let [px, py, pz] = v(i);
                out.push_str(&format!("   vertex {px} {py} {pz}\n"));
            }
            out.push_str("  endloop\n endfacet\n");
        }
    }
    out + "endsolid box\n"
}

#[test]
fn a_cube_becomes_layers_of_gcode() {
    let host = TestHost::start(plinth_testkit::plugin_library!()).unwrap();
    let pm = host.manager();
    let properties = pm
        .call::<methods::GetSlicerProperties>(host.id(), &())
        .unwrap();
    assert_eq!(properties.name, "Planar Slicer");
    let model = host.basedir().join("cube.stl");
    std::fs::write(&model, box_stl(10.0, 10.0, 10.0)).unwrap();
    let gcode = host.basedir().join("cube.gcode");
    let request = SliceRequest {
        model_path: model.to_string_lossy().into_owned(),
        printer_profile: json!({"volume": {"width": 200, "depth": 200, "height": 200}}),
        machinecode_path: Some(gcode.to_string_lossy().into_owned()),
        profile_path: None,
        position: None,
        job: 1,
    };
    let done = pm.call::<methods::DoSlice>(host.id(), &request).unwrap();
    assert!(done.is_ok(), "{done:?}");
    let text = std::fs::read_to_string(&gcode).unwrap();
    let layers = text.lines().filter(|l| l.starts_with(";LAYER")).count();
    assert!(
        layers >= 10,
        "{layers} layers:\n{}",
        &text[..text.len().min(500)]
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("G1 ") && l.contains('E')));
}
