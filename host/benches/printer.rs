//! Lines per second through the printer's send queue and G-code hooks: a
//! print of a 200,000-line file on the virtual printer (at its fastest,
//! `printer.lines_per_second: 1000000`) with 5 plugins handling `queuing`
//! and `sent`, against the same print with no handler, in one run; then the
//! same with the 5 plugins isolated.
//!
//! Run: `cargo bench -p plinth --bench printer` (builds the `gcode_counter`
//! test plugin in release mode first). Figures are printed; nothing is
//! asserted but that every print ends done and every handler saw every line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use plinth::{Jobs, Options, Paths, PluginManager, PrinterState, LIB_EXT, LIB_PREFIX};
use plinth_abi::json;

const LINES: usize = 200_000;
const HANDLERS: usize = 5;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `gcode_counter` fixture, built in release mode.
fn counter_library() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = root().join("target").join("fixtures-release");
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "gcode_counter"])
        .arg("--manifest-path")
        .arg(root().join("tests/fixtures/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building gcode_counter failed");
    target
        .join("release")
        .join(format!("{LIB_PREFIX}gcode_counter.{LIB_EXT}"))
}

/// A print of `LINES` moves with `handlers` copies of the counter running
/// where `mode` says: lines per second, start to done.
fn print_rate(library: &Path, handlers: usize, mode: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let plugins = base.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(base.join("uploads")).unwrap();
    std::fs::create_dir_all(dir.path().join("bundled")).unwrap();
    for i in 0..handlers {
        std::fs::copy(
            library,
            plugins.join(format!("{LIB_PREFIX}counter_{i}.{LIB_EXT}")),
        )
        .unwrap();
    }
    std::fs::write(
        base.join("config.yaml"),
        format!("printer:\n  lines_per_second: 1000000\nserial:\n  autoconnect: true\nisolation:\n  default: {mode}\n"),
    )
    .unwrap();
    let mut gcode = String::with_capacity(LINES * 32);
    for i in 0..LINES {
        gcode.push_str(&format!(
            "G1 X{} Y{} E{i} F3000\n",
            i % 200,
            (i / 200) % 200
        ));
    }
    std::fs::write(base.join("uploads").join("bench.gcode"), gcode).unwrap();
    let paths = Paths {
        basedir: base,
        bundled: dir.path().join("bundled"),
        bundled_files_only: false,
    };
    let manager = PluginManager::new(paths, Options::default()).unwrap();
    manager.load_all();
    manager.start("127.0.0.1", 0);
    let jobs = Jobs::new(&manager);
    let printer = &jobs.printer;
    assert!(printer.wait_for(Duration::from_secs(30), |s| s == PrinterState::Operational));
    let t = Instant::now();
    printer.select("bench.gcode", true).unwrap();
    assert!(printer.wait_for(Duration::from_secs(600), |s| s == PrinterState::Operational));
    let elapsed = t.elapsed();
    assert_eq!(
        printer.job()["progress"]["completion"],
        json!(100.0),
        "the print ends done"
    );
    for i in 0..handlers {
        let sent = manager
            .call_helper(&format!("counter_{i}"), "sent", &json!(null))
            .unwrap();
        assert!(
            sent.as_u64().unwrap() >= LINES as u64,
            "every line passed counter_{i}"
        );
    }
    jobs.shutdown(Duration::from_secs(5));
    manager.shutdown();
    LINES as f64 / elapsed.as_secs_f64()
}

fn main() {
    let library = counter_library();
    println!("printer: a {LINES}-line print on the virtual printer, lines per second (best of 3)");
    let best = |handlers, mode| {
        (0..3)
            .map(|_| print_rate(&library, handlers, mode))
            .fold(0.0, f64::max)
    };
    let plain = best(0, "in_process");
    println!("  no hook handler:                  {plain:>10.0} lines/s");
    // `PRINTER_BENCH_MODES=in_process` leaves the isolated run out (for profiling).
    let modes =
        std::env::var("PRINTER_BENCH_MODES").unwrap_or_else(|_| "in_process,isolated".into());
    for mode in modes.split(',') {
        let hooked = best(HANDLERS, mode);
        println!(
            "  {HANDLERS} plugins on queuing and sent, {mode:<10}: {hooked:>10.0} lines/s  ratio {:.2}",
            hooked / plain
        );
    }
}
