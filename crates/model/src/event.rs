//! Change events the server pushes over `GET /events` (a WebSocket), one per accepted change,
//! each with the [`Change`] it announces (`docs/api.md` §6).

use crate::{Change, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One WebSocket text message, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ChangeEvent {
    #[serde(rename = "case.created")]
    CaseCreated {
        id: Uuid,
        version: u64,
        at: Timestamp,
    },
    #[serde(rename = "case.updated")]
    CaseUpdated {
        id: Uuid,
        version: u64,
        at: Timestamp,
    },
    #[serde(rename = "case.deleted")]
    CaseDeleted { id: Uuid, at: Timestamp },
    #[serde(rename = "note.created")]
    NoteCreated {
        id: Uuid,
        case_id: Uuid,
        at: Timestamp,
    },
    /// Heartbeat, every 15 s; the client may answer `pong`.
    #[serde(rename = "ping")]
    Ping,
    /// From the client, answering a ping.
    #[serde(rename = "pong")]
    Pong,
    /// The client fell behind and missed events: it should refetch what it shows. The server
    /// closes the socket after sending this.
    #[serde(rename = "resync")]
    Resync { reason: String },
}

impl ChangeEvent {
    /// The case an event concerns, if any.
    pub fn case_id(&self) -> Option<Uuid> {
        match self {
            Self::CaseCreated { id, .. }
            | Self::CaseUpdated { id, .. }
            | Self::CaseDeleted { id, .. } => Some(*id),
            Self::NoteCreated { case_id, .. } => Some(*case_id),
            Self::Ping | Self::Pong | Self::Resync { .. } => None,
        }
    }
}

/// One socket message as the server sends it: the event's fields and, for a change, the
/// [`Change`] itself in `change` (with its `seq`), so a device applies it without a request.
/// Older servers send no `change`; clients that read only the event's fields are unaffected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    #[serde(flatten)]
    pub event: ChangeEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

impl From<ChangeEvent> for LiveEvent {
    /// An event that carries no change (a ping, a resync).
    fn from(event: ChangeEvent) -> Self {
        Self {
            event,
            change: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChangeBody, LogPosition};

    #[test]
    fn a_live_event_adds_the_change_beside_the_event_fields() {
        let id: Uuid = "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44".parse().unwrap();
        let at = Timestamp::parse("2026-11-21T10:00:00Z").unwrap();
        let live = LiveEvent {
            event: ChangeEvent::CaseDeleted { id, at },
            change: Some(Change {
                seq: LogPosition { log: 1, number: 4 }.seq(),
                body: ChangeBody::CaseDeleted { id },
            }),
        };
        let text = serde_json::to_string(&live).unwrap();
        // The event alone still decodes from it: older readers are unaffected.
        let event: ChangeEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(event, live.event);
        assert_eq!(serde_json::from_str::<LiveEvent>(&text).unwrap(), live);
        // And an event without a change (an older server, or a ping) decodes too.
        let ping: LiveEvent = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!((ping.event, ping.change), (ChangeEvent::Ping, None));
    }

    #[test]
    fn wire_shape_matches_the_contract() {
        let event: ChangeEvent = serde_json::from_str(
            r#"{"type":"note.created","id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44",
            "case_id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e45","at":"2026-11-21T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            event.case_id(),
            Some("0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e45".parse().unwrap())
        );
        assert_eq!(
            serde_json::to_string(&ChangeEvent::Ping).unwrap(),
            r#"{"type":"ping"}"#
        );
        assert!(serde_json::from_str::<ChangeEvent>(r#"{"type":"case.exploded"}"#).is_err());
    }
}
