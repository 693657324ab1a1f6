//! GraphQL over HTTP: `POST /graphql` for everything, `GET /graphql` for queries only.
//!
//! A GET request can be triggered cross-site and is cached by intermediaries, so it must never
//! change data: mutations and subscriptions sent by GET are refused with 405 and `Allow: POST`.
//! A browser asking for HTML at `GET /graphql` gets the playground instead.

use super::AppState;
use super::playground;
use crate::auth::Session;
use crate::transaction::OperationTransaction;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let transaction = Arc::new(OperationTransaction::new(state.database.clone()));
    let mut request = request.into_inner().data(transaction.clone());
    let session_role = session.as_ref().map(|Extension(session)| session.role.clone());
    if let Some(Extension(session)) = session {
        request = request.data(session);
    }
    let mut response = state.schema_for(session_role.as_deref()).execute(request).await;
    transaction.finish(&mut response).await;
    response.into()
}

/// `GET /graphql?query=…&variables=…&operationName=…`, or the playground for a browser.
pub async fn get(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let query_string = uri.query().unwrap_or_default();
    if query_string.is_empty() && accepts_html(&headers) {
        return playground::page().await.into_response();
    }
    let request = match async_graphql::http::parse_query_string(query_string) {
        Ok(request) => request,
        Err(error) => return bad_request(&format!("invalid GraphQL GET request: {error}")),
    };
    if let Some(operation) = selected_operation_type(&request.query, request.operation_name.as_deref())
        && operation != OperationType::Query
    {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            axum::Json(json!({ "errors": [{
                "message": format!("{operation} operations must be sent with POST"),
                "extensions": { "code": "METHOD_NOT_ALLOWED" }
            }]})),
        )
            .into_response();
    }
    let role = session.as_ref().map(|Extension(session)| session.role.clone());
    let request = match session {
        Some(Extension(session)) => request.data(session),
        None => request,
    };
    GraphQLResponse::from(state.schema_for(role.as_deref()).execute(request).await).into_response()
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// The type of the operation a request would run, when the document parses and names one;
/// otherwise execution reports the problem itself.
fn selected_operation_type(query: &str, operation_name: Option<&str>) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] })),
    )
        .into_response()
}
