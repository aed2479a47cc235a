//! The queue's own IndexedDB database, `{namespace}-queue`: one record per queued action (its
//! JSON, keyed by action id; queue order is the record's `seq`). Each change set is written
//! in one transaction; a write that fails stays pending here and is retried, never dropped.

pub use crate::platform::idb::StorageError;
use crate::platform::idb::{self, failed};
use casedesk_core::{QueueChanges, QueuedAction};
use futures::lock::Mutex;
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use uuid::Uuid;
use wasm_bindgen::JsValue;

/// The database's schema version. Version 1: one object store, `actions`, out-of-line keys
/// (the action id as text), values the JSON of a `QueuedAction`. A later version adds a step
/// to [`upgrade`]; the browser runs every step from the stored version up.
pub const SCHEMA_VERSION: u32 = 1;

/// The object store of queued actions.
pub const ACTIONS: &str = "actions";

/// How long opening may wait (another tab blocking an upgrade) before the queue works in
/// memory and tries again later.
const OPEN_TIMEOUT_MS: u32 = 3_000;

/// What start-up found in the database.
pub struct Loaded {
    /// Every record that could be read, in no particular order.
    pub records: Vec<QueuedAction>,
    /// Records that could not be read (written by another version, or damaged): left in
    /// place, listed for the person to export or discard.
    pub unreadable: Vec<UnreadableRecord>,
}

/// A stored record the queue cannot decode, as it is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// Its key in the `actions` store (an action id, if another casedesk wrote it).
    pub key: String,
    /// The stored value: the text itself, or the JSON of a value that is not text.
    pub raw: String,
}

/// The database, opened lazily, and the writes not yet committed.
pub struct QueueStore {
    name: String,
    db: RefCell<Option<Rc<Database>>>,
    /// The newest uncommitted write of each record: its JSON, or `None` to delete it.
    dirty: RefCell<HashMap<Uuid, Option<String>>>,
    /// Change sets merged into `dirty` so far, and how many of them are committed.
    merged: Cell<u64>,
    committed: Cell<u64>,
    /// One transaction at a time, so a later flush never commits before an earlier one.
    writing: Mutex<()>,
    /// A newer casedesk asked for the database: writes already merged are finished, then the
    /// connection closes and nothing more is written.
    superseded: Rc<Cell<bool>>,
}

impl QueueStore {
    /// The store of `namespace`; nothing is opened yet.
    pub fn new(namespace: &str) -> Self {
        Self {
            name: format!("{namespace}-queue"),
            db: RefCell::new(None),
            dirty: RefCell::new(HashMap::new()),
            merged: Cell::new(0),
            committed: Cell::new(0),
            writing: Mutex::new(()),
            superseded: Rc::new(Cell::new(false)),
        }
    }

    /// Whether some change is not yet saved on the device.
    pub fn has_unsaved(&self) -> bool {
        self.committed.get() < self.merged.get()
    }

    /// Opens the database (upgrading it if needed) and reads every record. If a newer
    /// casedesk later asks to upgrade it, the store is marked superseded and `on_superseded`
    /// is called, which finishes the writes begun ([`QueueStore::flush`]) and then lets the
    /// database go ([`QueueStore::close`]), so the upgrade waits only for those.
    pub async fn open_and_load(
        &self,
        on_superseded: impl FnOnce() -> bool + 'static,
    ) -> Result<Loaded, StorageError> {
        if self.superseded.get() {
            return Err(StorageError::Superseded);
        }
        let db = open(&self.name).await?;
        let superseded = Rc::clone(&self.superseded);
        let handle = db.clone();
        crate::platform::idb::on_version_change(&db, move || {
            superseded.set(true);
            if !on_superseded() {
                // Nobody is left to finish writing: let the newer tab have it now.
                crate::platform::idb::close(&handle);
            }
        });
        let loaded = read_all(&db).await;
        *self.db.borrow_mut() = Some(Rc::new(db));
        loaded
    }

    /// Whether a newer casedesk took the database over.
    pub fn is_superseded(&self) -> bool {
        self.superseded.get()
    }

    /// Closes the connection for good (a newer casedesk is waiting to upgrade it).
    pub fn close(&self) {
        if let Some(db) = self.db.borrow_mut().take() {
            crate::platform::idb::close(&db);
        }
    }

    /// Deletes the unreadable record `key` (the person chose "Discard"). Only a record that
    /// is still unreadable is deleted: one a newer tab rewrote meanwhile into something this
    /// version reads is left alone.
    pub async fn discard_unreadable(&self, key: &str) -> Result<(), StorageError> {
        if self.superseded.get() {
            return Err(StorageError::Superseded);
        }
        let db = self
            .db
            .borrow()
            .clone()
            .ok_or_else(|| StorageError::Unavailable("the database is not open".to_owned()))?;
        let _turn = self.writing.lock().await;
        let tx = db
            .transaction(ACTIONS)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(|e| failed(&e))?;
        let store = tx.object_store(ACTIONS).map_err(|e| failed(&e))?;
        let value: Option<JsValue> = store
            .get(key)
            .primitive()
            .map_err(|e| failed(&e))?
            .await
            .map_err(|e| failed(&e))?;
        if value.is_some_and(|v| decode(&v).is_none()) {
            drop(store.delete(key).primitive().map_err(|e| failed(&e))?);
        }
        drop(store);
        idb::commit(tx).await
    }

    /// Whether the database is open.
    pub fn is_open(&self) -> bool {
        self.db.borrow().is_some()
    }

    /// Takes `changes` into the next write at once (so writes keep the order of the calls),
    /// and returns the future that commits them: one transaction holding them and whatever
    /// else waits, resolved once it is durable.
    pub fn write(
        self: &Rc<Self>,
        changes: &QueueChanges,
    ) -> impl Future<Output = Result<(), StorageError>> {
        let ticket = self.merge(changes);
        let store = Rc::clone(self);
        async move { store.flush_through(ticket).await }
    }

    /// Commits everything merged so far (a retry after a failure).
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.flush_through(self.merged.get()).await
    }

    fn merge(&self, changes: &QueueChanges) -> u64 {
        if changes.saved.is_empty() && changes.removed.is_empty() {
            return self.merged.get();
        }
        let mut dirty = self.dirty.borrow_mut();
        for record in &changes.saved {
            // A QueuedAction is plain data (strings, numbers, enums): encoding cannot fail;
            // if it ever did, the record is still queued in memory and sent.
            if let Ok(json) = serde_json::to_string(record) {
                dirty.insert(record.id(), Some(json));
            }
        }
        for id in &changes.removed {
            dirty.insert(*id, None);
        }
        self.merged.set(self.merged.get() + 1);
        self.merged.get()
    }

    async fn flush_through(&self, ticket: u64) -> Result<(), StorageError> {
        let _turn = self.writing.lock().await;
        if self.committed.get() >= ticket {
            // An earlier flush wrote these changes along with its own.
            return Ok(());
        }
        let db = self.db.borrow().clone().ok_or_else(|| {
            if self.superseded.get() {
                StorageError::Superseded
            } else {
                StorageError::Unavailable("the database is not open".to_owned())
            }
        })?;
        let upto = self.merged.get();
        let batch = std::mem::take(&mut *self.dirty.borrow_mut());
        match write_batch(&db, &batch).await {
            Ok(()) => {
                self.committed.set(upto);
                Ok(())
            }
            Err(error) => {
                // Put the batch back under anything newer merged meanwhile, to retry it.
                let mut dirty = self.dirty.borrow_mut();
                for (id, write) in batch {
                    dirty.entry(id).or_insert(write);
                }
                if matches!(error, StorageError::Unavailable(_)) {
                    // The connection is gone (closed by the browser): reopen on retry.
                    self.db.borrow_mut().take();
                }
                Err(error)
            }
        }
    }

    /// Reopens a database that could not be opened (or was lost) and returns the records it
    /// holds, so the queue can take in what it did not know; `Ok(None)` when already open.
    pub async fn reopen(
        &self,
        on_superseded: impl FnOnce() -> bool + 'static,
    ) -> Result<Option<Loaded>, StorageError> {
        if self.is_open() {
            return Ok(None);
        }
        let loaded = self.open_and_load(on_superseded).await?;
        // Records this tab changed while storage was away are written by the next flush; the
        // stored copies of those are stale.
        let dirty = self.dirty.borrow();
        let records = loaded
            .records
            .into_iter()
            .filter(|r| !dirty.contains_key(&r.id()))
            .collect();
        Ok(Some(Loaded {
            records,
            unreadable: loaded.unreadable,
        }))
    }
}

/// Opens `name` at [`SCHEMA_VERSION`], running the upgrade steps a new or older database
/// needs; gives up after [`OPEN_TIMEOUT_MS`] if another tab blocks the upgrade.
async fn open(name: &str) -> Result<Database, StorageError> {
    idb::open(name, SCHEMA_VERSION, upgrade, Some(OPEN_TIMEOUT_MS)).await
}

/// The schema's steps, each run once when the stored version is below it.
fn upgrade(old_version: f64, db: &Database) -> indexed_db_futures::Result<()> {
    if old_version < 1.0 {
        db.create_object_store(ACTIONS).build()?;
    }
    Ok(())
}

/// A stored value as a queued action, if this version can read it.
fn decode(value: &JsValue) -> Option<QueuedAction> {
    value
        .as_string()
        .and_then(|json| serde_json::from_str::<QueuedAction>(&json).ok())
}

/// A stored value as text to export: the text itself, or the JSON of anything else.
fn raw_text(value: &JsValue) -> String {
    value.as_string().unwrap_or_else(|| {
        js_sys::JSON::stringify(value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| "(a value that cannot be written as JSON)".to_owned())
    })
}

fn key_text(key: &JsValue) -> String {
    key.as_string().unwrap_or_else(|| raw_text(key))
}

async fn read_all(db: &Database) -> Result<Loaded, StorageError> {
    let tx = db.transaction(ACTIONS).build().map_err(|e| failed(&e))?;
    let store = tx.object_store(ACTIONS).map_err(|e| failed(&e))?;
    // Both lists come in key order from one transaction, so they pair up one to one.
    let keys = store
        .get_all_keys::<JsValue>()
        .primitive()
        .map_err(|e| failed(&e))?
        .await
        .map_err(|e| failed(&e))?;
    let values = store
        .get_all::<JsValue>()
        .primitive()
        .map_err(|e| failed(&e))?
        .await
        .map_err(|e| failed(&e))?;
    let mut records = Vec::with_capacity(values.len());
    let mut unreadable = Vec::new();
    for (key, value) in keys.zip(values) {
        let key = key.map(|k| key_text(&k)).unwrap_or_default();
        match value {
            Ok(value) => match decode(&value) {
                Some(record) => records.push(record),
                None => unreadable.push(UnreadableRecord {
                    key,
                    raw: raw_text(&value),
                }),
            },
            Err(_) => unreadable.push(UnreadableRecord {
                key,
                raw: "(a value the browser could not hand over)".to_owned(),
            }),
        }
    }
    Ok(Loaded {
        records,
        unreadable,
    })
}

async fn write_batch(
    db: &Database,
    batch: &HashMap<Uuid, Option<String>>,
) -> Result<(), StorageError> {
    let tx = db
        .transaction(ACTIONS)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(|e| failed(&e))?;
    let store = tx.object_store(ACTIONS).map_err(|e| failed(&e))?;
    for (id, write) in batch {
        let key = id.to_string();
        // Requests go out when built; the commit below reports any that failed.
        match write {
            Some(json) => drop(
                store
                    .put(json.as_str())
                    .with_key(key)
                    .primitive()
                    .map_err(|e| failed(&e))?,
            ),
            None => drop(store.delete(key).primitive().map_err(|e| failed(&e))?),
        }
    }
    drop(store);
    idb::commit(tx).await
}
