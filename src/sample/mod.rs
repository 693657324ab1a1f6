//! The sample domain the repository ships: a multi-tenant project tracker (its entities in
//! `entity/` and `src/entities.rs`, its migrations in `migration/`). What lives here is the
//! sample's, not the engine's: the deterministic data set of `gateway seed` and the permission
//! policy the zero-configuration SQLite default serves. Neither names an entity type, so the build
//! stands when `gateway generate` replaces the sample's entities with another database's; the
//! engine (`metadata`, `schema`, `plan`, `sql`, `permission`, `changes`) works from whatever
//! [`crate::entities::registry`] returns.

pub mod seed;

use crate::metadata::Registry;
use crate::permission::{Policy, PolicyError};

/// The repository's `policy.toml`, compiled into the binary for the embedded default.
const POLICY: &str = include_str!("../../policy.toml");

/// The sample policy, checked against `registry` with the configured `session_claims`.
pub fn policy(registry: &Registry, session_claims: &[String]) -> Result<Policy, PolicyError> {
    Policy::parse(POLICY, "built-in policy.toml", registry, session_claims)
}
