//! People (docs/api.md §4): who signs in, the session a sign-in gives, and the history of
//! who changed what on a case.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a person may do: a viewer reads; an agent also creates and changes cases and adds
/// notes; an admin also deletes cases and manages people (see [`Role::allows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Agent,
    Admin,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Agent, Role::Admin];

    /// The wire name (`agent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Agent => "agent",
            Self::Admin => "admin",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether this role may do `permission`: the server refuses anything else (403
    /// `forbidden`), and the app hides it.
    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read | Permission::OwnAccount => true,
            Permission::WriteCases => matches!(self, Self::Agent | Self::Admin),
            Permission::DeleteCases | Permission::ManagePeople => self == Self::Admin,
        }
    }
}

/// What an endpoint needs of whoever calls it (docs/api.md §4, roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read cases, notes, history, metrics, people and change events.
    Read,
    /// One's own session and account: who one is, signing out, one's password.
    OwnAccount,
    /// Create and change cases, add notes.
    WriteCases,
    /// Delete cases.
    DeleteCases,
    /// Add people, change their roles, deactivate them, issue setup codes.
    ManagePeople,
}

fn active_by_default() -> bool {
    true
}

/// A person, as `GET /users` and `GET /me` show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// `false`: deactivated; cannot sign in, their sessions ended, their authorship stays.
    /// (Absent in what older servers and stored copies hold: they knew only active people.)
    #[serde(default = "active_by_default")]
    pub active: bool,
}

/// The body of `POST /users` (admin): a new person, who signs in first with a setup code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPerson {
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// The body of `PATCH /users/{id}` (admin): what changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// The answer of `POST /users` (201) and `POST /users/{id}/setup-code` (200): the person
/// and their new setup code, shown this once (the server keeps only its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupCodeIssued {
    pub user: Person,
    pub setup_code: String,
    /// When the code stops working (7 days after it was issued).
    pub expires_at: Timestamp,
}

/// The body of `POST /session/setup`: a setup code and the password it sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupSignIn {
    pub email: String,
    pub setup_code: String,
    pub password: String,
}

/// The body of `PUT /me/password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
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
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
        let person: Person = serde_json::from_str(
            r#"{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","name":"Dana Reyes","email":"dana@example.com","role":"agent"}"#,
        )
        .unwrap();
        assert_eq!(person.role, Role::Agent);
        assert!(
            person.active,
            "a person stored before `active` existed is active"
        );
    }

    #[test]
    fn viewers_read_agents_write_admins_delete_and_manage_people() {
        use Permission::*;
        let allowed = |role: Role| {
            [Read, OwnAccount, WriteCases, DeleteCases, ManagePeople]
                .into_iter()
                .filter(|p| role.allows(*p))
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(Role::Viewer), [Read, OwnAccount]);
        assert_eq!(allowed(Role::Agent), [Read, OwnAccount, WriteCases]);
        assert_eq!(
            allowed(Role::Admin),
            [Read, OwnAccount, WriteCases, DeleteCases, ManagePeople]
        );
    }
}
