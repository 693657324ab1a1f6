//! Real clients against the gateway, as frontends run them (the npm packages in `tests/browser`).

use crate::fixture::Fixture;

/// Runs `script` from `tests/browser` with node against the fixture's endpoint.
async fn run_client(fixture: &Fixture, script: &str) {
    let dir = crate::support::node_tools();
    let output = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .arg(fixture.app.url("/graphql"))
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
