//! The change feed (`GET /changes`, `docs/api.md` §6): one [`Change`] per accepted change, in
//! commit order, and the page that carries them. Positions in the feed are opaque on the wire;
//! [`LogPosition`] reads them so a device can tell the next change from a gap.

use crate::{Case, Note};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Default number of changes in a page.
pub const DEFAULT_CHANGES_LIMIT: u32 = 500;
/// Most changes a page may be asked for.
pub const MAX_CHANGES_LIMIT: u32 = 1_000;

/// One entry of the feed: where it sits (`seq`) and what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: ChangeSeq,
    #[serde(flatten)]
    pub body: ChangeBody,
}

/// What a change says, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeBody {
    /// A case's whole state after the change (an upsert; the case's `version` orders them).
    Case { case: Case },
    /// The case `id` was deleted.
    CaseDeleted { id: Uuid },
    /// A note was added (notes are never edited).
    Note { note: Note },
    /// A kind this build does not know, from a newer server: skipped (and counted) by the
    /// device rather than failing the whole page.
    #[serde(other)]
    Unknown,
}

impl Change {
    /// The case this change concerns, if its kind is known.
    pub fn case_id(&self) -> Option<Uuid> {
        match &self.body {
            ChangeBody::Case { case } => Some(case.id),
            ChangeBody::CaseDeleted { id } => Some(*id),
            ChangeBody::Note { note } => Some(note.case_id),
            ChangeBody::Unknown => None,
        }
    }
}

/// A page of `GET /changes`: continue with `?since=<cursor>`; `more` says whether the server
/// already holds more after it (when `false`, the device is up to date).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub cursor: Cursor,
    pub more: bool,
}

/// A change's place in the feed. Opaque on the wire; [`ChangeSeq::position`] reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeSeq(pub String);

impl ChangeSeq {
    /// Where in which log this change sits; `None` for text no server wrote.
    pub fn position(&self) -> Option<LogPosition> {
        LogPosition::parse(&self.0)
    }

    /// How this change stands to a device that holds everything up to `held`.
    pub fn relative_to(&self, held: &Cursor) -> SeqOrder {
        match (held.position(), self.position()) {
            (Some(held), Some(this)) if held.log == this.log => {
                if this.number <= held.number {
                    SeqOrder::AlreadyHeld
                } else if this.number == held.number + 1 {
                    SeqOrder::Next
                } else {
                    SeqOrder::Gap
                }
            }
            _ => SeqOrder::Unrelated,
        }
    }
}

impl fmt::Display for ChangeSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a device continues reading (`?since=`). Opaque: a position in the log, or a place
/// part-way through the first download of a working set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

impl Cursor {
    /// The log position this cursor holds everything up to; `None` while a working set is
    /// still being downloaded, or for text no server wrote.
    pub fn position(&self) -> Option<LogPosition> {
        LogPosition::parse(&self.0)
    }
}

impl From<LogPosition> for Cursor {
    fn from(position: LogPosition) -> Self {
        Cursor(position.to_string())
    }
}

impl From<&ChangeSeq> for Cursor {
    fn from(seq: &ChangeSeq) -> Self {
        Cursor(seq.0.clone())
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a change arriving on the socket stands to what a device holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqOrder {
    /// The device already has it (a repeat, or it arrived through a pull first).
    AlreadyHeld,
    /// It is the very next change: apply it and advance.
    Next,
    /// Changes are missing between the two: pull `?since=` the held cursor.
    Gap,
    /// From another log (another database) or not comparable: start over from a pull.
    Unrelated,
}

/// A position in one database's change log: every change numbered up to `number`.
///
/// Numbers are dense (each committed change takes the next one, in commit order), so a device
/// holding `n` knows `n + 1` is next. `log` names the database, so a position from another
/// database (a restored copy, another deployment) is told apart. Written `<log hex>.<number>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogPosition {
    pub log: u64,
    pub number: u64,
}

impl LogPosition {
    /// Reads `<16 hex digits>.<decimal>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (log, number) = text.split_once('.')?;
        if log.len() != 16 || !log.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            log: u64::from_str_radix(log, 16).ok()?,
            number: number.parse().ok()?,
        })
    }

    /// The seq of the change at this position.
    pub fn seq(self) -> ChangeSeq {
        ChangeSeq(self.to_string())
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}.{}", self.log, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = r#"{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","title":"Printer jams",
        "status":"open","priority":"high","created_at":"2026-11-20T09:12:03Z",
        "updated_at":"2026-11-20T09:12:03Z","version":2}"#;

    #[test]
    fn each_kind_decodes_from_the_contract_shape() {
        let page: ChangePage = serde_json::from_str(&format!(
            r#"{{"changes":[
                {{"seq":"00000000000000ab.7","kind":"case","case":{CASE}}},
                {{"seq":"00000000000000ab.8","kind":"case_deleted","id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44"}},
                {{"seq":"00000000000000ab.9","kind":"note","note":{{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e45",
                  "case_id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","body":"hi","author":"dana",
                  "created_at":"2026-11-20T09:12:03Z"}}}}
            ],"cursor":"00000000000000ab.9","more":false}}"#
        ))
        .unwrap();
        assert_eq!(page.changes.len(), 3);
        assert!(matches!(&page.changes[0].body, ChangeBody::Case { case } if case.version == 2));
        let case_id = Some("0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44".parse().unwrap());
        assert!(page.changes.iter().all(|c| c.case_id() == case_id));
        assert_eq!(
            page.cursor.position(),
            Some(LogPosition {
                log: 0xab,
                number: 9
            })
        );
    }

    #[test]
    fn an_unknown_kind_is_kept_as_unknown_and_does_not_fail_the_page() {
        let page: ChangePage = serde_json::from_str(
            r#"{"changes":[{"seq":"00000000000000ab.1","kind":"case_merged","into":"x","case":{"odd":1}}],
            "cursor":"00000000000000ab.1","more":true}"#,
        )
        .unwrap();
        assert_eq!(page.changes[0].body, ChangeBody::Unknown);
        assert_eq!(page.changes[0].case_id(), None);
    }

    #[test]
    fn a_known_kind_missing_its_payload_is_an_error() {
        let garbled = r#"{"seq":"00000000000000ab.1","kind":"case"}"#;
        assert!(serde_json::from_str::<Change>(garbled).is_err());
    }

    #[test]
    fn a_change_serialises_flat() {
        let change = Change {
            seq: LogPosition { log: 1, number: 2 }.seq(),
            body: ChangeBody::CaseDeleted { id: Uuid::nil() },
        };
        assert_eq!(
            serde_json::to_value(&change).unwrap(),
            serde_json::json!({"seq":"0000000000000001.2","kind":"case_deleted",
                "id":"00000000-0000-0000-0000-000000000000"})
        );
    }

    #[test]
    fn a_device_tells_the_next_change_from_a_gap() {
        let held = Cursor::from(LogPosition { log: 5, number: 10 });
        let at = |log, number| LogPosition { log, number }.seq().relative_to(&held);
        assert_eq!(at(5, 11), SeqOrder::Next);
        assert_eq!(at(5, 10), SeqOrder::AlreadyHeld);
        assert_eq!(at(5, 3), SeqOrder::AlreadyHeld);
        assert_eq!(at(5, 13), SeqOrder::Gap);
        assert_eq!(at(6, 11), SeqOrder::Unrelated);
        let snapshot = Cursor("s1.whatever".into());
        assert_eq!(
            LogPosition { log: 5, number: 1 }
                .seq()
                .relative_to(&snapshot),
            SeqOrder::Unrelated
        );
    }

    #[test]
    fn positions_reject_text_no_server_wrote() {
        for text in [
            "",
            ".",
            "ab.1",
            "00000000000000ab.",
            "00000000000000ab.-1",
            "0000000000000zab.1",
            "00000000000000ab.1.2",
            "00000000000000ab.99999999999999999999999",
        ] {
            assert_eq!(LogPosition::parse(text), None, "{text}");
        }
        let p = LogPosition {
            log: u64::MAX,
            number: u64::MAX,
        };
        assert_eq!(LogPosition::parse(&p.to_string()), Some(p));
    }
}
