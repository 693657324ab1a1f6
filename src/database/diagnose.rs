//! Connection failures, classified and explained.
//!
//! A pool hides why it could not connect (sqlx retries a refused connection until its acquire
//! timeout and then reports only a timeout), so diagnosis opens one direct connection with the
//! same settings and turns the driver's error into a [`ConnectionProblem`] that says what to do.
//! Messages name the host, port, user and database, never the password.

use crate::config::DatabaseTarget;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where a PostgreSQL connection goes, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.starts_with('/') {
            write!(f, "socket {}/.s.PGSQL.{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why the gateway cannot use its database, with what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectionProblem {
    #[error(
        "connection refused by {endpoint}: is PostgreSQL running there and listening on that address \
         and port? (check `listen_addresses` and `port` in postgresql.conf, and PGHOST/PGPORT or DATABASE_URL)"
    )]
    Refused { endpoint: Endpoint },
    #[error("cannot resolve the host `{host}`: check the host name in PGHOST or DATABASE_URL and your DNS")]
    UnknownHost { host: String },
    #[error(
        "password authentication failed for user \"{user}\" at {endpoint}: check the user and password \
         (PGUSER/PGPASSWORD or DATABASE_URL) and the authentication method for this host in the server's pg_hba.conf",
        user = endpoint.user
    )]
    AuthenticationFailed { endpoint: Endpoint },
    #[error(
        "the server at {endpoint} rejected user \"{user}\" for database \"{database}\": {reason}; add a matching \
         line to the server's pg_hba.conf or connect as another user",
        user = endpoint.user, database = endpoint.database
    )]
    Rejected { endpoint: Endpoint, reason: String },
    #[error(
        "database \"{database}\" does not exist on {endpoint}: create it with `createdb -h {host} -p {port} -U {user} {database}` \
         (or `CREATE DATABASE \"{database}\"`), or point PGDATABASE/DATABASE_URL at an existing one",
        database = endpoint.database, host = endpoint.host, port = endpoint.port, user = endpoint.user
    )]
    DatabaseMissing { endpoint: Endpoint },
    #[error(
        "no answer from {endpoint} within {after:?}: check that the host and port are right and that no firewall \
         or security group drops traffic to that port (raise GATEWAY_CONNECT_TIMEOUT for a slow network)"
    )]
    Timeout { endpoint: Endpoint, after: Duration },
    #[error(
        "the server at {endpoint} does not offer TLS, but sslmode is `{mode}`: enable `ssl` on the server, \
         or set PGSSLMODE (or `sslmode` in DATABASE_URL) to `prefer` or `disable` on a trusted network"
    )]
    TlsUnavailable { endpoint: Endpoint, mode: String },
    #[error(
        "the server at {endpoint} requires an encrypted connection (its pg_hba.conf allows only `hostssl` for this \
         client): set PGSSLMODE=require (or `sslmode=require` in DATABASE_URL)"
    )]
    TlsRequired { endpoint: Endpoint },
    #[error("TLS with {endpoint} failed: {reason}; check the server certificate and PGSSLMODE")]
    TlsFailed { endpoint: Endpoint, reason: String },
    #[error("the server at {endpoint} is starting up or shutting down; try again in a moment")]
    NotReady { endpoint: Endpoint },
    #[error("the database settings are invalid: {reason}")]
    Configuration { reason: String },
    #[error("cannot open the SQLite database: {reason}")]
    Sqlite { reason: String },
    #[error("cannot connect to {endpoint}: {reason}")]
    Other { endpoint: Endpoint, reason: String },
}

impl ConnectionProblem {
    /// Whether waiting may fix it (a server still starting), as opposed to a configuration mistake.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Refused { .. } | Self::Timeout { .. } | Self::NotReady { .. }
        )
    }
}

/// What a successful check found.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The server's own version string.
    pub version: String,
}

impl ServerInfo {
    /// The PostgreSQL major version (`PostgreSQL 15.19 on …` → 15); `None` for SQLite.
    pub fn postgres_major(&self) -> Option<u32> {
        let rest = self.version.strip_prefix("PostgreSQL ")?;
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    }
}

/// Opens one connection to `target` within `timeout`, asks for the server version, and explains
/// any failure.
pub async fn diagnose(target: &DatabaseTarget, timeout: Duration) -> Result<ServerInfo, ConnectionProblem> {
    match target {
        DatabaseTarget::Postgres { url } => diagnose_postgres(url.expose_secret(), timeout)
            .await
            .map_err(|problem| scrubbed(target, problem)),
        DatabaseTarget::Sqlite { .. } => {
            let mut options = sea_orm::ConnectOptions::new(target.connection_url().expose_secret().to_owned());
            options.sqlx_logging(false).max_connections(1);
            let connection = sea_orm::Database::connect(options)
                .await
                .map_err(|error| ConnectionProblem::Sqlite {
                    reason: error.to_string(),
                })?;
            let version = super::server_version(&connection)
                .await
                .map_err(|error| ConnectionProblem::Sqlite {
                    reason: error.to_string(),
                })?;
            let _ = connection.close().await;
            Ok(ServerInfo { version })
        }
    }
}

/// Drivers sometimes echo their input; make sure no password survives into a message.
fn scrubbed(target: &DatabaseTarget, problem: ConnectionProblem) -> ConnectionProblem {
    match problem {
        ConnectionProblem::Other { endpoint, reason } => ConnectionProblem::Other {
            endpoint,
            reason: target.scrub(&reason),
        },
        ConnectionProblem::Configuration { reason } => ConnectionProblem::Configuration {
            reason: target.scrub(&reason),
        },
        ConnectionProblem::TlsFailed { endpoint, reason } => ConnectionProblem::TlsFailed {
            endpoint,
            reason: target.scrub(&reason),
        },
        other => other,
    }
}

async fn diagnose_postgres(url: &str, timeout: Duration) -> Result<ServerInfo, ConnectionProblem> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| ConnectionProblem::Configuration {
            reason: error.to_string(),
        })?
        .disable_statement_logging();
    let endpoint = Endpoint {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        user: options.get_username().to_owned(),
        database: options.get_database().unwrap_or(options.get_username()).to_owned(),
    };
    let ssl_mode = ssl_mode_name(&options);
    let attempt = async {
        let mut connection = sqlx::PgConnection::connect_with(&options).await?;
        // The simple protocol: one round trip, no prepared statement (so it also works through
        // PgBouncer in transaction mode).
        let row = sqlx::raw_sql("SELECT version()").fetch_one(&mut connection).await?;
        let version: String = sqlx::Row::try_get(&row, 0)?;
        connection.close().await?;
        Ok::<_, sqlx::Error>(version)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Err(_) => Err(ConnectionProblem::Timeout {
            endpoint,
            after: timeout,
        }),
        Ok(Ok(version)) => Ok(ServerInfo { version }),
        Ok(Err(error)) => Err(classify(error, endpoint, ssl_mode)),
    }
}

fn ssl_mode_name(options: &PgConnectOptions) -> &'static str {
    match options.get_ssl_mode() {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Maps a driver error to the problem a person can act on.
fn classify(error: sqlx::Error, endpoint: Endpoint, ssl_mode: &str) -> ConnectionProblem {
    match error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                ConnectionProblem::Refused { endpoint }
            }
            std::io::ErrorKind::TimedOut => ConnectionProblem::Timeout {
                endpoint,
                after: Duration::ZERO,
            },
            _ if io.to_string().contains("failed to lookup address") => {
                ConnectionProblem::UnknownHost { host: endpoint.host }
            }
            _ => ConnectionProblem::Other {
                endpoint,
                reason: io.to_string(),
            },
        },
        sqlx::Error::Database(database) => {
            let code = database.code().map(|code| code.into_owned()).unwrap_or_default();
            let message = database.message().to_owned();
            match code.as_str() {
                "28P01" => ConnectionProblem::AuthenticationFailed { endpoint },
                "28000" if message.contains("no encryption") => ConnectionProblem::TlsRequired { endpoint },
                "28000" => ConnectionProblem::Rejected {
                    endpoint,
                    reason: message,
                },
                "3D000" => ConnectionProblem::DatabaseMissing { endpoint },
                "57P03" => ConnectionProblem::NotReady { endpoint },
                _ => ConnectionProblem::Other {
                    endpoint,
                    reason: message,
                },
            }
        }
        sqlx::Error::Tls(tls) => {
            let reason = tls.to_string();
            if reason.contains("does not support TLS") || reason.contains("not support SSL") {
                ConnectionProblem::TlsUnavailable {
                    endpoint,
                    mode: ssl_mode.to_owned(),
                }
            } else {
                ConnectionProblem::TlsFailed { endpoint, reason }
            }
        }
        sqlx::Error::Configuration(reason) => ConnectionProblem::Configuration {
            reason: reason.to_string(),
        },
        other => ConnectionProblem::Other {
            endpoint,
            reason: other.to_string(),
        },
    }
}
