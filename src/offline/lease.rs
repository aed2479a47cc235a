//! The drainer lease where the browser has no Web Locks (`navigator.locks` is missing outside
//! a secure context, e.g. plain HTTP from a LAN address): one record in the
//! `{namespace}-lease` database, taken and renewed by compare-and-set inside one readwrite
//! transaction. The rules (who holds, until when, takeover) are `casedesk_core::lease`'s.

use crate::platform::idb::{self, failed, StorageError};
use casedesk_core::{Lease, LeaseDecision, LeaseTerms, Millis};
use indexed_db_futures::database::Database;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
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
    pub(super) async fn open(namespace: &str, terms: LeaseTerms) -> Result<Self, StorageError> {
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
    pub(super) async fn try_take(&self, now: Millis) -> Result<LeaseDecision, StorageError> {
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
