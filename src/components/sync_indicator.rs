//! The sync indicator in the header: online or not, how many changes wait, how many failed,
//! and whether live updates flow. Its `data-*` attributes are part of the UI contract
//! (docs/api.md §2).

use crate::offline::{OfflineQueue, StorageStatus};
use crate::platform::network::use_network_status;
use crate::query::{LiveStatus, QueryClient};
use leptos::prelude::*;

/// "1 change", "3 changes".
fn changes(n: usize) -> String {
    if n == 1 {
        "1 change".to_owned()
    } else {
        format!("{n} changes")
    }
}

/// What the indicator says, most urgent first: failures, then being offline, then sending.
pub fn indicator_text(online: bool, pending: usize, dead: usize) -> String {
    if dead > 0 {
        let not_saved = format!("{} not saved", changes(dead));
        return if online {
            not_saved
        } else {
            format!("Offline · {not_saved}")
        };
    }
    match (online, pending) {
        (false, 0) => "Offline · changes will sync later".to_owned(),
        (false, n) => format!("Offline · {} waiting", changes(n)),
        (true, 0) => "Online · all changes saved".to_owned(),
        (true, n) => format!("Saving {}…", changes(n)),
    }
}

fn live_text(status: Option<LiveStatus>) -> &'static str {
    match status {
        Some(LiveStatus::Live) => "Live updates on",
        Some(LiveStatus::Connecting) => "Live updates connecting",
        Some(LiveStatus::Reconnecting { .. }) => "Live updates reconnecting",
        Some(LiveStatus::Offline) | None => "Live updates paused",
    }
}

/// Shows whether the app is online and whether every change has reached the server; links to
/// the Sync page, where the details are.
#[component]
pub fn SyncIndicator() -> impl IntoView {
    let online = use_network_status().online;
    // Both come from the app's root; a shell mounted without them still shows the network.
    let queue = use_context::<OfflineQueue>();
    let pending = queue.map_or(Signal::stored(0), |q| q.pending_count());
    let dead = queue.map_or(Signal::stored(0), |q| q.dead_count());
    let live = use_context::<QueryClient>().map(|c| c.live_status());
    // A newer casedesk in another tab took the queue over: this tab sends nothing any more.
    let superseded =
        move || queue.is_some_and(|q| q.storage_status().get() == StorageStatus::Superseded);
    let text = move || {
        if superseded() {
            "Updated in another tab · reload".to_owned()
        } else {
            indicator_text(online.get(), pending.get(), dead.get())
        }
    };
    let title = move || {
        format!(
            "{} · {} · open the Sync page for details",
            text(),
            live_text(live.map(|l| l.get()))
        )
    };
    view! {
        <a
            href="/sync"
            class="sync-status"
            data-testid="sync-status"
            data-online=move || online.get().to_string()
            data-pending=move || pending.get().to_string()
            data-dead=move || dead.get().to_string()
            data-live=move || live.map(|l| matches!(l.get(), LiveStatus::Live)).unwrap_or(false).to_string()
            class:offline=move || !online.get()
            class:pending=move || { pending.get() > 0 }
            class:failed=move || { dead.get() > 0 }
            title=title
        >
            <span class="sync-dot" aria-hidden="true"></span>
            <span class="sync-text" aria-live="polite">{text}</span>
        </a>
    }
}
