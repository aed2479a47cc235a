//! `/cases`: the case list.

use leptos::prelude::*;

/// Every case, searchable and filterable.
#[component]
pub fn CasesPage() -> impl IntoView {
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Cases"</h1>
                <a class="button primary" href="/cases/new">"New case"</a>
            </div>
            <p class="page-lede">"The case list appears here once the data layer is connected."</p>
        </section>
    }
}
