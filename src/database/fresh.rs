//! Which pooled connections may still be alive. When the database drops one of the gateway's
//! connections at once (a restart, a failover, `pg_terminate_backend`), every connection opened
//! before is suspect: PostgreSQL ended them all, and each would fail the next request that takes
//! it. [`Freshness::lost_now`] records that moment; the pool drops, before handing them out,
//! connections older than it ([`Freshness::opened_before_loss`], sqlx's `before_acquire`), and the
//! kept connections parked since then are dropped too. The first to notice marks the moment: the
//! change feed's listener (its connection is lost as soon as the server goes), a read or a
//! transaction whose connection failed at once, or the breaker when the database is gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the primary last dropped a connection of the gateway's.
#[derive(Debug)]
pub struct Freshness {
    /// What the moments below count from.
    origin: Instant,
    /// Microseconds from `origin` to the last loss; 0: none yet.
    lost_at: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            lost_at: AtomicU64::new(0),
        }
    }
}

impl Freshness {
    /// A connection was lost now: every connection opened before is dropped unused.
    pub fn lost_now(&self) {
        let at = self.micros(Instant::now()).max(1);
        self.lost_at.fetch_max(at, Ordering::AcqRel);
    }

    /// Whether something that began at `at` began before the last loss.
    pub fn before_loss(&self, at: Instant) -> bool {
        let lost_at = self.lost_at.load(Ordering::Acquire);
        lost_at != 0 && self.micros(at) < lost_at
    }

    /// Whether a connection `age` old was opened before the last loss.
    pub fn opened_before_loss(&self, age: Duration) -> bool {
        let now = Instant::now();
        self.before_loss(now.checked_sub(age).unwrap_or(self.origin))
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_micros()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_began_before_the_loss_is_stale() {
        let freshness = Freshness::default();
        let early = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(!freshness.before_loss(early), "nothing was lost yet");
        freshness.lost_now();
        std::thread::sleep(Duration::from_millis(2));
        let late = Instant::now();
        assert!(freshness.before_loss(early));
        assert!(!freshness.before_loss(late));
        assert!(freshness.opened_before_loss(Duration::from_secs(60)));
        assert!(!freshness.opened_before_loss(Duration::ZERO));
    }
}
