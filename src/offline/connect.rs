//! How a queue instance joins the other tabs and the browser: the `{namespace}-sync`
//! channel, the `{namespace}-drainer` Web Lock (or, without Web Locks, the stored lease), and
//! the window's online, offline and visibility events (from the environment). Each arrives
//! as a message to the instance.

use super::lease;
use super::runtime::{Msg, Runtime};
use crate::platform::broadcast::Channel;
use crate::platform::env::WindowEvent;
use std::rc::Rc;

/// Joins the other tabs: the channel, the drainer lock, and the window events that wake the
/// worker.
pub fn connect(runtime: &Rc<Runtime>, namespace: &str) {
    let weak = Rc::downgrade(runtime);
    let channel = match Channel::open(&format!("{namespace}-sync"), move |text| {
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
            wasm_bindgen_futures::spawn_local(lease::run(
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
