//! One slicing job, from the model file to the G-code file, with progress
//! reports and cancellation. Independent of the host, so it can be tested.
//!
//! Progress: 0–10 % reading the model, 10–90 % cutting the layers, 90–100 %
//! writing the G-code; at least one report per layer in both of the latter.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use plinth_sdk::{json, SliceError, Value};

use crate::gcode::{self, JobInfo, WriteError};
use crate::geometry;
use crate::profile::SliceSettings;
use crate::slice::{self, LayerPlan};
use crate::stl;

/// What to slice, where to and how.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// The STL file.
    pub model_path: &'a Path,
    /// Where the G-code goes.
    pub output_path: &'a Path,
    /// The validated profile settings.
    pub settings: &'a SliceSettings,
    /// Name of the profile, for the G-code header.
    pub profile_name: &'a str,
    /// The printer profile (only `volume` is read).
    pub printer_profile: &'a Value,
    /// Where the centre of the model goes; the centre of the bed when `None`.
    pub position: Option<(f64, f64)>,
}

/// The centre of the bed of a printer profile: `(0, 0)` when `volume.origin`
/// is `"center"`, else half of `volume.width` and `volume.depth` (200 mm each
/// when missing or invalid).
pub fn bed_centre(printer_profile: &Value) -> (f64, f64) {
    let volume = &printer_profile["volume"];
    if volume["origin"] == "center" {
        return (0.0, 0.0);
    }
    let size = |key: &str| {
        volume[key]
            .as_f64()
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(200.0)
    };
    (size("width") / 2.0, size("depth") / 2.0)
}

/// Runs `task`: returns `{"analysis": …}` on success. On failure or when
/// `cancel` is raised, no output file is left behind. `warn` receives
/// warnings about the model.
pub fn run(
    task: &Task<'_>,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
    warn: &mut dyn FnMut(&str),
) -> Result<Value, SliceError> {
    let check_cancel = || {
        if cancel.load(Ordering::Relaxed) {
            Err(SliceError::Cancelled)
        } else {
            Ok(())
        }
    };
    let model = task.model_path;
    progress(0.0);
    check_cancel()?;
    if same_file(model, task.output_path) {
        return Err(SliceError::Failed(format!(
            "the G-code would overwrite the model {}",
            model.display()
        )));
    }
    let mut mesh = stl::read(model).map_err(SliceError::Failed)?;
    progress(0.1);
    check_cancel()?;

    let (x, y) = task
        .position
        .unwrap_or_else(|| bed_centre(task.printer_profile));
    if !(x.is_finite() && y.is_finite()) {
        return Err(SliceError::Failed(format!(
            "position ({x}, {y}) is not a finite point"
        )));
    }
    let bounds = geometry::place(&mut mesh, [x, y])
        .ok_or_else(|| SliceError::Failed(format!("model {} has no triangles", model.display())))?;
    let s = task.settings;
    let plan = LayerPlan {
        first_layer_height: s.first_layer_height,
        layer_height: s.layer_height,
    };
    let layers =
        slice::slice_mesh(&mesh, plan, &mut |f| progress(0.1 + 0.8 * f), cancel).map_err(|e| {
            match e {
                SliceError::Failed(e) => {
                    SliceError::Failed(format!("model {}: {e}", model.display()))
                }
                cancelled => cancelled,
            }
        })?;
    if layers.is_empty() {
        return Err(SliceError::Failed(format!(
            "model {} is {:.3} mm tall, too thin for a first layer of {} mm",
            model.display(),
            bounds.max[2],
            s.first_layer_height
        )));
    }
    warn_open_chains(&layers, model, warn);
    if layers.iter().all(|l| l.outlines.is_empty()) {
        return Err(SliceError::Failed(format!(
            "model {} has no closed outline on any layer; is the mesh closed (watertight)?",
            model.display()
        )));
    }
    check_cancel()?;

    let info = JobInfo {
        model: &model
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        profile: task.profile_name,
    };
    let analysis = write_output(
        task.output_path,
        &layers,
        s,
        info,
        &mut |f| progress(0.9 + 0.1 * f),
        cancel,
    )?;
    progress(1.0);
    Ok(json!({"analysis": analysis.to_json()}))
}

/// Whether `a` and `b` name the same file.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// One warning for all open chains of the job.
fn warn_open_chains(layers: &[slice::Layer], model: &Path, warn: &mut dyn FnMut(&str)) {
    let mut affected = layers.iter().enumerate().filter(|(_, l)| l.open_chains > 0);
    let Some((first, first_layer)) = affected.next() else {
        return;
    };
    let (count, chains) = affected.fold((1, first_layer.open_chains), |(n, c), (_, l)| {
        (n + 1, c + l.open_chains)
    });
    warn(&format!(
        "model {}: discarded {chains} open outline(s) on {count} layer(s), the first on layer \
         {first} (z = {:.3} mm); the mesh is probably not closed",
        model.display(),
        first_layer.z
    ));
}

/// Writes the G-code to `path`; removes the file again unless it succeeds.
fn write_output(
    path: &Path,
    layers: &[slice::Layer],
    settings: &SliceSettings,
    info: JobInfo<'_>,
    progress: &mut dyn FnMut(f64),
    cancel: &AtomicBool,
) -> Result<gcode::Analysis, SliceError> {
    let file = File::create(path)
        .map_err(|e| SliceError::Failed(format!("cannot create {}: {e}", path.display())))?;
    let mut out = BufWriter::new(file);
    let result = gcode::write_gcode(&mut out, layers, settings, info, progress, cancel).and_then(
        |analysis| {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(analysis)
        },
    );
    let outcome = match result {
        Ok(analysis) if analysis.extrudes => return Ok(analysis),
        Ok(_) => SliceError::Failed(format!(
            "model {}: every outline is too small to print",
            info.model
        )),
        Err(WriteError::Cancelled) => SliceError::Cancelled,
        Err(WriteError::Io(e)) => {
            SliceError::Failed(format!("cannot write {}: {e}", path.display()))
        }
    };
    let _ = std::fs::remove_file(path);
    Err(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcode::tests::{check_gcode, moves};
    use crate::stl::tests::{box_mesh, sphere, to_ascii, to_binary};
    use std::path::PathBuf;

    struct Fixture {
        dir: tempfile::TempDir,
        settings: SliceSettings,
        printer: Value,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                dir: tempfile::tempdir().unwrap(),
                settings: SliceSettings::default(),
                printer: json!({"volume": {"width": 250.0, "depth": 210.0}}),
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn model(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let path = self.path(name);
            std::fs::write(&path, bytes).unwrap();
            path
        }

        fn cube(&self) -> PathBuf {
            self.model("cube.stl", &to_binary(&box_mesh([-5.0; 3], [5.0; 3])))
        }

        fn task<'a>(&'a self, model: &'a Path, output: &'a Path) -> Task<'a> {
            Task {
                model_path: model,
                output_path: output,
                settings: &self.settings,
                profile_name: "default",
                printer_profile: &self.printer,
                position: None,
            }
        }
    }

    fn run_quietly(task: &Task<'_>) -> Result<Value, SliceError> {
        run(task, &mut |_| {}, &AtomicBool::new(false), &mut |w| {
            panic!("warning: {w}")
        })
    }

    #[test]
    fn slices_a_cube_into_a_gcode_file() {
        let f = Fixture::new();
        let (model, output) = (f.cube(), f.path("cube.gcode"));
        let mut reports = Vec::new();
        let result = run(
            &f.task(&model, &output),
            &mut |p| reports.push(p),
            &AtomicBool::new(false),
            &mut |w| panic!("{w}"),
        )
        .unwrap();
        let gcode = std::fs::read_to_string(&output).unwrap();
        assert!(gcode.contains(";LAYER_COUNT:50\n"));
        assert_eq!(check_gcode(&gcode).len(), 100);
        let analysis = &result["analysis"];
        assert_eq!(analysis["layerCount"], 50);
        // The outer wall's centre line is half a line width inside the model.
        assert_eq!(analysis["printingArea"]["minX"], 120.225);
        assert_eq!(analysis["printingArea"]["maxX"], 129.775);
        assert_eq!(analysis["printingArea"]["minY"], 100.225);
        assert_eq!(analysis["printingArea"]["maxY"], 109.775);
        let last_e = moves(&gcode)
            .iter()
            .filter_map(|m| m.e)
            .next_back()
            .unwrap();
        assert_eq!(analysis["filament"]["tool0"]["length"], last_e);
        assert!(analysis["estimatedPrintTime"].as_f64().unwrap() > 0.0);

        // 0 → 10 % → one report per layer slicing, one per layer writing → 100 %.
        assert_eq!(reports.len(), 2 + 50 + 50 + 1);
        assert_eq!(reports[..2], [0.0, 0.1]);
        assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
        assert!((reports[51] - 0.9).abs() < 1e-12);
        assert_eq!(reports.last(), Some(&1.0));
    }

    #[test]
    fn ascii_and_binary_models_give_the_same_gcode() {
        let f = Fixture::new();
        let mesh = box_mesh([0.0; 3], [10.0; 3]);
        let ascii = f.model("a.stl", to_ascii(&mesh).as_bytes());
        let binary = f.model("b.stl", &to_binary(&mesh));
        let (out_a, out_b) = (f.path("a.gcode"), f.path("b.gcode"));
        let a = run_quietly(&f.task(&ascii, &out_a)).unwrap();
        let b = run_quietly(&f.task(&binary, &out_b)).unwrap();
        assert_eq!(a, b);
        let strip = |p: &Path| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines().skip(2).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(strip(&out_a), strip(&out_b));
    }

    #[test]
    fn position_moves_the_centre() {
        let f = Fixture::new();
        let (model, output) = (f.cube(), f.path("cube.gcode"));
        let mut task = f.task(&model, &output);
        task.position = Some((30.0, 40.5));
        let area = &run_quietly(&task).unwrap()["analysis"]["printingArea"];
        assert_eq!(area["minX"], 25.225);
        assert_eq!(area["maxX"], 34.775);
        assert_eq!(area["minY"], 35.725);
        assert_eq!(area["maxY"], 45.275);
        let gcode = std::fs::read_to_string(&output).unwrap();
        for m in moves(&gcode).iter().filter(|m| m.e.is_some()) {
            let (x, y) = (m.x.unwrap(), m.y.unwrap());
            assert!((25.0..=35.0).contains(&x) && (35.5..=45.5).contains(&y));
        }
        task.position = Some((f64::NAN, 0.0));
        let err = run_quietly(&task).unwrap_err();
        assert!(matches!(err, SliceError::Failed(e) if e.contains("not a finite point")));
    }

    #[test]
    fn bed_centre_reads_the_printer_profile() {
        assert_eq!(bed_centre(&json!({})), (100.0, 100.0));
        assert_eq!(
            bed_centre(&json!({"volume": {"width": 300, "depth": 180.5}})),
            (150.0, 90.25)
        );
        assert_eq!(
            bed_centre(&json!({"volume": {"width": "x", "depth": -1}})),
            (100.0, 100.0)
        );
        assert_eq!(
            bed_centre(&json!({"volume": {"width": 300, "depth": 300, "origin": "center"}})),
            (0.0, 0.0)
        );
    }

    #[test]
    fn cancel_before_start_leaves_nothing() {
        let f = Fixture::new();
        let (model, output) = (f.cube(), f.path("cube.gcode"));
        let cancel = AtomicBool::new(true);
        let result = run(&f.task(&model, &output), &mut |_| {}, &cancel, &mut |_| {});
        assert_eq!(result, Err(SliceError::Cancelled));
        assert!(!output.exists());
    }

    #[test]
    fn cancel_while_slicing_or_writing_removes_the_output() {
        for at in [0.5, 0.95] {
            let f = Fixture::new();
            let (model, output) = (f.cube(), f.path("cube.gcode"));
            let cancel = AtomicBool::new(false);
            let mut saw_file = false;
            let result = run(
                &f.task(&model, &output),
                &mut |p| {
                    saw_file |= output.exists();
                    if p >= at {
                        cancel.store(true, Ordering::Relaxed);
                    }
                },
                &cancel,
                &mut |_| {},
            );
            assert_eq!(result, Err(SliceError::Cancelled), "cancel at {at}");
            assert_eq!(saw_file, at > 0.9, "the file exists only while writing");
            assert!(!output.exists(), "cancel at {at} leaves no output");
        }
    }

    #[test]
    fn bad_models_fail_without_output() {
        let f = Fixture::new();
        let output = f.path("out.gcode");
        let truncated = f.model(
            "truncated.stl",
            &to_binary(&box_mesh([0.0; 3], [1.0; 3]))[..200],
        );
        let missing = f.path("missing.stl");
        let flat = f.model(
            "flat.stl",
            &to_binary(&box_mesh([0.0; 3], [10.0, 10.0, 0.05])),
        );
        let mut open_mesh = box_mesh([0.0; 3], [10.0; 3]);
        open_mesh.triangles.remove(4);
        let open = f.model("open.stl", &to_binary(&open_mesh));
        let cases = [
            (&truncated, "wrong size"),
            (&missing, "cannot read model"),
            (&flat, "too thin"),
            (&open, "no closed outline"),
        ];
        for (model, expected) in cases {
            let result = run(
                &f.task(model, &output),
                &mut |_| {},
                &AtomicBool::new(false),
                &mut |_| {},
            );
            let Err(SliceError::Failed(message)) = result else {
                panic!("{model:?} should fail: {result:?}")
            };
            assert!(message.contains(expected), "{message}");
            let name = model.file_name().unwrap().to_string_lossy();
            assert!(message.contains(name.as_ref()), "{message} names the file");
            assert!(!output.exists());
        }
    }

    #[test]
    fn open_chains_are_reported_once() {
        let f = Fixture::new();
        // A closed cube plus a stray triangle crossing every layer.
        let mut mesh = box_mesh([0.0; 3], [10.0; 3]);
        mesh.triangles
            .push([[20.0, 0.0, 0.0], [25.0, 0.0, 0.0], [20.0, 5.0, 10.0]]);
        let model = f.model("stray.stl", &to_binary(&mesh));
        let output = f.path("stray.gcode");
        let mut warnings = Vec::new();
        let result = run(
            &f.task(&model, &output),
            &mut |_| {},
            &AtomicBool::new(false),
            &mut |w| warnings.push(w.to_string()),
        );
        assert!(result.is_ok());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("discarded 50 open outline(s) on 50 layer(s)"),
            "{warnings:?}"
        );
        assert!(warnings[0].contains("stray.stl"));
    }

    #[test]
    fn output_errors_are_reported() {
        let f = Fixture::new();
        let model = f.cube();
        let output = f.path("no-such-dir").join("cube.gcode");
        let result = run_quietly(&f.task(&model, &output));
        let Err(SliceError::Failed(message)) = result else {
            panic!("{result:?}")
        };
        assert!(
            message.contains("cannot create") && message.contains("cube.gcode"),
            "{message}"
        );
        let result = run_quietly(&f.task(&model, &model));
        let Err(SliceError::Failed(message)) = result else {
            panic!("{result:?}")
        };
        assert!(message.contains("would overwrite the model"), "{message}");
        assert!(model.exists());
    }

    /// Run with `cargo test --release -p planar_slicer -- --ignored --nocapture`.
    #[test]
    #[ignore = "performance check; run in release"]
    fn a_hundred_thousand_triangle_job_is_quick() {
        let f = Fixture::new();
        let model = f.model("sphere.stl", &to_binary(&sphere(40.0, 250, 200)));
        let output = f.path("sphere.gcode");
        let started = std::time::Instant::now();
        let result = run_quietly(&f.task(&model, &output)).unwrap();
        let elapsed = started.elapsed();
        let size = std::fs::metadata(&output).unwrap().len();
        println!("whole job in {elapsed:?}, {size} bytes of G-code");
        assert_eq!(result["analysis"]["layerCount"], 400);
        assert!(elapsed.as_secs_f64() < 3.0, "{elapsed:?}");
    }

    #[test]
    fn outlines_too_small_to_print_fail_without_output() {
        let f = Fixture::new();
        let output = f.path("sliver.gcode");
        // A sliver 0.4 µm wide collapses to a line at G-code resolution.
        let layer = slice::Layer {
            z: 0.2,
            thickness: 0.2,
            outlines: vec![vec![[0.0, 0.0], [10.0, 0.0], [10.0, 0.0004]]],
            open_chains: 0,
        };
        let info = JobInfo {
            model: "sliver.stl",
            profile: "default",
        };
        let result = write_output(
            &output,
            &[layer],
            &f.settings,
            info,
            &mut |_| {},
            &AtomicBool::new(false),
        );
        let Err(SliceError::Failed(message)) = result else {
            panic!("{result:?}")
        };
        assert!(
            message.contains("sliver.stl: every outline is too small"),
            "{message}"
        );
        assert!(!output.exists());
    }
}
