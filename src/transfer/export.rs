//! `gateway export`: every registered table, parents first, rows in key order.

use super::file::Output;
use super::{FORMAT, Header, TransferError, VERSION, dependency_order, table_header};
use crate::metadata::{Registry, ScalarKind};
use crate::sql::Dialect;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel, StreamTrait, TransactionTrait,
};
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What an export wrote.
#[derive(Debug)]
pub struct ExportReport {
    /// Rows per table, in file order.
    pub rows: Vec<(String, u64)>,
    pub elapsed: Duration,
}

/// A progress bar on standard error (hidden when it is not a terminal).
pub(super) fn progress(table: &str, rows: u64) -> ProgressBar {
    let bar = ProgressBar::new(rows);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} rows ({per_sec})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(table.to_owned());
    bar
}

/// Writes the data of every table of `registry` to `path` (`-`: standard output).
pub async fn export(
    connection: &DatabaseConnection,
    registry: &Registry,
    path: &Path,
) -> Result<ExportReport, TransferError> {
    let started = Instant::now();
    let backend = connection.get_database_backend();
    // One snapshot for the whole file (a row added meanwhile cannot leave a child without its
    // parent), and no statement timeout: a large table may take longer to stream than a query.
    let connection = connection
        .begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly))
        .await?;
    if backend == DbBackend::Postgres {
        connection.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
    }
    let order = dependency_order(registry);
    let mut tables = Vec::with_capacity(order.len());
    for &entity in &order {
        let table = &registry.entity(entity).table;
        let count = Query::select()
            .expr(Expr::cust("count(*)"))
            .from(Alias::new(table))
            .to_owned();
        let rows: i64 = connection
            .query_one(&count)
            .await?
            .map(|row| row.try_get_by_index(0))
            .transpose()?
            .unwrap_or(0);
        tables.push(table_header(registry, entity, rows.max(0) as u64));
    }
    let expected: Vec<u64> = tables.iter().map(|table| table.rows).collect();
    let mut output = Output::create(path)?;
    let written = |source| TransferError::File {
        path: path.display().to_string(),
        source,
    };
    output
        .line(&Header {
            format: FORMAT.into(),
            version: VERSION,
            backend: match backend {
                DbBackend::Postgres => "postgres".into(),
                _ => "sqlite".into(),
            },
            tables,
        })
        .map_err(written)?;
    let mut counts = BTreeMap::new();
    let mut report = Vec::new();
    for (&entity, expected) in order.iter().zip(expected) {
        let meta = registry.entity(entity);
        let dialect = Dialect { backend };
        let pairs = meta
            .columns
            .iter()
            .map(|column| {
                let value = Expr::col((Alias::new("t"), Alias::new(&column.name)));
                (column.name.clone(), dialect.output(&column.kind, value))
            })
            .collect();
        let mut query = Query::select();
        query
            .expr(dialect.as_text(dialect.object(pairs)))
            .from_as(Alias::new(&meta.table), Alias::new("t"));
        for key in &meta.primary_key {
            query.order_by((Alias::new("t"), Alias::new(key)), Order::Asc);
        }
        let bar = progress(&meta.table, expected);
        let mut rows = connection.stream_raw(backend.build(&query)).await?;
        let mut count = 0u64;
        while let Some(row) = rows.next().await {
            let text: String = row?.try_get_by_index(0)?;
            let stored: Map<String, Json> = serde_json::from_str(&text).map_err(|error| TransferError::Line {
                line: 0,
                reason: format!("the database returned unreadable JSON for `{}`: {error}", meta.table),
            })?;
            let mut values = Map::new();
            for column in &meta.columns {
                let value = stored.get(&column.name).unwrap_or(&Json::Null);
                values.insert(column.name.clone(), portable_value(&column.kind, value));
            }
            output
                .line(&json!({ "table": meta.table, "row": values }))
                .map_err(written)?;
            count += 1;
            bar.inc(1);
        }
        bar.finish_and_clear();
        counts.insert(meta.table.clone(), count);
        report.push((meta.table.clone(), count));
    }
    output.line(&json!({ "end": { "rows": counts } })).map_err(written)?;
    output.finish().map_err(written)?;
    connection.commit().await?;
    Ok(ExportReport {
        rows: report,
        elapsed: started.elapsed(),
    })
}

/// A stored value as the file keeps it: the API's form, timestamps in UTC.
fn portable_value(kind: &ScalarKind, stored: &Json) -> Json {
    let value = crate::shape::scalar(kind, stored).into_json().unwrap_or(Json::Null);
    match (kind, &value) {
        (ScalarKind::DateTime, Json::String(text)) => crate::plan::parse_datetime(text)
            .map(|at| {
                Json::String(
                    at.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                )
            })
            .unwrap_or(value),
        _ => value,
    }
}
