//! Connections, rows, lookups and aggregates as JSON-building SELECTs.
//!
//! A connection is three nested SELECTs: the inner one filters, orders and pages the rows of
//! one table (only the columns the selection needs, plus order keys `__gw_o*`); the middle one
//! numbers that page (`__gw_rn`, cheap: at most `n + 1` rows); the outer one aggregates it into
//! `nodes`/`edges`/`pageInfo`, with `totalCount` as its own correlated count.

use super::{Compiler, column};
use crate::metadata::{EntityId, ScalarKind};
use crate::plan::{
    AggregateFunction, AggregateOutput, AggregatePlan, ConnectionOutput, ConnectionPlan, EdgeOutput, LookupPlan,
    NodeField, NodePlan, OrderKey, OrderValue, PageInfoField, RelatedAggregate, Selected,
};
use sea_orm::Value;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, NullOrdering, Order, Query, QueryStatementBuilder, SelectStatement};
use std::collections::BTreeSet;

pub(super) const ROW_NUMBER: &str = "__gw_rn";

fn order_column_name(index: usize) -> String {
    format!("__gw_o{index}")
}

/// A SELECT used as a scalar value.
pub(super) fn subquery(select: SelectStatement) -> Expr {
    Expr::SubQuery(None, Box::new(select.into_sub_query_statement()))
}

/// Where a connection's rows hang from: the parent's relation and the parent row's alias.
pub(crate) struct Parent<'a> {
    pub entity: EntityId,
    pub relation: usize,
    pub alias: &'a str,
}

impl Compiler<'_> {
    /// The kind of a column the planner resolved from the metadata.
    fn kind(&self, entity: EntityId, column: &str) -> &ScalarKind {
        &self
            .registry
            .entity(entity)
            .column(column)
            .expect("planned columns exist")
            .kind
    }

    /// The SELECT producing one connection's JSON object.
    pub(super) fn connection(&mut self, plan: &ConnectionPlan, parent: Option<Parent<'_>>) -> SelectStatement {
        let entity = plan.entity;
        let table = self.registry.entity(entity).table.clone();
        let backward = plan.page.backward();
        let size = plan.page.size();

        // Inner: filter, keyset, order, limit.
        let inner_alias = self.alias();
        let mut inner = Query::select();
        inner.from_as(Alias::new(&table), Alias::new(&inner_alias));
        for name in self.needed_columns(plan) {
            inner.expr_as(column(&inner_alias, &name), Alias::new(&name));
        }
        let base = self.base_condition(plan, parent.as_ref(), &inner_alias);
        inner.and_where(base);
        let order_exprs: Vec<Expr> = plan
            .order
            .iter()
            .map(|key| self.order_expr(entity, key, &inner_alias))
            .collect();
        for (index, expr) in order_exprs.iter().enumerate() {
            inner.expr_as(expr.clone(), Alias::new(order_column_name(index)));
        }
        if let Some(after) = &plan.page.after {
            inner.and_where(self.keyset(entity, &plan.order, &order_exprs, after, false));
        }
        if let Some(before) = &plan.page.before {
            inner.and_where(self.keyset(entity, &plan.order, &order_exprs, before, true));
        }
        for (key, expr) in plan.order.iter().zip(&order_exprs) {
            // Reading backwards (`last`) walks the order in reverse.
            let descending = key.descending != backward;
            let nulls_first = key.nulls_first != backward;
            inner.order_by_expr_with_nulls(
                expr.clone(),
                if descending { Order::Desc } else { Order::Asc },
                if nulls_first {
                    NullOrdering::First
                } else {
                    NullOrdering::Last
                },
            );
        }
        if let Some(size) = size {
            inner.limit(size + 1);
        }
        if plan.page.offset > 0 {
            inner.offset(plan.page.offset);
        }

        // Middle: number the page's rows in reading order.
        let middle_alias = self.alias();
        let inner_name = self.alias();
        let window: Vec<(Expr, bool, bool)> = plan
            .order
            .iter()
            .enumerate()
            .map(|(index, key)| {
                (
                    column(&inner_name, &order_column_name(index)),
                    key.descending != backward,
                    key.nulls_first != backward,
                )
            })
            .collect();
        let mut middle = Query::select();
        middle.expr(Expr::col((Alias::new(&inner_name), sea_orm::sea_query::Asterisk)));
        middle.expr_as(self.dialect.row_number(&window), Alias::new(ROW_NUMBER));
        middle.from_subquery(inner.take(), Alias::new(&inner_name));

        // Outer: aggregate the page into the connection object.
        let row_number = column(&middle_alias, ROW_NUMBER);
        let in_page = size.map(|size| row_number.clone().lte(Expr::val(size)));
        let output_order = [(row_number.clone(), backward)];
        let mut pairs = Vec::new();
        for (key, output) in &plan.outputs {
            let value = match output {
                ConnectionOutput::Nodes(node) => {
                    let object = self.node_object(entity, node, &middle_alias);
                    self.dialect.array_agg(object, &output_order, in_page.clone())
                }
                ConnectionOutput::Edges(fields) => {
                    let mut edge = Vec::new();
                    for (edge_key, field) in fields {
                        let value = match field {
                            EdgeOutput::Cursor => self.cursor(plan, &middle_alias),
                            EdgeOutput::Typename(name) => Expr::val(name.as_str()),
                            EdgeOutput::Node(node) => {
                                let object = self.node_object(entity, node, &middle_alias);
                                self.dialect.nested(object)
                            }
                        };
                        edge.push((edge_key.clone(), value));
                    }
                    let object = self.dialect.object(edge);
                    self.dialect.array_agg(object, &output_order, in_page.clone())
                }
                ConnectionOutput::PageInfo(fields) => {
                    let mut info = Vec::new();
                    for (info_key, field) in fields {
                        let value = match field {
                            Selected::Typename(name) => Expr::val(name.as_str()),
                            Selected::Field(PageInfoField::HasNextPage) => {
                                let more = self.has_more(plan, parent.as_ref(), true, size);
                                self.dialect.boolean(more)
                            }
                            Selected::Field(PageInfoField::HasPreviousPage) => {
                                let more = self.has_more(plan, parent.as_ref(), false, size);
                                self.dialect.boolean(more)
                            }
                            // The first or last of the page's cursors in reading order.
                            Selected::Field(cursor @ (PageInfoField::StartCursor | PageInfoField::EndCursor)) => {
                                let keys = self.cursor_keys(plan, &middle_alias);
                                let all = self.dialect.array_agg(keys, &output_order, in_page.clone());
                                let end = self.dialect.array_end(all, *cursor == PageInfoField::EndCursor);
                                self.dialect.cursor(end)
                            }
                        };
                        info.push((info_key.clone(), value));
                    }
                    self.dialect.object(info)
                }
                ConnectionOutput::Typename(name) => Expr::val(name.as_str()),
                ConnectionOutput::TotalCount => {
                    let count_alias = self.alias();
                    let condition = self.base_condition(plan, parent.as_ref(), &count_alias);
                    subquery(
                        Query::select()
                            .expr(Expr::cust("count(*)"))
                            .from_as(Alias::new(&table), Alias::new(&count_alias))
                            .and_where(condition)
                            .take(),
                    )
                }
            };
            pairs.push((key.clone(), value));
        }
        let mut outer = Query::select();
        outer.expr(self.dialect.object(pairs));
        // Every output that reads the page is an aggregate, so the page yields exactly one row;
        // without such an output, reading it would yield one row per page row instead.
        if reads_page(plan) {
            outer.from_subquery(middle, Alias::new(&middle_alias));
        }
        outer
    }

    /// The filter plus, for a nested connection, the link to the parent row.
    fn base_condition(&mut self, plan: &ConnectionPlan, parent: Option<&Parent<'_>>, alias: &str) -> Expr {
        let mut parts = Vec::new();
        if let Some(parent) = parent {
            parts.push(self.related_condition(parent.entity, parent.relation, parent.alias, alias));
        }
        // Nested rows get the row filter through the join; root rows get it here.
        if parent.is_none()
            && let Some(visible) = self.visible(plan.entity, alias)
        {
            parts.push(visible);
        }
        if let Some(filter) = &plan.filter {
            parts.push(self.predicate(plan.entity, filter, alias));
        }
        parts
            .into_iter()
            .reduce(ExprTrait::and)
            .unwrap_or_else(|| Expr::cust("TRUE"))
    }

    /// Whether rows exist beyond the page in one direction: `forward` past its end (known from the
    /// `n + 1` row, or from `before`), or before its start (from `after` or `offset`).
    fn has_more(
        &mut self,
        plan: &ConnectionPlan,
        parent: Option<&Parent<'_>>,
        towards_end: bool,
        size: Option<u64>,
    ) -> Expr {
        let backward = plan.page.backward();
        if towards_end != backward {
            // The direction the page was read in: the extra row tells.
            if let Some(size) = size {
                return Expr::cust("count(*)").gt(Expr::val(size));
            }
            return Expr::cust("FALSE");
        }
        // Behind the page's starting point: rows on the other side of the cursor (or skipped).
        let cursor = if backward { &plan.page.before } else { &plan.page.after };
        if cursor.is_none() && plan.page.offset == 0 {
            return Expr::cust("FALSE");
        }
        let alias = self.alias();
        let mut condition = self.base_condition(plan, parent, &alias);
        if let Some(values) = cursor {
            let order_exprs: Vec<Expr> = plan
                .order
                .iter()
                .map(|key| self.order_expr(plan.entity, key, &alias))
                .collect();
            // Not strictly after `after` (resp. before `before`): at or behind the cursor.
            let beyond = self.keyset(plan.entity, &plan.order, &order_exprs, values, backward);
            condition = condition.and(self.dialect.template("({}) IS NOT TRUE", vec![beyond]));
        }
        Expr::exists(
            Query::select()
                .expr(Expr::cust("1"))
                .from_as(Alias::new(&self.registry.entity(plan.entity).table), Alias::new(&alias))
                .and_where(condition)
                .take(),
        )
    }

    /// Rows strictly after (`before == false`) or strictly before the cursor `values` in `order`.
    fn keyset(&self, entity: EntityId, order: &[OrderKey], exprs: &[Expr], values: &[Value], before: bool) -> Expr {
        let kinds: Vec<ScalarKind> = order
            .iter()
            .map(|key| crate::plan::order_kind(self.registry, entity, key))
            .collect();
        let mut alternatives = Vec::new();
        for index in 0..order.len() {
            let mut conjunction = Vec::new();
            for earlier in 0..index {
                conjunction.push(self.equal_to(&kinds[earlier], exprs[earlier].clone(), &values[earlier]));
            }
            let key = &order[index];
            let (descending, nulls_first) = if before {
                (!key.descending, !key.nulls_first)
            } else {
                (key.descending, key.nulls_first)
            };
            conjunction.push(self.beyond(
                &kinds[index],
                exprs[index].clone(),
                &values[index],
                descending,
                nulls_first,
            ));
            alternatives.push(
                conjunction
                    .into_iter()
                    .reduce(ExprTrait::and)
                    .unwrap_or_else(|| Expr::cust("TRUE")),
            );
        }
        let any = alternatives
            .into_iter()
            .reduce(ExprTrait::or)
            .unwrap_or_else(|| Expr::cust("FALSE"));
        self.dialect.template("({})", vec![any])
    }

    fn equal_to(&self, kind: &ScalarKind, expr: Expr, value: &Value) -> Expr {
        if is_null(value) {
            expr.is_null()
        } else {
            expr.eq(self.bind_kind(Some(kind), value.clone()))
        }
    }

    /// `expr` comes strictly after `value` in an order with this direction and null placement.
    fn beyond(&self, kind: &ScalarKind, expr: Expr, value: &Value, descending: bool, nulls_first: bool) -> Expr {
        if is_null(value) {
            // Past a NULL only when NULLs come first, and then every non-NULL is past it.
            return if nulls_first {
                expr.is_not_null()
            } else {
                Expr::cust("FALSE")
            };
        }
        let bound = self.bind_kind(Some(kind), value.clone());
        let strictly = if descending {
            expr.clone().lt(bound)
        } else {
            expr.clone().gt(bound)
        };
        if nulls_first {
            strictly
        } else {
            strictly.or(expr.is_null())
        }
    }

    /// The value an order key sorts by, following many-to-one relations with scalar subqueries.
    pub(super) fn order_expr(&mut self, entity: EntityId, key: &OrderKey, alias: &str) -> Expr {
        let Some((first, rest)) = key.path.split_first() else {
            return match &key.value {
                OrderValue::Column(name) => column(alias, name),
                OrderValue::Lower(name) => self.dialect.template("lower({})", vec![column(alias, name)]),
                OrderValue::Relevance { column: name, query } => self.relevance(entity, alias, name, query),
                OrderValue::JsonPath { column: name, path } => self.json_at(column(alias, name), path),
                OrderValue::Aggregate(aggregate) => self.related_aggregate(entity, aggregate, alias),
            };
        };
        let target = self.registry.entity(entity).relations[*first].target;
        let child = self.alias();
        let condition = self.related_condition(entity, *first, alias, &child);
        let nested = OrderKey {
            path: rest.to_vec(),
            ..key.clone()
        };
        let value = self.order_expr(target, &nested, &child);
        subquery(
            Query::select()
                .expr(value)
                .from_as(Alias::new(&self.registry.entity(target).table), Alias::new(&child))
                .and_where(condition)
                .limit(1)
                .take(),
        )
    }

    /// One aggregate of the related rows of the row aliased `alias` that the session may read
    /// (the relation's join carries the target's row filter), as a correlated scalar subquery.
    fn related_aggregate(&mut self, entity: EntityId, aggregate: &RelatedAggregate, alias: &str) -> Expr {
        let target = self.registry.entity(entity).relations[aggregate.relation].target;
        let child = self.alias();
        let mut condition = self.related_condition(entity, aggregate.relation, alias, &child);
        if let Some(filter) = &aggregate.filter {
            condition = condition.and(self.predicate(target, filter, &child));
        }
        let value = self.measure(&aggregate.measure, &child);
        subquery(
            Query::select()
                .expr(value)
                .from_as(Alias::new(&self.registry.entity(target).table), Alias::new(&child))
                .and_where(condition)
                .take(),
        )
    }

    /// The cursor of the row aliased `alias`, encoded.
    fn cursor(&self, plan: &ConnectionPlan, alias: &str) -> Expr {
        self.dialect.cursor(self.cursor_keys(plan, alias))
    }

    /// What a cursor of the row aliased `alias` holds: `[signature, order values…]`.
    fn cursor_keys(&self, plan: &ConnectionPlan, alias: &str) -> Expr {
        let mut items = vec![Expr::val(plan.order_signature.as_str())];
        for (index, key) in plan.order.iter().enumerate() {
            let kind = crate::plan::order_kind(self.registry, plan.entity, key);
            items.push(self.dialect.output(&kind, column(alias, &order_column_name(index))));
        }
        self.dialect.array(items)
    }

    /// Columns the inner SELECT must carry for the selection above it.
    fn needed_columns(&self, plan: &ConnectionPlan) -> BTreeSet<String> {
        let mut columns = BTreeSet::new();
        let entity = self.registry.entity(plan.entity);
        let add_node = |node: &NodePlan, columns: &mut BTreeSet<String>| {
            for (_, field) in &node.fields {
                match field {
                    NodeField::Column(name) | NodeField::JsonPath { column: name, .. } => {
                        columns.insert(name.clone());
                    }
                    NodeField::Typename(_) => {}
                    NodeField::NodeId => columns.extend(entity.primary_key.iter().cloned()),
                    NodeField::Object { relation, .. }
                    | NodeField::Connection { relation, .. }
                    | NodeField::Aggregate { relation, .. } => {
                        columns.extend(entity.relations[*relation].from_columns.iter().cloned());
                    }
                }
            }
        };
        for (_, output) in &plan.outputs {
            match output {
                ConnectionOutput::Nodes(node) => add_node(node, &mut columns),
                ConnectionOutput::Edges(fields) => {
                    for (_, field) in fields {
                        match field {
                            EdgeOutput::Node(node) => add_node(node, &mut columns),
                            EdgeOutput::Cursor | EdgeOutput::Typename(_) => {}
                        }
                    }
                }
                ConnectionOutput::PageInfo(_) | ConnectionOutput::TotalCount | ConnectionOutput::Typename(_) => {}
            }
        }
        if columns.is_empty() {
            // A derived table needs at least one column.
            columns.extend(entity.primary_key.iter().cloned());
        }
        columns
    }

    /// The JSON object of one row (aliased `alias`) for `node`.
    pub(super) fn node_object(&mut self, entity: EntityId, node: &NodePlan, alias: &str) -> Expr {
        let mut pairs = Vec::new();
        for (key, field) in &node.fields {
            let value = match field {
                NodeField::Column(name) => {
                    let kind = self.kind(entity, name);
                    self.dialect.output(kind, column(alias, name))
                }
                NodeField::JsonPath { column: name, path } => self.json_at(column(alias, name), path),
                NodeField::NodeId => {
                    let meta = self.registry.entity(entity);
                    let mut items = vec![Expr::val(meta.type_name.as_str())];
                    for name in &meta.primary_key {
                        items.push(self.dialect.output(self.kind(entity, name), column(alias, name)));
                    }
                    self.dialect.cursor(self.dialect.array(items))
                }
                NodeField::Typename(name) => Expr::val(name.as_str()),
                NodeField::Object { relation, node } => {
                    let target = self.registry.entity(entity).relations[*relation].target;
                    let child = self.alias();
                    let condition = self.related_condition(entity, *relation, alias, &child);
                    let object = self.node_object(target, node, &child);
                    let select = Query::select()
                        .expr(object)
                        .from_as(Alias::new(&self.registry.entity(target).table), Alias::new(&child))
                        .and_where(condition)
                        .limit(1)
                        .take();
                    self.dialect.nested(subquery(select))
                }
                NodeField::Connection { relation, plan } => {
                    let parent = Parent {
                        entity,
                        relation: *relation,
                        alias,
                    };
                    let select = self.connection(plan, Some(parent));
                    self.dialect.nested(subquery(select))
                }
                NodeField::Aggregate { relation, plan } => {
                    let parent = Parent {
                        entity,
                        relation: *relation,
                        alias,
                    };
                    let select = self.aggregate(plan, Some(&parent));
                    self.dialect.nested(subquery(select))
                }
            };
            pairs.push((key.clone(), value));
        }
        self.dialect.object(pairs)
    }

    /// The SELECT producing a looked-up row's JSON (no row when the key matches nothing).
    pub(super) fn lookup(&mut self, plan: &LookupPlan) -> SelectStatement {
        let alias = self.alias();
        let table = self.registry.entity(plan.entity).table.clone();
        let mut condition = plan
            .key
            .iter()
            .map(|(name, value)| column(&alias, name).eq(self.bind(plan.entity, name, value.clone())))
            .reduce(ExprTrait::and)
            .unwrap_or_else(|| Expr::cust("FALSE"));
        if let Some(visible) = self.visible(plan.entity, &alias) {
            condition = condition.and(visible);
        }
        let object = self.node_object(plan.entity, &plan.node, &alias);
        Query::select()
            .expr(object)
            .from_as(Alias::new(&table), Alias::new(&alias))
            .and_where(condition)
            .take()
    }

    /// The SELECT producing an aggregate's JSON: of a table's rows, or (with `parent`) of the
    /// rows a to-many relation links to one parent row.
    pub(super) fn aggregate(&mut self, plan: &AggregatePlan, parent: Option<&Parent<'_>>) -> SelectStatement {
        let alias = self.alias();
        let table = self.registry.entity(plan.entity).table.clone();
        let condition = self.filter_condition(plan, parent, &alias);
        let mut pairs = Vec::new();
        for (key, output) in &plan.outputs {
            let value = match output {
                AggregateOutput::Count => Expr::cust("count(*)"),
                AggregateOutput::Typename(name) => Expr::val(name.as_str()),
                AggregateOutput::Function { function, columns } => {
                    self.functions(plan.entity, *function, columns, &alias)
                }
                AggregateOutput::GroupBy(group) => {
                    let groups = subquery(self.group_by(plan, parent, group));
                    self.dialect.nested(groups)
                }
            };
            pairs.push((key.clone(), value));
        }
        let mut select = Query::select();
        select.expr(self.dialect.object(pairs));
        // Counts and functions make this an aggregate query (exactly one row); `groupBy` alone
        // reads the table in its own subquery, and reading it here too would yield a row per row.
        let aggregates = plan
            .outputs
            .iter()
            .any(|(_, output)| matches!(output, AggregateOutput::Count | AggregateOutput::Function { .. }));
        if aggregates {
            select
                .from_as(Alias::new(&table), Alias::new(&alias))
                .and_where(condition);
        }
        select
    }

    /// Which rows of `alias` an aggregate reads: those the session may read (through the join
    /// to `parent`, whose condition carries the row filter, or the row filter itself), matching
    /// its filter.
    pub(super) fn filter_condition(&mut self, plan: &AggregatePlan, parent: Option<&Parent<'_>>, alias: &str) -> Expr {
        let scope = match parent {
            Some(parent) => Some(self.related_condition(parent.entity, parent.relation, parent.alias, alias)),
            None => self.visible(plan.entity, alias),
        };
        let filter = plan
            .filter
            .as_ref()
            .map(|filter| self.predicate(plan.entity, filter, alias));
        scope
            .into_iter()
            .chain(filter)
            .reduce(ExprTrait::and)
            .unwrap_or_else(|| Expr::cust("TRUE"))
    }

    pub(super) fn functions(
        &self,
        entity: EntityId,
        function: AggregateFunction,
        columns: &[(String, Selected<String>)],
        alias: &str,
    ) -> Expr {
        let pairs = columns
            .iter()
            .map(|(key, selected)| {
                let value = match selected {
                    Selected::Field(name) => self.aggregate_sql(self.kind(entity, name), function, column(alias, name)),
                    Selected::Typename(name) => Expr::val(name.as_str()),
                };
                (key.clone(), value)
            })
            .collect();
        self.dialect.object(pairs)
    }

    /// One aggregate of one column as the database computes it (what orderings compare); the
    /// average is a double on both backends, so a cursor holds it exactly.
    pub(super) fn aggregate_value(&self, function: AggregateFunction, value: Expr) -> Expr {
        let template = match function {
            AggregateFunction::Sum => "sum({})",
            AggregateFunction::Avg if self.dialect.postgres() => "CAST(avg({}) AS double precision)",
            AggregateFunction::Avg => "avg({})",
            AggregateFunction::Min => "min({})",
            AggregateFunction::Max => "max({})",
            AggregateFunction::CountDistinct => "count(DISTINCT {})",
        };
        self.dialect.template(template, vec![value])
    }

    /// One aggregate of one column in the API's form, typed as the schema declares it.
    fn aggregate_sql(&self, kind: &ScalarKind, function: AggregateFunction, value: Expr) -> Expr {
        let value = self.aggregate_value(function, value);
        match function {
            AggregateFunction::Sum => match kind {
                // Integer sums are 64-bit (`BigInt`) or wider (PostgreSQL sums bigint into
                // numeric): strings, every digit kept.
                ScalarKind::Int | ScalarKind::BigInt => value.cast_as("text"),
                other => self.dialect.output(other, value),
            },
            AggregateFunction::Avg | AggregateFunction::CountDistinct => value,
            AggregateFunction::Min | AggregateFunction::Max => self.dialect.output(kind, value),
        }
    }
}

/// Whether any output aggregates the page's rows (rather than counting or probing on its own).
fn reads_page(plan: &ConnectionPlan) -> bool {
    plan.outputs.iter().any(|(_, output)| match output {
        ConnectionOutput::Nodes(_) | ConnectionOutput::Edges(_) => true,
        ConnectionOutput::TotalCount | ConnectionOutput::Typename(_) => false,
        ConnectionOutput::PageInfo(fields) => fields.iter().any(|(_, field)| match field {
            Selected::Field(PageInfoField::StartCursor | PageInfoField::EndCursor) => true,
            Selected::Field(PageInfoField::HasNextPage) => !plan.page.backward() && plan.page.size().is_some(),
            Selected::Field(PageInfoField::HasPreviousPage) => plan.page.backward(),
            Selected::Typename(_) => false,
        }),
    })
}

fn is_null(value: &Value) -> bool {
    *value == value.as_null()
}
