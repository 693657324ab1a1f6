//! Persisted queries: Apollo's automatic persisted queries (APQ) and a safelist.
//!
//! APQ: a client sends `extensions.persistedQuery.sha256Hash` without the query; a known hash runs
//! the cached document, an unknown one answers `PersistedQueryNotFound` and the client retries
//! with the query, which is checked against its hash and cached (an LRU of
//! `GATEWAY_APQ_CACHE_SIZE` documents). Safelist: a manifest of allowed operations (Apollo's
//! `apollo-persisted-query-manifest` JSON, or Relay's `{"id": "document"}`); roles listed in
//! `GATEWAY_SAFELIST_ROLES` (`*` for every request) may run only those, sent by id or in full.

use super::HttpError;
use crate::error::ErrorCode;
use lru::LruCache;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Mutex;

/// The APQ cache and the safelist.
pub struct PersistedQueries {
    cache: Option<Mutex<LruCache<String, String>>>,
    /// id → document, and the hashes of the documents (full documents are matched by hash).
    safelist: Option<Safelist>,
    /// Roles bound to the safelist; `"*"` binds every request.
    restricted_roles: Vec<String>,
}

struct Safelist {
    by_id: HashMap<String, String>,
    hashes: std::collections::HashSet<String>,
}

/// A manifest that cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[error("safelist {path}: {reason}")]
pub struct SafelistError {
    path: String,
    reason: String,
}

fn sha256(document: &str) -> String {
    format!("{:x}", Sha256::digest(document.as_bytes()))
}

impl PersistedQueries {
    pub fn new(
        cache_size: usize,
        safelist: Option<&Path>,
        restricted_roles: Vec<String>,
    ) -> Result<Self, SafelistError> {
        let cache = NonZeroUsize::new(cache_size).map(|size| Mutex::new(LruCache::new(size)));
        let safelist = safelist.map(load_manifest).transpose()?;
        Ok(Self {
            cache,
            safelist,
            restricted_roles,
        })
    }

    fn restricted(&self, role: Option<&str>) -> bool {
        self.safelist.is_some()
            && self
                .restricted_roles
                .iter()
                .any(|restricted| restricted == "*" || Some(restricted.as_str()) == role)
    }

    /// Fills in or checks the document of a request, or refuses it.
    pub fn resolve(
        &self,
        request: &mut async_graphql::Request,
        id: Option<String>,
        role: Option<&str>,
    ) -> Result<(), HttpError> {
        let hash = request
            .extensions
            .get("persistedQuery")
            .and_then(|persisted| match persisted {
                async_graphql::Value::Object(fields) => fields.get("sha256Hash").cloned(),
                _ => None,
            })
            .and_then(|hash| match hash {
                async_graphql::Value::String(hash) => Some(hash.to_ascii_lowercase()),
                _ => None,
            });
        // A document sent by safelist id.
        if request.query.is_empty()
            && let (Some(id), Some(safelist)) = (id.as_ref().or(hash.as_ref()), &self.safelist)
            && let Some(document) = safelist.by_id.get(id.as_str())
        {
            request.query = document.clone();
        }
        if request.query.is_empty() {
            let Some(hash) = &hash else {
                return Err(HttpError::bad_request("`query` is missing".to_owned()));
            };
            let cached = self
                .cache
                .as_ref()
                .and_then(|cache| cache.lock().ok()?.get(hash).cloned());
            match cached {
                Some(document) => request.query = document,
                None => {
                    return Err(HttpError::new(
                        ErrorCode::PersistedQueryNotFound,
                        "PersistedQueryNotFound",
                    ));
                }
            }
        } else if let Some(hash) = &hash {
            if sha256(&request.query) != *hash {
                return Err(HttpError::bad_request(
                    "extensions.persistedQuery.sha256Hash does not match the query".to_owned(),
                ));
            }
            if let Some(cache) = &self.cache
                && let Ok(mut cache) = cache.lock()
            {
                cache.put(hash.clone(), request.query.clone());
            }
        }
        if self.restricted(role)
            && let Some(safelist) = &self.safelist
            && !safelist.hashes.contains(&sha256(&request.query))
        {
            return Err(HttpError::new(
                ErrorCode::OperationNotInSafelist,
                "this client may run only the operations of the safelist",
            ));
        }
        Ok(())
    }
}

fn load_manifest(path: &Path) -> Result<Safelist, SafelistError> {
    let failed = |reason: String| SafelistError {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|error| failed(error.to_string()))?;
    let mut by_id = HashMap::new();
    match manifest.get("operations").and_then(Value::as_array) {
        // Apollo: {"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}
        Some(operations) => {
            for operation in operations {
                let id = operation.get("id").and_then(Value::as_str);
                let body = operation.get("body").and_then(Value::as_str);
                let (Some(id), Some(body)) = (id, body) else {
                    return Err(failed("every operation needs an `id` and a `body`".into()));
                };
                by_id.insert(id.to_owned(), body.to_owned());
            }
        }
        // Relay: {"<id>": "<document>"}
        None => {
            let Some(entries) = manifest.as_object() else {
                return Err(failed(
                    "expected an Apollo manifest or a Relay {\"id\": \"document\"} map".into(),
                ));
            };
            for (id, body) in entries {
                let body = body
                    .as_str()
                    .ok_or_else(|| failed(format!("operation `{id}` is not a string")))?;
                by_id.insert(id.clone(), body.to_owned());
            }
        }
    }
    let hashes = by_id.values().map(|document| sha256(document)).collect();
    Ok(Safelist { by_id, hashes })
}
