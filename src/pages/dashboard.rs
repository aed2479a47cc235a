//! `/`: the dashboard.

use leptos::prelude::*;

/// Counts by status and priority, and the trend of opened and resolved cases.
#[component]
pub fn DashboardPage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Dashboard"</h1>
            <p class="page-lede">"Case counts and trends appear here once the data layer is connected."</p>
        </section>
    }
}
