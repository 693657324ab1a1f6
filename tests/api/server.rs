//! The HTTP surface: GraphQL by POST and GET, GET refusing mutations, health probes, request ids
//! and graceful shutdown.

use crate::support::{TestApp, TestDatabase};
use serde_json::json;

#[tokio::test]
async fn post_runs_a_query_against_postgres() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let answer = app
        .graphql("{ organizations { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        answer["data"]["organizations"],
        json!({ "totalCount": 0, "nodes": [] }),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations_with_405() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("apollo-require-preflight", "true")
        .query(&[("query", "{ organizations { totalCount } }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["organizations"]["totalCount"], 0, "{body}");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { anything }")])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED");
    app.stop().await;
}

#[tokio::test]
async fn health_probes_answer_and_requests_get_an_id() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let alive = app.client.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(alive.status().as_u16(), 200);
    assert!(alive.headers().contains_key("x-request-id"));
    let ready = app
        .client
        .get(app.url("/readyz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.headers()["x-request-id"],
        "trace-me-42",
        "an incoming request id is kept"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_graphql_errors_not_crashes() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let answer = app.graphql("{ noSuchField }", json!({})).await;
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("noSuchField")),
        "{answer}"
    );
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_stops_accepting_and_closes_the_pool() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let address = app.address;
    app.stop().await;
    let refused = reqwest::Client::new()
        .get(format!("http://{address}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
    // The pool is closed too: dropping the database (FORCE aside) finds no gateway sessions.
    let connection = database.connect().await;
    use sea_orm::ConnectionTrait;
    let sessions = connection
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
                database.name
            ),
        ))
        .await
        .expect("query")
        .expect("a row");
    let count: i64 = sessions.try_get_by_index(0).expect("a count");
    assert_eq!(count, 0, "the gateway's connections are closed");
}

#[tokio::test]
async fn metrics_count_requests_errors_and_statements() {
    let database = TestDatabase::new().await;
    // Two operation names fit the label; a third name is `other`.
    let server = gateway::config::ServerArgs {
        operations: gateway::config::OperationArgs {
            metrics_operation_names: 2,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    app.graphql("{ organizations { totalCount } }", json!({})).await;
    app.graphql("{ nope }", json!({})).await;
    for name in ["MetricsFirstName", "MetricsSecondName", "MetricsThirdName"] {
        app.graphql(&format!("query {name} {{ organizations {{ totalCount }} }}"), json!({}))
            .await;
    }
    let response = app.client.get(app.url("/metrics")).send().await.expect("request");
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("text");
    assert!(
        !text.contains("MetricsThirdName"),
        "the third name is over the bound:\n{text}"
    );
    for metric in [
        "gateway_requests_total{kind=\"query\",operation=\"anonymous\",outcome=\"ok\"}",
        "gateway_requests_total{kind=\"query\",operation=\"MetricsFirstName\",outcome=\"ok\"}",
        "gateway_requests_total{kind=\"query\",operation=\"MetricsSecondName\",outcome=\"ok\"}",
        "gateway_requests_total{kind=\"query\",operation=\"other\",outcome=\"ok\"}",
        "gateway_graphql_errors_total{code=\"GRAPHQL_VALIDATION_FAILED\"}",
        "gateway_sql_statements_total",
        "gateway_request_duration_seconds_bucket",
        "gateway_sql_duration_seconds_bucket",
        "gateway_pool_connections{state=\"open\"}",
        "gateway_requests_in_flight",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn response_fields_keep_the_order_of_the_selection() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ z: organizations { totalCount } a: organizations { totalCount } }" }))
        .send()
        .await
        .expect("request");
    let text = response.text().await.expect("text");
    assert!(text.find("\"z\"").unwrap() < text.find("\"a\"").unwrap(), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn answers_and_playground_assets_are_compressed_when_the_client_accepts_it() {
    let fixture = crate::fixture::Fixture::postgres().await;
    let query = serde_json::json!({ "query": "{ tasks(first: 500) { nodes { id title status priority } } }" });
    let plain = fixture
        .app
        .client
        .post(fixture.app.url("/graphql"))
        .json(&query)
        .send()
        .await
        .expect("request");
    assert!(
        plain.headers().get("content-encoding").is_none(),
        "uncompressed unless asked"
    );
    let raw = plain.bytes().await.expect("body").len();
    for encoding in ["gzip", "br"] {
        let compressed = fixture
            .app
            .client
            .post(fixture.app.url("/graphql"))
            .header("accept-encoding", encoding)
            .json(&query)
            .send()
            .await
            .expect("request");
        assert_eq!(compressed.headers()["content-encoding"], encoding);
        let size = compressed.bytes().await.expect("body").len();
        assert!(size * 3 < raw, "{encoding}: {size} bytes of {raw}");
    }
    let asset = fixture
        .app
        .client
        .get(fixture.app.url("/"))
        .header("accept", "text/html")
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("playground");
    assert_eq!(asset.headers()["content-encoding"], "gzip");
}

/// The playground's page and assets carry entity tags; a browser revalidating with
/// `If-None-Match` gets `304 Not Modified` and no body.
#[tokio::test]
async fn playground_assets_have_etags_and_revalidate() {
    let database = crate::support::TestDatabase::new().await;
    let app = crate::support::TestApp::spawn(&database.args()).await;
    for (path, accept) in [("/playground/graphiql.min.js", "*/*"), ("/", "text/html")] {
        let first = app
            .client
            .get(app.url(path))
            .header("accept", accept)
            .send()
            .await
            .expect("request");
        assert_eq!(first.status().as_u16(), 200, "{path}");
        let tag = first.headers()["etag"].to_str().expect("ASCII").to_owned();
        assert!(tag.starts_with("W/\"") && tag.len() > 10, "{path}: {tag}");
        assert!(!first.bytes().await.expect("body").is_empty());
        let again = app
            .client
            .get(app.url(path))
            .header("accept", accept)
            .header("if-none-match", &tag)
            .send()
            .await
            .expect("request");
        assert_eq!(again.status().as_u16(), 304, "{path}");
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert!(again.bytes().await.expect("body").is_empty(), "{path}: no body");
        let other = app
            .client
            .get(app.url(path))
            .header("accept", accept)
            .header("if-none-match", "W/\"something-else\"")
            .send()
            .await
            .expect("request");
        assert_eq!(other.status().as_u16(), 200, "{path}: another tag gets the bytes");
    }
    app.stop().await;
}
