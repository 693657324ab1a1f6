//! A label an organization puts on tasks; names are unique within an organization.

use sea_orm::entity::prelude::*;

/// A label for tasks.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tags")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id"
    )]
    Organization,
    #[sea_orm(has_many = "super::task_tag::Entity")]
    TaskTags,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl Related<super::task_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TaskTags.def()
    }
}

impl Related<super::task::Entity> for Entity {
    fn to() -> RelationDef {
        super::task_tag::Relation::Task.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::task_tag::Relation::Tag.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
