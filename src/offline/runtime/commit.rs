//! How a change made by [`Runtime::dispatch`] reaches the person, the store and the other
//! tabs, in that order: the overlay and the status in one batch, then one IndexedDB
//! transaction, then the channel message (posted in the order the changes were made).

use super::{Msg, News, Runtime};
use crate::offline::announce;
use crate::offline::status::{BatchProgress, QueueStatus};
use crate::offline::store::StorageError;
use crate::offline::tabs::{TabChanges, TabMessage};
use casedesk_core::{Action, ActionKind, QueueChanges, ServerAnswer};
use leptos::prelude::*;
use std::rc::Rc;
use uuid::Uuid;

impl Runtime {
    /// Shows `changes`, stores them and tells the other tabs. The returned future resolves
    /// once they are stored (or storage failed and said so); everything visible has
    /// happened before it is first polled.
    pub(super) fn commit(
        self: &Rc<Self>,
        changes: QueueChanges,
        news: News,
    ) -> impl std::future::Future<Output = Result<(), StorageError>> + 'static {
        let nothing = changes.is_empty() && news.confirmed.is_none() && news.server_case.is_none();
        let stored = self.store_and_tell(&changes, &news);
        if !nothing {
            self.show(&changes, news);
        }
        stored
    }

    /// `commit`, its storing left to run on its own (a failure shows in the banner).
    pub(super) fn commit_soon(self: &Rc<Self>, changes: QueueChanges, news: News) {
        let write = self.commit(changes, news);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = write.await;
        });
    }

    /// Stores `changes` and then tells the other tabs, without showing them here: an enqueue
    /// shows its change only once it is stored.
    pub(super) fn store_and_tell(
        self: &Rc<Self>,
        changes: &QueueChanges,
        news: &News,
    ) -> impl std::future::Future<Output = Result<(), StorageError>> + 'static {
        let nothing = changes.is_empty() && news.confirmed.is_none() && news.server_case.is_none();
        let write = self.store.write(changes);
        let message = (!nothing).then(|| self.tab_message(changes, news));
        let ticket = self.outbox.reserve(message);
        let runtime = Rc::clone(self);
        async move {
            let result = write.await;
            let _ = runtime.dispatch(Msg::Written(result.clone()));
            for text in runtime.outbox.release(ticket) {
                runtime.post(&text);
            }
            result
        }
    }

    fn tab_message(&self, changes: &QueueChanges, news: &News) -> String {
        let state = self.state.borrow();
        let draining = state.draining;
        let message = TabMessage::Changes(Box::new(TabChanges {
            saved: changes.saved.clone(),
            removed: changes.removed.clone(),
            notices: changes.notices.clone(),
            confirmed: news.confirmed.clone(),
            server_case: news.server_case.clone(),
            paused_for_sign_in: draining.then(|| state.queue.is_paused_for_auth()),
            last_sync_at: if draining { state.last_sync_at } else { None },
        }));
        serde_json::to_string(&message).unwrap_or_default()
    }

    pub(super) fn post(&self, text: &str) {
        if text.is_empty() || self.is_stopped() {
            return;
        }
        if let Some(channel) = self.links.borrow().channel.as_ref() {
            // A tab that cannot be told still reads the store when it next starts.
            let _ = channel.post(text);
        }
    }

    /// Updates everything the person sees after `changes`: the overlay (or the confirmed
    /// answer) in one batch, alerts, counts and row states.
    pub(super) fn show(&self, changes: &QueueChanges, news: News) {
        if self.is_stopped() {
            return;
        }
        for notice in &changes.notices {
            if let (Some(alerts), Some((is_error, text))) =
                (self.alerts, announce::sentence(notice))
            {
                if is_error {
                    alerts.error(text);
                } else {
                    alerts.info(text);
                }
            }
        }
        if let Some(case) = news.server_case {
            self.bridge.set_server_case(case);
        }
        self.publish_pending(news.confirmed.as_ref());
        self.state.borrow_mut().settled_in_run += changes.removed.len();
        self.refresh();
        self.signals.changed.notify();
    }

    /// Gives the read side the live actions, if they changed (or with a confirmation, always).
    pub(super) fn publish_pending(&self, confirmed: Option<&(Action, ServerAnswer)>) {
        if self.is_stopped() {
            return;
        }
        let live = {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            let live: Vec<&Action> = state
                .queue
                .live_actions()
                .filter(|a| !state.unshown.contains(&a.id))
                .collect();
            let signature: Vec<(Uuid, Uuid, u64)> = live
                .iter()
                .map(|a| (a.id, a.idempotency_key, based_on(a)))
                .collect();
            if confirmed.is_none() && state.overlay_signature == signature {
                return;
            }
            let live: Vec<Action> = live.into_iter().cloned().collect();
            state.overlay_signature = signature;
            live
        };
        // The state is let go before the read side runs: it may read the queue back.
        match confirmed {
            Some((action, answer)) => self.bridge.confirm(action, answer, live),
            None => self.bridge.set_pending(live),
        }
    }

    /// Recomputes the status signal.
    pub(super) fn refresh(&self) {
        let status = {
            let mut state = self.state.borrow_mut();
            if state.disposed {
                return;
            }
            let status = status_of(&state);
            if status.pending == 0 {
                // The run is over: the next batch's progress counts from zero.
                state.settled_in_run = 0;
            }
            status
        };
        if self.signals.status.try_get_untracked().as_ref() != Some(&status) {
            self.signals.status.try_set(status);
        }
    }
}

/// What an action's effect was computed on: changes when core rebases it.
fn based_on(action: &Action) -> u64 {
    match &action.kind {
        ActionKind::UpdateCase { base_version, .. } => *base_version,
        ActionKind::DeleteCase { last_known, .. } => last_known.as_ref().map_or(0, |c| c.version),
        ActionKind::CreateCase { .. } | ActionKind::AddNote { .. } => 0,
    }
}

/// The status an instance's state shows.
fn status_of(state: &super::State) -> QueueStatus {
    let queue = &state.queue;
    // Enqueued actions still being written are not shown yet, not even as a count.
    let pending = queue.pending_count().saturating_sub(state.unshown.len());
    let settled = state.settled_in_run;
    let in_flight = queue.in_flight_count();
    QueueStatus {
        online: state.online,
        draining: state.draining,
        paused_for_sign_in: if state.draining {
            queue.is_paused_for_auth()
        } else {
            state.paused_elsewhere
        },
        pending,
        in_flight,
        conflicts: queue.conflict_count(),
        dead: queue.dead_count(),
        last_sync_at: state.last_sync_at,
        last_error: state.last_error.clone(),
        oldest_pending_since: queue
            .records()
            .filter(|r| r.state.is_live())
            .map(|r| r.enqueued_at)
            .min(),
        storage: state.storage.clone(),
        held: state.held,
        batch: (pending > 0 && (settled > 0 || in_flight > 0)).then_some(BatchProgress {
            done: settled,
            total: settled + pending,
        }),
    }
}
