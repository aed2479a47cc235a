//! How a queue instance joins the other tabs and the browser: the person's sync channel
//! (`{namespace}-{person}-sync`), the `{namespace}-drainer` Web Lock (or, without Web Locks, the stored lease), and
//! the window's online, offline and visibility events (from the environment). Each arrives
//! as a message to the instance.

use super::lease::DrainerLease;
use super::runtime::{Msg, Runtime};
use crate::platform::broadcast::Channel;
use crate::platform::env::WindowEvent;
use casedesk_core::{DurationMs, LeaseDecision, LeaseTerms};
use std::rc::{Rc, Weak};

/// Joins the other tabs: the channel `channel`, the drainer lock, and the window events that
/// wake the worker.
pub fn connect(runtime: &Rc<Runtime>, namespace: &str, channel: &str) {
    let weak = Rc::downgrade(runtime);
    let channel = match Channel::open(channel, move |text| {
        if let Some(runtime) = weak.upgrade() {
            let _ = runtime.dispatch(Msg::FromTab(text));
        }
    }) {
        Ok(channel) => Some(channel),
        Err(error) => {
            web_sys::console::warn_1(&format!("casedesk: tabs cannot sync: {error}").into());
            None
        }
    };

    let weak = Rc::downgrade(runtime);
    let lock = match crate::platform::locks::request(&format!("{namespace}-drainer"), move || {
        if let Some(runtime) = weak.upgrade() {
            let _ = runtime.dispatch(Msg::LockGranted);
        }
    }) {
        Ok(lock) => Some(lock),
        Err(error) => {
            // Without Web Locks (not a secure context) tabs take turns by a lease in
            // IndexedDB instead, so still only one of them sends.
            web_sys::console::info_1(
                &format!("casedesk: {error}; tabs take turns by a stored lease").into(),
            );
            wasm_bindgen_futures::spawn_local(take_turns_by_lease(
                Rc::downgrade(runtime),
                namespace.to_owned(),
                runtime.lease_terms(),
            ));
            None
        }
    };

    let weak = Rc::downgrade(runtime);
    let window = runtime.env().window().subscribe(move |event| {
        let Some(runtime) = weak.upgrade() else {
            return;
        };
        match event {
            WindowEvent::Online => {
                let _ = runtime.dispatch(Msg::Online(true));
            }
            WindowEvent::Offline => {
                let _ = runtime.dispatch(Msg::Online(false));
            }
            // A tab shown again looks at the queue at once (timers may have been throttled).
            WindowEvent::Shown => runtime.wake(),
            WindowEvent::Focused | WindowEvent::Hidden => {}
        }
    });
    let _ = runtime.dispatch(Msg::Joined {
        channel,
        lock,
        window,
    });
}

/// Takes part in the lease for as long as the runtime lives: renews it while holding it,
/// looks again when it would expire (or a renewal period later) while another tab holds it.
/// If the lease database cannot be used, this tab drains on its own, as before (idempotency
/// keys still keep each change to one effect on the server).
async fn take_turns_by_lease(runtime: Weak<Runtime>, namespace: String, terms: LeaseTerms) {
    let lease = match DrainerLease::open(&namespace, terms).await {
        Ok(lease) => Rc::new(lease),
        Err(error) => {
            web_sys::console::warn_1(
                &format!("casedesk: no Web Locks and no lease ({error}); this tab drains alone")
                    .into(),
            );
            if let Some(runtime) = runtime.upgrade() {
                let _ = runtime.dispatch(Msg::LeaseTaken(None));
            }
            return;
        }
    };
    match runtime.upgrade() {
        Some(live) if live.takes_part() => {
            // A tab going away (reload, close, navigation) hands the lease on at once rather
            // than when it expires; if the page comes back from the back-forward cache, the
            // next round takes it again.
            let weak = runtime.clone();
            let on_hide = leptos::prelude::window_event_listener_untyped("pagehide", move |_| {
                if let Some(live) = weak.upgrade() {
                    if let Some(lease) = live.joined_lease() {
                        let _ = live.dispatch(Msg::LeaseLost);
                        wasm_bindgen_futures::spawn_local(async move {
                            let _ = lease.release().await;
                        });
                    }
                }
            });
            let _ = live.dispatch(Msg::LeaseJoined {
                lease: Rc::clone(&lease),
                on_hide,
            });
        }
        _ => return,
    }
    loop {
        let Some(live) = runtime.upgrade().filter(|r| r.takes_part()) else {
            // Shut down or superseded: the runtime released it (again here, in case a renewal
            // raced the release).
            let _ = lease.release().await;
            return;
        };
        let now = live.now();
        drop(live);
        let decision = lease.try_take(now).await;
        let Some(live) = runtime.upgrade().filter(|r| r.takes_part()) else {
            let _ = lease.release().await;
            return;
        };
        let wait = match decision {
            Ok(LeaseDecision::Take(held)) => {
                let _ = live.dispatch(Msg::LeaseTaken(Some(held)));
                terms.renew_every
            }
            Ok(LeaseDecision::Held { retry_at, .. }) => {
                let _ = live.dispatch(Msg::LeaseLost);
                DurationMs(retry_at.since(now).0.clamp(50, terms.renew_every.0))
            }
            // Storage hiccup: a holder keeps sending only while its last lease is valid
            // (the worker checks), and tries again soon.
            Err(_) => terms.renew_every,
        };
        let sleep = live.env().sleep(wait);
        drop(live);
        sleep.await;
    }
}
