//! Compiled operations. Frontends and services send the same few hundred documents again and
//! again, mostly with the same or a few different variables; parsing, validating, planning and
//! building SQL for each of them every time is most of what a request costs in the process.
//!
//! The cache keeps, per role, operation name and document text, the parsed document that
//! async-graphql validated and executed without an error (so it is known valid for that role's
//! schema), and whether it can be **streamed**: a query made only of generated root fields and
//! `__typename` (`__typename` below them is a constant the database writes). For a streamed
//! document it keeps the SQL of each root field per binding: the session's claims and the
//! variables, except those planned as **slots** — variables only compared with columns or looked
//! up by (`task(id: $id)`, `filter: {projectId: {eq: $p}}`), whose values are bind parameters
//! filled per request (see [`crate::plan::slot`]). A repeated request then does no parsing, no
//! validation, no planning and no SQL building: the limits are checked with its variables, its
//! slot values are converted into the statements' parameters, the statements run, and the JSON
//! the database built (every scalar already in the API's form, see `sql::Dialect::output`) is
//! written into the body as it came, root fields in document order (see [`stream`]).
//!
//! Anything else (introspection, mutations, a document not yet seen, a planning error) takes
//! async-graphql's path, whose answers and errors the streamed ones equal; the randomized suite
//! runs every case through both. A statement that fails on the streamed path is answered with its
//! error, not run again.

mod eligible;
pub mod stream;

use crate::auth::Session;
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Name, Variables};
use lru::LruCache;
use std::hash::{BuildHasher, Hash, RandomState};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes the cached documents may take, estimated (a parsed document is a few times its text).
const DOCUMENT_BYTES: usize = 32 * 1024 * 1024;
/// Longest document text that is cached; longer ones are parsed every time.
const MAX_DOCUMENT_TEXT: usize = 256 * 1024;
/// Bytes of compiled SQL the cache keeps at most, across documents.
const STATEMENT_BYTES: usize = 16 * 1024 * 1024;
/// Compiled bindings kept per cached document, on average.
const BINDINGS_PER_DOCUMENT: usize = 4;

/// A document known valid for one role, ready to run again.
pub struct Prepared {
    id: u64,
    role: Option<String>,
    operation: Option<String>,
    query: String,
    pub document: ExecutableDocument,
    /// Whether its answers can be streamed from the database.
    pub streamable: bool,
    /// What its compilations leave to each request, decided by the first (see [`crate::plan::slot`]).
    shape: OnceLock<stream::Shape>,
}

impl Prepared {
    /// Roughly what it holds in memory.
    fn bytes(&self) -> usize {
        4 * self.query.len() + 1024
    }
}

/// A query document copied before async-graphql runs it, to keep if it runs without an error.
pub struct Candidate {
    role: Option<String>,
    operation: Option<String>,
    query: String,
    document: ExecutableDocument,
}

impl Candidate {
    /// Whether its answers could be streamed from the database.
    pub fn streamable(&self, registry: &crate::metadata::Registry) -> bool {
        eligible::streamable(registry, &self.document, self.operation.as_deref())
    }
}

/// An LRU whose entries are also bounded by their total size.
struct Bounded<K: Hash + Eq, V> {
    entries: LruCache<K, Arc<V>>,
    bytes: usize,
    limit: usize,
    size: fn(&V) -> usize,
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    fn new(count: NonZeroUsize, limit: usize, size: fn(&V) -> usize) -> Self {
        Self {
            entries: LruCache::new(count),
            bytes: 0,
            limit,
            size,
        }
    }

    fn get(&mut self, key: &K) -> Option<Arc<V>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: K, value: Arc<V>) {
        self.bytes += (self.size)(&value);
        if let Some((_, replaced)) = self.entries.push(key, value) {
            self.bytes -= (self.size)(&replaced);
        }
        while self.bytes > self.limit {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= (self.size)(&evicted),
                None => break,
            }
        }
    }
}

/// Documents of every role sharing one capacity (in entries and bytes) fairly: a role may use
/// what the others leave free, but once the cache is full a new document evicts the least
/// recently used document of the role holding the most bytes, so a role that floods the cache
/// (the anonymous role, which anyone can use) evicts its own documents, never those of a role
/// holding less.
struct PerRole {
    roles: std::collections::HashMap<Option<String>, RoleDocuments>,
    count: usize,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

/// One role's documents and the bytes they hold.
struct RoleDocuments {
    entries: LruCache<u64, Arc<Prepared>>,
    bytes: usize,
}

impl PerRole {
    fn new(max_count: NonZeroUsize, max_bytes: usize) -> Self {
        Self {
            roles: std::collections::HashMap::new(),
            count: 0,
            bytes: 0,
            max_count: max_count.get(),
            max_bytes,
        }
    }

    fn get(&mut self, role: Option<&str>, key: &u64) -> Option<Arc<Prepared>> {
        self.roles.get_mut(&role.map(str::to_owned))?.entries.get(key).cloned()
    }

    fn put(&mut self, key: u64, value: Arc<Prepared>) {
        let role = self.roles.entry(value.role.clone()).or_insert_with(|| RoleDocuments {
            entries: LruCache::unbounded(),
            bytes: 0,
        });
        self.count += 1;
        self.bytes += value.bytes();
        role.bytes += value.bytes();
        if let Some((_, replaced)) = role.entries.push(key, value) {
            self.count -= 1;
            self.bytes -= replaced.bytes();
            role.bytes -= replaced.bytes();
        }
        while self.count > self.max_count || self.bytes > self.max_bytes {
            let Some(largest) = self.roles.values_mut().max_by_key(|role| role.bytes) else {
                break;
            };
            let Some((_, evicted)) = largest.entries.pop_lru() else {
                break;
            };
            self.count -= 1;
            self.bytes -= evicted.bytes();
            largest.bytes -= evicted.bytes();
        }
        self.roles.retain(|_, role| !role.entries.is_empty());
    }
}

/// The cache of prepared documents and of their compiled statements, both bounded (LRU, in
/// entries and in bytes). Keys are hashed with a per-process random seed and entries are compared
/// in full on every hit, so a crafted collision can neither be predicted nor be served another
/// document.
pub struct OperationCache {
    documents: Option<Mutex<PerRole>>,
    bindings: Mutex<Bounded<(u64, u64), stream::Compiled>>,
    hasher: RandomState,
    next_id: AtomicU64,
}

impl OperationCache {
    /// A cache of `size` documents; 0 turns it off (every operation takes async-graphql's path).
    pub fn new(size: usize) -> Self {
        let bindings = NonZeroUsize::new(size.saturating_mul(BINDINGS_PER_DOCUMENT).max(1)).expect("at least one");
        Self {
            documents: NonZeroUsize::new(size).map(|size| Mutex::new(PerRole::new(size, DOCUMENT_BYTES))),
            bindings: Mutex::new(Bounded::new(bindings, STATEMENT_BYTES, stream::Compiled::bytes)),
            hasher: RandomState::new(),
            next_id: AtomicU64::new(0),
        }
    }

    /// The prepared document for this request, if one is cached.
    pub fn document(&self, role: Option<&str>, operation: Option<&str>, query: &str) -> Option<Arc<Prepared>> {
        let documents = self.documents.as_ref()?;
        let key = self.hasher.hash_one((role, operation, query));
        let found = documents.lock().ok()?.get(role, &key);
        // A hash collision is a miss, never another document.
        let found = found.filter(|prepared| {
            prepared.role.as_deref() == role && prepared.operation.as_deref() == operation && prepared.query == query
        });
        crate::telemetry::record::operation_cache(if found.is_some() { "hit" } else { "miss" });
        found
    }

    /// What to keep of `request` if async-graphql runs it without an error: a query this cache
    /// does not hold yet, its text short enough to keep. Taken before async-graphql consumes the
    /// request (the document is parsed already, so this copies it; nothing when it will not be kept).
    pub fn candidate(&self, role: Option<&str>, request: &mut async_graphql::Request) -> Option<Candidate> {
        self.documents.as_ref()?;
        if request.query.len() > MAX_DOCUMENT_TEXT {
            return None;
        }
        let operation = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let query = crate::plan::selected_operation(document, operation.as_deref())?.ty
            == async_graphql::parser::types::OperationType::Query;
        let document = query.then(|| document.clone())?;
        Some(Candidate {
            role: role.map(str::to_owned),
            operation,
            query: request.query.clone(),
            document,
        })
    }

    /// Keeps `candidate`, whose request async-graphql just ran (or validated, see
    /// [`crate::schema::DryRun`]) without an error; the entry kept.
    pub fn admit(&self, registry: &crate::metadata::Registry, candidate: Candidate) -> Option<Arc<Prepared>> {
        let documents = self.documents.as_ref()?;
        let Candidate {
            role,
            operation,
            query,
            document,
        } = candidate;
        let streamable = eligible::streamable(registry, &document, operation.as_deref());
        let key = self
            .hasher
            .hash_one((role.as_deref(), operation.as_deref(), query.as_str()));
        let prepared = Prepared {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            role,
            operation,
            query,
            document,
            streamable,
            shape: OnceLock::new(),
        };
        let prepared = Arc::new(prepared);
        if let Ok(mut documents) = documents.lock() {
            documents.put(key, prepared.clone());
        }
        Some(prepared)
    }

    /// The compiled statements of `prepared` for these variables and this session, if kept.
    fn bound(&self, prepared: &Prepared, binding: &Binding) -> Option<Arc<stream::Compiled>> {
        let bound = self.bindings.lock().ok()?.get(&(prepared.id, binding.hash))?;
        (bound.binding == binding.text).then_some(bound)
    }

    fn keep(&self, prepared: &Prepared, binding: &Binding, bound: Arc<stream::Compiled>) {
        // One huge statement would push out everything else for nothing.
        if bound.bytes() > STATEMENT_BYTES / 16 {
            return;
        }
        if let Ok(mut bindings) = self.bindings.lock() {
            bindings.put((prepared.id, binding.hash), bound);
        }
    }
}

/// What, besides the document, decides a root field's SQL: the variables but its slots, and the
/// session (its role only, when the claims are slots).
struct Binding {
    text: String,
    hash: u64,
}

impl Binding {
    fn new(cache: &OperationCache, variables: &Variables, shape: &stream::Shape, session: Option<&Session>) -> Self {
        // One JSON text, every part escaped, so no two bindings write the same.
        let key = Key {
            slots: shape.variables(),
            claims_are_slots: shape.claims(),
            variables: Kept {
                variables,
                slots: shape.variables(),
            },
            role: session.map(|session| session.role.as_str()),
            user_id: session
                .filter(|_| !shape.claims())
                .and_then(|session| session.user_id.as_deref()),
            claims: session.filter(|_| !shape.claims()).map(|session| &session.claims),
        };
        let text = serde_json::to_string(&key).unwrap_or_default();
        let hash = cache.hasher.hash_one(text.as_str());
        Self { text, hash }
    }
}

/// What a [`Binding`]'s text is written from.
#[derive(serde::Serialize)]
struct Key<'a> {
    slots: &'a [Name],
    claims_are_slots: bool,
    variables: Kept<'a>,
    role: Option<&'a str>,
    user_id: Option<&'a str>,
    claims: Option<&'a std::collections::BTreeMap<String, serde_json::Value>>,
}

/// The variables that are not slots.
struct Kept<'a> {
    variables: &'a Variables,
    slots: &'a [Name],
}

impl serde::Serialize for Kept<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.variables.iter().filter(|(name, _)| !self.slots.contains(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(cache: &OperationCache, registry: &crate::metadata::Registry, role: Option<&str>, index: usize) {
        let query = format!("{{ a{index}: __typename }}");
        let candidate = Candidate {
            role: role.map(str::to_owned),
            operation: None,
            document: async_graphql::parser::parse_query(&query).expect("a document"),
            query,
        };
        cache.admit(registry, candidate);
    }

    /// A role flooding the cache with new documents evicts its own, never the documents of a role
    /// holding fewer.
    #[test]
    fn one_role_cannot_evict_another_roles_documents() {
        let registry = crate::entities::registry().expect("the sample registry");
        let cache = OperationCache::new(10);
        for index in 0..4 {
            keep(&cache, &registry, Some("member"), index);
        }
        for index in 0..100 {
            keep(&cache, &registry, None, index);
        }
        for index in 0..4 {
            let query = format!("{{ a{index}: __typename }}");
            assert!(
                cache.document(Some("member"), None, &query).is_some(),
                "member's {index} kept"
            );
        }
        let anonymous = (0..100)
            .filter(|index| {
                cache
                    .document(None, None, &format!("{{ a{index}: __typename }}"))
                    .is_some()
            })
            .count();
        assert_eq!(anonymous, 6, "the flood keeps the rest of the capacity");
        // A role may still use what the others leave free.
        let lone = OperationCache::new(10);
        for index in 0..10 {
            keep(&lone, &registry, None, index);
        }
        assert!(lone.document(None, None, "{ a0: __typename }").is_some());
    }
}
