//! A note on a case, and the body that adds one.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A note as the server holds it. Notes are never edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub case_id: Uuid,
    pub body: String,
    /// The author's name, kept for older clients; the server sets it from the session.
    pub author: String,
    pub created_at: Timestamp,
    /// The author (set by the server from the session); `None` for notes older than people.
    #[serde(default)]
    pub author_id: Option<Uuid>,
}

/// The body of `POST /cases/{id}/notes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewNote {
    /// Chosen by the client, like a case's id.
    pub id: Uuid,
    pub body: String,
    /// Ignored by servers with people (the session says who wrote it); kept so older
    /// clients' bodies still decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The author recorded when a note names none.
pub const ANONYMOUS_AUTHOR: &str = "anonymous";

impl NewNote {
    /// The note this body creates on `case_id`, as of `now`.
    pub fn into_note(self, case_id: Uuid, now: Timestamp) -> Note {
        let author = self
            .author
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| ANONYMOUS_AUTHOR.to_owned());
        Note {
            id: self.id,
            case_id,
            body: self.body,
            author,
            created_at: now,
            author_id: None,
        }
    }
}
