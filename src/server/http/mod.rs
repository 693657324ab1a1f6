//! GraphQL over HTTP, per the graphql-over-http specification: `POST /graphql` (a JSON request or
//! a batch) and `GET /graphql` (queries only).
//!
//! The stock async-graphql-axum handler answers in the wrong media type, reads bodies without a
//! limit, runs mutations sent as `text/plain` and accepts unbounded batches, so requests are read
//! here: bodies are read up to `GATEWAY_MAX_BODY_BYTES`, only `application/json` bodies run, the
//! response is `application/graphql-response+json` (with 400 for requests that cannot run) or
//! `application/json` (always 200) as `Accept` asks, and every refusal is a JSON error with
//! `extensions.code`. CSRF: a GET carries no content type a browser would have to preflight, so
//! one that carries cookies (the ambient credential a proxy in front might act on) runs only with
//! one of the configured headers (Apollo Router's rule); without cookies it can act only as its
//! token, which a cross-site page cannot attach, or as the anonymous role, so it runs (urql and
//! Apollo send queries as GET). A POST runs only as `application/json`, which browsers cannot send
//! cross-site without a preflight. A GET never
//! runs a mutation (405, `Allow: POST`). A browser asking for HTML gets the playground.

mod body;
mod persisted;
pub(super) mod request;

pub use persisted::{PersistedQueries, SafelistError};

use super::AppState;
use super::pipeline::{self, Outcome};
use super::playground;
use crate::auth::Session;
use crate::error::ErrorCode;
use crate::schema::limits::check_nesting;
use async_graphql::parser::types::OperationType;
use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The response media types of the specification.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// HTTP's own settings (the pipeline's, shared with the WebSocket, are `pipeline::Settings`).
pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub max_batch: usize,
    /// Headers one of which a GET must carry; `None` turns CSRF prevention off.
    pub csrf_headers: Option<Vec<String>>,
    /// Whether browsers asking for HTML get the playground.
    pub playground: bool,
    /// Longest a client may take to send its body.
    pub body_timeout: std::time::Duration,
    /// Automatic persisted queries and the safelist.
    pub persisted: PersistedQueries,
    /// The bearer token `/metrics` requires, when set.
    pub metrics_token: Option<String>,
}

impl HttpOptions {
    /// HTTP's settings from `http`, with persisted queries and the safelist of `operations`.
    pub fn new(
        http: &crate::config::HttpArgs,
        operations: &crate::config::OperationArgs,
    ) -> Result<Self, SafelistError> {
        Ok(Self {
            max_body_bytes: http.max_body_bytes,
            max_batch: http.max_batch,
            csrf_headers: http.csrf_prevention.then(|| http.csrf_required_headers.clone()),
            playground: http.playground,
            body_timeout: http.body_timeout,
            persisted: PersistedQueries::new(
                operations.apq_cache_size,
                operations.safelist_file.as_deref(),
                operations.safelist_roles.clone(),
            )?,
            metrics_token: http.metrics_token.clone(),
        })
    }
}

/// A request refused before GraphQL runs; its code decides the status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    code: ErrorCode,
    message: String,
}

impl HttpError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: String) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let mut response = (status, [(header::CONTENT_TYPE, JSON)], self.code.body(&self.message)).into_response();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// The media type to answer in, from `Accept` (none, `*/*` or `application/*` mean JSON).
fn response_type(headers: &HeaderMap) -> Result<&'static str, HttpError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|accept| accept.to_str().ok()) else {
        return Ok(JSON);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|item| item.split(';').next().unwrap_or_default().trim())
        .filter(|item| !item.is_empty())
        .collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Ok(GRAPHQL_RESPONSE)
    } else if types.iter().any(|item| matches!(*item, JSON | "*/*" | "application/*")) || types.is_empty() {
        Ok(JSON)
    } else {
        Err(HttpError::new(
            ErrorCode::NotAcceptable,
            format!("responses are {GRAPHQL_RESPONSE} or {JSON}; Accept asks for `{accept}`"),
        ))
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn respond(state: &AppState, media_type: &'static str, results: Vec<(String, Outcome)>, batch: bool) -> Response {
    // application/json is 200 for anything GraphQL answered; graphql-response+json says 400 when a
    // request could not run. A timeout is 504 either way.
    let outcome = if batch {
        Outcome::Ran
    } else {
        results.first().map(|(_, outcome)| *outcome).unwrap_or(Outcome::Ran)
    };
    let body = if batch {
        format!(
            "[{}]",
            results.into_iter().map(|(body, _)| body).collect::<Vec<_>>().join(",")
        )
    } else {
        results.into_iter().next().map(|(body, _)| body).unwrap_or_default()
    };
    let status = match outcome {
        Outcome::TimedOut => ErrorCode::Timeout.status(),
        Outcome::Aborted => ErrorCode::ShuttingDown.status(),
        Outcome::Unavailable if media_type == GRAPHQL_RESPONSE => StatusCode::SERVICE_UNAVAILABLE,
        Outcome::RequestError if media_type == GRAPHQL_RESPONSE => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    let held = state.pipeline.bounds.response_memory.hold(body.len());
    let body = Body::from(body::held(body, held));
    let mut response = (status, [(header::CONTENT_TYPE, media_type)], body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// The body, at most `limit` bytes: 413 past it, 400 when it ends before its `Content-Length`.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, HttpError> {
    to_bytes(body, limit).await.map_err(|error| {
        if too_large(&error) {
            HttpError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body exceeds {limit} bytes (GATEWAY_MAX_BODY_BYTES)"),
            )
        } else {
            HttpError::bad_request(format!("the body could not be read: {error}"))
        }
    })
}

/// Whether reading a body failed because it passed the length limit (and not because it ended early).
fn too_large(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    request: Request<Body>,
) -> Response {
    match post_inner(&state, session.as_ref().map(|Extension(session)| session), request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn post_inner(
    state: &AppState,
    session: Option<&Session>,
    request: Request<Body>,
) -> Result<Response, HttpError> {
    let media_type = response_type(request.headers())?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != JSON {
        return Err(HttpError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send GraphQL requests as {JSON} (got `{content_type}`)"),
        ));
    }
    let limit = state.http.max_body_bytes;
    let body = read_body(request.into_body(), limit).await?;
    let operations = request::parse_body(&body, state.http.max_batch)?;
    let role = session.map(|session| session.role.as_str());
    let mut results = Vec::with_capacity(operations.requests.len());
    for (mut operation, id) in operations.requests {
        state.http.persisted.resolve(&mut operation, id, role)?;
        results.push(pipeline::run(state, session, operation).await);
    }
    Ok(respond(state, media_type, results, operations.batch))
}

/// `GET /graphql?query=…&variables=…&operationName=…`, or the playground for a browser.
pub async fn get(
    State(state): State<AppState>,
    session: Option<Extension<Session>>,
    request: Request<Body>,
) -> Response {
    let headers = request.headers();
    let query_string = request.uri().query().unwrap_or_default();
    if query_string.is_empty() && accepts_html(headers) && state.http.playground {
        return playground::page(headers.clone()).await;
    }
    let result = async {
        let media_type = response_type(headers)?;
        let (mut operation, id) = request::parse_query_string(query_string)?;
        let role = session.as_ref().map(|Extension(session)| session.role.as_str());
        state.http.persisted.resolve(&mut operation, id, role)?;
        let name = operation.operation_name.clone();
        if check_nesting(&operation.query, state.pipeline.limits.nesting).is_ok()
            && let Ok(document) = operation.parsed_query()
            && let Some(kind) = pipeline::selected_operation_type(document, name.as_deref())
            && kind != OperationType::Query
        {
            return Err(HttpError::new(
                ErrorCode::MethodNotAllowed,
                format!("{kind} operations must be sent with POST"),
            ));
        }
        // Cross-site GETs are what CSRF prevention is about, and they can only act through ambient
        // credentials: the gateway reads none, but a proxy in front may turn cookies into tokens.
        if let Some(required) = &state.http.csrf_headers
            && headers.contains_key(header::COOKIE)
            && !required.iter().any(|name| headers.contains_key(name.as_str()))
        {
            return Err(HttpError::new(
                ErrorCode::CsrfPrevention,
                format!(
                    "a GET could be a cross-site request: add one of the headers {} (or use POST with {JSON})",
                    required.join(", ")
                ),
            ));
        }
        let session = session.as_ref().map(|Extension(session)| session);
        Ok(respond(
            &state,
            media_type,
            vec![pipeline::run(&state, session, operation).await],
            false,
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Admission control: at most `GATEWAY_MAX_CONCURRENT_REQUESTS` GraphQL requests run at once;
/// others wait up to `GATEWAY_QUEUE_TIMEOUT`, then get a quick 503 instead of piling up memory.
/// What admission reads (not the whole `AppState`, which would be cloned for every request).
#[derive(Clone)]
pub struct Admission {
    pub http: Arc<HttpOptions>,
    pub pipeline: Arc<super::pipeline::Settings>,
    pub lifecycle: Arc<super::lifecycle::Lifecycle>,
}

pub async fn admit(State(state): State<Admission>, request: Request<Body>, next: axum::middleware::Next) -> Response {
    let options = &state.http;
    if state.lifecycle.draining() {
        let mut response = HttpError::new(
            ErrorCode::ShuttingDown,
            "the gateway is shutting down; retry on another instance",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    // The body is read before the request takes a slot, within a time limit: slow senders cannot
    // hold the slots that requests ready to run need.
    let (parts, body) = request.into_parts();
    let limit = options.max_body_bytes;
    let body = match tokio::time::timeout(options.body_timeout, read_body(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => return error.into_response(),
        Err(_) => {
            let mut response = HttpError::new(
                ErrorCode::RequestTimeout,
                format!(
                    "the body did not arrive within {:?} (GATEWAY_BODY_TIMEOUT)",
                    options.body_timeout
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let request = Request::from_parts(parts, Body::from(body));
    match state.pipeline.bounds.admit().await {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(error) => {
            let mut response = HttpError::new(error.code(), error.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
