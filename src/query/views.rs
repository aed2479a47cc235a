//! What views read: a key's trigger, the overlay's inputs, observing and letting go of a
//! key, and the overlay itself (server data with the pending actions on top), with the
//! created-here rule for a case the server does not know yet.

use super::state::QueryClient;
use casedesk_core::overlay::{self, KnownCases};
use casedesk_core::{
    Action, ActionKind, CacheEvent, DurationMs, Failure, OverlayTarget, QueryData, QueryKey,
};
use casedesk_model::Case;
use leptos::prelude::*;
use uuid::Uuid;

impl QueryClient {
    /// Subscribes the running reactive computation to `key`'s changes.
    pub(super) fn track_key(&self, key: &QueryKey) {
        let trigger = self.with_inner(|inner| {
            inner
                .triggers
                .entry(key.clone())
                .or_insert_with(ArcTrigger::new)
                .clone()
        });
        if let Some(trigger) = trigger {
            trigger.track();
        }
    }

    /// Subscribes to the pending actions, and (`consults_others`) while any are pending, to
    /// every entry: a list's or the metrics' overlay looks up cases held elsewhere.
    pub(super) fn track_overlay_inputs(&self, consults_others: bool) {
        self.pending_changed.track();
        if consults_others && self.read_inner(|i| !i.pending.is_empty()).unwrap_or(false) {
            self.data_changed.track();
        }
    }

    /// A view starts showing `target`.
    pub(super) fn observe(&self, target: &OverlayTarget) {
        let key = target.key();
        let is_list = matches!(target, OverlayTarget::CaseList(_));
        let options = self
            .read_inner(|inner| {
                let defaults = inner.cache.config().defaults;
                match inner.list_stale_time {
                    Some(stale_time) if is_list => defaults.with_stale_time(stale_time),
                    _ => defaults,
                }
            })
            .unwrap_or_default();
        self.dispatch(CacheEvent::Observe { key, options });
    }

    /// The stale time case lists are observed with from now on (the person's setting); other
    /// queries keep the default.
    pub fn set_list_stale_time(&self, stale_time: DurationMs) {
        self.with_inner(|inner| inner.list_stale_time = Some(stale_time));
    }

    /// A view stops showing `key`.
    pub(super) fn unobserve(&self, key: QueryKey) {
        self.dispatch(CacheEvent::Unobserve { key });
    }

    /// What the screen shows for `target` (server data with the pending actions), and what
    /// the entry says about its fetch. Untracked: callers track what they depend on.
    pub(super) fn overlaid(
        &self,
        target: &OverlayTarget,
    ) -> Option<(Option<QueryData>, EntryInfo)> {
        self.read_inner(|inner| {
            let key = target.key();
            let entry = inner.cache.get(&key);
            let server = entry.and_then(|e| e.data());
            let shown = match target {
                // The cache knows where each case is held, so a view with pending actions
                // costs what those actions touch, not the size of the cache.
                OverlayTarget::CaseList(_) | OverlayTarget::Metrics if !inner.pending.is_empty() => {
                    overlay::view(target, server, &inner.pending, &inner.cache)
                }
                _ => overlay::view(target, server, &inner.pending, &overlay::NoKnownCases),
            };
            let created_here = inner.pending.iter().any(|action| {
                matches!(&action.kind, ActionKind::CreateCase { case } if Some(case.id) == target_case(target))
            });
            // A case created here has no notes yet: an empty list, not "loading" for ever
            // (the server answers 404 until the creation lands).
            let shown = match target {
                OverlayTarget::Notes(_) if shown.is_none() && server.is_none() && created_here => {
                    Some(QueryData::Notes(Vec::new()))
                }
                _ => shown,
            };
            let info = EntryInfo {
                has_server_data: server.is_some(),
                is_fetching: entry.is_some_and(|e| e.is_fetching()),
                // A case created offline is unknown to the server until its creation lands;
                // its 404 is expected, not an error to show.
                error: entry
                    .and_then(|e| e.error())
                    .filter(|failure| !(created_here && is_not_found(failure)))
                    .cloned(),
            };
            (shown, info)
        })
    }

    /// The overlay's input: the live actions, in queue order. Every view updates in the same
    /// turn; leaving an action out is its rollback.
    pub fn set_pending(&self, actions: Vec<Action>) {
        self.with_inner(|inner| inner.pending = actions);
        self.pending_changed.notify();
    }

    /// The case as the screen shows it now (server data with the pending actions), untracked:
    /// what an edit is based on.
    pub fn view_case(&self, id: Uuid) -> Option<Case> {
        self.read_inner(|inner| {
            // The case's own entry or any list page showing it, newest version first: a case
            // seen only in a list can be edited from that list.
            let server = inner.cache.known_case(id);
            overlay::case_view(id, server, &inner.pending)
        })
        .flatten()
    }
}

/// What a view needs from an entry besides its data.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EntryInfo {
    pub(super) has_server_data: bool,
    pub(super) is_fetching: bool,
    pub(super) error: Option<Failure>,
}

fn target_case(target: &OverlayTarget) -> Option<Uuid> {
    match target {
        OverlayTarget::Case(id) | OverlayTarget::Notes(id) => Some(*id),
        OverlayTarget::CaseList(_)
        | OverlayTarget::Metrics
        | OverlayTarget::Users
        | OverlayTarget::History(_) => None,
    }
}

fn is_not_found(failure: &Failure) -> bool {
    matches!(failure, Failure::Http { status: 404, .. })
}
