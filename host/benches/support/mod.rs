//! What the benchmarks share: a release build and a running `plinth serve`
//! with an administrator's API key.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
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
    /// administrator and starts the server with the sample plugins.
    pub fn start(config: &str) -> Self {
        let plinth = release().join("plinth");
        let base = tempfile::tempdir().unwrap();
        let basedir = base.path().to_str().unwrap().to_owned();
        std::fs::write(base.path().join("config.yaml"), config).unwrap();
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
        let mut child = Command::new(&plinth)
            .args(["--basedir", &basedir, "serve", "--port", "0"])
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
