//! `/metrics` in the Prometheus text format: requests by operation type and outcome with their
//! latency, GraphQL errors by code, SQL statements and their latency, pool connections (open, idle,
//! and the reads and transactions waiting for one), requests in flight. Recorded with the
//! `metrics` facade (`telemetry::record` names them) and rendered by
//! `metrics-exporter-prometheus`, whose recorder is installed here.

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
        crate::telemetry::record::describe();
        handle
    })
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
        let waiting = (crate::telemetry::record::database_users() - in_use).max(0);
        metrics::gauge!("gateway_pool_waiting").set(waiting as f64);
    }
    metrics::gauge!("gateway_requests_in_flight").set(state.pipeline.bounds.requests_in_flight() as f64);
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
    use crate::telemetry::record::{DESCRIPTIONS, abandoned_statement, operation, statement};

    /// promtool refuses metrics without `# HELP`: every metric the code records is described.
    #[test]
    fn every_recorded_metric_has_help() {
        let handle = handle();
        operation(
            async_graphql::parser::types::OperationType::Query,
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
            include_str!("../telemetry/record.rs"),
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
