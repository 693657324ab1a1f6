//! GraphQL over WebSocket at `/graphql/ws` (`graphql-transport-ws` and the legacy `graphql-ws`),
//! authenticated from the `connection_init` payload (`{"Authorization": "Bearer …"}`, optionally
//! `"X-Role"`) with the same rules as HTTP.

use super::AppState;
use crate::auth::Authenticator;
use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

/// `GET /graphql/ws`.
pub async fn upgrade(State(state): State<AppState>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    let authenticator = state.authenticator.clone();
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |stream| {
        GraphQLWebSocket::new(stream, state.schema.clone(), protocol)
            .on_connection_init(move |payload| initialize(authenticator, payload))
            .serve()
    })
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

async fn initialize(authenticator: Arc<Authenticator>, payload: Value) -> async_graphql::Result<Data> {
    let token = entry(&payload, "authorization").map(|value| {
        value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or(value)
    });
    let session = authenticator
        .session(token, entry(&payload, "x-role"))
        .await
        .map_err(|error| async_graphql::Error::new(error.to_string()))?;
    let mut data = Data::default();
    if let Some(session) = session {
        data.insert(session);
    }
    Ok(data)
}
