//! Liveness and readiness probes for orchestrators and load balancers.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` also asks the database, so a
//! load balancer stops sending traffic while the database is down, and comes back without a
//! restart. On PostgreSQL it asks over a connection of its own ([`Probe`]), never queueing behind
//! user requests for a pooled one: a busy, healthy instance stays ready (pulling every loaded
//! replica at once would only move the load). The body also says whether the change feed listens
//! and how each read replica is; neither makes the gateway unready.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sea_orm::{DatabaseConnection, DbBackend};
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;
use tokio::sync::Mutex;

/// The readiness probe's own database connection, opened on first use and after a failure.
pub struct Probe {
    database: DatabaseConnection,
    connection: Mutex<Option<sqlx::PgConnection>>,
}

impl Probe {
    pub fn new(database: DatabaseConnection) -> Self {
        Self {
            database,
            connection: Mutex::new(None),
        }
    }

    /// Whether the database answers `SELECT 1`.
    async fn check(&self) -> Result<(), String> {
        if self.database.get_database_backend() != DbBackend::Postgres {
            return self.database.ping().await.map_err(|error| error.to_string());
        }
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            let options = self.database.get_postgres_connection_pool().connect_options();
            *slot = Some(
                sqlx::PgConnection::connect_with(&options)
                    .await
                    .map_err(|error| error.to_string())?,
            );
        }
        let Some(connection) = slot.as_mut() else {
            return Err("no connection".to_owned());
        };
        let answer = connection.ping().await.map_err(|error| error.to_string());
        if answer.is_err() {
            // Opened again next time: the server may have restarted.
            *slot = None;
        }
        answer
    }
}

/// How long readiness waits for the database before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.lifecycle.draining() {
        return unavailable("the gateway is shutting down".to_owned());
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.probe.check()).await {
        // Replicas and the change feed are reported, but the gateway serves without them.
        Ok(Ok(())) => {
            state.routing.breaker.reset();
            let feed = match (state.feed.installed(), state.feed.listening()) {
                (false, _) => "not installed",
                (true, true) => "listening",
                (true, false) => "connecting",
            };
            let mut report = json!({ "status": "ready", "change_feed": feed });
            if state.feed.installed() && !state.feed.untracked().is_empty() {
                report["untracked_tables"] = json!(state.feed.untracked());
            }
            if let Some(replicas) = &state.routing.replicas {
                report["primary"] = json!("ready");
                report["replicas"] = Value::Array(replicas.report());
            }
            (StatusCode::OK, Json(report))
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: the database does not answer");
            unavailable(format!("the database does not answer: {error}"))
        }
        Err(_) => unavailable(format!("the database did not answer within {READINESS_TIMEOUT:?}")),
    }
}

fn unavailable(reason: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "unavailable", "reason": reason })),
    )
}
