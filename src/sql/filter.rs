//! Predicates (the filter language) as SQL conditions on a table alias.
//!
//! Conditions on related rows are correlated `EXISTS` subqueries; a condition "matches" only when
//! it is TRUE, so `not` and `every` treat an unknown (NULL) comparison as not matching.

use super::{Compiler, column, dialect::like_to_glob};
use crate::metadata::{EntityId, RelationKind, ScalarKind};
use crate::plan::{Comparison, Predicate, Quantifier, TextMatch};
use sea_orm::Value;
use sea_orm::sea_query::extension::postgres::PgBinOper;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

impl Compiler<'_> {
    /// `predicate` as a condition on the rows of `entity` aliased `alias`.
    pub(crate) fn predicate(&mut self, entity: EntityId, predicate: &Predicate, alias: &str) -> Expr {
        match predicate {
            Predicate::And(parts) | Predicate::Or(parts) => {
                let all = matches!(predicate, Predicate::And(_));
                let parts: Vec<Expr> = parts.iter().map(|part| self.predicate(entity, part, alias)).collect();
                self.dialect.join(all, parts)
            }
            Predicate::Not(inner) => {
                let inner = self.predicate(entity, inner, alias);
                self.dialect.template("({}) IS NOT TRUE", vec![inner])
            }
            Predicate::Json { column: name, test } => self.json_test(column(alias, name), test),
            Predicate::Compare {
                column: name,
                operator,
                value,
            } => {
                let left = match self.registry.entity(entity).column(name).map(|column| &column.kind) {
                    // The entity's element type may be `varchar` where the column's is `text` (the
                    // array operators want both sides of one type): compare as the cast-to type.
                    Some(ScalarKind::Array { sql_type, .. }) => self
                        .dialect
                        .template(&format!("CAST({{}} AS {sql_type})"), vec![column(alias, name)]),
                    _ => column(alias, name),
                };
                let right = self.bind(entity, name, value.clone());
                compare(left, *operator, right)
            }
            Predicate::In {
                column: name,
                values,
                negated,
            } => {
                if values.is_empty() {
                    return Expr::cust(if *negated { "TRUE" } else { "FALSE" });
                }
                let values: Vec<Expr> = values
                    .iter()
                    .map(|value| self.bind(entity, name, value.clone()))
                    .collect();
                if *negated {
                    column(alias, name).is_not_in(values)
                } else {
                    column(alias, name).is_in(values)
                }
            }
            Predicate::KeyIn { columns, keys } => self.key_in(entity, columns, keys, Some(alias)),
            Predicate::IsNull { column: name, is_null } => {
                if *is_null {
                    column(alias, name).is_null()
                } else {
                    column(alias, name).is_not_null()
                }
            }
            // A plain text column is searched through `to_tsvector` (or SQLite's fallback); a
            // search document (`tsvector`) is matched as it is.
            Predicate::Text {
                column: name,
                operator: TextMatch::Search,
                value,
            } if self
                .registry
                .entity(entity)
                .column(name)
                .is_some_and(|column| column.kind == ScalarKind::String) =>
            {
                self.search_text(entity, alias, name, value)
            }
            Predicate::Text {
                column: name,
                operator,
                value,
            } => self.text_match(column(alias, name), *operator, value),
            Predicate::Related {
                relation,
                quantifier,
                predicate,
            } => {
                let meta = &self.registry.entity(entity).relations[*relation];
                let target = meta.target;
                let child = self.alias();
                let link = self.related_condition(entity, *relation, alias, &child);
                let inner = self.predicate(target, predicate, &child);
                let condition = match quantifier {
                    Quantifier::Every => link.and(self.dialect.template("({}) IS NOT TRUE", vec![inner])),
                    _ => link.and(inner),
                };
                let rows = Query::select()
                    .expr(Expr::cust("1"))
                    .from_as(Alias::new(&self.registry.entity(target).table), Alias::new(&child))
                    .and_where(condition)
                    .take();
                match quantifier {
                    Quantifier::One | Quantifier::Some => Expr::exists(rows),
                    Quantifier::None | Quantifier::Every => Expr::not_exists(rows),
                }
            }
        }
    }

    fn text_match(&self, left: Expr, operator: TextMatch, value: &str) -> Expr {
        let postgres = self.dialect.postgres();
        let value_expr = || Expr::val(value);
        match (operator, postgres) {
            (TextMatch::Like, true) => self.dialect.template("{} LIKE {}", vec![left, value_expr()]),
            (TextMatch::Like, false) => self
                .dialect
                .template("{} GLOB {}", vec![left, Expr::val(like_to_glob(value))]),
            (TextMatch::ILike, true) => self.dialect.template("{} ILIKE {}", vec![left, value_expr()]),
            // SQLite's LIKE ignores ASCII case, as ILIKE does.
            (TextMatch::ILike, false) => self
                .dialect
                .template("{} LIKE {} ESCAPE '\\'", vec![left, value_expr()]),
            (TextMatch::StartsWith, true) => self.dialect.template("starts_with({}, {})", vec![left, value_expr()]),
            (TextMatch::StartsWith, false) => self
                .dialect
                .template("substr({}, 1, length({})) = {}", vec![left, value_expr(), value_expr()]),
            (TextMatch::Contains, true) => self.dialect.template("strpos({}, {}) > 0", vec![left, value_expr()]),
            (TextMatch::Contains, false) => self.dialect.template("instr({}, {}) > 0", vec![left, value_expr()]),
            (TextMatch::Search, _) => self
                .dialect
                .template("{} @@ websearch_to_tsquery({})", vec![left, value_expr()]),
        }
    }

    /// `(columns) IN (keys)` as one row-value comparison (a flat list, however many keys), on the
    /// rows of `alias` or, with `None`, on the unqualified table of an UPDATE or DELETE.
    pub(crate) fn key_in(
        &self,
        entity: EntityId,
        columns: &[String],
        keys: &[Vec<Value>],
        alias: Option<&str>,
    ) -> Expr {
        if keys.is_empty() {
            return Expr::cust("FALSE");
        }
        let reference = |name: &str| match alias {
            Some(alias) => column(alias, name),
            None => Expr::col(Alias::new(name)),
        };
        let tuple = |key: &Vec<Value>| -> Expr {
            let values: Vec<Expr> = columns
                .iter()
                .zip(key)
                .map(|(name, value)| self.bind(entity, name, value.clone()))
                .collect();
            if values.len() == 1 {
                values.into_iter().next().expect("one value")
            } else {
                Expr::tuple(values)
            }
        };
        let left = if columns.len() == 1 {
            reference(&columns[0])
        } else {
            Expr::tuple(columns.iter().map(|name| reference(name)))
        };
        left.is_in(keys.iter().map(tuple))
    }

    /// A bind parameter for a value compared with `entity.column` (PostgreSQL enums need a cast).
    pub(crate) fn bind(&self, entity: EntityId, column_name: &str, value: Value) -> Expr {
        let kind = self
            .registry
            .entity(entity)
            .column(column_name)
            .map(|column| &column.kind);
        self.bind_kind(kind, value)
    }

    pub(super) fn bind_kind(&self, kind: Option<&ScalarKind>, value: Value) -> Expr {
        match kind {
            Some(kind) => self.dialect.input(kind, value),
            None => Expr::val(value),
        }
    }

    /// The join condition between a row of `entity` (aliased `parent`) and the rows of its
    /// relation's target (aliased `child`).
    pub(super) fn related_condition(&mut self, entity: EntityId, relation: usize, parent: &str, child: &str) -> Expr {
        let link = self.join_condition(entity, relation, parent, child);
        let target = self.registry.entity(entity).relations[relation].target;
        match self.visible(target, child) {
            Some(visible) => link.and(visible),
            None => link,
        }
    }

    /// The join itself, without the target's row filter.
    pub(crate) fn join_condition(&mut self, entity: EntityId, relation: usize, parent: &str, child: &str) -> Expr {
        let meta = self.registry.entity(entity).relations[relation].clone();
        match &meta.kind {
            RelationKind::ManyToOne | RelationKind::OneToMany => meta
                .from_columns
                .iter()
                .zip(&meta.to_columns)
                .map(|(from, to)| column(child, to).equals((Alias::new(parent), Alias::new(from))))
                .reduce(ExprTrait::and)
                .unwrap_or_else(|| Expr::cust("FALSE")),
            RelationKind::ManyToMany {
                junction,
                junction_from,
                junction_to,
            } => {
                let link = self.alias();
                let mut condition = Vec::new();
                for (junction_column, target_column) in junction_to.iter().zip(&meta.to_columns) {
                    condition
                        .push(column(&link, junction_column).equals((Alias::new(child), Alias::new(target_column))));
                }
                for (junction_column, parent_column) in junction_from.iter().zip(&meta.from_columns) {
                    condition
                        .push(column(&link, junction_column).equals((Alias::new(parent), Alias::new(parent_column))));
                }
                if let Some(visible) = self.visible(*junction, &link) {
                    condition.push(visible);
                }
                let rows = Query::select()
                    .expr(Expr::cust("1"))
                    .from_as(Alias::new(&self.registry.entity(*junction).table), Alias::new(&link))
                    .and_where(
                        condition
                            .into_iter()
                            .reduce(ExprTrait::and)
                            .unwrap_or_else(|| Expr::cust("FALSE")),
                    )
                    .take();
                Expr::exists(rows)
            }
        }
    }
}

/// `left operator right`.
pub(super) fn compare(left: Expr, operator: Comparison, right: Expr) -> Expr {
    match operator {
        Comparison::Eq => left.eq(right),
        Comparison::Ne => left.ne(right),
        Comparison::Gt => left.gt(right),
        Comparison::Gte => left.gte(right),
        Comparison::Lt => left.lt(right),
        Comparison::Lte => left.lte(right),
        Comparison::Contains => left.binary(PgBinOper::Contains, right),
        Comparison::ContainedBy => left.binary(PgBinOper::Contained, right),
        Comparison::Overlaps => left.binary(PgBinOper::Overlap, right),
    }
}
