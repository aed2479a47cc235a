//! What one person's tabs tell each other over their sync BroadcastChannel
//! (`{namespace}-{person}-sync`, so no other person's tab hears it): every change to
//! the queue (after it is stored), every confirmation with the server's answer, and the
//! requests only the draining tab can carry out.

use casedesk_core::{Action, Millis, QueueNotice, QueuedAction, ServerAnswer};
use casedesk_model::Case;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::VecDeque;
use uuid::Uuid;

/// One message on the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TabMessage {
    /// The sender changed the queue (already stored): take in `saved`, drop `removed`.
    Changes(Box<TabChanges>),
    /// "Sync now" pressed in a tab that does not drain.
    SyncNow,
    /// A person signed in (in a tab that does not drain): only their actions go.
    SignedIn { person: Option<Uuid> },
}

/// A change set as another tab applies it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TabChanges {
    pub saved: Vec<QueuedAction>,
    pub removed: Vec<Uuid>,
    pub notices: Vec<QueueNotice>,
    /// The server accepted this action with this answer: write it into the cache.
    pub confirmed: Option<(Action, ServerAnswer)>,
    /// The server's current case from a 412.
    pub server_case: Option<Case>,
    /// The drainer's view of the sign-in pause and last success (`None` from other tabs).
    pub paused_for_sign_in: Option<bool>,
    pub last_sync_at: Option<Millis>,
}

/// Messages waiting for their change set to be stored, posted strictly in the order the
/// changes were made (a later state must never reach another tab before an earlier one).
#[derive(Default)]
pub struct Outbox {
    next: std::cell::Cell<u64>,
    slots: RefCell<VecDeque<Slot>>,
}

struct Slot {
    ticket: u64,
    text: Option<String>,
    ready: bool,
}

impl Outbox {
    /// Holds `text` (nothing to post when `None`) until [`Outbox::release`] of its ticket.
    pub fn reserve(&self, text: Option<String>) -> u64 {
        let ticket = self.next.get();
        self.next.set(ticket + 1);
        self.slots.borrow_mut().push_back(Slot {
            ticket,
            text,
            ready: false,
        });
        ticket
    }

    /// Marks `ticket` ready and returns, in order, every message now free to post.
    pub fn release(&self, ticket: u64) -> Vec<String> {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.iter_mut().find(|s| s.ticket == ticket) {
            slot.ready = true;
        }
        let mut out = Vec::new();
        while slots.front().is_some_and(|s| s.ready) {
            if let Some(text) = slots.pop_front().and_then(|s| s.text) {
                out.push(text);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    fn messages_leave_in_the_order_their_changes_were_made() {
        let outbox = Outbox::default();
        let first = outbox.reserve(Some("first".into()));
        let silent = outbox.reserve(None);
        let third = outbox.reserve(Some("third".into()));
        // The third change is stored first: it waits for the earlier ones.
        assert!(outbox.release(third).is_empty());
        assert!(outbox.release(silent).is_empty());
        assert_eq!(outbox.release(first), vec!["first", "third"]);
        assert!(outbox.release(first).is_empty(), "a ticket releases once");
    }
}
