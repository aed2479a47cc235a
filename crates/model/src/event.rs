//! Change events the server pushes over `GET /events` (a WebSocket), one per accepted change.

use crate::Timestamp;
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

#[cfg(test)]
mod tests {
    use super::*;

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
