//! `groupBy` as SQL: three nested SELECTs.
//!
//! The innermost reads the rows the aggregate may read (the session's row filter, the link to
//! the parent row for an aggregate through a relation, the filter) and computes each key once as
//! `__gw_k<i>`: a column, a column of a row reached through many-to-one relations (a correlated
//! subquery that carries that table's row filter, so a hidden row's value is NULL), or a date or
//! timestamp truncated to a calendar unit in a time zone. The middle one groups by those keys,
//! keeps the groups `having` lets through, orders them (the requested order, then the keys) and
//! pages them, numbering them with `row_number()` over the same order; the outer one gathers the
//! groups' JSON objects in that order.

use super::select::{Parent, ROW_NUMBER};
use super::{Compiler, column};
use crate::metadata::EntityId;
use crate::plan::group::{GroupOrderValue, GroupOutput, GroupPlan, Having, KeyOutput, key_kind, measure_kind};
use crate::plan::{AggregatePlan, Measure, OrderKey, OrderValue};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, NullOrdering, Order, Query, SelectStatement};

fn key_name(index: usize) -> String {
    format!("__gw_k{index}")
}

impl Compiler<'_> {
    /// The SELECT producing a `groupBy`'s JSON array of group objects.
    pub(super) fn group_by(
        &mut self,
        plan: &AggregatePlan,
        parent: Option<&Parent<'_>>,
        group: &GroupPlan,
    ) -> SelectStatement {
        let entity = plan.entity;
        let table = self.registry.entity(entity).table.clone();

        // Rows, with their keys.
        let row_alias = self.alias();
        let mut rows = Query::select();
        rows.expr(Expr::col((Alias::new(&row_alias), sea_orm::sea_query::Asterisk)));
        for (index, key) in group.keys.iter().enumerate() {
            let order_key = OrderKey {
                path: key.path.clone(),
                value: OrderValue::Column(key.column.clone()),
                descending: false,
                nulls_first: false,
            };
            let mut value = self.order_expr(entity, &order_key, &row_alias);
            if let Some(bucket) = key.bucket {
                let kind = key_kind(self.registry, entity, key);
                value = self
                    .dialect
                    .time_bucket(&kind, bucket, group.time_zone.as_deref(), value);
            }
            rows.expr_as(value, Alias::new(key_name(index)));
        }
        let condition = self.filter_condition(plan, parent, &row_alias);
        rows.from_as(Alias::new(&table), Alias::new(&row_alias))
            .and_where(condition);

        // Groups: keyed, filtered by `having`, ordered and paged.
        let alias = self.alias();
        let mut pairs = Vec::new();
        for (key, output) in &group.outputs {
            let value = match output {
                GroupOutput::Key(fields) => self.key_object(entity, group, fields, &alias),
                GroupOutput::Count => Expr::cust("count(*)"),
                GroupOutput::Typename(name) => Expr::val(name.as_str()),
                GroupOutput::Function { function, columns } => self.functions(entity, *function, columns, &alias),
            };
            pairs.push((key.clone(), value));
        }
        let mut order: Vec<(Expr, bool, bool)> = group
            .order
            .iter()
            .map(|order| {
                let value = match &order.by {
                    GroupOrderValue::Key(index) => column(&alias, &key_name(*index)),
                    GroupOrderValue::Measure(measure) => self.measure(measure, &alias),
                };
                (value, order.descending, order.nulls_first)
            })
            .collect();
        order.extend((0..group.keys.len()).map(|index| (column(&alias, &key_name(index)), false, true)));
        let mut grouped = Query::select();
        grouped
            .expr_as(self.dialect.object(pairs), Alias::new("__gw_group"))
            .expr_as(self.dialect.row_number(&order), Alias::new(ROW_NUMBER))
            .from_subquery(rows.take(), Alias::new(&alias))
            .add_group_by(
                (0..group.keys.len())
                    .map(|index| column(&alias, &key_name(index)))
                    .collect::<Vec<_>>(),
            );
        if let Some(having) = &group.having {
            let condition = self.having(entity, having, &alias);
            grouped.and_having(condition);
        }
        if group.first.is_some() || group.offset > 0 {
            for (value, descending, nulls_first) in &order {
                grouped.order_by_expr_with_nulls(
                    value.clone(),
                    if *descending { Order::Desc } else { Order::Asc },
                    if *nulls_first {
                        NullOrdering::First
                    } else {
                        NullOrdering::Last
                    },
                );
            }
            // SQLite takes OFFSET only after a LIMIT.
            grouped.limit(group.first.unwrap_or(i64::MAX as u64));
            if group.offset > 0 {
                grouped.offset(group.offset);
            }
        }

        let groups = self.alias();
        let item = column(&groups, "__gw_group");
        let order = [(column(&groups, ROW_NUMBER), false)];
        Query::select()
            .expr(self.dialect.array_agg(item, &order, None))
            .from_subquery(grouped.take(), Alias::new(&groups))
            .take()
    }

    /// A group's `key` object (or one reached through a relation inside it).
    fn key_object(&mut self, entity: EntityId, group: &GroupPlan, fields: &[(String, KeyOutput)], alias: &str) -> Expr {
        let pairs = fields
            .iter()
            .map(|(key, field)| {
                let value = match field {
                    KeyOutput::Key(index) => {
                        let kind = key_kind(self.registry, entity, &group.keys[*index]);
                        self.dialect.output(&kind, column(alias, &key_name(*index)))
                    }
                    KeyOutput::Relation { fields, .. } => {
                        let object = self.key_object(entity, group, fields, alias);
                        self.dialect.nested(object)
                    }
                    KeyOutput::Typename(name) => Expr::val(name.as_str()),
                };
                (key.clone(), value)
            })
            .collect();
        self.dialect.object(pairs)
    }

    /// A measure over the grouped rows aliased `alias`.
    pub(super) fn measure(&self, measure: &Measure, alias: &str) -> Expr {
        match measure {
            Measure::Count => Expr::cust("count(*)"),
            Measure::Of(function, name) => self.aggregate_value(*function, column(alias, name)),
        }
    }

    /// A `having` condition on the groups of rows aliased `alias`.
    fn having(&self, entity: EntityId, having: &Having, alias: &str) -> Expr {
        let all = |parts: &[Having], and: bool| {
            parts
                .iter()
                .map(|part| self.having(entity, part, alias))
                .reduce(|left, right| if and { left.and(right) } else { left.or(right) })
                .unwrap_or_else(|| Expr::cust(if and { "TRUE" } else { "FALSE" }))
        };
        match having {
            Having::And(parts) => self.dialect.template("({})", vec![all(parts, true)]),
            Having::Or(parts) => self.dialect.template("({})", vec![all(parts, false)]),
            Having::Not(inner) => self
                .dialect
                .template("NOT ({})", vec![self.having(entity, inner, alias)]),
            Having::Compare {
                measure,
                operator,
                value,
            } => {
                let kind = measure_kind(self.registry, entity, measure);
                let left = self.measure(measure, alias);
                let right = self.bind_kind(Some(&kind), value.clone());
                super::filter::compare(left, *operator, right)
            }
            Having::In {
                measure,
                values,
                negated,
            } => {
                let kind = measure_kind(self.registry, entity, measure);
                let left = self.measure(measure, alias);
                let values: Vec<Expr> = values
                    .iter()
                    .map(|value| self.bind_kind(Some(&kind), value.clone()))
                    .collect();
                if values.is_empty() {
                    return Expr::cust(if *negated { "TRUE" } else { "FALSE" });
                }
                if *negated {
                    left.is_not_in(values)
                } else {
                    left.is_in(values)
                }
            }
            Having::IsNull { measure, is_null } => {
                let value = self.measure(measure, alias);
                if *is_null { value.is_null() } else { value.is_not_null() }
            }
        }
    }
}
