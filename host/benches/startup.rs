//! Start-up of the whole process: `plinth serve` from exec until it logs
//! "Plinth started" (every plugin discovered, loaded, enabled and started,
//! the server accepting), with N copies of a plugin in the plugins folder
//! (each copy a library of its own, run in process), and the resident
//! memory right then.
//! OctoPrint's anchor (`../shared/bench/octoprint_anchor.py N 1`) times its
//! PluginManager's load and enable alone, inside an already running Python.
//!
//! Run: `cargo bench -p plinth --bench startup` (builds the workspace in
//! release mode). Arguments after `--`: plugin counts (default 0 10 100
//! 1000; 0 is the product's bundled plugins, the slicer and the test
//! picture webcam, as `scripts/run` bundles them), `--json` for one JSON
//! line per count, `--busy` to time the floor again with a second thread
//! of its process spinning on another core (what a thread working beside
//! the loader costs it). Best of 5 starts per count.
//!
//! Beside each count with plugins it times the loader's floor: a process
//! (this bench, started again) that does nothing but `dlopen` the same
//! libraries, keeping each mapped as the host does, timed from exec until
//! it says they are mapped. What Plinth takes beyond it is its own work.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plinth::{LIB_EXT, LIB_PREFIX};

fn library(release: &Path, name: &str) -> std::path::PathBuf {
    release.join(format!("{LIB_PREFIX}{name}.{LIB_EXT}"))
}

/// One start: the time to "Plinth started" and the RSS then (KiB).
fn start_once(release: &Path, base: &Path, bundled: &Path) -> (Duration, u64) {
    let began = Instant::now();
    let mut child = Command::new(release.join("plinth"))
        .arg("--basedir")
        .arg(base)
        .arg("--bundled-dir")
        .arg(bundled)
        .args(["serve", "--port", "0"])
        .env("PLINTH_LOG", "warn,plinth::serve=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("Plinth started"));
    let elapsed = began.elapsed();
    assert!(started, "plinth serve never said it started");
    let rss = support::rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    (elapsed, rss)
}

/// The loader's floor: this process only maps every library of `dir`,
/// keeping each mapped as the host does (a library closed again would leave
/// the loader's list short, and its per-library walks of that list cheap).
fn dlopen_only(dir: &Path, busy: bool) {
    // A second thread of the process kept running while the libraries are
    // mapped (`--busy`; the process exits soon after): what a thread
    // working beside the loader costs it, on a machine with a core to spare.
    if busy {
        std::thread::spawn(|| loop {
            std::hint::spin_loop();
        });
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        // Never closed, as the host never unmaps a plugin.
        std::mem::forget(abi_stable::library::RawLibrary::load_at(&file).unwrap());
    }
    println!("mapped");
}

/// One run of [`dlopen_only`] in a process of its own, from exec until it
/// says the libraries are mapped (as a start is timed until "Plinth
/// started"; its exit, which unmaps them all, is not counted).
fn floor_once(dir: &Path, busy: bool) -> Duration {
    let began = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg(if busy {
            "--dlopen-only-busy"
        } else {
            "--dlopen-only"
        })
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    let elapsed = began.elapsed();
    assert!(
        said.starts_with("mapped") && child.wait().unwrap().success(),
        "the dlopen-only process failed"
    );
    elapsed
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let [flag, dir] = &args[..] {
        if flag == "--dlopen-only" || flag == "--dlopen-only-busy" {
            return dlopen_only(Path::new(dir), flag == "--dlopen-only-busy");
        }
    }
    let json = args.iter().any(|a| a == "--json");
    let busy = args.iter().any(|a| a == "--busy");
    let mut counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if counts.is_empty() {
        counts = vec![0, 10, 100, 1000];
    }
    let release = support::release();
    let built = support::bench_plugins();
    for copies in counts {
        let dir = tempfile::tempdir().unwrap();
        let (base, bundled) = (dir.path().join("base"), dir.path().join("bundled"));
        let plugins = base.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        // In process, as OctoPrint loads its plugins (a plugin a person
        // installs would otherwise get a process of its own).
        std::fs::write(
            base.join("config.yaml"),
            "isolation:\n  default: in_process\n",
        )
        .unwrap();
        std::fs::create_dir_all(&bundled).unwrap();
        if copies == 0 {
            for name in ["planar_slicer", "testpicture"] {
                let file = format!("{LIB_PREFIX}{name}.{LIB_EXT}");
                std::fs::copy(library(&release, name), bundled.join(file)).unwrap();
            }
        }
        let counter = library(&built, "event_counter");
        for i in 0..copies {
            let file = format!("{LIB_PREFIX}counter_{i:04}.{LIB_EXT}");
            std::fs::copy(&counter, plugins.join(file)).unwrap();
        }
        let (best, rss) = (0..5)
            .map(|_| start_once(&release, &base, &bundled))
            .min_by_key(|(d, _)| *d)
            .unwrap();
        let floor =
            (copies > 0).then(|| (0..5).map(|_| floor_once(&plugins, false)).min().unwrap());
        let busy_floor =
            (busy && copies > 0).then(|| (0..5).map(|_| floor_once(&plugins, true)).min().unwrap());
        let what = if copies == 0 {
            "the bundled plugins".to_owned()
        } else {
            format!("{copies} plugins")
        };
        if json {
            println!(
                "{}",
                serde_json::json!({"bench": "startup", "plugins": copies,
                    "start_ms": (best.as_secs_f64() * 1e4).round() / 10.0, "rss_kib": rss,
                    "dlopen_only_ms": floor.map(|f| (f.as_secs_f64() * 1e4).round() / 10.0),
                    "dlopen_busy_ms": busy_floor.map(|f| (f.as_secs_f64() * 1e4).round() / 10.0)})
            );
        } else {
            println!(
                "plinth serve with {what}: started in {:.1} ms, {} MiB resident",
                best.as_secs_f64() * 1e3,
                rss / 1024
            );
            if let Some(floor) = floor {
                println!(
                    "  the loader's floor, a process that only dlopens the {copies} libraries: {:.1} ms",
                    floor.as_secs_f64() * 1e3
                );
            }
            if let Some(busy) = busy_floor {
                println!(
                    "  the same with a second thread of that process running beside it: {:.1} ms",
                    busy.as_secs_f64() * 1e3
                );
            }
        }
    }
}
