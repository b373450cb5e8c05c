//! Ctrl-C and SIGTERM.

/// Ctrl-C and SIGTERM, listened to from the moment this is created (the
/// process no longer dies of them: each one is a call to [`next`](Self::next)).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    pub fn new() -> Result<Self, super::ServeError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate())
                .map_err(|e| super::ServeError::Signals("SIGTERM", e))?;
            let int = signal(SignalKind::interrupt())
                .map_err(|e| super::ServeError::Signals("SIGINT", e))?;
            Ok(Self { term, int })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
