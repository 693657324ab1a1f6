//! `gateway import`: one transaction, tables in the file's (dependency) order, PostgreSQL `COPY`
//! (multi-row INSERTs on SQLite and for `--upsert` merges); any fault rolls everything back and
//! names the line.
//!
//! A batch that the database refuses (a missing parent row, a value out of the column's range)
//! is retried row by row inside savepoints, so the error can name the offending line.

use super::export::progress;
use super::{FORMAT, Header, TableHeader, TransferError, VERSION, file, table_header};
use crate::metadata::{Entity, EntityId, Registry, ScalarKind};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, PostgresQueryBuilder, Query, QueryStatementWriter};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait, Value};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

/// What to do with rows already in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Refuse unless every table is empty.
    IntoEmpty,
    /// Delete every row of the file's tables first.
    Truncate,
    /// Insert, or update the row with the same primary key.
    Upsert,
}

/// What an import wrote.
#[derive(Debug)]
pub struct ImportReport {
    pub rows: Vec<(String, u64)>,
    pub elapsed: Duration,
    /// Tables whose change feed stayed silent (`--truncate`): their subscribers were not told.
    pub silenced: Vec<String>,
}

/// One parsed row, with the line it came from.
struct Row {
    line: u64,
    values: Vec<Value>,
}

fn at(line: u64, reason: impl Into<String>) -> TransferError {
    TransferError::Line {
        line,
        reason: reason.into(),
    }
}

/// Reads `path` (`-`: standard input) into the database in one transaction.
pub async fn import(
    connection: &DatabaseConnection,
    registry: &Registry,
    path: &Path,
    mode: ImportMode,
) -> Result<ImportReport, TransferError> {
    let started = Instant::now();
    let mut lines = Lines {
        inner: file::open(path)?.lines(),
        number: 0,
    };
    let header_line = lines.next()?.ok_or_else(|| at(1, "the file is empty"))?;
    let header: Header =
        serde_json::from_str(&header_line).map_err(|error| at(1, format!("not a gateway export header: {error}")))?;
    if header.format != FORMAT {
        return Err(at(1, format!("format `{}` is not `{FORMAT}`", header.format)));
    }
    if header.version != VERSION {
        return Err(at(
            1,
            format!(
                "unknown format version {} (this gateway reads version {VERSION})",
                header.version
            ),
        ));
    }
    let entities = match_tables(registry, &header.tables)?;

    let mut sink = Sink::open(connection, mode).await?;
    let mut silenced = Vec::new();
    match mode {
        ImportMode::IntoEmpty => {
            for &entity in &entities {
                let table = &registry.entity(entity).table;
                let probe = Query::select()
                    .expr(Expr::val(1))
                    .from(Alias::new(table))
                    .limit(1)
                    .to_owned();
                if sink.has_rows(&probe).await? {
                    return Err(TransferError::NotEmpty { table: table.clone() });
                }
            }
        }
        ImportMode::Truncate => {
            // Replacing a table is not a stream of changes: its change feed stays silent for the
            // import (one log row and notification per row made it several times slower, and what
            // subscribers should make of it was unspecified), in the same transaction.
            for &entity in &entities {
                if sink.silence(registry.entity(entity)).await? {
                    silenced.push(entity);
                }
            }
            for &entity in entities.iter().rev() {
                let delete = Query::delete()
                    .from_table(Alias::new(&registry.entity(entity).table))
                    .to_owned();
                sink.run(&delete).await?;
            }
        }
        ImportMode::Upsert => {}
    }

    let positions: HashMap<&str, usize> = header
        .tables
        .iter()
        .enumerate()
        .map(|(index, table)| (table.name.as_str(), index))
        .collect();
    let mut counts = vec![0u64; header.tables.len()];
    let mut current: Option<usize> = None;
    let mut batch: Vec<Row> = Vec::new();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let end = loop {
        let Some(text) = lines.next()? else {
            return Err(at(
                lines.number,
                "the file ends without its end line: it was cut off (nothing was imported)",
            ));
        };
        let line = lines.number;
        let json: Map<String, Json> =
            serde_json::from_str(&text).map_err(|error| at(line, format!("not a JSON object: {error}")))?;
        if let Some(end) = json.get("end") {
            // Nothing may follow (and reading on lets a compressed stream verify its checksum).
            while let Some(rest) = lines.next()? {
                if !rest.trim().is_empty() {
                    return Err(at(lines.number, "data after the end line"));
                }
            }
            break end.clone();
        }
        let table = json
            .get("table")
            .and_then(Json::as_str)
            .ok_or_else(|| at(line, "a row line needs `table` and `row`"))?;
        let index = *positions
            .get(table)
            .ok_or_else(|| at(line, format!("table `{table}` is not in the header")))?;
        if current != Some(index) {
            if current.is_some_and(|current| index < current) {
                return Err(at(
                    line,
                    format!("rows of `{table}` come after rows of a later table; the file is out of order"),
                ));
            }
            if let Some(previous) = current {
                sink.write(registry.entity(entities[previous]), mode, &mut batch)
                    .await?;
            }
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            current = Some(index);
            bar = Some(progress(table, header.tables[index].rows));
        }
        let entity = registry.entity(entities[index]);
        let row = json
            .get("row")
            .and_then(Json::as_object)
            .ok_or_else(|| at(line, "a row line needs `table` and `row`"))?;
        batch.push(Row {
            line,
            values: parse_row(entity, row, line)?,
        });
        counts[index] += 1;
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if batch.len() >= sink.batch_size(entity) {
            sink.write(entity, mode, &mut batch).await?;
        }
    };
    if let Some(previous) = current {
        sink.write(registry.entity(entities[previous]), mode, &mut batch)
            .await?;
    }
    if let Some(bar) = bar.take() {
        bar.finish_and_clear();
    }
    let declared: BTreeMap<String, u64> = serde_json::from_value(end.get("rows").cloned().unwrap_or(Json::Null))
        .map_err(|error| at(lines.number, format!("the end line needs `rows`: {error}")))?;
    for (table, count) in header.tables.iter().zip(&counts) {
        let expected = declared.get(&table.name).copied().unwrap_or(0);
        if expected != *count {
            return Err(at(
                lines.number,
                format!(
                    "the end line counts {expected} rows of `{}` but the file holds {count}",
                    table.name
                ),
            ));
        }
    }
    if connection.get_database_backend() == DbBackend::Postgres {
        for &entity in &entities {
            if let Some(statement) = reset_sequence(registry.entity(entity)) {
                sink.run(&statement).await?;
            }
        }
    }
    for &entity in &silenced {
        sink.announce(registry.entity(entity)).await?;
    }
    sink.commit().await?;
    Ok(ImportReport {
        silenced: silenced
            .iter()
            .map(|entity| registry.entity(*entity).table.clone())
            .collect(),
        rows: header
            .tables
            .iter()
            .zip(counts)
            .map(|(table, count)| (table.name.clone(), count))
            .collect(),
        elapsed: started.elapsed(),
    })
}

/// The file's lines, numbered from 1.
struct Lines {
    inner: std::io::Lines<Box<dyn BufRead>>,
    number: u64,
}

impl Lines {
    fn next(&mut self) -> Result<Option<String>, TransferError> {
        self.number += 1;
        match self.inner.next() {
            None => Ok(None),
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(error)) => Err(at(self.number, format!("cannot be read: {error}"))),
        }
    }
}

/// The registry entity of each header table; refuses a table or column this schema lacks.
fn match_tables(registry: &Registry, tables: &[TableHeader]) -> Result<Vec<EntityId>, TransferError> {
    tables
        .iter()
        .map(|table| {
            let entity = registry
                .entity_by_table(&table.name)
                .ok_or_else(|| at(1, format!("table `{}` is not in this gateway's schema", table.name)))?;
            let ours = table_header(registry, entity, table.rows);
            if ours.columns != table.columns || ours.primary_key != table.primary_key {
                let describe = |header: &TableHeader| {
                    header
                        .columns
                        .iter()
                        .map(|column| {
                            format!(
                                "{} {}{}",
                                column.name,
                                column.kind,
                                if column.nullable { "" } else { " not null" }
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(at(
                    1,
                    format!(
                        "table `{}` differs: the file has ({}), this schema has ({})",
                        table.name,
                        describe(table),
                        describe(&ours)
                    ),
                ));
            }
            Ok(entity)
        })
        .collect()
}

/// The columns an import writes: all but the computed ones, which the database fills.
fn written(entity: &Entity) -> impl Iterator<Item = &crate::metadata::Column> {
    entity.columns.iter().filter(|column| !column.computed)
}

/// A row's values in the order of [`written`], parsed with the API's input rules.
fn parse_row(entity: &Entity, row: &Map<String, Json>, line: u64) -> Result<Vec<Value>, TransferError> {
    if let Some(unknown) = row.keys().find(|name| entity.column(name).is_none()) {
        return Err(at(line, format!("`{}` has no column `{unknown}`", entity.table)));
    }
    written(entity)
        .map(|column| {
            let path = format!("{}.{}", entity.table, column.name);
            match row.get(&column.name).unwrap_or(&Json::Null) {
                Json::Null if column.nullable => Ok(crate::plan::null_value(&column.kind)),
                Json::Null => Err(at(line, format!("{path}: a value is required"))),
                value => {
                    let value = async_graphql::Value::from_json(value.clone())
                        .map_err(|error| at(line, format!("{path}: {error}")))?;
                    crate::plan::parse_scalar(&column.kind, &value, &path).map_err(|error| at(line, error.to_string()))
                }
            }
        })
        .collect()
}

/// Where the rows go, in one transaction: multi-row INSERTs through sea-orm (SQLite, and merges
/// with `--upsert`), or PostgreSQL `COPY` on a connection of the pool.
enum Sink {
    Insert(DatabaseTransaction),
    Copy(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Rows per COPY; a refused COPY is retried row by row, so this also bounds that search.
const COPY_BATCH: usize = 5_000;

impl Sink {
    async fn open(connection: &DatabaseConnection, mode: ImportMode) -> Result<Self, TransferError> {
        let postgres = connection.get_database_backend() == DbBackend::Postgres;
        // A large import may take longer than a query is allowed to.
        let unlimited = "SET LOCAL statement_timeout = 0";
        if postgres && mode != ImportMode::Upsert {
            let mut transaction = connection.get_postgres_connection_pool().begin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(unlimited))
                .execute(&mut *transaction)
                .await?;
            return Ok(Self::Copy(transaction));
        }
        let transaction = connection.begin().await?;
        if postgres {
            transaction.execute_unprepared(unlimited).await?;
        }
        Ok(Self::Insert(transaction))
    }

    /// Runs a statement the import built from table and column names (never from the file).
    async fn run<S: QueryStatementWriter + sea_orm::StatementBuilder>(
        &mut self,
        statement: &S,
    ) -> Result<(), TransferError> {
        match self {
            Self::Insert(transaction) => {
                transaction.execute(statement).await?;
            }
            Self::Copy(transaction) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string(PostgresQueryBuilder)))
                    .execute(&mut **transaction)
                    .await?;
            }
        }
        Ok(())
    }

    async fn has_rows(&mut self, probe: &sea_orm::sea_query::SelectStatement) -> Result<bool, TransferError> {
        Ok(match self {
            Self::Insert(transaction) => transaction.query_one(probe).await?.is_some(),
            Self::Copy(transaction) => sqlx::raw_sql(sqlx::AssertSqlSafe(probe.to_string(PostgresQueryBuilder)))
                .fetch_optional(&mut **transaction)
                .await?
                .is_some(),
        })
    }

    fn batch_size(&self, entity: &Entity) -> usize {
        match self {
            // Bounded by the bind parameters one statement may carry.
            Self::Insert(_) => (20_000 / entity.columns.len().max(1)).clamp(1, 1000),
            Self::Copy(_) => COPY_BATCH,
        }
    }

    /// Writes the batch; a refused batch is retried row by row to name the failing line.
    async fn write(&mut self, meta: &Entity, mode: ImportMode, batch: &mut Vec<Row>) -> Result<(), TransferError> {
        if batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(batch);
        match self {
            Self::Insert(transaction) => insert_rows(transaction, meta, mode, &rows).await,
            Self::Copy(transaction) => copy_rows(transaction, meta, &rows).await,
        }
    }

    /// Stops the change-feed trigger of `meta`'s table until [`Sink::announce`] (in this
    /// transaction: nobody else ever sees it stopped); false when the table has none.
    async fn silence(&mut self, meta: &Entity) -> Result<bool, TransferError> {
        let table = &meta.table;
        match self {
            Self::Insert(transaction) => {
                if !change_feed::is_tracked(transaction, table).await? {
                    return Ok(false);
                }
                if transaction.get_database_backend() == DbBackend::Postgres {
                    transaction
                        .execute_unprepared(&change_feed::postgres_switch(table, false))
                        .await?;
                } else {
                    change_feed::untrack(transaction, table).await?;
                }
                Ok(true)
            }
            Self::Copy(transaction) => {
                let tracked = sqlx::query(change_feed::POSTGRES_TRACKED)
                    .bind(table)
                    .fetch_optional(&mut **transaction)
                    .await?
                    .is_some();
                if tracked {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(change_feed::postgres_switch(table, false)))
                        .execute(&mut **transaction)
                        .await?;
                }
                Ok(tracked)
            }
        }
    }

    /// Starts the change-feed trigger [`Sink::silence`] stopped again.
    async fn announce(&mut self, meta: &Entity) -> Result<(), TransferError> {
        let table = &meta.table;
        match self {
            Self::Insert(transaction) if transaction.get_database_backend() == DbBackend::Postgres => {
                transaction
                    .execute_unprepared(&change_feed::postgres_switch(table, true))
                    .await?;
            }
            Self::Insert(transaction) => {
                let key: Vec<&str> = meta.primary_key.iter().map(String::as_str).collect();
                change_feed::track(transaction, table, &key).await?;
            }
            Self::Copy(transaction) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(change_feed::postgres_switch(table, true)))
                    .execute(&mut **transaction)
                    .await?;
            }
        }
        Ok(())
    }

    async fn commit(self) -> Result<(), TransferError> {
        match self {
            Self::Insert(transaction) => transaction.commit().await?,
            Self::Copy(transaction) => transaction.commit().await?,
        }
        Ok(())
    }
}

/// Writes `rows` with `attempt` (which runs in a savepoint and says whether the database refused
/// them); a refused batch is tried row by row to name the line the database refuses.
async fn write_rows(
    meta: &Entity,
    rows: &[Row],
    mut attempt: impl AsyncFnMut(&[Row]) -> Result<Result<(), String>, TransferError>,
) -> Result<(), TransferError> {
    if attempt(rows).await?.is_ok() {
        return Ok(());
    }
    for row in rows {
        if let Err(error) = attempt(std::slice::from_ref(row)).await? {
            return Err(at(row.line, format!("`{}` refused the row: {error}", meta.table)));
        }
    }
    Err(at(
        rows[0].line,
        format!("`{}` refused the rows starting here as a batch", meta.table),
    ))
}

async fn insert_rows(
    transaction: &DatabaseTransaction,
    meta: &Entity,
    mode: ImportMode,
    rows: &[Row],
) -> Result<(), TransferError> {
    let backend = transaction.get_database_backend();
    write_rows(meta, rows, async |rows: &[Row]| {
        let savepoint = transaction.begin().await?;
        match savepoint.execute(&insert(backend, meta, mode, rows)).await {
            Ok(_) => {
                savepoint.commit().await?;
                Ok(Ok(()))
            }
            Err(error) => {
                savepoint.rollback().await?;
                Ok(Err(error.to_string()))
            }
        }
    })
    .await
}

async fn copy_rows(
    transaction: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    meta: &Entity,
    rows: &[Row],
) -> Result<(), TransferError> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let columns: Vec<String> = written(meta).map(|column| quote(&column.name)).collect();
    let statement = format!("COPY {} ({}) FROM STDIN", quote(&meta.table), columns.join(", "));
    let copy = async |connection: &mut sqlx::PgConnection, rows: &[Row]| -> Result<u64, sqlx::Error> {
        let mut data = Vec::with_capacity(rows.len() * 128);
        for row in rows {
            copy_line(&row.values, &mut data).map_err(sqlx::Error::Protocol)?;
        }
        let mut copy = connection.copy_in_raw(&statement).await?;
        copy.send(data).await?;
        copy.finish().await
    };
    write_rows(meta, rows, async |rows: &[Row]| {
        let mut savepoint = sqlx::Connection::begin(&mut **transaction).await?;
        match copy(&mut savepoint, rows).await {
            Ok(_) => {
                savepoint.commit().await?;
                Ok(Ok(()))
            }
            Err(error) => {
                savepoint.rollback().await?;
                Ok(Err(error.to_string()))
            }
        }
    })
    .await
}

/// A value's text input form, `None` for NULL.
fn copy_text(value: &Value) -> Result<Option<String>, String> {
    Ok(Some(match value {
        Value::BigInt(Some(number)) => number.to_string(),
        Value::Double(Some(number)) => number.to_string(),
        Value::Decimal(Some(number)) => number.to_string(),
        Value::Bool(Some(flag)) => if *flag { "t" } else { "f" }.to_owned(),
        Value::String(Some(text)) => text.clone(),
        Value::Uuid(Some(uuid)) => uuid.hyphenated().to_string(),
        Value::ChronoDate(Some(date)) => date.to_string(),
        Value::ChronoDateTimeWithTimeZone(Some(at)) => at.to_rfc3339(),
        Value::Json(Some(json)) => json.to_string(),
        // bytea's hex input form (COPY's escaping doubles the backslash).
        Value::Bytes(Some(bytes)) => format!("\\x{}", hex::encode(bytes)),
        // An array literal: every element quoted, `"` and `\` escaped inside.
        Value::Array(_, Some(items)) => {
            let elements = items
                .iter()
                .map(|item| {
                    Ok(match copy_text(item)? {
                        Some(text) => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
                        None => "NULL".to_owned(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            format!("{{{}}}", elements.join(","))
        }
        Value::BigInt(None)
        | Value::Double(None)
        | Value::Decimal(None)
        | Value::Bool(None)
        | Value::String(None)
        | Value::Uuid(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTimeWithTimeZone(None)
        | Value::Json(None)
        | Value::Bytes(None)
        | Value::Array(_, None) => return Ok(None),
        other => return Err(format!("cannot write {other:?} with COPY")),
    }))
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes. Values are what
/// `parse_scalar` makes; any other kind is refused rather than written wrongly.
fn copy_line(values: &[Value], data: &mut Vec<u8>) -> Result<(), String> {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            data.push(b'\t');
        }
        let Some(text) = copy_text(value)? else {
            data.extend_from_slice(b"\\N");
            continue;
        };
        for byte in text.bytes() {
            match byte {
                b'\\' => data.extend_from_slice(b"\\\\"),
                b'\n' => data.extend_from_slice(b"\\n"),
                b'\r' => data.extend_from_slice(b"\\r"),
                b'\t' => data.extend_from_slice(b"\\t"),
                other => data.push(other),
            }
        }
    }
    data.push(b'\n');
    Ok(())
}

fn insert(backend: DbBackend, meta: &Entity, mode: ImportMode, rows: &[Row]) -> sea_orm::sea_query::InsertStatement {
    let mut statement = Query::insert();
    statement
        .into_table(Alias::new(&meta.table))
        .columns(written(meta).map(|column| Alias::new(&column.name)));
    for row in rows {
        let dialect = crate::sql::Dialect { backend };
        let values = row
            .values
            .iter()
            .zip(written(meta))
            .map(|(value, column)| dialect.input(&column.kind, value.clone()));
        // Every row has one value per column (parse_row builds them so).
        statement.values_panic(values);
    }
    if mode == ImportMode::Upsert {
        let keys = meta.primary_key.iter().map(Alias::new);
        let others: Vec<Alias> = written(meta)
            .filter(|column| !meta.primary_key.contains(&column.name))
            .map(|column| Alias::new(&column.name))
            .collect();
        let mut conflict = OnConflict::columns(keys);
        if others.is_empty() {
            conflict.do_nothing();
        } else {
            conflict.update_columns(others);
        }
        statement.on_conflict(conflict);
    }
    statement
}

/// The statement that moves an auto-increment key's sequence past the imported keys.
fn reset_sequence(meta: &Entity) -> Option<sea_orm::sea_query::SelectStatement> {
    let [key] = meta.primary_key.as_slice() else {
        return None;
    };
    if !meta
        .column(key)
        .is_some_and(|column| matches!(column.kind, ScalarKind::Int | ScalarKind::BigInt))
    {
        return None;
    }
    let sequence = Func::cust(Alias::new("pg_get_serial_sequence"))
        .args([Expr::val(meta.table.as_str()), Expr::val(key.as_str())]);
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    // Past the largest key and never backwards (setval is not undone by a rollback, and an
    // upsert may meet a sequence already further on): the next value is one above both.
    let statement = Query::select()
        .expr(Expr::cust_with_exprs(
            format!(
                "setval($1, GREATEST((SELECT coalesce(max({key}), 0) FROM {table}), \
                 coalesce(pg_sequence_last_value(CAST($2 AS regclass)), 0)) + 1, false)",
                key = quote(key),
                table = quote(&meta.table)
            ),
            [sequence.clone().into(), sequence.clone().into()],
        ))
        .and_where(Expr::expr(sequence).is_not_null())
        .to_owned();
    Some(statement)
}
