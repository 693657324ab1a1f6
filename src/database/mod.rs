//! The database: the primary's pool (one per process; read replicas and the change feed's LISTEN
//! have their own), opened patiently and explained when it cannot be, and everything that runs
//! statements on it: reads ([`execute`], routed by [`route`], charged to the [`budget`]) and writes
//! ([`write`], in the operation's transaction). Statements are compiled by [`crate::sql`].
//!
//! Start-up first [`diagnose`]s the target with a single direct connection, so a failure is
//! reported as what it is (refused, bad password, missing database, ...). Failures that waiting
//! can fix are retried with exponential backoff for `GATEWAY_STARTUP_TIMEOUT`, logging what the
//! gateway waits for; the others stop start-up at once with the explanation.

pub mod backend;
pub mod breaker;
pub mod budget;
pub mod columns;
pub mod diagnose;
pub mod execute;
pub mod fresh;
pub mod fts;
pub mod replicas;
pub mod route;
pub mod sizes;
pub mod warm;
pub mod write;

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
    open(target, pool, None).await
}

/// Opens the pool for `target` like [`connect`]; its connections opened before `freshness`'s
/// last loss are dropped before anyone takes them.
async fn open(
    target: &DatabaseTarget,
    pool: &PoolArgs,
    freshness: Option<std::sync::Arc<fresh::Freshness>>,
) -> Result<DatabaseConnection, ConnectionProblem> {
    if let DatabaseTarget::Sqlite { path, .. } = target
        && let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|error| ConnectionProblem::Sqlite {
            reason: format!("{}: {error}", parent.display()),
        })?;
    }
    let server = wait_until_reachable(target, pool).await?;
    // PostgreSQL 14 checks, while a statement runs, whether its client is still there: a read
    // whose request is abandoned closes its connection (`read_text`), and the statement stops.
    let check_client = server.postgres_major().is_some_and(|major| major >= 14);
    let mut options = options(target, pool, check_client);
    if let Some(freshness) = freshness {
        options.map_sqlx_postgres_before_acquire(move |_, connection| {
            let alive = !freshness.opened_before_loss(connection.age);
            Box::pin(async move { Ok(alive) })
        });
    }
    sea_orm::Database::connect(options).await.map_err(|error| match target {
        DatabaseTarget::Sqlite { .. } => ConnectionProblem::Sqlite {
            reason: error.to_string(),
        },
        DatabaseTarget::Postgres { .. } => ConnectionProblem::Configuration {
            reason: target.scrub(&error.to_string()),
        },
    })
}

/// The pool settings for `target`.
fn options(target: &DatabaseTarget, pool: &PoolArgs, check_client: bool) -> ConnectOptions {
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
        // Statements are traced by the gateway itself; sqlx's own INFO logging would flood the logs.
        .sqlx_logging(false);
    if pool.pgbouncer {
        // Transaction mode keeps nothing between transactions: no startup `options` (PgBouncer
        // refuses them) and no named prepared statements (they would be on another server).
        options.map_sqlx_postgres_opts(|options| options.statement_cache_capacity(0));
    } else {
        options.statement_timeout(pool.statement_timeout);
        // Timestamps are answered in UTC (`+00:00`), and one without time zone is read as UTC.
        // One mapping with every startup option: sea-orm keeps only the last mapping given.
        let mut startup = vec![("TimeZone", "UTC")];
        if !pool.jit {
            startup.push(("jit", "off"));
        }
        if check_client {
            startup.push(("client_connection_check_interval", CLIENT_CHECK_INTERVAL));
        }
        options.map_sqlx_postgres_opts(move |options| options.options(startup.iter().copied()));
    }
    options
}

/// How often a running statement checks that its client is still connected (milliseconds).
pub(super) const CLIENT_CHECK_INTERVAL: &str = "250";

/// One pooled PostgreSQL connection held by a read. If the read is dropped before it finished (its
/// request timed out or its client went away), the connection is closed rather than returned: the
/// pool would otherwise wait for the abandoned statement to finish before reusing it, and with
/// `client_connection_check_interval` the server stops the statement as soon as it notices.
struct Checkout {
    connection: Option<warm::Parked>,
    finished: bool,
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if !self.finished
            && let Some(connection) = self.connection.take()
        {
            crate::telemetry::record::abandoned_statement();
            // Detached and dropped: the socket closes at once (a graceful close would queue behind
            // the running statement) and the pool opens a replacement.
            drop(connection.into_connection().detach());
        }
    }
}

fn sqlx_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(error)))
}

/// Runs `statement`, whose one row has one text column, on a connection of `pool` (a parked one
/// of `warm` when there is one, and parked there again when the read succeeds).
async fn read_text_postgres(
    pool: &sqlx::PgPool,
    warm: Option<&warm::Warm>,
    statement: &Statement,
) -> Result<Option<String>, DbErr> {
    let connection = match warm.and_then(warm::Warm::take) {
        Some(parked) => parked,
        None => warm::Parked::acquired(pool.acquire().await.map_err(sqlx_error)?),
    };
    let mut checkout = Checkout {
        connection: Some(connection),
        finished: false,
    };
    let connection = checkout
        .connection
        .as_mut()
        .ok_or(DbErr::Custom("no connection".into()))?
        .connection();
    let values = statement
        .values
        .clone()
        .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
    let query = sqlx::query_with(
        sqlx::AssertSqlSafe(statement.sql.as_str()),
        sea_query_sqlx::SqlxValues(values),
    );
    let row = query.fetch_optional(&mut **connection).await;
    checkout.finished = true;
    let text = match row.map_err(sqlx_error)? {
        Some(row) => sqlx::Row::try_get::<Option<String>, _>(&row, 0).map_err(sqlx_error)?,
        None => None,
    };
    if let (Some(warm), Some(connection)) = (warm, checkout.connection.take()) {
        warm.park(connection, pool);
    }
    Ok(text)
}

/// How the server reaches its databases beyond the primary pool.
#[derive(Clone, Default)]
pub struct Routing {
    /// Read replicas, when configured.
    pub replicas: Option<std::sync::Arc<replicas::ReadReplicas>>,
    /// The primary pool goes through PgBouncer in transaction mode: reads run in transactions.
    pub pgbouncer: bool,
    /// Where the change feed LISTENs, when not the primary pool's URL.
    pub listen: Option<secrecy::SecretString>,
    /// Fails requests fast while the primary is known down.
    pub breaker: std::sync::Arc<breaker::Breaker>,
    /// When the primary last dropped a connection (older ones are not used again).
    pub freshness: std::sync::Arc<fresh::Freshness>,
    /// The primary's connections kept between reads (none behind PgBouncer: its reads run in
    /// transactions).
    pub warm: std::sync::Arc<warm::Warm>,
}

impl Routing {
    /// The routing `args` configure (replica pools are opened lazily).
    pub async fn from_args(args: &crate::config::DatabaseArgs) -> Result<Self, replicas::RoutingError> {
        // LISTEN cannot go through PgBouncer in transaction mode (its reset query undoes it).
        if args.pool.pgbouncer && args.direct_url.is_none() && !matches!(args.target()?, DatabaseTarget::Sqlite { .. })
        {
            return Err(replicas::RoutingError::NoDirectUrl);
        }
        if let Some(url) = &args.direct_url
            && url.expose_secret().parse::<sqlx::postgres::PgConnectOptions>().is_err()
        {
            return Err(replicas::RoutingError::BadDirectUrl);
        }
        let freshness = std::sync::Arc::new(fresh::Freshness::default());
        Ok(Self {
            replicas: replicas::from_args(args).await?,
            pgbouncer: args.pool.pgbouncer,
            listen: args.direct_url.clone(),
            breaker: std::sync::Arc::new(breaker::Breaker::new(freshness.clone())),
            // Only PostgreSQL's pool reads through `read_text_postgres`.
            warm: match (args.pool.pgbouncer, args.target()?) {
                (false, DatabaseTarget::Postgres { .. }) => {
                    warm::Warm::start(args.pool.pool_max_connections, IDLE_BEFORE_PING, freshness.clone())
                }
                _ => Default::default(),
            },
            freshness,
        })
    }

    /// Opens the primary's pool for `target` (see [`connect`]): connections opened before the
    /// primary last dropped one are not handed out again.
    pub async fn connect_primary(
        &self,
        target: &DatabaseTarget,
        pool: &PoolArgs,
    ) -> Result<DatabaseConnection, ConnectionProblem> {
        open(target, pool, Some(self.freshness.clone())).await
    }
}

/// Where a read runs: the pool, or, behind PgBouncer in transaction mode, a transaction of its
/// own, so that the statement's prepare and execute reach the same server connection.
pub enum Reader<'a> {
    Pool(&'a DatabaseConnection),
    Transaction(ReadTransaction<'a>),
}

/// A read's transaction behind PgBouncer; if the read is dropped before it finished, its
/// backend is ended (PgBouncer keeps its server connection, so closing ours would not stop the
/// statement).
pub struct ReadTransaction<'a> {
    transaction: Option<sea_orm::DatabaseTransaction>,
    backend: Option<backend::Backend>,
    pool: &'a DatabaseConnection,
}

impl ReadTransaction<'_> {
    fn get(&self) -> Result<&sea_orm::DatabaseTransaction, DbErr> {
        self.transaction
            .as_ref()
            .ok_or_else(|| DbErr::Custom("the read has finished".into()))
    }
}

impl Drop for ReadTransaction<'_> {
    fn drop(&mut self) {
        if self.transaction.is_some()
            && let Some(backend) = &self.backend
        {
            backend.end_abandoned(self.pool);
        }
    }
}

impl<'a> Reader<'a> {
    pub async fn open(connection: &'a DatabaseConnection, pgbouncer: bool) -> Result<Self, DbErr> {
        Ok(if pgbouncer {
            let transaction = sea_orm::TransactionTrait::begin(connection).await?;
            let backend = backend::Backend::of(&transaction).await?;
            Self::Transaction(ReadTransaction {
                transaction: Some(transaction),
                backend,
                pool: connection,
            })
        } else {
            Self::Pool(connection)
        })
    }

    /// The one text value `statement` returns (the JSON the database built). On PostgreSQL's
    /// pool an abandoned read closes its connection, so its statement stops with its request.
    /// On the primary's pool, `warm` keeps its connection for the next read.
    pub async fn read_text(&self, statement: Statement, warm: Option<&warm::Warm>) -> Result<Option<String>, DbErr> {
        if let Self::Pool(connection) = self
            && connection.get_database_backend() == DbBackend::Postgres
        {
            return read_text_postgres(connection.get_postgres_connection_pool(), warm, &statement).await;
        }
        match self.query_one_raw(statement).await? {
            Some(row) => row.try_get_by_index(0),
            None => Ok(None),
        }
    }

    /// Ends the read (its transaction only read, so committing it is all there is to do).
    pub async fn finish(self) -> Result<(), DbErr> {
        match self {
            Self::Pool(_) => Ok(()),
            Self::Transaction(mut read) => match read.transaction.take() {
                Some(transaction) => transaction.commit().await,
                None => Ok(()),
            },
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Reader<'_> {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Self::Pool(connection) => connection.get_database_backend(),
            Self::Transaction(read) => read.pool.get_database_backend(),
        }
    }

    async fn execute_raw(&self, statement: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match self {
            Self::Pool(connection) => connection.execute_raw(statement).await,
            Self::Transaction(read) => read.get()?.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match self {
            Self::Pool(connection) => connection.execute_unprepared(sql).await,
            Self::Transaction(read) => read.get()?.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match self {
            Self::Pool(connection) => connection.query_one_raw(statement).await,
            Self::Transaction(read) => read.get()?.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match self {
            Self::Pool(connection) => connection.query_all_raw(statement).await,
            Self::Transaction(read) => read.get()?.query_all_raw(statement).await,
        }
    }
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
