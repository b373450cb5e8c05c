//! `plinth serve`: bind the listener, run `on_startup`, accept requests, run
//! `on_after_startup`; on Ctrl-C or SIGTERM stop accepting, let requests in
//! flight finish (at most [`DRAIN`]), stop the jobs and shut the plugins down
//! (at most [`JOBS_SHUTDOWN`] + [`PLUGIN_SHUTDOWN`]) and return; a second
//! signal exits at once. A signal during start-up lets the step running
//! finish (at most [`DRAIN`], else the process exits with 1, leaving the
//! start-up marker for safe mode next time), then shuts down. Whatever
//! plugins do (a call that never returns included), the process ends: the
//! runtime is not waited for on the way out.
//! Plugin calls run on blocking threads, never on the async runtime.

mod connections;
pub mod environment;
pub mod http;
mod signals;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use crate::plugins::manager::PluginManager;
use crate::server::http::{router, App};
use connections::Limits;
use signals::Signals;

/// Where the server listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    pub port: u16,
    /// Written when start-up begins, removed after the last `on_after_startup`:
    /// still there at the next start, it means that start-up did not finish.
    pub marker: Option<std::path::PathBuf>,
}

/// How long requests in flight may take to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(10);
/// How long running print and slicing jobs may take to stop at shutdown.
pub const JOBS_SHUTDOWN: Duration = Duration::from_secs(5);
/// How long the plugins' shutdown (the `Shutdown` event, `on_shutdown`,
/// calls still running) may take.
pub const PLUGIN_SHUTDOWN: Duration = Duration::from_secs(10);

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The async runtime did not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Signals cannot be listened for.
    #[error("cannot listen for {0}: {1}")]
    Signals(&'static str, std::io::Error),
    /// The address cannot be listened on.
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    /// The start-up marker cannot be written.
    #[error("cannot write {path}: {1}", path = .0.display())]
    Marker(std::path::PathBuf, std::io::Error),
    /// A start-up step in the host itself panicked or was cancelled.
    #[error("start-up failed: {0}")]
    StartUp(tokio::task::JoinError),
}

/// Runs the host until a termination signal, then shuts down. Returns when
/// done. A second signal during shutdown exits at once.
pub fn run(manager: PluginManager, options: ServeOptions) -> Result<(), ServeError> {
    let paths = manager.paths();
    tracing::info!(
        "base folder {} (bundled plugins from {})",
        paths.basedir.display(),
        paths.bundled.display()
    );
    for problem in crate::config::host_settings::problems(manager.config()) {
        tracing::warn!("{}: {problem}", paths.config_file().display());
    }
    let open_files = connections::raise_open_files_limit();
    let limits = Limits::new(manager.config(), open_files);
    // One worker more than there are cores: fast plugin calls run on the
    // workers themselves, at most one fewer than there are (see
    // `http::inline_calls`), so with two cores two calls may run at once
    // and a worker is still free for the network.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores + 1)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let outcome = runtime.block_on(serve(manager, options, limits));
    // Threads still inside a plugin call are not waited for.
    runtime.shutdown_background();
    outcome
}

async fn serve(
    manager: PluginManager,
    options: ServeOptions,
    limits: Limits,
) -> Result<(), ServeError> {
    // Listen for signals before anything else: one that arrives during
    // start-up still leads to an orderly shutdown once start-up is done.
    let mut signals = Signals::new()?;
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|e| ServeError::Listen(address.clone(), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(address.clone(), e))?
        .port();
    let host = options.host.clone();

    let crash_record = manager.paths().crash_record();
    if let Some(marker) = &options.marker {
        // It matters until the next start, so it is not synced (as OctoPrint
        // touches its flag): a power cut during start-up may lose it.
        crate::disk::write_replacing(marker, crate::plugins::startup::MARKER_TEXT.as_bytes())
            .map_err(|e| ServeError::Marker(marker.clone(), e))?;
        // A plugin that brings the host down in process is named at the next start.
        #[cfg(unix)]
        if let Err(e) = crate::plugins::ffi::crash::install(&crash_record) {
            tracing::warn!("cannot keep a crash record: {e}");
        }
    }
    let starting = manager.clone();
    let start_host = host.clone();
    let mut stop_asked = false;
    let startup = tokio::task::spawn_blocking(move || starting.startup(&start_host, port));
    start_up_step(startup, &mut signals, &mut stop_asked).await?;

    let app = Arc::new(App::new(manager.clone()));
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    app.loopback
        .store(loopback, std::sync::atomic::Ordering::Relaxed);
    let jobs = app.jobs.clone();
    let warm_app = app.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(connections::serve(
        listener,
        router(app.clone()),
        limits,
        stop_rx,
    ));
    tracing::info!("listening on http://{host}:{port}");
    tracing::info!(
        "limits: {} connections, {:?} for a request head, {:?} without data",
        limits.max_connections,
        limits.header_timeout,
        limits.stall_timeout
    );

    let after = manager.clone();
    let after_startup = tokio::task::spawn_blocking(move || after.after_startup());
    start_up_step(after_startup, &mut signals, &mut stop_asked).await?;
    if let Some(marker) = &options.marker {
        if let Err(e) = std::fs::remove_file(marker) {
            tracing::warn!("cannot remove {}: {e}", marker.display());
        }
    }
    let enabled = manager.count_in(crate::State::Enabled);
    tracing::info!("Plinth started on {host}:{port} with {enabled} plugins enabled");
    tokio::task::spawn_blocking(move || {
        let first_run = crate::server::web::first_run(&warm_app.manager, &warm_app.users);
        let cached = crate::server::web::index::warm(&warm_app.manager, &warm_app.web, first_run);
        if cached > 0 {
            tracing::info!("preemptively cached {cached} pages");
        }
    });

    if !stop_asked {
        signals.next().await;
    }
    tracing::info!("shutting down (press Ctrl-C again to stop at once)");
    let stopping = async move {
        let _ = stop_tx.send(true);
        let mut server = server;
        if tokio::time::timeout(DRAIN, &mut server).await.is_err() {
            // Requests still running stop here (a plugin call they wait for goes on).
            server.abort();
            tracing::warn!(
                "requests still running after {DRAIN:?}; shutting down without them{}",
                still_calling(&app)
            );
        }
        let plugins = tokio::task::spawn_blocking(move || {
            jobs.shutdown(JOBS_SHUTDOWN);
            manager.shutdown_within(PLUGIN_SHUTDOWN)
        });
        let limit = JOBS_SHUTDOWN + PLUGIN_SHUTDOWN + Duration::from_secs(1);
        if tokio::time::timeout(limit, plugins).await.is_err() {
            tracing::warn!(
                "the plugins did not finish shutting down within {PLUGIN_SHUTDOWN:?}; exiting without them{}",
                still_calling(&app)
            );
        }
    };
    tokio::select! {
        _ = stopping => {}
        _ = signals.next() => {
            tracing::warn!("second signal: exiting without finishing the shutdown");
            std::process::exit(130);
        }
    }
    #[cfg(unix)]
    if options.marker.is_some() {
        crate::plugins::ffi::crash::uninstall(&crash_record);
    }
    tracing::info!("stopped");
    Ok(())
}

/// Waits for a start-up step. A signal meanwhile asks for a shutdown once
/// the step is done: it may take [`DRAIN`] more, else the process exits (1);
/// a second signal exits at once (130).
async fn start_up_step(
    step: tokio::task::JoinHandle<()>,
    signals: &mut Signals,
    stop_asked: &mut bool,
) -> Result<(), ServeError> {
    let failed = ServeError::StartUp;
    tokio::pin!(step);
    if !*stop_asked {
        tokio::select! {
            done = &mut step => return done.map_err(failed),
            _ = signals.next() => {
                *stop_asked = true;
                tracing::warn!(
                    "signal during start-up: shutting down once this step is done \
                     (at most {DRAIN:?}; press Ctrl-C again to stop at once)"
                );
            }
        }
    }
    tokio::select! {
        done = tokio::time::timeout(DRAIN, &mut step) => match done {
            Ok(done) => done.map_err(failed),
            Err(_) => {
                tracing::error!(
                    "start-up did not finish within {DRAIN:?} of the signal (a plugin's \
                     on_startup or on_after_startup does not return); exiting"
                );
                std::process::exit(1);
            }
        },
        _ = signals.next() => {
            tracing::warn!("second signal: exiting without finishing the start-up");
            std::process::exit(130);
        }
    }
}

/// `: plugin `x` (2 calls still running), …` for the plugins with calls
/// from requests still running, or nothing.
fn still_calling(app: &App) -> String {
    let running: Vec<String> = app
        .in_flight
        .still_running()
        .into_iter()
        .map(|(id, n)| format!("plugin `{id}` ({n} calls still running)"))
        .collect();
    if running.is_empty() {
        String::new()
    } else {
        format!(": {}", running.join(", "))
    }
}
