//! One walk over a plan, for everything that reads a plan without compiling it: the permission
//! checker (which tables and columns does it touch?) and the change feed (which tables must
//! re-run a live query?).
//!
//! [`Visitor`]'s default methods walk every child with the entity it belongs to; a visitor
//! overrides only what it looks at and calls the matching `walk_*` function to go on. The walks
//! match every variant without wildcards, so a new kind of field, output or predicate is either
//! walked here for every visitor or does not compile.

use super::group::{GroupOrderValue, GroupOutput, GroupPlan};
use super::{
    AggregateOutput, AggregatePlan, ConnectionOutput, ConnectionPlan, EdgeOutput, Measure, NodeField, NodePlan,
    OrderKey, OrderValue, Plan, Predicate, Selected,
};
use crate::metadata::{EntityId, Registry};

pub trait Visitor {
    type Error;

    fn registry(&self) -> &Registry;

    fn plan(&mut self, plan: &Plan) -> Result<(), Self::Error> {
        walk_plan(self, plan)
    }

    fn connection(&mut self, plan: &ConnectionPlan) -> Result<(), Self::Error> {
        walk_connection(self, plan)
    }

    fn aggregate(&mut self, plan: &AggregatePlan) -> Result<(), Self::Error> {
        walk_aggregate(self, plan)
    }

    /// The fields of one row of `entity`.
    fn node(&mut self, entity: EntityId, node: &NodePlan) -> Result<(), Self::Error> {
        walk_node(self, entity, node)
    }

    fn order_key(&mut self, entity: EntityId, key: &OrderKey) -> Result<(), Self::Error> {
        walk_order_key(self, entity, key)
    }

    /// A condition on rows of `entity`.
    fn predicate(&mut self, entity: EntityId, predicate: &Predicate) -> Result<(), Self::Error> {
        walk_predicate(self, entity, predicate)
    }

    /// The statement aggregates rows of `entity` (an aggregate field, or an order by one).
    fn aggregated(&mut self, _entity: EntityId) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A column of `entity` the statement reads (selects, filters, orders, aggregates or keys on).
    fn column(&mut self, _entity: EntityId, _column: &str) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The statement follows relation `relation` of `entity` (joining on its columns).
    fn relation(&mut self, _entity: EntityId, _relation: usize) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub fn walk_plan<V: Visitor + ?Sized>(visitor: &mut V, plan: &Plan) -> Result<(), V::Error> {
    match plan {
        Plan::Connection(connection) => visitor.connection(connection),
        Plan::Lookup(lookup) => {
            for (column, _) in &lookup.key {
                visitor.column(lookup.entity, column)?;
            }
            visitor.node(lookup.entity, &lookup.node)
        }
        Plan::Aggregate(aggregate) => visitor.aggregate(aggregate),
    }
}

pub fn walk_connection<V: Visitor + ?Sized>(visitor: &mut V, plan: &ConnectionPlan) -> Result<(), V::Error> {
    if let Some(filter) = &plan.filter {
        visitor.predicate(plan.entity, filter)?;
    }
    for key in &plan.order {
        visitor.order_key(plan.entity, key)?;
    }
    walk_connection_rows(visitor, plan)
}

/// What a connection reads of each row it returns (its nodes and edges), without its filter
/// and order.
pub fn walk_connection_rows<V: Visitor + ?Sized>(visitor: &mut V, plan: &ConnectionPlan) -> Result<(), V::Error> {
    for (_, output) in &plan.outputs {
        match output {
            ConnectionOutput::Nodes(node) => visitor.node(plan.entity, node)?,
            ConnectionOutput::Edges(fields) => {
                for (_, field) in fields {
                    match field {
                        EdgeOutput::Node(node) => visitor.node(plan.entity, node)?,
                        EdgeOutput::Cursor | EdgeOutput::Typename(_) => {}
                    }
                }
            }
            ConnectionOutput::PageInfo(_) | ConnectionOutput::TotalCount | ConnectionOutput::Typename(_) => {}
        }
    }
    Ok(())
}

pub fn walk_aggregate<V: Visitor + ?Sized>(visitor: &mut V, plan: &AggregatePlan) -> Result<(), V::Error> {
    let entity = plan.entity;
    visitor.aggregated(entity)?;
    if let Some(filter) = &plan.filter {
        visitor.predicate(entity, filter)?;
    }
    for (_, output) in &plan.outputs {
        match output {
            AggregateOutput::Count | AggregateOutput::Typename(_) => {}
            AggregateOutput::Function { columns, .. } => {
                for (_, column) in columns {
                    if let Selected::Field(column) = column {
                        visitor.column(entity, column)?;
                    }
                }
            }
            AggregateOutput::GroupBy(group) => walk_group(visitor, entity, group)?,
        }
    }
    Ok(())
}

/// What a `groupBy` reads: its keys (through their relations), the columns its `having`, order
/// and outputs aggregate.
pub fn walk_group<V: Visitor + ?Sized>(visitor: &mut V, entity: EntityId, group: &GroupPlan) -> Result<(), V::Error> {
    for key in &group.keys {
        let mut current = entity;
        for relation in &key.path {
            visitor.relation(current, *relation)?;
            current = visitor.registry().entity(current).relations[*relation].target;
        }
        visitor.column(current, &key.column)?;
    }
    let ordered = group.order.iter().filter_map(|order| match &order.by {
        GroupOrderValue::Measure(measure) => Some(measure),
        GroupOrderValue::Key(_) => None,
    });
    let compared = group.having.iter().flat_map(|having| having.measures());
    for measure in ordered.chain(compared) {
        if let Measure::Of(_, column) = measure {
            visitor.column(entity, column)?;
        }
    }
    for (_, output) in &group.outputs {
        match output {
            GroupOutput::Function { columns, .. } => {
                for (_, column) in columns {
                    if let Selected::Field(column) = column {
                        visitor.column(entity, column)?;
                    }
                }
            }
            // Key outputs read the keys, walked above.
            GroupOutput::Key(_) | GroupOutput::Count | GroupOutput::Typename(_) => {}
        }
    }
    Ok(())
}

pub fn walk_node<V: Visitor + ?Sized>(visitor: &mut V, entity: EntityId, node: &NodePlan) -> Result<(), V::Error> {
    for (_, field) in &node.fields {
        match field {
            NodeField::Column(column) | NodeField::JsonPath { column, .. } => visitor.column(entity, column)?,
            NodeField::Typename(_) => {}
            // The id spells the key out: reading it reads the key columns.
            NodeField::NodeId => {
                let meta = visitor.registry().entity(entity);
                for column in meta.primary_key.clone() {
                    visitor.column(entity, &column)?;
                }
            }
            NodeField::Object { relation, node } => {
                visitor.relation(entity, *relation)?;
                let target = visitor.registry().entity(entity).relations[*relation].target;
                visitor.node(target, node)?;
            }
            NodeField::Connection { relation, plan } => {
                visitor.relation(entity, *relation)?;
                visitor.connection(plan)?;
            }
            NodeField::Aggregate { relation, plan } => {
                visitor.relation(entity, *relation)?;
                visitor.aggregate(plan)?;
            }
        }
    }
    Ok(())
}

pub fn walk_order_key<V: Visitor + ?Sized>(visitor: &mut V, entity: EntityId, key: &OrderKey) -> Result<(), V::Error> {
    let mut current = entity;
    for relation in &key.path {
        visitor.relation(current, *relation)?;
        current = visitor.registry().entity(current).relations[*relation].target;
    }
    match &key.value {
        OrderValue::Column(column)
        | OrderValue::Lower(column)
        | OrderValue::Relevance { column, .. }
        | OrderValue::JsonPath { column, .. } => visitor.column(current, column),
        OrderValue::Aggregate(aggregate) => {
            visitor.relation(current, aggregate.relation)?;
            let target = visitor.registry().entity(current).relations[aggregate.relation].target;
            visitor.aggregated(target)?;
            if let Some(filter) = &aggregate.filter {
                visitor.predicate(target, filter)?;
            }
            match &aggregate.measure {
                Measure::Of(_, column) => visitor.column(target, column),
                Measure::Count => Ok(()),
            }
        }
    }
}

pub fn walk_predicate<V: Visitor + ?Sized>(
    visitor: &mut V,
    entity: EntityId,
    predicate: &Predicate,
) -> Result<(), V::Error> {
    match predicate {
        Predicate::And(parts) | Predicate::Or(parts) => {
            parts.iter().try_for_each(|part| visitor.predicate(entity, part))
        }
        Predicate::Not(inner) => visitor.predicate(entity, inner),
        Predicate::Compare { column, .. }
        | Predicate::In { column, .. }
        | Predicate::IsNull { column, .. }
        | Predicate::Json { column, .. }
        | Predicate::Text { column, .. } => visitor.column(entity, column),
        Predicate::KeyIn { columns, .. } => columns.iter().try_for_each(|column| visitor.column(entity, column)),
        Predicate::Related {
            relation, predicate, ..
        } => {
            visitor.relation(entity, *relation)?;
            let target = visitor.registry().entity(entity).relations[*relation].target;
            visitor.predicate(target, predicate)
        }
    }
}
