//! Fail fast while the database is down.
//!
//! Without this, every request waits the whole acquire timeout (`GATEWAY_ACQUIRE_TIMEOUT`) for a
//! connection that cannot be opened. Once a request finds the database unreachable, the breaker
//! opens: for [`OPEN_FOR`] every request is answered `DATABASE_UNAVAILABLE` at once. After that,
//! one request at a time tries the database again (the others still fail fast); the first that
//! succeeds, or a readiness probe that reaches the database, closes the breaker, so recovery takes
//! milliseconds once the database is back. A pool that is merely busy (every connection in use) does not open
//! it: that is load, not an outage.
//!
//! The breaker opens from the first read that finds the database gone (a pooled connection the
//! server dropped fails at once), and every read already waiting on the database then is answered
//! at once too ([`Breaker::down`]), instead of each waiting out its own acquire timeout.

use crate::error::GatewayError;
use sea_orm::{DatabaseConnection, DbBackend};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the breaker stays open before a request may try the database again.
pub const OPEN_FOR: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct Breaker {
    /// Until when requests fail without trying; `None`: the database is believed up. A watch, so
    /// that reads in flight can wait for it to open.
    open_until: tokio::sync::watch::Sender<Option<Instant>>,
    /// A request is trying the database after the window ran out.
    trying: AtomicBool,
    /// When the primary last dropped a connection; the database found gone drops them all.
    freshness: std::sync::Arc<super::fresh::Freshness>,
}

/// A request admitted by the breaker; report its outcome with [`Breaker::record`].
#[must_use]
pub struct Admission {
    trial: bool,
}

impl Admission {
    /// Whether this read tries a database the breaker believes down.
    pub fn trial(&self) -> bool {
        self.trial
    }
}

impl Breaker {
    /// A closed breaker that marks `freshness` when it opens.
    pub fn new(freshness: std::sync::Arc<super::fresh::Freshness>) -> Self {
        Self {
            freshness,
            ..Self::default()
        }
    }

    /// Whether a request may use the database now, and whether it is the one trying it again
    /// while the breaker is open.
    pub fn admit(&self) -> Result<Admission, GatewayError> {
        let open_until = *self.open_until.borrow();
        match open_until {
            None => Ok(Admission { trial: false }),
            Some(until) if Instant::now() < until => Err(GatewayError::DatabaseUnavailable),
            Some(_) => match self
                .trying
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => Ok(Admission { trial: true }),
                Err(_) => Err(GatewayError::DatabaseUnavailable),
            },
        }
    }

    /// Opens the breaker: the database was found gone.
    pub fn trip(&self) {
        self.freshness.lost_now();
        self.open_until.send_modify(|open_until| {
            if open_until.is_none() {
                tracing::warn!("the database is unreachable: answering at once for {OPEN_FOR:?} before trying again");
            }
            *open_until = Some(Instant::now() + OPEN_FOR);
        });
    }

    /// Whether the breaker is open (the database was found gone and not found back).
    fn is_open(&self) -> bool {
        self.open_until.borrow().is_some()
    }

    /// Whether a read may try once more: not once the breaker has opened.
    pub fn admit_again(&self) -> bool {
        !self.is_open()
    }

    /// What to do after an attempt that began `elapsed` ago lost its connection
    /// (`DatabaseUnavailable`): whether to try once more. A failure at once (not after waiting out
    /// the acquire timeout, and not because the breaker opened meanwhile) met either a pooled
    /// connection the server dropped (a restart) or a database that is gone. A connection of its
    /// own tells which at once (the pool would keep retrying for the acquire timeout): gone, the
    /// breaker opens now and every read waiting on the database is answered; there, every
    /// connection opened before is dropped unused (they count as open until then, so the pool
    /// looks full), and the attempt (a read, or a transaction that has not begun) is tried again.
    pub async fn try_again(&self, database: &DatabaseConnection, elapsed: Duration) -> bool {
        if waited_out(database, elapsed) || !self.admit_again() {
            return false;
        }
        if !reachable(database).await {
            self.trip();
            return false;
        }
        self.freshness.lost_now();
        true
    }

    /// The database answered another way (the readiness probe): requests may use it again.
    pub fn reset(&self) {
        self.open_until
            .send_if_modified(|open_until| open_until.take().is_some());
    }

    /// Resolves when the breaker opens: a read admitted while it was closed stops waiting on a
    /// database another read found gone.
    pub async fn down(&self) {
        let mut open_until = self.open_until.subscribe();
        let _ = open_until.wait_for(Option::is_some).await;
    }

    /// Records how a request admitted with `admission` went on `database`, and says what it was:
    /// no connection within the acquire timeout on a pool whose every connection is open is
    /// `PoolExhausted` (busy), not an outage.
    pub fn settle<T>(
        &self,
        admission: Admission,
        database: &DatabaseConnection,
        result: Result<T, GatewayError>,
    ) -> Result<T, GatewayError> {
        let result = match result {
            // Once another read found the database gone, a full pool is a dead one, not a busy one.
            Err(GatewayError::DatabaseUnavailable) if saturated(database) && !self.is_open() => {
                Err(GatewayError::PoolExhausted)
            }
            other => other,
        };
        self.record(admission, &result);
        result
    }

    fn record<T>(&self, admission: Admission, result: &Result<T, GatewayError>) {
        if matches!(result, Err(GatewayError::DatabaseUnavailable)) {
            self.trip();
        } else if result.is_ok() || admission.trial {
            self.reset();
        }
        if admission.trial {
            self.trying.store(false, Ordering::Release);
        }
    }
}

/// Whether the database accepts a new connection now (one of its own, outside the pool, within
/// [`REACHABLE_WITHIN`]); SQLite always does.
pub async fn reachable(database: &DatabaseConnection) -> bool {
    if database.get_database_backend() != DbBackend::Postgres {
        return true;
    }
    let options = database.get_postgres_connection_pool().connect_options();
    let connecting = <sqlx::PgConnection as sqlx::Connection>::connect_with(&*options);
    match tokio::time::timeout(REACHABLE_WITHIN, connecting).await {
        Ok(Ok(connection)) => {
            let _ = sqlx::Connection::close(connection).await;
            true
        }
        _ => false,
    }
}

/// Whether a read that failed after `elapsed` waited out the pool's acquire timeout (no
/// connection came: busy or unreachable), rather than losing its connection (an error at once).
fn waited_out(database: &DatabaseConnection, elapsed: Duration) -> bool {
    if database.get_database_backend() != DbBackend::Postgres {
        return true;
    }
    elapsed >= database.get_postgres_connection_pool().options().get_acquire_timeout()
}

/// How long [`reachable`] waits for a new connection.
const REACHABLE_WITHIN: Duration = Duration::from_secs(1);

/// Whether every connection the pool may open is open (so a timeout means "busy", not "down").
pub fn saturated(database: &DatabaseConnection) -> bool {
    if database.get_database_backend() != DbBackend::Postgres {
        return false;
    }
    let pool = database.get_postgres_connection_pool();
    pool.size() >= pool.options().get_max_connections()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_breaker_refuses_until_one_trial_may_try() {
        let breaker = Breaker::default();
        assert!(breaker.admit().is_ok());
        breaker
            .open_until
            .send_replace(Some(Instant::now() + Duration::from_secs(60)));
        assert!(matches!(breaker.admit(), Err(GatewayError::DatabaseUnavailable)));
        breaker
            .open_until
            .send_replace(Some(Instant::now() - Duration::from_millis(1)));
        let trial = breaker.admit().expect("one request tries");
        assert!(trial.trial);
        assert!(breaker.admit().is_err(), "only one at a time");
    }
}
