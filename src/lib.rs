//! gateway: a GraphQL data-access gateway generated from SeaORM entities.
//!
//! The request flow (ARCHITECTURE.md walks it file by file): [`config`] parses settings, [`database`]
//! opens (and explains) the connection pool, [`metadata`] reads the entities registered in
//! [`entities`] (written by [`generate`] from an existing database, or the shipped [`sample`]'s), [`schema`] generates the GraphQL schema from them (one view per role), [`auth`]
//! turns a bearer token into a session, [`permission`] turns the policy into row filters and
//! checks, and a root field's resolver runs the [`plan`]ner, the [`sql`] executor (one statement
//! per root field, permissions injected) and the [`shape`]r; a query seen before skips all of
//! that and is answered from the database's JSON as is ([`operation`]); mutations share one
//! [`transaction`] per operation. Every path an operation can take (HTTP, WebSocket, live-query
//! runs, federation) runs under the same [`bounds`]. [`server`] serves it over HTTP and WebSocket, and [`cli`] ties
//! everything into commands.

pub mod auth;
pub mod bounds;
pub mod changes;
pub mod cli;
pub mod config;
pub mod database;
#[cfg(test)]
mod docs;
pub mod entities;
pub mod error;
pub mod generate;
#[cfg(test)]
mod golden;
pub mod metadata;
pub mod operation;
pub mod permission;
pub mod plan;
pub mod sample;
pub mod schema;
pub mod server;
pub mod shape;
pub mod sql;
pub mod telemetry;
pub mod transaction;
pub mod transfer;
