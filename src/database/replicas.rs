//! Read replicas: queries are spread over the healthy replicas; writes, the rows mutations
//! return and the change feed stay on the primary.
//!
//! Each replica's pool connects lazily, so a replica that is down does not hold up start-up. A
//! background check asks every replica how far it is behind (`pg_last_xact_replay_timestamp`
//! while WAL is still to be replayed); one that does not answer or lags more than
//! `GATEWAY_READ_MAX_LAG` is skipped, with a warning, until it recovers. With no healthy
//! replica, queries go to the primary. A query that fails on a replica is retried on the primary
//! at once (and a replica that went away is skipped from then on).

use super::options;
use crate::config::{DatabaseTarget, PoolArgs};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The replicas `args` configure, started; `None` when there are none.
pub async fn from_args(args: &crate::config::DatabaseArgs) -> Result<Option<Arc<ReadReplicas>>, RoutingError> {
    let targets = args.read_targets()?;
    if targets.is_empty() {
        return Ok(None);
    }
    let replicas = &args.replicas;
    let started = ReadReplicas::start(
        &targets,
        &args.pool,
        replicas.read_max_lag,
        replicas.read_check_interval,
    )
    .await
    .map_err(|error| RoutingError::Pool(error.to_string()))?;
    tracing::info!(replicas = targets.len(), "queries go to the read replicas");
    Ok(Some(started))
}

/// Read replica settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("read replica: {0}")]
    Target(#[from] crate::config::database::TargetError),
    #[error("read replica pool: {0}")]
    Pool(String),
    #[error("GATEWAY_PGBOUNCER needs DATABASE_DIRECT_URL: subscriptions LISTEN on a direct connection to the primary")]
    NoDirectUrl,
    #[error("DATABASE_DIRECT_URL is not a PostgreSQL URL (postgres://user:password@host:port/database)")]
    BadDirectUrl,
}

const UNKNOWN: u8 = 0;
const HEALTHY: u8 = 1;
const DOWN: u8 = 2;
const LAGGING: u8 = 3;

struct Replica {
    /// The redacted URL, for logs and `/readyz`.
    name: String,
    connection: DatabaseConnection,
    state: AtomicU8,
    lag_millis: AtomicU64,
}

/// The replica pools and their health.
pub struct ReadReplicas {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
}

impl ReadReplicas {
    /// Opens a lazy pool per replica and starts checking them every `interval`.
    pub async fn start(
        targets: &[DatabaseTarget],
        pool: &PoolArgs,
        max_lag: Duration,
        interval: Duration,
    ) -> Result<Arc<Self>, sea_orm::DbErr> {
        let mut replicas = Vec::with_capacity(targets.len());
        // Replicas are reached directly (PgBouncer settings are the primary URL's).
        let pool = &PoolArgs {
            pgbouncer: false,
            ..pool.clone()
        };
        for target in targets {
            let mut options = options(target, pool, false);
            options.connect_lazy(true).min_connections(0);
            // A replica's version is not known before it is reached: each connection asks its
            // server to check for a vanished client (PostgreSQL 14 and later), so an abandoned
            // read stops there too (see `read_text`).
            let check_client: Arc<str> = format!(
                "SELECT set_config('client_connection_check_interval', '{}', false) \
                 WHERE current_setting('server_version_num')::int >= 140000",
                super::CLIENT_CHECK_INTERVAL
            )
            .into();
            options.map_sqlx_postgres_pool_opts(move |pool| {
                let check_client = check_client.clone();
                pool.after_connect(move |connection, _| {
                    let check_client = check_client.clone();
                    Box::pin(async move {
                        sqlx::query(sqlx::AssertSqlSafe(check_client.as_ref()))
                            .execute(connection)
                            .await
                            .map(|_| ())
                    })
                })
            });
            replicas.push(Replica {
                name: target.to_string(),
                connection: sea_orm::Database::connect(options).await?,
                state: AtomicU8::new(UNKNOWN),
                lag_millis: AtomicU64::new(0),
            });
        }
        let replicas = Arc::new(Self {
            replicas,
            next: AtomicUsize::new(0),
            max_lag,
        });
        let checked = Arc::downgrade(&replicas);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(replicas) = checked.upgrade() else { return };
                for replica in &replicas.replicas {
                    replicas.check(replica, interval.max(Duration::from_secs(1))).await;
                }
            }
        });
        Ok(replicas)
    }

    /// A healthy replica's pool, in turn; `None` sends the query to the primary.
    pub fn pick(&self) -> Option<&DatabaseConnection> {
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.replicas[(start + offset) % count])
            .find(|replica| replica.state.load(Ordering::Relaxed) == HEALTHY)
            .map(|replica| &replica.connection)
    }

    /// Marks the replica behind `connection` as down after a failed query (the next check may
    /// bring it back).
    pub fn failed(&self, connection: &DatabaseConnection) {
        if let Some(replica) = self
            .replicas
            .iter()
            .find(|replica| std::ptr::eq(&replica.connection, connection))
        {
            self.set(
                replica,
                DOWN,
                "a query failed on the read replica; reading from the primary",
            );
        }
    }

    fn set(&self, replica: &Replica, state: u8, message: &str) {
        let previous = replica.state.swap(state, Ordering::Relaxed);
        if previous != state {
            match state {
                HEALTHY => tracing::info!(replica = %replica.name, "{message}"),
                _ => tracing::warn!(replica = %replica.name, "{message}"),
            }
            metrics::gauge!("gateway_read_replica_healthy", "replica" => replica.name.clone())
                .set(if state == HEALTHY { 1.0 } else { 0.0 });
        }
    }

    async fn check(&self, replica: &Replica, timeout: Duration) {
        // Lag in milliseconds; -1 for a standby that is not streaming (its receive position is
        // frozen, so "replayed all it received" would look like no lag at all).
        let sql = "SELECT CAST(CASE \
                   WHEN pg_is_in_recovery() AND NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN -1 \
                   WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 \
                   ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) * 1000 END AS bigint)";
        let query = replica
            .connection
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql));
        let lag: Result<i64, String> = match tokio::time::timeout(timeout, query).await {
            Ok(Ok(Some(row))) => row.try_get_by_index(0).map_err(|error| error.to_string()),
            Ok(Ok(None)) => Err("no answer".into()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        match lag {
            Ok(lag) if lag < 0 => self.set(
                replica,
                LAGGING,
                "the read replica is not streaming from the primary (pg_stat_wal_receiver; the role needs pg_monitor to see it); reading from the primary",
            ),
            Ok(lag) => {
                let lag = lag as u64;
                replica.lag_millis.store(lag, Ordering::Relaxed);
                if Duration::from_millis(lag) > self.max_lag {
                    self.set(
                        replica,
                        LAGGING,
                        &format!(
                            "the read replica is {lag} ms behind (GATEWAY_READ_MAX_LAG); reading from the primary"
                        ),
                    );
                } else {
                    self.set(replica, HEALTHY, "the read replica serves queries");
                }
            }
            Err(error) => self.set(
                replica,
                DOWN,
                &format!("the read replica does not answer ({error}); reading from the primary"),
            ),
        }
    }

    /// Each replica's state, for `/readyz`.
    pub fn report(&self) -> Vec<Value> {
        self.replicas
            .iter()
            .map(|replica| {
                let state = match replica.state.load(Ordering::Relaxed) {
                    HEALTHY => "ready",
                    DOWN => "down",
                    LAGGING => "lagging",
                    _ => "starting",
                };
                json!({
                    "replica": replica.name,
                    "state": state,
                    "lag_seconds": replica.lag_millis.load(Ordering::Relaxed) as f64 / 1000.0,
                })
            })
            .collect()
    }
}
