//! Executes a [`WritePlan`] inside the operation's transaction and reads the written rows back.
//!
//! Inserts and upserts return the new keys with `RETURNING`; updates and deletes first select
//! (and on PostgreSQL lock, `FOR UPDATE`) the keys of the rows they apply to, so the rows a
//! delete returns are read before they go and concurrent writers queue instead of racing.
//! Keys are processed in chunks so bind-parameter limits are never reached.
//!
//! What a write may do is the permission layer's word: [`Access::grant`] gives, for each kind of
//! write of each table, the values it may set, the rows it may touch, the check its rows must
//! pass and the references that must be readable ([`WriteGrant`]); this compiles and runs them.
//! Every statement is compiled through the session's [`Access`], like reads: a target filter
//! gets the role's row filters wherever it reaches another table, targets the role cannot read
//! are NOT_FOUND, and links written through `…Ids` are junction rows inserted and deleted under
//! the junction's own grants (links the caller cannot see stay as they are).

mod checks;
mod insert;
mod links;
mod targets;

use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind, ScalarKind};
use crate::permission::{Access, WriteGrant};
use crate::plan::RowOp;
use crate::plan::write::{
    Assignments, Children, InsertRow, Links, ManyOutput, Returning, Target, WriteAction, WritePlan,
};
use crate::plan::{ConnectionOutput, ConnectionPlan, LookupPlan, OrderKey, Page, Plan, Predicate};
use crate::sql::{Compiler, column};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Query, ReturningClause};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryResult, Value};
use serde_json::Value as Json;

/// Keys per statement when a write or a read-back names rows by key.
const KEYS_PER_STATEMENT: usize = 1000;

type Key = Vec<Value>;

/// Runs `plan` in `transaction`; returns the mutation field's JSON.
pub async fn execute(
    transaction: &DatabaseTransaction,
    registry: &Registry,
    access: &Access,
    plan: &WritePlan,
) -> Result<Json, GatewayError> {
    let backend = transaction.get_database_backend();
    let writer = Writer {
        registry,
        backend,
        entity: plan.entity,
        access,
    };
    let (keys, deleted) = match &plan.kind {
        WriteAction::Insert(rows) => (writer.insert(transaction, rows).await?, None),
        WriteAction::Upsert { row, conflict, update } => {
            (writer.upsert(transaction, row, conflict, update).await?, None)
        }
        WriteAction::Update { target, set, links } => {
            let grant = access.grant(registry, plan.entity, RowOp::Update)?;
            let set = grant.values(set)?;
            let keys = writer.target_keys(transaction, target, grant.target_filter()).await?;
            writer.update(transaction, &keys, &set).await?;
            for link in links {
                writer.replace_links(transaction, &keys, link).await?;
            }
            writer.verify(transaction, &keys, &grant).await?;
            writer
                .verify_references(transaction, &keys, &written_columns([&set]), &grant)
                .await?;
            (keys, None)
        }
        WriteAction::Delete(target) => {
            let grant = access.grant(registry, plan.entity, RowOp::Delete)?;
            let keys = writer.target_keys(transaction, target, grant.target_filter()).await?;
            // Read what goes before it goes.
            let json = writer.read_back(transaction, &keys, &plan.returning).await?;
            writer.delete(transaction, &keys).await?;
            (keys, Some(json))
        }
    };
    match deleted {
        Some(json) => Ok(json),
        None => writer.read_back(transaction, &keys, &plan.returning).await,
    }
}

/// The statements [`execute`] sends for `plan` when the rows it writes or targets have `keys`,
/// labelled, without a database: what the SQL snapshot tests look at. Links (`…Ids`) and
/// children, which run through writers of other tables, are not listed.
#[cfg(test)]
pub(crate) fn statements(
    backend: DbBackend,
    registry: &Registry,
    access: &Access,
    plan: &WritePlan,
    keys: &[Key],
) -> Result<Vec<(&'static str, sea_orm::Statement)>, GatewayError> {
    let writer = Writer {
        registry,
        backend,
        entity: plan.entity,
        access,
    };
    let mut out = Vec::new();
    let checks = |out: &mut Vec<_>, grant: &WriteGrant<'_>, written: &[String]| {
        if let Some(check) = grant.check() {
            out.push(("check", backend.build(&writer.check_select(keys, check))));
        }
        for index in grant.checked_references(written) {
            out.push(("reference", backend.build(&writer.reference_check(keys, index))));
        }
    };
    match &plan.kind {
        WriteAction::Insert(rows) => {
            let grant = access.grant(registry, plan.entity, RowOp::Insert)?;
            let rows = grant.rows(rows)?;
            let columns: Vec<&String> = rows
                .first()
                .map(|row| row.values.iter().map(|(name, _)| name).collect())
                .unwrap_or_default();
            out.push(("insert", backend.build(&writer.insert_statement(&columns, &rows)?)));
            checks(&mut out, &grant, &written_columns(rows.iter().map(|row| &row.values)));
        }
        WriteAction::Upsert { row, conflict, update } => {
            let insert_grant = access.grant(registry, plan.entity, RowOp::Insert)?;
            let update_grant = access.grant(registry, plan.entity, RowOp::Update)?;
            let row = InsertRow {
                values: insert_grant.values(&row.values)?,
                ..row.clone()
            };
            out.push((
                "upsert",
                backend.build(&writer.upsert_statement(&row, conflict, update, update_grant.target_filter())?),
            ));
            let mut written = written_columns([&row.values]);
            written.extend(update.iter().cloned());
            checks(&mut out, &insert_grant, &written);
        }
        WriteAction::Update { target, set, .. } => {
            let grant = access.grant(registry, plan.entity, RowOp::Update)?;
            let set = grant.values(set)?;
            out.push((
                "targets",
                backend.build(&writer.target_select(target, grant.target_filter())?),
            ));
            out.push(("update", backend.build(&writer.update_statement(keys, &set))));
            checks(&mut out, &grant, &written_columns([&set]));
        }
        WriteAction::Delete(target) => {
            let grant = access.grant(registry, plan.entity, RowOp::Delete)?;
            out.push((
                "targets",
                backend.build(&writer.target_select(target, grant.target_filter())?),
            ));
            out.push(("delete", backend.build(&writer.delete_statement(keys))));
        }
    }
    Ok(out)
}

struct Writer<'r> {
    registry: &'r Registry,
    backend: DbBackend,
    entity: EntityId,
    /// What the session may write (and read back).
    access: &'r Access,
}

/// The columns some of `rows` set.
fn written_columns<'a>(rows: impl IntoIterator<Item = &'a Assignments>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for (column, _) in rows.into_iter().flatten() {
        if !columns.contains(column) {
            columns.push(column.clone());
        }
    }
    columns
}

impl Writer<'_> {
    fn meta(&self) -> &crate::metadata::Entity {
        self.registry.entity(self.entity)
    }

    fn table(&self) -> Alias {
        Alias::new(&self.meta().table)
    }

    /// A compiler with the session's access: every table a statement reads is filtered for it.
    fn compiler(&self) -> Compiler<'_> {
        Compiler::new(self.registry, self.backend, self.access)
    }

    fn key_kinds(&self) -> Vec<ScalarKind> {
        let meta = self.meta();
        meta.primary_key
            .iter()
            .map(|name| meta.column(name).expect("key columns exist").kind.clone())
            .collect()
    }

    fn returning_keys(&self) -> ReturningClause {
        Query::returning().columns(self.meta().primary_key.iter().map(Alias::new))
    }

    fn keys_of(&self, rows: &[QueryResult]) -> Result<Vec<Key>, GatewayError> {
        let kinds = self.key_kinds();
        rows.iter()
            .map(|row| {
                kinds
                    .iter()
                    .enumerate()
                    .map(|(index, kind)| read_value(row, index, kind))
                    .collect()
            })
            .collect::<Result<_, DbErr>>()
            .map_err(GatewayError::from)
    }

    /// `(key columns) IN keys`, on the unqualified table of an UPDATE or DELETE.
    fn key_condition(&self, keys: &[Key]) -> Expr {
        self.compiler()
            .key_in(self.entity, &self.meta().primary_key, keys, None)
    }

    /// The bind parameters of one row to insert.
    fn row_values(&self, row: &InsertRow) -> Vec<Expr> {
        let compiler = self.compiler();
        row.values
            .iter()
            .map(|(name, value)| compiler.bind(self.entity, name, value.clone()))
            .collect()
    }

    /// Reads the written rows through the query machinery, as the mutation's selection asks.
    async fn read_back(
        &self,
        transaction: &DatabaseTransaction,
        keys: &[Key],
        returning: &Returning,
    ) -> Result<Json, GatewayError> {
        let meta = self.meta();
        match returning {
            Returning::One(node) => {
                let Some(key) = keys.first() else { return Ok(Json::Null) };
                let lookup = LookupPlan {
                    entity: self.entity,
                    key: meta.primary_key.iter().cloned().zip(key.iter().cloned()).collect(),
                    node: node.clone(),
                };
                let plan = Plan::Lookup(lookup);
                // The written row is returned only as far as the role may read it.
                self.access.check(self.registry, &plan)?;
                crate::database::execute::execute(transaction, self.registry, self.access, &plan).await
            }
            Returning::Many(outputs) => {
                let mut object = serde_json::Map::new();
                for (response_key, output) in outputs {
                    let value = match output {
                        ManyOutput::AffectedRows => Json::from(keys.len()),
                        ManyOutput::Rows(node) => {
                            let mut rows = Vec::with_capacity(keys.len());
                            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                                let plan = Plan::Connection(self.rows_plan(chunk, node.clone()));
                                self.access.check(self.registry, &plan)?;
                                let json =
                                    crate::database::execute::execute(transaction, self.registry, self.access, &plan)
                                        .await?;
                                if let Some(Json::Array(items)) = json.get("rows").cloned() {
                                    rows.extend(items);
                                }
                            }
                            Json::Array(rows)
                        }
                    };
                    object.insert(response_key.clone(), value);
                }
                Ok(Json::Object(object))
            }
        }
    }

    /// A connection over exactly `keys`, in key order, whose nodes are `node`.
    fn rows_plan(&self, keys: &[Key], node: crate::plan::NodePlan) -> ConnectionPlan {
        let meta = self.meta();
        let filter = Predicate::KeyIn {
            columns: meta.primary_key.clone(),
            keys: keys.to_vec(),
        };
        let order = meta.primary_key.iter().map(|name| OrderKey::column(name)).collect();
        ConnectionPlan {
            entity: self.entity,
            filter: Some(filter),
            order,
            order_signature: String::new(),
            page: Page::default(),
            outputs: vec![("rows".to_owned(), ConnectionOutput::Nodes(node))],
        }
    }

    /// A database error of a write, in the API's terms.
    fn explain(&self, error: DbErr, rows: Option<(usize, &[InsertRow])>) -> GatewayError {
        crate::sql::constraint::explain(self.registry, self.entity, error, rows)
    }
}

/// Reads column `index` of a RETURNING/SELECT row as a typed value.
fn read_value(row: &QueryResult, index: usize, kind: &ScalarKind) -> Result<Value, DbErr> {
    Ok(match kind {
        // `Int` columns are int4 or int2 (serial keys of most schemas): the driver decodes each
        // only as its own width.
        ScalarKind::Int => Value::BigInt(Some(
            row.try_get_by_index::<i32>(index)
                .map(i64::from)
                .or_else(|_| row.try_get_by_index::<i16>(index).map(i64::from))
                .or_else(|_| row.try_get_by_index::<i64>(index))?,
        )),
        ScalarKind::BigInt => Value::BigInt(Some(row.try_get_by_index::<i64>(index)?)),
        ScalarKind::String | ScalarKind::Enum { .. } => Value::String(Some(row.try_get_by_index::<String>(index)?)),
        ScalarKind::Uuid => Value::Uuid(Some(row.try_get_by_index(index)?)),
        ScalarKind::Date => Value::ChronoDate(Some(row.try_get_by_index(index)?)),
        ScalarKind::DateTime => Value::ChronoDateTimeWithTimeZone(Some(row.try_get_by_index(index)?)),
        ScalarKind::Decimal { .. } => Value::Decimal(Some(row.try_get_by_index(index)?)),
        ScalarKind::Boolean => Value::Bool(Some(row.try_get_by_index(index)?)),
        ScalarKind::Float => Value::Double(Some(row.try_get_by_index(index)?)),
        ScalarKind::Json => Value::Json(Some(Box::new(row.try_get_by_index(index)?))),
        ScalarKind::Bytes => Value::Bytes(Some(row.try_get_by_index(index)?)),
        // Keys are what this reads; no key is a list.
        ScalarKind::Array { .. } | ScalarKind::Textual { .. } => {
            return Err(DbErr::Custom(format!(
                "a {kind:?} column is not a key the gateway can read back"
            )));
        }
    })
}

/// A value as a person would write it in a message.
pub(super) fn display(value: &Value) -> String {
    match value {
        Value::String(Some(text)) => format!("\"{text}\""),
        Value::BigInt(Some(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}
