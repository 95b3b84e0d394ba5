//! `eventually`: the one way a test waits. It polls a condition instead of sleeping for a
//! guessed time, so a fast machine does not wait and a slow one does not fail.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a condition is checked again.
const POLL: Duration = Duration::from_millis(25);

/// What a condition answers: done (with a value), or not yet (with what it saw, for the
/// failure message).
pub trait Outcome {
    type Value;
    fn settled(self) -> Result<Self::Value, String>;
}

impl Outcome for bool {
    type Value = ();
    fn settled(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("the condition was still false".to_owned())
        }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

/// `Err` carries the last thing seen, shown if the wait times out.
impl<T, E: Display> Outcome for Result<T, E> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.map_err(|last| format!("{last:#}"))
    }
}

/// Checks `condition` until it holds and returns its value; fails the test, naming `what`,
/// the calling line and the last answer, when it does not hold within `limit`. A check
/// that hangs counts against the same limit.
#[track_caller]
pub fn eventually<O: Outcome>(
    what: &str,
    limit: Duration,
    mut condition: impl AsyncFnMut() -> O,
) -> impl Future<Output = O::Value> {
    // Taken here, not in the future: a panic then names the test's line, not this file's.
    let caller = std::panic::Location::caller();
    async move {
        let started = Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            let last = match tokio::time::timeout(left, condition()).await {
                Ok(answer) => match answer.settled() {
                    Ok(value) => return value,
                    Err(last) => last,
                },
                Err(_) => "the last check was still running".to_owned(),
            };
            if started.elapsed() >= limit {
                panic!("{caller}: {what}: not within {limit:?}; last seen: {last}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
