//! The banner shown when a newer casedesk in another tab took the stored queue over: this
//! tab stopped sending and storing, and only a reload brings it back (as the newer version).

use crate::offline::{OfflineQueue, StorageStatus};
use leptos::prelude::*;

/// "casedesk was updated in another tab" with a "Reload" button, while that is so.
#[component]
pub fn ReloadBanner() -> impl IntoView {
    let queue = use_context::<OfflineQueue>();
    let superseded =
        move || queue.is_some_and(|q| q.storage_status().get() == StorageStatus::Superseded);
    let reload = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    move || {
        superseded().then(|| {
            view! {
                <div class="notice notice-warn reload-banner" role="status" data-testid="reload-banner">
                    <p>
                        "casedesk was updated in another tab. This tab has stopped saving and sending; \
                         every change made here is saved on this device, and the updated tab sends it."
                    </p>
                    <button type="button" class="button" on:click=reload>"Reload"</button>
                </div>
            }
        })
    }
}
