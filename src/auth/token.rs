//! `gateway token`: mints an HS256 development token with the configured secret.

use crate::config::AuthArgs;
use jsonwebtoken::{EncodingKey, Header, encode};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("set GATEWAY_JWT_SECRET to mint development tokens")]
    NoSecret,
    #[error("`{0}` is not a claim: write name=value")]
    BadClaim(String),
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

/// Signs a token for `role` and `subject` with extra `claims` (`name=value`; numbers stay numbers),
/// valid for `ttl`, placing role and claims where the claims mapping expects them.
pub fn mint(
    args: &AuthArgs,
    role: &str,
    subject: &str,
    claims: &[String],
    ttl: Duration,
) -> Result<String, TokenError> {
    let secret = args.jwt_secret.as_ref().ok_or(TokenError::NoSecret)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut scoped = Map::new();
    scoped.insert(args.jwt_role_claim.clone(), Value::from(role));
    for claim in claims {
        let (name, value) = claim
            .split_once('=')
            .ok_or_else(|| TokenError::BadClaim(claim.clone()))?;
        let value = serde_json::from_str::<Value>(value)
            .ok()
            .filter(|parsed| parsed.is_number() || parsed.is_boolean())
            .unwrap_or_else(|| Value::from(value));
        scoped.insert(name.to_owned(), value);
    }
    let mut payload = Map::new();
    payload.insert(args.jwt_user_id_claim.clone(), Value::from(subject));
    payload.insert("iat".into(), Value::from(now));
    payload.insert("exp".into(), Value::from(now + ttl.as_secs()));
    if let Some(issuer) = &args.jwt_issuer {
        payload.insert("iss".into(), Value::from(issuer.as_str()));
    }
    if let Some(audience) = &args.jwt_audience {
        payload.insert("aud".into(), Value::from(audience.as_str()));
    }
    match &args.jwt_claims_namespace {
        Some(namespace) => {
            payload.insert(namespace.clone(), Value::Object(scoped));
        }
        None => payload.extend(scoped),
    }
    Ok(encode(
        &Header::default(),
        &payload,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?)
}
