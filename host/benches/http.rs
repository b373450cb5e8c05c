//! Requests per second of `GET /api/plugin/helloworld` (a call into a plugin
//! through the ABI, authenticated by API key) next to `GET /api/server` (a
//! plain axum route) on the same server, and of the web page at `/`, served
//! from the page cache and rendered afresh (`?_refresh=true`).
//!
//! Run: `cargo bench -p plinth --bench http`. It builds the workspace in
//! release mode, starts `plinth serve` on a free loopback port with the
//! sample plugins, and drives it from 4 threads over keep-alive connections
//! for 5 seconds per route (then the plain route and the Simple API from 64
//! connections, counting answers other than 200). Client and server share
//! the machine's cores.
//!
//! Then the page again with every sample plugin isolated (their templates,
//! assets and wizards answered from their own processes) beside the same
//! plugins in process, two servers measured one after the other.
//!
//! Arguments after `--`: `--only=routes` or `--only=isolated-page`, and
//! `--json` for one JSON line per figure (what `scripts/bench` reads).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends requests on one keep-alive connection until `stop`; counts the
/// 200s and the other answers.
fn drive(port: u16, request: Arc<Vec<u8>>, stop: Arc<AtomicBool>, done: Arc<[AtomicU64; 2]>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::Relaxed) {
        writer.write_all(&request).unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        let ok = status.contains(" 200 ");
        done[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Requests per second answered 200 over `connections` keep-alive
/// connections for 5 seconds (after half a second of warming up), and the
/// share of answers that were not 200.
fn measure(port: u16, path: &str, key: &str, connections: usize) -> (f64, f64) {
    let request = Arc::new(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\n\r\n").into_bytes(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (r, s, d) = (request.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || drive(port, r, s, d))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500)); // warm up
    let counts = || {
        (
            done[0].load(Ordering::Relaxed),
            done[1].load(Ordering::Relaxed),
        )
    };
    let (ok0, other0) = counts();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let (ok1, other1) = counts();
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    let (ok, other) = (ok1 - ok0, other1 - other0);
    (
        ok as f64 / elapsed,
        other as f64 / (ok + other).max(1) as f64,
    )
}

/// Prints one figure, as text or (`--json`) as a JSON line.
fn report(json: bool, route: &str, connections: usize, (rps, refused): (f64, f64)) {
    if json {
        println!(
            "{}",
            serde_json::json!({"bench": "http", "route": route, "connections": connections,
                "requests_per_s": rps.round(), "not_ok": refused})
        );
    } else {
        println!(
            "GET {route:<40} {connections:>3} connections: {rps:>9.0} requests/s ({:.2} % not 200)",
            refused * 100.0
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let json = args.iter().any(|a| a == "--json");
    let only: Vec<&str> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--only="))
        .collect();
    let wanted = |part: &str| only.is_empty() || only.contains(&part);
    if wanted("routes") {
        let server = support::Server::start("");
        let (port, key) = (server.port, server.key.clone());
        // Side by side on one server: a plain route, a plugin's Simple API, the page.
        for (route, connections) in [
            ("/api/server", 4),
            ("/api/plugin/helloworld", 4),
            ("/", 4),
            ("/?_refresh=true", 4),
            ("/api/server", 64),
            ("/api/plugin/helloworld", 64),
        ] {
            report(
                json,
                route,
                connections,
                measure(port, route, &key, connections),
            );
        }
    }
    if wanted("isolated-page") {
        let in_process = support::Server::start("isolation:\n  default: in_process\n");
        let isolated = support::Server::start("isolation:\n  default: isolated\n");
        for path in ["/", "/?_refresh=true"] {
            let a = measure(in_process.port, path, &in_process.key, 4).0;
            let b = measure(isolated.port, path, &isolated.key, 4).0;
            println!(
                "GET {path:<16} sample plugins in process {a:>9.0}/s, isolated {b:>9.0}/s: isolated/in process {:.2}",
                b / a
            );
        }
    }
}
