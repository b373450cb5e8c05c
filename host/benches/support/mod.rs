//! What the benchmarks share: a release build and a running `plinth serve`
//! with an administrator's API key.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the workspace in release mode; the folder holding the binaries.
pub fn release() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--workspace", "--quiet"])
        .current_dir(root())
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    target.join("release")
}

/// The sample plugins of the workspace (`sample-plugins/*`), by crate name.
pub fn samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("sample-plugins"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Builds the benchmark plugins (`host/benches/plugins`, a workspace of
/// their own) in release mode; the folder holding their libraries.
pub fn bench_plugins() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("bench-plugins");
    let ok = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root().join("host/benches/plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "building the benchmark plugins failed"
    );
    target.join("release")
}

/// A release `plinth serve` on a free loopback port, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// An administrator's API key.
    pub key: String,
    _base: tempfile::TempDir,
}

impl Server {
    /// Builds, writes `config` (YAML) into a fresh base folder, adds an
    /// administrator and starts the server with every sample plugin bundled.
    pub fn start(config: &str) -> Self {
        let base = tempfile::tempdir().unwrap();
        std::fs::write(base.path().join("config.yaml"), config).unwrap();
        // Bundled, as a product bundles its plugins: in process unless the
        // config says otherwise.
        let bundled = base.path().join("bundled");
        std::fs::create_dir_all(&bundled).unwrap();
        let release = release();
        for sample in samples() {
            let file = format!("{}{sample}.{}", plinth::LIB_PREFIX, plinth::LIB_EXT);
            std::fs::copy(release.join(&file), bundled.join(&file)).unwrap();
        }
        Self::start_in(base, Some(&bundled))
    }

    /// Like [`start`](Self::start) in a base folder the caller filled, with
    /// the bundled plugins of `bundled` (else those beside the binary).
    pub fn start_in(base: tempfile::TempDir, bundled: Option<&Path>) -> Self {
        let plinth = release().join("plinth");
        let basedir = base.path().to_str().unwrap().to_owned();
        let mut add = Command::new(&plinth)
            .args(["--basedir", &basedir, "user", "add", "bench", "--admin"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        add.stdin.take().unwrap().write_all(b"bench\n").unwrap();
        assert!(add.wait().unwrap().success());
        let key = String::from_utf8(
            Command::new(&plinth)
                .args(["--basedir", &basedir, "user", "apikey", "bench"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_owned();
        let mut serve = Command::new(&plinth);
        serve.args(["--basedir", &basedir]);
        if let Some(bundled) = bundled {
            serve.arg("--bundled-dir").arg(bundled);
        }
        let mut child = serve
            .args(["serve", "--port", "0"])
            .env("PLINTH_LOG", "warn,plinth::serve=info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = 0;
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                port = rest.trim().parse().unwrap();
            }
            if line.contains("Plinth started") {
                break;
            }
        }
        // Keep reading its log, so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            port,
            key,
            _base: base,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a connection of its own: the status and the body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The resident memory of process `pid`, in KiB (Linux; 0 elsewhere).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
