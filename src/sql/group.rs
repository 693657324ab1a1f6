//! `groupBy` as SQL: three nested SELECTs.
//!
//! The innermost reads the rows the aggregate may read (the session's row filter, the link to
//! the parent row for an aggregate through a relation, the filter) and computes each key once as
//! `__gw_k<i>`: a column, a column of a row reached through many-to-one relations (left-joined
//! once per path when each step ends at its target's primary key, else a correlated subquery;
//! either way with that table's row filter, so a hidden row's value is NULL), or a date or
//! timestamp truncated to a calendar unit in a time zone. The middle one groups by those keys,
//! keeps the groups `having` lets through, orders them (the requested order, then the keys) and
//! pages them, numbering them with `row_number()` over the same order; the outer one gathers the
//! groups' JSON objects in that order.

use super::select::{Parent, ROW_NUMBER};
use super::{Compiler, column};
use crate::metadata::EntityId;
use crate::plan::group::{GroupOrderValue, GroupOutput, GroupPlan, Having, KeyOutput, key_kind, measure_kind};
use crate::plan::{AggregatePlan, Measure, OrderKey, OrderValue};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, NullOrdering, Order, Query, SelectStatement};

fn key_name(index: usize) -> String {
    format!("__gw_k{index}")
}

/// The columns a group's aggregates read: its outputs', its `having`'s and its order's.
fn aggregated_columns(group: &GroupPlan) -> std::collections::BTreeSet<String> {
    let mut columns = std::collections::BTreeSet::new();
    for (_, output) in &group.outputs {
        if let GroupOutput::Function { columns: selected, .. } = output {
            columns.extend(selected.iter().filter_map(|(_, column)| match column {
                crate::plan::Selected::Field(name) => Some(name.clone()),
                crate::plan::Selected::Typename(_) => None,
            }));
        }
    }
    let ordered = group.order.iter().filter_map(|order| match &order.by {
        GroupOrderValue::Measure(measure) => Some(measure),
        GroupOrderValue::Key(_) => None,
    });
    let compared = group.having.iter().flat_map(Having::measures);
    for measure in ordered.chain(compared) {
        if let Measure::Of(_, name) = measure {
            columns.insert(name.clone());
        }
    }
    columns
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
        // Only the columns the aggregates read are carried up (the groups are sorted with them).
        for name in aggregated_columns(group) {
            rows.expr_as(column(&row_alias, &name), Alias::new(&name));
        }
        // Relations to a primary key are joined (once per path, so the planner can hash them);
        // others (declared without a foreign key, perhaps not unique) are read as one row.
        let mut joined: Vec<(Vec<usize>, String)> = Vec::new();
        for (index, key) in group.keys.iter().enumerate() {
            let mut value = match self.join_path(entity, &key.path, &row_alias, &mut rows, &mut joined) {
                Some(alias) => column(&alias, &key.column),
                None => {
                    let order_key = OrderKey {
                        path: key.path.clone(),
                        value: OrderValue::Column(key.column.clone()),
                        descending: false,
                        nulls_first: false,
                    };
                    self.order_expr(entity, &order_key, &row_alias)
                }
            };
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

    /// Left-joins the rows `path` leads to from the row aliased `alias` (each with its table's row
    /// filter in the join, so a row the session may not read joins as NULLs) and returns the last
    /// one's alias; `None` when a step does not end at its target's primary key (a join could
    /// then repeat rows). Prefixes already joined (in `joined`) are reused.
    fn join_path(
        &mut self,
        entity: EntityId,
        path: &[usize],
        alias: &str,
        rows: &mut SelectStatement,
        joined: &mut Vec<(Vec<usize>, String)>,
    ) -> Option<String> {
        if path.is_empty() {
            return Some(alias.to_owned());
        }
        let mut current = entity;
        for step in path {
            let relation = &self.registry.entity(current).relations[*step];
            let target = self.registry.entity(relation.target);
            let mut to = relation.to_columns.clone();
            let mut key = target.primary_key.clone();
            to.sort();
            key.sort();
            if relation.kind != crate::metadata::RelationKind::ManyToOne || to != key {
                return None;
            }
            current = relation.target;
        }
        let mut parent = alias.to_owned();
        let mut current = entity;
        for depth in 1..=path.len() {
            let prefix = &path[..depth];
            let step = path[depth - 1];
            let target = self.registry.entity(current).relations[step].target;
            let child = match joined.iter().find(|(done, _)| done == prefix) {
                Some((_, child)) => child.clone(),
                None => {
                    let child = self.alias();
                    let condition = self.related_condition(current, step, &parent, &child);
                    rows.join_as(
                        JoinType::LeftJoin,
                        Alias::new(&self.registry.entity(target).table),
                        Alias::new(&child),
                        condition,
                    );
                    joined.push((prefix.to_vec(), child.clone()));
                    child
                }
            };
            parent = child;
            current = target;
        }
        Some(parent)
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
