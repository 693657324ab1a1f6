//! The PostgreSQL backend a transaction runs on, so that a transaction its operation abandoned
//! (a timeout, a client gone, the shutdown deadline) does not keep running: the backend is ended
//! over a connection of its own (`pg_terminate_backend`: the transaction rolls back, the statement
//! stops, the pool replaces the connection) — only while it is still in that transaction, so a
//! connection already back in the pool is never touched. Cancelling only the statement left
//! sqlx's pool waiting on the connection now and then. Used by the operation transaction of
//! mutations and by reads behind PgBouncer, which run in transactions (`Reader`).

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement};

/// The PostgreSQL backend a transaction runs on, and when the transaction began there
/// (microseconds since the epoch: `now()`, which is `pg_stat_activity.xact_start`). A
/// transaction id would do too, but reading one assigns it (and `txid_current()` is 64 bits where
/// `backend_xid` is 32).
#[derive(Debug, Clone)]
pub struct Backend {
    pid: i32,
    started: i64,
}

impl Backend {
    /// Reads the backend of `transaction` (PostgreSQL only; one round trip).
    pub async fn of(transaction: &DatabaseTransaction) -> Result<Option<Self>, DbErr> {
        if transaction.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let row = transaction
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid, (extract(epoch FROM now()) * 1000000)::bigint AS started",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("no backend row".into()))?;
        Ok(Some(Self {
            pid: row.try_get("", "pid")?,
            started: row.try_get("", "started")?,
        }))
    }

    /// An operation on `connection`'s pool dropped its transaction unfinished: ends the backend
    /// in the background.
    pub fn end_abandoned(&self, connection: &DatabaseConnection) {
        if connection.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        crate::telemetry::record::abandoned_statement();
        let options = connection.get_postgres_connection_pool().connect_options();
        let backend = self.clone();
        runtime.spawn(async move { backend.end(&options).await });
    }

    /// Ends the backend if it is still in this transaction.
    async fn end(&self, options: &sqlx::postgres::PgConnectOptions) {
        // Connections outside the pool, a few at a time: a burst of abandoned transactions must not use
        // up the server's connections.
        let Ok(_permit) = TERMINATIONS.acquire().await else {
            return;
        };
        let cancelled = async {
            let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect_with(options).await?;
            // A simple query (two integers, written in): no prepared statement, which PgBouncer in
            // transaction mode could not keep between its steps.
            let sql = format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE pid = {} AND (extract(epoch FROM xact_start) * 1000000)::bigint = {}",
                self.pid, self.started
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await?;
            sqlx::Connection::close(connection).await
        };
        let outcome = tokio::time::timeout(CANCEL_TIMEOUT, cancelled)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        if let Err(error) = outcome {
            tracing::warn!(%error, pid = self.pid, "could not end an abandoned transaction's backend");
        }
    }
}

/// Abandoned transactions' backends being ended at once.
static TERMINATIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The longest ending an abandoned transaction's backend may take (connecting included).
const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
