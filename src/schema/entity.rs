//! The GraphQL types of one entity: its object, connection, edge, filter, ordering and aggregate
//! types, and its three root fields.

use super::resolve;
use super::scalars::{filter_name, type_name, type_ref};
use crate::metadata::{Column, Entity, EntityId, Registry, Relation, RelationKind, ScalarKind, enum_value_name};
use crate::permission::View;
use crate::plan::vocabulary::{Combinator, ConnectionField, Derived, EdgeField, ListQuantifier};
use crate::plan::{AggregateFunction, Root};
use async_graphql::dynamic::{Enum, EnumItem, Field, InputObject, InputValue, Object, SchemaBuilder, TypeRef};
use strum::IntoEnumIterator;

/// Names of an entity's derived types.
pub(super) struct Names {
    pub object: String,
    pub connection: String,
    edge: String,
    pub filter: String,
    list_filter: String,
    order_by: String,
    aggregate: String,
    group: String,
    group_key: String,
    group_column: String,
    aggregate_order_by: String,
}

impl Names {
    pub fn of(entity: &Entity) -> Self {
        let base = &entity.type_name;
        Self {
            object: base.clone(),
            connection: Derived::Connection.name(base),
            edge: Derived::Edge.name(base),
            filter: format!("{base}Filter"),
            list_filter: format!("{base}ListFilter"),
            order_by: format!("{base}OrderBy"),
            aggregate: Derived::Aggregate.name(base),
            group: Derived::Group.name(base),
            group_key: Derived::GroupKey.name(base),
            group_column: format!("{base}GroupColumn"),
            aggregate_order_by: format!("{base}AggregateOrderBy"),
        }
    }

    fn function(&self, function: AggregateFunction) -> String {
        Derived::Function(function).name(&self.object)
    }

    /// The input ordering by one function's value of a column (`TaskMaxOrderBy`).
    fn function_order_by(&self, function: AggregateFunction) -> String {
        format!("{}OrderBy", self.function(function))
    }
}

/// The arguments every connection field takes.
fn connection_field(field: ConnectionField, names: &Names) -> Field {
    let name = field.name();
    match field {
        ConnectionField::Nodes => Field::new(name, TypeRef::named_nn_list_nn(&names.object), resolve::list)
            .description("The rows of the page."),
        ConnectionField::Edges => Field::new(name, TypeRef::named_nn_list_nn(&names.edge), resolve::list)
            .description("The rows with their cursors."),
        ConnectionField::PageInfo => Field::new(
            name,
            TypeRef::named_nn(crate::plan::vocabulary::PAGE_INFO),
            resolve::object,
        ),
        ConnectionField::TotalCount => {
            Field::new(name, TypeRef::named_nn(TypeRef::INT), resolve::scalar(ScalarKind::Int))
                .description("Rows matching the filter, ignoring the page (computed only when selected).")
        }
    }
}

pub(super) fn connection_inputs(names: &Names) -> Vec<InputValue> {
    vec![
        InputValue::new("filter", TypeRef::named(&names.filter)).description("Only rows matching this condition."),
        InputValue::new("orderBy", TypeRef::named_nn_list(&names.order_by)).description(
            "Sort keys, most significant first; the primary key is always appended so the order is stable.",
        ),
        InputValue::new("first", TypeRef::named(TypeRef::INT)).description("At most this many rows from the start."),
        InputValue::new("after", TypeRef::named(TypeRef::STRING)).description("Rows after this cursor."),
        InputValue::new("last", TypeRef::named(TypeRef::INT)).description("At most this many rows from the end."),
        InputValue::new("before", TypeRef::named(TypeRef::STRING)).description("Rows before this cursor."),
        InputValue::new("offset", TypeRef::named(TypeRef::INT)).description("Skip this many rows first."),
    ]
}

fn connection_arguments(field: Field, names: &Names) -> Field {
    connection_inputs(names)
        .into_iter()
        .fold(field, |field, input| field.argument(input))
}

/// Whether a column's field is what normalised client caches take for an object's identity (Apollo
/// Client's `InMemoryCache` and urql's graphcache key objects by `__typename` and `id` or `_id`).
/// Aggregate results do not offer such fields: two different aggregates whose `min { id }` agreed
/// would become one cache object (`TaskMin:1`), and one would show the other's numbers.
fn looks_like_identity(column: &Column) -> bool {
    matches!(column.field.as_str(), "id" | "_id")
}

/// The inputs ordering rows by an aggregate of their related `entity` rows, over the columns
/// `view` shows: `TaskAggregateOrderBy` (`filter`, `count`, one field per function) and one
/// input per function (`TaskMaxOrderBy`).
fn aggregate_order_inputs(registry: &Registry, id: EntityId, view: &View) -> Vec<InputObject> {
    let entity = registry.entity(id);
    let names = Names::of(entity);
    let mut inputs = Vec::new();
    let mut order_by = InputObject::new(&names.aggregate_order_by)
        .description(format!(
            "Orders rows by one aggregate of their related {} rows: set `count` or one function's column.",
            names.object
        ))
        .field(InputValue::new("filter", TypeRef::named(&names.filter)).description("Aggregate only these rows."))
        .field(InputValue::new("count", TypeRef::named("OrderDirection")));
    for function in AggregateFunction::ALL {
        let mut fields = InputObject::new(names.function_order_by(function));
        let mut any = false;
        for column in entity
            .columns
            .iter()
            .filter(|column| view.column(id, &column.name) && !looks_like_identity(column))
        {
            if function.result_kind(&column.kind).is_some() {
                fields = fields.field(InputValue::new(&column.field, TypeRef::named("OrderDirection")));
                any = true;
            }
        }
        if any {
            order_by = order_by.field(InputValue::new(
                function.field(),
                TypeRef::named(names.function_order_by(function)),
            ));
            inputs.push(fields);
        }
    }
    inputs.push(order_by);
    inputs
}

/// Registers every type of `entity` and returns its root fields.
pub fn register(
    mut builder: SchemaBuilder,
    registry: &Registry,
    id: EntityId,
    view: &View,
    federation: bool,
) -> (SchemaBuilder, Vec<Field>) {
    let entity = registry.entity(id);
    if !view.entity(id) {
        return (builder, Vec::new());
    }
    let names = Names::of(entity);
    // What this role's view shows: readable columns, and relations whose both ends it can read.
    let columns: Vec<&Column> = entity
        .columns
        .iter()
        .filter(|column| view.column(id, &column.name))
        .collect();
    let relations: Vec<&Relation> = entity
        .relations
        .iter()
        .filter(|relation| {
            view.entity(relation.target)
                && relation.from_columns.iter().all(|column| view.column(id, column))
                && relation
                    .to_columns
                    .iter()
                    .all(|column| view.column(relation.target, column))
        })
        .collect();
    // To-many relations whose rows the role may aggregate: an aggregate field and an ordering.
    let aggregated = relations
        .iter()
        .copied()
        .filter(|relation| relation.aggregate_field().is_some() && view.aggregates(relation.target))
        .collect();
    let shown = Shown {
        registry,
        id,
        entity,
        names,
        columns,
        relations,
        aggregated,
        view,
    };
    let mut object = shown.object();
    if federation && let Some(fields) = super::federation::key_fields(registry, id, view) {
        object = object.directive(super::federation::key_directive(fields));
    }
    builder = builder.register(object);
    builder = shown.connection_types(builder);
    builder = shown.filter_types(builder);
    builder = shown.aggregate_types(builder);
    (builder, shown.roots(view))
}

/// What one role's view shows of an entity, and the types it gets.
struct Shown<'a> {
    registry: &'a Registry,
    id: EntityId,
    entity: &'a Entity,
    names: Names,
    columns: Vec<&'a Column>,
    relations: Vec<&'a Relation>,
    aggregated: Vec<&'a Relation>,
    view: &'a View,
}

impl Shown<'_> {
    /// The object type: readable columns and relations.
    fn object(&self) -> Object {
        let Shown {
            registry,
            entity,
            names,
            columns,
            relations,
            ..
        } = self;
        let described = |description: String| {
            let description = entity.description.clone().unwrap_or(description);
            match &entity.read_only {
                Some(reason) => format!("{description} Read-only ({reason}): no mutations or subscriptions."),
                None => description,
            }
        };

        // The object.
        let mut object = Object::new(&names.object).description(described(format!("A row of `{}`.", entity.table)));
        // A search document (`tsvector`) is for `matches` filters, not for reading.
        for column in columns.iter().filter(|column| !column.kind.is_search_document()) {
            object = object.field(
                Field::new(
                    &column.field,
                    type_ref(&column.kind, column.nullable, false),
                    resolve::scalar(column.kind.clone()),
                )
                .description(format!("`{}.{}`", entity.table, column.name)),
            );
        }
        for relation in relations.iter() {
            let target = Names::of(registry.entity(relation.target));
            let field = match &relation.kind {
                RelationKind::ManyToOne => {
                    let type_ref = if relation.optional {
                        TypeRef::named(&target.object)
                    } else {
                        TypeRef::named_nn(&target.object)
                    };
                    Field::new(&relation.field, type_ref, resolve::object).description(format!(
                        "The `{}` row this row refers to.",
                        registry.entity(relation.target).table
                    ))
                }
                RelationKind::OneToMany | RelationKind::ManyToMany { .. } => connection_arguments(
                    Field::new(&relation.field, TypeRef::named_nn(&target.connection), resolve::object),
                    &target,
                )
                .description(format!("Related `{}` rows.", registry.entity(relation.target).table)),
            };
            object = object.field(field);
        }
        for relation in &self.aggregated {
            let target = registry.entity(relation.target);
            let target_names = Names::of(target);
            object = object.field(
                Field::new(
                    relation.aggregate_field().unwrap_or_default(),
                    TypeRef::named_nn(&target_names.aggregate),
                    resolve::object,
                )
                .description(format!("Aggregates over the related `{}` rows.", target.table))
                .argument(
                    InputValue::new("filter", TypeRef::named(&target_names.filter))
                        .description("Only related rows matching this condition."),
                ),
            );
        }
        object
    }

    fn connection_types(&self, builder: SchemaBuilder) -> SchemaBuilder {
        let names = &self.names;
        // Connection and edge.
        builder
            .register(ConnectionField::iter().fold(
                Object::new(&names.connection).description(format!("A page of {} rows.", names.object)),
                |object, field| object.field(connection_field(field, names)),
            ))
            .register(EdgeField::iter().fold(Object::new(&names.edge), |object, field| {
                object.field(match field {
                    EdgeField::Cursor => Field::new(
                        field.name(),
                        TypeRef::named_nn(TypeRef::STRING),
                        resolve::scalar(ScalarKind::String),
                    )
                    .description("Opaque; pass to after/before."),
                    EdgeField::Node => Field::new(field.name(), TypeRef::named_nn(&names.object), resolve::object),
                })
            }))
    }

    /// The filter, list filter and ordering inputs.
    fn filter_types(&self, builder: SchemaBuilder) -> SchemaBuilder {
        let Shown {
            registry,
            names,
            columns,
            relations,
            ..
        } = self;
        // Filter, list filter, ordering.
        let mut filter = InputObject::new(&names.filter).description(format!(
            "Conditions on {} rows; all given conditions must hold.",
            names.object
        ));
        for combinator in Combinator::iter() {
            let operand = match combinator {
                Combinator::And | Combinator::Or => TypeRef::named_nn_list(&names.filter),
                Combinator::Not => TypeRef::named(&names.filter),
            };
            filter = filter.field(InputValue::new(combinator.name(), operand).description(combinator.description()));
        }
        let mut order_by = InputObject::new(&names.order_by).description("One sort key: set exactly one field.");
        for column in columns.iter() {
            filter = filter.field(InputValue::new(
                &column.field,
                TypeRef::named(filter_name(&column.kind)),
            ));
            if !column.kind.is_structured() {
                order_by = order_by.field(InputValue::new(&column.field, TypeRef::named("OrderDirection")));
            }
        }
        let mut builder = builder;
        for relation in &self.aggregated {
            let target = Names::of(registry.entity(relation.target));
            // Registered by the parents that order by them (a type twice is one type), so a
            // table no relation aggregates adds no unused input types.
            for input in aggregate_order_inputs(registry, relation.target, self.view) {
                builder = builder.register(input);
            }
            order_by = order_by.field(
                InputValue::new(
                    relation.aggregate_field().unwrap_or_default(),
                    TypeRef::named(&target.aggregate_order_by),
                )
                .description("By an aggregate of the related rows (a filter narrows them)."),
            );
        }
        for relation in relations.iter() {
            let target = Names::of(registry.entity(relation.target));
            if relation.kind == RelationKind::ManyToOne {
                filter = filter.field(InputValue::new(&relation.field, TypeRef::named(&target.filter)));
                order_by = order_by.field(InputValue::new(&relation.field, TypeRef::named(&target.order_by)));
            } else {
                filter = filter.field(InputValue::new(&relation.field, TypeRef::named(&target.list_filter)));
            }
        }
        builder
            .register(filter)
            .register(order_by)
            .register(
                ListQuantifier::iter().fold(
                    InputObject::new(&names.list_filter)
                        .description(format!("Conditions on related {} rows.", names.object)),
                    |input, quantifier| {
                        input.field(
                            InputValue::new(quantifier.name(), TypeRef::named(&names.filter))
                                .description(quantifier.description()),
                        )
                    },
                ),
            )
    }

    /// The aggregate, group and group-key types.
    fn aggregate_types(&self, mut builder: SchemaBuilder) -> SchemaBuilder {
        let Shown { names, columns, .. } = self;
        // Aggregates.
        let mut aggregate = Object::new(&names.aggregate)
            .description(format!("Aggregates over the {} rows matching a filter.", names.object))
            .field(Field::new(
                "count",
                TypeRef::named_nn(TypeRef::INT),
                resolve::scalar(ScalarKind::Int),
            ));
        let mut group = Object::new(&names.group)
            .description("One group of rows sharing the grouped columns' values.")
            .field(Field::new("key", TypeRef::named_nn(&names.group_key), resolve::object))
            .field(Field::new(
                "count",
                TypeRef::named_nn(TypeRef::INT),
                resolve::scalar(ScalarKind::Int),
            ));
        for function in AggregateFunction::ALL {
            let mut fields = Object::new(names.function(function));
            let mut any = false;
            for column in columns.iter().filter(|column| !looks_like_identity(column)) {
                if let Some(kind) = function.result_kind(&column.kind) {
                    fields = fields.field(Field::new(
                        &column.field,
                        TypeRef::named(type_name(&kind)),
                        resolve::scalar(kind),
                    ));
                    any = true;
                }
            }
            if any {
                builder = builder.register(fields);
                aggregate = aggregate.field(Field::new(
                    function.field(),
                    TypeRef::named_nn(names.function(function)),
                    resolve::object,
                ));
                group = group.field(Field::new(
                    function.field(),
                    TypeRef::named_nn(names.function(function)),
                    resolve::object,
                ));
            }
        }
        let groupable: Vec<_> = columns
            .iter()
            .filter(|column| !column.kind.is_structured() && !looks_like_identity(column))
            .collect();
        let mut group_key = Object::new(&names.group_key).description("The grouped columns' values (others are null).");
        for column in &groupable {
            group_key = group_key.field(Field::new(
                &column.field,
                TypeRef::named(type_name(&column.kind)),
                resolve::scalar(column.kind.clone()),
            ));
        }
        aggregate = aggregate.field(
            Field::new("groupBy", TypeRef::named_nn_list_nn(&names.group), resolve::list)
                .description("The same aggregates per group of rows, ordered by the grouped columns.")
                .argument(InputValue::new(
                    "columns",
                    TypeRef::named_nn_list_nn(&names.group_column),
                )),
        );
        builder
            .register(aggregate)
            .register(group)
            .register(group_key)
            .register(
                Enum::new(&names.group_column).items(
                    groupable
                        .iter()
                        .map(|column| EnumItem::new(enum_value_name(&column.name))),
                ),
            )
    }

    /// The root query fields: list, lookup, and aggregate when the view allows it.
    fn roots(&self, view: &View) -> Vec<Field> {
        let Shown { id, entity, names, .. } = self;
        let id = *id;
        // Root fields.
        let list = connection_arguments(
            Field::new(
                Root::List.field_name(entity),
                TypeRef::named_nn(&names.connection),
                resolve::root(id, Root::List),
            ),
            names,
        )
        .description(format!("{} rows: filter, order and page them.", names.object));
        let mut lookup = Field::new(
            Root::Lookup.field_name(entity),
            TypeRef::named(&names.object),
            resolve::root(id, Root::Lookup),
        )
        .description(format!("One {} by primary key, or null.", names.object));
        for key in &entity.primary_key {
            if let Some(column) = entity.column(key) {
                lookup = lookup.argument(InputValue::new(
                    &column.field,
                    TypeRef::named_nn(type_name(&column.kind)),
                ));
            }
        }
        let aggregate_root = Field::new(
            Root::Aggregate.field_name(entity),
            TypeRef::named_nn(&names.aggregate),
            resolve::root(id, Root::Aggregate),
        )
        .description(format!("Aggregates over {} rows.", names.object))
        .argument(InputValue::new("filter", TypeRef::named(&names.filter)));
        let mut roots = vec![list, lookup];
        if view.aggregates(id) {
            roots.push(aggregate_root);
        }
        roots
    }
}
