//! The operation pipeline: every GraphQL operation a transport brings (HTTP POST and GET, each
//! operation of a batch, WebSocket queries and mutations) runs through [`run`], which owns, in
//! this order: the role's schema, the cached document or the nesting bound and one parse, the
//! operation's selection, the document limits (cost included), the dry-run validation of a
//! streamable first run, binding the cached statements, the operation transaction, the answer
//! budget, execution (streamed or async-graphql's) under the request deadline and the shutdown
//! abort, the error mapping and the metrics. Transports only frame bytes: they read and bound the
//! request, take an admission slot (`Bounds::admit`), call [`run`] and write its answer.
//! Subscriptions are set up by async-graphql over the WebSocket; their live-query runs take the
//! same bounds from the change feed (`bounds`).

use super::AppState;
use crate::auth::Session;
use crate::error::ErrorCode;
use crate::plan::selected_operation;
use crate::schema::limits::{LimitsChecked, check_nesting};
use crate::transaction::OperationTransaction;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet};
use serde_json::json;
use std::sync::Arc;

/// The type of the operation a request would run, when the document parses and names one;
/// otherwise execution reports the problem itself.
pub fn selected_operation_type(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<OperationType> {
    selected_operation(document, operation_name).map(|operation| operation.ty)
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

/// How an operation ended, for the status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
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
fn prepared(
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
fn bound(
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
/// generated root fields stop with [`crate::schema::DryRunStop`] without reading anything.
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
        .all(|error| error.source::<crate::schema::DryRunStop>().is_some())
}

/// What the pipeline runs every operation under, whatever transport brought it (HTTP, batches,
/// the WebSocket): the bounds, the document limits, whether a first run streams, what is slow,
/// and the names the metrics label operations by.
pub struct Settings {
    /// Admission, deadline and answer budget, shared with every other path.
    pub bounds: Arc<crate::bounds::Bounds>,
    /// Limits checked on the parsed document before async-graphql sees it.
    pub limits: crate::schema::limits::QueryLimits,
    /// Whether a streamable query's first run is validated by a dry run and streamed.
    pub stream_first_run: bool,
    /// Operations slower than this are logged as warnings.
    pub slow_operation: std::time::Duration,
    /// The operation names the request metrics label by.
    pub operation_names: crate::telemetry::record::OperationNames,
}

/// What the document stage found: the operation's kind and name (a label only if the document
/// contains it), the limit it broke if any, and its root fields' response keys (in document
/// order, for async-graphql's answers).
struct Checked {
    kind: OperationType,
    operation_name: String,
    refused: Option<async_graphql::ServerError>,
    keys: Vec<async_graphql::Name>,
}

/// The document stage: the nesting bound before the parser (which recurses on brackets), one
/// parse, the operation selection, and the limits with the request's variables — or the answer
/// that ends the operation here. A prepared `document` was parsed and validated before: only its
/// cost, which depends on the variables, is checked again.
fn check(
    state: &AppState,
    document: Option<&ExecutableDocument>,
    request: &mut async_graphql::Request,
) -> Result<Checked, (String, Outcome)> {
    let name = request.operation_name.clone();
    let limits = &state.pipeline.limits;
    if let Some(document) = document {
        // (Its root keys are found only if async-graphql runs it: a streamed answer is in
        // document order already.)
        return Ok(Checked {
            kind: OperationType::Query,
            operation_name: document_operation_name(document, name.as_deref()),
            refused: limits
                .check_with(document, &request.variables, Some(&state.engine))
                .err(),
            keys: Vec::new(),
        });
    }
    let unnamed = |refused| Checked {
        kind: OperationType::Query,
        operation_name: String::new(),
        refused,
        keys: Vec::new(),
    };
    if let Err(error) = check_nesting(&request.query, limits.nesting) {
        return Ok(unnamed(Some(error)));
    }
    let variables = std::mem::take(&mut request.variables);
    // Parsed once here: the limits are checked on it and async-graphql executes it as parsed.
    let checked = match request.parsed_query().inspect(|_| crate::telemetry::record::parsed()) {
        // Execution reports the parse error with its code.
        Err(_) => Ok(unnamed(None)),
        Ok(document) => {
            let kind = selected_operation_type(document, name.as_deref()).unwrap_or(OperationType::Query);
            if let Some(problem) = unselectable(document, name.as_deref()) {
                Err((ErrorCode::GraphqlValidationFailed.body(&problem), Outcome::RequestError))
            } else if kind == OperationType::Subscription {
                let body = ErrorCode::BadRequest.body(
                    "subscriptions are served over WebSocket at /graphql/ws (graphql-transport-ws or graphql-ws)",
                );
                Err((body, Outcome::RequestError))
            } else {
                let refused = limits.check_with(document, &variables, Some(&state.engine)).err();
                Ok(Checked {
                    kind,
                    operation_name: document_operation_name(document, name.as_deref()),
                    // Root keys only of a document within the limits: the walk follows fragment spreads.
                    keys: match refused {
                        None => root_keys(document, name.as_deref()),
                        Some(_) => Vec::new(),
                    },
                    refused,
                })
            }
        }
    };
    request.variables = variables;
    checked
}

/// The execution stage: a prepared document whose statements bind streams the database's JSON;
/// anything else runs through async-graphql with the operation's transaction, answer budget and
/// text-match tally.
async fn execute(
    state: &AppState,
    schema: &async_graphql::dynamic::Schema,
    session: Option<&Session>,
    request: async_graphql::Request,
    prepared: Option<&Arc<crate::operation::Prepared>>,
    transaction: &Arc<OperationTransaction>,
    budget: &Arc<crate::database::budget::ResponseBudget>,
) -> Executed {
    if let Some(bound) = prepared.and_then(|prepared| bound(state, session, prepared, &request)) {
        let budget = state.pipeline.bounds.budget();
        let context = crate::operation::stream::Context {
            primary: &state.database,
            routing: Some(&state.routing),
            budget: &budget,
        };
        return match crate::operation::stream::run(&context, &bound).await {
            Ok(body) => Executed::Streamed(body),
            Err(error) => Executed::Response(async_graphql::Response::from_errors(vec![error])),
        };
    }
    let mut request = request
        .data(transaction.clone())
        .data(budget.clone())
        .data(Arc::new(crate::plan::text_cost::TextSpent::default()))
        .data(LimitsChecked);
    if let Some(prepared) = prepared {
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
}

/// Runs one operation in its own operation-wide transaction; its JSON result and outcome.
pub async fn run(state: &AppState, session: Option<&Session>, request: async_graphql::Request) -> (String, Outcome) {
    let schema = match state.schema_for(session.map(|session| session.role.as_str())) {
        Ok(schema) => schema,
        Err(error) => {
            return (error.code().body(&error.to_string()), Outcome::RequestError);
        }
    };
    let started = std::time::Instant::now();
    let role = session.map(|session| session.role.clone()).unwrap_or_default();
    let name = request.operation_name.clone();
    // A document seen before: parsed and validated already.
    let prepared = prepared(state, session, &request);
    let mut request = request;
    let Checked {
        kind,
        operation_name,
        refused,
        keys,
    } = match check(
        state,
        prepared.as_ref().map(|prepared| &prepared.document),
        &mut request,
    ) {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    // An operation that did not run to its answer: its name is a label only if already known.
    let unfinished = |outcome: &'static str, code: ErrorCode| {
        let name = state.pipeline.operation_names.label(&operation_name, false);
        crate::telemetry::record::operation(
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
        (None, Some(candidate)) if state.pipeline.stream_first_run && candidate.streamable(&state.engine.registry) => {
            if validates(schema, &mut request).await {
                (state.operations.admit(&state.engine.registry, candidate), None)
            } else {
                (None, Some(candidate))
            }
        }
        other => other,
    };
    let transaction = Arc::new(OperationTransaction::new(
        state.database.clone(),
        state.routing.breaker.clone(),
    ));
    // Kept until the response is serialized (the end of this function): the answer's values are
    // what it charges the process's answer memory for.
    let executed_budget = Arc::new(state.pipeline.bounds.budget());
    // Boxed: the execution future holds async-graphql's and the streamed path's; the deadline
    // and the select below would copy it at each move.
    let execution = Box::pin(execute(
        state,
        schema,
        session,
        request,
        prepared.as_ref(),
        &transaction,
        &executed_budget,
    ));
    // Past the timeout the operation is dropped: its statement is cancelled with the connection's
    // future and its transaction rolls back.
    let mut aborted = state.lifecycle.aborting.subscribe();
    let finished = tokio::select! {
        finished = state.pipeline.bounds.deadline(execution) => finished,
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
    kind: OperationType,
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
    kind: OperationType,
    role: &str,
    started: std::time::Instant,
    outcome: &'static str,
    codes: impl Iterator<Item = &'static str>,
) {
    let elapsed = started.elapsed();
    tracing::info!(
        operation = %operation_name,
        kind = %kind,
        role = %role,
        outcome,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "graphql operation"
    );
    if elapsed > state.pipeline.slow_operation {
        tracing::warn!(operation = %operation_name, kind = %kind, role = %role, duration_ms = elapsed.as_secs_f64() * 1000.0, "slow operation");
    }
    let name = state.pipeline.operation_names.label(operation_name, true);
    crate::telemetry::record::operation(kind, name, outcome, elapsed.as_secs_f64(), codes);
}
