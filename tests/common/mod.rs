//! Shared set-up of the integration tests: builds the sample plugins and the
//! fixtures once per test binary, and gives each test a sandbox of its own
//! (a temporary base folder and bundled folder).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use plinth::{Options, Paths, PluginManager, LIB_EXT, LIB_PREFIX};

/// Where the build put things.
pub struct Built {
    pub root: PathBuf,
    /// `target/debug`: the plinth binary and the sample plugins.
    pub debug: PathBuf,
    /// `target/fixtures/debug`: the test fixtures.
    pub fixtures: PathBuf,
}

impl Built {
    pub fn plinth(&self) -> PathBuf {
        self.debug
            .join(format!("plinth{}", std::env::consts::EXE_SUFFIX))
    }

    pub fn sample(&self, name: &str) -> PathBuf {
        self.debug.join(lib_file(name))
    }

    pub fn fixture(&self, name: &str) -> PathBuf {
        self.fixtures.join(lib_file(name))
    }
}

pub fn lib_file(stem: &str) -> String {
    format!("{LIB_PREFIX}{stem}.{LIB_EXT}")
}

fn cargo(args: &[&str], root: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo {args:?} failed");
}

/// Builds the workspace (plinth and the sample plugins) and the fixtures, once.
pub fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        cargo(&["build", "--workspace", "--quiet"], &root);
        let fixtures_target = target.join("fixtures");
        let fixtures_target = fixtures_target.to_str().unwrap();
        for ws in [
            "tests/fixtures",
            "tests/fixtures/abi-1.0",
            "tests/fixtures/abi-1.3",
        ] {
            let manifest = format!("{ws}/Cargo.toml");
            cargo(
                &[
                    "build",
                    "--quiet",
                    "--manifest-path",
                    &manifest,
                    "--target-dir",
                    fixtures_target,
                ],
                &root,
            );
        }
        Built {
            debug: target.join("debug"),
            fixtures: target.join("fixtures").join("debug"),
            root,
        }
    })
}

/// A base folder and a bundled folder of one test.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub basedir: PathBuf,
    pub bundled: PathBuf,
    /// Where its plugins run, when a test chose (kept by `write_config`).
    mode: Option<String>,
}

#[cfg(unix)]
fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap();
}

#[cfg(not(unix))]
fn link(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap();
}

impl Sandbox {
    pub fn new() -> Self {
        built();
        let dir = tempfile::tempdir().unwrap();
        let basedir = dir.path().join("base");
        let bundled = dir.path().join("bundled");
        fs::create_dir_all(basedir.join("plugins")).unwrap();
        fs::create_dir_all(&bundled).unwrap();
        Self {
            _dir: dir,
            basedir,
            bundled,
            mode: None,
        }
    }

    /// A sandbox whose plugins run `mode` (`in_process` or `isolated`).
    pub fn in_mode(mode: &str) -> Self {
        let mut sb = Self::new();
        sb.mode = Some(mode.to_owned());
        sb.write_config("");
        sb
    }

    /// Puts a sample plugin into the bundled folder under its own id.
    pub fn bundle_sample(&self, name: &str) -> &Self {
        link(&built().sample(name), &self.bundled.join(lib_file(name)));
        self
    }

    /// Puts a library into the bundled folder under `id`.
    pub fn bundle_as(&self, library: &Path, id: &str) -> &Self {
        link(library, &self.bundled.join(lib_file(id)));
        self
    }

    /// Puts a library into `<basedir>/plugins` under `id`.
    pub fn user_as(&self, library: &Path, id: &str) -> &Self {
        link(library, &self.basedir.join("plugins").join(lib_file(id)));
        self
    }

    /// A recorder fixture in `<basedir>/plugins` under `id`.
    pub fn recorder(&self, id: &str) -> &Self {
        self.user_as(&built().fixture("recorder"), id)
    }

    pub fn paths(&self) -> Paths {
        Paths {
            basedir: self.basedir.clone(),
            bundled: self.bundled.clone(),
            bundled_files_only: false,
        }
    }

    pub fn manager(&self) -> PluginManager {
        self.manager_with(Options::default())
    }

    pub fn manager_with(&self, options: Options) -> PluginManager {
        PluginManager::new(self.paths(), options).expect("config loads")
    }

    /// Writes `config.yaml`, with the sandbox's mode unless `yaml` has
    /// an `isolation` section of its own.
    pub fn write_config(&self, yaml: &str) {
        let mut yaml = yaml.to_owned();
        if let (Some(mode), false) = (&self.mode, yaml.contains("isolation:")) {
            yaml.push_str(&format!("isolation:\n  default: {mode}\n"));
        }
        fs::write(self.basedir.join("config.yaml"), yaml).unwrap();
    }

    pub fn config(&self) -> String {
        fs::read_to_string(self.basedir.join("config.yaml")).unwrap_or_default()
    }

    /// Writes a file into a plugin's data folder.
    pub fn data_file(&self, id: &str, name: &str, content: &str) {
        let dir = self.basedir.join("data").join(id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), content).unwrap();
    }

    /// The lines the recorders wrote, in order.
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.basedir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The recorded lines, without event deliveries (they run on the event thread).
    pub fn lifecycle_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|l| !l.contains(" on_event "))
            .collect()
    }

    /// `plinth serve` on a free port with this sandbox's folders, not started.
    pub fn serve_command(&self) -> Command {
        let mut command = Command::new(built().plinth());
        command
            .arg("--basedir")
            .arg(&self.basedir)
            .arg("--bundled-dir")
            .arg(&self.bundled)
            .args(["serve", "--port", "0"]);
        command
    }

    /// Runs the plinth binary with this sandbox's folders.
    pub fn plinth(&self, args: &[&str]) -> std::process::Output {
        Command::new(built().plinth())
            .arg("--basedir")
            .arg(&self.basedir)
            .arg("--bundled-dir")
            .arg(&self.bundled)
            .args(args)
            .env_remove("PLINTH_BASEDIR")
            .output()
            .expect("plinth runs")
    }
}

/// Standard output as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A running `plinth serve` on a free loopback port; killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub port: u16,
    /// Everything the server logged so far (read by a thread).
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts the server of this sandbox and waits until it has started.
    pub fn start(sb: &Sandbox) -> Self {
        Self::start_with(sb, &[])
    }

    /// Like [`start`](Self::start) with extra options before `serve`.
    pub fn start_with(sb: &Sandbox, options: &[&str]) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        use std::sync::{Arc, Mutex};
        let mut child = Command::new(built().plinth())
            .arg("--basedir")
            .arg(&sb.basedir)
            .arg("--bundled-dir")
            .arg(&sb.bundled)
            .args(options)
            .args(["serve", "--port", "0"])
            .env("PLINTH_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("plinth starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let reader = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in reader.lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let port: u16 = rest.trim().parse().expect("a port");
                    let _ = port_tx.take().map(|tx| tx.send(port));
                }
                if line.contains("Plinth started") {
                    let _ = port_tx.take();
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let port = port_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server listens");
        let server = Self { child, port, log };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !server.log().contains("Plinth started") {
            assert!(
                std::time::Instant::now() < deadline,
                "no start-up line: {}",
                server.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) until the log contains `text` and returns it. A
    /// thread reads the log from the server's standard error, so it may lag
    /// behind an answer the server already sent.
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.contains(text) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} in the log:\n{log}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Sends a signal (`TERM`, `INT`, …) to the server.
    #[cfg(unix)]
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// The exit code once the server has exited, waiting at most `limit`;
    /// `Err` with the time waited when it is still running then.
    pub fn exit_within(
        &mut self,
        limit: std::time::Duration,
    ) -> Result<Option<i32>, std::time::Duration> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Ok(status.code());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(start.elapsed())
    }

    /// Sends SIGTERM and waits for the exit code.
    #[cfg(unix)]
    pub fn stop(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let code = self.child.wait().unwrap().code();
        std::thread::sleep(std::time::Duration::from_millis(50));
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs `user` in (password `pw`) through the API: the session cookie
/// (`name=value`, for a `Cookie` header) and the CSRF token.
pub fn login(server: &Server, user: &str) -> (String, String) {
    let response = http()
        .post(&server.url("/api/login"))
        .header("Content-Type", "application/json")
        .send(format!(r#"{{"user": "{user}", "pass": "pw"}}"#))
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = |name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_owned()
    };
    let csrf = cookie("plinth_csrf")
        .trim_start_matches("plinth_csrf=")
        .to_owned();
    (cookie("plinth_session"), csrf)
}

/// An HTTP client that reports error statuses as responses, not errors.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Adds a user with password `pw` through the CLI.
pub fn add_user(sb: &Sandbox, name: &str, admin: bool) {
    let admin = if admin { &["--admin"][..] } else { &[] };
    add_user_with(sb, name, admin);
}

/// Adds a user with password `pw` and `options` (`--permissions a,b`)
/// through the CLI.
pub fn add_user_with(sb: &Sandbox, name: &str, options: &[&str]) {
    use std::io::Write;
    let mut command = std::process::Command::new(built().plinth());
    command
        .arg("--basedir")
        .arg(&sb.basedir)
        .args(["user", "add", name])
        .args(options);
    let mut child = command.stdin(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
}

/// A new API key for a user.
pub fn api_key(sb: &Sandbox, name: &str) -> String {
    stdout(&sb.plinth(&["user", "apikey", name]))
        .trim()
        .to_owned()
}

/// Uploads a file through `POST /api/files/local`: status and JSON answer.
pub fn upload(
    server: &Server,
    key: &str,
    file_name: &str,
    bytes: &[u8],
) -> (u16, serde_json::Value) {
    upload_form(server, key, &[], Some((file_name, bytes)))
}

/// `POST /api/files/local` with text fields (`path`, `select`, …) before
/// the file, if any: status and JSON answer.
pub fn upload_form(
    server: &Server,
    key: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> (u16, serde_json::Value) {
    let boundary = "plinthboundary1234";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((file_name, bytes)) = file {
        body.extend_from_slice(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut response = http()
        .post(&server.url("/api/files/local"))
        .header("X-Api-Key", key)
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send(&body[..])
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.body_mut().read_to_string().unwrap())
            .unwrap_or(serde_json::Value::Null),
    )
}

/// POSTs a JSON body with an API key: status and JSON answer.
pub fn post(server: &Server, path: &str, key: &str, body: &str) -> (u16, serde_json::Value) {
    let mut response = http()
        .post(&server.url(path))
        .header("X-Api-Key", key)
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

pub fn get(server: &Server, path: &str, key: &str) -> (u16, serde_json::Value) {
    let mut response = http()
        .get(&server.url(path))
        .header("X-Api-Key", key)
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Connects the printer (`POST /api/connection`) and waits (at most 30 s)
/// until it is operational.
#[allow(dead_code)]
pub fn connect_printer(server: &Server, key: &str) {
    let (status, body) = post(server, "/api/connection", key, r#"{"command": "connect"}"#);
    assert_eq!(status, 204, "{body}");
    wait_printer(server, key, "Operational");
}

/// Waits (at most 30 s) until `GET /api/connection` says `state`.
#[allow(dead_code)]
pub fn wait_printer(server: &Server, key: &str, state: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, connection) = get(server, "/api/connection", key);
        if connection["current"]["state"] == state {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the printer never got {state}: {connection}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Tests that run twice, with the plugins in process and isolated:
/// `name => body`, where `body(mode)` takes the mode's word.
#[allow(unused_macros)]
macro_rules! in_both_modes {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                for mode in ["in_process", "isolated"] {
                    eprintln!("{mode}:");
                    $body(mode);
                }
            }
        )*
    };
}

/// The `/api/plugins` entry of plugin `id`, asked with API key `key`.
#[allow(dead_code)]
pub fn plugin_entry(server: &Server, key: &str, id: &str) -> serde_json::Value {
    let (status, list) = get(server, "/api/plugins", key);
    assert_eq!(status, 200, "GET /api/plugins: {list}");
    list["plugins"]
        .as_array()
        .and_then(|plugins| plugins.iter().find(|p| p["id"] == id).cloned())
        .unwrap_or_else(|| panic!("{id} is not in the plugin list: {list}"))
}

use serde_json::Value;

/// Every message the push channel sends, collected by a thread.
#[allow(dead_code)]
pub struct Push {
    messages: Arc<Mutex<Vec<Value>>>,
}

#[allow(dead_code)]
impl Push {
    pub fn connect(server: &Server, key: &str) -> Self {
        use tungstenite::{stream::MaybeTlsStream, Message};
        let (mut socket, _) =
            tungstenite::connect(format!("ws://127.0.0.1:{}/ws?apikey={key}", server.port))
                .unwrap();
        if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
            stream
                .set_read_timeout(Some(Duration::from_secs(120)))
                .unwrap();
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            while let Ok(message) = socket.read() {
                if let Message::Text(text) = message {
                    sink.lock()
                        .unwrap()
                        .push(serde_json::from_str(text.as_str()).unwrap());
                }
            }
        });
        let push = Self { messages };
        push.wait_for("the greeting", |m| m.get("connected").is_some());
        push
    }

    pub fn all(&self) -> Vec<Value> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits (at most a minute) for a message matching `what`.
    pub fn wait_for(&self, description: &str, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(m) = self.all().into_iter().find(|m| what(m)) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no {description} on the push channel: {:?}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn wait_event(&self, name: &str) -> Value {
        self.wait_for(name, |m| m["event"]["type"] == name)["event"]["payload"].clone()
    }

    pub fn events(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|m| m["event"]["type"].as_str().map(str::to_owned))
            .collect()
    }
}

/// A request with an API key and an optional JSON body: status and JSON answer.
#[allow(dead_code)]
pub fn send(
    server: &Server,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let agent = http();
    let url = server.url(path);
    let mut response = match (method, body) {
        ("GET", _) => agent.get(&url).header("X-Api-Key", key).call(),
        ("DELETE", _) => agent.delete(&url).header("X-Api-Key", key).call(),
        ("POST", Some(b)) => agent
            .post(&url)
            .header("X-Api-Key", key)
            .header("Content-Type", "application/json")
            .send(b.to_string()),
        ("PUT", Some(b)) => agent
            .put(&url)
            .header("X-Api-Key", key)
            .header("Content-Type", "application/json")
            .send(b.to_string()),
        other => panic!("no such request {other:?}"),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An ASCII STL of an axis-aligned box from the origin.
#[allow(dead_code)]
pub fn box_stl(x: f32, y: f32, z: f32) -> String {
    let v = |i: usize| {
        [
            if i & 1 != 0 { x } else { 0.0 },
            if i & 2 != 0 { y } else { 0.0 },
            if i & 4 != 0 { z } else { 0.0 },
        ]
    };
    // Two triangles per face, outward normals.
    let faces: [[usize; 4]; 6] = [
        [0, 2, 3, 1],
        [4, 5, 7, 6],
        [0, 1, 5, 4],
        [2, 6, 7, 3],
        [0, 4, 6, 2],
        [1, 3, 7, 5],
    ];
    let mut out = String::from("solid box\n");
    for [a, b, c, d] in faces {
        for tri in [[a, b, c], [a, c, d]] {
            out.push_str(" facet normal 0 0 0\n  outer loop\n");
            for i in tri {
                let [px, py, pz] = v(i);
                out.push_str(&format!("   vertex {px} {py} {pz}\n"));
            }
            out.push_str("  endloop\n endfacet\n");
        }
    }
    out.push_str("endsolid box\n");
    out
}
