//! GraphQL over WebSocket at `/graphql/ws` (`graphql-transport-ws` and the legacy `graphql-ws`),
//! authenticated from the `connection_init` payload (`{"Authorization": "Bearer …"}`, optionally
//! `"X-Role"`) with the same rules as HTTP.
//!
//! Close codes of `graphql-transport-ws`: 4400 for an invalid message, 4403 when `connection_init`
//! is refused, 4408 when it does not come within `GATEWAY_WS_INIT_TIMEOUT`, 4429 for a second
//! `connection_init` (async-graphql's own), and 4401 when the token expires mid-connection, so a
//! long-lived subscription cannot outlive its credentials.

use super::AppState;
use crate::auth::{Authenticator, Session};
use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Close code for a rejected `connection_init` (graphql-transport-ws: Forbidden).
const FORBIDDEN: u16 = 4403;
/// Close code when the token expires during the connection (Unauthorized).
const UNAUTHORIZED: u16 = 4401;
/// Close code for a message that is not valid for the protocol.
const BAD_MESSAGE: u16 = 4400;
/// Close code when `connection_init` does not arrive in time.
const INIT_TIMEOUT: u16 = 4408;
/// async-graphql closes with the generic protocol-error code, which the protocol refines.
const PROTOCOL_ERROR: u16 = 1002;

/// `GET /graphql/ws`.
pub async fn upgrade(State(state): State<AppState>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(state, protocol, socket))
}

async fn serve(state: AppState, protocol: GraphQLProtocol, socket: WebSocket) {
    let (mut sink, stream) = socket.split();
    let (expiry_tx, expiry_rx) = watch::channel::<Option<u64>>(None);
    let rejected = Arc::new(AtomicBool::new(false));
    let expired = Arc::new(AtomicBool::new(false));
    let initialized = Arc::new(AtomicBool::new(false));
    let init_timed_out = Arc::new(AtomicBool::new(false));
    let deadline = init_deadline(state.ws_init_timeout, initialized.clone(), init_timed_out.clone());
    let stop = futures_util::future::select(Box::pin(token_expiry(expiry_rx, expired.clone())), Box::pin(deadline));
    let input = stream.take_until(stop);
    {
        // A failed init is closed by async-graphql with 1002; say what it is: 4403.
        let init_failed = rejected.clone();
        let mut output = (&mut sink).with(move |message: Message| {
            let message = match message {
                Message::Close(Some(frame)) if frame.code == PROTOCOL_ERROR => {
                    let code = if init_failed.load(Ordering::Relaxed) {
                        FORBIDDEN
                    } else {
                        BAD_MESSAGE
                    };
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: frame.reason,
                    }))
                }
                other => other,
            };
            futures_util::future::ready(Ok::<_, axum::Error>(message))
        });
        let authenticator = state.authenticator.clone();
        GraphQLWebSocket::new_with_pair(&mut output, input, state.schema.clone(), protocol)
            .on_connection_init(move |payload| initialize(authenticator, payload, expiry_tx, rejected, initialized))
            .serve()
            .await;
    }
    let frame = if expired.load(Ordering::Relaxed) {
        Some(CloseFrame {
            code: UNAUTHORIZED,
            reason: "the token has expired".into(),
        })
    } else if init_timed_out.load(Ordering::Relaxed) {
        Some(CloseFrame {
            code: INIT_TIMEOUT,
            reason: "connection initialisation timeout".into(),
        })
    } else {
        None
    };
    if let Some(frame) = frame {
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
}

/// Resolves when `connection_init` has not arrived within `timeout` (never once it has).
async fn init_deadline(timeout: Duration, initialized: Arc<AtomicBool>, timed_out: Arc<AtomicBool>) {
    tokio::time::sleep(timeout).await;
    if initialized.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
    timed_out.store(true, Ordering::Relaxed);
}

/// Resolves when the token announced through `expiry` runs out (never without one).
async fn token_expiry(mut expiry: watch::Receiver<Option<u64>>, expired: Arc<AtomicBool>) {
    loop {
        let deadline = *expiry.borrow_and_update();
        if let Some(at) = deadline {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            tokio::time::sleep(Duration::from_secs(at.saturating_sub(now))).await;
            expired.store(true, Ordering::Relaxed);
            return;
        }
        if expiry.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A header-like entry of the `connection_init` payload, at the top level or under `headers`.
fn entry<'a>(payload: &'a Value, name: &str) -> Option<&'a str> {
    let find = |object: &'a Value| {
        object
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    };
    find(payload).or_else(|| payload.get("headers").and_then(find))
}

async fn initialize(
    authenticator: Arc<Authenticator>,
    payload: Value,
    expiry: watch::Sender<Option<u64>>,
    rejected: Arc<AtomicBool>,
    initialized: Arc<AtomicBool>,
) -> async_graphql::Result<Data> {
    initialized.store(true, Ordering::Relaxed);
    let token = entry(&payload, "authorization").map(|value| {
        value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or(value)
    });
    let session: Option<Session> = match authenticator.session(token, entry(&payload, "x-role")).await {
        Ok(session) => session,
        Err(error) => {
            rejected.store(true, Ordering::Relaxed);
            return Err(async_graphql::Error::new(error.to_string()));
        }
    };
    let mut data = Data::default();
    if let Some(session) = session {
        let _ = expiry.send(session.expires_at);
        data.insert(session);
    }
    Ok(data)
}
