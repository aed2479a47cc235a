//! The alert region: the alerts of [`crate::alerts`] shown to the person (and to screen
//! readers through `role="alert"`), floating over the page, each with a button to dismiss it.

pub use crate::alerts::{
    provide_alerts, provide_alerts_with, use_alerts, Alert, AlertLevel, AlertLifetimes, Alerts,
};
use leptos::prelude::*;

/// The region where alerts appear, each with a button to dismiss it.
#[component]
pub fn AlertRegion() -> impl IntoView {
    let alerts = use_alerts();
    let hold = move |held: bool| alerts.hold(held);
    view! {
        <div
            class="alert-region"
            role="alert"
            aria-live="assertive"
            on:mouseenter=move |_| hold(true)
            on:mouseleave=move |_| hold(false)
            on:focusin=move |_| hold(true)
            on:focusout=move |_| hold(false)
        >
            <For each=move || alerts.items() key=|alert| alert.id let:alert>
                <div class="alert" class:alert-error=alert.level == AlertLevel::Error>
                    <span class="alert-message">{alert.message.clone()}</span>
                    <button
                        type="button"
                        class="alert-dismiss"
                        aria-label="Dismiss"
                        on:click=move |_| alerts.dismiss(alert.id)
                    >
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
