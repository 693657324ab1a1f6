//! `/readyz` follows the database: 503 with a reason while it is down, 200 again once it is
//! back, with no restart of the gateway.

use crate::support::TestApp;
use crate::support::cluster::{Auth, Cluster};
use gateway::config::DatabaseArgs;
use std::time::Duration;

async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let response = app.client.get(app.url("/readyz")).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn wait_for_status(app: &TestApp, wanted: u16) -> serde_json::Value {
    for _ in 0..60 {
        let (status, body) = readiness(app).await;
        if status == wanted {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("/readyz never answered {wanted}");
}

#[tokio::test]
async fn readyz_turns_503_while_the_database_is_down_and_recovers_without_restart() {
    let cluster = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    let mut args = DatabaseArgs::with_url(Some(&cluster.url("postgres", None, "postgres")));
    args.pool.acquire_timeout = Duration::from_secs(1);
    args.pool.connect_timeout = Duration::from_secs(1);
    let connection = sea_orm::Database::connect(cluster.url("postgres", None, "postgres"))
        .await
        .expect("connect");
    use migration::MigratorTrait;
    migration::Migrator::up(&connection, None).await.expect("migrate");
    connection.close().await.expect("close");
    let app = TestApp::spawn(&args).await;
    assert_eq!(readiness(&app).await.0, 200);

    cluster.stop();
    let body = wait_for_status(&app, 503).await;
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().is_some_and(|reason| !reason.is_empty()),
        "{body}"
    );
    let alive = app.client.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(alive.status().as_u16(), 200, "liveness does not depend on the database");
    let answer = app
        .graphql("{ organizations { totalCount } }", serde_json::json!({}))
        .await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
        "{answer}"
    );
    // Known down: the next requests are answered at once, not after the acquire timeout.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let answer = app.graphql("{ projects { totalCount } }", serde_json::json!({})).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
            "{answer}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }
    // Under load, every request fails fast (bounded by the acquire timeout), none hangs.
    let started = std::time::Instant::now();
    let requests = (0..50).map(|_| app.graphql("{ tasks { totalCount } }", serde_json::json!({})));
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
            "{answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "failed fast: {:?}",
        started.elapsed()
    );
    assert!(
        !answer.to_string().contains("SELECT"),
        "no SQL reaches the client: {answer}"
    );

    cluster.start_again();
    let body = wait_for_status(&app, 200).await;
    assert_eq!(body["status"], "ready");
    let answer = app
        .graphql("{ organizations { totalCount } }", serde_json::json!({}))
        .await;
    assert_eq!(answer["data"]["organizations"]["totalCount"], 0, "{answer}");
    app.stop().await;
}
