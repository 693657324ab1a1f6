//! The answer budget: how many bytes of JSON one operation may read from the database
//! (`GATEWAY_MAX_RESPONSE_BYTES`), and how many every operation in flight may hold together
//! (`GATEWAY_MAX_RESPONSE_BYTES_TOTAL`). Every read is charged as it arrives
//! ([`super::execute`]), so an answer over the bound is refused before it is built further.

use crate::error::GatewayError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The bytes of JSON one operation's root fields may still read from the database
/// (`GATEWAY_MAX_RESPONSE_BYTES`), shared by the fields of one operation, and charged to the
/// process's [`ResponseMemory`] until the operation's budget is dropped.
#[derive(Debug)]
pub struct ResponseBudget {
    limit: usize,
    used: AtomicUsize,
    memory: Option<Arc<ResponseMemory>>,
    /// What this budget holds of `memory`.
    held: AtomicUsize,
}

/// The bytes of answers every operation in flight holds together
/// (`GATEWAY_MAX_RESPONSE_BYTES_TOTAL`): a burst of large answers is refused with `OVERLOADED`
/// (retryable) instead of growing the process without bound.
#[derive(Debug)]
pub struct ResponseMemory {
    limit: usize,
    used: AtomicUsize,
}

impl ResponseMemory {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Counts the `bytes` of an answer already made (never refused: it exists) until the guard
    /// drops — a response body, until it has been sent.
    pub fn hold(self: &Arc<Self>, bytes: usize) -> HeldMemory {
        self.used.fetch_add(bytes, Ordering::Relaxed);
        HeldMemory {
            memory: self.clone(),
            bytes,
        }
    }

    /// Counts the `bytes` of an answer about to be kept (a live result waiting in a subscriber's
    /// queue) until the guard drops; refused past the limit.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Result<HeldMemory, GatewayError> {
        self.take(bytes)?;
        Ok(HeldMemory {
            memory: self.clone(),
            bytes,
        })
    }

    fn take(&self, bytes: usize) -> Result<(), GatewayError> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit {
                return Err(GatewayError::MemoryExhausted(self.limit));
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => used = current,
            }
        }
    }
}

/// Bytes held in a [`ResponseMemory`] until dropped.
#[derive(Debug)]
pub struct HeldMemory {
    memory: Arc<ResponseMemory>,
    bytes: usize,
}

impl Drop for HeldMemory {
    fn drop(&mut self) {
        self.memory.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl ResponseBudget {
    /// A budget of `limit` bytes for one operation, alone (`memory: None`) or charged to the
    /// process's total.
    pub fn new(limit: usize, memory: Option<Arc<ResponseMemory>>) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
            memory,
            held: AtomicUsize::new(0),
        }
    }

    /// Counts `bytes` against the budget; refuses once the operation's answers exceed it, or
    /// the answers of all operations in flight exceed the process's.
    pub fn charge(&self, bytes: usize) -> Result<(), GatewayError> {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if used > self.limit {
            return Err(GatewayError::LimitExceeded(format!(
                "the answer is larger than {} bytes (GATEWAY_MAX_RESPONSE_BYTES): ask for smaller pages or fewer fields",
                self.limit
            )));
        }
        if let Some(memory) = &self.memory {
            memory.take(bytes)?;
            self.held.fetch_add(bytes, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Drop for ResponseBudget {
    fn drop(&mut self) {
        if let Some(memory) = &self.memory {
            memory.used.fetch_sub(*self.held.get_mut(), Ordering::Relaxed);
        }
    }
}
