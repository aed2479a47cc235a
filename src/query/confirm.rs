//! Confirmation: a queued action the server accepted. Core computes what its answer does
//! to the cache (`casedesk_core::confirm`); here those events are applied in one reducer
//! pass, and the pending actions replaced, in the same synchronous step.

use super::state::QueryClient;
use casedesk_core::confirm::confirmation_events;
use casedesk_core::{Action, CacheEvent, QueryData, QueryKey, ServerAnswer};
use casedesk_model::Case;

impl QueryClient {
    /// `action` was accepted with `answer`; `pending_after` is the queue without it. In one
    /// synchronous step (so views never see a frame between): the answer becomes the action's
    /// own entry (its case, or its notes), every cached list page and the metrics are settled
    /// as the server now has them (then marked stale, to be revalidated behind the settled
    /// data), and the pending actions are replaced.
    pub fn confirm(&self, action: &Action, answer: &ServerAnswer, pending_after: Vec<Action>) {
        let events = self
            .read_inner(|inner| confirmation_events(&inner.cache, action, answer))
            .unwrap_or_default();
        self.dispatch_all(events);
        self.set_pending(pending_after);
    }

    /// The server's current case from elsewhere (the "theirs" of a 412); an older version
    /// than the cached one is ignored.
    pub fn set_server_case(&self, case: Case) {
        self.dispatch(CacheEvent::SetData {
            key: QueryKey::case(case.id),
            data: QueryData::Case(case),
        });
    }
}
