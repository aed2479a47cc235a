//! How many Argon2id computations (a password checked or hashed: 19 MiB and tens of
//! milliseconds of one core each) run at once, and how many wait for their turn: a burst
//! of sign-ins cannot take every core and gigabytes of memory from everyone else, nor
//! queue without end. When the queue is full a request is refused at once, 503 with
//! `Retry-After`.

use crate::error::ApiError;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Checks waiting per check running: a short queue absorbs a team signing in together,
/// and a flood gets its refusals quickly instead of a long wait.
const WAITING_PER_RUNNING: usize = 4;

pub(crate) struct PasswordChecks {
    /// One permit per computation running.
    running: Arc<Semaphore>,
    /// One permit per computation running or waiting.
    admitted: Arc<Semaphore>,
    /// The permits of `running` and `admitted` when none is taken.
    most_running: usize,
    most_admitted: usize,
}

/// How many computations run and wait at one moment (the operator's metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PasswordChecksNow {
    pub(crate) running: usize,
    pub(crate) waiting: usize,
}

impl PasswordChecks {
    /// As many at once as the machine has cores (the work is all CPU), at most 8.
    pub(crate) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores.clamp(1, 8))
    }

    pub(crate) fn new(running: usize) -> Self {
        let running = running.max(1);
        let admitted = running * (1 + WAITING_PER_RUNNING);
        Self {
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(Semaphore::new(admitted)),
            most_running: running,
            most_admitted: admitted,
        }
    }

    /// Computations running and waiting now.
    pub(crate) fn now(&self) -> PasswordChecksNow {
        let running = self
            .most_running
            .saturating_sub(self.running.available_permits());
        let admitted = self
            .most_admitted
            .saturating_sub(self.admitted.available_permits());
        PasswordChecksNow {
            running,
            waiting: admitted.saturating_sub(running),
        }
    }

    /// Runs `compute` on the blocking pool once its turn comes; 503 at once when the queue
    /// is full.
    pub(crate) async fn run<T, F>(&self, compute: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| busy())?;
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| busy())?;
        // The permits go with the computation: a request given up on (a client gone, a
        // 408) still holds its place until the computation it started has ended.
        tokio::task::spawn_blocking(move || {
            let value = compute();
            drop((running, admitted));
            value
        })
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))
    }
}

fn busy() -> ApiError {
    ApiError::Unavailable("Too many sign-ins at once: try again in a moment.".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_beyond_the_running_and_waiting_places_are_refused_at_once() {
        let checks = Arc::new(PasswordChecks::new(1));
        let places = 1 + WAITING_PER_RUNNING;
        // The first computation blocks until released; the others wait behind it.
        let (release, blocked) = mpsc::channel::<()>();
        let (started, first_running) = mpsc::channel::<()>();
        let first = {
            let checks = Arc::clone(&checks);
            tokio::spawn(async move {
                checks
                    .run(move || {
                        let _ = started.send(());
                        let _ = blocked.recv();
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || first_running.recv())
            .await
            .unwrap()
            .unwrap();
        let mut waiting = Vec::new();
        for _ in 1..places {
            let checks = Arc::clone(&checks);
            waiting.push(tokio::spawn(async move { checks.run(|| ()).await }));
        }
        // Until every waiting check has taken its place, a newcomer may still get one.
        while checks.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let refused = checks.run(|| ()).await;
        assert!(
            matches!(refused, Err(ApiError::Unavailable(_))),
            "{refused:?}"
        );
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        for check in waiting {
            assert!(check.await.unwrap().is_ok(), "a waiting check runs in turn");
        }
        assert!(checks.run(|| ()).await.is_ok(), "places free again");
    }
}
