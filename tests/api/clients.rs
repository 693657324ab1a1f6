//! Real clients against the gateway, as frontends run them (the npm packages in `tests/browser`).

use crate::fixture::Fixture;

/// Apollo Client 4's `InMemoryCache` with its defaults keeps two aggregates apart and gives back
/// what the server answered (aggregate types offer no `id` it would take for an identity).
#[tokio::test]
async fn apollo_clients_normalised_cache_keeps_aggregates_apart() {
    let fixture = Fixture::postgres().await;
    let dir = crate::support::node_tools();
    let output = tokio::process::Command::new("node")
        .arg(dir.join("apollo-cache.mjs"))
        .arg(fixture.app.url("/graphql"))
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "Apollo Client: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    fixture.app_stop().await;
}
