//! Plans of change-event subscriptions (`taskChanged { op row { … } oldKey { … } }`): which
//! operations the subscriber wants, its filter, and what to send of each changed row.

use super::arguments::{argument_value as argument, parse_filter};
use super::field::Selection;
use super::selection::{grouped, plan_node};
use super::{NodePlan, Predicate, RowOp};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use async_graphql::Value as GqlValue;

/// What one change-event subscription sends.
#[derive(Debug, Clone)]
pub struct EventPlan {
    pub entity: EntityId,
    /// The operations the subscriber asked for.
    pub ops: Vec<RowOp>,
    pub filter: Option<Predicate>,
    /// Response keys of `op`.
    pub op_keys: Vec<String>,
    /// Response keys of `row`, each with its selection of the changed row.
    pub rows: Vec<(String, NodePlan)>,
    /// Response keys of `oldKey`, each with its (response key, key column) pairs.
    pub old_keys: Vec<(String, Vec<(String, String)>)>,
}

/// Plans a change-event subscription field of `entity`.
pub fn plan_events<S: Selection>(registry: &Registry, entity: EntityId, field: S) -> Result<EventPlan, GatewayError> {
    let meta = registry.entity(entity);
    let args = field.arguments()?;
    let filter = parse_filter(registry, entity, argument(&args, "filter"), "filter")?;
    let ops = match argument(&args, "ops") {
        GqlValue::Null => vec![RowOp::Insert, RowOp::Update, RowOp::Delete],
        GqlValue::List(items) => items
            .iter()
            .map(|item| match item {
                GqlValue::Enum(name) => RowOp::parse(name.as_str())
                    .ok_or_else(|| GatewayError::bad_input(format!("`{name}` is not an operation"))),
                other => Err(GatewayError::bad_input(format!("`{other}` is not an operation"))),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(GatewayError::bad_input(format!("`ops` must be a list, got {other}"))),
    };
    let mut plan = EventPlan {
        entity,
        ops,
        filter,
        op_keys: Vec::new(),
        rows: Vec::new(),
        old_keys: Vec::new(),
    };
    for (key, fields) in grouped(&[field])? {
        match fields[0].name() {
            "op" => plan.op_keys.push(key),
            "row" => plan.rows.push((key, plan_node(registry, entity, &fields)?)),
            "oldKey" => {
                let mut columns = Vec::new();
                for (column_key, column_fields) in grouped(&fields)? {
                    let column = meta
                        .column_by_field(column_fields[0].name())
                        .filter(|column| meta.primary_key.contains(&column.name))
                        .ok_or_else(|| {
                            GatewayError::bad_input(format!("`{}` is not a key field", column_fields[0].name()))
                        })?;
                    columns.push((column_key, column.name.clone()));
                }
                plan.old_keys.push((key, columns));
            }
            other => {
                return Err(GatewayError::bad_input(format!(
                    "`{other}` is not a field of a change event"
                )));
            }
        }
    }
    Ok(plan)
}
