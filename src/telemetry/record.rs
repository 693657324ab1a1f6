//! The metrics the gateway records, recorded from wherever the work happens (the database layer,
//! the operation cache, the pipeline) through the `metrics` facade: the names and their help
//! live here, on the ground floor, so no lower layer reaches up into the server for them. The
//! server only installs the Prometheus recorder and renders `/metrics` (`server/metrics.rs`).

use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};

/// Every metric the gateway records, with the `# HELP` text Prometheus tooling expects.
pub(crate) const DESCRIPTIONS: [(&str, &str); 19] = [
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

/// Gives every metric its `# HELP` text (once the recorder is installed).
pub fn describe() {
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

/// Records one finished GraphQL operation: its `kind` and its bounded name label.
pub fn operation(
    kind: async_graphql::parser::types::OperationType,
    name: String,
    outcome: &'static str,
    seconds: f64,
    error_codes: impl Iterator<Item = &'static str>,
) {
    use async_graphql::parser::types::OperationType;
    let kind = match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
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

/// Reads and operation transactions holding or waiting for a pooled connection now.
pub fn database_users() -> i64 {
    DATABASE_USERS.load(AtomicOrdering::Relaxed)
}
