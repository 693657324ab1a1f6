//! The bounds every operation runs under, as one value every path shares: admission (a slot of
//! `GATEWAY_MAX_CONCURRENT_REQUESTS`, or of `GATEWAY_MAX_CONCURRENT_LIVE` for live-query runs),
//! the deadline (`GATEWAY_REQUEST_TIMEOUT`) and the answer budget (`GATEWAY_MAX_RESPONSE_BYTES`,
//! charged to the process's `GATEWAY_MAX_RESPONSE_BYTES_TOTAL`).
//!
//! It is a value handed down, not a layer called up: the HTTP and WebSocket transports, the
//! change feed's live-query runs and federation's reference lookups all take it from here, so a
//! new path gets every bound by using it, and a bound changed here changes on every path. Live
//! queries have their own admission slots so that re-runs triggered by other tenants' writes
//! cannot take the slots (and the pooled connections behind them) that requests need.

use crate::database::budget::{ResponseBudget, ResponseMemory};
use crate::error::GatewayError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds of one process (see the module docs).
#[derive(Debug)]
pub struct Bounds {
    /// Longest time one operation (or one live-query run) may take.
    pub request_timeout: Duration,
    /// Longest wait for an admission slot.
    pub queue_timeout: Duration,
    /// Largest JSON answer of one operation (or one live-query result).
    pub max_response_bytes: usize,
    /// The bytes of answers every operation in flight holds, live results waiting to be sent too.
    pub response_memory: Arc<ResponseMemory>,
    requests: Arc<Semaphore>,
    max_requests: usize,
    live: Arc<Semaphore>,
}

/// Settings of [`Bounds`].
#[derive(Debug, Clone, Copy)]
pub struct BoundSettings {
    pub request_timeout: Duration,
    pub queue_timeout: Duration,
    pub max_concurrent_requests: usize,
    pub max_concurrent_live: usize,
    pub max_response_bytes: usize,
    pub max_response_bytes_total: usize,
}

impl From<&crate::config::LimitArgs> for BoundSettings {
    fn from(args: &crate::config::LimitArgs) -> Self {
        Self {
            request_timeout: args.request_timeout,
            queue_timeout: args.queue_timeout,
            max_concurrent_requests: args.max_concurrent_requests,
            max_concurrent_live: args.max_concurrent_live,
            max_response_bytes: args.max_response_bytes,
            max_response_bytes_total: args.max_response_bytes_total,
        }
    }
}

impl Bounds {
    pub fn new(settings: BoundSettings) -> Self {
        let max_requests = settings.max_concurrent_requests.max(1);
        Self {
            request_timeout: settings.request_timeout,
            queue_timeout: settings.queue_timeout,
            max_response_bytes: settings.max_response_bytes,
            response_memory: Arc::new(ResponseMemory::new(settings.max_response_bytes_total)),
            requests: Arc::new(Semaphore::new(max_requests)),
            max_requests,
            live: Arc::new(Semaphore::new(settings.max_concurrent_live.max(1))),
        }
    }

    /// A slot for one request, waiting at most `queue_timeout`; `OVERLOADED` past it.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        Self::slot(&self.requests, self.queue_timeout).await
    }

    /// A slot for one live-query run (a first result or a re-run), from the live queries' own
    /// slots; `OVERLOADED` past `queue_timeout`.
    pub async fn admit_live(&self) -> Result<OwnedSemaphorePermit, GatewayError> {
        Self::slot(&self.live, self.queue_timeout).await
    }

    async fn slot(slots: &Arc<Semaphore>, wait: Duration) -> Result<OwnedSemaphorePermit, GatewayError> {
        match tokio::time::timeout(wait, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(GatewayError::Busy),
        }
    }

    /// Requests running now.
    pub fn requests_in_flight(&self) -> usize {
        self.max_requests - self.requests.available_permits()
    }

    /// A budget for the answer of one operation, charged to the process's answer memory.
    pub fn budget(&self) -> ResponseBudget {
        ResponseBudget::new(self.max_response_bytes, Some(self.response_memory.clone()))
    }

    /// Runs `work` until `request_timeout`; past it the work is dropped (its statement cancelled
    /// with its connection's future, its transaction rolled back) and the answer is `TIMEOUT`.
    pub async fn deadline<T>(&self, work: impl Future<Output = T>) -> Result<T, GatewayError> {
        tokio::time::timeout(self.request_timeout, work)
            .await
            .map_err(|_| GatewayError::TimedOut(self.request_timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds::new(BoundSettings {
            request_timeout: Duration::from_millis(50),
            queue_timeout: Duration::from_millis(20),
            max_concurrent_requests: 1,
            max_concurrent_live: 1,
            max_response_bytes: 10,
            max_response_bytes_total: 15,
        })
    }

    #[tokio::test]
    async fn live_runs_and_requests_have_their_own_slots() {
        let bounds = bounds();
        let live = bounds.admit_live().await.expect("a live slot");
        let request = bounds.admit().await.expect("live runs do not take request slots");
        assert_eq!(bounds.requests_in_flight(), 1);
        assert!(matches!(bounds.admit().await, Err(GatewayError::Busy)));
        assert!(matches!(bounds.admit_live().await, Err(GatewayError::Busy)));
        drop((live, request));
        assert!(bounds.admit_live().await.is_ok());
    }

    #[tokio::test]
    async fn the_deadline_answers_timeout() {
        let bounds = bounds();
        let slow = bounds.deadline(tokio::time::sleep(Duration::from_secs(5))).await;
        assert_eq!(slow.unwrap_err().code(), crate::error::ErrorCode::Timeout);
        assert_eq!(bounds.deadline(async { 7 }).await.unwrap(), 7);
    }
}
