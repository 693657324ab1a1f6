//! Integration tests: the real gateway against real databases, over real HTTP.
//! One test binary (as in zero2prod's `tests/api`), one module per capability.

mod aggregates;
mod authentication;
mod bounds;
mod cli;
mod clients;
mod connection_errors;
mod federation;
mod fixture;
mod generic_entities;
mod hostile;
mod json_and_search;
mod league;
mod mutations;
mod nesting;
mod operation_cache;
mod permissions;
mod playground;
mod protocol;
mod randomized;
mod read_engine;
mod readiness;
mod relay;
mod resilience;
mod scale_out;
mod seed;
mod server;
mod sqlite;
mod statement_count;
mod subscriptions;
mod support;
mod transfer;
mod trust;

/// The generated registration file (`league/registry.rs`) names `crate::metadata`, as it does in the
/// gateway's own crate.
mod metadata {
    pub use gateway::metadata::{MetadataErrors, Registry};
}
