//! `/ws`: the push channel. A logged-in client (session cookie, `X-Api-Key`,
//! or `?apikey=` since browsers cannot set headers on a WebSocket) receives
//! every event as `{"event": ["<name>", <payload>]}` and every plugin message
//! as `{"plugin": {"plugin": "<id>", "data": …}}`. A client that falls more
//! than 1,024 messages behind is told how many it missed: `{"dropped": n}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::auth::identify;
use super::{ApiError, App};

/// Upgrades an authenticated request to the push channel.
pub async fn ws(
    State(app): State<Arc<App>>,
    Query(query): Query<BTreeMap<String, String>>,
    mut headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Some(key) = query
        .get("apikey")
        .and_then(|k| HeaderValue::from_str(k).ok())
    {
        headers.insert("x-api-key", key);
    }
    let caller = match identify(&app, &headers).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let Some(name) = caller.name().map(str::to_owned) else {
        return ApiError::new(StatusCode::FORBIDDEN, "log in to use the push channel")
            .into_response();
    };
    let messages = app.manager.subscribe_push();
    upgrade.on_upgrade(move |socket| forward(socket, messages, name))
}

async fn forward(
    mut socket: WebSocket,
    mut messages: tokio::sync::broadcast::Receiver<crate::events::PushMessage>,
    user: String,
) {
    let hello =
        serde_json::json!({"connected": {"version": env!("CARGO_PKG_VERSION"), "user": user}})
            .to_string();
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            message = messages.recv() => {
                let text = match message {
                    Ok(text) => text.to_string(),
                    Err(RecvError::Lagged(n)) => serde_json::json!({"dropped": n}).to_string(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
