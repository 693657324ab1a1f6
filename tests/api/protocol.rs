//! GraphQL over HTTP as the specification says: the public `graphql-http` server audits, media
//! types and status codes, coded refusals of malformed requests, CSRF prevention, body and batch
//! limits.

use crate::support::{TestApp, TestDatabase};
use serde_json::{Value, json};

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
async fn get_with_cookies_needs_a_csrf_header_and_get_never_mutates() {
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
    // Without cookies a GET carries no ambient credential: it runs, as urql and Apollo send it.
    let (status, body) = get(vec![], "{ organizations { totalCount } }").await;
    assert_eq!(
        (status, body["data"]["organizations"]["totalCount"].as_i64()),
        (200, Some(0)),
        "{body}"
    );
    // With cookies (which a proxy in front might turn into credentials) it needs a CSRF header.
    let (status, body) = get(vec![("cookie", "session=1")], "{ organizations { totalCount } }").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"]["code"], "CSRF_PREVENTION");
    let (status, body) = get(
        vec![("cookie", "session=1"), ("apollo-require-preflight", "true")],
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

#[tokio::test]
async fn query_limits_refuse_with_codes() {
    let database = TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        limits: gateway::config::LimitArgs {
            max_depth: 5,
            max_aliases: 3,
            max_root_fields: 2,
            max_page_size: 50,
            ..Default::default()
        },
        operations: gateway::config::OperationArgs {
            introspection: false,
            ..Default::default()
        },
        http: gateway::config::HttpArgs {
            playground: false,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let code = |query: &'static str| {
        let app = &app;
        async move {
            app.graphql(query, json!({})).await["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert_eq!(
        code("{ tasks { nodes { project { organization { projects { nodes { tasks { nodes { id } } } } } } } } }")
            .await,
        "GRAPHQL_VALIDATION_FAILED",
        "too deep"
    );
    assert_eq!(
        code("{ a: tasks { totalCount } b: tasks { totalCount } }").await,
        "",
        "two root fields are fine"
    );
    assert_eq!(
        code("{ a: tasks { totalCount } b: tasks { totalCount } c: tasks { totalCount } }").await,
        "QUERY_LIMIT_EXCEEDED"
    );
    assert_eq!(
        code("{ tasks { nodes { a: id b: id c: id d: id } } }").await,
        "QUERY_LIMIT_EXCEEDED",
        "too many aliases"
    );
    assert_eq!(
        code("{ tasks(first: 51) { totalCount } }").await,
        "BAD_USER_INPUT",
        "page larger than the maximum"
    );
    assert_eq!(
        code("{ __schema { types { name } } }").await,
        "GRAPHQL_VALIDATION_FAILED",
        "introspection is off"
    );
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 404, "the playground is off");
    app.stop().await;
}

#[tokio::test]
async fn unbounded_lists_stop_at_the_maximum_page_size() {
    let fixture = crate::fixture::Fixture::postgres().await;
    let data = fixture
        .data("{ tasks { totalCount nodes { id } pageInfo { hasNextPage } } }")
        .await;
    assert_eq!(data["tasks"]["totalCount"], 2000);
    assert_eq!(
        data["tasks"]["nodes"].as_array().unwrap().len(),
        2000,
        "below the default maximum (10,000) nothing is cut"
    );
    let server = gateway::config::ServerArgs {
        limits: gateway::config::LimitArgs {
            max_page_size: 100,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let database_url = fixture.connection_url();
    let app = TestApp::builder(&gateway::config::DatabaseArgs::with_url(Some(&database_url)))
        .server(server)
        .spawn()
        .await;
    let answer = app
        .graphql(
            "{ tasks { totalCount nodes { id } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer["data"]["tasks"]["nodes"].as_array().unwrap().len(),
        100,
        "{answer}"
    );
    assert_eq!(answer["data"]["tasks"]["pageInfo"]["hasNextPage"], true);
    app.stop().await;
}

#[tokio::test]
async fn timeouts_and_overload_fail_fast_with_codes() {
    let fixture = crate::fixture::Fixture::postgres().await;
    let database = gateway::config::DatabaseArgs {
        pool: gateway::config::PoolArgs {
            statement_timeout: std::time::Duration::from_millis(1500),
            ..Default::default()
        },
        ..gateway::config::DatabaseArgs::with_url(Some(&fixture.connection_url()))
    };
    // The pool sets PostgreSQL's statement_timeout on its connections.
    let target = database.target().unwrap();
    let pool = gateway::database::connect(&target, &database.pool).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = pool
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "1500ms");
    pool.close().await.unwrap();

    let heavy = "{ tasks(first: 2000) { nodes { comments(first: 50) { nodes { author { displayName } } } tags(first: 50) { nodes { name } } } } }";
    let server = gateway::config::ServerArgs {
        limits: gateway::config::LimitArgs {
            request_timeout: std::time::Duration::from_millis(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::builder(&database).server(server).spawn().await;
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": heavy }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT");
    app.stop().await;

    let server = gateway::config::ServerArgs {
        limits: gateway::config::LimitArgs {
            max_concurrent_requests: 1,
            queue_timeout: std::time::Duration::from_millis(20),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::builder(&database).server(server).spawn().await;
    let requests = (0..12).map(|_| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let response = app
                .client
                .post(app.url("/graphql"))
                .json(&json!({ "query": heavy }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), started.elapsed())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let overloaded = results.iter().filter(|(status, _)| *status == 503).count();
    let served = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(overloaded + served, 12, "every request answered: {results:?}");
    assert!(
        served >= 1 && overloaded >= 1,
        "some served, the overflow refused quickly: {results:?}"
    );
    app.stop().await;
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn automatic_persisted_queries_follow_the_apollo_protocol() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let query = "{ organizations { totalCount } }";
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256(query) } });
    let by_hash = json!({ "extensions": extensions }).to_string();
    let (status, _, body) = post(&app, Some("application/json"), None, &by_hash).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    let with_query = json!({ "query": query, "extensions": extensions }).to_string();
    let (status, _, body) = post(&app, Some("application/json"), None, &with_query).await;
    assert_eq!(
        (status, body["data"]["organizations"]["totalCount"].as_i64()),
        (200, Some(0))
    );
    let (status, _, body) = post(&app, Some("application/json"), None, &by_hash).await;
    assert_eq!(
        (status, body["data"]["organizations"]["totalCount"].as_i64()),
        (200, Some(0)),
        "now known by its hash"
    );
    let wrong = json!({ "query": "{ tasks { totalCount } }", "extensions": extensions }).to_string();
    let (status, _, body) = post(&app, Some("application/json"), None, &wrong).await;
    assert_eq!(status, 400, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn safelisted_roles_run_only_listed_operations() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("operations.json");
    let listed = "query Count { organizations { totalCount } }";
    std::fs::write(
        &manifest,
        json!({ "format": "apollo-persisted-query-manifest", "version": 1,
                "operations": [{ "id": "count-organizations", "name": "Count", "type": "query", "body": listed }] })
        .to_string(),
    )
    .unwrap();
    let database = TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        operations: gateway::config::OperationArgs {
            safelist_file: Some(manifest),
            safelist_roles: vec!["*".into()],
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let (status, _, body) = post(
        &app,
        Some("application/json"),
        None,
        &json!({ "id": "count-organizations" }).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["data"]["organizations"]["totalCount"].as_i64()),
        (200, Some(0)),
        "{body}"
    );
    let (status, _, body) = post(
        &app,
        Some("application/json"),
        None,
        &json!({ "query": listed }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "the listed document sent in full: {body}");
    let (status, _, body) = post(
        &app,
        Some("application/json"),
        None,
        &json!({ "query": "{ tasks { totalCount } }" }).to_string(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["extensions"]["code"], "OPERATION_NOT_IN_SAFELIST");
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_pool_answers_every_request_in_time() {
    let fixture = crate::fixture::Fixture::postgres().await;
    let mut database = gateway::config::DatabaseArgs::with_url(Some(&fixture.connection_url()));
    database.pool.pool_max_connections = 2;
    database.pool.acquire_timeout = std::time::Duration::from_millis(500);
    let app = TestApp::spawn(&database).await;
    let query = "{ tasks(first: 500) { nodes { id comments { totalCount } } } }";
    let started = std::time::Instant::now();
    let requests = (0..200).map(|_| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/graphql"))
                .json(&json!({ "query": query }))
                .send()
                .await
                .expect("an answer");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            (status, body)
        }
    });
    // Meanwhile /metrics shows requests waiting for one of the two connections.
    let done = std::sync::atomic::AtomicBool::new(false);
    let sample_waiting = async {
        let mut most = 0.0f64;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(response) = app.client.get(app.url("/metrics")).send().await
                && let Ok(text) = response.text().await
                && let Some(value) = text
                    .lines()
                    .find_map(|line| line.strip_prefix("gateway_pool_waiting "))
                    .and_then(|value| value.trim().parse::<f64>().ok())
            {
                most = most.max(value);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        most
    };
    let run_all = async {
        let answers = futures_util::future::join_all(requests).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        answers
    };
    let (answers, most_waiting) = tokio::join!(run_all, sample_waiting);
    assert!(most_waiting > 0.0, "gateway_pool_waiting rose above 0 under load");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "no request hangs: {:?}",
        started.elapsed()
    );
    let mut succeeded = 0;
    for (status, body) in &answers {
        if body.get("errors").is_none() {
            succeeded += 1;
        } else {
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                matches!(code, "DATABASE_UNAVAILABLE" | "OVERLOADED" | "TIMEOUT"),
                "{status}: {body}"
            );
        }
    }
    assert!(succeeded > 0, "the pool still serves");
    app.stop().await;
}

#[tokio::test]
async fn shutdown_under_load_lets_accepted_requests_finish() {
    let fixture = crate::fixture::Fixture::postgres().await;
    let database = gateway::config::DatabaseArgs::with_url(Some(&fixture.connection_url()));
    let app = TestApp::spawn(&database).await;
    let url = app.url("/graphql");
    let client = app.client.clone();
    let query = "{ tasks(first: 2000) { nodes { id comments { nodes { body } } } } }";
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.post(url).json(&json!({ "query": query })).send().await })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    app.stop().await;
    let mut answered = 0;
    for request in requests {
        match request.await.unwrap() {
            // Arriving after the signal: a quick 503 while the others drain.
            Ok(response) if response.status().as_u16() == 503 => {
                let body: Value = response.json().await.expect("a JSON error");
                assert_eq!(body["errors"][0]["extensions"]["code"], "SHUTTING_DOWN");
            }
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 200, "an accepted request finishes");
                let body: Value = response.json().await.expect("a complete body");
                assert_eq!(body["data"]["tasks"]["nodes"].as_array().map(Vec::len), Some(2000));
                answered += 1;
            }
            // Connections not yet accepted when the listener closed are refused, never dropped mid-way.
            Err(error) => assert!(error.is_connect(), "{error:?}"),
        }
    }
    assert!(answered > 0, "requests in flight at shutdown were answered");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let database = TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        http: gateway::config::HttpArgs {
            cors_origins: vec!["https://app.example.com".into()],
            cors_credentials: true,
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/graphql"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type,authorization")
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight("https://app.example.com").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
    let refused = preflight("https://evil.example.net").await;
    assert!(
        refused.headers().get("access-control-allow-origin").is_none(),
        "other origins get no CORS grant"
    );
    app.stop().await;
}

#[tokio::test]
async fn draining_refuses_new_requests_with_503_while_in_flight_ones_finish() {
    let database = TestDatabase::new().await;
    let connection = database.connect().await;
    let mut app = TestApp::spawn(&database.args()).await;
    // The in-flight request reads tags, which take 2 s: it is certainly running when the drain
    // begins and when the fresh request arrives (a fast query could finish first and close the
    // listener).
    crate::resilience::slow_tags(&connection, 2).await;
    let in_flight = crate::resilience::slow_request(&app);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.signal_stop();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let fresh = reqwest::Client::new();
    let refused = fresh
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await;
    let response = refused.expect("the listener stays open while requests are in flight");
    assert_eq!(response.status().as_u16(), 503, "a new request while draining");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "SHUTTING_DOWN");
    let ready = reqwest::Client::new().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503, "readiness reports the drain");
    let finished = in_flight.await.unwrap().expect("the in-flight request is answered");
    assert_eq!(finished.status().as_u16(), 200);
    let body: Value = finished.json().await.expect("a complete body");
    assert!(body["errors"].is_null(), "{body}");
    assert!(!body["data"]["tags"]["nodes"].as_array().unwrap().is_empty(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn cors_admits_the_sdk_headers_caches_preflights_and_exposes_the_request_id() {
    let database = TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        http: gateway::config::HttpArgs {
            cors_origins: vec!["https://app.example.com".into()],
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = TestApp::builder(&database.args()).server(server).spawn().await;
    let sdk = "content-type,apollographql-client-name,apollographql-client-version,traceparent,sentry-trace,baggage";
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", sdk)
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in sdk.split(',') {
        assert!(allowed.contains(header), "{header} is not allowed: {allowed}");
    }
    assert_eq!(preflight.headers()["access-control-max-age"], "3600");
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://app.example.com")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-expose-headers"], "x-request-id");
    app.stop().await;
}
