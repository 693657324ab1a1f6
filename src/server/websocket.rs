//! GraphQL over WebSocket at `/graphql/ws` (`graphql-transport-ws` and the legacy `graphql-ws`),
//! authenticated from the `connection_init` payload (`{"Authorization": "Bearer …"}`, optionally
//! `"X-Role"`) with the same rules as HTTP.
//!
//! async-graphql-axum's `GraphQLWebSocket` runs the protocol's messages; this module owns the
//! connection around it, because
//! the protocol asks for more than async-graphql does: the close codes of `graphql-transport-ws`
//! (4400 invalid message, 4401 a subscribe before `connection_ack` or an expired token, 4403 a
//! refused `connection_init`, 4408 no `connection_init` within `GATEWAY_WS_INIT_TIMEOUT`, 4409 an
//! operation id already in use, 4429 a second `connection_init`), server keep-alive pings (the
//! protocol's and WebSocket ones) and closing a connection that answers none of them
//! (`GATEWAY_WS_IDLE_TIMEOUT`, 1001: a dead peer, or frames dripped too slowly to complete), a
//! limit on subscriptions per connection, and closing a consumer too slow to keep up (1008)
//! instead of buffering for it.

use super::AppState;
use crate::auth::{Authenticator, Session};
use crate::changes::Channel;
use crate::error::ErrorCode;
use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Close code for a rejected `connection_init` (graphql-transport-ws: Forbidden).
const FORBIDDEN: u16 = 4403;
/// Close code for an expired token, or a subscribe before `connection_ack` (Unauthorized).
const UNAUTHORIZED: u16 = 4401;
/// Close code for a message that is not valid for the protocol.
const BAD_MESSAGE: u16 = 4400;
/// Close code when `connection_init` does not arrive in time.
const INIT_TIMEOUT: u16 = 4408;
/// Close code for a subscribe whose id is already in use.
const DUPLICATE_ID: u16 = 4409;
/// Close code when the gateway shuts down: reconnect elsewhere.
const GOING_AWAY: u16 = 1001;
/// Close code for a message larger than `GATEWAY_MAX_BODY_BYTES`.
const MESSAGE_TOO_BIG: u16 = 1009;
/// async-graphql closes with the generic protocol-error code, which the protocol refines.
const PROTOCOL_ERROR: u16 = 1002;
/// async-graphql's code for a subscribe before the handshake completed.
const HANDSHAKE_INCOMPLETE: u16 = 1011;
/// How long a closing frame may take to send to a client that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Read and write buffer of each connection.
const SOCKET_BUFFER: usize = 8 * 1024;

/// WebSocket timeouts and limits.
#[derive(Debug, Clone)]
pub struct Options {
    pub init_timeout: Duration,
    /// Ping interval; zero sends none.
    pub keepalive: Duration,
    /// A connection that sends no frame at all (no message, no pong) this long is closed; zero,
    /// or no keep-alive pings to answer, is never.
    pub idle_timeout: Duration,
    pub max_subscriptions: usize,
    /// Most live queries among them.
    pub max_live_queries: usize,
    /// Most summed cost of its subscriptions.
    pub max_cost: u64,
}

impl From<&crate::config::SubscriptionArgs> for Options {
    fn from(args: &crate::config::SubscriptionArgs) -> Self {
        Self {
            init_timeout: args.ws_init_timeout,
            keepalive: args.ws_keepalive,
            idle_timeout: args.ws_idle_timeout,
            max_subscriptions: args.max_subscriptions_per_connection,
            max_live_queries: args.max_live_queries_per_connection,
            max_cost: args.max_subscription_cost_per_connection,
        }
    }
}

type Close = Option<(u16, String)>;

/// `GET /graphql/ws`.
pub async fn upgrade(State(state): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let upgrade_authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    // The same choice axum makes for the handshake: our preference among those offered.
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let Some(name) = ALL_WEBSOCKET_PROTOCOLS.iter().find(|name| offered.contains(name)) else {
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    // Small buffers: most of a subscriber's memory is its connection's (tungstenite's defaults are
    // 128 KiB each way); a message is bounded like a request body.
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .max_message_size(state.http.max_body_bytes)
        .max_frame_size(state.http.max_body_bytes)
        .on_upgrade(move |socket| serve(state, name, upgrade_authorization, socket))
}

/// The `type` and `id` of a protocol message.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// async-graphql-axum's protocol for `name`, one of [`ALL_WEBSOCKET_PROTOCOLS`]. Its extractor
/// takes the client's first choice, while the handshake answers with the server's: it is given
/// exactly the protocol the handshake chose.
async fn graphql_protocol(name: &str) -> Option<GraphQLProtocol> {
    let request = axum::http::Request::builder()
        .header(header::SEC_WEBSOCKET_PROTOCOL, name)
        .body(())
        .ok()?;
    let (mut parts, ()) = request.into_parts();
    GraphQLProtocol::from_request_parts(&mut parts, &()).await.ok()
}

async fn serve(state: AppState, name: &'static str, upgrade_authorization: Option<String>, socket: WebSocket) {
    let options = state.websocket.clone();
    let Some(protocol) = graphql_protocol(name).await else {
        return;
    };
    let modern = WebSocketProtocols::from_str(name).is_ok_and(|protocol| protocol == WebSocketProtocols::GraphQLWS);
    let (mut sink, stream) = socket.split();
    let (close_tx, mut close_rx) = watch::channel::<Close>(None);
    let close_tx = Arc::new(close_tx);
    let channel = {
        let close_tx = close_tx.clone();
        Arc::new(Channel::new(
            options.max_subscriptions,
            options.max_live_queries,
            options.max_cost,
            move |code, reason| {
                let _ = close_tx.send(Some((code, reason)));
            },
        ))
    };
    let mut connection_data = Data::default();
    connection_data.insert(channel);

    // Operation ids in use: a second subscribe with one of them closes the connection (4409).
    let active = Arc::new(Mutex::new(HashSet::<String>::new()));
    // When the last whole frame arrived (ms since `opened`): pongs count, a frame dripped byte by
    // byte does not until it is complete.
    let opened = tokio::time::Instant::now();
    let last_frame = Arc::new(AtomicU64::new(0));
    let input = incoming(
        stream,
        modern,
        active.clone(),
        opened,
        last_frame.clone(),
        close_tx.clone(),
    );

    let (expiry_tx, expiry_rx) = watch::channel::<Option<u64>>(None);
    let rejected = Arc::new(AtomicBool::new(false));
    let initialized = Arc::new(AtomicBool::new(false));
    let authenticator = state.authenticator.clone();
    // async-graphql-axum runs the protocol; what it sends comes through `outgoing` (one message at
    // a time, so a client that does not read still holds the protocol back), and this loop adds
    // the close codes, pings and limits around it.
    let (outgoing_tx, mut outgoing_rx) = tokio::sync::mpsc::channel::<Message>(1);
    let outgoing_sink = futures_util::sink::unfold(outgoing_tx, |sender, message: Message| async move {
        sender.send(message).await.map(|()| sender)
    });
    let serving = {
        let rejected = rejected.clone();
        let initialized = initialized.clone();
        GraphQLWebSocket::new_with_pair(outgoing_sink, input, RoleSchemas(state.clone()), protocol)
            .with_data(connection_data)
            .on_connection_init(move |payload| {
                initialize(
                    authenticator,
                    payload,
                    upgrade_authorization,
                    expiry_tx,
                    rejected,
                    initialized,
                )
            })
            .serve()
    };
    futures_util::pin_mut!(serving);
    let mut served = false;
    // Operations answered with the protocol's `error` message, whose `complete` is dropped.
    let mut refused = HashSet::<String>::new();
    let mut stopping = state.lifecycle.stopping.subscribe();
    let _open = OpenSocket::count(&state.lifecycle.open_sockets);
    let expiry = token_expiry(expiry_rx);
    futures_util::pin_mut!(expiry);
    let init_deadline = tokio::time::sleep(options.init_timeout);
    futures_util::pin_mut!(init_deadline);
    let mut init_pending = true;
    let keepalive_every = if options.keepalive.is_zero() {
        Duration::from_secs(u64::from(u32::MAX))
    } else {
        options.keepalive
    };
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + keepalive_every, keepalive_every);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Pings at the WebSocket level too, half a period after the protocol's: every client answers
    // them (browsers and `ws` by themselves), so a live connection always sends frames, and
    // one that sends none for `idle_timeout` is dead or stalling and is closed.
    let mut probe = tokio::time::interval_at(tokio::time::Instant::now() + keepalive_every / 2, keepalive_every);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_checks = !options.keepalive.is_zero() && !options.idle_timeout.is_zero();
    // At least two pings (and a second to answer) before a connection counts as silent.
    let idle_timeout = options
        .idle_timeout
        .max(options.keepalive.saturating_mul(2) + Duration::from_secs(1));
    let mut idle_check = tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(50)));
    let ping = if modern {
        r#"{"type":"ping"}"#
    } else {
        r#"{"type":"ka"}"#
    };

    let close: Close = loop {
        let outgoing = tokio::select! {
            () = &mut serving, if !served => {
                served = true;
                continue;
            }
            message = outgoing_rx.recv() => match message {
                None => break None,
                Some(Message::Text(text)) => match outgoing_text(text, modern, &active, &mut refused) {
                    Some(text) => Message::Text(text),
                    None => continue,
                },
                Some(Message::Close(frame)) => break Some(close_of(frame, rejected.load(Ordering::Relaxed))),
                Some(_) => continue,
            },
            _ = keepalive.tick(), if !options.keepalive.is_zero() && initialized.load(Ordering::Relaxed) => {
                Message::Text(ping.into())
            }
            _ = probe.tick(), if !options.keepalive.is_zero() => Message::Ping(axum::body::Bytes::new()),
            _ = idle_check.tick(), if idle_checks => {
                let silent = opened.elapsed().saturating_sub(Duration::from_millis(last_frame.load(Ordering::Relaxed)));
                if silent <= idle_timeout {
                    continue;
                }
                break Some((GOING_AWAY, format!("no frame for {} s (GATEWAY_WS_IDLE_TIMEOUT)", silent.as_secs())));
            }
            () = &mut init_deadline, if init_pending => {
                init_pending = false;
                if initialized.load(Ordering::Relaxed) {
                    continue;
                }
                break Some((INIT_TIMEOUT, "Connection initialisation timeout".into()));
            }
            () = &mut expiry => break Some((UNAUTHORIZED, "the token has expired".into())),
            _ = close_rx.changed() => break close_rx.borrow().clone(),
            _ = stopping.wait_for(|stopping| *stopping) => {
                break Some((GOING_AWAY, "the gateway is shutting down".into()));
            }
        };
        // A client that stops reading blocks this send; a close request (a slow consumer) still ends it.
        let sending = tokio::time::Instant::now();
        tokio::select! {
            sent = sink.send(outgoing) => {
                if sent.is_err() {
                    break None;
                }
                // Frames are not read while a send waits for the client: that time is not silence.
                let waited = sending.elapsed();
                if waited > Duration::from_millis(100) {
                    last_frame.fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
                }
            }
            _ = close_rx.changed() => break close_rx.borrow().clone(),
            () = &mut expiry => break Some((UNAUTHORIZED, "the token has expired".into())),
            // A peer that takes nothing for that long (a dead one with a full buffer) is gone.
            () = tokio::time::sleep(idle_timeout), if idle_checks => break None,
        }
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(frame)).await;
    }
}

/// The client's frames as async-graphql gets them: a read error (a message over
/// `GATEWAY_MAX_BODY_BYTES`) ends the connection with 1009 instead of silence; every whole frame
/// marks when the connection last spoke (`last_frame`, ms since `opened`: pongs count, a frame
/// dripped byte by byte does not until it is complete); on graphql-transport-ws (`modern`) a
/// `subscribe` with an id in use closes the connection with 4409, and ids are tracked in `active`.
fn incoming(
    stream: futures_util::stream::SplitStream<WebSocket>,
    modern: bool,
    active: Arc<Mutex<HashSet<String>>>,
    opened: tokio::time::Instant,
    last_frame: Arc<AtomicU64>,
    close_tx: Arc<watch::Sender<Close>>,
) -> impl futures_util::Stream<Item = Result<Message, axum::Error>> + Send + 'static {
    let too_big = close_tx.clone();
    stream
        .take_while(move |message| {
            if let Err(error) = message {
                tracing::debug!(%error, "WebSocket read failed");
                let _ = too_big.send(Some((MESSAGE_TOO_BIG, "the message is too big".into())));
            }
            futures_util::future::ready(message.is_ok())
        })
        .filter_map(move |message| {
            last_frame.store(opened.elapsed().as_millis() as u64, Ordering::Relaxed);
            let forward = match &message {
                Ok(Message::Text(text)) => Some(text.as_bytes()),
                Ok(Message::Binary(bytes)) => Some(bytes.as_ref()),
                _ => None,
            }
            .is_none_or(|bytes| {
                if !modern {
                    return true;
                }
                let Ok(Envelope { kind, id: Some(id) }) = serde_json::from_slice::<Envelope>(bytes) else {
                    return true;
                };
                let mut active = active.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                match kind.as_str() {
                    "subscribe" if !active.insert(id.clone()) => {
                        let _ = close_tx.send(Some((DUPLICATE_ID, format!("Subscriber for {id} already exists"))));
                        false
                    }
                    "complete" => {
                        active.remove(&id);
                        true
                    }
                    _ => true,
                }
            });
            futures_util::future::ready(forward.then_some(message))
        })
}

/// What async-graphql's text message becomes on the wire; `None`: nothing is sent. On
/// graphql-transport-ws (`modern`) a document that cannot run is answered with the protocol's
/// `error` message and the `complete` async-graphql sends after it is dropped (`refused` holds
/// those ids until then); an operation that ends leaves `active`.
fn outgoing_text(
    text: axum::extract::ws::Utf8Bytes,
    modern: bool,
    active: &Mutex<HashSet<String>>,
    refused: &mut HashSet<String>,
) -> Option<axum::extract::ws::Utf8Bytes> {
    if !modern {
        return Some(text);
    }
    let text = match protocol_error(&text) {
        Some((id, error)) => {
            active
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&id);
            refused.insert(id);
            error.into()
        }
        None if text.starts_with(r#"{"type":"complete""#)
            && serde_json::from_str::<Envelope>(&text)
                .is_ok_and(|envelope| envelope.id.is_some_and(|id| refused.remove(&id))) =>
        {
            // `error` ended the operation: no `complete` follows it.
            return None;
        }
        None => text,
    };
    if (text.starts_with(r#"{"type":"complete""#) || text.starts_with(r#"{"type":"error""#))
        && let Ok(Envelope { id: Some(id), .. }) = serde_json::from_str::<Envelope>(&text)
    {
        active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&id);
    }
    Some(text)
}

/// The close code and reason for the close frame async-graphql asked for: its generic protocol
/// error becomes 4403 after a refused `connection_init` (`rejected`), 4400 otherwise, and an
/// incomplete handshake 4401.
fn close_of(frame: Option<CloseFrame>, rejected: bool) -> (u16, String) {
    let (code, reason) = frame.map_or((PROTOCOL_ERROR, String::new()), |frame| {
        (frame.code, frame.reason.to_string())
    });
    let code = match code {
        PROTOCOL_ERROR if rejected => FORBIDDEN,
        PROTOCOL_ERROR => BAD_MESSAGE,
        HANDSHAKE_INCOMPLETE => UNAUTHORIZED,
        other => other,
    };
    (code, reason)
}

/// graphql-transport-ws answers a document that cannot run (it does not parse or validate) with an
/// `error` message carrying the errors, not `next` + `complete` as async-graphql sends: the message
/// to send instead, and its operation id.
fn protocol_error(text: &str) -> Option<(String, String)> {
    if !text.starts_with(r#"{"type":"next""#) || !text.contains("GRAPHQL_") {
        return None;
    }
    let message: Value = serde_json::from_str(text).ok()?;
    let id = message["id"].as_str()?.to_owned();
    let payload = &message["payload"];
    let errors = payload["errors"].as_array()?;
    let invalid = payload.get("data").is_none_or(Value::is_null)
        && !errors.is_empty()
        && errors.iter().all(|error| {
            matches!(
                error["extensions"]["code"].as_str(),
                Some("GRAPHQL_PARSE_FAILED" | "GRAPHQL_VALIDATION_FAILED")
            )
        });
    invalid.then(|| {
        let error = serde_json::json!({ "type": "error", "id": id, "payload": errors });
        (id, error.to_string())
    })
}

/// Counts a WebSocket connection as open while it lives.
struct OpenSocket<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> OpenSocket<'a> {
    fn count(open: &'a std::sync::atomic::AtomicUsize) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(open)
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs each operation of a connection on the schema of the role its `connection_init`
/// authenticated, as HTTP does per request: the role's view and its introspection setting. A
/// query or mutation gets HTTP's guards too: admission (`GATEWAY_MAX_CONCURRENT_REQUESTS`), the
/// request timeout, one transaction for all its mutation fields and the response bound.
#[derive(Clone)]
struct RoleSchemas(AppState);

/// A response with one coded error.
fn refusal(code: ErrorCode, message: String) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![code.error(message).into_server_error(Default::default())])
}

impl async_graphql::Executor for RoleSchemas {
    /// Not used by the WebSocket protocol (it runs everything through `execute_stream`); without
    /// session data there is no role, which is the unrestricted schema, as for HTTP.
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self.0.schema_for(None) {
            Ok(schema) => schema.execute(request).await,
            Err(error) => refusal(error.code(), error.to_string()),
        }
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        let state = self.0.clone();
        let session = session_data
            .as_ref()
            .and_then(|data| data.get(&std::any::TypeId::of::<Session>()))
            .and_then(|session| session.downcast_ref::<Session>())
            .cloned();
        let schema = match state.schema_for(session.as_ref().map(|session| session.role.as_str())) {
            Ok(schema) => schema,
            Err(error) => {
                return futures_util::stream::once(async move { refusal(error.code(), error.to_string()) }).boxed();
            }
        };
        // The nesting bound comes before the parser; the schema's limits refuse what fails it.
        let name = request.operation_name.clone();
        let within_nesting =
            crate::schema::limits::check_nesting(&request.query, state.pipeline.limits.nesting).is_ok();
        let subscription = !within_nesting
            || request.parsed_query().map_or(true, |document| {
                super::pipeline::selected_operation_type(document, name.as_deref())
                    .is_none_or(|kind| kind == async_graphql::parser::types::OperationType::Subscription)
            });
        if !subscription {
            // A query or mutation runs through the same pipeline as over HTTP, in a slot of its own.
            return futures_util::stream::once(async move {
                let _permit = match state.pipeline.bounds.admit().await {
                    Ok(permit) => permit,
                    Err(error) => return refusal(error.code(), error.to_string()),
                };
                let (body, _) = super::pipeline::run(&state, session.as_ref(), request).await;
                answer(&body)
            })
            .boxed();
        }
        // A subscription's cost is checked here, with what the fields return, and counted against
        // the connection's and the role's subscriptions.
        if within_nesting {
            let variables = request.variables.clone();
            if let Ok(document) = request.parsed_query() {
                match state
                    .pipeline
                    .limits
                    .check_with(document, &variables, Some(&state.engine))
                {
                    Ok(cost) => {
                        request = request
                            .data(crate::schema::limits::LimitsChecked)
                            .data(crate::changes::SubscriptionCost(cost));
                    }
                    Err(error) => {
                        let mut response = async_graphql::Response::default();
                        response.errors.push(error);
                        return futures_util::stream::once(async move { response }).boxed();
                    }
                }
            }
        }
        schema
            .clone()
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .boxed()
    }
}

/// The pipeline's JSON answer as the protocol's GraphQL response (its data and errors, parsed
/// once: the protocol's messages are built from GraphQL values).
fn answer(body: &str) -> async_graphql::Response {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        data: async_graphql::Value,
        #[serde(default)]
        errors: Vec<async_graphql::ServerError>,
    }
    match serde_json::from_str::<Answer>(body) {
        Ok(Answer { data, errors }) => {
            let mut response = async_graphql::Response::new(data);
            response.errors = errors;
            response
        }
        Err(_) => refusal(ErrorCode::InternalServerError, "internal error".into()),
    }
}

/// Resolves when the token announced through `expiry` runs out (never without one).
async fn token_expiry(mut expiry: watch::Receiver<Option<u64>>) {
    loop {
        let deadline = *expiry.borrow_and_update();
        if let Some(at) = deadline {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            tokio::time::sleep(Duration::from_secs(at.saturating_sub(now))).await;
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
    upgrade_authorization: Option<String>,
    expiry: watch::Sender<Option<u64>>,
    rejected: Arc<AtomicBool>,
    initialized: Arc<AtomicBool>,
) -> async_graphql::Result<Data> {
    initialized.store(true, Ordering::Relaxed);
    // The credentials clients send: `Authorization` (also under `headers`), Apollo's `authToken`,
    // or, when the payload has none, the upgrade request's `Authorization` header.
    let token = entry(&payload, "authorization")
        .or_else(|| entry(&payload, "authToken"))
        .or(upgrade_authorization.as_deref())
        .map(|value| {
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
