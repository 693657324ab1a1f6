//! The authentication layer in front of the GraphQL endpoint (an axum middleware, i.e. a tower
//! layer): it reads `Authorization` and `X-Role`, attaches the [`Session`] to the request, or
//! answers 401/403 itself so no GraphQL work happens for a bad token.

use super::{AuthError, Authenticator, Session};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Headers longer than this are refused before any parsing.
const LONGEST_TOKEN: usize = 16 * 1024;

/// The bearer token of `Authorization`, if any.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    if value.len() > LONGEST_TOKEN {
        return Err(AuthError::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::NotBearer),
    }
}

/// Authenticates the request and passes it on with its [`Session`] as an extension. A browser
/// asking for the playground page needs no credentials (the page itself holds no data).
pub async fn authenticate(
    State(authenticator): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let wants_page = request.method() == Method::GET
        && request.uri().query().is_none()
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if wants_page {
        return next.run(request).await;
    }
    let requested_role = request
        .headers()
        .get("x-role")
        .and_then(|role| role.to_str().ok())
        .map(str::to_owned);
    let session: Result<Option<Session>, AuthError> = match bearer(request.headers()) {
        Ok(token) => authenticator.session(token, requested_role.as_deref()).await,
        Err(error) => Err(error),
    };
    match session {
        Ok(session) => {
            if let Some(session) = session {
                request.extensions_mut().insert(session);
            }
            next.run(request).await
        }
        Err(error) => {
            tracing::info!(reason = %error, "request not authenticated");
            error.into_response()
        }
    }
}
