//! `/metrics` in the Prometheus text format: requests by operation type and outcome with their
//! latency, GraphQL errors by code, SQL statements and their latency, pool connections, requests
//! in flight. Recorded with the `metrics` facade and rendered by `metrics-exporter-prometheus`.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

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
        handle
    })
}

/// Records one finished GraphQL operation.
pub fn operation(kind: &'static str, outcome: &'static str, seconds: f64, error_codes: impl Iterator<Item = String>) {
    metrics::counter!("gateway_requests_total", "operation" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("gateway_request_duration_seconds", "operation" => kind).record(seconds);
    for code in error_codes {
        metrics::counter!("gateway_graphql_errors_total", "code" => code).increment(1);
    }
}

/// Records one SQL statement.
pub fn statement(seconds: f64) {
    metrics::counter!("gateway_sql_statements_total").increment(1);
    metrics::histogram!("gateway_sql_duration_seconds").record(seconds);
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(pool) = pool_size(&state) {
        metrics::gauge!("gateway_pool_connections", "state" => "open").set(pool.0 as f64);
        metrics::gauge!("gateway_pool_connections", "state" => "idle").set(pool.1 as f64);
    }
    let in_flight = state.http.max_concurrent - state.http.in_flight.available_permits();
    metrics::gauge!("gateway_requests_in_flight").set(in_flight as f64);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}

/// (open, idle) connections of the pool.
fn pool_size(state: &AppState) -> Option<(u32, usize)> {
    match &state.database {
        connection if connection.get_database_backend() == sea_orm::DbBackend::Postgres => {
            let pool = connection.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle()))
        }
        connection => {
            let pool = connection.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle()))
        }
    }
}
