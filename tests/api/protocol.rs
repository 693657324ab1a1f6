//! GraphQL over HTTP as the specification says: the public `graphql-http` server audits, media
//! types and status codes, coded refusals of malformed requests, CSRF prevention, body and batch
//! limits.

use crate::support::{TestApp, TestDatabase};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

async fn post(app: &TestApp, content_type: Option<&str>, accept: Option<&str>, body: &str) -> (u16, String, Value) {
    let mut request = app.client.post(app.url("/graphql")).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, media_type, body)
}

#[tokio::test]
async fn the_graphql_over_http_audits_pass() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser"));
    if !dir.join("node_modules/graphql-http").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status()
            .expect("npm");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("audit.mjs"))
        .arg(app.url("/graphql"))
        .output()
        .await
        .expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let audits: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON results");
    assert!(audits.len() > 50, "the audits ran");
    let failed: Vec<&Value> = audits
        .iter()
        .filter(|audit| audit["status"] != "ok" && audit["status"] != "notice")
        .collect();
    assert!(failed.is_empty(), "every MUST and SHOULD passes: {failed:#?}");
    // The only notices are GETs without a CSRF header, which are refused on purpose.
    for audit in audits.iter().filter(|audit| audit["status"] == "notice") {
        assert!(audit["name"].as_str().unwrap().contains("GET"), "{audit}");
    }
    app.stop().await;
}

#[tokio::test]
async fn media_types_status_codes_and_coded_refusals() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let query = r#"{"query":"{ organizations { totalCount } }"}"#;
    let (status, media_type, body) = post(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        query,
    )
    .await;
    assert_eq!(
        (status, media_type.as_str()),
        (200, "application/graphql-response+json")
    );
    assert_eq!(body["data"]["organizations"]["totalCount"], 0);
    let (_, media_type, _) = post(&app, Some("application/json"), Some("application/json"), query).await;
    assert_eq!(media_type, "application/json");
    let (_, media_type, _) = post(&app, Some("application/json"), None, query).await;
    assert_eq!(media_type, "application/json", "no Accept means JSON");

    let (status, _, body) = post(
        &app,
        Some("application/json"),
        Some("application/graphql-response+json"),
        r#"{"query":"{ nope }"}"#,
    )
    .await;
    assert_eq!(
        status, 400,
        "a document that cannot run is 400 with graphql-response+json"
    );
    assert!(body.get("data").is_none(), "{body}");
    let (status, _, _) = post(
        &app,
        Some("application/json"),
        Some("application/json"),
        r#"{"query":"{ nope }"}"#,
    )
    .await;
    assert_eq!(status, 200, "application/json keeps 200");

    for (content_type, body, expected_status, code) in [
        (Some("application/json"), "{not json", 400, "BAD_REQUEST"),
        (Some("application/json"), r#"{"variables":{}}"#, 400, "BAD_REQUEST"),
        (Some("application/json"), r#"{"query":42}"#, 400, "BAD_REQUEST"),
        (
            Some("application/json"),
            r#"{"query":"{ __typename }","variables":[1]}"#,
            400,
            "BAD_REQUEST",
        ),
        (
            Some("text/plain"),
            r#"{"query":"mutation { deleteTags(filter: {}) { affectedRows } }"}"#,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            "query=%7B__typename%7D",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (None, r#"{"query":"{ __typename }"}"#, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ] {
        let (status, media_type, answer) = post(&app, content_type, None, body).await;
        assert_eq!(status, expected_status, "{content_type:?} {body}: {answer}");
        assert_eq!(media_type, "application/json");
        assert_eq!(answer["errors"][0]["extensions"]["code"], code, "{answer}");
    }
    let (status, _, _) = post(&app, Some("application/json"), Some("text/csv"), query).await;
    assert_eq!(status, 406);
    app.stop().await;
}

#[tokio::test]
async fn get_needs_a_csrf_header_and_never_mutates() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let get = |headers: Vec<(&'static str, &'static str)>, query: &'static str| {
        let app = &app;
        async move {
            let mut request = app.client.get(app.url("/graphql")).query(&[("query", query)]);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = get(vec![], "{ organizations { totalCount } }").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"]["code"], "CSRF_PREVENTION");
    let (status, body) = get(
        vec![("apollo-require-preflight", "true")],
        "{ organizations { totalCount } }",
    )
    .await;
    assert_eq!(
        (status, body["data"]["organizations"]["totalCount"].as_i64()),
        (200, Some(0))
    );
    let (status, _) = get(
        vec![("x-apollo-operation-name", "Q")],
        "mutation { deleteTags(filter: {}) { affectedRows } }",
    )
    .await;
    assert_eq!(status, 405);
    app.stop().await;
}

#[tokio::test]
async fn batches_and_bodies_are_bounded() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let operation = json!({ "query": "{ organizations { totalCount } }" });
    let batch: Vec<Value> = (0..3).map(|_| operation.clone()).collect();
    let (status, _, body) = post(&app, Some("application/json"), None, &Value::Array(batch).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(3), "a batch answers with an array");
    let too_many: Vec<Value> = (0..11).map(|_| operation.clone()).collect();
    let (status, _, body) = post(
        &app,
        Some("application/json"),
        None,
        &Value::Array(too_many).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("at most 10"));
    let huge = format!(
        r#"{{"query":"{{ __typename }}","variables":{{"padding":"{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, _, body) = post(&app, Some("application/json"), None, &huge).await;
    assert_eq!(status, 413);
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
    app.stop().await;
}
