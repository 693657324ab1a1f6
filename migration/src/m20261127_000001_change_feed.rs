//! The change feed's log and trigger function (the DDL is the engine's, in the `change-feed`
//! crate). Which tables are tracked is not this migration's business: `gateway changes install`
//! tracks the tables a gateway serves, and `m20261201_000001_track_sample` the sample's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        change_feed::install_log(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for table in change_feed::tracked_tables(connection).await? {
            change_feed::untrack(connection, &table).await?;
        }
        change_feed::remove_log(connection).await.map(|_| ())
    }
}
