//! Authentication: a bearer token becomes a [`Session`] (role, user id, claims), or the request is
//! refused with a reason.
//!
//! No token means the configured anonymous role, or 401 when there is none. A token that is
//! present but invalid is always 401, never anonymous. A client may act as another role it holds
//! with the `X-Role` header; a role it does not hold is 403. Tokens are never logged.

mod error;
mod keys;
mod layer;
pub mod token;
mod verified;

pub use error::AuthError;
pub use layer::authenticate;

use crate::config::AuthArgs;
use keys::Verifier;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Who is asking: the role the request acts as, and the claims permissions may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub role: String,
    pub user_id: Option<String>,
    /// The configured session claims (e.g. `org_id`) present in the token.
    pub claims: BTreeMap<String, Value>,
    /// When the token expires (seconds since the Unix epoch); long-lived connections end then.
    pub expires_at: Option<u64>,
}

impl Session {
    fn anonymous(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            user_id: None,
            claims: BTreeMap::new(),
            expires_at: None,
        }
    }
}

/// Turns request credentials into sessions.
pub struct Authenticator {
    verifier: Option<Verifier>,
    args: AuthArgs,
}

/// Settings that cannot verify anything.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("GATEWAY_JWT_ALGORITHMS: `{0}` is not a JWT algorithm (HS256, RS256, PS256, ES256, EdDSA, …)")]
    UnknownAlgorithm(String),
    #[error("GATEWAY_JWT_ALGORITHMS must list the accepted algorithms for a public key or JWKS")]
    NoAlgorithms,
    #[error("the algorithms {0} do not fit the configured key")]
    AlgorithmKeyMismatch(String),
    #[error("cannot read the JWT public key {path}: {reason}")]
    PublicKey { path: String, reason: String },
    #[error("configure one of GATEWAY_JWT_SECRET, GATEWAY_JWT_PUBLIC_KEY_FILE and GATEWAY_JWKS_URL, not several")]
    SeveralKeys,
    #[error("the JWKS URL is not valid: {0}")]
    JwksUrl(String),
    #[error("GATEWAY_JWT_SECRET is {0} bytes; a shared secret must have at least 32 (256 bits) to resist guessing")]
    ShortSecret(usize),
}

/// A token's `exp` in whole seconds since the Unix epoch: a NumericDate may have a fraction, and
/// 1764000000.5 ends at 1764000000.
fn expiry(claims: &Map<String, Value>) -> Option<u64> {
    let exp = claims.get("exp")?;
    exp.as_u64().or_else(|| {
        exp.as_f64()
            .filter(|at| at.is_finite() && *at >= 0.0)
            .map(|at| at as u64)
    })
}

impl Authenticator {
    pub fn new(args: &AuthArgs) -> Result<Self, AuthConfigError> {
        Ok(Self {
            verifier: Verifier::new(args)?,
            args: args.clone(),
        })
    }

    /// Whether tokens can be verified at all (some key is configured).
    pub fn verifies_tokens(&self) -> bool {
        self.verifier.is_some()
    }

    /// The session for a request with an optional bearer token and an optional `X-Role`;
    /// `None` when authentication is off (no key and no anonymous role configured).
    pub async fn session(
        &self,
        token: Option<&str>,
        requested_role: Option<&str>,
    ) -> Result<Option<Session>, AuthError> {
        if token.is_none() && self.verifier.is_none() && self.args.anonymous_role.is_none() {
            return Ok(None);
        }
        self.verified_session(token, requested_role).await.map(Some)
    }

    async fn verified_session(&self, token: Option<&str>, requested_role: Option<&str>) -> Result<Session, AuthError> {
        let Some(token) = token else {
            return match (&self.args.anonymous_role, requested_role) {
                (Some(anonymous), None) => Ok(Session::anonymous(anonymous)),
                (Some(anonymous), Some(role)) if role == anonymous => Ok(Session::anonymous(anonymous)),
                (Some(_), Some(role)) => Err(AuthError::RoleNotHeld(role.to_owned())),
                (None, _) => Err(AuthError::Missing),
            };
        };
        let verifier = self.verifier.as_ref().ok_or(AuthError::NotConfigured)?;
        let claims = verifier.verify(token).await?;
        self.session_from_claims(&claims, requested_role)
    }

    fn session_from_claims(
        &self,
        claims: &Map<String, Value>,
        requested_role: Option<&str>,
    ) -> Result<Session, AuthError> {
        let scope = match &self.args.jwt_claims_namespace {
            Some(namespace) => claims
                .get(namespace)
                .and_then(Value::as_object)
                .ok_or_else(|| AuthError::MissingClaim(namespace.clone()))?,
            None => claims,
        };
        let default_role = scope
            .get(&self.args.jwt_role_claim)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| self.args.jwt_default_role.clone());
        let mut roles: Vec<String> = scope
            .get(&self.args.jwt_roles_claim)
            .and_then(Value::as_array)
            .map(|roles| roles.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(role) = &default_role {
            roles.push(role.clone());
        }
        let role = match requested_role {
            Some(requested) if roles.iter().any(|role| role == requested) => requested.to_owned(),
            Some(requested) => return Err(AuthError::RoleNotHeld(requested.to_owned())),
            None => default_role
                .or_else(|| roles.first().cloned())
                .ok_or_else(|| AuthError::MissingClaim(self.args.jwt_role_claim.clone()))?,
        };
        let user_id = claims
            .get(&self.args.jwt_user_id_claim)
            .or_else(|| scope.get(&self.args.jwt_user_id_claim))
            .and_then(|id| match id {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
        let expires_at = expiry(claims);
        let claims = self
            .args
            .jwt_session_claims
            .iter()
            .filter_map(|name| {
                scope
                    .get(name)
                    .or_else(|| claims.get(name))
                    .map(|value| (name.clone(), value.clone()))
            })
            .collect();
        Ok(Session {
            role,
            user_id,
            claims,
            expires_at,
        })
    }
}
