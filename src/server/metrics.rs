//! `/metrics` in the Prometheus text format: requests by operation type and outcome with their
//! latency, GraphQL errors by code, SQL statements and their latency, pool connections (open, idle,
//! and the reads and transactions waiting for one), requests in flight. Recorded with the
//! `metrics` facade and rendered by `metrics-exporter-prometheus`.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};

/// The process-wide recorder (installed once; every application in the process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder (a test harness's) may be installed already; ours still renders.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// Every metric the gateway records, with the `# HELP` text Prometheus tooling expects.
const DESCRIPTIONS: [(&str, &str); 19] = [
    (
        "gateway_documents_parsed_total",
        "GraphQL documents parsed for HTTP requests (a cached document is not parsed again).",
    ),
    (
        "gateway_operation_cache_total",
        "Lookups of the operation cache, by result (hit: the document was parsed and validated before).",
    ),
    (
        "gateway_operation_compilations_total",
        "Operations planned and compiled to SQL for the streamed path (a cached binding needs none).",
    ),
    (
        "gateway_requests_total",
        "GraphQL operations served, by kind, operation name (bounded) and outcome.",
    ),
    (
        "gateway_request_duration_seconds",
        "How long GraphQL operations took, by operation kind.",
    ),
    (
        "gateway_graphql_errors_total",
        "Errors in GraphQL responses, by extensions.code.",
    ),
    (
        "gateway_sql_statements_total",
        "SQL statements the gateway ran for reads.",
    ),
    ("gateway_sql_duration_seconds", "How long those SQL statements took."),
    (
        "gateway_sql_abandoned_total",
        "Reads whose request ended mid-statement; their connection was closed so the statement stops.",
    ),
    (
        "gateway_pool_connections",
        "Connections of the primary pool, by state (open, idle).",
    ),
    (
        "gateway_pool_waiting",
        "Reads and transactions waiting for a pooled connection.",
    ),
    (
        "gateway_requests_in_flight",
        "GraphQL requests holding a concurrency slot.",
    ),
    ("gateway_subscriptions", "Subscriptions open now."),
    ("gateway_changes_total", "Row changes the change feed received."),
    ("gateway_subscription_events_total", "Events sent to subscribers."),
    (
        "gateway_subscription_dispatch_seconds",
        "How long turning a batch of changes into events took.",
    ),
    (
        "gateway_slow_consumers_total",
        "Subscribers disconnected for not reading their events.",
    ),
    (
        "gateway_change_feed_reconnects_total",
        "Times the change feed reconnected its LISTEN connection.",
    ),
    (
        "gateway_read_replica_healthy",
        "Whether each read replica is used (1) or skipped (0).",
    ),
];

fn describe() {
    for (name, help) in DESCRIPTIONS {
        // The kind is in the name: Prometheus' conventions, which the recorder follows.
        if name.ends_with("_total") {
            metrics::describe_counter!(name, help);
        } else if name.ends_with("_seconds") {
            metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
        } else {
            metrics::describe_gauge!(name, help);
        }
    }
}

/// Longest operation name used as a label; longer ones count as `other`.
const MAX_LABEL: usize = 64;

/// Operation names as a metric label, bounded: the first `capacity` distinct names (of at most
/// [`MAX_LABEL`] bytes) of operations that ran are kept; any other name is `other`, a missing one
/// `anonymous`. Clients choose names, so without a bound they could create series without limit.
/// Only names of operations a document contains reach it.
pub struct OperationNames {
    capacity: usize,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl OperationNames {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// The label for `name`; `ran` admits a new name while there is room (a refused request's
    /// name is only used when it is already known).
    pub fn label(&self, name: &str, ran: bool) -> String {
        if name.is_empty() {
            return "anonymous".to_owned();
        }
        if name.len() > MAX_LABEL {
            return "other".to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.contains(name) || (ran && seen.len() < self.capacity && seen.insert(name.to_owned())) {
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }
}

/// Records one finished GraphQL operation: `kind` (query, mutation, subscription) and its
/// bounded name label.
pub fn operation(
    kind: &'static str,
    name: String,
    outcome: &'static str,
    seconds: f64,
    error_codes: impl Iterator<Item = &'static str>,
) {
    metrics::counter!("gateway_requests_total", "kind" => kind, "operation" => name.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("gateway_request_duration_seconds", "kind" => kind, "operation" => name).record(seconds);
    for code in error_codes {
        metrics::counter!("gateway_graphql_errors_total", "code" => code).increment(1);
    }
}

/// Records one lookup of the operation cache.
pub fn operation_cache(result: &'static str) {
    metrics::counter!("gateway_operation_cache_total", "result" => result).increment(1);
}

/// Records one document parsed for an HTTP request.
pub fn parsed() {
    metrics::counter!("gateway_documents_parsed_total").increment(1);
}

/// Records one operation planned and compiled for the streamed path.
pub fn compilation() {
    metrics::counter!("gateway_operation_compilations_total").increment(1);
}

/// Records one SQL statement.
pub fn statement(seconds: f64) {
    metrics::counter!("gateway_sql_statements_total").increment(1);
    metrics::histogram!("gateway_sql_duration_seconds").record(seconds);
}

/// Records a read abandoned mid-statement (its request timed out or its client left), whose
/// connection is closed so the statement stops.
pub fn abandoned_statement() {
    metrics::counter!("gateway_sql_abandoned_total").increment(1);
}

/// Reads and operation transactions holding or waiting for a pooled connection.
static DATABASE_USERS: AtomicI64 = AtomicI64::new(0);

/// Counts one user of a pooled connection (a read, or an operation's transaction) while it lives,
/// so `/metrics` can tell how many wait for a connection: users beyond the connections in use.
pub struct DatabaseUse(());

impl DatabaseUse {
    pub fn start() -> Self {
        DATABASE_USERS.fetch_add(1, AtomicOrdering::Relaxed);
        Self(())
    }
}

impl Drop for DatabaseUse {
    fn drop(&mut self) {
        DATABASE_USERS.fetch_sub(1, AtomicOrdering::Relaxed);
    }
}

/// `GET /metrics`; with `GATEWAY_METRICS_TOKEN`, only for `Authorization: Bearer <token>`.
pub async fn render(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    if let Some(expected) = &state.http.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared by digest, so the time taken says nothing about how much of the token matched.
        let digest = |text: &str| <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes());
        if digest(given) != digest(expected) {
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need the bearer token of GATEWAY_METRICS_TOKEN\n",
            )
                .into_response();
        }
    }
    if let Some((open, idle)) = pool_size(&state) {
        metrics::gauge!("gateway_pool_connections", "state" => "open").set(open as f64);
        metrics::gauge!("gateway_pool_connections", "state" => "idle").set(idle as f64);
        // sqlx does not count its waiters: those are the users beyond the connections in use.
        let in_use = i64::from(open) - idle as i64;
        let waiting = (DATABASE_USERS.load(AtomicOrdering::Relaxed) - in_use).max(0);
        metrics::gauge!("gateway_pool_waiting").set(waiting as f64);
    }
    metrics::gauge!("gateway_requests_in_flight").set(state.http.bounds.requests_in_flight() as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render()).into_response()
}

/// (open, idle) connections of the pool.
fn pool_size(state: &AppState) -> Option<(u32, usize)> {
    match &state.database {
        connection if connection.get_database_backend() == sea_orm::DbBackend::Postgres => {
            let pool = connection.get_postgres_connection_pool();
            // Connections parked between reads are idle too.
            Some((pool.size(), pool.num_idle() + state.routing.warm.count()))
        }
        connection => {
            let pool = connection.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// promtool refuses metrics without `# HELP`: every metric the code records is described.
    #[test]
    fn every_recorded_metric_has_help() {
        let handle = handle();
        operation(
            "query",
            "Tasks".to_owned(),
            "ok",
            0.01,
            std::iter::once("BAD_USER_INPUT"),
        );
        statement(0.001);
        abandoned_statement();
        let text = handle.render();
        for line in text.lines().filter_map(|line| line.strip_prefix("# TYPE ")) {
            let name = line.split(' ').next().unwrap_or_default();
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP:\n{text}");
        }
        let source = [
            include_str!("metrics.rs"),
            include_str!("../changes/dispatch.rs"),
            include_str!("../changes/mod.rs"),
            include_str!("../changes/source.rs"),
            include_str!("../database/replicas.rs"),
        ]
        .concat();
        for recorded in source.split("metrics::").skip(1).filter_map(|rest| {
            let rest = rest
                .strip_prefix("counter!(\"")
                .or_else(|| rest.strip_prefix("gauge!(\""))
                .or_else(|| rest.strip_prefix("histogram!(\""))?;
            rest.split('"').next()
        }) {
            assert!(
                DESCRIPTIONS.iter().any(|(name, _)| *name == recorded),
                "{recorded} is recorded but not described"
            );
        }
    }
}
