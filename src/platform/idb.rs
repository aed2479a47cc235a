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
