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
//! shutdown deadline passed) does not leave its statement running: the transaction remembers its
//! PostgreSQL backend when it begins and ends it on drop ([`crate::database::backend`]).
//!
//! [`finish`]: OperationTransaction::finish

use crate::database::backend::Backend;
use crate::error::GatewayError;
use crate::telemetry::record::DatabaseUse;
use async_graphql::{ErrorExtensions, Response, ServerError};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
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
            let started = std::time::Instant::now();
            let mut begun = self.connection.begin().await.map_err(GatewayError::from);
            // Nothing was written yet: a connection the server dropped (a restart) is retried.
            if matches!(begun, Err(GatewayError::DatabaseUnavailable))
                && self.breaker.try_again(&self.connection, started.elapsed()).await
            {
                begun = self.connection.begin().await.map_err(GatewayError::from);
            }
            let transaction = self.breaker.settle(admission, &self.connection, begun)?;
            let backend = Backend::of(&transaction).await.map_err(GatewayError::from)?;
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
        if let State::Open(_, _, Some(backend)) = self.state.get_mut() {
            backend.end_abandoned(&self.connection);
        }
    }
}

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
