//! Liveness and readiness probes for orchestrators and load balancers.
//!
//! `/healthz` answers as long as the process serves HTTP. `/readyz` also asks the database, so a
//! load balancer stops sending traffic while the database is down; the pool reconnects by itself,
//! so readiness comes back without a restart. The body also says whether the change feed listens
//! and how each read replica is; neither makes the gateway unready.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// How long readiness waits for the database before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.http.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return unavailable("the gateway is shutting down".to_owned());
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.database.ping()).await {
        // Replicas and the change feed are reported, but the gateway serves without them.
        Ok(Ok(())) => {
            let mut report = json!({
                "status": "ready",
                "change_feed": if state.feed.listening() { "listening" } else { "connecting" },
            });
            if let Some(replicas) = &state.replicas {
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
