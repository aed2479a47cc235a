//! The sync indicator in the header: online or not, how many changes wait, how many failed.
//! Its `data-*` attributes are part of the UI contract (contract.md §2).

use crate::platform::network::use_network_status;
use leptos::prelude::*;

/// Shows whether the app is online and whether every change has reached the server.
#[component]
pub fn SyncIndicator() -> impl IntoView {
    let network = use_network_status();
    let online = network.online;
    // The action queue lands in its own issue; until then nothing can be waiting.
    let pending = move || 0usize;
    let dead = move || 0usize;
    let text = move || {
        if online.get() {
            "Online · all changes saved".to_owned()
        } else {
            "Offline · changes will sync later".to_owned()
        }
    };
    view! {
        <a
            href="/sync"
            class="sync-status"
            data-testid="sync-status"
            data-online=move || online.get().to_string()
            data-pending=move || pending().to_string()
            data-dead=move || dead().to_string()
            class:offline=move || !online.get()
        >
            <span class="sync-dot" aria-hidden="true"></span>
            <span class="sync-text">{text}</span>
        </a>
    }
}
