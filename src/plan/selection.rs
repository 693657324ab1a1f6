//! Walks a root field's selection set (look-ahead) and builds its plan in one pass.
//!
//! Fragments are flattened, `@skip`/`@include` are honoured, fields that share a response key
//! (the same field selected in two fragments) are merged, as GraphQL's field-merging rules allow,
//! and `__typename` becomes the object type's name in the plan, so the JSON the database builds
//! is the whole answer (async-graphql answers `__typename` itself and ignores the copy).

use super::arguments::{argument_value as argument, parse_count, parse_filter, parse_order};
use super::field::Selection;
use super::vocabulary::{ConnectionField, Derived, EdgeField, PAGE_INFO};
use super::*;
use crate::error::GatewayError;
use crate::metadata::{Registry, RelationKind};
use async_graphql::Value as GqlValue;

/// The sub-fields of every occurrence, grouped by response key in first-seen order, without
/// `__typename` (for objects whose type name the plan does not carry).
pub(super) fn grouped<S: Selection>(occurrences: &[S]) -> Result<Vec<(String, Vec<S>)>, GatewayError> {
    group(occurrences, false)
}

/// The sub-fields of every occurrence, `__typename` included, grouped by response key.
pub(super) fn members<S: Selection>(occurrences: &[S]) -> Result<Vec<(String, Vec<S>)>, GatewayError> {
    group(occurrences, true)
}

fn group<S: Selection>(occurrences: &[S], typename: bool) -> Result<Vec<(String, Vec<S>)>, GatewayError> {
    let mut groups: Vec<(String, Vec<S>)> = Vec::new();
    for occurrence in occurrences {
        for child in occurrence.children()? {
            if (child.name() == TYPENAME && !typename) || !child.included()? {
                continue;
            }
            let key = child.alias().unwrap_or(child.name()).to_owned();
            match groups.iter_mut().find(|(existing, _)| *existing == key) {
                Some((_, fields)) => fields.push(child),
                None => groups.push((key, vec![child])),
            }
        }
    }
    Ok(groups)
}

const TYPENAME: &str = "__typename";

/// Plans a connection field (a root list or a to-many relation).
pub fn plan_connection<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    occurrences: &[S],
) -> Result<ConnectionPlan, GatewayError> {
    let first_occurrence = occurrences.first().ok_or(GatewayError::Internal)?;
    let args = first_occurrence.arguments()?;
    let filter = parse_filter(registry, entity, argument(&args, "filter"), "filter")?;
    let mut order = parse_order(registry, entity, argument(&args, "orderBy"))?;
    super::arguments::attach_relevance(registry, entity, &mut order, filter.as_ref())?;
    let order_signature = signature(registry, entity, &order);
    let kinds: Vec<crate::metadata::ScalarKind> = order.iter().map(|key| order_kind(registry, entity, key)).collect();
    let kinds: Vec<&crate::metadata::ScalarKind> = kinds.iter().collect();
    let cursor = |name: &str| -> Result<Option<Vec<sea_orm::Value>>, GatewayError> {
        match argument(&args, name) {
            GqlValue::Null => Ok(None),
            GqlValue::String(text) => cursor::decode(text, &order_signature, &kinds, name).map(Some),
            other => Err(GatewayError::bad_input(format!(
                "`{name}` must be a cursor string, got {other}"
            ))),
        }
    };
    let page = Page {
        first: parse_count(argument(&args, "first"), "first")?,
        last: parse_count(argument(&args, "last"), "last")?,
        after: cursor("after")?,
        before: cursor("before")?,
        offset: parse_count(argument(&args, "offset"), "offset")?.unwrap_or(0),
    };
    if page.first.is_some() && page.last.is_some() {
        return Err(GatewayError::bad_input("give `first` or `last`, not both"));
    }
    let type_name = &registry.entity(entity).type_name;
    let mut outputs = Vec::new();
    for (key, fields) in members(occurrences)? {
        let name = fields[0].name();
        if name == TYPENAME {
            outputs.push((key, ConnectionOutput::Typename(Derived::Connection.name(type_name))));
            continue;
        }
        let output = match name.parse().map_err(|_| unknown(name, "connection"))? {
            ConnectionField::Nodes => ConnectionOutput::Nodes(plan_node(registry, entity, &fields)?),
            ConnectionField::TotalCount => ConnectionOutput::TotalCount,
            ConnectionField::Edges => {
                let mut edge = Vec::new();
                for (edge_key, edge_fields) in members(&fields)? {
                    let name = edge_fields[0].name();
                    let output = if name == TYPENAME {
                        EdgeOutput::Typename(Derived::Edge.name(type_name))
                    } else {
                        match name.parse().map_err(|_| unknown(name, "edge"))? {
                            EdgeField::Cursor => EdgeOutput::Cursor,
                            EdgeField::Node => EdgeOutput::Node(plan_node(registry, entity, &edge_fields)?),
                        }
                    };
                    edge.push((edge_key, output));
                }
                ConnectionOutput::Edges(edge)
            }
            ConnectionField::PageInfo => {
                let mut info = Vec::new();
                for (info_key, info_fields) in members(&fields)? {
                    let name = info_fields[0].name();
                    let output = if name == TYPENAME {
                        Selected::Typename(PAGE_INFO.to_owned())
                    } else {
                        Selected::Field(name.parse().map_err(|_| unknown(name, PAGE_INFO))?)
                    };
                    info.push((info_key, output));
                }
                ConnectionOutput::PageInfo(info)
            }
        };
        outputs.push((key, output));
    }
    Ok(ConnectionPlan {
        entity,
        filter,
        order,
        order_signature,
        page,
        outputs,
    })
}

pub(super) fn unknown(field: &str, on: &str) -> GatewayError {
    GatewayError::bad_input(format!("`{field}` is not a field of the {on} type"))
}

/// The kind of value an order key sorts by (what its cursor holds).
pub fn order_kind(registry: &Registry, entity: EntityId, key: &OrderKey) -> crate::metadata::ScalarKind {
    let mut current = entity;
    for relation in &key.path {
        current = registry.entity(current).relations[*relation].target;
    }
    let column = |entity: EntityId, column: &str| {
        registry
            .entity(entity)
            .column(column)
            .expect("order keys are parsed from existing columns")
            .kind
            .clone()
    };
    match &key.value {
        OrderValue::Column(name) | OrderValue::Lower(name) => column(current, name),
        OrderValue::Relevance { .. } => crate::metadata::ScalarKind::Float,
        OrderValue::JsonPath { .. } => crate::metadata::ScalarKind::Json,
        OrderValue::Aggregate(aggregate) => {
            let target = registry.entity(current).relations[aggregate.relation].target;
            super::group::measure_kind(registry, target, &aggregate.measure)
        }
    }
}

/// Identifies an ordering within its table, for cursors: relation steps, the value (a column, or
/// a relation's aggregate with a digest of its filter), direction and null placement.
fn signature(registry: &Registry, entity: EntityId, order: &[OrderKey]) -> String {
    use sha2::Digest;
    let keys: Vec<String> = order
        .iter()
        .map(|key| {
            let path: String = key.path.iter().map(|step| format!("{step}.")).collect();
            let digest = |text: &str| {
                let digest = sha2::Sha256::digest(text.as_bytes());
                hex::encode(&digest[..6])
            };
            let value = match &key.value {
                OrderValue::Column(column) => column.clone(),
                OrderValue::Lower(column) => format!("lower({column})"),
                OrderValue::Relevance { column, query } => format!("rank({column}?{})", digest(query)),
                OrderValue::JsonPath { column, path } => format!("json({column}?{})", digest(&format!("{path:?}"))),
                OrderValue::Aggregate(aggregate) => {
                    let function = match &aggregate.measure {
                        Measure::Count => "count".to_owned(),
                        Measure::Of(function, column) => format!("{}:{column}", function.field()),
                    };
                    let filter = aggregate
                        .filter
                        .as_ref()
                        .map_or(String::new(), |filter| format!("?{}", digest(&format!("{filter:?}"))));
                    format!("{}({function}{filter})", aggregate.relation)
                }
            };
            format!(
                "{path}{value}{}{}",
                if key.descending { "-" } else { "+" },
                if key.nulls_first { "f" } else { "l" }
            )
        })
        .collect();
    format!("{}:{}", registry.entity(entity).table, keys.join(","))
}

pub(super) fn plan_node<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    occurrences: &[S],
) -> Result<NodePlan, GatewayError> {
    let meta = registry.entity(entity);
    let mut fields = Vec::new();
    for (key, occurrence) in members(occurrences)? {
        let name = occurrence[0].name();
        let field = if name == TYPENAME {
            NodeField::Typename(meta.type_name.clone())
        } else if name == crate::metadata::NODE_ID_FIELD && meta.has_node_id() {
            NodeField::NodeId
        } else if let Some(column) = meta.column_by_field(name) {
            let arguments = occurrence[0].arguments()?;
            match argument(&arguments, "path") {
                GqlValue::Null => NodeField::Column(column.name.clone()),
                GqlValue::String(path) if matches!(column.kind, crate::metadata::ScalarKind::Json) => {
                    NodeField::JsonPath {
                        column: column.name.clone(),
                        path: super::json::parse_path(path, &format!("{key}(path:)"))?,
                    }
                }
                _ => {
                    return Err(GatewayError::bad_input(format!(
                        "{key}(path:): expected a JSON path string"
                    )));
                }
            }
        } else if let Some(index) = meta.relation_by_aggregate_field(name) {
            NodeField::Aggregate {
                relation: index,
                plan: Box::new(plan_aggregate(registry, meta.relations[index].target, &occurrence)?),
            }
        } else if let Some(index) = meta.relations.iter().position(|relation| relation.field == name) {
            let relation = &meta.relations[index];
            if relation.kind == RelationKind::ManyToOne {
                NodeField::Object {
                    relation: index,
                    node: plan_node(registry, relation.target, &occurrence)?,
                }
            } else {
                NodeField::Connection {
                    relation: index,
                    plan: Box::new(plan_connection(registry, relation.target, &occurrence)?),
                }
            }
        } else {
            return Err(unknown(name, &meta.type_name));
        };
        fields.push((key, field));
    }
    Ok(NodePlan { fields })
}

/// Plans a lookup by primary key.
pub fn plan_lookup<S: Selection>(registry: &Registry, entity: EntityId, field: S) -> Result<LookupPlan, GatewayError> {
    let meta = registry.entity(entity);
    let args = field.arguments()?;
    let key = meta
        .primary_key
        .iter()
        .map(|column| {
            let graphql = &meta.column(column).ok_or(GatewayError::Internal)?.field;
            Ok((
                column.clone(),
                super::parse_key_value(meta, column, argument(&args, graphql))?,
            ))
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let node = plan_node(registry, entity, &[field])?;
    Ok(LookupPlan { entity, key, node })
}

/// The response key under which a row's key `column` is read alongside its selection (by
/// [`plan_references`], and by the change feed to match rows to changes). Not a GraphQL name (it
/// starts with `#`), so no alias in a document can take it.
pub fn reference_key(column: &str) -> String {
    format!("#key:{column}")
}

/// Plans the rows of `entity` whose primary key is one of `keys` (a federation router's
/// `_entities` representations): a connection ordered by the key with room for all of them,
/// each row selecting what `occurrences` select plus its key columns under [`reference_key`]
/// names, so the rows the role may read can be matched back to the representations.
pub fn plan_references<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    keys: Vec<Vec<Value>>,
    occurrences: &[S],
) -> Result<Plan, GatewayError> {
    let meta = registry.entity(entity);
    let mut node = plan_node(registry, entity, occurrences)?;
    for column in &meta.primary_key {
        node.fields
            .push((reference_key(column), NodeField::Column(column.clone())));
    }
    Ok(Plan::Connection(ConnectionPlan {
        entity,
        order: parse_order(registry, entity, &GqlValue::Null)?,
        // No cursors are read or written.
        order_signature: String::new(),
        page: Page {
            first: Some(keys.len() as u64),
            ..Page::default()
        },
        filter: Some(Predicate::KeyIn {
            columns: meta.primary_key.clone(),
            keys,
        }),
        outputs: vec![(
            <&str>::from(ConnectionField::Nodes).to_owned(),
            ConnectionOutput::Nodes(node),
        )],
    }))
}

/// Plans an aggregate field.
pub fn plan_aggregate<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    occurrences: &[S],
) -> Result<AggregatePlan, GatewayError> {
    let args = occurrences.first().ok_or(GatewayError::Internal)?.arguments()?;
    let filter = parse_filter(registry, entity, argument(&args, "filter"), "filter")?;
    let mut outputs = Vec::new();
    let type_name = &registry.entity(entity).type_name;
    for (key, occurrences) in members(occurrences)? {
        let name = occurrences[0].name();
        let output = if name == TYPENAME {
            AggregateOutput::Typename(Derived::Aggregate.name(type_name))
        } else if name == "count" {
            AggregateOutput::Count
        } else if let Some(function) = AggregateFunction::from_field(name) {
            AggregateOutput::Function {
                function,
                columns: aggregate_columns(
                    registry,
                    entity,
                    &occurrences,
                    &Derived::Function(function).name(type_name),
                )?,
            }
        } else if name == "groupBy" {
            AggregateOutput::GroupBy(Box::new(super::group::plan_group_by(registry, entity, &occurrences)?))
        } else {
            return Err(unknown(name, "aggregate"));
        };
        outputs.push((key, output));
    }
    Ok(AggregatePlan {
        entity,
        filter,
        outputs,
    })
}

/// The columns selected in an object of type `object` (an aggregate function's, a group's key).
pub(super) fn aggregate_columns<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    occurrences: &[S],
    object: &str,
) -> Result<Vec<(String, Selected<String>)>, GatewayError> {
    let meta = registry.entity(entity);
    members(occurrences)?
        .into_iter()
        .map(|(key, fields)| {
            let name = fields[0].name();
            if name == TYPENAME {
                return Ok((key, Selected::Typename(object.to_owned())));
            }
            let column = meta.column_by_field(name).ok_or_else(|| unknown(name, "aggregate"))?;
            Ok((key, Selected::Field(column.name.clone())))
        })
        .collect()
}
