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

/// Requests in flight when the database goes away are answered at once: the first read that
/// finds it gone opens the breaker (a connection of its own tells it at once), and every read
/// waiting on the database then stops waiting, instead of each waiting out its acquire timeout
/// (twice, with the retry of a dead connection).
#[tokio::test]
async fn requests_in_flight_when_the_database_goes_away_fail_at_once() {
    let cluster = Cluster::start(Auth::Trust).expect("PostgreSQL is installed");
    let url = cluster.url("postgres", None, "postgres");
    let mut args = DatabaseArgs::with_url(Some(&url));
    args.pool.pool_max_connections = 4;
    args.pool.acquire_timeout = Duration::from_secs(5);
    let connection = sea_orm::Database::connect(&url).await.expect("connect");
    use migration::MigratorTrait;
    migration::Migrator::up(&connection, None).await.expect("migrate");
    let app = TestApp::spawn(&args).await;
    // Every read of tasks waits for this lock: four hold the pool's connections, the rest wait
    // for one.
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let lock = connection.begin().await.expect("begin");
    lock.execute_unprepared("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let requests: Vec<_> = (0..12)
        .map(|index| {
            let client = app.client.clone();
            let url = app.url("/graphql");
            tokio::spawn(async move {
                let body = serde_json::json!({ "query": format!("{{ a{index}: tasks {{ totalCount }} }}") });
                let answer: serde_json::Value = client.post(url).json(&body).send().await?.json().await?;
                Ok::<_, reqwest::Error>((answer, std::time::Instant::now()))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    cluster.stop();
    let stopped = std::time::Instant::now();
    for request in requests {
        let (answer, at) = request.await.expect("joined").expect("answered");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "DATABASE_UNAVAILABLE",
            "{answer}"
        );
        let after = at.saturating_duration_since(stopped);
        assert!(
            after < Duration::from_secs(2),
            "answered {after:?} after the database went away"
        );
    }
    drop(lock);
    app.stop().await;
}

/// After the database drops the gateway's connections (a restart, a failover), no request fails
/// on one of them: the first to notice (here the change feed's listener, whose connection goes
/// too, or a write whose `BEGIN` failed at once) marks the moment, and every pooled or kept
/// connection opened before it is dropped unused. Writes are the case that matters: a read that
/// meets a dead connection is tried again, a write was not.
#[tokio::test]
async fn connections_the_database_dropped_are_not_used_again() {
    let database = crate::support::TestDatabase::new().await;
    let mut args = database.args();
    args.pool.pool_max_connections = 4;
    let app = TestApp::spawn(&args).await;
    let admin = database.connect().await;
    use sea_orm::ConnectionTrait;
    for round in 0..3 {
        // Every connection of the pool in use just now (younger than the idle ping's threshold).
        let reads: Vec<_> = (0..4)
            .map(|index| format!("{{ a{index}: tasks(first: 1) {{ totalCount }} }}"))
            .collect();
        let reads = reads.iter().map(|read| app.graphql(read, serde_json::json!({})));
        for answer in futures_util::future::join_all(reads).await {
            assert!(answer.get("errors").is_none(), "{answer}");
        }
        admin
            .execute_unprepared(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await
            .expect("terminate the gateway's connections");
        // Round 0 lets the listener notice first; the others write at once.
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let writes: Vec<_> = (0..4)
            .map(|index| format!(r#"mutation {{ createOrganization(input: {{slug: "fresh-{round}-{index}", name: "n", plan: FREE}}) {{ name }} }}"#))
            .collect();
        let writes = writes.iter().map(|write| app.graphql(write, serde_json::json!({})));
        for answer in futures_util::future::join_all(writes).await {
            assert!(answer.get("errors").is_none(), "round {round}: {answer}");
        }
        let answer = app
            .graphql("{ organizations { totalCount } }", serde_json::json!({}))
            .await;
        assert!(answer.get("errors").is_none(), "round {round}: {answer}");
    }
    app.stop().await;
}
