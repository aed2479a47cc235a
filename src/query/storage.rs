//! The cache's IndexedDB database, `{namespace}-cache`: one record per query key (the key's
//! JSON form → `persist::encode`'s string). Read whole once at start-up; written only as
//! deltas. Every failure comes back typed (what was being done, what IndexedDB said); none
//! stops the app.

use crate::platform::idb::{self, failed, StorageError};
use casedesk_core::persist::{self, PersistDelta};
use casedesk_core::PersistedEntry;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;

/// Why the cache could not be stored: the step that failed, and IndexedDB's reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CacheStoreError {
    #[error("the offline cache could not be opened ({0})")]
    Open(StorageError),
    #[error("the offline cache could not be read ({0})")]
    Read(StorageError),
    #[error("the offline cache could not be saved ({0})")]
    Save(StorageError),
}

/// The object store holding the records.
const STORE: &str = "entries";

/// The database's version. The records carry their own schema version
/// (`persist::SCHEMA_VERSION`), so this only changes if the store layout does.
const DB_VERSION: u32 = 1;

/// Opens (creating on first use) the cache database of `namespace`.
pub(crate) async fn open(namespace: &str) -> Result<Database, CacheStoreError> {
    let name = format!("{namespace}-cache");
    idb::open(&name, DB_VERSION, idb::ensure_store(STORE), None)
        .await
        .map_err(CacheStoreError::Open)
        .inspect(idb::close_on_version_change)
}

/// What start-up found in the store.
pub(crate) struct Restored {
    pub(crate) entries: Vec<PersistedEntry>,
    /// Records that were unreadable, of another schema, or filed under the wrong key.
    pub(crate) dropped: Vec<String>,
}

/// Reads every record. Bad ones are reported for deletion, never returned; records of a
/// newer schema are skipped and kept.
pub(crate) async fn read_all(db: &Database) -> Result<Restored, CacheStoreError> {
    let fail = |e: indexed_db_futures::error::Error| CacheStoreError::Read(failed(&e));
    let tx = db.transaction(STORE).build().map_err(fail)?;
    let store = tx.object_store(STORE).map_err(fail)?;
    // Both lists come in key order from one transaction, so they pair up one to one.
    let keys: Vec<Option<String>> = store
        .get_all_keys::<String>()
        .primitive()
        .map_err(fail)?
        .await
        .map_err(fail)?
        .map(Result::ok)
        .collect();
    let values: Vec<Option<String>> = store
        .get_all::<String>()
        .primitive()
        .map_err(fail)?
        .await
        .map_err(fail)?
        .map(Result::ok)
        .collect();
    let mut restored = Restored {
        entries: Vec::with_capacity(values.len()),
        dropped: Vec::new(),
    };
    for (key, value) in keys.into_iter().zip(values) {
        let Some(key) = key else {
            continue; // a key that is not a string was not written by us; it cannot be named
        };
        match value.as_deref().map(persist::decode) {
            Some(Ok(entry)) if persist::storage_key(&entry.key) == key => {
                restored.entries.push(entry)
            }
            // Written by a newer casedesk (another tab, or this device after a downgrade):
            // not ours to read, and not ours to delete.
            Some(Err(persist::PersistError::SchemaMismatch { found }))
                if found > persist::SCHEMA_VERSION => {}
            _ => restored.dropped.push(key),
        }
    }
    Ok(restored)
}

/// The records of a delta, encoded: `(storage key, record)` to put and storage keys to delete.
pub(crate) struct Writes {
    pub(crate) puts: Vec<(String, String)>,
    pub(crate) deletes: Vec<String>,
}

impl Writes {
    pub(crate) fn of(delta: PersistDelta) -> Self {
        let mut deletes: Vec<String> = delta.removals.iter().map(persist::storage_key).collect();
        let mut puts = Vec::with_capacity(delta.upserts.len());
        for entry in &delta.upserts {
            match persist::encode(entry) {
                Ok(json) => puts.push((persist::storage_key(&entry.key), json)),
                // Unencodable (cannot happen for our data): better no record than a stale one.
                Err(_) => deletes.push(persist::storage_key(&entry.key)),
            }
        }
        Self { puts, deletes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }
}

/// Applies `writes` in one transaction: all of them or none.
pub(crate) async fn write(db: &Database, writes: Writes) -> Result<(), CacheStoreError> {
    let fail = |e: indexed_db_futures::error::Error| CacheStoreError::Save(failed(&e));
    let tx = db
        .transaction(STORE)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(fail)?;
    let store = tx.object_store(STORE).map_err(fail)?;
    // The requests are issued as they are built; the commit waits for all of them.
    for (key, json) in writes.puts {
        drop(store.put(json).with_key(key).primitive().map_err(fail)?);
    }
    for key in writes.deletes {
        drop(store.delete(key).primitive().map_err(fail)?);
    }
    drop(store);
    idb::commit(tx).await.map_err(CacheStoreError::Save)
}
