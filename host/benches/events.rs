//! Event deliveries per second, end to end in a running `plinth serve`: the
//! `event_source` plugin fires N events from a request's thread, and each of
//! H copies of `event_counter` counts them and tells the source when it has
//! all N; the time runs from the first event fired to the last handler
//! done, as OctoPrint's anchor (`../shared/bench/octoprint_anchor.py H N`)
//! times its EventManager with counting handlers.
//!
//! Run: `cargo bench -p plinth --bench events` (builds the workspace in
//! release mode). Arguments after `--`: handler counts (default 10 100
//! 1000), `--isolated` to run the handlers isolated, `--json` for one JSON
//! line per count (what `scripts/bench` reads). Best of 3 runs per count;
//! also the server's resident memory with those plugins.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use plinth::{LIB_EXT, LIB_PREFIX};

/// Events fired for `handlers` handlers: about 2 million deliveries a run.
pub fn events_for(handlers: usize) -> usize {
    (2_000_000 / handlers.max(1)).clamp(2_000, 200_000)
}

struct Figures {
    deliveries_per_s: f64,
    fired_per_s: f64,
    rss_kib: u64,
}

fn library(release: &Path, name: &str) -> std::path::PathBuf {
    release.join(format!("{LIB_PREFIX}{name}.{LIB_EXT}"))
}

fn run(plugins_built: &Path, handlers: usize, events: usize, mode: &str) -> Figures {
    let base = tempfile::tempdir().unwrap();
    let plugins = base.path().join("plugins");
    let bundled = base.path().join("no-bundled-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&bundled).unwrap();
    std::fs::copy(
        library(plugins_built, "event_source"),
        plugins.join(format!("{LIB_PREFIX}event_source.{LIB_EXT}")),
    )
    .unwrap();
    // Real copies: each is a library of its own for the dynamic loader.
    let counter = library(plugins_built, "event_counter");
    for i in 0..handlers {
        std::fs::copy(
            &counter,
            plugins.join(format!("{LIB_PREFIX}counter_{i:04}.{LIB_EXT}")),
        )
        .unwrap();
    }
    std::fs::write(
        base.path().join("config.yaml"),
        // A burst far faster than handlers take it in real time: let every
        // event of the run wait (OctoPrint's queue has no bound at all).
        format!(
            "isolation:\n  default: {mode}\nserver:\n  event_queue_limit: {}\n",
            events + 10
        ),
    )
    .unwrap();
    let server = support::Server::start_in(base, Some(&bundled));
    let fire = |count: usize| -> (f64, f64) {
        let body = format!(r#"{{"command": "fire", "count": {count}, "handlers": {handlers}}}"#);
        let (status, answer) = support::request(
            server.port,
            "POST",
            "/api/plugin/event_source",
            &server.key,
            Some(&body),
        );
        assert_eq!(status, 204, "{answer}");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let (_, answer) = support::request(
                server.port,
                "GET",
                "/api/plugin/event_source",
                &server.key,
                None,
            );
            let run: serde_json::Value = serde_json::from_str(&answer).unwrap();
            if let Some(elapsed) = run["elapsed_s"].as_f64() {
                assert_eq!(run["dropped"], 0, "events were dropped: {run}");
                return (elapsed, run["fired_s"].as_f64().unwrap_or(elapsed));
            }
            assert!(
                Instant::now() < deadline,
                "the handlers never got every event: {run}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    fire(events.min(1_000)); // warm up
    let (elapsed, fired) = (0..3)
        .map(|_| fire(events))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    Figures {
        deliveries_per_s: (events * handlers) as f64 / elapsed,
        fired_per_s: events as f64 / fired,
        rss_kib: support::rss_kib(server.child.id()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing; there are no tests here.
    }
    let json = args.iter().any(|a| a == "--json");
    let mode = if args.iter().any(|a| a == "--isolated") {
        "isolated"
    } else {
        "in_process"
    };
    let mut counts: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if counts.is_empty() {
        counts = vec![10, 100, 1000];
    }
    let built = support::bench_plugins();
    for handlers in counts {
        let events = events_for(handlers);
        let f = run(&built, handlers, events, mode);
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "bench": "events", "mode": mode, "handlers": handlers, "events": events,
                    "deliveries_per_s": f.deliveries_per_s.round(),
                    "fired_per_s": f.fired_per_s.round(),
                    "rss_kib": f.rss_kib,
                })
            );
        } else {
            println!(
                "events ({mode}): {events} events to {handlers} handlers: {:.0} deliveries/s; fired at {:.0} events/s; server RSS {} MiB",
                f.deliveries_per_s,
                f.fired_per_s,
                f.rss_kib / 1024
            );
        }
    }
}
