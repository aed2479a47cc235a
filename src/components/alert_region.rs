//! The alert region: errors and rollbacks announced to the person (and to screen readers
//! through `role="alert"`). Any part of the app pushes an alert through [`Alerts`].

use leptos::prelude::*;

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertLevel {
    Info,
    Error,
}

/// One message in the alert region.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub id: u64,
    pub level: AlertLevel,
    pub message: String,
}

/// The list of alerts on screen, shared through context.
#[derive(Clone, Copy)]
pub struct Alerts {
    items: RwSignal<Vec<Alert>>,
    next_id: StoredValue<u64>,
}

/// Most alerts kept on screen; older ones give way.
const MAX_ALERTS: usize = 5;

impl Alerts {
    /// Announces `message`.
    pub fn push(&self, level: AlertLevel, message: impl Into<String>) {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        let alert = Alert {
            id,
            level,
            message: message.into(),
        };
        self.items.update(|items| {
            items.push(alert);
            let overflow = items.len().saturating_sub(MAX_ALERTS);
            items.drain(..overflow);
        });
    }

    /// Announces an error.
    pub fn error(&self, message: impl Into<String>) {
        self.push(AlertLevel::Error, message);
    }

    /// Announces something worth knowing that is not an error.
    pub fn info(&self, message: impl Into<String>) {
        self.push(AlertLevel::Info, message);
    }

    /// Removes the alert with `id`.
    pub fn dismiss(&self, id: u64) {
        self.items.update(|items| items.retain(|a| a.id != id));
    }

    /// The alerts on screen, oldest first.
    pub fn items(&self) -> Vec<Alert> {
        self.items.get()
    }
}

/// Creates the alert list and provides it as context.
pub fn provide_alerts() -> Alerts {
    let alerts = Alerts {
        items: RwSignal::new(Vec::new()),
        next_id: StoredValue::new(1),
    };
    provide_context(alerts);
    alerts
}

/// The alert list from context.
pub fn use_alerts() -> Alerts {
    use_context::<Alerts>().unwrap_or_else(provide_alerts)
}

/// The region where alerts appear, each with a button to dismiss it.
#[component]
pub fn AlertRegion() -> impl IntoView {
    let alerts = use_alerts();
    view! {
        <div class="alert-region" role="alert" aria-live="assertive">
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
