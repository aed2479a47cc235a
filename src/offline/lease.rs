//! The drainer lease where the browser has no Web Locks (`navigator.locks` is missing outside
//! a secure context, e.g. plain HTTP from a LAN address): one record in the
//! `{namespace}-lease` database, taken and renewed by compare-and-set inside one readwrite
//! transaction. The rules (who holds, until when, takeover) are `casedesk_core::lease`'s.

use super::runtime::{Msg, Runtime};
use crate::platform::idb::{self, failed, StorageError};
use casedesk_core::{DurationMs, Lease, LeaseDecision, LeaseTerms, Millis};
use indexed_db_futures::database::Database;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use std::rc::{Rc, Weak};
use uuid::Uuid;

/// The object store, and the one key in it.
const STORE: &str = "lease";
const KEY: &str = "drainer";

/// This tab's side of the lease.
pub struct DrainerLease {
    db: Database,
    me: Uuid,
    terms: LeaseTerms,
}

impl DrainerLease {
    async fn open(namespace: &str, terms: LeaseTerms) -> Result<Self, StorageError> {
        let name = format!("{namespace}-lease");
        let db = idb::open(&name, 1, idb::ensure_store(STORE), None).await?;
        idb::close_on_version_change(&db);
        Ok(Self {
            db,
            me: Uuid::new_v4(),
            terms,
        })
    }

    /// Reads the lease and, if this tab may hold it, writes it as this tab's, in one
    /// transaction: IndexedDB runs readwrite transactions on a store one at a time, so what
    /// this reads cannot change before this writes.
    async fn try_take(&self, now: Millis) -> Result<LeaseDecision, StorageError> {
        let tx = self
            .db
            .transaction(STORE)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(|e| failed(&e))?;
        let store = tx.object_store(STORE).map_err(|e| failed(&e))?;
        let stored = read_lease(&store).await?;
        let decision = self.terms.decide(stored.as_ref(), self.me, now);
        if let LeaseDecision::Take(lease) = &decision {
            let json =
                serde_json::to_string(lease).map_err(|e| StorageError::Failed(e.to_string()))?;
            drop(
                store
                    .put(json)
                    .with_key(KEY)
                    .primitive()
                    .map_err(|e| failed(&e))?,
            );
        }
        drop(store);
        idb::commit(tx).await?;
        Ok(decision)
    }

    /// Deletes the lease if it is still this tab's, so another tab takes over at once.
    pub async fn release(&self) -> Result<(), StorageError> {
        let tx = self
            .db
            .transaction(STORE)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(|e| failed(&e))?;
        let store = tx.object_store(STORE).map_err(|e| failed(&e))?;
        let stored = read_lease(&store).await?;
        if LeaseTerms::may_release(stored.as_ref(), self.me) {
            drop(store.delete(KEY).primitive().map_err(|e| failed(&e))?);
        }
        drop(store);
        idb::commit(tx).await
    }
}

/// The lease as stored. A record this version cannot read is treated as no lease: it can
/// only be a leftover, and a live holder rewrites it within one renewal.
async fn read_lease(store: &ObjectStore<'_>) -> Result<Option<Lease>, StorageError> {
    let stored: Option<String> = store
        .get(KEY)
        .primitive()
        .map_err(|e| failed(&e))?
        .await
        .map_err(|e| failed(&e))?;
    Ok(stored.and_then(|json| serde_json::from_str::<Lease>(&json).ok()))
}

/// Takes part in the lease for as long as the runtime lives: renews it while holding it,
/// looks again when it would expire (or a renewal period later) while another tab holds it.
/// If the lease database cannot be used, this tab drains on its own, as before (idempotency
/// keys still keep each change to one effect on the server).
pub async fn run(runtime: Weak<Runtime>, namespace: String, terms: LeaseTerms) {
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
