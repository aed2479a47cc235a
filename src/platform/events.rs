//! A DOM event listener that removes itself when dropped, so whoever owns it (the query
//! client, a socket) detaches exactly what it attached, whenever it goes away.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventTarget};

/// `target.addEventListener(name, …)` until dropped.
pub struct EventListener {
    target: EventTarget,
    name: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl EventListener {
    /// Listens for `name` on `target`; `None` if the browser refused the listener.
    pub fn new(
        target: &EventTarget,
        name: &'static str,
        callback: impl FnMut(Event) + 'static,
    ) -> Option<Self> {
        let callback = Closure::<dyn FnMut(Event)>::new(callback);
        target
            .add_event_listener_with_callback(name, callback.as_ref().unchecked_ref())
            .ok()?;
        Some(Self {
            target: target.clone(),
            name,
            callback,
        })
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        // Nothing can be done about a refusal here; the closure is freed either way.
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.callback.as_ref().unchecked_ref());
    }
}
