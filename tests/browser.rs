//! Browser tests of the web interface (issue 6): the real `plinth` binary on a
//! free loopback port, driven in headless Chromium through chromedriver with
//! fantoccini.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`
//! (`/usr/bin/chromium`, `/usr/bin/chromedriver`; the environment variables
//! `CHROMIUM` and `CHROMEDRIVER` point elsewhere). Without them the tests fail
//! and say so: they are never skipped.
//!
//! Every test leaves `target/browser-artifacts/<test name>.png`, taken when
//! the test ends, passed or failed; a failed test also leaves the page's HTML
//! and the browser console there. Every wait polls with a deadline. At most
//! [`MAX_BROWSERS`] browsers run at once.

mod common;

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{add_user, api_key, built, plugin_entry, upload, Sandbox, Server};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(20);
/// How long one WebDriver command may take.
const COMMAND: Duration = Duration::from_secs(30);
/// Browsers running at once (the machine has two cores).
const MAX_BROWSERS: usize = 2;

/// An iPhone's user agent: the dummy mobile UI answers it.
const IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) \
    AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

// ---------------------------------------------------------------------------
// Infrastructure: chromedriver, the browser session, waits, checks, artifacts.
// ---------------------------------------------------------------------------

/// A place among the [`MAX_BROWSERS`] browsers allowed at once.
struct Slot;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

impl Slot {
    fn take() -> Self {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= MAX_BROWSERS {
            running = FREED.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FREED.notify_one();
    }
}

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn chromedriver_program() -> PathBuf {
    program("CHROMEDRIVER", "/usr/bin/chromedriver")
}

fn chromium_program() -> PathBuf {
    program("CHROMIUM", "/usr/bin/chromium")
}

/// An HTTP client with a time limit that reports error statuses as responses.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `target/browser-artifacts`, made if missing.
fn artifacts_dir() -> PathBuf {
    let dir = built()
        .debug
        .parent()
        .expect("target/debug has a parent")
        .join("browser-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A chromedriver on a free loopback port, with a fresh browser profile;
/// chromedriver and everything it started are killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
    /// The process was waited for: its id may belong to another process now.
    reaped: bool,
}

impl Driver {
    fn start() -> Self {
        let exe = chromedriver_program();
        let chromium = chromium_program();
        for (what, path, variable) in [
            ("chromedriver", &exe, "CHROMEDRIVER"),
            ("Chromium", &chromium, "CHROMIUM"),
        ] {
            assert!(
                path.is_file(),
                "{what} is missing at {}: the browser tests need the Debian packages \
                 chromium and chromium-driver (apt-get install chromium chromium-driver), \
                 or {variable} set to the program",
                path.display()
            );
        }
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let profile = tempfile::tempdir().expect("a temporary folder");
            let port = free_port();
            let log = profile.path().join("chromedriver.log");
            let mut command = Command::new(&exe);
            command
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                // A process group of its own, so that the browser it starts can be
                // ended with it.
                command.process_group(0);
            }
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut driver = Driver {
                child,
                port,
                profile,
                reaped: false,
            };
            let deadline = Instant::now() + WAIT;
            loop {
                if let Ok(Some(status)) = driver.child.try_wait() {
                    driver.reaped = true;
                    last_error = format!(
                        "chromedriver exited with {status}: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                    break;
                }
                if let Ok(mut r) = agent()
                    .get(&format!("http://127.0.0.1:{port}/status"))
                    .call()
                {
                    let body = r.body_mut().read_to_string().unwrap_or_default();
                    let status: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    if status["value"]["ready"] == true {
                        return driver;
                    }
                    last_error = format!("chromedriver not ready: {body}");
                }
                if Instant::now() > deadline {
                    panic!(
                        "chromedriver did not answer on port {port} within {WAIT:?}: {last_error}"
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // The port was taken in the meantime: try another (dropping the
            // driver ends it).
        }
        panic!("chromedriver would not start: {last_error}");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        #[cfg(unix)]
        {
            // The group chromedriver leads: chromedriver and its browser (the
            // id is still ours: the process has not been waited for yet).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a browser session is started with.
#[derive(Default)]
struct Options<'a> {
    user_agent: Option<&'a str>,
    /// The window's width and height (default 1280 × 900).
    window: Option<(u32, u32)>,
}

/// A headless Chromium session on one server, for one test. Dropping it saves
/// the screenshot (and, when the test is failing, the page and the console),
/// then ends the session, chromedriver and the browser.
struct Browser {
    /// The test's name: the artifacts' file name.
    name: String,
    /// `http://127.0.0.1:<port>` of the server under test.
    base: String,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    session: String,
    /// Every browser console entry read so far, in order.
    console: RefCell<Vec<Value>>,
    driver: Driver,
    _slot: Slot,
}

impl Browser {
    fn start(name: &str, server: &Server) -> Self {
        Self::start_with(name, server, Options::default())
    }

    fn start_with(name: &str, server: &Server, options: Options) -> Self {
        // No artifacts of an earlier run under this name.
        for ext in ["png", "html", "console.txt"] {
            let _ = std::fs::remove_file(artifacts_dir().join(format!("{name}.{ext}")));
        }
        let slot = Slot::take();
        let driver = Driver::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            {
                let (w, h) = options.window.unwrap_or((1280, 900));
                format!("--window-size={w},{h}")
            },
            format!("--user-data-dir={}", driver.profile.path().display()),
        ];
        if let Some(ua) = options.user_agent {
            args.push(format!("--user-agent={ua}"));
        }
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 30_000, "script": 20_000, "implicit": 0},
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium_program(),
                "args": args,
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let connect = {
            let url = driver.url();
            async move {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                ClientBuilder::new(connector)
                    .capabilities(capabilities)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        let client = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), connect).await })
            .map_err(|_| "no answer within 60 s".to_owned())
            .and_then(|r| r)
            .unwrap_or_else(|e| panic!("cannot start a browser session: {e}"));
        let session = rt
            .block_on(client.session_id())
            .ok()
            .flatten()
            .expect("a session id");
        Browser {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{}", server.port),
            rt,
            client: Some(client),
            session,
            console: RefCell::new(Vec::new()),
            driver,
            _slot: slot,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver command with the [`COMMAND`] time limit.
    fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        self.rt
            .block_on(async { tokio::time::timeout(COMMAND, command).await })
            .map_err(|_| format!("{what}: no answer within {COMMAND:?}"))?
            .map_err(|e| format!("{what}: {e}"))
    }

    fn must<T, E: std::fmt::Display>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        self.run(what, command).unwrap_or_else(|e| panic!("{e}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens `path` of the server (waits for the load event, not for Plinth).
    fn goto(&self, path: &str) {
        let url = self.url(path);
        self.must(&format!("open {url}"), self.client().goto(&url));
    }

    /// Opens `path` and waits until the page says it is ready.
    fn goto_ready(&self, path: &str) {
        self.goto(path);
        self.wait_ready();
    }

    /// Reloads the page and waits until the new page is ready.
    fn reload_ready(&self) {
        self.js("window.__plinthTestOldPage = true; return null;");
        self.must("reload", self.client().refresh());
        self.wait_new_page("the reloaded page");
    }

    /// Waits for a page other than the one marked by [`mark_page`] to be ready.
    fn wait_new_page(&self, what: &str) {
        self.wait_for(
            &format!("{what}: a new page with window.PLINTH_READY === true"),
            "return window.__plinthTestOldPage === undefined && window.PLINTH_READY === true;",
        );
    }

    /// Marks the current page, for [`wait_new_page`] after the page reloads itself.
    fn mark_page(&self) {
        self.js("window.__plinthTestOldPage = true; return null;");
    }

    /// Waits for `window.PLINTH_READY === true`.
    fn wait_ready(&self) {
        self.wait_for(
            "window.PLINTH_READY === true",
            "return window.PLINTH_READY === true;",
        );
    }

    /// Runs a script in the page (`arguments[0]`, … are `args`).
    fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.must(
            &format!("script `{script}`"),
            self.client().execute(script, args),
        )
    }

    fn js(&self, script: &str) -> Value {
        self.js_with(script, vec![])
    }

    /// Polls `script` until it returns something other than null, false, 0 or
    /// "", at most [`WAIT`]; returns that value. Script errors (the page is
    /// changing) count as not yet.
    fn wait_for_with(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last;
        loop {
            match self.run("poll", self.client().execute(script, args.clone())) {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => last = format!("returned {v}"),
                Err(e) => last = e,
            }
            if Instant::now() > deadline {
                let url = self
                    .run("current url", self.client().current_url())
                    .map(|u| u.to_string())
                    .unwrap_or_else(|e| e);
                panic!(
                    "timed out after {WAIT:?} waiting for {what} (last poll: {last}; page {url}; \
                     screenshot {})",
                    self.screenshot_path().display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, what: &str, script: &str) -> Value {
        self.wait_for_with(what, script, vec![])
    }

    /// Whether the element exists and is rendered (not hidden, not in a closed
    /// dialog, not in a hidden tab).
    fn visible(&self, selector: &str) -> bool {
        self.js_with(VISIBLE_JS, vec![json!(selector)]) == true
    }

    fn exists(&self, selector: &str) -> bool {
        self.js_with(
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(selector)],
        ) == true
    }

    fn wait_visible(&self, selector: &str) {
        self.wait_for_with(
            &format!("`{selector}` to be visible"),
            VISIBLE_JS,
            vec![json!(selector)],
        );
    }

    fn wait_hidden(&self, selector: &str) {
        self.wait_for_with(
            &format!("`{selector}` to be hidden"),
            &format!("return !(function () {{ {VISIBLE_JS} }}).apply(null, arguments);"),
            vec![json!(selector)],
        );
    }

    fn wait_exists(&self, selector: &str) {
        self.wait_for_with(
            &format!("`{selector}` to exist"),
            "return document.querySelector(arguments[0]) !== null;",
            vec![json!(selector)],
        );
    }

    /// Waits until `selector`'s text content contains `text`.
    fn wait_text(&self, selector: &str, text: &str) {
        self.wait_for_with(
            &format!("`{selector}` to contain the text {text:?}"),
            "var e = document.querySelector(arguments[0]); \
             return e !== null && e.textContent.indexOf(arguments[1]) >= 0;",
            vec![json!(selector), json!(text)],
        );
    }

    /// Waits until the input `selector` holds `value`.
    fn wait_value(&self, selector: &str, value: &str) {
        self.wait_for_with(
            &format!("the input `{selector}` to hold {value:?}"),
            "var e = document.querySelector(arguments[0]); \
             return e !== null && e.value === arguments[1];",
            vec![json!(selector), json!(value)],
        );
    }

    /// The text content of an element (also when hidden); "" when missing.
    fn text(&self, selector: &str) -> String {
        self.js_with(
            "var e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
            vec![json!(selector)],
        )
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned()
    }

    fn dialog_open(&self, selector: &str) -> bool {
        self.js_with(
            "var d = document.querySelector(arguments[0]); return d !== null && d.open === true;",
            vec![json!(selector)],
        ) == true
    }

    fn wait_dialog(&self, selector: &str, open: bool) {
        self.wait_for_with(
            &format!(
                "the dialog `{selector}` to be {}",
                if open { "open" } else { "closed" }
            ),
            "var d = document.querySelector(arguments[0]); \
             return d !== null && d.open === arguments[1];",
            vec![json!(selector), json!(open)],
        );
    }

    /// `location.pathname` of the page.
    fn path(&self) -> String {
        self.js("return location.pathname;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn wait_path(&self, path: &str) {
        self.wait_for_with(
            &format!("the page {path}"),
            "return location.pathname === arguments[0] && document.readyState === 'complete';",
            vec![json!(path)],
        );
    }

    /// Clicks the element like a person would (it must be visible and not
    /// covered). Retries while the click is refused, at most [`WAIT`].
    fn click(&self, selector: &str) {
        self.wait_visible(selector);
        let deadline = Instant::now() + WAIT;
        loop {
            let attempt = self.run(&format!("click `{selector}`"), async {
                self.client()
                    .find(Locator::Css(selector))
                    .await?
                    .click()
                    .await
            });
            match attempt {
                Ok(()) => return,
                // Covered, not yet interactable, or replaced meanwhile (a list
                // re-rendered): the click did not happen.
                Err(e)
                    if Instant::now() < deadline
                        && (e.contains("intercepted")
                            || e.contains("not interactable")
                            || e.contains("stale element")) =>
                {
                    // WebDriver scrolls an element only to the edge, where a
                    // scroll bar or a footer may cover it: to the middle.
                    self.js_with(
                        "var e = document.querySelector(arguments[0]); if (e) e.scrollIntoView({block: 'center', inline: 'center'}); return null;",
                        vec![Value::from(selector)],
                    );
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("{e} (screenshot {})", self.screenshot_path().display()),
            }
        }
    }

    /// Clicks the link inside `selector` when there is one (navbar items are
    /// `<li>`s around an `<a>`), else `selector` itself.
    fn click_link(&self, selector: &str) {
        let inner = format!("{selector} a");
        if self.exists(&inner) {
            self.click(&inner);
        } else {
            self.click(selector);
        }
    }

    /// Chooses the file at `path` in the file input `selector`.
    fn attach(&self, selector: &str, path: &std::path::Path) {
        self.wait_visible(selector);
        let path = path.to_string_lossy().into_owned();
        self.must(&format!("choose a file in `{selector}`"), async {
            let input = self.client().find(Locator::Css(selector)).await?;
            input.send_keys(&path).await
        });
    }

    /// Replaces the text of an input, typing it.
    fn fill(&self, selector: &str, text: &str) {
        self.wait_visible(selector);
        self.must(&format!("type into `{selector}`"), async {
            let input = self.client().find(Locator::Css(selector)).await?;
            input.clear().await?;
            input.send_keys(text).await
        });
    }

    /// The `Cookie` header value of the browser's cookies for the server.
    fn cookie_header(&self) -> String {
        self.must("read cookies", self.client().get_all_cookies())
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Reads the browser console entries logged since the last read (the
    /// legacy `se/log` command of chromedriver) and keeps them.
    fn read_console(&self) -> Result<(), String> {
        let url = format!("{}/session/{}/se/log", self.driver.url(), self.session);
        let mut response = agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(r#"{"type":"browser"}"#)
            .map_err(|e| format!("reading the browser console: {e}"))?;
        let body = response.body_mut().read_to_string().unwrap_or_default();
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match answer["value"].as_array() {
            Some(entries) if response.status().as_u16() == 200 => {
                self.console.borrow_mut().extend(entries.iter().cloned());
                Ok(())
            }
            _ => Err(format!(
                "reading the browser console: {} {body}",
                response.status()
            )),
        }
    }

    /// Every SEVERE console entry so far, as `message` strings.
    fn console_errors(&self) -> Vec<String> {
        self.read_console().unwrap_or_else(|e| panic!("{e}"));
        self.console
            .borrow()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Fails if the browser console has any SEVERE entry so far.
    fn assert_no_console_errors(&self, when: &str) {
        let errors = self.console_errors();
        assert!(
            errors.is_empty(),
            "console errors {when}:\n  {}\n(screenshot {})",
            errors.join("\n  "),
            self.screenshot_path().display()
        );
    }

    /// Fetches every `<script src>` and `<link href>` of the page (with the
    /// browser's cookies) and looks at the status of every script, style and
    /// image the browser loaded; returns the page's asset URLs and the
    /// problems found (empty when every one answered 200 from this server).
    fn asset_problems(&self) -> (Vec<String>, Vec<String>) {
        let urls: Vec<String> = serde_json::from_value(self.js(
            "return Array.from(document.querySelectorAll('script[src], link[href]'))\
             .map(function (e) { return e.tagName === 'SCRIPT' ? e.src : e.href; });",
        ))
        .expect("a list of URLs");
        let cookie = self.cookie_header();
        let mut problems = Vec::new();
        for url in &urls {
            if url.starts_with("data:") {
                // Inline (e.g. the empty icon `data:,`): nothing to fetch.
                continue;
            }
            if !url.starts_with(&format!("{}/", self.base)) {
                problems.push(format!(
                    "{url}: not served by Plinth (no CDN, no other site)"
                ));
                continue;
            }
            match agent().get(url).header("Cookie", &cookie).call() {
                Ok(r) if r.status().as_u16() == 200 => {}
                Ok(r) => problems.push(format!("{url}: {}", r.status())),
                Err(e) => problems.push(format!("{url}: {e}")),
            }
        }
        let loaded = self.js(
            "return performance.getEntriesByType('resource')\
             .filter(function (e) { return ['script', 'link', 'css', 'img'].indexOf(e.initiatorType) >= 0; })\
             .map(function (e) { return [e.name, e.responseStatus]; });",
        );
        for entry in loaded.as_array().into_iter().flatten() {
            let status = entry[1].as_u64().unwrap_or(0);
            if status >= 400 {
                problems.push(format!("{}: the browser got {status}", entry[0]));
            }
        }
        (urls, problems)
    }

    /// Fails unless every asset of the page answers 200; returns their URLs.
    fn assert_assets_ok(&self) -> Vec<String> {
        let (urls, problems) = self.asset_problems();
        assert!(
            problems.is_empty(),
            "assets of {} that do not answer 200:\n  {}\n(screenshot {})",
            self.path(),
            problems.join("\n  "),
            self.screenshot_path().display()
        );
        urls
    }

    /// The page loaded well: no console errors, every asset answers 200.
    fn assert_page_healthy(&self, when: &str) -> Vec<String> {
        self.assert_no_console_errors(when);
        self.assert_assets_ok()
    }

    /// Logs in on the login page the browser is on; waits until it leaves it.
    fn login_with_form(&self, user: &str, pass: &str) {
        self.wait_path("/login");
        self.fill("#login_user", user);
        self.fill("#login_pass", pass);
        self.click("#login_button");
        self.wait_for(
            "the login page to go to the redirect path",
            "return location.pathname !== '/login' && document.readyState === 'complete';",
        );
    }

    /// Opens `/`, is sent to the login page, logs in and waits for the page.
    fn login(&self, user: &str, pass: &str) {
        self.goto("/");
        self.wait_path("/login");
        self.assert_page_healthy("on the login page");
        self.login_with_form(user, pass);
        self.wait_path("/");
        self.wait_ready();
    }

    fn screenshot_path(&self) -> PathBuf {
        artifacts_dir().join(format!("{}.png", self.name))
    }

    fn save_screenshot(&self) -> Result<PathBuf, String> {
        let png = self.run("screenshot", self.client().screenshot())?;
        let path = self.screenshot_path();
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// On failure: the page's HTML and the console next to the screenshot.
    fn save_failure_details(&self) {
        let dir = artifacts_dir();
        if let Ok(html) = self.run(
            "page source",
            self.client()
                .execute("return document.documentElement.outerHTML;", vec![]),
        ) {
            let _ = std::fs::write(
                dir.join(format!("{}.html", self.name)),
                html.as_str().unwrap_or_default(),
            );
        }
        let _ = self.read_console();
        let console: Vec<String> = self
            .console
            .borrow()
            .iter()
            .map(|e| format!("{} {}", e["level"], e["message"]))
            .collect();
        let _ = std::fs::write(
            dir.join(format!("{}.console.txt", self.name)),
            console.join("\n"),
        );
        let url = self
            .run("current url", self.client().current_url())
            .map(|u| u.to_string())
            .unwrap_or_else(|e| e);
        eprintln!(
            "browser test {} failed on {url}; console:\n  {}",
            self.name,
            console.join("\n  ")
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        match self.save_screenshot() {
            Ok(path) => eprintln!("screenshot: {}", path.display()),
            Err(e) => eprintln!("no screenshot for {}: {e}", self.name),
        }
        if std::thread::panicking() {
            self.save_failure_details();
        }
        if let Some(client) = self.client.take() {
            let _ = self.run("end the session", client.close());
        }
        self.driver.kill();
    }
}

/// The body of a function `(selector) -> bool`: the element exists and is
/// rendered.
const VISIBLE_JS: &str = "var e = document.querySelector(arguments[0]); \
    if (e === null) return false; \
    if (typeof e.checkVisibility === 'function') \
        return e.checkVisibility({visibilityProperty: true}); \
    return e.getClientRects().length > 0;";

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

// ---------------------------------------------------------------------------
// Sandboxes and the API.
// ---------------------------------------------------------------------------

/// The sample plugins: the folders of `sample-plugins/`.
fn sample_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(built().root.join("sample-plugins"))
        .expect("sample-plugins/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A sandbox with these sample plugins bundled.
fn sandbox_with(samples: &[&str]) -> Sandbox {
    let sb = Sandbox::new();
    for name in samples {
        assert!(
            built().sample(name).is_file(),
            "the sample plugin {name} was not built ({})",
            built().sample(name).display()
        );
        sb.bundle_sample(name);
    }
    sb
}

/// A sandbox with every sample plugin bundled (as `plinth serve` runs after a
/// build).
fn sandbox_with_all_samples() -> Sandbox {
    let names = sample_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    sandbox_with(&names)
}

/// A config where `wizard_demo` has its `some_key`, so its wizard is not
/// required and does not open over the page.
const WIZARD_DEMO_DONE: &str = "plugins:\n  wizard_demo:\n    some_key: set before the test\n";

fn request(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let agent = agent();
    let url = server.url(path);
    let response = match (method, body) {
        ("GET", None) => {
            let mut r = agent.get(&url);
            if let Some(k) = key {
                r = r.header("X-Api-Key", k);
            }
            r.call()
        }
        ("POST", Some(b)) => {
            let mut r = agent.post(&url).header("Content-Type", "application/json");
            if let Some(k) = key {
                r = r.header("X-Api-Key", k);
            }
            r.send(b.to_string())
        }
        other => panic!("no such request {other:?}"),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The server's settings tree, read with an API key of `admin`.
fn settings(server: &Server, key: &str) -> Value {
    let (status, settings) = request(server, "GET", "/api/settings", Some(key), None);
    assert_eq!(status, 200, "GET /api/settings: {settings}");
    settings
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

/// The harness itself: chromedriver starts, the console check sees errors
/// and the asset check sees a missing asset, so the other tests can fail.
#[test]
fn the_browser_harness_sees_console_errors_and_missing_assets() {
    let sb = sandbox_with(&["helloworld"]);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "the_browser_harness_sees_console_errors_and_missing_assets",
        &server,
    );
    browser.goto("/plugin/helloworld/static/css/helloworld.css");
    assert!(
        browser.text("body").contains(".helloworld"),
        "the browser shows the sample's stylesheet"
    );
    // A bare file has no icon link: the browser's own /favicon.ico request may
    // fail here; nothing else may.
    let errors = browser.console_errors();
    assert!(
        errors.iter().all(|e| e.contains("/favicon.ico")),
        "{errors:?}"
    );
    browser.console.borrow_mut().clear();

    // A console error is seen.
    browser.js("console.error('plinth browser test canary'); return null;");
    let errors = browser.console_errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("plinth browser test canary")),
        "the console check misses console.error: {errors:?}"
    );

    // A missing asset is seen, an existing one passes.
    browser.js(
        "var ok = document.createElement('link'); ok.rel = 'stylesheet'; \
         ok.href = '/plugin/helloworld/static/css/helloworld.css'; document.head.appendChild(ok); \
         var s = document.createElement('script'); s.src = '/plugin/helloworld/static/js/missing.js'; \
         document.head.appendChild(s); return null;",
    );
    browser.wait_for(
        "the missing script to be fetched",
        "return performance.getEntriesByType('resource').some(function (e) { \
         return e.name.indexOf('missing.js') >= 0; });",
    );
    let (urls, problems) = browser.asset_problems();
    assert_eq!(urls.len(), 2, "{urls:?}");
    assert!(
        !problems.is_empty()
            && problems
                .iter()
                .all(|p| p.contains("/plugin/helloworld/static/js/missing.js") && p.contains("404")),
        "the asset check: {problems:?}"
    );
    assert!(
        browser
            .console_errors()
            .iter()
            .any(|e| e.contains("missing.js")),
        "the failed load is a console error too"
    );
}

/// A test that fails still leaves its screenshot, its page and its console.
#[test]
fn a_failing_browser_test_still_leaves_its_screenshot() {
    let name = "a_failing_browser_test_still_leaves_its_screenshot";
    let sb = sandbox_with(&["helloworld"]);
    let server = Server::start(&sb);
    let files: Vec<PathBuf> = ["png", "html", "console.txt"]
        .iter()
        .map(|ext| artifacts_dir().join(format!("{name}.{ext}")))
        .collect();
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let browser = Browser::start(name, &server);
        browser.goto("/plugin/helloworld/static/css/helloworld.css");
        browser.wait_text("body", ".helloworld");
        panic!("a deliberate failure");
    }));
    assert!(failed.is_err());
    for file in &files {
        assert!(file.is_file(), "{} is missing", file.display());
    }
    let png = std::fs::read(&files[0]).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
}

/// No users: the first-run wizard creates the admin and shows wizard_demo's
/// step; finishing saves its setting, calls on_wizard_finish and reloads the
/// page, which has no wizard any more.
#[test]
fn the_first_run_wizard_creates_the_admin_and_runs_the_plugin_wizards() {
    let sb = sandbox_with(&["helloworld", "wizard_demo"]);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "the_first_run_wizard_creates_the_admin_and_runs_the_plugin_wizards",
        &server,
    );

    browser.goto_ready("/");
    assert_eq!(browser.path(), "/", "the first run needs no login");
    browser.assert_page_healthy("on the first-run page");
    assert!(browser.dialog_open("#wizard_dialog"), "the wizard opens");
    browser.wait_visible("#wizard_firstrun_acl");
    assert!(
        browser.exists("#wizard_plugin_wizard_demo"),
        "wizard_demo's step is in the wizard"
    );
    let order: Vec<String> = serde_json::from_value(browser.js(
        "return Array.from(document.querySelectorAll('#wizard_dialog .wizard-step'))\
         .map(function (e) { return e.id; });",
    ))
    .unwrap();
    assert_eq!(
        order.first().map(String::as_str),
        Some("wizard_firstrun_acl"),
        "the first-run step comes first: {order:?}"
    );

    // Passwords that differ are refused on the page.
    browser.fill("#wizard_acl_user", "admin");
    browser.fill("#wizard_acl_pass", "s3cret pass");
    browser.fill("#wizard_acl_pass2", "another pass");
    browser.click("#wizard_next");
    browser.wait_for(
        "an error in #wizard_acl_error",
        "var e = document.getElementById('wizard_acl_error'); \
         return e !== null && e.textContent.trim() !== '';",
    );
    assert!(
        browser.visible("#wizard_firstrun_acl"),
        "still on the acl step"
    );
    assert!(
        !std::fs::read_to_string(sb.basedir.join("users.yaml"))
            .unwrap_or_default()
            .contains("admin"),
        "no user created with passwords that differ"
    );

    browser.fill("#wizard_acl_pass2", "s3cret pass");
    browser.click("#wizard_next");
    browser.wait_visible("#wizard_plugin_wizard_demo");
    browser.wait_hidden("#wizard_firstrun_acl");
    // get_wizard_details reached the plugin's view model.
    browser.wait_text("#wizard_demo_details", "needs a value for some_key");
    browser.fill("#wizard_demo_some_key", "typed in the wizard");
    browser.mark_page();
    browser.click("#wizard_finish");
    browser.wait_new_page("the page after the wizard");

    // After the reload: logged in as the new admin, no wizard.
    assert!(
        !browser.dialog_open("#wizard_dialog"),
        "the wizard does not open again"
    );
    browser.wait_text("#navbar_username", "admin");
    browser.assert_page_healthy("after the wizard");

    // The admin exists.
    let (status, me) = request(
        &server,
        "POST",
        "/api/login",
        None,
        Some(json!({"user": "admin", "pass": "s3cret pass"})),
    );
    assert_eq!(status, 200, "the admin logs in through the API: {me}");
    assert_eq!(me["admin"], true, "{me}");
    // wizard_demo's setting was saved.
    let key = api_key(&sb, "admin");
    assert_eq!(
        settings(&server, &key)["plugins"]["wizard_demo"]["some_key"],
        "typed in the wizard"
    );
    assert!(
        sb.config().contains("typed in the wizard"),
        "{}",
        sb.config()
    );
    // The wizard API agrees.
    let (status, wizard) = request(&server, "GET", "/api/setup/wizard", Some(&key), None);
    assert_eq!(status, 200, "{wizard}");
    assert_eq!(wizard["firstRun"], false, "{wizard}");
    assert!(
        !wizard["wizards"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|w| w["id"] == "wizard_demo"),
        "{wizard}"
    );

    // A fresh load shows no wizard either.
    browser.goto_ready("/");
    assert_eq!(browser.path(), "/");
    assert!(!browser.dialog_open("#wizard_dialog"));
    assert!(!browser.visible("#wizard_firstrun_acl"));
    browser.assert_page_healthy("on a fresh load after the wizard");

    // on_wizard_finish(handled = true) ran, and the version seen was stored.
    let finished = std::fs::read_to_string(sb.basedir.join("data/wizard_demo/finished.log"))
        .unwrap_or_default();
    assert!(
        finished.contains("handled=true"),
        "finished.log: {finished:?}"
    );
    let seen = common::stdout(&sb.plinth(&["config", "get", "server.seenWizards.wizard_demo"]));
    assert_eq!(seen.trim(), "1", "the wizard version seen: {seen:?}");
}

/// The login page, then every sample plugin's navbar item, tab and settings
/// section, the about dialog, and logging out.
#[test]
fn after_logging_in_every_sample_plugin_shows_its_navbar_item_tab_and_settings() {
    let sb = sandbox_with_all_samples();
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "after_logging_in_every_sample_plugin_shows_its_navbar_item_tab_and_settings",
        &server,
    );

    // Anonymous: to the login page, with the way back.
    browser.goto("/");
    browser.wait_path("/login");
    let search = browser.js("return location.search;");
    assert!(
        search.as_str().unwrap_or_default().contains("redirect=%2F")
            || search.as_str().unwrap_or_default().contains("redirect=/"),
        "{search}"
    );
    // A wrong password is an error on the page.
    browser.fill("#login_user", "ada");
    browser.fill("#login_pass", "wrong");
    browser.click("#login_button");
    browser.wait_for(
        "an error in #login_error",
        "var e = document.getElementById('login_error'); \
         return e !== null && e.textContent.trim() !== '';",
    );
    assert_eq!(browser.path(), "/login");
    // That 403 is logged by the browser as a failed load; nothing else may be.
    let unexpected: Vec<String> = browser
        .console_errors()
        .into_iter()
        .filter(|e| !(e.contains("/api/login") && e.contains("403")))
        .collect();
    assert!(
        unexpected.is_empty(),
        "console errors on the login page: {unexpected:?}"
    );
    browser.console.borrow_mut().clear();

    browser.login_with_form("ada", "pw");
    browser.wait_path("/");
    browser.wait_ready();
    let assets = browser.assert_page_healthy("after logging in");
    for asset in [
        "/static/client.js",
        "/static/plinth.js",
        "/plugin/helloworld/static/js/helloworld.js",
        "/plugin/helloworld/static/css/helloworld.css",
        "/plugin/wizard_demo/static/js/wizard_demo.js",
    ] {
        assert!(
            assets.iter().any(|a| a.ends_with(asset)),
            "{asset} is not linked: {assets:?}"
        );
    }
    browser.wait_text("#navbar_username", "ada");
    assert!(
        !browser.exists("#dummy_plugins"),
        "a desktop browser gets the default page"
    );
    assert!(
        !browser.dialog_open("#wizard_dialog"),
        "no wizard is required"
    );

    // helloworld: navbar item, tab, settings section.
    browser.wait_visible("#navbar_plugin_helloworld");
    assert!(
        browser
            .text("#navbar_plugin_helloworld")
            .contains("Hello World"),
        "{}",
        browser.text("#navbar_plugin_helloworld")
    );
    // Every plugin navbar item is shown.
    let navbar_items: Vec<String> = serde_json::from_value(browser.js(
        "return Array.from(document.querySelectorAll('#navbar [id^=\"navbar_plugin_\"]'))\
         .map(function (e) { return e.id; });",
    ))
    .unwrap();
    for item in &navbar_items {
        assert!(browser.visible(&format!("#{item}")), "#{item} is hidden");
    }
    browser.click("#tab_plugin_helloworld_link a");
    browser.wait_visible("#tab_plugin_helloworld");
    browser.wait_text("#tab_plugin_helloworld", "Hello World!");
    let shown: Vec<String> = serde_json::from_value(browser.js(
        "return Array.from(document.querySelectorAll('#tab_content .tab-pane'))\
         .filter(function (e) { return e.checkVisibility(); }).map(function (e) { return e.id; });",
    ))
    .unwrap();
    assert_eq!(shown, ["tab_plugin_helloworld"], "one tab pane at a time");
    // Every tab link shows its pane.
    let tabs: Vec<String> = serde_json::from_value(browser.js(
        "return Array.from(document.querySelectorAll('#tabs > li[id$=\"_link\"]'))\
         .map(function (e) { return e.id.slice(0, -'_link'.length); });",
    ))
    .unwrap();
    for core in [
        "control",
        "pluginmanager",
        "events",
        "tab_plugin_helloworld",
    ] {
        assert!(tabs.iter().any(|t| t == core), "no tab {core}: {tabs:?}");
    }
    for tab in &tabs {
        browser.click(&format!("#{tab}_link a"));
        browser.wait_visible(&format!("#{tab}"));
    }

    // The settings dialog: helloworld's and wizard_demo's sections.
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    for (section, name, input, value) in [
        (
            "settings_plugin_helloworld",
            "Hello World",
            "#helloworld_some_setting",
            "foo",
        ),
        (
            "settings_plugin_wizard_demo",
            "Wizard Demo",
            "#wizard_demo_settings_some_key",
            "set before the test",
        ),
    ] {
        assert!(
            browser.exists(&format!("#settings_dialog #{section}.settings-section")),
            "no settings section {section}"
        );
        let link = settings_nav_link(&browser, section, name);
        browser.click(&link);
        browser.wait_visible(&format!("#{section}"));
        browser.wait_value(input, value);
    }
    // Every plugin's section has its link in the nav.
    let sections: Vec<String> = serde_json::from_value(browser.js(
        "return Array.from(document.querySelectorAll('#settings_dialog .settings-section[id^=\"settings_plugin_\"]'))\
         .map(function (e) { return e.id; });",
    ))
    .unwrap();
    for section in &sections {
        let name = browser.text(&format!(
            "#{section} h1, #{section} h2, #{section} h3, #{section} h4"
        ));
        browser.click(&settings_nav_link(&browser, section, &name));
        browser.wait_visible(&format!("#{section}"));
    }
    browser.click("#settings_cancel");
    browser.wait_dialog("#settings_dialog", false);

    // The about dialog.
    browser.click_link("#navbar_about");
    browser.wait_dialog("#about_dialog", true);
    browser.wait_text("#about_plinth", env!("CARGO_PKG_VERSION"));
    browser.click("#about_close");
    browser.wait_dialog("#about_dialog", false);
    browser.assert_no_console_errors("after opening every tab and dialog");

    // Logging out: the page needs a login again.
    if !browser.visible("#logout_button") {
        // Inside the user's menu.
        browser.click_link("#navbar_login");
    }
    browser.click_link("#logout_button");
    // The session cookie is HttpOnly: ask the server whether it still works.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _) = {
            let mut r = agent()
                .post(&server.url("/api/login"))
                .header("Content-Type", "application/json")
                .header("Cookie", &browser.cookie_header())
                .send(r#"{"passive":true}"#)
                .unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string())
        };
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the browser's session still works after #logout_button ({status})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.goto("/");
    browser.wait_path("/login");
}

/// The selector of the `#settings_nav` link of a settings section (by its
/// href, data target or name), marked for clicking.
fn settings_nav_link(browser: &Browser, section: &str, name: &str) -> String {
    let found = browser.js_with(
        "var id = arguments[0], name = arguments[1]; \
         var links = Array.from(document.querySelectorAll('#settings_nav a, #settings_nav button, #settings_nav [data-section], #settings_nav [data-target]')); \
         var link = links.find(function (a) { \
            var h = a.getAttribute('href') || a.getAttribute('data-target') || a.getAttribute('data-section') || ''; \
            return h === '#' + id || h === id; }) || \
            links.find(function (a) { return a.textContent.trim() === name; }); \
         if (!link) return null; \
         link.setAttribute('data-plinth-test-link', id); return true;",
        vec![json!(section), json!(name)],
    );
    assert!(
        found == true,
        "no link to #{section} in #settings_nav (screenshot {})",
        browser.screenshot_path().display()
    );
    format!("#settings_nav [data-plinth-test-link=\"{section}\"]")
}

/// Opens the plugin manager tab and waits for its rows.
fn open_plugin_manager(browser: &Browser, id: &str) {
    browser.click("#pluginmanager_link a");
    browser.wait_visible("#pluginmanager");
    browser.wait_visible(&format!("#pluginmanager_table tr[data-plugin=\"{id}\"]"));
}

/// Disabling helloworld (a restart-needing plugin: it has assets) shows the
/// restart banner, then and on the next load.
#[test]
fn disabling_a_restart_needing_plugin_shows_the_restart_banner() {
    let sb = sandbox_with(&["helloworld", "wizard_demo"]);
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    assert_eq!(
        plugin_entry(&server, &key, "helloworld")["restart_needing"],
        true
    );
    let browser = Browser::start(
        "disabling_a_restart_needing_plugin_shows_the_restart_banner",
        &server,
    );
    browser.login("ada", "pw");
    open_plugin_manager(&browser, "helloworld");
    let row = "#pluginmanager_table tr[data-plugin=\"helloworld\"]";
    assert!(browser
        .text(&format!("{row} .pm-name"))
        .contains("Hello World"));
    assert!(browser
        .text(&format!("{row} .pm-version"))
        .contains("0.1.0"));
    assert!(browser
        .text(&format!("{row} .pm-state"))
        .contains("enabled"));
    assert!(browser
        .text(&format!("{row} .pm-source"))
        .contains("bundled"));
    assert!(
        !browser.visible(&format!("{row} button.pm-uninstall:not([disabled])")),
        "a bundled plugin cannot be uninstalled"
    );
    assert!(!browser.visible("#pluginmanager_restart_banner"));
    assert!(!browser.visible("#pluginmanager_reload_banner"));

    browser.click(&format!("{row} button.pm-disable"));
    browser.wait_visible("#pluginmanager_restart_banner");
    browser.wait_text("#pluginmanager_restart_banner", "Restart needed");
    assert_eq!(browser.text("#pluginmanager_error"), "", "no error shown");
    assert_eq!(
        plugin_entry(&server, &key, "helloworld")["pending_disable"],
        true
    );
    browser.assert_no_console_errors("after disabling helloworld");

    // Still needed on the next load.
    browser.reload_ready();
    open_plugin_manager(&browser, "helloworld");
    browser.wait_visible("#pluginmanager_restart_banner");
    browser.wait_text("#pluginmanager_restart_banner", "Restart needed");
    browser.assert_page_healthy("after reloading with a restart pending");
}

/// Disabling a reload-needing-only plugin (the `reloader` fixture: Template
/// and Wizard, no assets; no sample plugin is one) shows the reload banner and
/// not the restart banner.
#[test]
fn disabling_a_reload_needing_plugin_shows_the_reload_banner() {
    let sb = sandbox_with(&["helloworld"]);
    sb.user_as(&built().fixture("reloader"), "reloader");
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let entry = plugin_entry(&server, &key, "reloader");
    assert_eq!(
        (&entry["reload_needing"], &entry["restart_needing"]),
        (&json!(true), &json!(false)),
        "{entry}"
    );
    let browser = Browser::start(
        "disabling_a_reload_needing_plugin_shows_the_reload_banner",
        &server,
    );
    browser.login("ada", "pw");
    open_plugin_manager(&browser, "reloader");
    let row = "#pluginmanager_table tr[data-plugin=\"reloader\"]";
    assert!(browser.text(&format!("{row} .pm-source")).contains("user"));
    assert!(!browser.visible("#pluginmanager_reload_banner"));
    browser.click(&format!("{row} button.pm-disable"));
    browser.wait_visible("#pluginmanager_reload_banner");
    browser.wait_text("#pluginmanager_reload_banner", "Reload needed");
    assert!(
        !browser.visible("#pluginmanager_restart_banner"),
        "a reload-needing plugin needs no restart"
    );
    assert_eq!(browser.text("#pluginmanager_error"), "", "no error shown");
    browser.wait_text(&format!("{row} .pm-state"), "disabled");
    assert_eq!(plugin_entry(&server, &key, "reloader")["state"], "disabled");
    assert!(
        browser.exists("#pluginmanager_reload_banner button"),
        "the reload banner has a reload button"
    );
    browser.assert_no_console_errors("after disabling reloader");

    // Its reload button reloads the page.
    browser.mark_page();
    browser.click("#pluginmanager_reload_banner button");
    browser.wait_new_page("the page after the reload button");
    browser.assert_page_healthy("after the reload button");
}

/// Opens the settings dialog, changes helloworld's `some_setting` from its
/// default `foo` to `value`, saves, and waits for the dialog to close.
fn change_helloworld_setting(browser: &Browser, value: &str) {
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.click(&settings_nav_link(
        browser,
        "settings_plugin_helloworld",
        "Hello World",
    ));
    browser.wait_value("#helloworld_some_setting", "foo");
    browser.fill("#helloworld_some_setting", value);
    browser.click("#settings_save");
    browser.wait_dialog("#settings_dialog", false);
}

/// A helloworld setting changed in the settings dialog is saved, shown in
/// the tab, and still there after a reload.
#[test]
fn a_helloworld_setting_changed_in_the_settings_dialog_survives_a_reload() {
    let sb = sandbox_with(&["helloworld", "wizard_demo"]);
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let browser = Browser::start(
        "a_helloworld_setting_changed_in_the_settings_dialog_survives_a_reload",
        &server,
    );
    browser.login("ada", "pw");
    browser.wait_text("#helloworld_current_setting", "foo");

    let value = "kept <across> reloads";
    change_helloworld_setting(&browser, value);
    // Text bindings are filled after every save.
    browser.click("#tab_plugin_helloworld_link a");
    browser.wait_visible("#tab_plugin_helloworld");
    browser.wait_text("#helloworld_current_setting", value);
    assert_eq!(
        settings(&server, &key)["plugins"]["helloworld"]["some_setting"],
        value
    );
    // Only what was bound changed: the other settings kept their values.
    assert_eq!(
        settings(&server, &key)["plugins"]["wizard_demo"]["some_key"],
        "set before the test"
    );
    browser.assert_no_console_errors("after saving the settings");

    browser.reload_ready();
    browser.click("#tab_plugin_helloworld_link a");
    browser.wait_visible("#tab_plugin_helloworld");
    browser.wait_text("#helloworld_current_setting", value);
    assert_eq!(
        browser.text("#helloworld_current_setting"),
        value,
        "escaped as text"
    );
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.click(&settings_nav_link(
        &browser,
        "settings_plugin_helloworld",
        "Hello World",
    ));
    browser.wait_value("#helloworld_some_setting", value);
    browser.assert_page_healthy("after the reload");
}

/// An iPhone is sent to the login page, then gets the dummy mobile UI.
#[test]
fn a_mobile_browser_gets_the_dummy_ui_after_logging_in() {
    let sb = sandbox_with(&["helloworld", "wizard_demo", "dummy_mobile_ui"]);
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", false);
    let server = Server::start(&sb);
    let browser = Browser::start_with(
        "a_mobile_browser_gets_the_dummy_ui_after_logging_in",
        &server,
        Options {
            user_agent: Some(IPHONE_UA),
            ..Options::default()
        },
    );
    browser.goto("/");
    browser.wait_path("/login");
    assert!(browser
        .js("return navigator.userAgent;")
        .as_str()
        .unwrap_or_default()
        .contains("iPhone"));
    browser.assert_page_healthy("on the login page");
    browser.login_with_form("ada", "pw");
    browser.wait_path("/");
    browser.wait_exists("#dummy_plugins");
    let h1 = browser.text("h1");
    assert!(h1.contains("Dummy Mobile"), "{h1}");
    let plugins = browser.text("#dummy_plugins");
    for name in ["Hello World", "Wizard Demo"] {
        assert!(plugins.contains(name), "{name} is not listed: {plugins}");
    }
    assert!(!browser.exists("#navbar"), "not the default page");
    browser.assert_page_healthy("on the dummy mobile UI");
}

/// With every sample plugin, logged in, the page loads without console
/// errors and every script and stylesheet answers 200, among them an asset of
/// every AssetPlugin; opening the dialogs and reloading adds no error. (The
/// first-run page is checked by the wizard test.)
#[test]
fn the_page_loads_without_console_errors_and_every_asset_answers_200() {
    let sb = sandbox_with_all_samples();
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let browser = Browser::start(
        "the_page_loads_without_console_errors_and_every_asset_answers_200",
        &server,
    );
    browser.login("ada", "pw");
    let assets = browser.assert_page_healthy("after logging in");
    let (status, list) = request(&server, "GET", "/api/plugins", Some(&key), None);
    assert_eq!(status, 200, "{list}");
    for plugin in list["plugins"].as_array().into_iter().flatten() {
        let id = plugin["id"].as_str().unwrap_or_default();
        assert_eq!(plugin["state"], "enabled", "{plugin}");
        if plugin["mixins"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m == "Asset"))
        {
            assert!(
                assets
                    .iter()
                    .any(|a| a.contains(&format!("/plugin/{id}/static/"))),
                "{id} is an AssetPlugin but none of its assets is linked: {assets:?}"
            );
        }
    }
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.click("#settings_cancel");
    browser.wait_dialog("#settings_dialog", false);
    browser.click_link("#navbar_about");
    browser.wait_dialog("#about_dialog", true);
    browser.click("#about_close");
    browser.wait_dialog("#about_dialog", false);
    browser.reload_ready();
    browser.assert_page_healthy("after a reload");
}

/// One bad plugin takes nothing else down: with the `bad_assets` fixture (a
/// client part that does not parse, a script that throws at load, a view
/// model with an unknown dependency whose `onStartupComplete` throws, a tab
/// template that does not compile) beside helloworld and wizard_demo, the
/// page starts, helloworld's view model and client part work, the bad tab
/// shows the host's error box, the settings dialog still saves, and every
/// console error names `bad_assets`.
#[test]
fn a_plugin_with_broken_scripts_and_templates_takes_nothing_else_down() {
    let sb = sandbox_with(&["helloworld", "wizard_demo"]);
    sb.bundle_as(&built().fixture("bad_assets"), "bad_assets");
    sb.write_config(WIZARD_DEMO_DONE);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let browser = Browser::start(
        "a_plugin_with_broken_scripts_and_templates_takes_nothing_else_down",
        &server,
    );
    browser.login("ada", "pw");

    // helloworld's view model ran (its onStartupComplete marks its tab) and
    // its part of the client library works.
    browser.wait_for(
        "#tab_plugin_helloworld[data-ready=\"true\"]",
        "var e = document.getElementById('tab_plugin_helloworld'); \
         return e !== null && e.getAttribute('data-ready') === 'true';",
    );
    assert_eq!(
        browser.js("return typeof OctoPrint.plugins.helloworld;"),
        "object"
    );
    assert_eq!(
        browser.js("return typeof OctoPrint.plugins.bad_assets;"),
        "undefined",
        "bad_assets' client part never ran"
    );
    let answer = browser.must(
        "OctoPrint.plugins.helloworld.get()",
        browser.client().execute_async(
            "var done = arguments[arguments.length - 1]; \
             OctoPrint.plugins.helloworld.get().then( \
                function (r) { done({ok: r}); }, \
                function (e) { done({error: e}); });",
            vec![],
        ),
    );
    assert_eq!(answer, json!({"ok": {"foo": "bar"}}));

    // The bad tab shows the host's error box; its navbar item works.
    assert!(
        browser.exists("#tab_plugin_bad_assets .plugin-template-error"),
        "no error box in #tab_plugin_bad_assets (screenshot {})",
        browser.screenshot_path().display()
    );
    assert!(browser
        .text("#tab_plugin_bad_assets .plugin-template-error")
        .contains("bad_assets_tab.jinja2"));
    browser.wait_visible("#bad_assets_link");
    assert_eq!(browser.text("#bad_assets_link"), "bad");

    // The settings dialog still opens and saves.
    let value = "saved beside a bad plugin";
    change_helloworld_setting(&browser, value);
    browser.click("#tab_plugin_helloworld_link a");
    browser.wait_text("#helloworld_current_setting", value);
    assert_eq!(
        settings(&server, &key)["plugins"]["helloworld"]["some_setting"],
        value
    );

    // The console errors are bad_assets' own, and only those.
    let errors = browser.console_errors();
    eprintln!("console errors:\n  {}", errors.join("\n  "));
    for expected in [
        "/plugin/bad_assets/static/js/throws.js",
        "/static/client/bad_assets.js",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "no console error from {expected}: {errors:?}"
        );
    }
    for error in &errors {
        assert!(
            error.contains("bad_assets"),
            "a console error that is not bad_assets': {error}"
        );
        for other in [
            "helloworld",
            "wizard_demo",
            "/static/plinth.js",
            "/static/client.js",
        ] {
            assert!(
                !error.contains(other),
                "{other} in a console error: {error}"
            );
        }
    }
    // The view model was reached: the page warned about it and went on.
    let warnings: Vec<String> = browser
        .console
        .borrow()
        .iter()
        .filter(|e| e["level"] == "WARNING")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    eprintln!("console warnings:\n  {}", warnings.join("\n  "));
    for expected in [
        "depends on unknown badAssetsNoSuchViewModel",
        "badAssetsViewModel failed in onStartupComplete",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(expected)),
            "no console warning {expected:?}: {warnings:?}"
        );
    }
    let assets = browser.assert_assets_ok();
    for asset in [
        "/static/client/bad_assets.js",
        "/static/client/helloworld.js",
        "/plugin/bad_assets/static/js/throws.js",
        "/plugin/bad_assets/static/js/viewmodel.js",
        "/plugin/helloworld/static/js/helloworld.js",
    ] {
        assert!(
            assets.iter().any(|a| a.ends_with(asset)),
            "{asset} is not linked: {assets:?}"
        );
    }

    // The screenshot shows the bad tab with its error box.
    browser.click("#tab_plugin_bad_assets_link a");
    browser.wait_visible("#tab_plugin_bad_assets .plugin-template-error");
}

/// The state of the sidebar and the event log, read in one script.
const PRINT_SAMPLE_JS: &str = "var log = document.getElementById('event_log'); \
    var has = function (n) { return log.querySelector('li[data-event=\"' + n + '\"]') !== null; }; \
    var bar = document.getElementById('job_progress'); \
    return { \
        state: document.getElementById('state_text').textContent.trim(), \
        file: document.getElementById('job_file').textContent.trim(), \
        progress: bar.value, \
        label: document.getElementById('job_progress_text').textContent.trim(), \
        started: has('PrintStarted'), \
        done: has('PrintDone'), \
        samePage: window.__plinthTestOldPage === true \
    };";

/// Waits until `#webcam_image` shows a loaded image (other than the one at
/// `not_src`); returns its `[naturalWidth, naturalHeight, src]`.
fn wait_webcam_image(browser: &Browser, not_src: &str) -> Value {
    browser.wait_for_with(
        "#webcam_image to show a loaded snapshot",
        "var i = document.getElementById('webcam_image'); \
         if (i === null || i.hidden || !i.complete || i.naturalWidth === 0) return null; \
         var src = i.getAttribute('src') || ''; \
         if (src === '' || src === arguments[0]) return null; \
         return [i.naturalWidth, i.naturalHeight, src];",
        vec![json!(not_src)],
    )
}

/// With helloworld and testpicture, an admin's page shows the testpicture
/// webcam's snapshot (a real 640×480 image) on the Control tab; a G-code file
/// uploaded and printed through the API shows up live, without a reload: its
/// `FileAdded`, `PrintStarted` and `PrintDone` in the Events tab, the state
/// Printing, the file name and a progress bar that goes up to 100 in the
/// sidebar, then Operational again. Besides the final screenshot (the Control
/// tab after the print) it leaves `<name>.printing.png`, taken mid-print.
#[test]
fn the_page_shows_live_events_job_progress_and_the_webcam_snapshot() {
    let name = "the_page_shows_live_events_job_progress_and_the_webcam_snapshot";
    let printing_png = artifacts_dir().join(format!("{name}.printing.png"));
    let _ = std::fs::remove_file(&printing_png);
    let sb = sandbox_with(&["helloworld", "testpicture"]);
    // 200 commands at 50 a second: a print of about 4 s.
    sb.write_config("printer:\n  lines_per_second: 50\nserial:\n  autoconnect: true\n");
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");

    // The API's side of the webcam: one testpicture webcam, a JPEG snapshot.
    let (status, webcams) = request(&server, "GET", "/api/webcams", Some(&key), None);
    assert_eq!(status, 200, "{webcams}");
    assert!(
        webcams["webcams"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["name"] == "testpicture")),
        "{webcams}"
    );
    let mut snapshot = agent()
        .get(&server.url("/api/webcams/testpicture/snapshot"))
        .header("X-Api-Key", &key)
        .call()
        .expect("GET the snapshot");
    assert_eq!(snapshot.status().as_u16(), 200);
    assert_eq!(
        snapshot
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let jpeg = snapshot.body_mut().read_to_vec().expect("the snapshot");
    assert!(jpeg.starts_with(&[0xff, 0xd8, 0xff]), "not a JPEG");

    let browser = Browser::start(name, &server);
    browser.login("ada", "pw");
    browser.assert_page_healthy("after logging in");

    // The Control tab: the webcam panel lists testpicture and shows its
    // snapshot, a real image.
    browser.click("#control_link a");
    browser.wait_visible("#webcam_panel");
    browser.wait_exists("#webcam_select option[value=\"testpicture\"]");
    assert_eq!(
        browser.js("return document.getElementById('webcam_select').value;"),
        "testpicture"
    );
    assert_eq!(
        browser.text("#webcam_select option[value=\"testpicture\"]"),
        "Test picture"
    );
    let first = wait_webcam_image(&browser, "");
    assert_eq!(
        (&first[0], &first[1]),
        (&json!(640), &json!(480)),
        "the snapshot's size: {first}"
    );
    let first_src = first[2].as_str().unwrap_or_default().to_owned();
    assert!(
        first_src.starts_with("/api/webcams/testpicture/snapshot"),
        "{first_src}"
    );
    browser.wait_visible("#webcam_image");
    assert_eq!(browser.text("#webcam_error"), "", "no webcam error shown");
    let statuses = browser.js("return performance.getEntriesByType('resource')\
         .filter(function (e) { return e.name.indexOf('/api/webcams/testpicture/snapshot') >= 0; })\
         .map(function (e) { return e.responseStatus; });");
    assert!(
        statuses
            .as_array()
            .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s == 200)),
        "the browser's snapshot requests: {statuses}"
    );

    // The Events tab, then no reload from here on.
    browser.click("#events_link a");
    browser.wait_visible("#events");
    browser.mark_page();

    // The page says when its push channel is subscribed (events before that
    // are not sent to it); then the log is cleared with its button.
    browser.wait_for(
        "the push channel to be connected",
        "return document.body.dataset.push === 'connected';",
    );
    browser.click("#event_log_clear");
    browser.wait_for(
        "#event_log to be empty",
        "return document.getElementById('event_log').children.length === 0;",
    );
    let idle = browser.js(PRINT_SAMPLE_JS);
    assert_eq!(idle["state"], "Operational", "{idle}");

    // Upload: FileAdded arrives, naming the file.
    let file = "browser_print.gcode";
    let gcode: String = (0..200)
        .map(|i| format!("G1 X{} Y{} E{}\n", i % 100, i / 100, i))
        .collect();
    let (status, answer) = upload(&server, &key, file, gcode.as_bytes());
    assert_eq!(status, 201, "{answer}");
    browser.wait_text("#event_log li[data-event=\"FileAdded\"]", file);

    // Print: PrintStarted, Printing with the file, progress going up, then
    // PrintDone at 100 and Operational.
    let (status, answer) = request(
        &server,
        "POST",
        &format!("/api/files/local/{file}"),
        Some(&key),
        Some(json!({"command": "select", "print": true})),
    );
    assert_eq!(status, 204, "{answer}");
    let started = Instant::now();
    let mut samples: Vec<Value> = Vec::new();
    let mut printing_screenshot = false;
    loop {
        let sample = browser.js(PRINT_SAMPLE_JS);
        let finished = sample["done"] == true && sample["state"] == "Operational";
        if !printing_screenshot
            && sample["state"] == "Printing"
            && sample["started"] == true
            && sample["progress"].as_f64().unwrap_or(0.0) > 0.0
        {
            // A picture of the page mid-print, beside the final one.
            let png = browser.must("screenshot", browser.client().screenshot());
            std::fs::write(&printing_png, png).expect("the mid-print screenshot");
            printing_screenshot = true;
        }
        samples.push(sample);
        if finished {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the print did not end on the page within {WAIT:?}; samples:\n  {}\n(screenshot {})",
            samples
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n  "),
            browser.screenshot_path().display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    let listing = samples
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n  ");
    eprintln!(
        "{} samples over {took:?}; progress seen: {:?}",
        samples.len(),
        samples
            .iter()
            .map(|s| format!("{} {}", s["state"].as_str().unwrap_or("?"), s["progress"]))
            .collect::<Vec<_>>()
    );
    assert!(
        samples.iter().all(|s| s["samePage"] == true),
        "the page reloaded:\n  {listing}"
    );
    let printing: Vec<&Value> = samples
        .iter()
        .filter(|s| s["state"] == "Printing")
        .collect();
    assert!(
        !printing.is_empty(),
        "#state_text never showed Printing:\n  {listing}"
    );
    for s in &printing {
        assert_eq!(s["file"], file, "#job_file while printing:\n  {listing}");
    }
    assert!(
        printing.iter().any(|s| s["started"] == true),
        "no PrintStarted in #event_log while printing:\n  {listing}"
    );
    let progress: Vec<f64> = samples
        .iter()
        .map(|s| s["progress"].as_f64().unwrap_or(-1.0))
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "#job_progress went down:\n  {listing}"
    );
    let mut between: Vec<f64> = printing
        .iter()
        .map(|s| s["progress"].as_f64().unwrap_or(-1.0))
        .filter(|p| *p > 0.0 && *p < 100.0)
        .collect();
    between.dedup();
    assert!(
        between.len() >= 3,
        "#job_progress should move through several values while printing, saw {between:?}:\n  {listing}"
    );
    let last = samples.last().expect("a sample");
    assert_eq!(last["progress"], 100.0, "{last}");
    assert_eq!(last["label"], "100.0 %", "{last}");
    assert_eq!(last["state"], "Operational", "{last}");
    assert_eq!(last["file"], file, "{last}");

    // The log, newest first: PrintDone, PrintStarted, FileAdded, each once and
    // about this file.
    let log = browser.js(
        "return Array.from(document.querySelectorAll('#event_log li'))\
         .map(function (e) { return [e.getAttribute('data-event'), e.textContent]; });",
    );
    let entries: Vec<(String, String)> = serde_json::from_value(log.clone()).expect("the log");
    let order: Vec<&str> = entries
        .iter()
        .map(|(event, _)| event.as_str())
        .filter(|e| ["FileAdded", "PrintStarted", "PrintDone"].contains(e))
        .collect();
    assert_eq!(order, ["PrintDone", "PrintStarted", "FileAdded"], "{log}");
    for (event, text) in &entries {
        if ["FileAdded", "PrintStarted", "PrintDone"].contains(&event.as_str()) {
            assert!(text.contains(file), "{event} does not name {file}: {text}");
        }
    }
    browser.wait_visible("#event_log li[data-event=\"PrintDone\"]");
    // Each entry carries its time; the filter hides what does not match.
    assert!(!browser
        .text("#event_log li[data-event=\"PrintDone\"] time")
        .is_empty());
    browser.click("#events_link a");
    browser.fill("#event_log_filter", "PrintDone");
    browser.wait_for(
        "the filter to hide the rest",
        "return Array.from(document.querySelectorAll('#event_log li')).every(function (e) {\
           return e.hidden === (e.getAttribute('data-event') !== 'PrintDone'\
             && e.textContent.toLowerCase().indexOf('printdone') < 0); });",
    );
    browser.fill("#event_log_filter", "");
    let (status, job) = request(&server, "GET", "/api/job", Some(&key), None);
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "Operational", "{job}");
    assert_eq!(job["progress"]["completion"], 100.0, "{job}");

    // Back on the Control tab, the snapshot is refreshed; the final
    // screenshot shows it beside the finished job.
    browser.click("#control_link a");
    browser.wait_visible("#webcam_panel");
    let again = wait_webcam_image(&browser, &first_src);
    assert_eq!(
        (&again[0], &again[1]),
        (&json!(640), &json!(480)),
        "{again}"
    );
    assert_eq!(
        browser.js("return window.__plinthTestOldPage === true;"),
        true,
        "the page reloaded"
    );
    browser.assert_page_healthy("after the print");
    assert!(printing_screenshot, "no mid-print screenshot was taken");
}

/// The plugin manager shows where each plugin runs, a quarantined plugin
/// with why, lets a person start it again, and moves a plugin.
#[test]
fn the_plugin_manager_shows_where_plugins_run_and_lifts_a_quarantine() {
    let sb = sandbox_with(&["helloworld"]);
    sb.user_as(&built().fixture("hostile"), "hostile_abort");
    sb.write_config("isolation:\n  max_crashes: 1\n");
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let (status, _) = common::post(
        &server,
        "/api/plugin/hostile_abort",
        &key,
        r#"{"command": "crash"}"#,
    );
    assert_eq!(status, 502);
    let deadline = Instant::now() + Duration::from_secs(20);
    while plugin_entry(&server, &key, "hostile_abort")["state"] != "quarantined" {
        assert!(Instant::now() < deadline, "quarantined");
        std::thread::sleep(Duration::from_millis(50));
    }
    let browser = Browser::start(
        "the_plugin_manager_shows_where_plugins_run_and_lifts_a_quarantine",
        &server,
    );
    browser.login("ada", "pw");
    open_plugin_manager(&browser, "hostile_abort");
    let row = "#pluginmanager_table tr[data-plugin=\"hostile_abort\"]";
    assert!(browser
        .text(&format!("{row} .pm-state"))
        .contains("quarantined"));
    assert!(browser.text(&format!("{row} .pm-name")).contains(
        "quarantined after 1 crash within 600 s (last: SIGABRT in on_api_command(crash))"
    ));
    assert!(browser
        .text(&format!("{row} .pm-mode"))
        .contains("isolated"));
    assert!(browser
        .text(&format!("{row} .pm-mode"))
        .contains("1 crash, 0 restarts; last: SIGABRT in on_api_command(crash)"));
    browser.click(&format!("{row} button.pm-enable"));
    browser.wait_text(&format!("{row} .pm-state"), "enabled");
    assert_eq!(
        plugin_entry(&server, &key, "hostile_abort")["state"],
        "enabled"
    );

    let hello = "#pluginmanager_table tr[data-plugin=\"helloworld\"]";
    assert!(browser
        .text(&format!("{hello} .pm-mode"))
        .contains("in process"));
    browser.click(&format!("{hello} button.pm-mode"));
    browser.wait_text(&format!("{hello} .pm-mode"), "isolated");
    // helloworld needs a restart (it has assets): it moves at the next start.
    browser.wait_visible("#pluginmanager_restart_banner");
    assert_eq!(
        plugin_entry(&server, &key, "helloworld")["mode"],
        "isolated"
    );
    browser.assert_no_console_errors("after moving plugins");
}

/// OctoPrint's application key workflow in the page: an application asks,
/// the logged-in user sees a dialog and allows it, the application gets
/// its key.
#[test]
fn an_application_key_request_is_approved_in_the_page() {
    let sb = sandbox_with(&[]);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "an_application_key_request_is_approved_in_the_page",
        &server,
    );
    browser.login("ada", "pw");
    // Wait until the page's push channel is connected before asking.
    browser.wait_for(
        "the push channel",
        "return document.body.dataset.push === 'connected'",
    );
    let mut response = agent()
        .post(&server.url("/plugin/appkeys/request"))
        .header("Content-Type", "application/json")
        .send(r#"{"app": "Phone app"}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let asked: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let token = asked["app_token"].as_str().unwrap().to_owned();
    browser.wait_visible("dialog.appkey-request[open]");
    assert!(browser.text("dialog.appkey-request").contains("Phone app"));
    assert!(
        browser
            .text("dialog.appkey-request")
            .contains("from 127.0.0.1"),
        "the dialog says where the request came from"
    );
    browser.click("dialog.appkey-request button[data-appkey=allow]");
    let poll = server.url(&format!("/plugin/appkeys/request/{token}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let key = loop {
        let mut answer = agent().get(&poll).call().unwrap();
        if answer.status().as_u16() == 200 {
            let got: Value =
                serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
            break got["api_key"].as_str().unwrap().to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "never allowed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut me = agent()
        .get(&server.url("/api/currentuser"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    let me: Value = serde_json::from_str(&me.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(me["name"], "ada");
    browser.wait_for(
        "the dialog to go",
        "return !document.querySelector('dialog.appkey-request')",
    );
    // The settings list the key and revoke it; the API key section makes a new key.
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.wait_visible("#appkeys_table tr[data-app=\"Phone app\"]");
    browser.click("#appkeys_table tr[data-app=\"Phone app\"] .appkey-revoke");
    browser.wait_for(
        "the key to go",
        "return !document.querySelector('#appkeys_table tr[data-app=\"Phone app\"]')",
    );
    let mut gone = agent()
        .get(&server.url("/api/currentuser"))
        .header("X-Api-Key", &key)
        .call()
        .unwrap();
    assert_eq!(
        gone.status().as_u16(),
        403,
        "{}",
        gone.body_mut().read_to_string().unwrap()
    );
    browser.click("#apikey_generate");
    browser.wait_for(
        "the new key",
        "return document.getElementById('apikey_value').textContent.length >= 32",
    );
    browser.assert_page_healthy("after allowing an application");
}

/// OctoPrint's workflow in the page: connect, upload by dropping a file,
/// print, pause, resume, cancel (asked once more), set a temperature and
/// see the chart follow, send a terminal command and see the answer.
#[test]
fn the_page_connects_uploads_prints_and_shows_the_terminal_and_temperatures() {
    let sb = sandbox_with(&[]);
    sb.write_config("printer:\n  lines_per_second: 50\n");
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let key = api_key(&sb, "ada");
    let browser = Browser::start(
        "the_page_connects_uploads_prints_and_shows_the_terminal_and_temperatures",
        &server,
    );
    browser.login("ada", "pw");
    browser.wait_for(
        "the connection options",
        "return document.querySelectorAll('#connection_port option').length > 0",
    );
    browser.click("#connection_toggle");
    browser.wait_text("#state_text", "Operational");
    browser.wait_text("#connection_toggle", "Disconnect");

    // Drop a file on the drop zone.
    browser.js(
        "const gcode = 'G28\\n' + 'G1 X10 Y10 F3000\\nG1 X0 Y0\\n'.repeat(400);\
         const data = new DataTransfer();\
         data.items.add(new File([gcode], 'dropped.gcode'));\
         document.getElementById('files_drop').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));\
         return true;",
    );
    let entry = "#files_list li[data-path=\"dropped.gcode\"]";
    browser.wait_visible(entry);
    browser.fill("#files_search", "nothing like it");
    browser.wait_for(
        "the search to hide it",
        "return !document.querySelector('#files_list li[data-path=\"dropped.gcode\"]')",
    );
    browser.fill("#files_search", "drop");
    browser.wait_visible(entry);

    browser.click(&format!("{entry} button[data-action=print]"));
    browser.wait_text("#state_text", "Printing");
    browser.wait_text("#job_file", "dropped.gcode");
    browser.click("#job_pause");
    browser.wait_text("#state_text", "Paused");
    browser.wait_text("#job_pause", "Resume");
    browser.click("#job_pause");
    browser.wait_text("#state_text", "Printing");
    browser.click("#job_cancel");
    browser.wait_text("#job_cancel", "Really cancel?");
    assert_eq!(
        request(&server, "GET", "/api/job", Some(&key), None).1["state"],
        "Printing",
        "one click does not cancel"
    );
    browser.click("#job_cancel");
    browser.wait_text("#state_text", "Operational");

    // Temperatures: a target set in the tab, the chart follows.
    browser.click("#temperature_link a");
    browser.wait_visible("#temperature_table tr[data-heater=\"tool0\"]");
    browser.fill(
        "#temperature_table tr[data-heater=\"tool0\"] .t-input",
        "60",
    );
    browser.click("#temperature_table tr[data-heater=\"tool0\"] .t-set");
    browser.wait_text(
        "#temperature_table tr[data-heater=\"tool0\"] .t-target",
        "60",
    );
    let before: u64 = browser
        .js("return Number(document.getElementById('temperature_chart').dataset.samples || 0);")
        .as_u64()
        .unwrap();
    browser.wait_for(
        "the chart to follow",
        &format!("return Number(document.getElementById('temperature_chart').dataset.samples || 0) > {before};"),
    );

    // The terminal: a command and its answer.
    browser.click("#terminal_link a");
    browser.fill("#terminal_command", "M117 hello terminal");
    browser.click("#terminal_send");
    browser.wait_text("#terminal_log", "Send: M117 hello terminal");
    browser.wait_text("#terminal_log", "Recv: ok");
    browser.assert_page_healthy("after the printer workflow");
}

/// A model dropped on the Files panel, sliced from the slice dialog (slicer,
/// profile, printer profile, print once sliced), and printed.
#[test]
fn a_dropped_model_is_sliced_from_the_dialog_and_printed() {
    let sb = sandbox_with(&["planar_slicer"]);
    sb.write_config("printer:\n  lines_per_second: 200\nserial:\n  autoconnect: true\n");
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "a_dropped_model_is_sliced_from_the_dialog_and_printed",
        &server,
    );
    browser.login("ada", "pw");
    browser.wait_text("#state_text", "Operational");
    let stl = common::box_stl(10.0, 10.0, 2.0);
    browser.js(&format!(
        "const data = new DataTransfer();\
         data.items.add(new File([{}], 'cube.stl'));\
         document.getElementById('files_drop').dispatchEvent(new DragEvent('drop', {{dataTransfer: data, bubbles: true, cancelable: true}}));\
         return true;",
        serde_json::to_string(&stl).unwrap()
    ));
    let entry = "#files_list li[data-path=\"cube.stl\"]";
    browser.wait_visible(entry);
    browser.click(&format!("{entry} button[data-action=slice]"));
    browser.wait_visible("#slice_dialog[open]");
    browser.wait_for(
        "the slicers",
        "return document.querySelectorAll('#slice_slicer option').length > 0 \
         && document.querySelectorAll('#slice_printer_profile option').length > 0",
    );
    assert_eq!(
        browser.js("return document.getElementById('slice_destination').value;"),
        "cube.gcode"
    );
    browser.click("#slice_print");
    browser.click("#slice_start");
    browser.wait_for(
        "the dialog to close",
        "return !document.getElementById('slice_dialog').open",
    );
    browser.wait_visible("#files_list li[data-path=\"cube.gcode\"]");
    browser.wait_text("#job_file", "cube.gcode");
    browser.wait_for(
        "the print of the sliced file",
        "var t = document.getElementById('state_text').textContent; return t === 'Printing' || t === 'Operational' && document.getElementById('job_progress').value === 100;",
    );
    browser.assert_page_healthy("after slicing and printing");
}

/// A plugin library installed by uploading it in the plugin manager: it is
/// copied into the user plugins folder and the restart banner shows (also
/// after a reload); a file that is not a plugin is refused with the reason.
#[test]
fn a_plugin_installed_by_upload_shows_the_restart_banner() {
    let sb = sandbox_with(&[]);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let browser = Browser::start(
        "a_plugin_installed_by_upload_shows_the_restart_banner",
        &server,
    );
    browser.login("ada", "pw");
    browser.click("#pluginmanager_link a");
    let library = built().fixture("recorder");
    browser.attach("#pluginmanager_file", &library);
    browser.click("#pluginmanager_install_button");
    browser.wait_visible("#pluginmanager_restart_banner");
    browser.wait_text("#page_messages", "Installed recorder");
    let installed = sb
        .basedir
        .join("plugins")
        .join(library.file_name().unwrap());
    assert!(installed.is_file(), "{} is not there", installed.display());
    browser.reload_ready();
    browser.click("#pluginmanager_link a");
    browser.wait_visible("#pluginmanager_restart_banner");

    // Not a plugin: refused, with the installer's reason.
    let bogus = sb.basedir.join(common::lib_file("bogus"));
    std::fs::write(&bogus, b"not a library").unwrap();
    browser.attach("#pluginmanager_file", &bogus);
    browser.click("#pluginmanager_install_button");
    browser.wait_text("#pluginmanager_error", "Could not install the plugin");
    assert!(!sb
        .basedir
        .join("plugins")
        .join(bogus.file_name().unwrap())
        .exists());
}

/// An application that asks while nobody has the page open sends the
/// person to its `auth_dialog` (as OctoPrint's): they log in, the page shows
/// the waiting request, they allow it and the application gets its key. An
/// unknown request's dialog URL is 404.
#[test]
fn an_application_sends_the_person_to_its_auth_dialog() {
    let sb = sandbox_with(&[]);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let mut response = agent()
        .post(&server.url("/plugin/appkeys/request"))
        .header("Content-Type", "application/json")
        .send(r#"{"app": "Slicer", "user": "ada"}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let asked: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    let token = asked["app_token"].as_str().unwrap().to_owned();
    let dialog = asked["auth_dialog"].as_str().unwrap().to_owned();
    assert_eq!(dialog, server.url(&format!("/plugin/appkeys/auth/{token}")));
    let unknown = agent()
        .get(&server.url("/plugin/appkeys/auth/nothing"))
        .call()
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    let browser = Browser::start(
        "an_application_sends_the_person_to_its_auth_dialog",
        &server,
    );
    browser.goto(&format!("/plugin/appkeys/auth/{token}"));
    browser.login_with_form("ada", "pw");
    browser.wait_path("/");
    browser.wait_visible("dialog.appkey-request[open]");
    assert!(browser.text("dialog.appkey-request").contains("Slicer"));
    browser.click("dialog.appkey-request button[data-appkey=allow]");
    let poll = server.url(&format!("/plugin/appkeys/request/{token}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let answer = agent().get(&poll).call().unwrap();
        if answer.status().as_u16() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never allowed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    browser.assert_page_healthy("after allowing");
}

/// The settings dialog's core sections, as an administrator uses them: add
/// a user with permissions and deactivate them, change the server and
/// printer settings and the temperature presets (saved with the dialog),
/// add a printer profile and make it the default, change one's password. A
/// user without those permissions sees none of those sections.
#[test]
fn the_settings_dialog_manages_users_printer_settings_and_profiles() {
    let sb = sandbox_with(&[]);
    add_user(&sb, "ada", true);
    add_user(&sb, "bob", false);
    let key = api_key(&sb, "ada");
    let server = Server::start(&sb);
    let browser = Browser::start(
        "the_settings_dialog_manages_users_printer_settings_and_profiles",
        &server,
    );
    browser.login("ada", "pw");
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.wait_visible("#settings_users");
    browser.wait_exists("#users_table tr[data-user='bob']");

    // A user: added with the users group's permissions less one, then deactivated.
    browser.click("#user_add");
    browser.fill("#user_name", "carl");
    browser.fill("#user_password", "carl-pw");
    browser.click("#user_permissions input[value='FILES_DELETE']");
    browser.click("#user_save");
    browser.wait_exists("#users_table tr[data-user='carl']");
    let carl = |server: &Server| {
        let (_, list) = common::send(server, "GET", "/api/access/users", &key, None);
        list["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "carl")
            .cloned()
            .expect("carl was added")
    };
    let added = carl(&server);
    let perms: Vec<&str> = added["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        perms.contains(&"FILES_UPLOAD") && !perms.contains(&"FILES_DELETE"),
        "{added}"
    );
    assert_eq!(added["admin"], false);
    // Making carl an administrator: every permission is his, no box to tick.
    browser.click("#users_table tr[data-user='carl'] .user-edit");
    browser.click("#user_admin");
    assert_eq!(
        browser.js("return [...document.querySelectorAll('#user_permissions input')].every((i) => i.disabled);"),
        Value::Bool(true)
    );
    browser.click("#user_cancel");
    browser.click("#users_table tr[data-user='carl'] .user-active");
    browser.wait_for(
        "carl to be deactivated",
        "return !document.querySelector(\"#users_table tr[data-user='carl'] .user-active\").checked;",
    );
    // The box changes at the click; the server's answer follows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while carl(&server)["active"] != false {
        assert!(
            std::time::Instant::now() < deadline,
            "carl is still active on the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Server and printer settings and a temperature preset, saved with the dialog.
    browser.fill("#printer_speed", "333");
    browser.click("#serial_autoconnect");
    browser.click("#preset_add");
    browser.fill("#presets_table tbody tr:last-child .preset-name", "PETG");
    browser.fill("#presets_table tbody tr:last-child .preset-extruder", "240");
    browser.fill("#presets_table tbody tr:last-child .preset-bed", "80");
    browser.click("#settings_save");
    browser.wait_dialog("#settings_dialog", false);
    let (_, settings) = request(&server, "GET", "/api/settings", Some(&key), None);
    assert_eq!(settings["printer"]["lines_per_second"], 333, "{settings}");
    assert_eq!(settings["serial"]["autoconnect"], true);
    let presets = settings["temperature"]["profiles"].as_array().unwrap();
    assert!(
        presets
            .iter()
            .any(|p| p["name"] == "PETG" && p["extruder"] == 240 && p["bed"] == 80),
        "{presets:?}"
    );
    assert!(
        presets.iter().any(|p| p["name"] == "PLA"),
        "the others stay"
    );

    // A printer profile, made the default.
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.wait_value("#printer_speed", "333");
    browser.click("#profile_add");
    browser.fill("#profile_id", "big");
    browser.fill("#profile_name", "Big printer");
    browser.fill("#profile_width", "300");
    browser.fill("#profile_depth", "310");
    browser.fill("#profile_height", "400");
    browser.click("#profile_save");
    browser.wait_exists("#profiles_table tr[data-profile='big']");
    browser.click("#profiles_table tr[data-profile='big'] .profile-default");
    browser.wait_exists("#profiles_table tr[data-profile='big'] .badge-enabled");
    let (_, big) = common::send(&server, "GET", "/api/printerprofiles/big", &key, None);
    assert_eq!(big["default"], true, "{big}");
    assert_eq!(big["volume"]["depth"], 310.0, "{big}");
    assert_eq!(big["name"], "Big printer");

    // Her own password.
    browser.fill("#password_current", "pw");
    browser.fill("#password_new", "pw-new");
    browser.fill("#password_repeat", "pw-new");
    browser.click("#password_change");
    browser.wait_text("#password_status", "changed");
    browser.click("#settings_cancel");
    browser.assert_page_healthy("after the settings");
    let login = |user: &str, pass: &str| {
        agent()
            .post(&server.url("/api/login"))
            .header("Content-Type", "application/json")
            .send(json!({"user": user, "pass": pass}).to_string())
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(login("ada", "pw-new"), 200);

    // bob (settings_read, no users or settings) sees none of it.
    browser.click("#logout_button");
    browser.login("bob", "pw");
    browser.click_link("#navbar_settings");
    browser.wait_dialog("#settings_dialog", true);
    browser.wait_visible("#settings_apikey");
    for section in [
        "#settings_users",
        "#settings_server",
        "#settings_printerprofiles",
    ] {
        assert!(!browser.visible(section), "{section} is shown to bob");
    }
}

/// On a phone-sized screen the default page works: the navbar collapses
/// behind a menu button, the sidebar and tabs stack, and no placeholder
/// page stands in the way.
#[test]
fn the_page_works_on_a_phone() {
    let sb = sandbox_with(&[]);
    add_user(&sb, "ada", true);
    let server = Server::start(&sb);
    let browser = Browser::start_with(
        "the_page_works_on_a_phone",
        &server,
        Options {
            user_agent: Some(IPHONE_UA),
            window: Some((390, 844)),
        },
    );
    browser.login("ada", "pw");
    browser.wait_visible("#navbar_toggle");
    assert!(
        !browser.visible("#navbar_settings"),
        "the menu starts closed"
    );
    browser.click("#navbar_toggle");
    browser.wait_visible("#navbar_settings");
    browser.wait_visible("#logout_button");
    browser.click("#navbar_toggle");
    browser.wait_for(
        "the menu to close",
        "var e = document.getElementById('navbar_settings'); return !e.checkVisibility();",
    );
    browser.wait_visible("#sidebar_connection");
    browser.wait_visible("#tabs");
    let wide: bool = serde_json::from_value(
        browser.js("return document.documentElement.scrollWidth > window.innerWidth + 1;"),
    )
    .unwrap();
    assert!(!wide, "the page scrolls sideways on a phone");
    browser.assert_page_healthy("on a phone");
}
