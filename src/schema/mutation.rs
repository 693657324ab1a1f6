//! The generated mutations of one entity: `createX`, `createXs`, `updateX`, `updateXs`, `deleteX`,
//! `deleteXs`, `upsertX`, their input types, and the resolver that runs them in the operation's
//! transaction.

use super::Engine;
use super::scalars::{type_name, type_ref};
use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, Relation, RelationKind, enum_value_name};
use crate::permission::View;
use crate::plan::RowOp;
use crate::plan::write::{Mutation, accepts_children, links_field, plan_write};
use crate::transaction::OperationTransaction;
use async_graphql::ErrorExtensions;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, SchemaBuilder,
    TypeRef,
};
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Resolves a mutation field: plan, write and read back in the operation's transaction.
fn resolver(
    entity: EntityId,
    mutation: Mutation,
) -> impl Fn(ResolverContext<'_>) -> FieldFuture<'_> + Send + Sync + 'static {
    move |context| {
        FieldFuture::new(async move {
            let engine = context.data::<Engine>()?;
            let registry = &engine.registry;

            let access = engine
                .access(context.data_opt::<crate::auth::Session>())
                .map_err(|error| error.extend())?;
            let plan = plan_write(
                registry,
                entity,
                mutation,
                context.field(),
                engine.max_insert_rows,
                &access.insert_presets(),
            )
            .map_err(|error| error.extend())?;
            // Text matching in the write's filter and in what it reads back is bounded like a read's.
            crate::plan::text_cost::check_parts(
                registry,
                entity,
                &plan.filter().into_iter().collect::<Vec<_>>(),
                &plan.returned_rows(),
                engine.text,
                &|entity| engine.table_rows(entity),
                context
                    .data_opt::<Arc<crate::plan::text_cost::TextSpent>>()
                    .map(Arc::as_ref),
            )
            .map_err(|error| error.extend())?;
            let write = async |transaction: &sea_orm::DatabaseTransaction| {
                crate::database::write::execute(transaction, registry, &access, &plan).await
            };
            let json = match context.data_opt::<Arc<OperationTransaction>>() {
                Some(operation) => operation.run(write).await,
                None => crate::transaction::run_alone(context.data::<DatabaseConnection>()?, write).await,
            }
            .map_err(|error: GatewayError| {
                // Name the failing field: the dynamic schema reports no error path for it.
                let field = context.field();
                let mut extended = error.extend();
                extended.message = format!("{}: {}", field.alias().unwrap_or(field.name()), extended.message);
                extended
            })?;
            Ok(match json {
                serde_json::Value::Null => None,
                json => Some(FieldValue::owned_any(json)),
            })
        })
    }
}

/// The type names one entity's mutation fields use.
struct FieldTypes<'a> {
    base: &'a str,
    insert: &'a str,
    patch: &'a str,
    on_conflict: &'a str,
    result: &'a str,
    filter: &'a str,
}

/// The field of `mutation` on `entity`, with its arguments.
fn mutation_field(entity: &Entity, id: EntityId, mutation: Mutation, names: &FieldTypes<'_>) -> Field {
    let base = names.base;
    let name = mutation.field_name(entity);
    let by_key = |field: Field| {
        entity
            .primary_key
            .iter()
            .filter_map(|key| entity.column(key))
            .fold(field, |field, column| {
                field.argument(InputValue::new(
                    &column.field,
                    TypeRef::named_nn(type_name(&column.kind)),
                ))
            })
    };
    let one = |name: String| Field::new(name, TypeRef::named_nn(base), resolver(id, mutation));
    let many = |name: String| Field::new(name, TypeRef::named_nn(names.result), resolver(id, mutation));
    match mutation {
        Mutation::Create => one(name)
            .description(format!("Inserts one {base}."))
            .argument(InputValue::new("input", TypeRef::named_nn(names.insert))),
        Mutation::CreateMany => many(name)
            .description(format!("Inserts {base} rows in one statement."))
            .argument(InputValue::new("inputs", TypeRef::named_nn_list_nn(names.insert))),
        Mutation::Upsert => one(name)
            .description(format!("Inserts one {base}, or updates the row it conflicts with."))
            .argument(InputValue::new("input", TypeRef::named_nn(names.insert)))
            .argument(InputValue::new("onConflict", TypeRef::named_nn(names.on_conflict))),
        Mutation::Update => by_key(one(name))
            .description(format!("Changes one {base} by key; NOT_FOUND when there is none."))
            .argument(InputValue::new("patch", TypeRef::named_nn(names.patch))),
        Mutation::UpdateMany => many(name)
            .description(format!(
                "Changes the {base} rows matching the filter (write `{{}}` to mean all)."
            ))
            .argument(InputValue::new("filter", TypeRef::named_nn(names.filter)))
            .argument(InputValue::new("patch", TypeRef::named_nn(names.patch))),
        Mutation::Delete => by_key(one(name)).description(format!(
            "Deletes one {base} by key and returns it as it was; NOT_FOUND when there is none."
        )),
        Mutation::DeleteMany => many(name)
            .description(format!(
                "Deletes the {base} rows matching the filter (write `{{}}` to mean all)."
            ))
            .argument(InputValue::new("filter", TypeRef::named_nn(names.filter))),
    }
}

/// Registers the mutation input types of entity `id` and returns its mutation fields.
pub fn register(
    mut builder: SchemaBuilder,
    registry: &Registry,
    id: EntityId,
    view: &View,
) -> (SchemaBuilder, Vec<Field>) {
    let entity = registry.entity(id);
    // Mutations return rows, so a role sees the writes of the tables it can read; a view and
    // other read-only entities have none.
    if !view.entity(id) || entity.read_only.is_some() {
        return (builder, Vec::new());
    }
    let base = &entity.type_name;
    let insert_input_name = format!("{base}InsertInput");
    let patch_input = format!("{base}Patch");
    let column_enum = format!("{base}Column");
    let on_conflict = format!("{base}OnConflict");
    let result = format!("{base}MutationResult");

    let mut patch = InsertObjectBuilder::new(
        &patch_input,
        format!("Changes to {base} rows: only the given fields change."),
    );
    for column in entity.columns.iter().filter(|column| {
        !column.read_only && !column.touched_on_update && view.writable(id, RowOp::Update, &column.name)
    }) {
        patch.add(InputValue::new(&column.field, type_ref(&column.kind, true, true)));
    }
    for value in link_fields(registry, entity, view, &[RowOp::Insert, RowOp::Delete]) {
        patch.add(value);
    }
    let insert = insert_input(
        registry,
        id,
        &insert_input_name,
        format!("A new {base} row; fields with database defaults may be left out."),
        view,
        &|column| view.insertable(id, column),
        &|column| view.preset(id, column),
    );
    // Children inputs are parts of the insert input: only a role that may insert gets them.
    for relation in entity
        .relations
        .iter()
        .filter(|relation| view.can(id, RowOp::Insert) && accepts_children(entity, relation))
    {
        let target = registry.entity(relation.target);
        builder = builder.register(insert_input(
            registry,
            relation.target,
            &children_input_name(entity, relation),
            format!(
                "A new {} row created inside its {base}, which it then refers to.",
                target.type_name
            ),
            view,
            &|column| !relation.to_columns.contains(&column.name) && view.insertable(relation.target, column),
            &|column| view.preset(relation.target, column),
        ));
    }
    if view.can(id, RowOp::Insert) {
        builder = builder.register(insert);
    }
    builder = builder
        .register(
            Enum::new(&column_enum).items(
                entity
                    .columns
                    .iter()
                    .map(|column| EnumItem::new(enum_value_name(&column.name))),
            ),
        )
        .register(
            InputObject::new(&on_conflict)
                .description("What makes an insert a conflict, and what to update then.")
                .field(
                    InputValue::new("columns", TypeRef::named_nn_list_nn(&column_enum))
                        .description("The columns of a unique constraint."),
                )
                .field(
                    InputValue::new("update", TypeRef::named_nn_list_nn(&column_enum))
                        .description("Columns to overwrite with the new values."),
                ),
        )
        .register(
            Object::new(&result)
                .description(format!("What a bulk mutation of {base} rows did."))
                .field(Field::new(
                    "affectedRows",
                    TypeRef::named_nn(TypeRef::INT),
                    super::resolve::scalar(crate::metadata::ScalarKind::Int),
                ))
                .field(
                    Field::new("rows", TypeRef::named_nn_list_nn(base), super::resolve::list)
                        .description("The rows as written (deleted rows as they were)."),
                ),
        );
    let names = FieldTypes {
        base,
        insert: &insert_input_name,
        patch: &patch_input,
        on_conflict: &on_conflict,
        result: &result,
        filter: &format!("{base}Filter"),
    };
    // A field for every mutation the role's view grants (updates only when something is writable).
    let fields = Mutation::ALL
        .into_iter()
        .filter(|mutation| mutation.needs().iter().all(|kind| view.can(id, *kind)))
        .filter(|mutation| patch.any || !matches!(mutation, Mutation::Update | Mutation::UpdateMany))
        .map(|mutation| mutation_field(entity, id, mutation, &names))
        .collect();
    if patch.any && view.can(id, RowOp::Update) {
        builder = builder.register(patch.object);
    }
    (builder, fields)
}

/// The input that creates rows of `relation` inside a row of `entity`: `TaskCommentsInsertInput`.
fn children_input_name(entity: &Entity, relation: &Relation) -> String {
    format!(
        "{}{}InsertInput",
        entity.type_name,
        cruet::to_pascal_case(&relation.field)
    )
}

/// `…Ids` fields for the many-to-many relations whose links can be written: the view must grant
/// the junction writes (`kinds`) that replacing links makes.
fn link_fields(registry: &Registry, entity: &Entity, view: &View, kinds: &[RowOp]) -> Vec<InputValue> {
    entity
        .relations
        .iter()
        .filter(|relation| match &relation.kind {
            RelationKind::ManyToMany { junction, .. } => {
                relation.to_columns.len() == 1
                    && relation.from_columns == entity.primary_key
                    && kinds.iter().all(|kind| view.can(*junction, *kind))
            }
            _ => false,
        })
        .filter_map(|relation| {
            let target = registry.entity(relation.target);
            let key = target.column(&relation.to_columns[0])?;
            Some(
                InputValue::new(
                    links_field(&relation.field),
                    TypeRef::named_nn_list(type_name(&key.kind)),
                )
                .description(format!(
                    "The {} to link (replaces the current links).",
                    target.type_name
                )),
            )
        })
        .collect()
}

/// An insert input for entity `id`: its columns (without the `filled` ones, which the insert sets),
/// its many-to-many links, and the children it can create (whose input types exist only when the
/// view shows the entity).
fn insert_input(
    registry: &Registry,
    id: EntityId,
    name: &str,
    description: String,
    view: &View,
    settable: &dyn Fn(&crate::metadata::Column) -> bool,
    preset: &dyn Fn(&str) -> bool,
) -> InputObject {
    let entity = registry.entity(id);
    let mut input = InputObject::new(name).description(description);
    for column in entity.columns.iter().filter(|column| settable(column)) {
        let required = !column.nullable && !column.has_default && !preset(&column.name);
        input = input.field(InputValue::new(&column.field, type_ref(&column.kind, !required, true)));
    }
    for value in link_fields(registry, entity, view, &[RowOp::Insert]) {
        input = input.field(value);
    }
    for relation in entity
        .relations
        .iter()
        .filter(|relation| view.entity(id) && accepts_children(entity, relation))
    {
        input = input.field(
            InputValue::new(
                &relation.field,
                TypeRef::named_nn_list(children_input_name(entity, relation)),
            )
            .description(format!(
                "New {} rows to create with this one.",
                registry.entity(relation.target).type_name
            )),
        );
    }
    input
}

/// An input object that remembers whether it got any field (GraphQL forbids empty ones).
struct InsertObjectBuilder {
    object: InputObject,
    any: bool,
}

impl InsertObjectBuilder {
    fn new(name: &str, description: String) -> Self {
        Self {
            object: InputObject::new(name).description(description),
            any: false,
        }
    }

    fn add(&mut self, value: InputValue) {
        self.object = std::mem::replace(&mut self.object, InputObject::new("")).field(value);
        self.any = true;
    }
}
