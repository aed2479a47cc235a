//! `/cases/:id`: one case, its fields and notes.

use leptos::prelude::*;

/// One case.
#[component]
pub fn CaseDetailPage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"Case"</h1>
            <p class="page-lede">"The case's fields and notes appear here once the data layer is connected."</p>
        </section>
    }
}
