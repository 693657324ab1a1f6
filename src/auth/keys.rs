//! Token verification with `jsonwebtoken`: a shared secret, a PEM public key, or a JWKS.
//!
//! The accepted algorithms are configured and must fit the key, so `alg: none` and algorithm
//! confusion (an HS token checked against an RSA public key) cannot pass. JWKS keys are cached and
//! chosen by `kid`; an unknown `kid` triggers one refetch at most every `GATEWAY_JWKS_MIN_REFRESH`,
//! so key rotation works without a restart and bad tokens cannot hammer the key server.

use super::{AuthConfigError, AuthError};
use crate::config::AuthArgs;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// The shortest shared secret accepted (RFC 7518 asks HS256 keys to be at least 256 bits).
const MIN_SECRET_BYTES: usize = 32;

pub struct Verifier {
    validation: Validation,
    source: KeySource,
    /// Claims of tokens verified recently.
    verified: super::verified::Verified,
}

enum KeySource {
    Fixed(DecodingKey),
    Jwks(Jwks),
}

struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<JwkSet>,
    last_fetch: Mutex<Option<Instant>>,
    min_refresh: Duration,
    /// Counts refreshes: tokens verified before one are verified again.
    generation: std::sync::atomic::AtomicU64,
}

/// The key family an algorithm needs: `Hmac`, `Rsa`, `Ec` or `Ed`.
fn family_name(algorithm: Algorithm) -> String {
    format!("{:?}", algorithm.family())
}

impl Verifier {
    /// The verifier the settings describe, or `None` when no key is configured.
    pub fn new(args: &AuthArgs) -> Result<Option<Self>, AuthConfigError> {
        let configured = [
            args.jwt_secret.is_some(),
            args.jwt_public_key_file.is_some(),
            args.jwks_url.is_some(),
        ];
        match configured.iter().filter(|set| **set).count() {
            0 => return Ok(None),
            1 => {}
            _ => return Err(AuthConfigError::SeveralKeys),
        }
        let mut algorithms = args
            .jwt_algorithms
            .iter()
            .map(|name| Algorithm::from_str(name.trim()).map_err(|_| AuthConfigError::UnknownAlgorithm(name.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            if args.jwt_secret.is_some() {
                algorithms.push(Algorithm::HS256);
            } else {
                return Err(AuthConfigError::NoAlgorithms);
            }
        }
        let family = family_name(algorithms[0]);
        if algorithms.iter().any(|algorithm| family_name(*algorithm) != family) {
            let names: Vec<String> = algorithms.iter().map(|algorithm| format!("{algorithm:?}")).collect();
            return Err(AuthConfigError::AlgorithmKeyMismatch(names.join(", ")));
        }
        let source = if let Some(secret) = &args.jwt_secret {
            if family != "Hmac" {
                return Err(AuthConfigError::AlgorithmKeyMismatch(format!(
                    "{family} with a shared secret"
                )));
            }
            let length = secret.expose_secret().len();
            if length < MIN_SECRET_BYTES {
                return Err(AuthConfigError::ShortSecret(length));
            }
            KeySource::Fixed(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
        } else if let Some(path) = &args.jwt_public_key_file {
            let failed = |reason: String| AuthConfigError::PublicKey {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
            let key = match family.as_str() {
                "Rsa" => DecodingKey::from_rsa_pem(&pem),
                "Ec" => DecodingKey::from_ec_pem(&pem),
                "Ed" => DecodingKey::from_ed_pem(&pem),
                _ => {
                    return Err(AuthConfigError::AlgorithmKeyMismatch(format!(
                        "{family} with a public key"
                    )));
                }
            }
            .map_err(|error| failed(error.to_string()))?;
            KeySource::Fixed(key)
        } else {
            let url = args.jwks_url.clone().unwrap_or_default();
            url::Url::parse(&url).map_err(|error| AuthConfigError::JwksUrl(error.to_string()))?;
            KeySource::Jwks(Jwks {
                url,
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|error| AuthConfigError::JwksUrl(error.to_string()))?,
                keys: RwLock::new(JwkSet { keys: Vec::new() }),
                last_fetch: Mutex::new(None),
                min_refresh: args.jwks_min_refresh,
                generation: Default::default(),
            })
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = args.jwt_leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = args.jwt_audience.is_some();
        if let Some(audience) = &args.jwt_audience {
            validation.set_audience(&[audience]);
        }
        if let Some(issuer) = &args.jwt_issuer {
            validation.set_issuer(&[issuer]);
        }
        // A configured issuer or audience is a required claim: a token without it is refused.
        let mut required = vec!["exp"];
        required.extend(args.jwt_issuer.is_some().then_some("iss"));
        required.extend(args.jwt_audience.is_some().then_some("aud"));
        validation.set_required_spec_claims(&required);
        Ok(Some(Self {
            validation,
            source,
            verified: Default::default(),
        }))
    }

    /// Verifies `token` (or finds it verified moments ago) and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        if let Some(claims) = self.verified.get(token, self.key_generation()) {
            return Ok(claims);
        }
        let header = decode_header(token).map_err(|error| match AuthError::from(error) {
            AuthError::AlgorithmNotAllowed => AuthError::AlgorithmNotAllowed,
            _ => AuthError::Malformed,
        })?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let generation = self.key_generation();
        let key = match &self.source {
            KeySource::Fixed(key) => key.clone(),
            KeySource::Jwks(jwks) => jwks.key(header.kid.as_deref()).await?,
        };
        // The generation read before the key: a refresh in between makes the entry stale, never
        // a stale entry current.
        let claims = decode::<Map<String, Value>>(token, &key, &self.validation)?.claims;
        self.verified.keep(token, &claims, generation);
        Ok(claims)
    }

    /// Which key set verifications use now (a JWKS refresh starts a new one).
    fn key_generation(&self) -> u64 {
        match &self.source {
            KeySource::Fixed(_) => 0,
            KeySource::Jwks(jwks) => jwks.generation.load(std::sync::atomic::Ordering::Acquire),
        }
    }
}

impl Jwks {
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cached(kid).await {
            return key;
        }
        self.refresh().await?;
        self.cached(kid).await.unwrap_or(Err(AuthError::UnknownKey))
    }

    async fn cached(&self, kid: Option<&str>) -> Option<Result<DecodingKey, AuthError>> {
        let keys = self.keys.read().await;
        let jwk = match kid {
            Some(kid) => keys.find(kid),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        }?;
        Some(DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey))
    }

    /// Refetches the key set, unless that happened less than `min_refresh` ago.
    async fn refresh(&self) -> Result<(), AuthError> {
        let mut last_fetch = self.last_fetch.lock().await;
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Ok(());
        }
        *last_fetch = Some(Instant::now());
        let response = self.client.get(&self.url).send().await.map_err(|error| {
            tracing::warn!(%error, url = %self.url, "fetching the JWKS failed");
            AuthError::KeysUnavailable
        })?;
        let keys: JwkSet = response.json().await.map_err(|error| {
            tracing::warn!(%error, url = %self.url, "the JWKS does not parse");
            AuthError::KeysUnavailable
        })?;
        tracing::info!(url = %self.url, keys = keys.keys.len(), "JWKS refreshed");
        *self.keys.write().await = keys;
        // Tokens verified with the old set are verified again.
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(())
    }
}
