//! `/sync`: what waits to be sent, what failed, and the connection's health.

use leptos::prelude::*;

/// Pending actions, dead letters and connection health.
#[component]
pub fn SyncPage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Sync"</h1>
            <p class="page-lede">"Pending changes, failed changes and connection health appear here once the action queue is connected."</p>
        </section>
    }
}
