//! Requests per second of `GET /api/plugin/helloworld` (a call into a plugin
//! through the ABI, authenticated by API key) next to `GET /api/server` (a
//! plain axum route) on the same server, and of the web page at `/`, served
//! from the page cache and rendered afresh (`?_refresh=true`).
//!
//! Run: `cargo bench -p plinth --bench http`. It builds the workspace in
//! release mode, starts `plinth serve` on a free loopback port with the
//! sample plugins, and drives it from 4 threads over keep-alive connections
//! for 5 seconds per route. Client and server share the machine's cores.
//!
//! Then the page again with every sample plugin isolated (their templates,
//! assets and wizards answered from their own processes) beside the same
//! plugins in process, two servers measured one after the other.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sends requests on one keep-alive connection until `stop`; counts the 200s.
fn drive(port: u16, request: Arc<Vec<u8>>, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
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
        assert!(status.contains(" 200 "), "{status}");
        done.fetch_add(1, Ordering::Relaxed);
    }
}

fn measure(port: u16, path: &str, key: &str) -> f64 {
    let request = Arc::new(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\n\r\n").into_bytes(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (r, s, d) = (request.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || drive(port, r, s, d))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500)); // warm up
    let start_count = done.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    count as f64 / elapsed
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let server = support::Server::start("");
    let (port, key) = (server.port, server.key.clone());
    let plain = measure(port, "/api/server", &key);
    let plugin = measure(port, "/api/plugin/helloworld", &key);
    println!("GET /api/server (plain axum route):          {plain:>9.0} requests/s");
    println!("GET /api/plugin/helloworld (plugin, API key): {plugin:>9.0} requests/s");
    let cached = measure(port, "/", &key);
    let rendered = measure(port, "/?_refresh=true", &key);
    println!("GET / (the page, from the cache):             {cached:>9.0} requests/s");
    println!("GET /?_refresh=true (the page, rendered):     {rendered:>9.0} requests/s");
    drop(server);

    let in_process = support::Server::start("isolation:\n  default: in_process\n");
    let isolated = support::Server::start("isolation:\n  default: isolated\n");
    for path in ["/", "/?_refresh=true"] {
        let a = measure(in_process.port, path, &in_process.key);
        let b = measure(isolated.port, path, &isolated.key);
        println!(
            "GET {path:<16} sample plugins in process {a:>9.0}/s, isolated {b:>9.0}/s: isolated/in process {:.2}",
            b / a
        );
    }
}
