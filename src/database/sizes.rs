//! Estimated row counts of the served tables, for what a filter may scan: text matching costs the
//! database the pattern's length for every row it compares (a 100 KB `ilike` over 20,000 tasks
//! took 15 s of CPU), whatever page the query asks for.
//!
//! PostgreSQL keeps the estimates itself (`pg_class.reltuples`, refreshed by autovacuum's
//! ANALYZE; a partitioned table sums its partitions; a table never analyzed is guessed from its
//! size on disk, at 100 bytes a row); the embedded SQLite counts its tables (not its views, which
//! would run: they get the largest table's estimate). They are read at start-up and again when a request
//! finds them older than [`REFRESH_AFTER`] (in the background, never on the request's path).

use crate::metadata::Registry;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How old the estimates may get before a request has them read again.
pub const REFRESH_AFTER: Duration = Duration::from_secs(300);

/// Rows assumed for a table with no estimate at all (before the first read, or a view): the
/// largest table's, else this.
const UNKNOWN_ROWS: u64 = 10_000;

/// Row estimates by table name.
#[derive(Debug)]
pub struct TableSizes {
    rows: RwLock<Estimates>,
    refreshing: AtomicBool,
    source: Option<(DatabaseConnection, Vec<String>)>,
}

#[derive(Debug, Default)]
struct Estimates {
    by_table: HashMap<String, u64>,
    read_at: Option<Instant>,
}

impl TableSizes {
    /// No estimates and nowhere to read them (`gateway schema`, tests of the schema alone).
    pub fn unknown() -> Self {
        Self {
            rows: RwLock::new(Estimates::default()),
            refreshing: AtomicBool::new(false),
            source: None,
        }
    }

    /// The estimates of `registry`'s tables in `connection`, read now.
    pub async fn read(connection: DatabaseConnection, registry: &Registry) -> Arc<Self> {
        let tables = registry
            .entities()
            .iter()
            .filter(|entity| !entity.derived)
            .map(|entity| entity.table.clone())
            .collect();
        let sizes = Arc::new(Self {
            rows: RwLock::new(Estimates::default()),
            refreshing: AtomicBool::new(false),
            source: Some((connection, tables)),
        });
        sizes.refresh().await;
        sizes
    }

    /// The estimated rows of `table` (see [`UNKNOWN_ROWS`]); starts a refresh when they are old.
    pub fn rows(self: &Arc<Self>, table: &str) -> u64 {
        let (rows, stale) = {
            let estimates = self.rows.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let largest = estimates.by_table.values().copied().max().unwrap_or(UNKNOWN_ROWS);
            (
                estimates.by_table.get(table).copied().unwrap_or(largest),
                estimates.read_at.is_none_or(|at| at.elapsed() > REFRESH_AFTER),
            )
        };
        if stale
            && self.source.is_some()
            && !self.refreshing.swap(true, Ordering::AcqRel)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let sizes = self.clone();
            runtime.spawn(async move { sizes.refresh().await });
        }
        rows
    }

    async fn refresh(&self) {
        let Some((connection, tables)) = &self.source else {
            return;
        };
        match estimate(connection, tables).await {
            Ok(by_table) => {
                let mut estimates = self.rows.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                estimates.by_table = by_table;
                estimates.read_at = Some(Instant::now());
            }
            // Kept as they were; the next request past REFRESH_AFTER tries again.
            Err(error) => tracing::debug!(%error, "table size estimates not read"),
        }
        self.refreshing.store(false, Ordering::Release);
    }
}

async fn estimate(connection: &DatabaseConnection, tables: &[String]) -> Result<HashMap<String, u64>, DbErr> {
    let mut by_table = HashMap::new();
    match connection.get_database_backend() {
        DbBackend::Postgres => {
            let statement = Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT c.relname::text AS name, CASE \
                   WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(GREATEST(k.reltuples, 0)), 0) \
                     FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = c.oid) \
                   WHEN c.reltuples > 0 THEN c.reltuples \
                   ELSE pg_relation_size(c.oid) / 100 END::bigint AS estimate \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = ANY($1) AND c.relkind IN ('r', 'p', 'm') \
                   AND n.nspname = ANY(current_schemas(false))",
                [tables.to_vec().into()],
            );
            for row in connection.query_all_raw(statement).await? {
                let name: String = row.try_get("", "name")?;
                let rows: i64 = row.try_get("", "estimate")?;
                by_table.insert(name, rows.max(0) as u64);
            }
        }
        backend => {
            for table in tables {
                let quoted = table.replace('"', "\"\"");
                let statement = Statement::from_string(backend, format!("SELECT count(*) AS rows FROM \"{quoted}\""));
                // A view the database cannot count (or a missing table) keeps no estimate.
                if let Ok(Some(row)) = connection.query_one_raw(statement).await
                    && let Ok(rows) = row.try_get::<i64>("", "rows")
                {
                    by_table.insert(table.clone(), rows.max(0) as u64);
                }
            }
        }
    }
    Ok(by_table)
}
