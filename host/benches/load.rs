//! Times discovery + load + enable for 10, 100 and 1000 copies of a sample
//! plugin, the cost of a call through the ABI against a direct call, and
//! events delivered per second to 100 EventHandler plugins.
//!
//! Run: `cargo bench -p plinth --bench load` (builds the sample plugins in
//! release mode first). Figures are printed; nothing is asserted but that
//! every copy ends up enabled.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use plinth::{
    loader, metadata, ConfigStore, HelperError, HostServices, Options, Paths, PluginContext,
    PluginManager, PluginObject, PluginSettings, ProgressError, State, LIB_EXT, LIB_PREFIX,
};
use plinth_abi::methods::plugin::OnPluginEnabled;
use plinth_abi::{HookReply, Identity, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn release_sample(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", name])
        .current_dir(root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target
        .join("release")
        .join(format!("{LIB_PREFIX}{name}.{LIB_EXT}"))
}

/// A base folder whose `plugins` folder holds `copies` copies of `library`,
/// run where `mode` says (`in_process` or `isolated`).
fn with_copies(library: &Path, copies: usize, mode: &str) -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("base").join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(dir.path().join("bundled")).unwrap();
    // Real copies: each is a library of its own for the dynamic loader.
    for i in 0..copies {
        std::fs::copy(
            library,
            plugins.join(format!("{LIB_PREFIX}copy_{i:04}.{LIB_EXT}")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("base").join("config.yaml"),
        format!("isolation:\n  default: {mode}\n"),
    )
    .unwrap();
    let paths = Paths {
        basedir: dir.path().join("base"),
        bundled: dir.path().join("bundled"),
        bundled_files_only: false,
    };
    (dir, paths)
}

fn bench_startup(library: &Path, copies: usize) -> (Duration, Duration, Duration) {
    let (_dir, paths) = with_copies(library, copies, "in_process");
    let t0 = Instant::now();
    let manager = PluginManager::new(paths, Options::default()).unwrap();
    let t1 = Instant::now();
    manager.load_all();
    let t2 = Instant::now();
    manager.enable_all();
    let t3 = Instant::now();
    let enabled = manager
        .plugins()
        .iter()
        .filter(|p| p.state == State::Enabled)
        .count();
    assert_eq!(enabled, copies, "every copy must be enabled");
    manager.shutdown();
    (t1 - t0, t2 - t1, t3 - t2)
}

/// Fires `events` events at `handlers` started EventHandler plugins and
/// waits until every one was delivered: deliveries per second.
fn bench_events(library: &Path, handlers: usize, events: usize, mode: &str) -> f64 {
    let (_dir, paths) = with_copies(library, handlers, mode);
    let manager = PluginManager::new(paths, Options::default()).unwrap();
    manager.load_all();
    manager.start("127.0.0.1", 0);
    assert!(manager.flush_events());
    let payload =
        plinth_abi::json!({"name": "cube.gcode", "path": "cube.gcode", "origin": "local"});
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..events {
                manager.fire_event("PrintProgressBench", &payload);
            }
            assert!(manager.flush_events(), "every event is delivered");
            t.elapsed()
        })
        .min()
        .unwrap();
    manager.shutdown();
    (events * handlers) as f64 / best.as_secs_f64()
}

struct NoServices;

impl HostServices for NoServices {
    fn fire_event(&self, _: &str, _: &serde_json::value::RawValue) {}
    fn call_helper(&self, plugin: &str, _: &str, _: Value) -> Result<Value, HelperError> {
        Err(HelperError::NoPlugin(plinth::NoPlugin(plugin.to_owned())))
    }
    fn call_hook(&self, _: &str, _: Value) -> Vec<HookReply> {
        Vec::new()
    }
    fn send_plugin_message(&self, _: &str, _: Value) {}
    fn report_slicing_progress(&self, plugin: &str, job: u64, _: f64) -> Result<(), ProgressError> {
        Err(ProgressError::NoJob {
            plugin: plugin.to_owned(),
            job,
        })
    }
    fn plugin_infos(&self, _: Option<&str>) -> Vec<plinth_abi::PluginSummary> {
        Vec::new()
    }
    fn implementations(&self, _: &[plinth_abi::Mixin]) -> Vec<String> {
        Vec::new()
    }
    fn find_user(&self, _: &str) -> Option<plinth_abi::UserSummary> {
        None
    }
    fn server(&self) -> Option<std::sync::Arc<dyn plinth::ServerServices>> {
        None
    }
    fn plugin_lost(&self, _: &str, _: u64, _: plinth::Fault) {}
}

#[inline(never)]
fn direct_noop(x: u32) -> u32 {
    black_box(x)
}

fn per_call(iterations: u32, mut f: impl FnMut()) -> f64 {
    // Best of five rounds, in nanoseconds per call.
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iterations {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .fold(f64::INFINITY, f64::min)
}

/// The context of a plugin `bench` whose services answer nothing.
fn bench_context(
    dir: &Path,
    meta: &plinth_abi::Metadata,
    services: &Arc<dyn HostServices>,
) -> Arc<PluginContext> {
    Arc::new(PluginContext::new(
        Identity {
            id: "bench".into(),
            name: meta.name.clone(),
            version: meta.version.clone(),
            base_folder: "/tmp".into(),
            data_folder: "/tmp/plinth-bench".into(),
        },
        Arc::downgrade(services) as Weak<dyn HostServices>,
        Arc::new(PluginSettings::new(
            ConfigStore::open(&dir.join("config.yaml")).unwrap(),
            "bench",
        )),
    ))
}

fn bench_calls(library: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata::read(library).unwrap();
    let module = loader::load(library, meta.abi.1, loader::LayoutCheck::Run).unwrap();
    let services: Arc<dyn HostServices> = Arc::new(NoServices);
    let context = bench_context(dir.path(), &meta, &services);
    let object = PluginObject::instantiate(&*module, &context).unwrap();
    let n = 10_000_000;
    let direct = per_call(n, || {
        black_box(direct_noop(black_box(1)));
    });
    let through_abi = per_call(n, || {
        black_box(object.call::<OnPluginEnabled>(black_box(&()))).unwrap();
    });
    println!("no-argument call: direct {direct:.2} ns, through the ABI {through_abi:.2} ns, overhead {:.2} ns", through_abi - direct);
    drop(object);
    through_abi
}

/// The round trip of a no-argument call to the same plugin isolated, and
/// the resident memory of its process beside the size of its library.
fn bench_isolated_calls(library: &Path, in_process_ns: f64) {
    use plinth::{Isolated, Limits};
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata::read(library).unwrap();
    let services: Arc<dyn HostServices> = Arc::new(NoServices);
    let limits = Limits {
        budget: Duration::from_secs(30),
        memory_mib: 1024,
    };
    let module = Isolated::load("bench", library, limits, Arc::downgrade(&services), true).unwrap();
    let context = bench_context(dir.path(), &meta, &services);
    let object = PluginObject::instantiate(&*module, &context).unwrap();
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            per_call(20_000, || {
                black_box(object.call::<OnPluginEnabled>(black_box(&()))).unwrap();
            })
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    let (rss, pss) = (
        children_kib("/status", "VmRSS:"),
        children_kib("/smaps_rollup", "Pss:"),
    );
    println!(
        "isolated no-argument call: round trip {:.1} µs (median of 5 rounds; in process {in_process_ns:.1} ns); \
         its process: {rss} KiB resident ({pss} KiB proportional), its library {} KiB on disk",
        rounds[2] / 1e3,
        std::fs::metadata(library).unwrap().len() / 1024
    );
    drop(object);
}

/// A figure (`field`, in kB) of `/proc/<pid><file>` summed over this
/// process's children (Linux).
fn children_kib(file: &str, field: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace() {
            let status = std::fs::read_to_string(format!("/proc/{pid}{file}")).unwrap_or_default();
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += kib;
            }
        }
    }
    total
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no tests here.
    }
    let library = release_sample("event_logger");
    println!(
        "plugin: {} ({} KiB)",
        library.display(),
        std::fs::metadata(&library).unwrap().len() / 1024
    );
    let in_process = bench_calls(&library);
    bench_isolated_calls(&library, in_process);
    println!(
        "{:>6}  {:>12}  {:>12}  {:>12}  {:>12}  {:>14}",
        "copies", "discover ms", "load ms", "enable ms", "total ms", "per plugin µs"
    );
    for (handlers, events, mode) in [(100, 5_000, "in_process"), (10, 50_000, "isolated")] {
        let rate = bench_events(&library, handlers, events, mode);
        println!(
            "events ({mode}): {events} events to {handlers} handlers: {:.0} deliveries/s ({:.0} events/s to all of them)",
            rate,
            rate / handlers as f64
        );
    }
    for copies in [10, 100, 1000] {
        let (d, l, e) = bench_startup(&library, copies);
        let total = d + l + e;
        println!(
            "{copies:>6}  {:>12.2}  {:>12.2}  {:>12.2}  {:>12.2}  {:>14.1}",
            d.as_secs_f64() * 1e3,
            l.as_secs_f64() * 1e3,
            e.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e6 / copies as f64
        );
    }
}
