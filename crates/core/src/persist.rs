//! The cache's storage format and its incremental deltas: the cache remembers which keys
//! changed since the last flush, and the glue writes only those records (one IndexedDB record
//! per key), throttled, never the whole cache on every update.

use crate::clock::Millis;
use crate::data::QueryData;
use crate::key::QueryKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The storage format's version.
///
/// The rule: every stored record carries it. A record with another version, or one that
/// does not decode, is dropped (and should be deleted from the store), never an error that
/// stops start-up: the cache is only a copy of server data, so losing it costs one fetch.
/// Bump it whenever `PersistedEntry`, `QueryKey` or anything inside `QueryData` changes
/// shape. 2: typed keys (`{"case":"<id>"}`) replaced lists of strings.
pub const SCHEMA_VERSION: u32 = 2;

/// One cached answer as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistedEntry {
    pub key: QueryKey,
    pub data: QueryData,
    pub etag: Option<String>,
    /// Kept as it was, so a restored entry is as old as its data really is.
    pub fetched_at: Millis,
    pub size_bytes: u64,
}

/// What changed since the last flush: records to write and keys to delete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersistDelta {
    pub upserts: Vec<PersistedEntry>,
    pub removals: Vec<QueryKey>,
}

impl PersistDelta {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }
}

/// One stored record: the entry and the schema it was written with.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRecord<T> {
    schema: u32,
    entry: T,
}

/// Why a stored record was not restored. Either way it is dropped.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PersistError {
    #[error("stored with schema {found}, this build reads {SCHEMA_VERSION}")]
    SchemaMismatch { found: u32 },
    #[error("stored record is unreadable: {0}")]
    Malformed(String),
}

/// The IndexedDB key for a query key: its JSON form. Unambiguous whatever a search text
/// holds, unlike the `Display` form.
pub fn storage_key(key: &QueryKey) -> String {
    // Ids, enums, strings and numbers always serialize; the fallback only keeps this total.
    serde_json::to_string(key).unwrap_or_else(|_| key.to_string())
}

/// The stored JSON for `entry`, tagged with the current schema.
pub fn encode(entry: &PersistedEntry) -> Result<String, PersistError> {
    serde_json::to_string(&StoredRecord {
        schema: SCHEMA_VERSION,
        entry,
    })
    .map_err(|e| PersistError::Malformed(e.to_string()))
}

/// Reads a stored record. The schema is checked before the entry is decoded, so a future
/// or past shape is reported as a mismatch rather than as garbage.
pub fn decode(json: &str) -> Result<PersistedEntry, PersistError> {
    #[derive(Deserialize)]
    struct SchemaOnly {
        schema: u32,
    }
    let found = serde_json::from_str::<SchemaOnly>(json)
        .map_err(|e| PersistError::Malformed(e.to_string()))?
        .schema;
    if found != SCHEMA_VERSION {
        return Err(PersistError::SchemaMismatch { found });
    }
    serde_json::from_str::<StoredRecord<PersistedEntry>>(json)
        .map(|record| record.entry)
        .map_err(|e| PersistError::Malformed(e.to_string()))
}

/// Decodes every record, keeping the good ones and returning the rest's errors (whose
/// records the glue deletes). Never fails as a whole.
pub fn decode_all<'a>(
    records: impl IntoIterator<Item = &'a str>,
) -> (Vec<PersistedEntry>, Vec<PersistError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for record in records {
        match decode(record) {
            Ok(entry) => entries.push(entry),
            Err(error) => errors.push(error),
        }
    }
    (entries, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::CaseListQuery;
    use uuid::Uuid;

    fn list(q: &str, page: u32) -> QueryKey {
        QueryKey::case_list(&CaseListQuery {
            q: Some(q.into()),
            page,
            ..CaseListQuery::default()
        })
    }

    fn entry() -> PersistedEntry {
        PersistedEntry {
            key: list("a/b", 1),
            data: QueryData::Notes(Vec::new()),
            etag: Some("\"3\"".into()),
            fetched_at: Millis(1_700_000_000_000),
            size_bytes: 2,
        }
    }

    #[test]
    fn records_round_trip() {
        let json = encode(&entry()).unwrap();
        assert!(json.contains("\"schema\":2"));
        assert_eq!(decode(&json), Ok(entry()));
    }

    #[test]
    fn other_versions_and_garbage_are_dropped_not_crashed_on() {
        let json = encode(&entry())
            .unwrap()
            .replace("\"schema\":2", "\"schema\":99");
        assert_eq!(
            decode(&json),
            Err(PersistError::SchemaMismatch { found: 99 })
        );
        assert!(matches!(
            decode("not json"),
            Err(PersistError::Malformed(_))
        ));
        assert!(matches!(
            decode(r#"{"schema":2,"entry":{"key":["x"]}}"#),
            Err(PersistError::Malformed(_))
        ));
        let good = encode(&entry()).unwrap();
        let (entries, errors) = decode_all([good.as_str(), "{}", json.as_str()]);
        assert_eq!(entries, vec![entry()]);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_record_whose_key_no_longer_decodes_is_skipped_and_the_rest_restore() {
        let good = encode(&entry()).unwrap();
        let old_form = good.replace(
            &serde_json::to_string(&entry().key).unwrap(),
            r#"["cases","list","q=a/b"]"#,
        );
        let unknown_kind = good.replace(
            &serde_json::to_string(&entry().key).unwrap(),
            r#"{"attachment":"00000000-0000-0000-0000-000000000001"}"#,
        );
        assert_ne!(old_form, good);
        assert_ne!(unknown_kind, good);
        let (entries, errors) =
            decode_all([old_form.as_str(), good.as_str(), unknown_kind.as_str()]);
        assert_eq!(entries, vec![entry()]);
        assert!(errors
            .iter()
            .all(|e| matches!(e, PersistError::Malformed(_))));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn storage_keys_are_unambiguous() {
        assert_eq!(
            storage_key(&QueryKey::case(Uuid::from_u128(1))),
            r#"{"case":"00000000-0000-0000-0000-000000000001"}"#
        );
        // The same text as a path, two different lists.
        assert_eq!(list("x&page=2", 1).to_string(), list("x", 2).to_string());
        assert_ne!(
            storage_key(&list("x&page=2", 1)),
            storage_key(&list("x", 2))
        );
    }
}
