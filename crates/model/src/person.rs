//! People (docs/api.md §4): who signs in, the session a sign-in gives, and the history of
//! who changed what on a case.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a person may do. Every person works cases; admins also manage people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Admin,
}

impl Role {
    /// The wire name (`agent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Agent, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// A person, as `GET /users` and `GET /me` show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// The body of `POST /session`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// The answer of `POST /session`: the bearer token, whose it is, and when it expires unless
/// used before (each use moves the expiry on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub user: Person,
    pub expires_at: Timestamp,
}

/// What a history entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    Created,
    Updated,
    Deleted,
    NoteAdded,
}

impl HistoryKind {
    /// The wire name (`note_added`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::NoteAdded => "note_added",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Deleted, Self::NoteAdded]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One field's change: its value before (`null` when it had none, or on creation) and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// One entry of `GET /cases/{id}/history`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: Uuid,
    pub at: Timestamp,
    /// Who made the change; `None` for changes made before the server knew people.
    pub actor_id: Option<Uuid>,
    pub kind: HistoryKind,
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for kind in [
            HistoryKind::Created,
            HistoryKind::Updated,
            HistoryKind::Deleted,
            HistoryKind::NoteAdded,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(HistoryKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
        let person: Person = serde_json::from_str(
            r#"{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","name":"Dana Reyes","email":"dana@example.com","role":"agent"}"#,
        )
        .unwrap();
        assert_eq!(person.role, Role::Agent);
    }
}
