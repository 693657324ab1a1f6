//! gateway: a GraphQL data-access gateway generated from SeaORM entities.
//!
//! The request flow and the layout follow DESIGN.md: [`config`] parses settings, [`database`]
//! opens (and explains) the connection pool, [`schema`] builds the GraphQL schema, [`server`]
//! serves it over HTTP and WebSocket, and [`cli`] ties them into commands.

pub mod cli;
pub mod config;
pub mod database;
pub mod entities;
pub mod error;
pub mod metadata;
pub mod plan;
pub mod schema;
pub mod seed;
pub mod server;
pub mod shape;
pub mod sql;
pub mod telemetry;
