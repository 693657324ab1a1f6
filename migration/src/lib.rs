//! Migrations of the sample schema. They run on PostgreSQL (enum types, `bigserial` keys,
//! `timestamptz`, `jsonb`) and on SQLite (the embedded default), from the same definitions.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_sample_schema;
mod m20261127_000001_change_feed;
mod m20261201_000001_track_sample;

/// Every migration of the gateway's schema, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_sample_schema::Migration),
            Box::new(m20261127_000001_change_feed::Migration),
            Box::new(m20261201_000001_track_sample::Migration),
        ]
    }
}
