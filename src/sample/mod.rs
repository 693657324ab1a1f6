//! The sample domain the repository ships: a multi-tenant project tracker (the entities in
//! `entity/`, the migrations in `migration/`). Everything here is the sample's, not the engine's:
//! the entities this build registers, the deterministic data set of `gateway seed`, and the
//! permission policy the zero-configuration SQLite default serves. The engine (`metadata`,
//! `schema`, `plan`, `sql`, `permission`, `changes`) works from whatever [`registry`] returns.

mod entities;
pub mod seed;

pub use entities::registry;

use crate::metadata::Registry;
use crate::permission::{Policy, PolicyError};

/// The repository's `policy.toml`, compiled into the binary for the embedded default.
const POLICY: &str = include_str!("../../policy.toml");

/// The sample policy, checked against `registry` with the configured `session_claims`.
pub fn policy(registry: &Registry, session_claims: &[String]) -> Result<Policy, PolicyError> {
    Policy::parse(POLICY, "built-in policy.toml", registry, session_claims)
}
