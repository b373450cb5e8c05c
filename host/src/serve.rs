//! `plinth serve`: start every enabled plugin, run until Ctrl-C or SIGTERM,
//! then shut down in order. Plugin calls run on blocking threads, never on
//! the async runtime.

use crate::manager::PluginManager;

/// Where the server listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: String,
    pub port: u16,
}

/// Runs the host until a termination signal, then shuts down. Returns when
/// done. A second signal during shutdown exits at once.
pub fn run(manager: PluginManager, options: ServeOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        // Listen before starting: a signal that arrives during start-up still
        // leads to an orderly shutdown once start-up is done.
        let mut signals = Signals::new()?;
        let starting = manager.clone();
        let (host, port) = (options.host.clone(), options.port);
        tokio::task::spawn_blocking(move || starting.start(&host, port))
            .await
            .map_err(|e| format!("start-up failed: {e}"))?;
        let enabled = manager
            .plugins()
            .iter()
            .filter(|p| p.state == crate::State::Enabled)
            .count();
        tracing::info!(
            "Plinth started on {}:{} with {enabled} plugins enabled",
            options.host,
            options.port
        );
        signals.next().await;
        tracing::info!("shutting down (press Ctrl-C again to stop at once)");
        let stopping = tokio::task::spawn_blocking(move || manager.shutdown());
        tokio::select! {
            done = stopping => done.map_err(|e| format!("shutdown failed: {e}"))?,
            _ = signals.next() => {
                tracing::warn!("second signal: exiting without finishing the shutdown");
                std::process::exit(130);
            }
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// Ctrl-C and SIGTERM, listened to from the moment this is created.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate())
                .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
            let int = signal(SignalKind::interrupt())
                .map_err(|e| format!("cannot listen for SIGINT: {e}"))?;
            Ok(Self { term, int })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
