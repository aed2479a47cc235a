//! The queue's depth over time: how many changes waited, sampled every few seconds for the
//! whole session, so the Sync page can draw the last minutes even if it was opened just now.

use crate::components::local_time::now_millis;
use crate::offline::OfflineQueue;
use leptos::prelude::*;
use std::collections::VecDeque;
use std::time::Duration;

/// How often the depth is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Samples kept: ten minutes at one per five seconds.
pub const SAMPLES_KEPT: usize = 120;

/// One sample: when, and how many actions were waiting.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct DepthSample {
    /// Milliseconds since the epoch.
    pub at: f64,
    pub pending: usize,
}

/// The samples so far, oldest first, shared through context.
#[derive(Clone, Copy)]
pub struct QueueDepthHistory {
    samples: RwSignal<VecDeque<DepthSample>>,
}

impl QueueDepthHistory {
    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<DepthSample> {
        self.samples.with(|s| s.iter().copied().collect())
    }

    fn record(&self, pending: usize) {
        self.samples.update(|s| {
            if s.len() >= SAMPLES_KEPT {
                s.pop_front();
            }
            s.push_back(DepthSample {
                at: now_millis(),
                pending,
            });
        });
    }
}

/// Starts sampling the queue's depth for as long as the calling owner lives, and provides the
/// history as context. The layout calls it once for the whole app.
pub fn provide_queue_depth_history() -> QueueDepthHistory {
    let history = QueueDepthHistory {
        samples: RwSignal::new(VecDeque::with_capacity(SAMPLES_KEPT)),
    };
    provide_context(history);
    // Without a queue (a component mounted on its own) there is nothing to sample.
    let Some(queue) = use_context::<OfflineQueue>() else {
        return history;
    };
    let pending = queue.pending_count();
    history.record(pending.get_untracked());
    if let Ok(handle) = set_interval_with_handle(
        move || history.record(pending.get_untracked()),
        SAMPLE_EVERY,
    ) {
        on_cleanup(move || handle.clear());
    }
    history
}

/// The app's history, or one started now when there is none (a page mounted on its own).
pub fn use_queue_depth_history() -> QueueDepthHistory {
    use_context::<QueueDepthHistory>().unwrap_or_else(provide_queue_depth_history)
}
