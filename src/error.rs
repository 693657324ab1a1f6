//! Errors that reach clients, and the one place their codes are chosen.
//!
//! Every refusal and every GraphQL error carries one of the [`ErrorCode`]s in `extensions.code`;
//! the code decides the HTTP status of a refused request ([`ErrorCode::status`]) and every error
//! body is written by [`ErrorCode::body`]. Clients see a message and the code; database details
//! (SQL text, constraint internals, driver messages) are logged, never returned. README's table of
//! codes is checked against this enum by a test.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use sea_orm::{DbErr, RuntimeErr};

/// The codes clients match on (`extensions.code`), written in SCREAMING_SNAKE_CASE.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::EnumString, strum::IntoStaticStr, strum::Display,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Malformed JSON, a missing or non-string `query`, bad `variables`.
    BadRequest,
    UnsupportedMediaType,
    NotAcceptable,
    PayloadTooLarge,
    /// The body did not arrive within `GATEWAY_BODY_TIMEOUT`.
    RequestTimeout,
    /// A mutation or subscription sent with GET.
    MethodNotAllowed,
    /// A GET without one of the CSRF headers.
    CsrfPrevention,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    /// Nesting, aliases, root fields, fields, cost or the answer's size beyond a configured limit.
    QueryLimitExceeded,
    /// An automatic persisted query whose hash the gateway does not know (the client resends it).
    PersistedQueryNotFound,
    OperationNotInSafelist,
    /// No token where one is needed, or a token that does not verify.
    Unauthenticated,
    /// The keys to verify tokens cannot be fetched.
    AuthenticationUnavailable,
    /// The role may not do this.
    Forbidden,
    /// Values that make no sense for their argument (a bad cursor, a filter value of the wrong type).
    BadUserInput,
    /// The row a mutation names does not exist or is not visible.
    NotFound,
    /// A write broke a unique, foreign-key, not-null or check constraint.
    ConstraintViolation,
    /// The operation ran longer than `GATEWAY_REQUEST_TIMEOUT`, or a statement longer than
    /// `GATEWAY_STATEMENT_TIMEOUT`.
    Timeout,
    /// The concurrency limit is reached, or every database connection is in use.
    Overloaded,
    ShuttingDown,
    DatabaseUnavailable,
    /// A subscription to a table whose changes are not announced (`gateway changes install`).
    FeedNotInstalled,
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The HTTP status of a request refused with this code. (Errors inside a GraphQL response that
    /// ran travel with the response's status instead.)
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest
            | Self::CsrfPrevention
            | Self::GraphqlParseFailed
            | Self::GraphqlValidationFailed
            | Self::QueryLimitExceeded
            | Self::BadUserInput => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            // Apollo's protocol: the client resends the document after this answer.
            Self::PersistedQueryNotFound => StatusCode::OK,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::OperationNotInSafelist | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::ConstraintViolation => StatusCode::CONFLICT,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::AuthenticationUnavailable
            | Self::Overloaded
            | Self::ShuttingDown
            | Self::DatabaseUnavailable
            | Self::FeedNotInstalled => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The codes that mean a document could not run at all (graphql-over-http answers these
    /// with 400 in `application/graphql-response+json`).
    pub fn refuses_document(self) -> bool {
        matches!(
            self,
            Self::GraphqlParseFailed | Self::GraphqlValidationFailed | Self::QueryLimitExceeded
        )
    }

    /// The error envelope `{"errors": [{"message", "extensions": {"code"}}]}` of a refusal.
    pub fn body(self, message: &str) -> String {
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": self.as_str() } }] }).to_string()
    }

    /// A GraphQL error with this code.
    pub fn error(self, message: impl Into<String>) -> async_graphql::Error {
        async_graphql::Error::new(message).extend_with(|_, extensions| extensions.set("code", self.as_str()))
    }

    /// The code of a GraphQL error, when it has one of ours.
    pub fn of(error: &async_graphql::ServerError) -> Option<Self> {
        match error.extensions.as_ref()?.get("code")? {
            async_graphql::Value::String(code) => code.parse().ok(),
            _ => None,
        }
    }
}

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
    /// Every pooled connection is in use and none came free within `GATEWAY_ACQUIRE_TIMEOUT`.
    #[error("every database connection is in use (GATEWAY_POOL_MAX_CONNECTIONS); retry shortly")]
    PoolExhausted,
    /// The database stopped a statement that ran past `GATEWAY_STATEMENT_TIMEOUT` (or was cancelled).
    #[error("the statement took longer than GATEWAY_STATEMENT_TIMEOUT and was stopped")]
    StatementTimeout,
    /// Every admission slot is taken and none came free within `GATEWAY_QUEUE_TIMEOUT`.
    #[error("the gateway is at its concurrency limit; retry shortly")]
    Busy,
    /// The operation ran past `GATEWAY_REQUEST_TIMEOUT` and was dropped.
    #[error("the request took longer than {0:?} (GATEWAY_REQUEST_TIMEOUT)")]
    TimedOut(std::time::Duration),
    /// The answers of the operations in flight already hold `GATEWAY_MAX_RESPONSE_BYTES_TOTAL`.
    #[error("the gateway holds its limit of {0} bytes of answers (GATEWAY_MAX_RESPONSE_BYTES_TOTAL); retry shortly")]
    MemoryExhausted(usize),
    /// The table's changes are not announced, so a subscription would never hear of them.
    #[error("{0}")]
    FeedNotInstalled(String),
    /// Anything else; details are in the logs.
    #[error("internal error")]
    Internal,
}

impl GatewayError {
    /// The `extensions.code` clients match on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::ConstraintViolation(_) => ErrorCode::ConstraintViolation,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::LimitExceeded(_) => ErrorCode::QueryLimitExceeded,
            Self::DatabaseUnavailable => ErrorCode::DatabaseUnavailable,
            Self::StatementTimeout | Self::TimedOut(_) => ErrorCode::Timeout,
            Self::PoolExhausted | Self::MemoryExhausted(_) | Self::Busy => ErrorCode::Overloaded,
            Self::FeedNotInstalled(_) => ErrorCode::FeedNotInstalled,
            Self::Internal => ErrorCode::InternalServerError,
        }
    }

    /// Shorthand for [`GatewayError::BadUserInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadUserInput(message.into())
    }
}

impl From<DbErr> for GatewayError {
    fn from(error: DbErr) -> Self {
        let classified = match &error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::DatabaseUnavailable,
            DbErr::Query(RuntimeErr::SqlxError(sqlx)) | DbErr::Exec(RuntimeErr::SqlxError(sqlx)) => match sqlx.as_ref()
            {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                    Self::DatabaseUnavailable
                }
                sqlx::Error::Database(database) => match database.code().as_deref() {
                    // query_canceled: statement_timeout (or a cancel request).
                    Some("57014") => Self::StatementTimeout,
                    // Connection exceptions (08…) and a server shutting down or starting (57P01–57P03);
                    // but a protocol violation (08P01) is one statement's fault (a bind that does
                    // not fit its statement): the connection stays usable, and opening the
                    // breaker would refuse everyone for one bad statement.
                    Some(code)
                        if (code.starts_with("08") && code != "08P01")
                            || matches!(code, "57P01" | "57P02" | "57P03") =>
                    {
                        Self::DatabaseUnavailable
                    }
                    _ => Self::Internal,
                },
                _ => Self::Internal,
            },
            _ => Self::Internal,
        };
        match classified {
            Self::StatementTimeout => tracing::warn!(%error, "statement stopped by the database"),
            Self::DatabaseUnavailable => tracing::warn!(%error, "database unavailable"),
            _ => tracing::error!(%error, "database error"),
        }
        classified
    }
}

impl ErrorExtensions for GatewayError {
    fn extend(&self) -> async_graphql::Error {
        self.code().error(self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use strum::IntoEnumIterator;

    /// README's table of error codes lists exactly these codes, each with its status.
    #[test]
    fn the_readme_table_lists_every_code_with_its_status() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("### Error codes")
            .nth(1)
            .expect("README has an `### Error codes` section");
        let rows: Vec<(String, String)> = table
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
            })
            .collect();
        let listed: Vec<&str> = rows.iter().map(|(code, _)| code.as_str()).collect();
        let codes: Vec<&str> = ErrorCode::iter().map(ErrorCode::as_str).collect();
        assert_eq!(listed, codes, "README lists the codes in the enum's order");
        for ((_, status), code) in rows.iter().zip(ErrorCode::iter()) {
            assert_eq!(status, &code.status().as_u16().to_string(), "{code}");
        }
    }

    #[test]
    fn codes_round_trip_through_their_names() {
        for code in ErrorCode::iter() {
            assert_eq!(code.as_str().parse::<ErrorCode>().unwrap(), code);
        }
        assert_eq!(ErrorCode::CsrfPrevention.as_str(), "CSRF_PREVENTION");
        assert_eq!(ErrorCode::GraphqlParseFailed.as_str(), "GRAPHQL_PARSE_FAILED");
    }
}
