//! The replica as stored in IndexedDB: one record per case, note and tombstone, and one meta
//! record (cursor, download state, schema), so an event writes only what it changed; and the
//! replica rebuilt from them at start-up.

use super::working_set::Extent;
use super::{Held, Replica, StoreBatch};
use crate::clock::Millis;
use casedesk_model::{Case, Cursor, Note};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// The stored format's version, in every record. A record of another version is unreadable;
/// a meta record of another version discards the store (the replica is only a copy of the
/// server's data: losing it costs one download). 1: the first.
pub const REPLICA_SCHEMA: u32 = 1;

/// Whether the working set is on the device whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Snapshot {
    /// A working set is downloading: `received` cases so far. Lists from the device are partial.
    Downloading { received: u64 },
    /// The working set is whole (kept current by deltas since).
    Complete,
}

/// The replica's own state: who it belongs to and where it is in the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRecord {
    /// The person, as cases name an assignee; `None` without people.
    pub me: Option<String>,
    /// Where the next pull starts; `None` before the first page of a working set.
    pub cursor: Option<Cursor>,
    /// Counts the working sets downloaded; each case and note says the last that confirmed it.
    pub generation: u32,
    pub snapshot: Snapshot,
    pub extent: Extent,
    pub synced_at: Option<Millis>,
    pub skipped_unknown: u64,
}

impl MetaRecord {
    pub(super) fn new(me: Option<String>) -> Self {
        Self {
            me,
            cursor: None,
            generation: 1,
            snapshot: Snapshot::Downloading { received: 0 },
            extent: Extent::Whole,
            synced_at: None,
            skipped_unknown: 0,
        }
    }
}

/// A case as held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub case: Case,
    /// The download that last confirmed it; 0: known only from a live event during a download.
    pub generation: u32,
    /// Every note of the case came with it (a download, or a case created since); otherwise
    /// only those added since it joined.
    pub notes_complete: bool,
}

/// A note as held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteRecord {
    pub note: Note,
    pub generation: u32,
}

/// A deleted case, remembered so an older copy arriving late does not bring it back (a
/// deletion is final: ids stay taken).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TombstoneRecord {
    pub id: Uuid,
    /// When the device learned of it (tombstones are forgotten after the feed's retention).
    pub seen_at: Millis,
}

/// One stored record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplicaRecord {
    Meta(MetaRecord),
    Case(CaseRecord),
    Note(NoteRecord),
    Tombstone(TombstoneRecord),
}

/// Which stored record: what a `put` replaces and a `delete` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKey {
    Meta,
    Case(Uuid),
    Note(Uuid),
    Tombstone(Uuid),
}

impl RecordKey {
    /// The IndexedDB key (one object store holds every kind). Never parsed back: a record
    /// says what it is.
    pub fn storage_key(&self) -> String {
        match self {
            Self::Meta => "meta".to_owned(),
            Self::Case(id) => format!("case/{id}"),
            Self::Note(id) => format!("note/{id}"),
            Self::Tombstone(id) => format!("tombstone/{id}"),
        }
    }
}

/// Why a stored record was not read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("stored with replica schema {found}, this build reads {REPLICA_SCHEMA}")]
    SchemaMismatch { found: u32 },
    #[error("stored replica record is unreadable: {0}")]
    Malformed(String),
}

/// A record and the schema it was written with.
#[derive(Serialize, Deserialize)]
struct Stored<T> {
    schema: u32,
    record: T,
}

impl ReplicaRecord {
    pub fn key(&self) -> RecordKey {
        match self {
            Self::Meta(_) => RecordKey::Meta,
            Self::Case(record) => RecordKey::Case(record.case.id),
            Self::Note(record) => RecordKey::Note(record.note.id),
            Self::Tombstone(record) => RecordKey::Tombstone(record.id),
        }
    }

    /// The stored JSON, tagged with the schema.
    pub fn encode(&self) -> Result<String, RecordError> {
        serde_json::to_string(&Stored {
            schema: REPLICA_SCHEMA,
            record: self,
        })
        .map_err(|e| RecordError::Malformed(e.to_string()))
    }

    /// Reads a stored record; the schema is checked before the rest is decoded.
    pub fn decode(json: &str) -> Result<Self, RecordError> {
        #[derive(Deserialize)]
        struct SchemaOnly {
            schema: u32,
        }
        let found = serde_json::from_str::<SchemaOnly>(json)
            .map_err(|e| RecordError::Malformed(e.to_string()))?
            .schema;
        if found != REPLICA_SCHEMA {
            return Err(RecordError::SchemaMismatch { found });
        }
        serde_json::from_str::<Stored<Self>>(json)
            .map(|stored| stored.record)
            .map_err(|e| RecordError::Malformed(e.to_string()))
    }
}

/// What start-up made of the stored records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// Everything read: the replica continues from its cursor.
    Intact,
    /// Some records were unreadable (delete them): what was read is shown, and a fresh working
    /// set downloads over it, since a case or a deletion may be missing.
    Redownload,
    /// No meta record of this person and schema: the store is someone else's, another
    /// version's, or empty. Clear it; the replica starts empty.
    Discarded,
}

/// A replica rebuilt from storage.
#[derive(Clone, Debug, PartialEq)]
pub struct Restored {
    pub replica: Replica,
    pub outcome: RestoreOutcome,
    /// What to write at once (after clearing the store, when discarded): the meta record when
    /// it changed, so a reload before the next page does not resume from a cursor the records
    /// no longer match.
    pub store: StoreBatch,
}

impl Replica {
    /// Rebuilds `me`'s replica from every stored record, each as [`ReplicaRecord::decode`]
    /// read it.
    pub fn restore(
        me: Option<String>,
        records: impl IntoIterator<Item = Result<ReplicaRecord, RecordError>>,
    ) -> Restored {
        let mut replica = Replica::new(me);
        let mut meta = None;
        let mut unreadable = false;
        for record in records {
            match record {
                Ok(ReplicaRecord::Meta(record)) => meta = Some(record),
                Ok(ReplicaRecord::Case(record)) => {
                    replica.cases.insert(record.case.id, Held::new(record));
                }
                Ok(ReplicaRecord::Note(record)) => {
                    let case_id = record.note.case_id;
                    replica
                        .notes
                        .entry(case_id)
                        .or_default()
                        .insert(record.note.id, record);
                }
                Ok(ReplicaRecord::Tombstone(record)) => {
                    replica.tombstones.insert(record.id, record);
                }
                Err(_) => unreadable = true,
            }
        }
        let fresh = |me| {
            let replica = Replica::new(me);
            let store = StoreBatch {
                put: vec![ReplicaRecord::Meta(replica.meta.clone())],
                delete: Vec::new(),
            };
            Restored {
                replica,
                outcome: RestoreOutcome::Discarded,
                store,
            }
        };
        let Some(meta) = meta else {
            return fresh(replica.meta.me);
        };
        if meta.me != replica.meta.me {
            return fresh(replica.meta.me);
        }
        replica.meta = meta;
        let mut store = StoreBatch::default();
        let outcome = if unreadable {
            // The pull `download_again` asks for waits for the glue's `Resume`.
            replica.download_again(&mut super::Effects::default());
            store.put.push(ReplicaRecord::Meta(replica.meta.clone()));
            RestoreOutcome::Redownload
        } else {
            RestoreOutcome::Intact
        };
        Restored {
            replica,
            outcome,
            store,
        }
    }

    /// Every record of the replica, as a first write or a rewrite would store them.
    pub fn records(&self) -> impl Iterator<Item = ReplicaRecord> + '_ {
        std::iter::once(ReplicaRecord::Meta(self.meta.clone()))
            .chain(
                self.cases
                    .values()
                    .map(|held| ReplicaRecord::Case(held.record.clone())),
            )
            .chain(
                self.notes
                    .values()
                    .flat_map(|notes| notes.values().cloned().map(ReplicaRecord::Note)),
            )
            .chain(
                self.tombstones
                    .values()
                    .cloned()
                    .map(ReplicaRecord::Tombstone),
            )
    }
}
