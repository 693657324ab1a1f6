//! Connections kept between reads. sqlx pings every connection it takes back (a Sync and its
//! ReadyForQuery in a task spawned by `PoolConnection::drop`: a round trip to PostgreSQL per read,
//! and the connection is not free again until it returns; sqlx has no option to skip it). A read
//! on the primary that finished cleanly parks its connection here instead, and the next read takes
//! it as it is: sqlx's protocol state needs nothing more (a query first reads whatever the last
//! one left unread, which is already in the socket's buffer).
//!
//! What stays sqlx's: a connection is parked only while the pool has an idle connection or room to
//! open one (so nothing waits in it: a transaction, the change feed or a read waiting there gets
//! the connection instead), at most half of the pool is ever parked; a connection parked
//! longer than sqlx would use one without a ping (`IDLE_BEFORE_PING`) goes back to the pool (on
//! the next read, or the sweep every half of that), and one parked again and again goes back
//! every [`RECYCLE`] so that sqlx's lifetime and health checks still see it. Shutdown returns
//! them all before the pool closes ([`Warm::release`]). A failed or abandoned read never parks
//! its connection.

use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a connection keeps cycling between reads before it goes back through the pool once.
const RECYCLE: Duration = Duration::from_secs(30);

/// A connection out of the pool between reads.
pub struct Parked {
    connection: PoolConnection<Postgres>,
    /// When it was first parked since it last came from the pool.
    first: Instant,
    /// When it was parked this time.
    since: Instant,
}

impl Parked {
    /// A connection just acquired from the pool.
    pub fn acquired(connection: PoolConnection<Postgres>) -> Self {
        let now = Instant::now();
        Self {
            connection,
            first: now,
            since: now,
        }
    }

    pub fn connection(&mut self) -> &mut PoolConnection<Postgres> {
        &mut self.connection
    }

    /// Gives up the connection (to close it, or to return it to the pool by dropping it).
    pub fn into_connection(self) -> PoolConnection<Postgres> {
        self.connection
    }
}

/// The primary pool's parked connections.
#[derive(Default)]
pub struct Warm {
    parked: Mutex<Vec<Parked>>,
    /// Most connections parked at once; 0 parks none.
    limit: usize,
    /// Longest a connection is parked before it goes back to the pool.
    idle: Duration,
    /// A connection parked before the primary last dropped one is not taken again.
    freshness: Arc<super::fresh::Freshness>,
}

impl Warm {
    /// Parks at most half of a pool of `pool_size` connections, each for at most `idle`; sweeps
    /// the stale ones back to the pool while the returned `Arc` lives.
    pub fn start(pool_size: u32, idle: Duration, freshness: Arc<super::fresh::Freshness>) -> Arc<Self> {
        let warm = Arc::new(Self {
            parked: Mutex::default(),
            limit: pool_size as usize / 2,
            idle,
            freshness,
        });
        if warm.limit > 0 {
            let weak = Arc::downgrade(&warm);
            tokio::spawn(async move {
                let mut sweep = tokio::time::interval(idle / 2);
                loop {
                    sweep.tick().await;
                    let Some(warm) = weak.upgrade() else { break };
                    warm.release(Some(idle));
                }
            });
        }
        warm
    }

    /// A parked connection fresh enough to use without a ping.
    pub fn take(&self) -> Option<Parked> {
        let mut stale = Vec::new();
        let found = {
            let mut parked = self.parked.lock().ok()?;
            loop {
                match parked.pop() {
                    Some(connection)
                        if connection.since.elapsed() < self.idle && !self.freshness.before_loss(connection.since) =>
                    {
                        break Some(connection);
                    }
                    Some(connection) => stale.push(connection),
                    None => break None,
                }
            }
        };
        // Back to the pool, which pings them (or drops them, opened before a loss), outside the lock.
        drop(stale);
        found
    }

    /// Keeps the connection of a read that finished cleanly, or returns it to `pool` when someone
    /// may be waiting there for one, when enough are parked, or when it has cycled for [`RECYCLE`].
    pub fn park(&self, mut connection: Parked, pool: &sqlx::PgPool) {
        // With an idle connection, or room to open one, no acquirer waits in the pool; otherwise
        // one may (a transaction, the change feed, a read that found nothing parked), and the
        // connection goes to it.
        let spare = pool.num_idle() > 0 || pool.size() < pool.options().get_max_connections();
        if !spare || connection.first.elapsed() >= RECYCLE {
            return;
        }
        connection.since = Instant::now();
        if let Ok(mut parked) = self.parked.lock()
            && parked.len() < self.limit
        {
            parked.push(connection);
        }
    }

    /// Returns the parked connections (those parked longer than `older_than`; all when `None`)
    /// to the pool.
    pub fn release(&self, older_than: Option<Duration>) {
        let released: Vec<Parked> = match self.parked.lock() {
            Ok(mut parked) => {
                let (stale, fresh) = std::mem::take(&mut *parked)
                    .into_iter()
                    .partition(|connection| older_than.is_none_or(|age| connection.since.elapsed() >= age));
                *parked = fresh;
                stale
            }
            Err(_) => Vec::new(),
        };
        drop(released);
    }

    /// How many are parked (idle connections the pool does not count as idle).
    pub fn count(&self) -> usize {
        self.parked.lock().map_or(0, |parked| parked.len())
    }
}
