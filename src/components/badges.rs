//! Small coloured labels: a case's status, its priority, and whether its changes reached the
//! server. Colour is never the only signal: every badge says what it means in words.

use casedesk_core::SyncState;
use casedesk_model::{CaseStatus, Priority};
use leptos::prelude::*;

/// A case's status ("In progress").
#[component]
pub fn StatusBadge(
    /// The status to show.
    #[prop(into)]
    status: Signal<CaseStatus>,
) -> impl IntoView {
    view! {
        <span class=move || format!("badge status-{}", status.get().as_str())>
            {move || status.get().label()}
        </span>
    }
}

/// A case's priority ("Critical").
#[component]
pub fn PriorityBadge(
    /// The priority to show.
    #[prop(into)]
    priority: Signal<Priority>,
) -> impl IntoView {
    view! {
        <span class=move || format!("badge priority-{}", priority.get().as_str())>
            {move || priority.get().label()}
        </span>
    }
}

/// What a person reads for a sync state; `None` when everything is saved, which needs no badge.
pub fn sync_label(state: SyncState) -> Option<&'static str> {
    match state {
        SyncState::Synced => None,
        SyncState::Pending => Some("Saving…"),
        SyncState::Failed => Some("Not saved"),
    }
}

/// Whether a case's changes wait to be sent ("Saving…") or failed ("Not saved"); nothing
/// when all of them reached the server.
#[component]
pub fn SyncBadge(
    /// The case's sync state.
    #[prop(into)]
    state: Signal<SyncState>,
) -> impl IntoView {
    move || {
        let state = state.get();
        sync_label(state).map(|label| {
            view! {
                <span class=format!("badge sync-{}", state.as_str()) data-sync=state.as_str()>
                    {label}
                </span>
            }
        })
    }
}
