//! Role-based read permissions from a declarative policy file (`policy.toml`).
//!
//! For each role and table the policy gives a `select` rule: a row filter written in the API's
//! filter language, whose values may be claims of the session (`"$org_id"`, `"$user_id"`), and an
//! optional allow-list of columns. The policy is validated against the registry at start-up.
//! Per request it becomes an [`Access`]: row filters are injected by the SQL compiler into every
//! table the statement reads (lists, lookups, nested relations at any depth, relation filters,
//! ordering through relations, totals, aggregates and groups, cursors), and [`Access::check`]
//! refuses plans that touch tables or columns the role may not read, so no path can skip them.
//!
//! Not covered yet (issue 5 stays open): write permissions (mutations by a role under a policy
//! are refused), per-role schema views (hidden columns are refused, not absent).

mod policy;

pub use policy::{Policy, PolicyError};

use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::plan::{
    AggregateOutput, ConnectionOutput, EdgeOutput, GroupOutput, NodeField, NodePlan, OrderKey, Plan, Predicate,
};
use std::collections::{HashMap, HashSet};

/// What one request may read.
#[derive(Debug, Clone)]
pub enum Access {
    /// No policy applies (authentication off, or no policy file).
    Unrestricted,
    /// The tables the role may read, with their row filters and column allow-lists.
    Restricted {
        role: String,
        entities: HashMap<EntityId, EntityAccess>,
    },
}

#[derive(Debug, Clone)]
pub struct EntityAccess {
    /// Rows the role may see; `None` is every row.
    pub filter: Option<Predicate>,
    /// Columns (database names) the role may see; `None` is every column.
    pub columns: Option<HashSet<String>>,
}

impl Access {
    /// The row filter to inject for `entity` (`None`: no restriction).
    pub fn row_filter(&self, entity: EntityId) -> Option<&Predicate> {
        match self {
            Self::Unrestricted => None,
            Self::Restricted { entities, .. } => entities.get(&entity).and_then(|access| access.filter.as_ref()),
        }
    }

    pub fn is_restricted(&self) -> bool {
        matches!(self, Self::Restricted { .. })
    }

    fn forbidden(&self, registry: &Registry, entity: EntityId, column: Option<&str>) -> GatewayError {
        let role = match self {
            Self::Restricted { role, .. } => role.as_str(),
            Self::Unrestricted => "",
        };
        let meta = registry.entity(entity);
        match column.and_then(|column| meta.column(column)) {
            Some(column) => GatewayError::Forbidden(format!(
                "role `{role}` may not read {}.{}",
                meta.type_name, column.field
            )),
            None => GatewayError::Forbidden(format!("role `{role}` may not read {}", meta.type_name)),
        }
    }

    fn entity(&self, registry: &Registry, entity: EntityId) -> Result<(), GatewayError> {
        match self {
            Self::Restricted { entities, .. } if !entities.contains_key(&entity) => {
                Err(self.forbidden(registry, entity, None))
            }
            _ => Ok(()),
        }
    }

    fn column(&self, registry: &Registry, entity: EntityId, column: &str) -> Result<(), GatewayError> {
        self.entity(registry, entity)?;
        match self {
            Self::Restricted { entities, .. } => match &entities[&entity].columns {
                Some(allowed) if !allowed.contains(column) => Err(self.forbidden(registry, entity, Some(column))),
                _ => Ok(()),
            },
            Self::Unrestricted => Ok(()),
        }
    }

    /// Refuses a plan that reads a table or column (to select, filter, order or aggregate) the
    /// role may not read. Row filters are the compiler's business.
    pub fn check(&self, registry: &Registry, plan: &Plan) -> Result<(), GatewayError> {
        if !self.is_restricted() {
            return Ok(());
        }
        let checker = Checker { access: self, registry };
        match plan {
            Plan::Connection(connection) => checker.connection(connection),
            Plan::Lookup(lookup) => {
                for (column, _) in &lookup.key {
                    self.column(registry, lookup.entity, column)?;
                }
                checker.node(lookup.entity, &lookup.node)
            }
            Plan::Aggregate(aggregate) => {
                self.entity(registry, aggregate.entity)?;
                if let Some(filter) = &aggregate.filter {
                    checker.predicate(aggregate.entity, filter)?;
                }
                for (_, output) in &aggregate.outputs {
                    match output {
                        AggregateOutput::Count => {}
                        AggregateOutput::Function { columns, .. } => {
                            checker.columns(aggregate.entity, columns.iter().map(|(_, c)| c))?
                        }
                        AggregateOutput::GroupBy { columns, outputs } => {
                            checker.columns(aggregate.entity, columns.iter())?;
                            for (_, output) in outputs {
                                match output {
                                    GroupOutput::Key(keys) | GroupOutput::Function { columns: keys, .. } => {
                                        checker.columns(aggregate.entity, keys.iter().map(|(_, c)| c))?
                                    }
                                    GroupOutput::Count => {}
                                }
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

struct Checker<'a> {
    access: &'a Access,
    registry: &'a Registry,
}

impl Checker<'_> {
    fn columns<'c>(&self, entity: EntityId, columns: impl Iterator<Item = &'c String>) -> Result<(), GatewayError> {
        columns
            .into_iter()
            .try_for_each(|column| self.access.column(self.registry, entity, column))
    }

    fn connection(&self, plan: &crate::plan::ConnectionPlan) -> Result<(), GatewayError> {
        self.access.entity(self.registry, plan.entity)?;
        if let Some(filter) = &plan.filter {
            self.predicate(plan.entity, filter)?;
        }
        for key in &plan.order {
            self.order_key(plan.entity, key)?;
        }
        for (_, output) in &plan.outputs {
            match output {
                ConnectionOutput::Nodes(node) => self.node(plan.entity, node)?,
                ConnectionOutput::Edges(fields) => {
                    for (_, field) in fields {
                        if let EdgeOutput::Node(node) = field {
                            self.node(plan.entity, node)?;
                        }
                    }
                }
                ConnectionOutput::PageInfo(_) | ConnectionOutput::TotalCount => {}
            }
        }
        Ok(())
    }

    fn node(&self, entity: EntityId, node: &NodePlan) -> Result<(), GatewayError> {
        self.access.entity(self.registry, entity)?;
        for (_, field) in &node.fields {
            match field {
                NodeField::Column(column) => self.access.column(self.registry, entity, column)?,
                NodeField::Object { relation, node } => {
                    self.relation_columns(entity, *relation)?;
                    self.node(self.registry.entity(entity).relations[*relation].target, node)?
                }
                NodeField::Connection { relation, plan } => {
                    self.relation_columns(entity, *relation)?;
                    self.connection(plan)?
                }
            }
        }
        Ok(())
    }

    /// Following a relation reveals its join columns on both sides.
    fn relation_columns(&self, entity: EntityId, relation: usize) -> Result<(), GatewayError> {
        let meta = &self.registry.entity(entity).relations[relation];
        self.columns(entity, meta.from_columns.iter())?;
        self.columns(meta.target, meta.to_columns.iter())
    }

    fn order_key(&self, entity: EntityId, key: &OrderKey) -> Result<(), GatewayError> {
        let mut current = entity;
        for relation in &key.path {
            self.relation_columns(current, *relation)?;
            current = self.registry.entity(current).relations[*relation].target;
        }
        self.access.column(self.registry, current, &key.column)
    }

    fn predicate(&self, entity: EntityId, predicate: &Predicate) -> Result<(), GatewayError> {
        match predicate {
            Predicate::And(parts) | Predicate::Or(parts) => {
                parts.iter().try_for_each(|part| self.predicate(entity, part))
            }
            Predicate::Not(inner) => self.predicate(entity, inner),
            Predicate::Compare { column, .. }
            | Predicate::In { column, .. }
            | Predicate::IsNull { column, .. }
            | Predicate::Text { column, .. } => self.access.column(self.registry, entity, column),
            Predicate::KeyIn { columns, .. } => self.columns(entity, columns.iter()),
            Predicate::Related {
                relation, predicate, ..
            } => {
                self.relation_columns(entity, *relation)?;
                self.predicate(self.registry.entity(entity).relations[*relation].target, predicate)
            }
        }
    }
}
