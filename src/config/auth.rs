//! Authentication settings: how bearer tokens are verified and how their claims become a session.

use super::parse_duration;
use clap::Args;
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// JWT verification and claims mapping.
#[derive(Clone, Args)]
pub struct AuthArgs {
    /// Shared secret for HS256/384/512 tokens (prefer the environment or `.env`).
    #[arg(long, env = "GATEWAY_JWT_SECRET", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,
    /// PEM public key (RSA, EC or Ed25519) for RS*/PS*/ES256/EdDSA tokens.
    #[arg(long, env = "GATEWAY_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,
    /// JWKS URL; keys are cached, chosen by `kid`, refreshed when an unknown `kid` arrives.
    #[arg(long, env = "GATEWAY_JWKS_URL", global = true)]
    pub jwks_url: Option<String>,
    /// Accepted algorithms, comma-separated (default: HS256 with a secret; required otherwise).
    #[arg(long, env = "GATEWAY_JWT_ALGORITHMS", value_delimiter = ',', global = true)]
    pub jwt_algorithms: Vec<String>,
    /// Required `iss` claim.
    #[arg(long, env = "GATEWAY_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "GATEWAY_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "GATEWAY_JWT_LEEWAY", default_value = "30s", value_parser = parse_duration, global = true)]
    pub jwt_leeway: Duration,
    /// Shortest time between two JWKS fetches triggered by unknown `kid`s.
    #[arg(long, env = "GATEWAY_JWKS_MIN_REFRESH", default_value = "10s", value_parser = parse_duration, global = true)]
    pub jwks_min_refresh: Duration,
    /// Claim holding an object with the gateway's claims (e.g. `https://example.com/claims`); top level when unset.
    #[arg(long, env = "GATEWAY_JWT_CLAIMS_NAMESPACE", global = true)]
    pub jwt_claims_namespace: Option<String>,
    /// Claim naming the token's default role.
    #[arg(long, env = "GATEWAY_JWT_ROLE_CLAIM", default_value = "role", global = true)]
    pub jwt_role_claim: String,
    /// Claim listing every role the token may act as (pick one with the X-Role header).
    #[arg(long, env = "GATEWAY_JWT_ROLES_CLAIM", default_value = "roles", global = true)]
    pub jwt_roles_claim: String,
    /// Role of a valid token that names none.
    #[arg(long, env = "GATEWAY_JWT_DEFAULT_ROLE", global = true)]
    pub jwt_default_role: Option<String>,
    /// Claim holding the user id.
    #[arg(long, env = "GATEWAY_JWT_USER_ID_CLAIM", default_value = "sub", global = true)]
    pub jwt_user_id_claim: String,
    /// Claims copied into the session for permissions, comma-separated.
    #[arg(
        long,
        env = "GATEWAY_JWT_SESSION_CLAIMS",
        value_delimiter = ',',
        default_value = "org_id",
        global = true
    )]
    pub jwt_session_claims: Vec<String>,
    /// The permission policy (`policy.toml`); with authentication on, one is required unless
    /// GATEWAY_ALLOW_ALL is set.
    #[arg(long = "policy", env = "GATEWAY_POLICY_FILE", global = true)]
    pub policy_file: Option<PathBuf>,
    /// With authentication on and no policy, let every role read and write everything (an
    /// explicit opt-in: without it the gateway refuses to start).
    #[arg(long, env = "GATEWAY_ALLOW_ALL", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub allow_all: bool,
    /// Role of requests without a token; unset means such requests get 401.
    #[arg(long, env = "GATEWAY_ANONYMOUS_ROLE", global = true)]
    pub anonymous_role: Option<String>,
}

/// Shows which key source is configured, never the secret.
impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "[redacted]"))
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("jwks_url", &self.jwks_url)
            .field("jwt_algorithms", &self.jwt_algorithms)
            .field("anonymous_role", &self.anonymous_role)
            .finish_non_exhaustive()
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

impl Default for AuthArgs {
    fn default() -> Self {
        super::defaults()
    }
}
