//! The GraphQL types of one entity: its object, connection, edge, filter, ordering and aggregate
//! types, and its three root fields.

use super::resolve;
use super::scalars::{filter_name, type_name, type_ref};
use crate::metadata::{Column, Entity, EntityId, Registry, Relation, RelationKind, ScalarKind, enum_value_name};
use crate::permission::View;
use crate::plan::vocabulary::{Combinator, ConnectionField, Derived, EdgeField, ListQuantifier, SEARCHABLE_FILTER};
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
    group_by: String,
    group_order_by: String,
    group_key_order_by: String,
    having: String,
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
            group_by: format!("{base}GroupBy"),
            group_order_by: format!("{base}GroupOrderBy"),
            group_key_order_by: format!("{base}GroupKeyOrderBy"),
            having: format!("{base}Having"),
        }
    }

    fn function(&self, function: AggregateFunction) -> String {
        Derived::Function(function).name(&self.object)
    }

    /// The input ordering by one function's value of a column (`TaskMaxOrderBy`).
    fn function_order_by(&self, function: AggregateFunction) -> String {
        format!("{}OrderBy", self.function(function))
    }

    /// The input comparing one function's value of a column in `having` (`TaskAvgHaving`).
    fn function_having(&self, function: AggregateFunction) -> String {
        format!("{}Having", self.function(function))
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

/// The inputs that order by, and compare, one function's value of a column: `TaskAggregateOrderBy`
/// (an ordering by related rows' aggregate: `filter`, `count`, one field per function), one
/// ordering input per function (`TaskMaxOrderBy`, shared by groups' `orderBy`) and one `having`
/// input per function (`TaskAvgHaving`), over the columns shown.
fn measure_inputs(names: &Names, columns: &[&Column]) -> Vec<InputObject> {
    let mut inputs = Vec::new();
    let mut order_by = InputObject::new(&names.aggregate_order_by)
        .description(format!(
            "Orders rows by one aggregate of their related {} rows: set `count` or one function's column.",
            names.object
        ))
        .field(InputValue::new("filter", TypeRef::named(&names.filter)).description("Aggregate only these rows."))
        .field(InputValue::new("count", TypeRef::named("OrderDirection")));
    let mut group_order_by = InputObject::new(&names.group_order_by)
        .description("One sort key of groups: set exactly one field.")
        .field(InputValue::new("key", TypeRef::named(&names.group_key_order_by)).description("A grouped key."))
        .field(InputValue::new("count", TypeRef::named("OrderDirection")));
    let mut having = InputObject::new(&names.having)
        .description("Conditions on a group's aggregates; all given conditions must hold.")
        .field(InputValue::new("and", TypeRef::named_nn_list(&names.having)))
        .field(InputValue::new("or", TypeRef::named_nn_list(&names.having)))
        .field(InputValue::new("not", TypeRef::named(&names.having)))
        .field(InputValue::new("count", TypeRef::named(filter_name(&ScalarKind::Int))));
    for function in AggregateFunction::ALL {
        let mut orders = InputObject::new(names.function_order_by(function));
        let mut comparisons = InputObject::new(names.function_having(function));
        let mut any = false;
        for column in columns.iter().filter(|column| !looks_like_identity(column)) {
            if let Some(kind) = function.result_kind(&column.kind) {
                orders = orders.field(InputValue::new(&column.field, TypeRef::named("OrderDirection")));
                comparisons = comparisons.field(InputValue::new(&column.field, TypeRef::named(filter_name(&kind))));
                any = true;
            }
        }
        if any {
            let order_type = TypeRef::named(names.function_order_by(function));
            order_by = order_by.field(InputValue::new(function.field(), order_type.clone()));
            group_order_by = group_order_by.field(InputValue::new(function.field(), order_type));
            having = having.field(InputValue::new(
                function.field(),
                TypeRef::named(names.function_having(function)),
            ));
            inputs.push(orders);
            inputs.push(comparisons);
        }
    }
    inputs.extend([order_by, group_order_by, having]);
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
        referenced: Referenced::of(registry, id, view),
    };
    let mut object = shown.object();
    if super::relay::shows_node_id(registry, id, view) {
        object = object
            .field(super::relay::node_id_field())
            .implement(super::relay::NODE_INTERFACE);
    }
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
    referenced: Referenced,
}

/// How the other tables of a view refer to one: whether a to-many relation lists its rows (its
/// list filter is used) and whether one orders by their aggregate (its aggregate ordering is).
struct Referenced {
    listed: bool,
    aggregated: bool,
}

impl Referenced {
    fn of(registry: &Registry, id: EntityId, view: &View) -> Self {
        let mut referenced = Self {
            listed: false,
            aggregated: false,
        };
        for (parent, entity) in registry.entities().iter().enumerate() {
            if !view.entity(parent) {
                continue;
            }
            for relation in entity.relations.iter().filter(|relation| {
                relation.target == id
                    && relation.kind != RelationKind::ManyToOne
                    && relation.from_columns.iter().all(|column| view.column(parent, column))
                    && relation.to_columns.iter().all(|column| view.column(id, column))
            }) {
                referenced.listed = true;
                referenced.aggregated |= relation.aggregate_field().is_some() && view.aggregates(id);
            }
        }
        referenced
    }
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
            let mut field = Field::new(
                &column.field,
                type_ref(&column.kind, column.nullable, false),
                resolve::scalar(column.kind.clone()),
            )
            .description(format!("`{}.{}`", entity.table, column.name));
            if matches!(column.kind, ScalarKind::Json) {
                field = field.argument(InputValue::new("path", TypeRef::named(TypeRef::STRING)).description(
                    "Only the value at this path (keys separated by dots, digits index arrays); null when absent.",
                ));
            }
            object = object.field(field);
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
            let filter_type = if column.searchable {
                SEARCHABLE_FILTER.to_owned()
            } else {
                filter_name(&column.kind)
            };
            filter = filter.field(InputValue::new(&column.field, TypeRef::named(filter_type)));
            let direction = match &column.kind {
                _ if column.searchable => super::scalars::SEARCH_ORDER_ENUM,
                ScalarKind::String => super::scalars::TEXT_ORDER_ENUM,
                _ => "OrderDirection",
            };
            if !column.kind.is_structured() {
                order_by = order_by.field(InputValue::new(&column.field, TypeRef::named(direction)));
            } else if column.kind == ScalarKind::Json {
                order_by = order_by.field(InputValue::new(
                    &column.field,
                    TypeRef::named(super::scalars::JSON_PATH_ORDER),
                ));
            }
        }
        for relation in &self.aggregated {
            let target = Names::of(registry.entity(relation.target));
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
        let builder = builder.register(filter).register(order_by);
        // Only a to-many relation into this table filters by its list filter.
        if !self.referenced.listed {
            return builder;
        }
        builder.register(ListQuantifier::iter().fold(
            InputObject::new(&names.list_filter).description(format!("Conditions on related {} rows.", names.object)),
            |input, quantifier| {
                input.field(
                    InputValue::new(quantifier.name(), TypeRef::named(&names.filter))
                        .description(quantifier.description()),
                )
            },
        ))
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
        let mut group_key = Object::new(&names.group_key)
            .description("The grouped keys' values (a date or timestamp grouped by a unit: the unit's start).");
        let mut group_by = InputObject::new(&names.group_by)
            .description("One group key: set exactly one field (a column, or a relation leading to one).");
        let mut key_order_by = InputObject::new(&names.group_key_order_by).description("One grouped key to sort by.");
        for column in &groupable {
            group_key = group_key.field(Field::new(
                &column.field,
                TypeRef::named(type_name(&column.kind)),
                resolve::scalar(column.kind.clone()),
            ));
            let bucket = if matches!(column.kind, ScalarKind::Date | ScalarKind::DateTime) {
                super::scalars::TIME_BUCKET_ENUM
            } else {
                super::scalars::GROUP_VALUE_ENUM
            };
            group_by = group_by.field(InputValue::new(&column.field, TypeRef::named(bucket)));
            key_order_by = key_order_by.field(InputValue::new(&column.field, TypeRef::named("OrderDirection")));
        }
        for relation in self
            .relations
            .iter()
            .filter(|relation| relation.kind == RelationKind::ManyToOne)
        {
            let target = Names::of(self.registry.entity(relation.target));
            group_key = group_key.field(Field::new(
                &relation.field,
                TypeRef::named(&target.group_key),
                resolve::object,
            ));
            group_by = group_by.field(InputValue::new(&relation.field, TypeRef::named(&target.group_by)));
            key_order_by = key_order_by.field(InputValue::new(
                &relation.field,
                TypeRef::named(&target.group_key_order_by),
            ));
        }
        aggregate = aggregate.field(
            Field::new("groupBy", TypeRef::named_nn_list_nn(&names.group), resolve::list)
                .description(
                    "The same aggregates per group of rows: ordered by `orderBy`, then by the keys; `having` keeps \
                     the groups whose aggregates pass.",
                )
                .argument(
                    InputValue::new("columns", TypeRef::named_nn_list(&names.group_column))
                        .description("Group by these columns' values (a shorthand for `by`)."),
                )
                .argument(
                    InputValue::new("by", TypeRef::named_nn_list(&names.group_by))
                        .description("Group keys: columns, columns of related rows, dates and timestamps by unit."),
                )
                .argument(
                    InputValue::new("timeZone", TypeRef::named(TypeRef::STRING))
                        .description("The IANA time zone timestamps are cut into units in (default UTC)."),
                )
                .argument(
                    InputValue::new("having", TypeRef::named(&names.having))
                        .description("Only groups whose aggregates match."),
                )
                .argument(InputValue::new(
                    "orderBy",
                    TypeRef::named_nn_list(&names.group_order_by),
                ))
                .argument(
                    InputValue::new("first", TypeRef::named(TypeRef::INT)).description("At most this many groups."),
                )
                .argument(
                    InputValue::new("offset", TypeRef::named(TypeRef::INT)).description("Skip this many groups first."),
                ),
        );
        for input in measure_inputs(names, columns) {
            // Only a to-many relation into this table orders by its aggregate.
            if input.type_name() == names.aggregate_order_by && !self.referenced.aggregated {
                continue;
            }
            builder = builder.register(input);
        }
        builder
            .register(aggregate)
            .register(group)
            .register(group_key)
            .register(group_by)
            .register(key_order_by)
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
