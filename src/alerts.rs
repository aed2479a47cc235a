//! The alerts the person is told of: errors and rollbacks, pushed by any part of the app
//! (pages, the offline queue) through [`Alerts`], shown by `components::alert_region`. Each
//! goes on its own after a while, never while the pointer or the focus is on it.

use leptos::prelude::*;
use std::time::Duration;

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

/// How long alerts stay on screen before they go on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertLifetimes {
    pub info: Duration,
    pub error: Duration,
}

impl AlertLifetimes {
    /// Long enough to read a message twice. Nothing is lost when one goes: a change that
    /// failed stays on the Sync page (and in the indicator) until the person acts on it.
    pub const DEFAULT: AlertLifetimes = AlertLifetimes {
        info: Duration::from_secs(8),
        error: Duration::from_secs(15),
    };

    fn of(self, level: AlertLevel) -> Duration {
        match level {
            AlertLevel::Info => self.info,
            AlertLevel::Error => self.error,
        }
    }
}

/// While the pointer or the focus is on the alerts, one that is due waits this much longer.
const HELD_RECHECK: Duration = Duration::from_secs(2);

/// The list of alerts on screen, shared through context.
#[derive(Clone, Copy)]
pub struct Alerts {
    items: RwSignal<Vec<Alert>>,
    next_id: StoredValue<u64>,
    lifetimes: StoredValue<AlertLifetimes>,
    /// The pointer or the focus is inside the region: nothing goes away under the person.
    held: RwSignal<bool>,
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
        self.expire_later(id, self.lifetimes.get_value().of(level));
    }

    fn expire_later(self, id: u64, after: Duration) {
        set_timeout(
            move || {
                // The app (or a test's mount) may be gone by now: then there is nothing to do.
                match self.held.try_get_untracked() {
                    Some(true) => self.expire_later(id, HELD_RECHECK),
                    Some(false) => self.dismiss(id),
                    None => {}
                }
            },
            after,
        );
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
        self.items.try_update(|items| items.retain(|a| a.id != id));
    }

    /// Keeps every alert on screen while the person points at or focuses the region.
    pub fn hold(&self, held: bool) {
        self.held.set(held);
    }

    /// The alerts on screen, oldest first.
    pub fn items(&self) -> Vec<Alert> {
        self.items.get()
    }
}

/// Creates the alert list and provides it as context.
pub fn provide_alerts() -> Alerts {
    provide_alerts_with(AlertLifetimes::DEFAULT)
}

/// As [`provide_alerts`], with other lifetimes (tests use short ones).
pub fn provide_alerts_with(lifetimes: AlertLifetimes) -> Alerts {
    let alerts = Alerts {
        items: RwSignal::new(Vec::new()),
        next_id: StoredValue::new(1),
        lifetimes: StoredValue::new(lifetimes),
        held: RwSignal::new(false),
    };
    provide_context(alerts);
    alerts
}

/// The alert list from context.
pub fn use_alerts() -> Alerts {
    use_context::<Alerts>().unwrap_or_else(provide_alerts)
}
