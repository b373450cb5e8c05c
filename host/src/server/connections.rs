//! Accepting and serving connections within limits no client can get around
//! (idle connections once piled up until no file descriptor was left):
//!
//! - the head of a request must arrive within `server.header_timeout`,
//!   counted from the connection opening or the previous answer: a connection
//!   that sends nothing, or half a head, is closed (this is also how long an
//!   idle keep-alive connection stays open);
//! - a request body, or an answer the client does not read, that moves no
//!   data for `server.stall_timeout` ends its connection;
//! - at most `server.max_connections` at once, WebSockets included: past it,
//!   the connection that has kept the server waiting the longest (idle
//!   between requests, or sending nothing of a request body it started) is
//!   closed to make room, and when every connection is busy with work of the
//!   server's the new one is answered 503 and closed;
//! - the soft open-files limit is raised to the hard one at start-up, and
//!   the connection limit kept below it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::config::host_settings::{HEADER_TIMEOUT, MAX_CONNECTIONS, STALL_TIMEOUT};
use crate::config::ConfigStore;

/// File descriptors kept for everything but connections (plugins, files, the config).
const RESERVED_FILES: u64 = 256;

/// The limits connections are served within.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// How long the head of a request may take to arrive.
    pub header_timeout: Duration,
    /// How long a request body or an answer may move no data.
    pub stall_timeout: Duration,
    /// The most connections served at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits set in the config; the connection limit stays
    /// [`RESERVED_FILES`] below `open_files` (the process's limit), if known.
    pub fn new(config: &ConfigStore, open_files: Option<u64>) -> Self {
        let wanted = MAX_CONNECTIONS.get(config);
        let fits = open_files.map_or(wanted, |limit| {
            wanted.min(limit.saturating_sub(RESERVED_FILES).max(2))
        });
        if fits < wanted {
            tracing::warn!(
                "serving at most {fits} connections, not {wanted}: the open-files limit is {}",
                open_files.unwrap_or_default()
            );
        }
        Self {
            header_timeout: HEADER_TIMEOUT.duration(config),
            stall_timeout: STALL_TIMEOUT.duration(config),
            max_connections: usize::try_from(fits).unwrap_or(usize::MAX),
        }
    }
}

/// Raises the soft open-files limit to the hard one; returns the soft limit
/// now in force (`None` where there is none to read).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => Some(limit),
            Err(e) => {
                tracing::warn!("cannot raise the open-files limit: {e}");
                rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// One connection being served.
struct Conn {
    /// Requests whose answer is not sent yet.
    busy: AtomicUsize,
    /// When the last answer was sent (or the connection opened).
    idle_since: Mutex<Instant>,
    /// Since when a request body has been waited for, if one is.
    body_wait: Mutex<Option<Instant>>,
    /// Upgraded to a WebSocket: no longer served by the connection task.
    upgraded: std::sync::atomic::AtomicBool,
    /// Told when the connection must close to make room.
    evict: Notify,
}

impl Conn {
    /// Since when the connection has kept the server waiting (idle, or
    /// sending nothing of a request body); `None` while the server works
    /// for it, or once it is a WebSocket.
    fn waiting_since(&self) -> Option<Instant> {
        if self.upgraded.load(Ordering::SeqCst) {
            None
        } else if self.busy.load(Ordering::SeqCst) == 0 {
            Some(*self.idle_since.lock().unwrap())
        } else {
            *self.body_wait.lock().unwrap()
        }
    }
}

/// A connection's place in the registry, given up when its socket closes
/// (the socket moves into a WebSocket's task when upgraded).
struct Slot {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// The connections being served.
#[derive(Default)]
struct Registry {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn add(self: &Arc<Self>) -> (Slot, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            body_wait: Mutex::new(None),
            upgraded: Default::default(),
            evict: Notify::new(),
        });
        self.live.lock().unwrap().insert(id, conn.clone());
        let slot = Slot {
            registry: self.clone(),
            id,
        };
        (slot, conn)
    }

    fn remove(&self, id: u64) {
        self.live.lock().unwrap().remove(&id);
    }

    fn count(&self) -> usize {
        self.live.lock().unwrap().len()
    }

    /// Tells the connection that has kept the server waiting the longest to
    /// close (it is forgotten at once); false when the server works for every
    /// connection.
    fn make_room(&self) -> bool {
        let mut live = self.live.lock().unwrap();
        let victim = live
            .iter()
            .filter_map(|(id, c)| Some((c.waiting_since()?, *id)))
            .min()
            .map(|(_, id)| id);
        match victim.and_then(|id| live.remove(&id)) {
            Some(conn) => {
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A request in flight on a connection, until its answer is sent or dropped.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: Arc<Conn>) -> Self {
        conn.busy.fetch_add(1, Ordering::SeqCst);
        Self(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.0.idle_since.lock().unwrap() = Instant::now();
        }
    }
}

/// An answer's body, keeping its connection busy while it is sent.
struct Answer {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Answer {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body: a stall ends it (`TimeoutBody`), and while it is waited
/// for, its connection counts as keeping the server waiting.
struct RequestBody {
    body: Pin<Box<TimeoutBody<Incoming>>>,
    conn: Arc<Conn>,
}

impl http_body::Body for RequestBody {
    type Data = axum::body::Bytes;
    type Error = tower_http::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let poll = self.body.as_mut().poll_frame(cx);
        let mut wait = self.conn.body_wait.lock().unwrap();
        match poll {
            Poll::Pending => {
                wait.get_or_insert_with(Instant::now);
            }
            Poll::Ready(_) => *wait = None,
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        *self.conn.body_wait.lock().unwrap() = None;
    }
}

/// A client connection whose writes fail once they make no progress for
/// `limit`: a client that stops reading its answer does not hold it for ever.
/// (Reads are bounded by the header timeout and the request body timeout.)
struct Stall {
    stream: TcpStream,
    limit: Duration,
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Held as long as the socket is open.
    _slot: Slot,
}

impl Stall {
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.waiting = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Stall {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stall {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` until `stop` turns true; then stops accepting,
/// lets every connection finish the request it is serving, and returns once
/// all are closed (the caller bounds that wait; dropping this future closes
/// whatever is left).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let registry = Arc::new(Registry::default());
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        accept_failed(e, &registry).await;
                        continue;
                    }
                };
                if registry.count() >= limits.max_connections && !registry.make_room() {
                    tasks.spawn(refuse(stream));
                    continue;
                }
                let (slot, conn) = registry.add();
                let (app, stop) = (app.clone(), stop.clone());
                tasks.spawn(serve_connection(stream, slot, peer, app, limits, conn, stop));
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

async fn serve_connection(
    stream: TcpStream,
    slot: Slot,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    conn: Arc<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Stall {
        stream,
        limit: limits.stall_timeout,
        waiting: None,
        _slot: slot,
    });
    let requests = conn.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::new(requests.clone());
        let conn = requests.clone();
        let mut request = request.map(|body| {
            Body::new(RequestBody {
                body: Box::pin(TimeoutBody::new(limits.stall_timeout, body)),
                conn: conn.clone(),
            })
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
            if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS {
                // The socket goes on in the WebSocket's task, still counted.
                conn.upgraded.store(true, Ordering::SeqCst);
            }
            Ok::<_, Infallible>(response.map(|body| Answer { body, _busy: busy }))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let connection = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            _ = stop.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            // Dropping the connection closes it.
            _ = conn.evict.notified() => break,
        }
    }
}

/// Answers a connection past the limit with 503 and closes it (after
/// reading what the client sent, so that it sees the answer, not a reset).
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"error": "the server is busy: every connection is in use; try again"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

/// After a failed accept: a client that gave up is nothing; running out of
/// file descriptors closes the connection that kept the server waiting the
/// longest, and waits a moment (the newcomer stays queued), logged.
async fn accept_failed(e: io::Error, registry: &Registry) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!("cannot accept a connection: {e}");
    registry.make_room();
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_made_by_closing_the_connection_that_kept_the_server_waiting_longest() {
        let registry = Arc::new(Registry::default());
        let (_a, first) = registry.add();
        std::thread::sleep(Duration::from_millis(5));
        let (_b, _second) = registry.add();
        let (_c, socket) = registry.add();
        socket.upgraded.store(true, Ordering::SeqCst);
        let busy = Busy::new(first.clone());
        assert!(registry.make_room(), "the second one is idle");
        assert_eq!(registry.count(), 2);
        assert!(
            !registry.make_room(),
            "the first one is busy, the third a WebSocket"
        );
        // A request body the client does not send keeps the server waiting.
        *first.body_wait.lock().unwrap() = Some(Instant::now());
        assert!(registry.make_room(), "waiting for a body");
        assert_eq!(registry.count(), 1);
        drop(busy);
    }

    #[test]
    fn a_connection_leaves_the_registry_when_its_socket_closes() {
        let registry = Arc::new(Registry::default());
        let (slot, _) = registry.add();
        assert_eq!(registry.count(), 1);
        drop(slot);
        assert_eq!(registry.count(), 0);
    }

    #[test]
    fn the_connection_limit_stays_below_the_open_files_limit() {
        let dir = tempfile::tempdir().unwrap();
        let config = ConfigStore::open(&dir.path().join("config.yaml")).unwrap();
        assert_eq!(Limits::new(&config, None).max_connections, 4096);
        assert_eq!(Limits::new(&config, Some(1024)).max_connections, 768);
        assert_eq!(Limits::new(&config, Some(100)).max_connections, 2);
        assert_eq!(
            Limits::new(&config, None).header_timeout,
            Duration::from_secs(10)
        );
    }
}
