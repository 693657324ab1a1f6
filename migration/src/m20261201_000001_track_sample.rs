//! The sample's tables announce their changes: the change-feed trigger on each (the engine's DDL,
//! in the `change-feed` crate). Serving never installs triggers uninvited; for a
//! database of one's own, `gateway changes install` does what this migration does here.

use change_feed::{is_tracked, track, untrack};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The sample's tables and their primary keys.
const TABLES: &[(&str, &[&str])] = &[
    ("organizations", &["id"]),
    ("users", &["id"]),
    ("projects", &["id"]),
    ("tasks", &["id"]),
    ("comments", &["id"]),
    ("tags", &["id"]),
    ("task_tags", &["task_id", "tag_id"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for (table, key) in TABLES {
            if !is_tracked(connection, table).await? {
                track(connection, table, key).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, _) in TABLES {
            untrack(manager.get_connection(), table).await?;
        }
        Ok(())
    }
}
