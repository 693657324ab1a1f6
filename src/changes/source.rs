//! Where changes come from: PostgreSQL notifications on one dedicated connection, or the SQLite
//! change log.
//!
//! The PostgreSQL listener has its own one-connection pool, so it never takes a connection from
//! the request pool. When that connection is lost (a restart, `pg_terminate_backend`, a network
//! cut) it reconnects with backoff and, once it listens again, asks for a resync: notifications
//! sent during the gap are gone, so every live query is re-run and event subscribers are told.

use super::{Change, Signal};
use crate::database::fresh::Freshness;
use crate::plan::RowOp;
use crate::sql::change::CHANGE_LOG;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// The NOTIFY channel the triggers send on.
const CHANNEL: &str = "gateway_changes";
/// How long the listening connection may be silent before it is checked.
const HEALTH_CHECK: Duration = Duration::from_secs(30);
/// How often the SQLite change log is read.
const SQLITE_POLL: Duration = Duration::from_millis(100);
/// Log entries older than this are deleted (every replica has long read them).
const RETENTION_MINUTES: u32 = 10;

/// Feeds `signals` until the dispatcher goes away.
pub async fn run(
    database: DatabaseConnection,
    direct: Option<SecretString>,
    listening: Arc<AtomicBool>,
    signals: mpsc::Sender<Signal>,
    freshness: Arc<Freshness>,
) {
    match database.get_database_backend() {
        DbBackend::Postgres => listen(database, direct, listening, signals, freshness).await,
        _ => poll(database, listening, signals).await,
    }
}

async fn listen(
    database: DatabaseConnection,
    direct: Option<SecretString>,
    listening: Arc<AtomicBool>,
    signals: mpsc::Sender<Signal>,
    freshness: Arc<Freshness>,
) {
    // On the pool's own server, its lost connection tells that the pool's were lost too.
    let same_server = direct.is_none();
    // The pool's own server, unless a direct URL is given (past a pooler, LISTEN needs one).
    let options = match direct.map(|url| url.expose_secret().parse::<sqlx::postgres::PgConnectOptions>()) {
        Some(Ok(options)) => options,
        Some(Err(error)) => {
            tracing::error!(%error, "DATABASE_DIRECT_URL is not a PostgreSQL URL; subscriptions receive no changes");
            return;
        }
        None => (*database.get_postgres_connection_pool().connect_options()).clone(),
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options);
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "cannot listen for changes; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if connected_before {
            tracing::info!("listening for changes again; refreshing every subscription");
            metrics::counter!("gateway_change_feed_reconnects_total").increment(1);
        } else {
            tracing::debug!("listening for changes");
        }
        // Changes before LISTEN took effect were not announced to it: live queries that started
        // meanwhile re-run, and after a lost connection event subscribers are told to re-read.
        let resync = Signal::Resync {
            missed: connected_before,
        };
        if signals.send(resync).await.is_err() {
            return;
        }
        connected_before = true;
        listening.store(true, Ordering::Relaxed);
        loop {
            // A connection dropped without a word (a NAT or load balancer forgetting an idle flow)
            // is found by a query now and then.
            let received = tokio::select! {
                received = listener.try_recv() => received,
                () = tokio::time::sleep(HEALTH_CHECK) => {
                    let check = tokio::time::timeout(Duration::from_secs(5), sqlx::query("SELECT 1").execute(&mut listener));
                    match check.await {
                        Ok(Ok(_)) => continue,
                        Ok(Err(error)) => tracing::warn!(%error, "the change listener's connection failed its check"),
                        Err(_) => tracing::warn!("the change listener's connection did not answer its check"),
                    }
                    break;
                }
            };
            match received {
                Ok(Some(notification)) => {
                    let Some(change) = parse(notification.payload()) else {
                        tracing::warn!(
                            payload = notification.payload(),
                            "ignoring an unreadable change notification"
                        );
                        continue;
                    };
                    if signals.send(Signal::Change(change)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    tracing::warn!("the change listener lost its connection");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the change listener failed");
                    break;
                }
            }
        }
        listening.store(false, Ordering::Relaxed);
        if same_server {
            freshness.lost_now();
        }
        // Start from a fresh connection; the pool replaces the broken one.
        drop(listener);
    }
}

/// A notification payload: `{"t": table, "op": …, "k": key, "ok": old key, "i": log entry}`.
fn parse(payload: &str) -> Option<Change> {
    let json: Json = serde_json::from_str(payload).ok()?;
    let present = |name: &str| json.get(name).filter(|value| !value.is_null()).cloned();
    Some(Change {
        table: json.get("t")?.as_str()?.to_owned(),
        op: RowOp::parse(json.get("op")?.as_str()?)?,
        key: present("k"),
        old_key: present("ok"),
        entry: json.get("i").and_then(Json::as_i64),
    })
}

async fn poll(database: DatabaseConnection, listening: Arc<AtomicBool>, signals: mpsc::Sender<Signal>) {
    let newest = Statement::from_string(
        DbBackend::Sqlite,
        format!("SELECT coalesce(max(id), 0) FROM {CHANGE_LOG}"),
    );
    let mut last: i64 = loop {
        match database.query_one_raw(newest.clone()).await {
            Ok(Some(row)) => break row.try_get_by_index(0).unwrap_or(0),
            Ok(None) => break 0,
            Err(error) => {
                tracing::warn!(%error, "cannot read the change log; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    listening.store(true, Ordering::Relaxed);
    let mut ticker = tokio::time::interval(SQLITE_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let query = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!(
                "SELECT id, table_name, op, row_key, old_key FROM {CHANGE_LOG} WHERE id > ? ORDER BY id LIMIT 10000"
            ),
            [last.into()],
        );
        let rows = match database.query_all_raw(query).await {
            Ok(rows) => {
                listening.store(true, Ordering::Relaxed);
                rows
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the change log");
                listening.store(false, Ordering::Relaxed);
                continue;
            }
        };
        for row in rows {
            let read = || -> Result<(i64, Option<Change>), sea_orm::DbErr> {
                let id: i64 = row.try_get_by_index(0)?;
                let table: String = row.try_get_by_index(1)?;
                let op: String = row.try_get_by_index(2)?;
                let json = |index: usize| -> Result<Option<Json>, sea_orm::DbErr> {
                    let text: Option<String> = row.try_get_by_index(index)?;
                    Ok(text.and_then(|text| serde_json::from_str(&text).ok()))
                };
                let change = RowOp::parse(&op).map(|op| Change {
                    table,
                    key: json(3).ok().flatten(),
                    old_key: json(4).ok().flatten(),
                    entry: (op != RowOp::Insert).then_some(id),
                    op,
                });
                Ok((id, change))
            };
            match read() {
                Ok((id, change)) => {
                    last = last.max(id);
                    if let Some(change) = change
                        && signals.send(Signal::Change(change)).await.is_err()
                    {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, "ignoring an unreadable change log entry"),
            }
        }
    }
}

/// Deletes old change-log entries now and then.
pub async fn trim(database: DatabaseConnection) {
    let sql = match database.get_database_backend() {
        DbBackend::Postgres => {
            format!("DELETE FROM {CHANGE_LOG} WHERE created_at < now() - interval '{RETENTION_MINUTES} minutes'")
        }
        _ => format!(
            "DELETE FROM {CHANGE_LOG} WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{RETENTION_MINUTES} minutes')"
        ),
    };
    // Not at start-up: on SQLite a trim is a write that a starting request's transaction may meet.
    let every = Duration::from_secs(60);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticker.tick().await;
        if let Err(error) = database.execute_unprepared(&sql).await {
            tracing::debug!(%error, "trimming the change log failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_payloads_parse() {
        let change = parse(r#"{"t":"tasks","op":"UPDATE","k":{"id":5},"ok":{"id":5},"i":42}"#).unwrap();
        assert_eq!(change.table, "tasks");
        assert_eq!(change.op, RowOp::Update);
        assert_eq!(change.key, Some(serde_json::json!({"id": 5})));
        assert_eq!(change.entry, Some(42));
        let insert = parse(r#"{"t":"tags","op":"INSERT","k":{"id":1},"ok":null,"i":null}"#).unwrap();
        assert_eq!(insert.old_key, None);
        assert_eq!(insert.entry, None);
        assert!(parse("not json").is_none());
        assert!(parse(r#"{"t":"tasks","op":"TRUNCATE"}"#).is_none());
    }
}
