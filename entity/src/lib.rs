//! SeaORM entities of the sample schema, a multi-tenant project tracker.
//!
//! These types are the gateway's source of truth: the GraphQL API is generated from their column
//! and relation metadata, so a table added here (with its migration and one registration line)
//! gets the whole API. Doc comments on entities and columns become GraphQL descriptions.

pub mod comment;
pub mod enums;
pub mod organization;
pub mod project;
pub mod tag;
pub mod task;
pub mod task_tag;
pub mod user;

pub use sea_orm;
