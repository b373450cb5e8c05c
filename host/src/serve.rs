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

/// Runs the host until a termination signal, then shuts down. Returns when done.
pub fn run(manager: PluginManager, options: ServeOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
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
        wait_for_termination().await;
        tracing::info!("shutting down");
        tokio::task::spawn_blocking(move || manager.shutdown())
            .await
            .map_err(|e| format!("shutdown failed: {e}"))?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
