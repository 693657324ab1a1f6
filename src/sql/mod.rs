//! The compiler: turns a [`Plan`](crate::plan::Plan) into one parameterized statement in which
//! the database builds the whole nested result as JSON. Running it is the database layer's
//! ([`crate::database::execute`]); nothing here touches a connection.
//!
//! One statement per root field, whatever the depth: to-one relations are correlated scalar
//! subqueries, to-many relations are correlated subqueries that filter, order and page per parent
//! inside the SQL (keyset conditions for cursors, `LIMIT n + 1` to learn whether another page
//! exists). The SQL is built with sea-query; every value is a bind parameter.

pub mod change;
pub(crate) mod constraint;
mod dialect;
mod filter;
mod group;
mod json;
mod search;
mod select;

pub use dialect::Dialect;

use crate::metadata::Registry;
use crate::permission::Access;
use crate::plan::{Plan, Predicate};
use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{DbBackend, Statement};

/// Turns plans into SQL for one backend, naming table aliases uniquely within a statement.
pub struct Compiler<'r> {
    registry: &'r Registry,
    pub(crate) dialect: Dialect,
    aliases: usize,
    /// What the session may read: its row filters are added wherever a table is read.
    access: &'r Access,
    /// Set while a row filter itself is compiled: a policy's filter is not filtered again.
    in_row_filter: bool,
}

impl<'r> Compiler<'r> {
    pub fn new(registry: &'r Registry, backend: DbBackend, access: &'r Access) -> Self {
        Self {
            registry,
            dialect: Dialect { backend },
            aliases: 0,
            access,
            in_row_filter: false,
        }
    }

    /// The session's row filter for the rows of `entity` aliased `alias`, if it has one.
    pub(crate) fn visible(&mut self, entity: crate::metadata::EntityId, alias: &str) -> Option<Expr> {
        if self.in_row_filter {
            return None;
        }
        let filter = self.access.row_filter(entity)?.clone();
        self.in_row_filter = true;
        let condition = self.predicate(entity, &filter, alias);
        self.in_row_filter = false;
        Some(condition)
    }

    /// The rows of `entity` (aliased `alias`) a write may reach for the session: none of a table it
    /// may not read at all, else those its row filter lets through (`None`: every row).
    pub(crate) fn readable_rows(&mut self, entity: crate::metadata::EntityId, alias: &str) -> Option<Expr> {
        if !self.access.readable(entity) {
            return Some(Expr::cust("FALSE"));
        }
        self.visible(entity, alias)
    }

    /// A policy's own predicate (a rule's filter or check) on the rows of `entity` aliased `alias`:
    /// the policy decides what its rules mean, so its predicates are not narrowed again.
    pub(crate) fn policy_predicate(
        &mut self,
        entity: crate::metadata::EntityId,
        predicate: &Predicate,
        alias: &str,
    ) -> Expr {
        let outer = std::mem::replace(&mut self.in_row_filter, true);
        let condition = self.predicate(entity, predicate, alias);
        self.in_row_filter = outer;
        condition
    }

    pub(crate) fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The statement that returns the plan's JSON as text in one row and column.
    pub fn compile(&mut self, plan: &Plan) -> SelectStatement {
        let json = match plan {
            Plan::Connection(connection) => select::subquery(self.connection(connection, None)),
            Plan::Lookup(lookup) => select::subquery(self.lookup(lookup)),
            Plan::Aggregate(aggregate) => select::subquery(self.aggregate(aggregate, None)),
        };
        Query::select()
            .expr_as(self.dialect.as_text(json), Alias::new("result"))
            .take()
    }
}

/// The statement that reads `plan` for a session with `access`.
pub fn statement(backend: DbBackend, registry: &Registry, access: &Access, plan: &Plan) -> Statement {
    backend.build(&Compiler::new(registry, backend, access).compile(plan))
}

/// `alias.column`.
pub(crate) fn column(alias: &str, column: &str) -> Expr {
    Expr::col((Alias::new(alias), Alias::new(column)))
}
