//! A hostile-input corpus: malformed and abusive requests never crash the gateway, never get a
//! 5xx (the database is up), and every refusal is a JSON error with `extensions.code`.

use crate::support::{TestApp, TestDatabase};
use serde_json::{Value, json};

fn fragment_bomb(levels: usize) -> String {
    let mut document = String::from("{ tasks { nodes { ...F0 } } }\n");
    for level in 0..levels {
        let next = if level + 1 == levels {
            "id title".to_owned()
        } else {
            format!("...F{} ...F{}", level + 1, level + 1)
        };
        document.push_str(&format!("fragment F{level} on Task {{ {next} }}\n"));
    }
    document
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let query = |text: String| json!({ "query": text }).to_string().into_bytes();
    let aliases: String = (0..5000).map(|index| format!("a{index}: __typename ")).collect();
    let nested_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    vec![
        ("empty body", Vec::new()),
        ("malformed JSON", b"{\"query\": ".to_vec()),
        (
            "binary garbage",
            (0..4096u32)
                .map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        (
            "invalid UTF-8",
            vec![b'{', b'"', b'q', 0xff, 0xfe, b'"', b':', b'1', b'}'],
        ),
        ("query is a number", json!({ "query": 42 }).to_string().into_bytes()),
        (
            "variables is a string",
            json!({ "query": "{ __typename }", "variables": "x" })
                .to_string()
                .into_bytes(),
        ),
        ("deeply nested JSON", nested_json.into_bytes()),
        (
            "deeply nested query",
            query(format!(
                "{}{}",
                "{ tasks { nodes { project { tasks { nodes ".repeat(40),
                "} } } } }".repeat(40)
            )),
        ),
        ("alias bomb", query(format!("{{ {aliases} }}"))),
        ("fragment bomb", query(fragment_bomb(30))),
        ("small fragment bomb", query(fragment_bomb(10))),
        (
            "circular fragments",
            query("{ tasks { nodes { ...A } } } fragment A on Task { ...B } fragment B on Task { ...A }".into()),
        ),
        (
            "huge in-list",
            query(format!(
                "{{ tasks(filter: {{id: {{in: [{}]}}}}) {{ totalCount }} }}",
                vec!["1"; 60_000].join(",")
            )),
        ),
        (
            "very long string",
            query(format!(
                "{{ tasks(filter: {{title: {{eq: \"{}\"}}}}) {{ totalCount }} }}",
                "x".repeat(500_000)
            )),
        ),
        (
            "wrong argument type",
            query("{ tasks(first: \"ten\") { totalCount } }".into()),
        ),
        (
            "unknown enum value",
            query("{ tasks(filter: {status: {eq: MAYBE}}) { totalCount } }".into()),
        ),
        (
            "big integer overflow",
            query("{ task(id: \"99999999999999999999999\") { id } }".into()),
        ),
        ("negative offset", query("{ tasks(offset: -5) { totalCount } }".into())),
        (
            "forged cursor",
            query("{ tasks(after: \"WyJ4Il0\") { totalCount } }".into()),
        ),
        (
            "null byte in string",
            query("{ tasks(filter: {title: {eq: \"a\\u0000b\"}}) { totalCount } }".into()),
        ),
        ("oversized body", vec![b' '; 2 * 1024 * 1024]),
    ]
}

#[tokio::test]
async fn hostile_requests_are_refused_with_codes_and_never_crash_the_gateway() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    for (name, body) in corpus() {
        let started = std::time::Instant::now();
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("{name}: the gateway did not answer: {error}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert!(status < 500, "{name}: {status} {text}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{name}: took {:?}",
            started.elapsed()
        );
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"));
        if let Some(errors) = body.get("errors") {
            for error in errors.as_array().unwrap() {
                assert!(error["extensions"]["code"].is_string(), "{name}: uncoded error {error}");
                assert!(
                    !error["message"].as_str().unwrap_or_default().contains("SELECT"),
                    "{name}: SQL leaked"
                );
            }
        } else {
            assert!(body.get("data").is_some(), "{name}: neither data nor errors: {text}");
        }
    }
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status().as_u16(), 200, "still serving after the corpus");
    app.stop().await;
}
