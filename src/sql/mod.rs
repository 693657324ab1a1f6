//! The executor: compiles a [`Plan`](crate::plan::Plan) into one parameterized statement in which
//! the database builds the whole nested result as JSON, runs it, and returns the parsed JSON.
//!
//! One statement per root field, whatever the depth: to-one relations are correlated scalar
//! subqueries, to-many relations are correlated subqueries that filter, order and page per parent
//! inside the SQL (keyset conditions for cursors, `LIMIT n + 1` to learn whether another page
//! exists). The SQL is built with sea-query; every value is a bind parameter.

pub mod change;
mod constraint;
mod dialect;
mod filter;
#[cfg(test)]
mod golden;
mod select;
pub mod write;

pub use dialect::Dialect;

use crate::error::GatewayError;
use crate::metadata::Registry;
use crate::permission::Access;
use crate::plan::{Plan, Predicate};
use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Turns plans into SQL for one backend, naming table aliases uniquely within a statement.
pub struct Compiler<'r> {
    registry: &'r Registry,
    dialect: Dialect,
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
    fn visible(&mut self, entity: crate::metadata::EntityId, alias: &str) -> Option<Expr> {
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
    fn readable_rows(&mut self, entity: crate::metadata::EntityId, alias: &str) -> Option<Expr> {
        if !self.access.readable(entity) {
            return Some(Expr::cust("FALSE"));
        }
        self.visible(entity, alias)
    }

    /// A policy's own predicate (a rule's filter or check) on the rows of `entity` aliased `alias`:
    /// the policy decides what its rules mean, so its predicates are not narrowed again.
    fn policy_predicate(&mut self, entity: crate::metadata::EntityId, predicate: &Predicate, alias: &str) -> Expr {
        let outer = std::mem::replace(&mut self.in_row_filter, true);
        let condition = self.predicate(entity, predicate, alias);
        self.in_row_filter = outer;
        condition
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    /// The statement that returns the plan's JSON as text in one row and column.
    pub fn compile(&mut self, plan: &Plan) -> SelectStatement {
        let json = match plan {
            Plan::Connection(connection) => select::subquery(self.connection(connection, None)),
            Plan::Lookup(lookup) => select::subquery(self.lookup(lookup)),
            Plan::Aggregate(aggregate) => select::subquery(self.aggregate(aggregate)),
        };
        Query::select()
            .expr_as(self.dialect.as_text(json), Alias::new("result"))
            .take()
    }
}

/// Compiles and runs `plan`, returning its JSON (`null` for a lookup that found nothing).
pub async fn execute(
    connection: &impl ConnectionTrait,
    registry: &Registry,
    access: &Access,
    plan: &Plan,
) -> Result<serde_json::Value, GatewayError> {
    let backend = connection.get_database_backend();
    read(connection, statement(backend, registry, access, plan), None).await
}

/// The statement that reads `plan` for a session with `access`.
pub fn statement(backend: DbBackend, registry: &Registry, access: &Access, plan: &Plan) -> Statement {
    backend.build(&Compiler::new(registry, backend, access).compile(plan))
}

/// The bytes of JSON one operation's root fields may still read from the database
/// (`GATEWAY_MAX_RESPONSE_BYTES`), shared by the fields of one operation, and charged to the
/// process's [`ResponseMemory`] until the operation's budget is dropped.
#[derive(Debug)]
pub struct ResponseBudget {
    limit: usize,
    used: AtomicUsize,
    memory: Option<Arc<ResponseMemory>>,
    /// What this budget holds of `memory`.
    held: AtomicUsize,
}

/// The bytes of answers every operation in flight holds together
/// (`GATEWAY_MAX_RESPONSE_BYTES_TOTAL`): a burst of large answers is refused with `OVERLOADED`
/// (retryable) instead of growing the process without bound.
#[derive(Debug)]
pub struct ResponseMemory {
    limit: usize,
    used: AtomicUsize,
}

impl ResponseMemory {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Counts the `bytes` of an answer already made (never refused: it exists) until the guard
    /// drops — a response body, until it has been sent.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> HeldMemory {
        self.used.fetch_add(bytes, Ordering::Relaxed);
        HeldMemory {
            memory: self.clone(),
            bytes,
        }
    }

    /// Counts the `bytes` of an answer about to be kept (a live result waiting in a subscriber's
    /// queue) until the guard drops; refused past the limit.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Result<HeldMemory, GatewayError> {
        self.take(bytes)?;
        Ok(HeldMemory {
            memory: self.clone(),
            bytes,
        })
    }

    fn take(&self, bytes: usize) -> Result<(), GatewayError> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit {
                return Err(GatewayError::MemoryExhausted(self.limit));
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => used = current,
            }
        }
    }
}

/// Bytes held in a [`ResponseMemory`] until dropped.
#[derive(Debug)]
pub struct HeldMemory {
    memory: Arc<ResponseMemory>,
    bytes: usize,
}

impl Drop for HeldMemory {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl ResponseBudget {
    /// A budget of `limit` bytes for one operation, alone (`memory: None`) or charged to the
    /// process's total.
    pub fn new(limit: usize, memory: Option<Arc<ResponseMemory>>) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
            memory,
            held: AtomicUsize::new(0),
        }
    }

    /// Counts `bytes` against the budget; refuses once the operation's answers exceed it, or
    /// the answers of all operations in flight exceed the process's.
    pub fn charge(&self, bytes: usize) -> Result<(), GatewayError> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.limit {
            return Err(GatewayError::LimitExceeded(format!(
                "the answer is larger than {} bytes (GATEWAY_MAX_RESPONSE_BYTES): ask for smaller pages or fewer fields",
                self.limit
            )));
        }
        if let Some(memory) = &self.memory {
            memory.take(bytes)?;
            self.held.fetch_add(bytes, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Drop for ResponseBudget {
    fn drop(&mut self) {
        if let Some(memory) = &self.memory {
            memory.used.fetch_sub(*self.held.get_mut(), Ordering::Relaxed);
        }
    }
}

/// Runs a statement made by [`statement`] and parses the JSON it returns.
pub async fn run(connection: &impl ConnectionTrait, statement: Statement) -> Result<serde_json::Value, GatewayError> {
    read(connection, statement, None).await
}

async fn read(
    connection: &impl ConnectionTrait,
    statement: Statement,
    budget: Option<&ResponseBudget>,
) -> Result<serde_json::Value, GatewayError> {
    let text = fetch(statement, budget, async |statement| {
        let row = connection
            .query_one_raw(statement)
            .await?
            .ok_or(GatewayError::Internal)?;
        Ok(row.try_get_by_index(0)?)
    })
    .await?;
    parse(text)
}

/// Runs `statement` through `reader` (see [`crate::database::Reader::read_text`]: an abandoned
/// read stops its statement): traced, bounded in parameters, timed and charged to `budget`. The
/// text is the field's JSON as the response carries it.
pub async fn fetch_text(
    reader: &crate::database::Reader<'_>,
    statement: Statement,
    budget: Option<&ResponseBudget>,
    warm: Option<&crate::database::warm::Warm>,
) -> Result<Option<String>, GatewayError> {
    fetch(statement, budget, async |statement| {
        Ok(reader.read_text(statement, warm).await?)
    })
    .await
}

/// Runs `statement` with `fetch`, which returns the one text value it builds: traced, bounded in
/// parameters, timed and charged to `budget`.
async fn fetch(
    statement: Statement,
    budget: Option<&ResponseBudget>,
    fetch: impl AsyncFnOnce(Statement) -> Result<Option<String>, GatewayError>,
) -> Result<Option<String>, GatewayError> {
    tracing::debug!(target: "gateway::sql", sql = %statement.sql, "statement");
    within_parameter_limit(&statement)?;
    let started = std::time::Instant::now();
    let text = fetch(statement).await?;
    crate::server::metrics::statement(started.elapsed().as_secs_f64());
    if let (Some(budget), Some(text)) = (budget, &text) {
        budget.charge(text.len())?;
    }
    Ok(text)
}

/// Most bind parameters one PostgreSQL statement may carry (the wire protocol counts them in 16 bits).
const MAX_PARAMETERS: usize = 65_535;

/// Refuses a statement the database would refuse for its number of parameters (many long `in`
/// lists, say) with a coded error instead of a driver failure.
fn within_parameter_limit(statement: &Statement) -> Result<(), GatewayError> {
    let count = statement.values.as_ref().map_or(0, |values| values.0.len());
    if count > MAX_PARAMETERS {
        return Err(GatewayError::LimitExceeded(format!(
            "the query needs {count} values, more than the database accepts in one statement ({MAX_PARAMETERS}): \
             use fewer or shorter `in` lists"
        )));
    }
    Ok(())
}

/// The JSON text a statement returned, parsed.
pub fn parse(text: Option<String>) -> Result<serde_json::Value, GatewayError> {
    let _shape = tracing::debug_span!("shape", bytes = text.as_ref().map_or(0, String::len)).entered();
    match text {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(&text).map_err(|error| {
            tracing::error!(%error, "the database returned JSON that does not parse");
            GatewayError::Internal
        }),
    }
}

/// `alias.column`.
fn column(alias: &str, column: &str) -> Expr {
    Expr::col((Alias::new(alias), Alias::new(column)))
}
