//! Whether the browser believes it is online, as a signal in context for views: a reading of
//! the environment's one source of online and offline (`platform::env`).

use super::env::{use_environment, Environment, WindowEvent};
use leptos::prelude::*;

/// The browser's network status, shared through context.
#[derive(Clone, Copy)]
pub struct NetworkStatus {
    /// `navigator.onLine`, kept current by the window's `online`/`offline` events.
    pub online: ReadSignal<bool>,
}

/// Reads `navigator.onLine` now; `true` when the browser cannot say.
pub fn navigator_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Creates the status signal, follows `env`'s online and offline, and provides it as context.
pub fn provide_network_status(env: &Environment) -> NetworkStatus {
    let (online, set_online) = signal(env.window().online());
    let subscription = env.window().subscribe(move |event| match event {
        WindowEvent::Online => {
            set_online.try_set(true);
        }
        WindowEvent::Offline => {
            set_online.try_set(false);
        }
        _ => {}
    });
    // Kept (and so listening) for as long as the owner lives; dropped with it.
    StoredValue::new_local(subscription);
    let status = NetworkStatus { online };
    provide_context(status);
    status
}

/// The network status from context, or a fixed reading of the environment outside the app.
pub fn use_network_status() -> NetworkStatus {
    use_context::<NetworkStatus>().unwrap_or_else(|| NetworkStatus {
        online: signal(use_environment().window().online()).0,
    })
}
