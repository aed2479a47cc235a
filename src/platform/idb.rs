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

/// When another tab asks to upgrade `db` (a newer casedesk opening it at a higher version),
/// closes this connection at once, so the upgrade is not blocked, and then calls
/// `on_closed`. Nothing is lost by closing: every write this tab made has committed or
/// failed already, and later writes fail (and say so) instead of blocking the other tab.
pub(crate) fn on_version_change(
    db: &indexed_db_futures::database::Database,
    on_closed: impl FnOnce() + 'static,
) {
    let raw: wasm_bindgen::JsValue = db.as_sys().clone().into();
    let target: web_sys::EventTarget = raw.clone().unchecked_into();
    // Runs at most once: the connection is closed by then, so no second event comes.
    let listener = wasm_bindgen::closure::Closure::once_into_js(move |_event: web_sys::Event| {
        if let Ok(close) = js_sys::Reflect::get(&raw, &"close".into()) {
            if let Some(close) = close.dyn_ref::<js_sys::Function>() {
                let _ = close.call0(&raw);
            }
        }
        on_closed();
    });
    let _ = target.add_event_listener_with_callback("versionchange", listener.unchecked_ref());
}

/// [`on_version_change`] for a database nobody needs to hear about.
pub(crate) fn close_on_version_change(db: &indexed_db_futures::database::Database) {
    on_version_change(db, || {});
}
