//! A hostile corpus for the parser and everything that recurses after it: 100,000 levels of
//! nesting in every recursive position of a document (selection sets, list and object values,
//! `not`, variable types, directive arguments, fragment chains) and of variables, over HTTP and
//! over WebSocket, anonymous and authenticated. The process stays up and every answer is coded;
//! documents just inside the bound still run.

use crate::permissions::{auth, token};
use crate::subscriptions::Client;
use crate::support::{TestApp, TestDatabase};
use serde_json::{Value, json};

const DEEP: usize = 100_000;

/// `open` × n, `middle`, `close` × n.
fn nest(open: &str, middle: &str, close: &str, levels: usize) -> String {
    format!("{}{middle}{}", open.repeat(levels), close.repeat(levels))
}

/// (name, query, variables) in each recursive position.
fn corpus() -> Vec<(String, String, Value)> {
    let chain: String = (0..20_000)
        .map(|index| format!("fragment F{index} on Query {{ ...F{} }}\n", index + 1))
        .collect();
    let flat_or: Vec<Value> = (0..4_375).map(|id| json!({ "id": { "eq": id.to_string() } })).collect();
    let mut nested_and = json!({ "id": { "eq": "1" } });
    for _ in 0..60 {
        nested_and = json!({ "and": [nested_and] });
    }
    vec![
        (
            "selection sets".into(),
            nest("{ tasks { nodes ", "{ id", " } }", 10_000),
            json!({}),
        ),
        ("nameless selection sets".into(), nest("{a", "", "}", DEEP), json!({})),
        ("bare braces".into(), nest("{", "", "}", DEEP), json!({})),
        (
            "list values".into(),
            format!(
                "{{ tasks(filter: {{id: {{in: {}}}}}) {{ totalCount }} }}",
                nest("[", "1", "]", DEEP)
            ),
            json!({}),
        ),
        (
            "object values".into(),
            format!("{{ tasks(filter: {}) {{ totalCount }} }}", nest("{a: ", "1", "}", DEEP)),
            json!({}),
        ),
        (
            "not".into(),
            format!(
                "{{ tasks(filter: {}) {{ totalCount }} }}",
                nest("{not: ", "{id: {eq: \"1\"}}", "}", DEEP)
            ),
            json!({}),
        ),
        (
            "and".into(),
            format!(
                "{{ tasks(filter: {}) {{ totalCount }} }}",
                nest("{and: [", "{id: {eq: \"1\"}}", "]}", DEEP)
            ),
            json!({}),
        ),
        (
            "variable types".into(),
            format!("query Q($v: {}) {{ __typename }}", nest("[", "Int", "]", DEEP)),
            json!({}),
        ),
        (
            "directive arguments".into(),
            format!("{{ __typename @include(if: {}) }}", nest("[", "true", "]", DEEP)),
            json!({}),
        ),
        (
            "arguments in parentheses".into(),
            format!("{{ tasks{} {{ totalCount }} }}", nest("(", "", ")", DEEP)),
            json!({}),
        ),
        (
            "fragment chain".into(),
            format!("{{ ...F0 }}\n{chain}fragment F20000 on Query {{ __typename }}"),
            json!({}),
        ),
        (
            "flat or of 4,375 conditions in variables".into(),
            "query Q($f: TaskFilter) { tasks(filter: $f) { totalCount } }".into(),
            json!({ "f": { "or": flat_or } }),
        ),
        (
            "and nested 60 deep in variables".into(),
            "query Q($f: TaskFilter) { tasks(filter: $f) { totalCount } }".into(),
            json!({ "f": nested_and }),
        ),
    ]
}

fn assert_coded(name: &str, transport: &str, body: &Value) {
    let errors = body["errors"].as_array();
    match errors {
        Some(errors) => {
            for error in errors {
                assert!(
                    error["extensions"]["code"].is_string(),
                    "{name} over {transport}: uncoded error {error}"
                );
            }
        }
        None => assert!(body.get("data").is_some(), "{name} over {transport}: {body}"),
    }
}

#[tokio::test]
async fn nesting_in_every_recursive_position_is_refused_with_a_code_and_the_process_stays_up() {
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args()).auth(&auth()).spawn().await;
    let member = token("member", Some(1));
    for (name, query, variables) in corpus() {
        eprintln!("case: {name}");
        for bearer in [None, Some(member.as_str())] {
            let mut request = app
                .client
                .post(app.url("/graphql"))
                .json(&json!({ "query": query, "variables": variables }));
            if let Some(bearer) = bearer {
                request = request.header("authorization", format!("Bearer {bearer}"));
            }
            let response = request
                .send()
                .await
                .unwrap_or_else(|error| panic!("{name}: the gateway did not answer: {error}"));
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            assert!(status < 500, "{name}: {status} {body}");
            assert_coded(&name, "HTTP", &body);
        }
        let mut socket = Client::connect(&app, Some(&member)).await;
        socket
            .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
        let message = socket.next_message().await;
        match message["type"].as_str() {
            Some("error") => {
                for error in message["payload"].as_array().expect("errors") {
                    assert!(
                        error["extensions"]["code"].is_string(),
                        "{name} over WebSocket: {error}"
                    );
                }
            }
            Some("next") => assert_coded(&name, "WebSocket", &message["payload"]),
            _ => panic!("{name} over WebSocket: {message}"),
        }
    }
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status().as_u16(), 200, "still serving after the corpus");
    app.stop().await;
}

#[tokio::test]
async fn documents_just_inside_the_nesting_bound_still_run() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    // `{`, `(`, 60 `not` objects and `{id: {eq: …}}`: 64 brackets, the default GATEWAY_MAX_NESTING.
    let filter = nest("{not: ", "{id: {eq: \"1\"}}", "}", 60);
    let inside = app
        .graphql(&format!("{{ tasks(filter: {filter}) {{ totalCount }} }}"), json!({}))
        .await;
    assert!(inside.get("errors").is_none(), "{inside}");
    assert_eq!(inside["data"]["tasks"]["totalCount"], 0);
    let filter = nest("{not: ", "{id: {eq: \"1\"}}", "}", 61);
    let outside = app
        .graphql(&format!("{{ tasks(filter: {filter}) {{ totalCount }} }}"), json!({}))
        .await;
    assert_eq!(
        outside["errors"][0]["extensions"]["code"], "QUERY_LIMIT_EXCEEDED",
        "{outside}"
    );
    // 4,375 conditions in one flat `or` compile to one flat SQL condition and run.
    let flat: Vec<Value> = (0..4_375).map(|id| json!({ "id": { "eq": id.to_string() } })).collect();
    let answer = app
        .graphql(
            "query Q($f: TaskFilter) { tasks(filter: $f) { totalCount } }",
            json!({ "f": { "or": flat } }),
        )
        .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    app.stop().await;
}
