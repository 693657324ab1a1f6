//! The sample domain, a multi-tenant project tracker: seven tables, three enum types, and an index
//! on every foreign key. A foreign key whose column leads a composite index or primary key
//! (`tasks.project_id`, `tags.organization_id`, `task_tags.task_id`) is served by that index
//! rather than a redundant single-column one.

use sea_orm_migration::prelude::extension::postgres::Type;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrganizationPlan {
    #[sea_orm(iden = "organization_plan")]
    Type,
    Free,
    Team,
    Enterprise,
}

#[derive(DeriveIden)]
enum UserRole {
    #[sea_orm(iden = "user_role")]
    Type,
    Member,
    Admin,
}

#[derive(DeriveIden)]
enum TaskStatus {
    #[sea_orm(iden = "task_status")]
    Type,
    Todo,
    InProgress,
    Done,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Slug,
    Name,
    Plan,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganizationId,
    Email,
    DisplayName,
    Role,
    ExternalId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    IsPublic,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    ProjectId,
    AssigneeId,
    Title,
    Status,
    Priority,
    DueOn,
    EstimateHours,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    TaskId,
    AuthorId,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    OrganizationId,
    Name,
}

#[derive(DeriveIden)]
enum TaskTags {
    Table,
    TaskId,
    TagId,
}

fn created_at<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .default(Expr::current_timestamp())
        .take()
}

fn foreign_key(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

fn index(table: impl IntoTableRef, columns: &[&'static str], name: &str) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(Alias::new(*column));
    }
    index
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        if postgres {
            manager
                .create_type(
                    Type::create()
                        .as_enum(OrganizationPlan::Type)
                        .values([
                            OrganizationPlan::Free,
                            OrganizationPlan::Team,
                            OrganizationPlan::Enterprise,
                        ])
                        .to_owned(),
                )
                .await?;
            manager
                .create_type(
                    Type::create()
                        .as_enum(UserRole::Type)
                        .values([UserRole::Member, UserRole::Admin])
                        .to_owned(),
                )
                .await?;
            manager
                .create_type(
                    Type::create()
                        .as_enum(TaskStatus::Type)
                        .values([TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done])
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(big_pk_auto(Organizations::Id))
                    .col(ColumnDef::new(Organizations::Slug).text().not_null().unique_key())
                    .col(ColumnDef::new(Organizations::Name).text().not_null())
                    .col(
                        ColumnDef::new(Organizations::Plan)
                            .enumeration(
                                OrganizationPlan::Type,
                                [
                                    OrganizationPlan::Free,
                                    OrganizationPlan::Team,
                                    OrganizationPlan::Enterprise,
                                ],
                            )
                            .not_null(),
                    )
                    .col(created_at(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(big_pk_auto(Users::Id))
                    .col(big_integer(Users::OrganizationId))
                    .col(ColumnDef::new(Users::Email).text().not_null().unique_key())
                    .col(ColumnDef::new(Users::DisplayName).text().not_null())
                    .col(
                        ColumnDef::new(Users::Role)
                            .enumeration(UserRole::Type, [UserRole::Member, UserRole::Admin])
                            .not_null(),
                    )
                    .col(ColumnDef::new(Users::ExternalId).uuid().not_null().unique_key())
                    .col(created_at(Users::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        (Users::Table, Users::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Users::Table, &["organization_id"], "users_organization_id_idx"))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(big_pk_auto(Projects::Id))
                    .col(big_integer(Projects::OrganizationId))
                    .col(ColumnDef::new(Projects::Name).text().not_null())
                    .col(ColumnDef::new(Projects::Description).text().null())
                    .col(ColumnDef::new(Projects::IsPublic).boolean().not_null().default(false))
                    .col(created_at(Projects::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        (Projects::Table, Projects::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Projects::Table,
                &["organization_id"],
                "projects_organization_id_idx",
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(big_pk_auto(Tasks::Id))
                    .col(big_integer(Tasks::ProjectId))
                    .col(ColumnDef::new(Tasks::AssigneeId).big_integer().null())
                    .col(ColumnDef::new(Tasks::Title).text().not_null())
                    .col(
                        ColumnDef::new(Tasks::Status)
                            .enumeration(
                                TaskStatus::Type,
                                [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done],
                            )
                            .not_null(),
                    )
                    .col(ColumnDef::new(Tasks::Priority).integer().not_null())
                    .col(ColumnDef::new(Tasks::DueOn).date().null())
                    .col(ColumnDef::new(Tasks::EstimateHours).decimal_len(6, 2).null())
                    .col(ColumnDef::new(Tasks::Metadata).json_binary().null())
                    .col(created_at(Tasks::CreatedAt))
                    .col(created_at(Tasks::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        (Tasks::Table, Tasks::ProjectId),
                        (Projects::Table, Projects::Id),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tasks::Table, Tasks::AssigneeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Tasks::Table,
                &["project_id", "created_at"],
                "tasks_project_id_created_at_idx",
            ))
            .await?;
        manager
            .create_index(index(Tasks::Table, &["assignee_id"], "tasks_assignee_id_idx"))
            .await?;
        manager
            .create_index(index(Tasks::Table, &["status"], "tasks_status_idx"))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(big_pk_auto(Comments::Id))
                    .col(big_integer(Comments::TaskId))
                    .col(big_integer(Comments::AuthorId))
                    .col(ColumnDef::new(Comments::Body).text().not_null())
                    .col(created_at(Comments::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        (Comments::Table, Comments::TaskId),
                        (Tasks::Table, Tasks::Id),
                    ))
                    .foreign_key(&mut foreign_key(
                        (Comments::Table, Comments::AuthorId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Comments::Table, &["task_id"], "comments_task_id_idx"))
            .await?;
        manager
            .create_index(index(Comments::Table, &["author_id"], "comments_author_id_idx"))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .col(big_pk_auto(Tags::Id))
                    .col(big_integer(Tags::OrganizationId))
                    .col(ColumnDef::new(Tags::Name).text().not_null())
                    .foreign_key(&mut foreign_key(
                        (Tags::Table, Tags::OrganizationId),
                        (Organizations::Table, Organizations::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    Tags::Table,
                    &["organization_id", "name"],
                    "tags_organization_id_name_key",
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskTags::Table)
                    .col(big_integer(TaskTags::TaskId))
                    .col(big_integer(TaskTags::TagId))
                    .primary_key(Index::create().col(TaskTags::TaskId).col(TaskTags::TagId))
                    .foreign_key(&mut foreign_key(
                        (TaskTags::Table, TaskTags::TaskId),
                        (Tasks::Table, Tasks::Id),
                    ))
                    .foreign_key(&mut foreign_key(
                        (TaskTags::Table, TaskTags::TagId),
                        (Tags::Table, Tags::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(TaskTags::Table, &["tag_id"], "task_tags_tag_id_idx"))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TaskTags::Table.into_iden(),
            Tags::Table.into_iden(),
            Comments::Table.into_iden(),
            Tasks::Table.into_iden(),
            Projects::Table.into_iden(),
            Users::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            for name in [
                TaskStatus::Type.into_iden(),
                UserRole::Type.into_iden(),
                OrganizationPlan::Type.into_iden(),
            ] {
                manager.drop_type(Type::drop().name(name).to_owned()).await?;
            }
        }
        Ok(())
    }
}
