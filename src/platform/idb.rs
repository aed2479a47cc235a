//! IndexedDB where the driver (indexed_db_futures) says too little: why the browser aborted a
//! transaction.

use indexed_db_futures::error::Error;
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::transaction::Transaction;
use wasm_bindgen::JsCast;

/// Commits `tx`. A transaction the browser aborts comes back from the driver as a bare
/// "transaction aborted"; the browser's reason is in `transaction.error`, and it is the one
/// the person needs: Chromium reports a full disk exactly so (every request succeeds, then
/// the transaction aborts with a `QuotaExceededError`; checked with a quota set through
/// DevTools), which the bare error would describe as a mere refusal.
pub(crate) async fn commit(tx: Transaction<'_>) -> Result<(), Error> {
    // The driver offers no accessor for the error once `commit` has taken the transaction,
    // so a handle to the browser's object is kept; only its `error` is read.
    let raw: web_sys::IdbTransaction = tx.as_sys().clone().unchecked_into();
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(aborted) => Err(raw.error().map_or(aborted, Error::from)),
    }
}

/// Calls `on_request` when another tab asks to upgrade `db` (a newer casedesk opening it at a
/// higher version). The upgrade waits until this connection is closed ([`close`]), so the
/// callback should close it soon: at once, or after finishing the writes it has begun.
/// Runs at most once: once the connection is closed, no second event comes.
pub(crate) fn on_version_change(
    db: &indexed_db_futures::database::Database,
    on_request: impl FnOnce() + 'static,
) {
    let target: web_sys::EventTarget = db.as_sys().clone().unchecked_into();
    let listener =
        wasm_bindgen::closure::Closure::once_into_js(move |_event: web_sys::Event| on_request());
    let _ = target.add_event_listener_with_callback("versionchange", listener.unchecked_ref());
}

/// Closes the connection `db` (the driver's `close` takes the handle by value; this one may
/// be shared). Transactions already begun still finish.
pub(crate) fn close(db: &indexed_db_futures::database::Database) {
    let raw: &wasm_bindgen::JsValue = db.as_sys().as_ref();
    if let Ok(close) = js_sys::Reflect::get(raw, &"close".into()) {
        if let Some(close) = close.dyn_ref::<js_sys::Function>() {
            let _ = close.call0(raw);
        }
    }
}

/// Closes `db` at once when a newer casedesk asks to upgrade it (nothing of this tab's is
/// lost: the cache and the lease are rebuilt by whoever needs them).
pub(crate) fn close_on_version_change(db: &indexed_db_futures::database::Database) {
    let handle = db.clone();
    on_version_change(db, move || close(&handle));
}
