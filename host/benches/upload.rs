//! How much memory the server takes while receiving a large upload: its
//! resident set before, and its peak (`VmHWM`) while a 500 MB G-code file is
//! uploaded (`PLINTH_BENCH_UPLOAD_MB` to change the size). Uploads stream to
//! a temporary file, so the growth stays small whatever the size.
//!
//! Run: `cargo bench -p plinth --bench upload` (Linux: it reads
//! `/proc/<pid>/status`). It builds the workspace in release mode and starts
//! `plinth serve` on a free loopback port.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

/// A field of `/proc/<pid>/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    kib / 1024.0
}

/// Uploads `size` bytes as `name`, generated on the fly; the answer's status line.
fn upload(port: u16, key: &str, name: &str, size: usize) -> String {
    let boundary = "benchboundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/files/local HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        head.len() + size + tail.len()
    )
    .unwrap();
    let chunk = b"G1 X10.0 Y10.0 E0.5\n".repeat(50_000);
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        stream.write_all(&chunk[..n]).unwrap();
        sent += n;
    }
    stream.write_all(tail.as_bytes()).unwrap();
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).unwrap();
    status.trim().to_owned()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mib: usize = std::env::var("PLINTH_BENCH_UPLOAD_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let server = support::Server::start("server:\n  upload_max_bytes: 4294967296\n");
    let pid = server.child.id();
    // A small upload first, so that everything an upload needs is warm.
    assert!(upload(server.port, &server.key, "warm.gcode", 1 << 20).contains(" 201 "));
    let before = status_mib(pid, "VmRSS:");
    let peak_before = status_mib(pid, "VmHWM:");
    let started = Instant::now();
    let status = upload(server.port, &server.key, "big.gcode", mib << 20);
    let seconds = started.elapsed().as_secs_f64();
    assert!(status.contains(" 201 "), "{status}");
    let peak = status_mib(pid, "VmHWM:").max(peak_before);
    println!(
        "upload of {mib} MiB: resident {before:.1} MiB before, peak {peak:.1} MiB during it: \
         growth {:.1} MiB ({:.0} MiB/s)",
        peak - before,
        mib as f64 / seconds
    );
}
