//! Where the server is in its life, shared by every transport: serving; draining once shutdown
//! begins (new requests get 503 `SHUTTING_DOWN`, `/readyz` turns 503, WebSockets close with 1001
//! and in-flight operations finish); aborting once the shutdown deadline passes (operations
//! still running are dropped, which stops their statements).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::watch;

#[derive(Debug)]
pub struct Lifecycle {
    /// Set when shutdown begins: new requests get 503 while in-flight ones finish.
    draining: AtomicBool,
    /// Turns true when shutdown begins: WebSocket connections close with 1001 (going away).
    pub stopping: watch::Sender<bool>,
    /// Turns true when the shutdown deadline passes: operations still running are dropped.
    pub aborting: watch::Sender<bool>,
    /// WebSocket connections open now (shutdown waits for their close frames).
    pub open_sockets: AtomicUsize,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: AtomicBool::new(false),
            stopping: watch::Sender::new(false),
            aborting: watch::Sender::new(false),
            open_sockets: AtomicUsize::new(0),
        }
    }
}

impl Lifecycle {
    /// Whether shutdown has begun.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Shutdown begins: refuse new work, tell WebSocket clients to go elsewhere.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.stopping.send_replace(true);
    }

    /// The shutdown deadline passed: drop what still runs.
    pub fn abort(&self) {
        self.aborting.send_replace(true);
    }

    /// WebSocket connections still open.
    pub fn open_sockets(&self) -> usize {
        self.open_sockets.load(Ordering::Relaxed)
    }
}
