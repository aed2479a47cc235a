//! Any route the app does not know.

use leptos::prelude::*;

/// Says the page does not exist and offers a way back.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Not found"</h1>
            <p class="page-lede">"There is no page at this address."</p>
            <p><a href="/">"Back to the dashboard"</a></p>
        </section>
    }
}
