//! The Web Locks API (`navigator.locks.request`), bound by hand because web-sys marks its
//! `LockManager` unstable. A named lock is held from the moment it is granted until it is
//! released or its page closes; then the browser grants it to the next waiter.

use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    type LockManager;

    /// `locks.request(name, options, callback)`: the callback runs once the lock is granted;
    /// the lock is held until the promise it returns settles.
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &JsValue,
        callback: &JsValue,
    ) -> js_sys::Promise;
}

/// Why no lock could be asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error("this browser has no Web Locks API")]
    Unsupported,
    #[error("the browser refused the lock request: {0}")]
    Refused(String),
}

/// A request for a named lock: waiting, then held, until [`LockRequest::release`] or drop.
pub struct LockRequest {
    state: Rc<RefCell<LockState>>,
}

#[derive(Default)]
struct LockState {
    released: bool,
    /// Settles the promise the grant callback returned: releasing a held lock.
    release_held: Option<js_sys::Function>,
    /// Withdraws a request still waiting in the browser's queue.
    abort: Option<web_sys::AbortController>,
}

/// Asks for the lock `name`; `on_granted` runs when this request holds it (at once when
/// nobody else does).
pub fn request(name: &str, on_granted: impl FnOnce() + 'static) -> Result<LockRequest, LockError> {
    let navigator = web_sys::window().ok_or(LockError::Unsupported)?.navigator();
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks"))
        .ok()
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
        .ok_or(LockError::Unsupported)?
        .unchecked_into::<LockManager>();

    let abort = web_sys::AbortController::new().map_err(|e| LockError::Refused(describe(&e)))?;
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &JsValue::from_str("signal"), &abort.signal())
        .map_err(|e| LockError::Refused(describe(&e)))?;

    let state = Rc::new(RefCell::new(LockState {
        abort: Some(abort),
        ..LockState::default()
    }));
    let granted_state = Rc::clone(&state);
    // Called at most once by the browser; `once_into_js` frees it after the call.
    let callback = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
        if granted_state.borrow().released {
            return js_sys::Promise::resolve(&JsValue::UNDEFINED);
        }
        let held = js_sys::Promise::new(&mut |resolve, _reject| {
            granted_state.borrow_mut().release_held = Some(resolve);
        });
        granted_state.borrow_mut().abort = None;
        on_granted();
        held
    });
    let settled = locks.request_with_options(name, &options, &callback);
    // The request's promise rejects when it is withdrawn before the grant: expected, so it is
    // awaited here to keep the console free of "unhandled rejection" noise.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(settled).await;
    });
    Ok(LockRequest { state })
}

impl LockRequest {
    /// Lets the lock go (or withdraws the request if it is still waiting). Idempotent.
    pub fn release(&self) {
        let (release_held, abort) = {
            let mut state = self.state.borrow_mut();
            if state.released {
                return;
            }
            state.released = true;
            (state.release_held.take(), state.abort.take())
        };
        if let Some(resolve) = release_held {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
        if let Some(abort) = abort {
            abort.abort();
        }
    }
}

impl Drop for LockRequest {
    fn drop(&mut self) {
        self.release();
    }
}

fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}
