//! Whether the browser believes it is online (`navigator.onLine` plus the `online` and
//! `offline` events), as a signal in context.

use leptos::ev;
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

/// Creates the status signal, follows the window events, and provides it as context.
pub fn provide_network_status() -> NetworkStatus {
    let (online, set_online) = signal(navigator_online());
    let on = window_event_listener(ev::online, move |_| set_online.set(true));
    let off = window_event_listener(ev::offline, move |_| set_online.set(false));
    on_cleanup(move || {
        on.remove();
        off.remove();
    });
    let status = NetworkStatus { online };
    provide_context(status);
    status
}

/// The network status from context, or a fixed reading of `navigator.onLine` outside the app.
pub fn use_network_status() -> NetworkStatus {
    use_context::<NetworkStatus>().unwrap_or_else(|| NetworkStatus {
        online: signal(navigator_online()).0,
    })
}
