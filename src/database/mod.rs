//! The database: one pool per process, opened patiently and explained when it cannot be.
//!
//! Start-up first [`diagnose`]s the target with a single direct connection, so a failure is
//! reported as what it is (refused, bad password, missing database, ...). Failures that waiting
//! can fix are retried with exponential backoff for `GATEWAY_STARTUP_TIMEOUT`, logging what the
//! gateway waits for; the others stop start-up at once with the explanation.

pub mod diagnose;
pub mod replicas;

use crate::config::{DatabaseTarget, PoolArgs};
use diagnose::ConnectionProblem;
pub use diagnose::{ServerInfo, diagnose};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use secrecy::ExposeSecret;
use std::time::{Duration, Instant};

/// The first and the longest pause between two connection attempts at start-up.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// Pooled connections idle longer than this are pinged before use (one may have gone stale).
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Opens the pool for `target`, waiting (with backoff) for a server that is not up yet.
pub async fn connect(target: &DatabaseTarget, pool: &PoolArgs) -> Result<DatabaseConnection, ConnectionProblem> {
    if let DatabaseTarget::Sqlite { path, .. } = target
        && let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| ConnectionProblem::Sqlite {
            reason: format!("{}: {error}", parent.display()),
        })?;
    }
    wait_until_reachable(target, pool).await?;
    sea_orm::Database::connect(options(target, pool))
        .await
        .map_err(|error| match target {
            DatabaseTarget::Sqlite { .. } => ConnectionProblem::Sqlite {
                reason: error.to_string(),
            },
            DatabaseTarget::Postgres { .. } => ConnectionProblem::Configuration {
                reason: target.scrub(&error.to_string()),
            },
        })
}

/// The pool settings for `target`.
fn options(target: &DatabaseTarget, pool: &PoolArgs) -> ConnectOptions {
    let mut options = ConnectOptions::new(target.connection_url().expose_secret().to_owned());
    options
        .max_connections(pool.pool_max_connections)
        .min_connections(pool.pool_min_connections.min(pool.pool_max_connections))
        .connect_timeout(pool.connect_timeout)
        .acquire_timeout(pool.acquire_timeout)
        .idle_timeout(pool.idle_timeout)
        // A connection that was just in use is known to work: pinging it before every request
        // would cost a round trip per query. Only connections idle for a while are checked.
        .test_before_acquire_if_idle_for(IDLE_BEFORE_PING)
        .statement_timeout(pool.statement_timeout)
        // Statements are traced by the gateway itself; sqlx's own INFO logging would flood the logs.
        .sqlx_logging(false);
    options
}

async fn wait_until_reachable(target: &DatabaseTarget, pool: &PoolArgs) -> Result<ServerInfo, ConnectionProblem> {
    let started = Instant::now();
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        match diagnose(target, pool.connect_timeout).await {
            Ok(info) => {
                tracing::info!(database = %target, server = %info.version, "database reachable");
                return Ok(info);
            }
            Err(problem) if problem.is_transient() && started.elapsed() + delay <= pool.startup_timeout => {
                tracing::warn!(
                    database = %target,
                    retry_in = ?delay,
                    gives_up_in = ?pool.startup_timeout.saturating_sub(started.elapsed()),
                    "waiting for the database: {problem}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LONGEST_RETRY_DELAY);
            }
            Err(problem) => return Err(problem),
        }
    }
}

/// The server's version string; also a cheap proof that the database answers.
pub async fn server_version(connection: &impl ConnectionTrait) -> Result<String, DbErr> {
    let backend = connection.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        _ => "SELECT version()",
    };
    let row = connection
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the version query returned no row".into()))?;
    row.try_get_by_index(0)
}
