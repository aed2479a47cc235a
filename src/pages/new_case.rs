//! `/cases/new`: the form that creates a case.

use leptos::prelude::*;

/// Creates a case.
#[component]
pub fn NewCasePage() -> impl IntoView {
    view! {
        <section class="page">
            <h1>"New case"</h1>
            <p class="page-lede">"The form to create a case appears here once the action queue is connected."</p>
        </section>
    }
}
