//! Mutations as plans: what to write, which rows, and what to return.
//!
//! Inputs are parsed and typed before any SQL runs (a bad value is `BAD_USER_INPUT` naming the
//! row and field). A [`WritePlan`] is executed inside the operation's transaction by
//! [`crate::database::write`], and the rows it wrote are read back through the same selection
//! machinery as queries, so nested fields work on mutation results. Permission checks (row
//! checks on the rows as written, column allow-lists, presets) belong between "write" and "read
//! back" in that same transaction.

use super::arguments::{argument_value, column_of_enum, null_value, parse_filter, parse_scalar};
use super::field::Selection;
use super::{NodePlan, Predicate};
use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, RelationKind};
use async_graphql::Value as GqlValue;
use sea_orm::Value;

/// Column values to write: (column, value).
pub type Assignments = Vec<(String, Value)>;

/// One row to insert: its column values and its many-to-many links.
#[derive(Debug, Clone, Default)]
pub struct InsertRow {
    pub values: Assignments,
    pub links: Vec<Links>,
    /// Rows of one-to-many relations to create with this row as their parent.
    pub children: Vec<Children>,
}

/// New rows of a one-to-many relation, whose reference to the parent is filled in on insert.
#[derive(Debug, Clone)]
pub struct Children {
    /// Index of the one-to-many relation in the parent entity's relations.
    pub relation: usize,
    pub rows: Vec<InsertRow>,
}

/// Whether rows of `relation` can be created inside their parent's insert: a one-to-many relation
/// that references the parent's primary key (the key the insert returns).
pub fn accepts_children(meta: &Entity, relation: &crate::metadata::Relation) -> bool {
    relation.kind == RelationKind::OneToMany && relation.from_columns == meta.primary_key
}

/// The complete set of targets of a many-to-many relation (replacing any existing links).
#[derive(Debug, Clone)]
pub struct Links {
    /// Index of the many-to-many relation in the entity's relations.
    pub relation: usize,
    /// Key values of the linked target rows.
    pub targets: Vec<Value>,
}

/// Which existing rows a write applies to.
#[derive(Debug, Clone)]
pub enum Target {
    /// One row by primary key; missing is `NOT_FOUND`.
    Key(Vec<(String, Value)>),
    /// Every row matching the (explicit) filter.
    Filter(Option<Predicate>),
}

#[derive(Debug, Clone)]
pub enum WriteAction {
    Insert(Vec<InsertRow>),
    Upsert {
        row: InsertRow,
        conflict: Vec<String>,
        update: Vec<String>,
    },
    Update {
        target: Target,
        set: Assignments,
        links: Vec<Links>,
    },
    Delete(Target),
}

/// What a mutation field returns.
#[derive(Debug, Clone)]
pub enum Returning {
    /// One row (`createTask`, `updateTask`, …), selected like a lookup.
    One(NodePlan),
    /// `{ affectedRows rows { … } }` of the bulk forms: (response key, output).
    Many(Vec<(String, ManyOutput)>),
}

#[derive(Debug, Clone)]
pub enum ManyOutput {
    AffectedRows,
    Rows(NodePlan),
}

#[derive(Debug, Clone)]
pub struct WritePlan {
    pub entity: EntityId,
    pub kind: WriteAction,
    pub returning: Returning,
}

impl WritePlan {
    /// The rows the write reads back for its answer.
    pub fn returned_rows(&self) -> Vec<&NodePlan> {
        match &self.returning {
            Returning::One(node) => vec![node],
            Returning::Many(outputs) => outputs
                .iter()
                .filter_map(|(_, output)| match output {
                    ManyOutput::Rows(node) => Some(node),
                    ManyOutput::AffectedRows => None,
                })
                .collect(),
        }
    }

    /// The client's filter of an update or delete by filter.
    pub fn filter(&self) -> Option<&Predicate> {
        match &self.kind {
            WriteAction::Update {
                target: Target::Filter(filter),
                ..
            }
            | WriteAction::Delete(Target::Filter(filter)) => filter.as_ref(),
            _ => None,
        }
    }
}

/// The mutation forms generated for each entity ([`Mutation::ALL`] in the schema's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    Create,
    CreateMany,
    Upsert,
    Update,
    UpdateMany,
    Delete,
    DeleteMany,
}

impl Mutation {
    pub const ALL: [Mutation; 7] = [
        Mutation::Create,
        Mutation::CreateMany,
        Mutation::Upsert,
        Mutation::Delete,
        Mutation::DeleteMany,
        Mutation::Update,
        Mutation::UpdateMany,
    ];

    pub fn is_bulk(self) -> bool {
        matches!(self, Self::CreateMany | Self::UpdateMany | Self::DeleteMany)
    }

    /// The field's name for `entity` (`createTask`, `createTasks`, `upsertTask`, …); when the
    /// plural is the singular (`staff`), the bulk forms say so: `createManyStaff`.
    pub fn field_name(self, entity: &Entity) -> String {
        let one = &entity.type_name;
        let plural = cruet::to_pascal_case(&entity.list_field);
        let many = if &plural == one { format!("Many{one}") } else { plural };
        match self {
            Self::Create => format!("create{one}"),
            Self::CreateMany => format!("create{many}"),
            Self::Upsert => format!("upsert{one}"),
            Self::Update => format!("update{one}"),
            Self::UpdateMany => format!("update{many}"),
            Self::Delete => format!("delete{one}"),
            Self::DeleteMany => format!("delete{many}"),
        }
    }

    /// The entity and form of the mutation field `name`.
    pub fn find(registry: &Registry, name: &str) -> Option<(EntityId, Mutation)> {
        super::find_field(registry, name, &Self::ALL, Self::field_name)
    }

    /// The kinds of write a role needs for this mutation.
    pub fn needs(self) -> &'static [super::RowOp] {
        use super::RowOp::{Delete, Insert, Update};
        match self {
            Self::Create | Self::CreateMany => &[Insert],
            Self::Upsert => &[Insert, Update],
            Self::Update | Self::UpdateMany => &[Update],
            Self::Delete | Self::DeleteMany => &[Delete],
        }
    }
}

/// The field name of an m2m link list in inputs: `tags` → `tagIds`.
pub fn links_field(relation_field: &str) -> String {
    format!("{}Ids", cruet::to_singular(relation_field))
}

/// Plans a mutation field from its arguments and selection.
pub fn plan_write<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    mutation: Mutation,
    field: S,
    max_rows: usize,
    presets: &InsertPresets<'_>,
) -> Result<WritePlan, GatewayError> {
    let meta = registry.entity(entity);
    let args = field.arguments()?;
    let arg = |name: &str| argument_value(&args, name);
    let kind = match mutation {
        Mutation::Create => WriteAction::Insert(vec![parse_insert(registry, presets, entity, arg("input"), "input")?]),
        Mutation::CreateMany => {
            let GqlValue::List(items) = arg("inputs") else {
                return Err(GatewayError::bad_input("`inputs` must be a list of rows"));
            };
            if items.len() > max_rows {
                return Err(GatewayError::bad_input(format!(
                    "`inputs` has {} rows; at most {max_rows} may be inserted at once (GATEWAY_MAX_INSERT_ROWS)",
                    items.len()
                )));
            }
            let rows = items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_insert(registry, presets, entity, item, &format!("inputs[{index}]")))
                .collect::<Result<Vec<_>, _>>()?;
            WriteAction::Insert(rows)
        }
        Mutation::Upsert => {
            let row = parse_insert(registry, presets, entity, arg("input"), "input")?;
            let GqlValue::Object(on_conflict) = arg("onConflict") else {
                return Err(GatewayError::bad_input("`onConflict` is required"));
            };
            let columns = |name: &str| -> Result<Vec<String>, GatewayError> {
                let list = on_conflict.get(name).cloned().unwrap_or(GqlValue::List(Vec::new()));
                let GqlValue::List(items) = list else {
                    return Err(GatewayError::bad_input(format!(
                        "onConflict.{name} must be a list of columns"
                    )));
                };
                items
                    .iter()
                    .map(|item| column_of_enum(meta, item, &format!("onConflict.{name}")))
                    .collect()
            };
            let conflict = columns("columns")?;
            if conflict.is_empty() {
                return Err(GatewayError::bad_input(
                    "onConflict.columns must name the unique columns to match on",
                ));
            }
            WriteAction::Upsert {
                row,
                conflict,
                update: columns("update")?,
            }
        }
        Mutation::Update | Mutation::UpdateMany => {
            let target = if mutation == Mutation::Update {
                Target::Key(parse_key(meta, &args)?)
            } else {
                Target::Filter(parse_filter(registry, entity, arg("filter"), "filter")?)
            };
            let (set, links) = parse_patch(registry, meta, arg("patch"))?;
            WriteAction::Update { target, set, links }
        }
        Mutation::Delete => WriteAction::Delete(Target::Key(parse_key(meta, &args)?)),
        Mutation::DeleteMany => {
            WriteAction::Delete(Target::Filter(parse_filter(registry, entity, arg("filter"), "filter")?))
        }
    };
    let returning = if mutation.is_bulk() {
        let mut outputs = Vec::new();
        for (key, fields) in super::selection::grouped(std::slice::from_ref(&field))? {
            let output = match fields[0].name() {
                "affectedRows" => ManyOutput::AffectedRows,
                "rows" => ManyOutput::Rows(super::selection::plan_node(registry, entity, &fields)?),
                other => {
                    return Err(GatewayError::bad_input(format!(
                        "`{other}` is not a field of the mutation result"
                    )));
                }
            };
            outputs.push((key, output));
        }
        Returning::Many(outputs)
    } else {
        Returning::One(super::selection::plan_node(registry, entity, &[field])?)
    };
    Ok(WritePlan {
        entity,
        kind,
        returning,
    })
}

fn parse_key(meta: &Entity, args: &[(String, GqlValue)]) -> Result<Vec<(String, Value)>, GatewayError> {
    meta.primary_key
        .iter()
        .map(|column| {
            let field = &meta.column(column).ok_or(GatewayError::Internal)?.field;
            Ok((
                column.clone(),
                super::parse_key_value(meta, column, argument_value(args, field))?,
            ))
        })
        .collect()
}

/// A typed value for `column` from an input value (`null` allowed only for nullable columns).
fn column_value(column: &crate::metadata::Column, value: &GqlValue, path: &str) -> Result<Value, GatewayError> {
    if matches!(value, GqlValue::Null) {
        if !column.nullable {
            return Err(GatewayError::bad_input(format!(
                "{path}: {} cannot be null",
                column.field
            )));
        }
        return Ok(null_value(&column.kind));
    }
    parse_scalar(&column.kind, value, path)
}

fn parse_links(
    registry: &Registry,
    meta: &Entity,
    field: &str,
    value: &GqlValue,
    path: &str,
) -> Result<Option<Links>, GatewayError> {
    let Some(relation) = meta.relations.iter().position(|relation| {
        matches!(relation.kind, RelationKind::ManyToMany { .. }) && links_field(&relation.field) == field
    }) else {
        return Ok(None);
    };
    let target = registry.entity(meta.relations[relation].target);
    let key_column = target
        .column(&meta.relations[relation].to_columns[0])
        .ok_or(GatewayError::Internal)?;
    let items = match value {
        GqlValue::List(items) => items.clone(),
        GqlValue::Null => Vec::new(),
        single => vec![single.clone()],
    };
    let targets = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_scalar(&key_column.kind, item, &format!("{path}[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Links { relation, targets }))
}

/// The columns the writer's insert rules set themselves (policy presets), which an insert input
/// may leave out. The permission layer hands them in as data (`Access::insert_presets`); the
/// planner knows nothing of policies.
#[derive(Debug, Default)]
pub struct InsertPresets<'a>(pub Vec<(EntityId, &'a str)>);

impl InsertPresets<'_> {
    fn sets(&self, entity: EntityId, column: &str) -> bool {
        self.0.iter().any(|(preset, name)| *preset == entity && *name == column)
    }
}

fn parse_insert(
    registry: &Registry,
    presets: &InsertPresets<'_>,
    entity_id: EntityId,
    value: &GqlValue,
    path: &str,
) -> Result<InsertRow, GatewayError> {
    parse_insert_row(registry, presets, entity_id, value, path, &[])
}

/// An insert input; `filled` columns (a child's reference to its parent) are set by the insert.
fn parse_insert_row(
    registry: &Registry,
    presets: &InsertPresets<'_>,
    entity_id: EntityId,
    value: &GqlValue,
    path: &str,
    filled: &[String],
) -> Result<InsertRow, GatewayError> {
    let meta = registry.entity(entity_id);
    let GqlValue::Object(fields) = value else {
        return Err(GatewayError::bad_input(format!("{path}: expected an object")));
    };
    let mut row = InsertRow::default();
    for (name, value) in fields {
        let here = format!("{path}.{name}");
        let child_relation = meta
            .relations
            .iter()
            .position(|relation| relation.field == name.as_str() && accepts_children(meta, relation));
        if let Some(column) = meta
            .column_by_field(name.as_str())
            .filter(|column| !filled.contains(&column.name))
        {
            row.values
                .push((column.name.clone(), column_value(column, value, &here)?));
        } else if let Some(links) = parse_links(registry, meta, name.as_str(), value, &here)? {
            row.links.push(links);
        } else if let Some(relation) = child_relation {
            let target = meta.relations[relation].target;
            let GqlValue::List(items) = value else {
                return Err(GatewayError::bad_input(format!("{here}: expected a list of rows")));
            };
            let rows = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    parse_insert_row(
                        registry,
                        presets,
                        target,
                        item,
                        &format!("{here}[{index}]"),
                        &meta.relations[relation].to_columns,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            row.children.push(Children { relation, rows });
        } else {
            return Err(GatewayError::bad_input(format!(
                "{here}: not an input field of {}",
                meta.type_name
            )));
        }
    }
    for column in &meta.columns {
        let given = row.values.iter().any(|(name, _)| *name == column.name)
            || filled.contains(&column.name)
            || presets.sets(entity_id, &column.name);
        // What the database fills itself (generated columns, search documents kept by a
        // trigger) is never asked of the client; if it stays empty, the database says so.
        let filled_by_database = column.computed || column.kind.is_search_document();
        if !column.nullable && !column.has_default && !given && !filled_by_database {
            return Err(GatewayError::bad_input(format!("{path}: {} is required", column.field)));
        }
    }
    Ok(row)
}

fn parse_patch(
    registry: &Registry,
    meta: &Entity,
    value: &GqlValue,
) -> Result<(Assignments, Vec<Links>), GatewayError> {
    let GqlValue::Object(fields) = value else {
        return Err(GatewayError::bad_input("`patch` must be an object"));
    };
    let mut set = Vec::new();
    let mut links = Vec::new();
    for (name, value) in fields {
        let here = format!("patch.{name}");
        match meta.column_by_field(name.as_str()) {
            Some(column) if !column.read_only && !column.touched_on_update => {
                set.push((column.name.clone(), column_value(column, value, &here)?));
            }
            Some(column) => {
                return Err(GatewayError::bad_input(format!(
                    "{here}: {} cannot be changed",
                    column.field
                )));
            }
            None => match parse_links(registry, meta, name.as_str(), value, &here)? {
                Some(found) => links.push(found),
                None => {
                    return Err(GatewayError::bad_input(format!(
                        "{here}: not a patch field of {}",
                        meta.type_name
                    )));
                }
            },
        }
    }
    if set.is_empty() && links.is_empty() {
        return Err(GatewayError::bad_input("`patch` changes nothing"));
    }
    Ok((set, links))
}
