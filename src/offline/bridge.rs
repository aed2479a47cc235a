//! What the queue needs from the read side (the query client): the overlay's input, the
//! confirmed answers, the server's side of a conflict, the current view of a case, request
//! diagnostics and the shared request budget. A trait, so tests can stand in for the cache.

use casedesk_core::{Action, DurationMs, Failure, Millis, ServerAnswer};
use casedesk_model::Case;
use uuid::Uuid;

/// The read side as the action queue drives it.
pub trait QueryBridge {
    /// The queue's live actions, in order: the overlay every view shows.
    fn set_pending(&self, actions: Vec<Action>);
    /// `action` was confirmed with `answer`: write it into the cache and show `pending_after`,
    /// in one reactive batch.
    fn confirm(&self, action: &Action, answer: &ServerAnswer, pending_after: Vec<Action>);
    /// The server's current case, from a 412's body.
    fn set_server_case(&self, case: Case);
    /// The case as the screen shows it now (server data plus pending actions): an update's
    /// merge base, a delete's last known state.
    fn view_case(&self, id: Uuid) -> Option<Case>;
    /// One request the queue made, for diagnostics.
    fn record_request(
        &self,
        label: &str,
        elapsed_ms: f64,
        failure: Option<&Failure>,
        request_id: &str,
    );
    /// Takes one token of the request budget shared with queries (leaving the reserve kept
    /// for the person's reads), or says when to ask again.
    fn budget_acquire(&self) -> Result<(), Millis>;
    /// A 429 arrived: the budget holds off for `retry_after` (or its default).
    fn on_rate_limited(&self, retry_after: Option<DurationMs>);
    /// How many of the person's reads are in flight (the drain sends that many fewer).
    fn reads_in_flight(&self) -> usize {
        0
    }
}

/// The app's query client is the read side.
impl QueryBridge for crate::query::QueryClient {
    fn set_pending(&self, actions: Vec<Action>) {
        crate::query::QueryClient::set_pending(self, actions);
    }

    fn confirm(&self, action: &Action, answer: &ServerAnswer, pending_after: Vec<Action>) {
        crate::query::QueryClient::confirm(self, action, answer, pending_after);
    }

    fn set_server_case(&self, case: Case) {
        crate::query::QueryClient::set_server_case(self, case);
    }

    fn view_case(&self, id: Uuid) -> Option<Case> {
        crate::query::QueryClient::view_case(self, id)
    }

    fn record_request(
        &self,
        label: &str,
        elapsed_ms: f64,
        failure: Option<&Failure>,
        request_id: &str,
    ) {
        crate::query::QueryClient::record_request(self, label, elapsed_ms, failure, request_id);
    }

    fn budget_acquire(&self) -> Result<(), Millis> {
        crate::query::QueryClient::budget_acquire(self)
    }

    fn on_rate_limited(&self, retry_after: Option<DurationMs>) {
        crate::query::QueryClient::on_rate_limited(self, retry_after);
    }

    fn reads_in_flight(&self) -> usize {
        crate::query::QueryClient::reads_in_flight(self)
    }
}
