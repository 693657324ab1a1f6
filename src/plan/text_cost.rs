//! What text matching may cost the database. A `like`/`ilike`/`startsWith`/`contains`/`matches`
//! operand is compared with every row its filter scans, whatever page is asked for, so each one
//! costs its length times the estimated rows of its table (`database::sizes`), times the times its
//! filter runs: once for a root field, once per parent row for a nested list (the rows the lists
//! above it return: their page, at most their table's rows), and a filter through a relation
//! over at least the rows of the table it starts from; the sum over one
//! operation (its root fields' plans, its writes' filters and read-backs, charged to one
//! [`TextSpent`]) is bounded by `GATEWAY_MAX_TEXT_MATCH_COST`, and each operand by
//! `GATEWAY_MAX_PATTERN_LENGTH`. The policy's own filters are not counted: they are
//! the operator's, not the client's.

use super::visit::{self, Visitor};
use super::{ConnectionPlan, NodePlan, Plan, Predicate};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};

/// The bounds on text matching (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct TextLimits {
    /// Longest operand, in characters.
    pub max_pattern_chars: usize,
    /// Most pattern characters × estimated rows of one plan.
    pub max_cost: u64,
}

/// What the text matching of one operation has cost so far (shared by its root fields).
#[derive(Debug, Default)]
pub struct TextSpent(std::sync::atomic::AtomicU64);

impl TextSpent {
    /// Adds `cost`; refuses once the operation's total passes `limits`.
    fn charge(&self, cost: u64, limits: TextLimits) -> Result<(), GatewayError> {
        let total = self
            .0
            .fetch_add(cost, std::sync::atomic::Ordering::Relaxed)
            .saturating_add(cost);
        verdict(total, limits)
    }
}

/// Refuses `plan` when its text matching is longer or costlier than `limits`, alone or with what
/// the operation already `spent`; `rows` estimates the rows of an entity's table.
pub fn check(
    registry: &Registry,
    plan: &Plan,
    limits: TextLimits,
    rows: &dyn Fn(EntityId) -> u64,
    spent: Option<&TextSpent>,
) -> Result<(), GatewayError> {
    let mut cost = Cost::new(registry, limits, rows);
    cost.plan(plan)?;
    cost.settle(spent)
}

/// [`check`] for what is not a plan: filters on `entity` (a write's, a change feed's) and rows
/// of it (what a write returns, a change event's row), together.
pub fn check_parts(
    registry: &Registry,
    entity: EntityId,
    filters: &[&Predicate],
    rows_read: &[&NodePlan],
    limits: TextLimits,
    rows: &dyn Fn(EntityId) -> u64,
    spent: Option<&TextSpent>,
) -> Result<(), GatewayError> {
    let mut cost = Cost::new(registry, limits, rows);
    for filter in filters {
        cost.predicate(entity, filter)?;
    }
    for node in rows_read {
        cost.node(entity, node)?;
    }
    cost.settle(spent)
}

fn verdict(total: u64, limits: TextLimits) -> Result<(), GatewayError> {
    if total > limits.max_cost {
        return Err(GatewayError::LimitExceeded(format!(
            "text matching would compare about {total} pattern characters × rows; the limit is {} \
             per operation (GATEWAY_MAX_TEXT_MATCH_COST): use shorter or fewer patterns",
            limits.max_cost
        )));
    }
    Ok(())
}

struct Cost<'a> {
    registry: &'a Registry,
    limits: TextLimits,
    rows: &'a dyn Fn(EntityId) -> u64,
    total: u64,
    /// How many times the filters being walked run: the rows the lists above them return.
    runs: u64,
    /// Rows a filter scans at least: the table a relation filter starts from.
    scanned: u64,
}

impl<'a> Cost<'a> {
    fn new(registry: &'a Registry, limits: TextLimits, rows: &'a dyn Fn(EntityId) -> u64) -> Self {
        Self {
            registry,
            limits,
            rows,
            total: 0,
            runs: 1,
            scanned: 0,
        }
    }

    /// This part's verdict, then the operation's with it.
    fn settle(&self, spent: Option<&TextSpent>) -> Result<(), GatewayError> {
        verdict(self.total, self.limits)?;
        match spent {
            Some(spent) => spent.charge(self.total, self.limits),
            None => Ok(()),
        }
    }
}

impl Visitor for Cost<'_> {
    type Error = GatewayError;

    fn registry(&self) -> &Registry {
        self.registry
    }

    fn predicate(&mut self, entity: EntityId, predicate: &Predicate) -> Result<(), GatewayError> {
        if let Predicate::Text { column, value, .. } = predicate {
            let length = value.chars().count();
            if length > self.limits.max_pattern_chars {
                let field = self
                    .registry
                    .entity(entity)
                    .column(column)
                    .map_or(column.as_str(), |column| column.field.as_str());
                return Err(GatewayError::bad_input(format!(
                    "{field}: a text match may be at most {} characters (GATEWAY_MAX_PATTERN_LENGTH), got {length}",
                    self.limits.max_pattern_chars
                )));
            }
            let scanned = (self.rows)(entity).max(self.scanned);
            self.total = self
                .total
                .saturating_add((length as u64).saturating_mul(scanned).saturating_mul(self.runs));
        }
        if let Predicate::Related { .. } = predicate {
            // The related rows are matched once per row of this table the filter scans.
            let scanned = self.scanned.max((self.rows)(entity));
            let outer = std::mem::replace(&mut self.scanned, scanned);
            let result = visit::walk_predicate(self, entity, predicate);
            self.scanned = outer;
            return result;
        }
        visit::walk_predicate(self, entity, predicate)
    }

    fn connection(&mut self, plan: &ConnectionPlan) -> Result<(), GatewayError> {
        if let Some(filter) = &plan.filter {
            self.predicate(plan.entity, filter)?;
        }
        // Lists below run once per row this one returns.
        let returned = plan
            .page
            .first
            .or(plan.page.last)
            .unwrap_or(u64::MAX)
            .min((self.rows)(plan.entity))
            .max(1);
        let outer = self.runs;
        self.runs = outer.saturating_mul(returned);
        let result = visit::walk_connection_rows(self, plan);
        self.runs = outer;
        result
    }
}
