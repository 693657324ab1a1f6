//! One transaction per GraphQL operation: every mutation field of a request commits together or
//! not at all.
//!
//! The HTTP handler attaches an [`OperationTransaction`] to each request. The first mutation
//! field opens the transaction; a field that fails rolls it back at once and marks it failed, so
//! later fields of the same operation do not run; when the operation ends, [`finish`] commits if
//! the response has no errors, and otherwise makes sure nothing was kept and drops the data that
//! described writes which no longer exist.
//!
//! An operation dropped before it finished (its request timed out, its client went away, the
//! shutdown deadline passed) must not leave its statement running: on PostgreSQL the transaction
//! remembers its backend (`pg_backend_pid()` and the transaction's start, read when it begins) and the
//! drop ends that backend over a connection of its own (`pg_terminate_backend`: the transaction
//! rolls back, the statement stops, the pool replaces the connection, as a dropped read's is) —
//! only while the backend is still in that transaction, so a connection already back in the pool
//! is never touched. (Cancelling only the statement left sqlx's pool waiting on the connection
//! now and then.)
//!
//! [`finish`]: OperationTransaction::finish

use crate::error::GatewayError;
use crate::server::metrics::DatabaseUse;
use async_graphql::{ErrorExtensions, Response, ServerError};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use tokio::sync::Mutex;

enum State {
    Idle,
    /// The transaction, counted as a user of a pooled connection until it ends, and its backend.
    Open(DatabaseTransaction, DatabaseUse, Option<Backend>),
    /// A field failed and everything was rolled back.
    Failed,
    Done,
}

/// The transaction shared by the mutation fields of one operation.
pub struct OperationTransaction {
    connection: DatabaseConnection,
    breaker: std::sync::Arc<crate::database::breaker::Breaker>,
    state: Mutex<State>,
}

impl OperationTransaction {
    pub fn new(connection: DatabaseConnection, breaker: std::sync::Arc<crate::database::breaker::Breaker>) -> Self {
        Self {
            connection,
            breaker,
            state: Mutex::new(State::Idle),
        }
    }

    /// Runs one mutation field inside the operation's transaction. An error rolls the whole
    /// operation back.
    pub async fn run<T, F>(&self, write: F) -> Result<T, GatewayError>
    where
        F: AsyncFnOnce(&DatabaseTransaction) -> Result<T, GatewayError>,
    {
        let mut state = self.state.lock().await;
        if matches!(*state, State::Idle) {
            let using = DatabaseUse::start();
            let admission = self.breaker.admit()?;
            let begun = self.connection.begin().await.map_err(GatewayError::from);
            let transaction = self.breaker.settle(admission, &self.connection, begun)?;
            let backend = Backend::of(&transaction).await?;
            *state = State::Open(transaction, using, backend);
        }
        let result = match &*state {
            State::Open(transaction, ..) => write(transaction).await,
            State::Failed => {
                return Err(GatewayError::bad_input(
                    "not run: an earlier mutation of this operation failed, and the whole operation was rolled back",
                ));
            }
            State::Idle | State::Done => return Err(GatewayError::Internal),
        };
        if result.is_err()
            && let State::Open(transaction, ..) = std::mem::replace(&mut *state, State::Failed)
            && let Err(error) = transaction.rollback().await
        {
            tracing::warn!(%error, "rolling back a failed operation");
        }
        result
    }

    /// Ends the operation: commits when `response` has no errors, otherwise rolls back and
    /// clears the data of the writes that were undone.
    pub async fn finish(&self, response: &mut Response) {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, State::Done) {
            State::Idle | State::Done => {}
            State::Open(transaction, ..) if response.errors.is_empty() => {
                if let Err(error) = transaction.commit().await {
                    response.data = async_graphql::Value::Null;
                    response
                        .errors
                        .push(ServerError::new("the operation could not be committed", None));
                    let extended = GatewayError::from(error).extend();
                    if let Some(last) = response.errors.last_mut() {
                        last.message = extended.message;
                        last.extensions = extended.extensions;
                    }
                }
            }
            State::Open(transaction, ..) => {
                if let Err(error) = transaction.rollback().await {
                    tracing::warn!(%error, "rolling back a failed operation");
                }
                response.data = async_graphql::Value::Null;
            }
            State::Failed => response.data = async_graphql::Value::Null,
        }
    }
}

impl Drop for OperationTransaction {
    fn drop(&mut self) {
        if let State::Open(_, _, Some(backend)) = self.state.get_mut()
            && self.connection.get_database_backend() == DbBackend::Postgres
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            crate::server::metrics::abandoned_statement();
            let options = self.connection.get_postgres_connection_pool().connect_options();
            let backend = backend.clone();
            runtime.spawn(async move { backend.cancel(&options).await });
        }
    }
}

/// The PostgreSQL backend a transaction runs on, and when the transaction began there
/// (microseconds since the epoch: `now()`, which is `pg_stat_activity.xact_start`). A
/// transaction id would do too, but reading one assigns it (and `txid_current()` is 64 bits where
/// `backend_xid` is 32).
#[derive(Debug, Clone)]
struct Backend {
    pid: i32,
    started: i64,
}

impl Backend {
    /// Reads the backend of `transaction` (PostgreSQL only; one round trip).
    async fn of(transaction: &DatabaseTransaction) -> Result<Option<Self>, GatewayError> {
        if transaction.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let row = transaction
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid, (extract(epoch FROM now()) * 1000000)::bigint AS started",
            ))
            .await?
            .ok_or(GatewayError::Internal)?;
        Ok(Some(Self {
            pid: row.try_get("", "pid")?,
            started: row.try_get("", "started")?,
        }))
    }

    /// Ends the backend if it is still in this transaction.
    async fn cancel(&self, options: &sqlx::postgres::PgConnectOptions) {
        // Connections outside the pool, a few at a time: a burst of abandoned writes must not use
        // up the server's connections.
        let Ok(_permit) = TERMINATIONS.acquire().await else {
            return;
        };
        let cancelled = async {
            let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect_with(options).await?;
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE pid = $1 AND (extract(epoch FROM xact_start) * 1000000)::bigint = $2",
            )
            .bind(self.pid)
            .bind(self.started)
            .execute(&mut connection)
            .await?;
            sqlx::Connection::close(connection).await
        };
        let outcome = tokio::time::timeout(CANCEL_TIMEOUT, cancelled)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut));
        if let Err(error) = outcome {
            tracing::warn!(%error, pid = self.pid, "could not end an abandoned write's backend");
        }
    }
}

/// Abandoned writes' backends being ended at once.
static TERMINATIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The longest ending an abandoned write's backend may take (connecting included).
const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs one mutation in a transaction of its own, for transports without an operation-wide one.
pub async fn run_alone<T, F>(connection: &DatabaseConnection, write: F) -> Result<T, GatewayError>
where
    F: AsyncFnOnce(&DatabaseTransaction) -> Result<T, GatewayError>,
{
    let _using = DatabaseUse::start();
    let transaction = connection.begin().await?;
    match write(&transaction).await {
        Ok(value) => {
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = transaction.rollback().await {
                tracing::warn!(%rollback, "rolling back a failed mutation");
            }
            Err(error)
        }
    }
}
