//! Where the process stands in its life: serving, or stopping. The readiness probe and
//! the response headers read it; the shutdown sequence sets it.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Shared and cheap to clone; every clone sees the same state.
#[derive(Clone, Default)]
pub struct Lifecycle {
    stopping_since: Arc<OnceLock<Instant>>,
}

impl Lifecycle {
    /// From now on the readiness probe fails and every response asks its client to
    /// reconnect, so load balancers and keep-alive clients move to other replicas while
    /// this one still serves whatever reaches it.
    pub fn begin_stopping(&self) {
        let _ = self.stopping_since.set(Instant::now());
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping_since.get().is_some()
    }

    /// How long ago the stop began, once it has.
    pub fn stopping_since(&self) -> Option<Instant> {
        self.stopping_since.get().copied()
    }
}
