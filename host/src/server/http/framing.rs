//! How push messages travel on a WebSocket: plain (`/ws`,
//! `/sockjs/websocket`: one JSON message per text frame) or in SockJS's
//! framing (`/sockjs/<server>/<session>/websocket`, what SockJS clients
//! and OctoPrint's own client libraries use): an `o` frame on opening,
//! messages as `a["<json>", …]`, `h` heartbeats, a `c[code, "reason"]`
//! frame before closing; the client sends a JSON array of message texts.

use axum::extract::ws::{Message, WebSocket};
use axum::Json;
use plinth_abi::{json, Value};

/// The framing of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One message per frame.
    Plain,
    /// SockJS's frames.
    SockJs,
}

/// What came from the client.
pub enum Incoming {
    /// Message texts (JSON), none for a frame that carries no message.
    Messages(Vec<String>),
    /// The client left.
    Closed,
}

/// A push channel's socket with its framing.
pub struct Channel {
    socket: WebSocket,
    framing: Framing,
}

impl Channel {
    /// Opens the channel (SockJS: the `o` frame); `None` when the client is gone.
    pub async fn open(mut socket: WebSocket, framing: Framing) -> Option<Self> {
        if framing == Framing::SockJs && socket.send(Message::Text("o".into())).await.is_err() {
            return None;
        }
        Some(Self { socket, framing })
    }

    /// Sends one message (JSON text); `false` when the client is gone.
    pub async fn send(&mut self, text: &str) -> bool {
        let frame = match self.framing {
            Framing::Plain => text.to_owned(),
            Framing::SockJs => format!("a[{}]", json!(text)),
        };
        self.socket.send(Message::Text(frame.into())).await.is_ok()
    }

    /// Keeps the connection alive (a ping; SockJS: also an `h` frame).
    pub async fn heartbeat(&mut self) -> bool {
        if self.framing == Framing::SockJs
            && self.socket.send(Message::Text("h".into())).await.is_err()
        {
            return false;
        }
        self.socket
            .send(Message::Ping(Default::default()))
            .await
            .is_ok()
    }

    /// Closes the channel (SockJS: with a `c` frame first).
    pub async fn close(mut self) {
        if self.framing == Framing::SockJs {
            let _ = self
                .socket
                .send(Message::Text(r#"c[3000,"Go away!"]"#.into()))
                .await;
        }
        let _ = self.socket.send(Message::Close(None)).await;
    }

    /// The next thing the client sent.
    pub async fn recv(&mut self) -> Incoming {
        match self.socket.recv().await {
            Some(Ok(Message::Text(text))) => Incoming::Messages(self.unframe(text.as_str())),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Incoming::Closed,
            Some(Ok(_)) => Incoming::Messages(Vec::new()),
        }
    }

    fn unframe(&self, text: &str) -> Vec<String> {
        match self.framing {
            Framing::Plain => vec![text.to_owned()],
            Framing::SockJs => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(items)) => items
                    .into_iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Ok(Value::String(one)) => vec![one],
                _ => Vec::new(),
            },
        }
    }
}

/// `GET /sockjs/info`: what SockJS clients ask before connecting.
pub async fn info() -> Json<Value> {
    Json(json!({
        "websocket": true,
        "origins": ["*:*"],
        "cookie_needed": false,
        "entropy": rand_entropy(),
    }))
}

fn rand_entropy() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id()
}
