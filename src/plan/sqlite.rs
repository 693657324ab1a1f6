//! What a plan asks that SQLite cannot answer, found before anything is compiled, so the answer
//! is a `BAD_USER_INPUT` naming the feature instead of a wrong result: time buckets in a zone
//! other than UTC (SQLite has no time zone database), `containedIn` on JSON (JSON1 has no
//! containment test) and orderings by a JSON path (JSON1's values have no one order that a
//! cursor could hold).

use super::json::JsonTest;
use super::visit::{self, Visitor};
use super::{Plan, Predicate};
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};

/// Refuses what SQLite cannot answer in `plan`.
pub fn check(registry: &Registry, plan: &Plan) -> Result<(), GatewayError> {
    Unsupported { registry }.plan(plan)
}

struct Unsupported<'r> {
    registry: &'r Registry,
}

impl Visitor for Unsupported<'_> {
    type Error = GatewayError;

    fn registry(&self) -> &Registry {
        self.registry
    }

    fn aggregate(&mut self, plan: &super::AggregatePlan) -> Result<(), GatewayError> {
        for (_, output) in &plan.outputs {
            if let super::AggregateOutput::GroupBy(group) = output
                && let Some(zone) = group.time_zone.as_deref().filter(|zone| *zone != "UTC")
            {
                return Err(GatewayError::bad_input(format!(
                    "groupBy.timeZone: SQLite has no time zone database, so its time buckets are UTC; `{zone}` needs PostgreSQL"
                )));
            }
        }
        visit::walk_aggregate(self, plan)
    }

    fn order_key(&mut self, entity: EntityId, key: &super::OrderKey) -> Result<(), GatewayError> {
        if let super::OrderValue::JsonPath { .. } = key.value {
            return Err(GatewayError::bad_input(
                "orderBy: ordering by a JSON path needs PostgreSQL (SQLite's JSON values have no one order)",
            ));
        }
        visit::walk_order_key(self, entity, key)
    }

    fn predicate(&mut self, entity: EntityId, predicate: &Predicate) -> Result<(), GatewayError> {
        if let Predicate::Json {
            column,
            test: JsonTest::ContainedIn(_),
        } = predicate
        {
            let field = self
                .registry
                .entity(entity)
                .column(column)
                .map_or(column.as_str(), |column| column.field.as_str());
            return Err(GatewayError::bad_input(format!(
                "{field}.containedIn: SQLite's JSON functions have no containment test; it needs PostgreSQL"
            )));
        }
        visit::walk_predicate(self, entity, predicate)
    }
}
