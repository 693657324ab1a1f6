//! Errors that reach GraphQL clients, and the one place their codes are chosen.
//!
//! Clients see a message and `extensions.code`; database details (SQL text, constraint internals,
//! driver messages) are logged, never returned.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, RuntimeErr};

/// An error a GraphQL operation can end with.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request is well-formed GraphQL but its values make no sense (a bad cursor, a filter
    /// value of the wrong type, ...).
    #[error("{0}")]
    BadUserInput(String),
    /// A write broke a unique, foreign-key, not-null or check constraint.
    #[error("{0}")]
    ConstraintViolation(String),
    /// The session's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The row a mutation names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A configured limit refuses the request (subscriptions per connection, in total, ...).
    #[error("{0}")]
    LimitExceeded(String),
    /// The database cannot be reached (down, pool exhausted, timed out).
    #[error("the database is unavailable; try again shortly")]
    DatabaseUnavailable,
    /// Anything else; details are in the logs.
    #[error("internal error")]
    Internal,
}

impl GatewayError {
    /// The `extensions.code` clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::ConstraintViolation(_) => "CONSTRAINT_VIOLATION",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::LimitExceeded(_) => "QUERY_LIMIT_EXCEEDED",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Shorthand for [`GatewayError::BadUserInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }
}

impl From<DbErr> for GatewayError {
    fn from(error: DbErr) -> Self {
        let unavailable = match &error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Query(RuntimeErr::SqlxError(sqlx)) | DbErr::Exec(RuntimeErr::SqlxError(sqlx)) => match sqlx.as_ref()
            {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => true,
                // Connection exceptions (08…) and a server shutting down or starting (57P01–57P03).
                sqlx::Error::Database(database) => database
                    .code()
                    .is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")),
                _ => false,
            },
            _ => false,
        };
        if unavailable {
            tracing::warn!(%error, "database unavailable");
            Self::DatabaseUnavailable
        } else {
            tracing::error!(%error, "database error");
            Self::Internal
        }
    }
}

impl ErrorExtensions for GatewayError {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, extensions| extensions.set("code", code))
    }
}
