//! Real clients against the gateway, as frontends run them (the npm packages in `tests/browser`):
//! this module, `playground` (Chromium) and `scale_out` (PgBouncer, replicas) are the test tier
//! that needs tools beyond PostgreSQL (CONTRIBUTING.md, "Test tiers").

use crate::fixture::Fixture;

/// Runs `script` from `tests/browser` with node against the fixture's endpoint.
async fn run_client(fixture: &Fixture, script: &str) {
    run_node(&fixture.app.url("/graphql"), script, &[]).await;
}

/// Runs `script` from `tests/browser` with node, its arguments `url` and `extra`; fails the test
/// with the script's output unless it succeeds.
pub(crate) async fn run_node(url: &str, script: &str, extra: &[&str]) {
    let dir = crate::support::node_tools();
    let output = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .arg(url)
        .args(extra)
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// urql's defaults send short queries as GET; without cookies that needs no CSRF header.
#[tokio::test]
async fn urql_with_its_defaults_queries_by_get() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "urql-get.mjs").await;
    fixture.app_stop().await;
}

/// Apollo Client 4's `InMemoryCache` with its defaults keeps two aggregates apart and gives back
/// what the server answered (aggregate types offer no `id` it would take for an identity).
#[tokio::test]
async fn apollo_clients_normalised_cache_keeps_aggregates_apart() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "apollo-cache.mjs").await;
    fixture.app_stop().await;
}

/// Apollo Client 4 keying its cache by Relay global ids: a row read in a list and through
/// `node(nodeId:)` is one cache object, which a mutation's answer updates.
#[tokio::test]
async fn apollo_clients_cache_keys_rows_by_their_node_ids() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "apollo-node.mjs").await;
}

/// Apollo Client 4's `relayStylePagination()`, as README's pagination example uses it (`edges`):
/// after `fetchMore` with `pageInfo.endCursor` the cache holds both pages, in order.
#[tokio::test]
async fn apollo_relay_style_pagination_keeps_both_pages() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "apollo-pagination.mjs").await;
    fixture.app_stop().await;
}

/// graphql-request 7 as a service uses it: variables, a mutation, and a refusal as a
/// `ClientError` carrying the gateway's code.
#[tokio::test]
async fn graphql_request_gets_the_servers_answers_and_codes() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "graphql-request.mjs").await;
    fixture.app_stop().await;
}

/// urql with `@urql/exchange-graphcache` and its defaults: aggregates stay apart, rows normalise
/// by `id`, a mutation's row updates every query that shows it.
#[tokio::test]
async fn urql_graphcache_keeps_the_servers_answers() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "urql-graphcache.mjs").await;
    fixture.app_stop().await;
}

/// GraphQL Code Generator introspects the served schema and, with README's scalar mapping,
/// generates types that `tsc --noEmit` accepts for typed usage code; no scalar is `any`.
#[tokio::test]
async fn graphql_codegen_types_check_with_tsc() {
    let fixture = Fixture::postgres().await;
    run_client(&fixture, "codegen.mjs").await;
    fixture.app_stop().await;
}

/// A page on another origin, in Chromium, sends Apollo's client-awareness headers and a
/// `traceparent`: the preflight admits them and the page reads the answer and `x-request-id`.
#[tokio::test]
async fn a_cross_origin_page_with_sdk_headers_is_served() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let database = crate::support::TestDatabase::new().await;
    let server = gateway::config::ServerArgs {
        http: gateway::config::HttpArgs {
            cors_origins: vec![format!("http://127.0.0.1:{port}")],
            ..Default::default()
        },
        ..gateway::config::ServerArgs::default()
    };
    let app = crate::support::TestApp::builder(&database.args())
        .server(server)
        .spawn()
        .await;
    run_node(&app.url("/graphql"), "cross-origin.mjs", &[&port.to_string()]).await;
    app.stop().await;
}

/// Every SDL the gateway prints (the full schema and each role's view) parses in graphql-js, as
/// codegen tools and clients need: no empty input types, no dangling references.
#[test]
fn every_printed_schema_parses_in_graphql_js() {
    let dir = crate::support::node_tools();
    let (success, _, stderr) = crate::support::run_gateway(&["schema", "--role", "nobody"], &[]);
    assert!(!success && stderr.contains("names no role `nobody`"), "{stderr}");
    for role in [None, Some("anonymous"), Some("member"), Some("admin")] {
        let mut args = vec!["schema"];
        if let Some(role) = role {
            args.extend(["--role", role]);
        }
        let (success, sdl, stderr) = crate::support::run_gateway(&args, &[]);
        assert!(success, "{role:?}: {stderr}");
        let mut node = std::process::Command::new("node")
            .arg(dir.join("parse-sdl.mjs"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run node");
        use std::io::Write;
        node.stdin
            .take()
            .expect("stdin")
            .write_all(sdl.as_bytes())
            .expect("write SDL");
        let output = node.wait_with_output().expect("node finishes");
        assert!(
            output.status.success(),
            "{role:?}: graphql-js refuses the SDL: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn the_graphql_over_http_audits_pass() {
    let dir = crate::support::node_tools();
    let database = crate::support::TestDatabase::new().await;
    let app = crate::support::TestApp::spawn(&database.args()).await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("audit.mjs"))
        .arg(app.url("/graphql"))
        .output()
        .await
        .expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let audits: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).expect("JSON results");
    assert!(audits.len() > 50, "the audits ran");
    let failed: Vec<&serde_json::Value> = audits
        .iter()
        .filter(|audit| audit["status"] != "ok" && audit["status"] != "notice")
        .collect();
    assert!(failed.is_empty(), "every MUST and SHOULD passes: {failed:#?}");
    // Notices, if any, are about GET (the audits' GETs carry no cookies, so they run).
    for audit in audits.iter().filter(|audit| audit["status"] == "notice") {
        assert!(audit["name"].as_str().unwrap().contains("GET"), "{audit}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_reference_graphql_ws_client_subscribes_and_is_refused_a_bad_token() {
    let dir = crate::support::node_tools();
    let database = crate::support::TestDatabase::new().await;
    let connection = database.connect().await;
    gateway::sample::seed::seed(&connection, 0.1).await.expect("seed");
    let app = crate::support::TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .spawn()
        .await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("ws.mjs"))
        .arg(format!("ws://{}/graphql/ws", app.address))
        .arg(app.url("/graphql"))
        .arg(crate::permissions::token("admin", Some(1)))
        .arg("not-a-token")
        .output()
        .await
        .expect("run node");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(seen["refused"], 4403, "{seen}");
    assert!(seen["mutation"].get("errors").is_none(), "{seen}");
    assert_eq!(
        seen["event"]["data"]["tagChanged"],
        serde_json::json!({ "op": "INSERT", "row": { "name": "from graphql-ws" } }),
        "{seen}"
    );
    assert!(seen.get("timedOut").is_none(), "{seen}");
    app.stop().await;
}
