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
        // Listen before starting: a signal that arrives during start-up still
        // leads to an orderly shutdown once start-up is done.
        let termination = termination_signal()?;
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
        termination.await;
        tracing::info!("shutting down");
        tokio::task::spawn_blocking(move || manager.shutdown())
            .await
            .map_err(|e| format!("shutdown failed: {e}"))?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// A future that completes on Ctrl-C or SIGTERM; the handlers are installed at once.
fn termination_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| format!("cannot listen for SIGINT: {e}"))?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let ctrl_c = tokio::signal::ctrl_c();
        Ok(async move {
            let _ = ctrl_c.await;
        })
    }
}
