//! Why an action became a dead letter, as data. The app turns a reason into a sentence (in
//! one place, `src/offline/announce.rs`); the core never writes English for people.

use crate::clock::DurationMs;
use crate::failure::Failure;
use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Why the queue gave an action up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DeathReason {
    /// The server refused it for good (a 4xx other than 401 and 412).
    Refused(Failure),
    /// It kept failing transiently until the retry policy's last attempt.
    GaveUp { attempts: u32, last: Failure },
    /// It kept failing transiently past the queue's retention.
    Expired {
        retention: DurationMs,
        last: Failure,
    },
    /// A 412 whose body did not hold the server's case: there was nothing to merge with.
    ConflictUnreadable(Failure),
    /// A 412 on an action sent without `If-Match` (only updates send one): the server's
    /// mistake, and nothing to merge.
    UnexpectedConflict { status: u16 },
    /// Never sent: the creation of its case died first.
    CaseNotCreated {
        /// The title the creation gave the case (trimmed).
        title: String,
    },
    /// A reason stored in words by a release before reasons were data.
    Described(String),
}

/// Reads a stored `dead_reason`: this release's data, or the sentence an earlier release
/// stored (kept as it was, shown as it was).
pub(crate) fn read_stored<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DeathReason>, D::Error> {
    deserializer.deserialize_option(StoredReason)
}

/// A stored reason is `null`, a sentence (a string) or this release's data (a map: every
/// variant carries fields, so a reason is never a bare string). Told apart by the JSON's own
/// shape rather than `#[serde(untagged)]`, which buffers the value and compiled the whole
/// `DeathReason` and `Failure` decoders a second time for the buffer.
struct StoredReason;

impl<'de> Visitor<'de> for StoredReason {
    type Value = Option<DeathReason>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dead letter's reason or the sentence an earlier release stored")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, words: &str) -> Result<Self::Value, E> {
        Ok(Some(DeathReason::Described(words.to_owned())))
    }

    fn visit_string<E: de::Error>(self, words: String) -> Result<Self::Value, E> {
        Ok(Some(DeathReason::Described(words)))
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        DeathReason::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{ActionState, QueuedAction};

    /// A dead letter exactly as the previous release stored it in IndexedDB.
    const PREVIOUS_RELEASE_RECORD: &str = r#"{
        "action": {
            "id": "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44",
            "idempotency_key": "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e45",
            "kind": {"AddNote": {"case_id": "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e46",
                                 "note": {"id": "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e47",
                                          "body": "Called the vendor."}}},
            "created_at": 1000
        },
        "state": "dead",
        "seq": 3,
        "attempts": 1,
        "next_attempt_at": 1000,
        "last_error": {"Http": {"status": 422, "code": "validation", "message": "body too long",
                                "request_id": "req-1", "retry_after": null}},
        "dead_reason": "The server refused (422): body too long",
        "dead_because_of": null,
        "depends_on": null,
        "enqueued_at": 1000,
        "give_up_at": 604801000,
        "conflict": null
    }"#;

    #[test]
    fn a_dead_letter_stored_by_the_previous_release_still_loads_with_its_words() {
        let record: QueuedAction = serde_json::from_str(PREVIOUS_RELEASE_RECORD).unwrap();
        assert_eq!(record.state, ActionState::Dead);
        assert_eq!(
            record.dead_reason,
            Some(DeathReason::Described(
                "The server refused (422): body too long".into()
            ))
        );
        // Written back by this release, it reads the same again.
        let again: QueuedAction =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(again, record);
    }

    #[test]
    fn a_stored_reason_that_is_neither_data_nor_words_is_refused_and_null_is_none() {
        for (reason, reads) in [("null", true), ("42", false), ("[\"Refused\"]", false)] {
            let json = PREVIOUS_RELEASE_RECORD.replace(
                r#""dead_reason": "The server refused (422): body too long""#,
                &format!(r#""dead_reason": {reason}"#),
            );
            let record = serde_json::from_str::<QueuedAction>(&json);
            assert_eq!(record.is_ok(), reads, "{reason}");
            if let Ok(record) = record {
                assert_eq!(record.dead_reason, None);
            }
        }
    }

    #[test]
    fn every_reason_survives_the_store() {
        let failure = Failure::Http {
            status: 409,
            code: Some("already_exists".into()),
            message: "taken".into(),
            request_id: Some("req-2".into()),
            retry_after: None,
        };
        let mut record: QueuedAction = serde_json::from_str(PREVIOUS_RELEASE_RECORD).unwrap();
        for reason in [
            DeathReason::Refused(failure.clone()),
            DeathReason::GaveUp {
                attempts: 8,
                last: Failure::Timeout,
            },
            DeathReason::Expired {
                retention: DurationMs::from_mins(60),
                last: failure.clone(),
            },
            DeathReason::ConflictUnreadable(failure.clone()),
            DeathReason::UnexpectedConflict { status: 412 },
            DeathReason::CaseNotCreated {
                title: "Printer".into(),
            },
            DeathReason::Described("in words".into()),
        ] {
            record.dead_reason = Some(reason);
            let json = serde_json::to_string(&record).unwrap();
            let back: QueuedAction = serde_json::from_str(&json).unwrap();
            assert_eq!(back, record, "{json}");
        }
        record.dead_reason = None;
        let back: QueuedAction =
            serde_json::from_str(&serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(back.dead_reason, None);
    }
}
