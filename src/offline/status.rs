//! The queue's health as views read it (the indicator, the Sync page, the storage banner):
//! the types of the status signal (the runtime makes one from its state when it shows).

use casedesk_core::Millis;

/// Whether queued changes are safe on this device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StorageStatus {
    /// The stored queue is being read.
    #[default]
    Opening,
    /// Every change is in IndexedDB.
    Saved,
    /// IndexedDB failed: changes live in this tab's memory (still sent) and the write is
    /// retried; the person is told.
    MemoryOnly { reason: String },
    /// The stored queue was saved by a newer casedesk: it is kept untouched, and changes made
    /// here live in memory (still sent) until the app is updated.
    NewerVersion,
    /// A newer casedesk in another tab took the stored queue over: this tab stopped sending
    /// and storing, and asks the person to reload.
    Superseded,
}

/// How far a drain has got: settled actions out of all since the queue was last empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchProgress {
    pub done: usize,
    pub total: usize,
}

/// The queue as the indicator and the Sync page show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueStatus {
    pub online: bool,
    /// This tab holds the drainer lock (only the drainer sends; other tabs show the same).
    pub draining: bool,
    /// A 401 paused the queue until the person signs in again.
    pub paused_for_sign_in: bool,
    /// Actions not yet confirmed nor dead (includes in flight and conflicts).
    pub pending: usize,
    pub in_flight: usize,
    pub conflicts: usize,
    pub dead: usize,
    /// When the server last confirmed an action.
    pub last_sync_at: Option<Millis>,
    /// The last failure, in words (cleared by a success).
    pub last_error: Option<String>,
    /// When the oldest live action was queued (its age is `now - this`).
    pub oldest_pending_since: Option<Millis>,
    pub storage: StorageStatus,
    /// Set while a batch drains, for a progress bar.
    pub batch: Option<BatchProgress>,
    /// Actions another person made on this device, waiting for their sign-in (counted only).
    pub held: usize,
}
