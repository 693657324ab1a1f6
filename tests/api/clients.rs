//! Real clients against the gateway, as frontends run them (the npm packages in `tests/browser`).

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
        cors_origins: vec![format!("http://127.0.0.1:{port}")],
        ..gateway::config::ServerArgs::default()
    };
    let app = crate::support::TestApp::spawn_with_server(&database.args(), server).await;
    run_node(&app.url("/graphql"), "cross-origin.mjs", &[&port.to_string()]).await;
    app.stop().await;
}
