//! `/cases/new`: the form that creates a case. On submit the case is queued (it shows at
//! once, pending, even offline) and the page moves to it.

use crate::components::alert_region::use_alerts;
use crate::components::case_form::CaseForm;
use crate::offline::{use_offline_queue, EnqueueError};
use crate::permissions::allows;
use casedesk_model::{FieldErrors, NewCase, Permission};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

/// Creates a case.
#[component]
pub fn NewCasePage() -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let navigate = StoredValue::new_local(use_navigate());
    let refused = RwSignal::new(FieldErrors::new());
    let busy = RwSignal::new(false);
    let submit = move |case: NewCase| {
        busy.set(true);
        spawn_local(async move {
            match queue.create_case(case).await {
                Ok(id) => {
                    // The page may have been left while the case was being stored.
                    let _ = navigate.try_with_value(|navigate| {
                        navigate(&format!("/cases/{id}"), NavigateOptions::default());
                    });
                }
                // The queue checks the same rules as the form; should they ever differ, its
                // verdict shows next to the fields all the same.
                Err(EnqueueError::Invalid(fields)) => {
                    refused.set(fields);
                    busy.set(false);
                }
                Err(other) => {
                    alerts.error(format!("The case was not created: {other}."));
                    busy.set(false);
                }
            }
        });
    };
    let writes = allows(Permission::WriteCases);
    view! {
        <section class="page new-case">
            <p class="breadcrumb"><a href="/cases">"← Cases"</a></p>
            <h1>"New case"</h1>
            <Show
                when=move || writes.get()
                fallback=|| view! {
                    <p class="page-lede" data-testid="new-case-refused">
                        "Your role lets you read cases, not create them. Ask an admin if you need to."
                    </p>
                }
            >
                <p class="page-lede">"It is saved on this device at once and sent as soon as the server can be reached."</p>
                <CaseForm on_submit=submit server_errors=refused busy=busy />
            </Show>
        </section>
    }
}
