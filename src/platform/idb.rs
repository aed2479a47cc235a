//! The one IndexedDB adapter the stores share (the cache's, the queue's, the drainer lease's):
//! opening with schema steps and an optional give-up time, committing with the browser's own
//! abort reason, closing on a newer version's request, and every failure as a [`StorageError`].

use futures::future::{select, Either};
use indexed_db_futures::database::{Database, VersionChangeEvent};
use indexed_db_futures::error::{Error, OpenDbError};
use indexed_db_futures::internals::SystemRepr;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use std::future::IntoFuture;
use wasm_bindgen::{JsCast, JsValue};

/// Why IndexedDB could not do what was asked, in words for the person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("this browser does not offer storage here ({0})")]
    Unavailable(String),
    #[error("the device's storage is full")]
    QuotaExceeded,
    #[error("another casedesk tab is holding the storage; close it or reload")]
    Blocked,
    /// The database was saved by a newer casedesk (its version is above the one asked
    /// for): it is left untouched.
    #[error("this device holds changes saved by a newer version of casedesk, which this version cannot read")]
    NewerVersion,
    /// A newer casedesk in another tab is upgrading the database; this tab closed its
    /// connection so as not to block it.
    #[error("casedesk was updated in another tab")]
    Superseded,
    #[error("the browser refused to save ({0})")]
    Failed(String),
}

impl From<Error> for StorageError {
    fn from(error: Error) -> Self {
        failed(&error)
    }
}

/// Sorts a driver error into what the person is told.
pub(crate) fn failed(error: &Error) -> StorageError {
    match error {
        Error::DomException(dom) => {
            let sys: &JsValue = dom.as_ref();
            let name = js_sys::Reflect::get(sys, &JsValue::from_str("name"))
                .ok()
                .and_then(|n| n.as_string())
                .unwrap_or_default();
            match name.as_str() {
                "QuotaExceededError" => StorageError::QuotaExceeded,
                "VersionError" => StorageError::NewerVersion,
                "InvalidStateError" | "UnknownError" | "SecurityError" => {
                    StorageError::Unavailable(dom.message())
                }
                _ => StorageError::Failed(dom.message()),
            }
        }
        other => StorageError::Failed(other.to_string()),
    }
}

fn open_failed(error: &OpenDbError) -> StorageError {
    match error {
        OpenDbError::Base(base) => failed(base),
        other => StorageError::Unavailable(other.to_string()),
    }
}

/// Opens database `name` at `version`, running `upgrade(old_version, db)` when the stored
/// one is older (0 for a new database). With `give_up_after_ms`, an open that another tab
/// blocks that long fails with [`StorageError::Blocked`]; without, it waits for that tab.
pub(crate) async fn open(
    name: &str,
    version: u32,
    upgrade: impl Fn(f64, &Database) -> indexed_db_futures::Result<()> + 'static,
    give_up_after_ms: Option<u32>,
) -> Result<Database, StorageError> {
    let request = Database::open(name)
        .with_version(version)
        .with_on_blocked(|_event| Ok(()))
        .with_on_upgrade_needed(move |event: VersionChangeEvent, db: Database| {
            upgrade(event.old_version(), &db)
        });
    let opening = request.into_future();
    let Some(ms) = give_up_after_ms else {
        return opening.await.map_err(|e| open_failed(&e));
    };
    let timeout = gloo_timers::future::TimeoutFuture::new(ms);
    match select(std::pin::pin!(opening), timeout).await {
        Either::Left((Ok(db), _)) => Ok(db),
        Either::Left((Err(error), _)) => Err(open_failed(&error)),
        Either::Right(_) => Err(StorageError::Blocked),
    }
}

/// An upgrade step for a database of one object store: creates `store` if it is missing.
pub(crate) fn ensure_store(
    store: &'static str,
) -> impl Fn(f64, &Database) -> indexed_db_futures::Result<()> {
    move |_old_version, db| {
        if !db.object_store_names().any(|name| name == store) {
            db.create_object_store(store).build()?;
        }
        Ok(())
    }
}

/// Commits `tx`. A transaction the browser aborts comes back from the driver as a bare
/// "transaction aborted"; the browser's reason is in `transaction.error`, and it is the one
/// the person needs: Chromium reports a full disk exactly so (every request succeeds, then
/// the transaction aborts with a `QuotaExceededError`; checked with a quota set through
/// DevTools), which the bare error would describe as a mere refusal.
pub(crate) async fn commit(tx: Transaction<'_>) -> Result<(), StorageError> {
    // The driver offers no accessor for the error once `commit` has taken the transaction,
    // so a handle to the browser's object is kept; only its `error` is read.
    let raw: web_sys::IdbTransaction = tx.as_sys().clone().unchecked_into();
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(aborted) => Err(failed(&raw.error().map_or(aborted, Error::from))),
    }
}

/// Calls `on_request` when another tab asks to upgrade `db` (a newer casedesk opening it at a
/// higher version). The upgrade waits until this connection is closed ([`close`]), so the
/// callback should close it soon: at once, or after finishing the writes it has begun.
/// Runs at most once: once the connection is closed, no second event comes.
pub(crate) fn on_version_change(db: &Database, on_request: impl FnOnce() + 'static) {
    let target: web_sys::EventTarget = db.as_sys().clone().unchecked_into();
    let listener =
        wasm_bindgen::closure::Closure::once_into_js(move |_event: web_sys::Event| on_request());
    let _ = target.add_event_listener_with_callback("versionchange", listener.unchecked_ref());
}

/// Closes the connection `db` (the driver's `close` takes the handle by value; this one may
/// be shared). Transactions already begun still finish.
pub(crate) fn close(db: &Database) {
    let raw: &wasm_bindgen::JsValue = db.as_sys().as_ref();
    if let Ok(close) = js_sys::Reflect::get(raw, &"close".into()) {
        if let Some(close) = close.dyn_ref::<js_sys::Function>() {
            let _ = close.call0(raw);
        }
    }
}

/// Closes `db` at once when a newer casedesk asks to upgrade it (nothing of this tab's is
/// lost: the cache and the lease are rebuilt by whoever needs them).
pub(crate) fn close_on_version_change(db: &Database) {
    let handle = db.clone();
    on_version_change(db, move || close(&handle));
}
