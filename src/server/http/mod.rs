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
use super::playground;
use crate::auth::Session;
use crate::error::ErrorCode;
use crate::schema::limits::{LimitsChecked, QueryLimits, check_nesting};
use crate::transaction::OperationTransaction;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use axum::Extension;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// The response media types of the specification.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// Protocol settings.
pub struct HttpOptions {
    pub max_body_bytes: usize,
    pub max_batch: usize,
    /// Headers one of which a GET must carry; `None` turns CSRF prevention off.
    pub csrf_headers: Option<Vec<String>>,
    /// Whether browsers asking for HTML get the playground.
    pub playground: bool,
    /// Admission, deadline and answer budget, shared with every other path.
    pub bounds: Arc<crate::bounds::Bounds>,
    /// Longest a client may take to send its body.
    pub body_timeout: std::time::Duration,
    /// Operations slower than this are logged as warnings.
    pub slow_operation: std::time::Duration,
    /// Set when shutdown begins: new requests get 503 while in-flight ones finish.
    pub draining: std::sync::atomic::AtomicBool,
    /// Turns true when shutdown begins: WebSocket connections close with 1001 (going away).
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Turns true when the shutdown deadline passes: operations still running are dropped.
    pub aborting: tokio::sync::watch::Sender<bool>,
    /// WebSocket connections open now (shutdown waits for their close frames).
    pub open_sockets: std::sync::atomic::AtomicUsize,
    /// Limits checked on the parsed document before async-graphql sees it.
    pub limits: QueryLimits,
    /// Automatic persisted queries and the safelist.
    pub persisted: PersistedQueries,
    /// Whether a streamable query's first run is validated by a dry run and streamed.
    pub stream_first_run: bool,
    /// The bearer token `/metrics` requires, when set.
    pub metrics_token: Option<String>,
    /// The operation names the request metrics label by.
    pub operation_names: super::metrics::OperationNames,
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

/// The type of the operation a request would run, when the document parses and names one;
/// otherwise execution reports the problem itself.
pub(super) fn selected_operation_type(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    selected_operation(document, operation_name).map(|operation| operation.ty)
}

/// The operation a request runs.
pub(crate) fn selected_operation<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|operation| &operation.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Why a parsed document names no operation to run, if it does not.
fn unselectable(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<String> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Multiple(operations), Some(name)) if !operations.contains_key(name) => {
            Some(format!("the document has no operation named `{name}`"))
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() > 1 => {
            Some("the document has several operations: name the one to run in `operationName`".to_owned())
        }
        _ => None,
    }
}

/// The name of the operation a request runs, for logs and metrics: the document's own name for
/// it (never a requested name the document does not contain), empty when it is anonymous or the
/// request selects none.
fn document_operation_name(document: &ExecutableDocument, requested: Option<&str>) -> String {
    match (&document.operations, requested) {
        (DocumentOperations::Single(_), _) => String::new(),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get_key_value(name)
            .map(|(name, _)| name.to_string())
            .unwrap_or_default(),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.keys().next().map(ToString::to_string).unwrap_or_default()
        }
        (DocumentOperations::Multiple(_), None) => String::new(),
    }
}

/// The response keys of the operation's root fields, in selection order (fragments expanded).
fn root_keys(document: &ExecutableDocument, operation_name: Option<&str>) -> Vec<async_graphql::Name> {
    fn collect(
        document: &ExecutableDocument,
        set: &SelectionSet,
        keys: &mut Vec<async_graphql::Name>,
        seen_fragments: &mut Vec<async_graphql::Name>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let key = field.node.response_key().node.clone();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    collect(document, &fragment.node.selection_set.node, keys, seen_fragments)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if seen_fragments.contains(name) {
                        continue;
                    }
                    seen_fragments.push(name.clone());
                    if let Some(fragment) = document.fragments.get(name) {
                        collect(document, &fragment.node.selection_set.node, keys, seen_fragments);
                    }
                }
            }
        }
    }
    let mut keys = Vec::new();
    if let Some(operation) = selected_operation(document, operation_name) {
        collect(document, &operation.selection_set.node, &mut keys, &mut Vec::new());
    }
    keys
}

/// Puts the root fields of `data` in selection order: async-graphql resolves root query fields
/// concurrently and keeps them in the order they finish.
fn order_root_fields(data: &mut async_graphql::Value, keys: &[async_graphql::Name]) {
    let async_graphql::Value::Object(fields) = data else {
        return;
    };
    let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(fields.len());
    for key in keys {
        if let Some(value) = fields.shift_remove(key) {
            ordered.insert(key.clone(), value);
        }
    }
    ordered.extend(std::mem::take(fields));
    *fields = ordered;
}

/// An error's `extensions.code`.
/// How an operation ended, for the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ran,
    /// It could not run at all (parse or validation errors).
    RequestError,
    TimedOut,
    /// Shutdown ended it.
    Aborted,
    /// Nothing ran for want of the database (down, or every connection busy): 503 with
    /// `Retry-After` in `application/graphql-response+json`.
    Unavailable,
}

/// How an operation was executed.
enum Executed {
    /// Streamed: the answer as the database built it.
    Streamed(String),
    /// async-graphql's response, to serialize.
    Response(async_graphql::Response),
}

/// The cached document of a request's role, operation name and text, if there is one.
pub(super) fn prepared(
    state: &AppState,
    session: Option<&Session>,
    request: &async_graphql::Request,
) -> Option<Arc<crate::operation::Prepared>> {
    let role = session.map(|session| session.role.as_str());
    state
        .operations
        .document(role, request.operation_name.as_deref(), &request.query)
}

/// The statements a cached document streams with this request's variables and session, when it
/// can be streamed (asked once its limits are checked: a refused request compiles nothing).
pub(super) fn bound(
    state: &AppState,
    session: Option<&Session>,
    prepared: &crate::operation::Prepared,
    request: &async_graphql::Request,
) -> Option<crate::operation::stream::Bound> {
    let backend = sea_orm::ConnectionTrait::get_database_backend(&state.database);
    prepared.streamable.then(|| {
        state
            .operations
            .bind(&state.engine, backend, prepared, &request.variables, session)
    })?
}

/// Whether `request` validates for `schema` and its variables coerce: a dry run in which the
/// generated root fields answer [`crate::schema::DRY_RUN`] without reading anything.
async fn validates(schema: &async_graphql::dynamic::Schema, request: &mut async_graphql::Request) -> bool {
    let Ok(document) = request.parsed_query().cloned() else {
        return false;
    };
    let mut dry = async_graphql::Request::new(request.query.clone())
        .variables(request.variables.clone())
        .data(crate::schema::DryRun)
        .data(LimitsChecked);
    dry.operation_name = request.operation_name.clone();
    dry.set_parsed_query(document);
    let response = Box::pin(schema.execute(dry)).await;
    response
        .errors
        .iter()
        .all(|error| error.message == crate::schema::DRY_RUN)
}

/// Runs one operation in its own operation-wide transaction; its JSON result and outcome.
async fn run(state: &AppState, session: Option<&Session>, request: async_graphql::Request) -> (String, Outcome) {
    let schema = match state.schema_for(session.map(|session| session.role.as_str())) {
        Ok(schema) => schema,
        Err(error) => {
            return (error.code().body(&error.to_string()), Outcome::RequestError);
        }
    };
    let started = std::time::Instant::now();
    // Known once the document is: a name the document does not contain is never a label.
    let mut operation_name = String::new();
    let role = session.map(|session| session.role.clone()).unwrap_or_default();
    let name = request.operation_name.clone();
    // A document seen before: parsed and validated already.
    let prepared = prepared(state, session, &request);
    let mut request = request;
    let (kind, refused, keys) = if let Some(prepared) = &prepared {
        // Its cost still depends on the variables. (Its root keys are found only if async-graphql
        // runs it: a streamed answer is in document order already.)
        let refused = state
            .http
            .limits
            .check_with(&prepared.document, &request.variables, Some(&state.engine))
            .err();
        operation_name = document_operation_name(&prepared.document, name.as_deref());
        ("query", refused, Vec::new())
    } else {
        // The nesting bound comes before the parser, which recurses on brackets.
        let variables = std::mem::take(&mut request.variables);
        let checked = match check_nesting(&request.query, state.http.limits.nesting) {
            Err(error) => ("query", Some(error), Vec::new()),
            // Parsed once here: the limits are checked on it and async-graphql executes it as parsed.
            Ok(()) => match request.parsed_query().inspect(|_| super::metrics::parsed()) {
                Ok(document) => {
                    operation_name = document_operation_name(document, name.as_deref());
                    let kind = match selected_operation_type(document, name.as_deref()) {
                        Some(OperationType::Mutation) => "mutation",
                        Some(OperationType::Subscription) => "subscription",
                        _ => "query",
                    };
                    if let Some(problem) = unselectable(document, name.as_deref()) {
                        let body = ErrorCode::GraphqlValidationFailed.body(&problem);
                        return (body, Outcome::RequestError);
                    }
                    if kind == "subscription" {
                        let body = ErrorCode::BadRequest.body(
                            "subscriptions are served over WebSocket at /graphql/ws (graphql-transport-ws or graphql-ws)",
                        );
                        return (body, Outcome::RequestError);
                    }
                    // Root keys only of a document within the limits: the walk follows fragment spreads.
                    match state.http.limits.check_with(document, &variables, Some(&state.engine)) {
                        Ok(()) => (kind, None, root_keys(document, name.as_deref())),
                        Err(error) => (kind, Some(error), Vec::new()),
                    }
                }
                // Execution reports the parse error with its code.
                Err(_) => ("query", None, Vec::new()),
            },
        };
        request.variables = variables;
        checked
    };
    // An operation that did not run to its answer: its name is a label only if already known.
    let unfinished = |outcome: &'static str, code: ErrorCode| {
        let name = state.http.operation_names.label(&operation_name, false);
        super::metrics::operation(
            kind,
            name,
            outcome,
            started.elapsed().as_secs_f64(),
            std::iter::once(code.as_str()),
        );
    };
    if let Some(error) = refused {
        unfinished("error", ErrorCode::QueryLimitExceeded);
        let body = serde_json::to_string(&json!({ "errors": [error] })).unwrap_or_default();
        return (body, Outcome::RequestError);
    }
    // A query async-graphql runs successfully is kept for next time.
    let candidate = match &prepared {
        None => state
            .operations
            .candidate(session.map(|session| session.role.as_str()), &mut request),
        Some(_) => None,
    };
    // A streamable one is kept as soon as a dry run validated it, and streamed from this run on.
    let (prepared, candidate) = match (prepared, candidate) {
        (None, Some(candidate)) if state.http.stream_first_run && candidate.streamable(&state.engine.registry) => {
            if validates(schema, &mut request).await {
                (state.operations.admit(&state.engine.registry, candidate), None)
            } else {
                (None, Some(candidate))
            }
        }
        other => other,
    };
    let bound = prepared
        .as_ref()
        .and_then(|prepared| bound(state, session, prepared, &request));
    let transaction = Arc::new(OperationTransaction::new(state.database.clone(), state.breaker.clone()));
    // Kept until the response is serialized (the end of this function): the answer's values are
    // what it charges the process's answer memory for.
    let executed_budget = Arc::new(state.http.bounds.budget());
    let execution = async {
        if let Some(bound) = &bound {
            let budget = state.http.bounds.budget();
            let context = crate::operation::stream::Context {
                primary: &state.database,
                routing: Some(&state.routing),
                budget: &budget,
            };
            return match crate::operation::stream::run(&context, bound).await {
                Ok(body) => Executed::Streamed(body),
                Err(error) => Executed::Response(async_graphql::Response::from_errors(vec![error])),
            };
        }
        let mut request = request
            .data(transaction.clone())
            .data(executed_budget.clone())
            .data(Arc::new(crate::plan::text_cost::TextSpent::default()))
            .data(LimitsChecked);
        if let Some(prepared) = &prepared {
            request.set_parsed_query(prepared.document.clone());
        }
        if let Some(session) = session {
            request = request.data(session.clone());
        }
        // Boxed: async-graphql's execution future is tens of kilobytes, and every future that held
        // it inline (this one, the handler's, the router's) would be copied at each move, the
        // streamed path's too.
        let mut response = Box::pin(schema.execute(request)).await;
        transaction.finish(&mut response).await;
        Executed::Response(response)
    };
    // Past the timeout the operation is dropped: its statement is cancelled with the connection's
    // future and its transaction rolls back.
    let mut aborted = state.http.aborting.subscribe();
    let finished = tokio::select! {
        finished = state.http.bounds.deadline(execution) => finished,
        _ = aborted.wait_for(|aborting| *aborting) => {
            // The shutdown deadline passed: the operation is dropped like a timed-out one.
            let body = ErrorCode::ShuttingDown.body("the gateway shut down before the operation finished");
            unfinished("error", ErrorCode::ShuttingDown);
            return (body, Outcome::Aborted);
        }
    };
    let executed = match finished {
        Ok(executed) => executed,
        Err(error) => {
            let body = error.code().body(&error.to_string());
            unfinished("timeout", ErrorCode::Timeout);
            return (body, Outcome::TimedOut);
        }
    };
    let (body, outcome) = match executed {
        Executed::Streamed(body) => {
            finished_operation(state, &operation_name, kind, &role, started, "ok", std::iter::empty());
            (body, Outcome::Ran)
        }
        Executed::Response(mut response) => {
            if response.errors.is_empty()
                && let Some(candidate) = candidate
            {
                state.operations.admit(&state.engine.registry, candidate);
            }
            let keys = match &prepared {
                Some(prepared) => root_keys(&prepared.document, name.as_deref()),
                None => keys,
            };
            order_root_fields(&mut response.data, &keys);
            serialize(state, &operation_name, kind, &role, started, response)
        }
    };
    (body, outcome)
}

/// The body and outcome of an executed response, recorded.
fn serialize(
    state: &AppState,
    operation_name: &str,
    kind: &'static str,
    role: &str,
    started: std::time::Instant,
    response: async_graphql::Response,
) -> (String, Outcome) {
    // Nothing ran, and every error gives the same kind of reason.
    let nothing_ran = |why: fn(ErrorCode) -> bool| {
        response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response
                .errors
                .iter()
                .all(|error| ErrorCode::of(error).is_some_and(why))
    };
    let request_error = nothing_ran(ErrorCode::refuses_document);
    let unavailable = nothing_ran(|code| matches!(code, ErrorCode::Overloaded | ErrorCode::DatabaseUnavailable));
    // Serialized straight from the response, so fields keep the order of the selection set.
    let serialized = if request_error {
        serde_json::to_string(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_string(&response)
    };
    let body = serialized.unwrap_or_else(|_| r#"{"errors":[{"message":"internal error"}]}"#.to_owned());
    let codes = response
        .errors
        .iter()
        .map(|error| ErrorCode::of(error).map_or("UNCODED", ErrorCode::as_str));
    let outcome = if response.errors.is_empty() { "ok" } else { "error" };
    finished_operation(state, operation_name, kind, role, started, outcome, codes);
    (
        body,
        if request_error {
            Outcome::RequestError
        } else if unavailable {
            Outcome::Unavailable
        } else {
            Outcome::Ran
        },
    )
}

/// Logs and counts a finished operation.
fn finished_operation(
    state: &AppState,
    operation_name: &str,
    kind: &'static str,
    role: &str,
    started: std::time::Instant,
    outcome: &'static str,
    codes: impl Iterator<Item = &'static str>,
) {
    let elapsed = started.elapsed();
    tracing::info!(
        operation = %operation_name,
        kind,
        role = %role,
        outcome,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "graphql operation"
    );
    if elapsed > state.http.slow_operation {
        tracing::warn!(operation = %operation_name, kind, role = %role, duration_ms = elapsed.as_secs_f64() * 1000.0, "slow operation");
    }
    let name = state.http.operation_names.label(operation_name, true);
    super::metrics::operation(kind, name, outcome, elapsed.as_secs_f64(), codes);
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
    let held = state.http.bounds.response_memory.hold(body.len());
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
        results.push(run(state, session, operation).await);
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
        if check_nesting(&operation.query, state.http.limits.nesting).is_ok()
            && let Ok(document) = operation.parsed_query()
            && let Some(kind) = selected_operation_type(document, name.as_deref())
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
            vec![run(&state, session, operation).await],
            false,
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Admission control: at most `GATEWAY_MAX_CONCURRENT_REQUESTS` GraphQL requests run at once;
/// others wait up to `GATEWAY_QUEUE_TIMEOUT`, then get a quick 503 instead of piling up memory.
pub async fn admit(
    State(options): State<Arc<HttpOptions>>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    if options.draining.load(std::sync::atomic::Ordering::Relaxed) {
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
    match options.bounds.admit().await {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            let mut response = HttpError::new(
                ErrorCode::Overloaded,
                "the gateway is at its concurrency limit; retry shortly",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}
