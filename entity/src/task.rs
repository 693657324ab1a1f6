//! A unit of work in a project, optionally assigned to a user, tagged through `task_tags`.

use crate::enums::TaskStatus;
use sea_orm::entity::prelude::*;

/// A unit of work in a project.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i64,
    pub assignee_id: Option<i64>,
    pub title: String,
    pub status: TaskStatus,
    /// Higher is more urgent.
    pub priority: i32,
    pub due_on: Option<Date>,
    #[sea_orm(column_type = "Decimal(Some((6, 2)))", nullable)]
    pub estimate_hours: Option<Decimal>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub metadata: Option<Json>,
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub created_at: DateTimeWithTimeZone,
    /// Set by the gateway on every update.
    #[sea_orm(default_expr = "Expr::current_timestamp()")]
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::project::Entity",
        from = "Column::ProjectId",
        to = "super::project::Column::Id"
    )]
    Project,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::AssigneeId",
        to = "super::user::Column::Id"
    )]
    Assignee,
    #[sea_orm(has_many = "super::comment::Entity")]
    Comments,
    #[sea_orm(has_many = "super::task_tag::Entity")]
    TaskTags,
}

impl Related<super::project::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Assignee.def()
    }
}

impl Related<super::comment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Comments.def()
    }
}

impl Related<super::task_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TaskTags.def()
    }
}

impl Related<super::tag::Entity> for Entity {
    fn to() -> RelationDef {
        super::task_tag::Relation::Tag.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::task_tag::Relation::Task.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
