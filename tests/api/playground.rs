//! The playground works with no internet: its page and assets come from the gateway itself, and
//! a real browser with every other host blocked runs a query from it.

use crate::support::{TestApp, TestDatabase};
use std::path::Path;

#[tokio::test]
async fn playground_page_and_assets_are_served_by_the_gateway() {
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let page = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("HTML");
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        assert!(
            html.contains(&format!("/playground/{asset}")),
            "the page loads {asset} from the gateway"
        );
        let response = app
            .client
            .get(app.url(&format!("/playground/{asset}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{asset}");
        assert!(
            response.bytes().await.expect("bytes").len() > 5_000,
            "{asset} is the real file"
        );
    }
    assert!(!html.contains("https://"), "the page references no external host");
    let missing = app
        .client
        .get(app.url("/playground/nope.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 404);

    let browser_get = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("request");
    assert!(
        browser_get.text().await.expect("HTML").contains("GraphiQL"),
        "browsers get the playground at /graphql"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_real_browser_runs_a_query_from_the_playground_with_the_internet_blocked() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed for this test: `apt-get install chromium` (or set CHROMIUM_PATH)"
    );
    let dir = crate::support::node_tools();
    let database = TestDatabase::new().await;
    let app = TestApp::spawn(&database.args()).await;
    let screenshots = dir.join("screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    let url = app.url("/");
    let output = tokio::process::Command::new("node")
        .arg(dir.join("playground.mjs"))
        .arg(&url)
        .arg(screenshots.join("playground.png"))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed: {stdout}{stderr}");
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the script prints JSON");
    assert!(
        seen["result"]
            .as_str()
            .is_some_and(|result| result.contains("\"totalCount\": 0")),
        "{seen}"
    );
    assert_eq!(
        seen["blocked"],
        serde_json::json!([]),
        "the page asked for nothing outside the gateway"
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "no script errors on the page");
    app.stop().await;
}

/// With a token typed into the Headers pane the playground introspects again as that role (the
/// member's schema has mutations, the anonymous one none), without a "Re-fetch schema" click; the
/// welcome text fits the editor.
#[tokio::test]
async fn the_playground_reloads_the_schema_when_the_headers_change() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed: `apt-get install chromium`"
    );
    let dir = crate::support::node_tools();
    let database = TestDatabase::new().await;
    let app = TestApp::builder(&database.args())
        .auth(&crate::permissions::auth())
        .spawn()
        .await;
    let output = tokio::process::Command::new("node")
        .arg(dir.join("playground-headers.mjs"))
        .arg(app.url("/"))
        .arg(crate::permissions::token("member", Some(1)))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    app.stop().await;
}
