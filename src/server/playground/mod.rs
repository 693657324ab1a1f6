//! The GraphiQL playground, served entirely by the gateway.
//!
//! async-graphql's stock page loads GraphiQL and React from a CDN and renders blank on a network
//! without internet, so the assets are vendored (pinned, checksummed: see `vendor.sh`) and
//! embedded in the binary. The page sends queries to `/graphql` and subscriptions to the
//! gateway's own WebSocket endpoint.

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

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

/// The entity tag of embedded bytes: weak, because the compression layer may send them encoded.
fn tag(bytes: &[u8]) -> String {
    format!("W/\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

static PAGE_TAG: LazyLock<String> = LazyLock::new(|| tag(PAGE.as_bytes()));
static ASSET_TAGS: LazyLock<Vec<String>> = LazyLock::new(|| ASSETS.iter().map(|(_, _, bytes)| tag(bytes)).collect());

/// `bytes` with their tag, or `304 Not Modified` when the client's `If-None-Match` has it.
fn tagged(
    request: &HeaderMap,
    tag: &str,
    media_type: &'static str,
    cache: &'static str,
    bytes: &'static [u8],
) -> Response {
    let seen = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|candidate| candidate == tag || candidate == "*")
        });
    let headers = [
        (header::ETAG, tag.to_owned()),
        (header::CACHE_CONTROL, cache.to_owned()),
        (header::CONTENT_TYPE, media_type.to_owned()),
    ];
    if seen {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, bytes).into_response()
    }
}

/// The playground page: revalidated on every load (it names the assets of this release).
pub async fn page(request: HeaderMap) -> Response {
    tagged(
        &request,
        &PAGE_TAG,
        "text/html; charset=utf-8",
        "no-cache",
        PAGE.as_bytes(),
    )
}

/// One embedded asset, cacheable for a day and revalidated by its tag afterwards.
pub async fn asset(Path(name): Path<String>, request: HeaderMap) -> Response {
    match ASSETS.iter().position(|(asset, _, _)| *asset == name) {
        Some(index) => {
            let (_, media_type, bytes) = ASSETS[index];
            tagged(&request, &ASSET_TAGS[index], media_type, "public, max-age=86400", bytes)
        }
        None => (StatusCode::NOT_FOUND, "no such playground asset").into_response(),
    }
}
