//! The GraphiQL playground, served entirely by the gateway.
//!
//! async-graphql's stock page loads GraphiQL and React from a CDN and renders blank on a network
//! without internet, so the assets are vendored (pinned, checksummed: see `vendor.sh`) and
//! embedded in the binary. The page sends queries to `/graphql` and subscriptions to the
//! gateway's own WebSocket endpoint.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("page.html");

/// (name, media type, bytes) of each embedded asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/react-dom.production.min.js"),
    ),
];

/// The playground page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// One embedded asset, cacheable for a day (the names are stable within a release).
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, media_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *media_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such playground asset").into_response(),
    }
}
