//! Tokens verified recently. A frontend sends the same bearer token with every request until it
//! expires; checking its signature and parsing its claims each time was a fifth of the
//! instructions a lookup by key cost the process (callgrind, bench/README.md). A verified token's
//! claims are kept, keyed by the token's SHA-256 (a lookup compares digests, never token
//! prefixes), for at most [`KEPT_FOR`], never up to its `exp` (from then on the token is
//! verified again in full, leeway and all), and only while the keys it was verified with are the
//! current ones (a JWKS refresh, which may have removed a key, starts a new generation).
//! Bounded: [`ENTRIES`] tokens, none longer than [`LONGEST_KEPT`].

use lru::LruCache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a verified token is trusted without verifying it again.
pub const KEPT_FOR: Duration = Duration::from_secs(30);
/// How many verified tokens are kept.
pub const ENTRIES: usize = 4096;
/// Longer tokens are verified every time (the cache stays within a few megabytes).
pub const LONGEST_KEPT: usize = 4096;

struct Entry {
    claims: Map<String, Value>,
    /// The token's `exp`, in seconds since the Unix epoch.
    expires_at: u64,
    kept_at: Instant,
    /// The generation of the keys it was verified with.
    keys: u64,
}

/// Claims of tokens verified recently.
pub struct Verified {
    entries: Mutex<LruCache<[u8; 32], Entry>>,
}

impl Default for Verified {
    fn default() -> Self {
        Self {
            entries: Mutex::new(LruCache::new(NonZeroUsize::new(ENTRIES).expect("not zero"))),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl Verified {
    /// The claims of `token` if it was verified within [`KEPT_FOR`] with the keys of generation
    /// `keys` and has not reached its `exp`.
    pub fn get(&self, token: &str, keys: u64) -> Option<Map<String, Value>> {
        if token.len() > LONGEST_KEPT {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        let key = digest(token);
        let entry = entries.get(&key)?;
        if entry.keys == keys && entry.kept_at.elapsed() < KEPT_FOR && now() < entry.expires_at {
            return Some(entry.claims.clone());
        }
        entries.pop(&key);
        None
    }

    /// Keeps the claims of `token`, just verified with the keys of generation `keys`.
    pub fn keep(&self, token: &str, claims: &Map<String, Value>, keys: u64) {
        // `exp` is required by the validation; without one, nothing is kept.
        let Some(expires_at) = super::expiry(claims) else {
            return;
        };
        if token.len() > LONGEST_KEPT {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.put(
                digest(token),
                Entry {
                    claims: claims.clone(),
                    expires_at,
                    kept_at: Instant::now(),
                    keys,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(exp: u64) -> Map<String, Value> {
        json!({ "sub": "1", "role": "member", "exp": exp })
            .as_object()
            .cloned()
            .expect("an object")
    }

    #[test]
    fn a_kept_token_is_found_until_its_expiry() {
        let verified = Verified::default();
        let valid = claims(now() + 3600);
        verified.keep("token-a", &valid, 0);
        assert_eq!(verified.get("token-a", 0), Some(valid.clone()));
        assert_eq!(verified.get("token-a", 1), None, "new keys: verified again");
        assert_eq!(verified.get("token-b", 0), None, "another token is not found");
        // A token at its `exp` is verified again in full (which applies the leeway).
        verified.keep("token-c", &claims(now()), 0);
        assert_eq!(verified.get("token-c", 0), None);
        // No `exp`, or too long: never kept.
        let mut without = valid.clone();
        without.remove("exp");
        verified.keep("token-d", &without, 0);
        assert_eq!(verified.get("token-d", 0), None);
        let long = "x".repeat(LONGEST_KEPT + 1);
        verified.keep(&long, &valid, 0);
        assert_eq!(verified.get(&long, 0), None);
    }
}
