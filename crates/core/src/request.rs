//! An action on the wire: the request that carries it and the answer that confirms it.
//! The HTTP adapter sends an `ActionRequest` as it is; it decides nothing.

use crate::action::{Action, ActionKind};
use casedesk_model::{Case, CasePatch, NewCase, NewNote, Note};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The HTTP method of an action's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// The JSON body of an action's request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RequestBody {
    NewCase(NewCase),
    Patch(CasePatch),
    NewNote(NewNote),
    /// `DELETE` has no body.
    Empty,
}

/// Everything needed to send one attempt of an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub method: Method,
    /// Below the API prefix (`/api/v1`): `/cases`, `/cases/{id}`, `/cases/{id}/notes`.
    pub path: String,
    pub body: RequestBody,
    /// Sent as `Idempotency-Key` on every attempt.
    pub idempotency_key: Uuid,
    /// Sent as `If-Match: "<version>"` (updates only).
    pub if_match: Option<u64>,
}

impl ActionRequest {
    /// The request that carries `action` now.
    pub fn for_action(action: &Action) -> Self {
        let (method, path, body, if_match) = match &action.kind {
            ActionKind::CreateCase { case } => (
                Method::Post,
                "/cases".to_owned(),
                RequestBody::NewCase(case.clone()),
                None,
            ),
            ActionKind::UpdateCase {
                id,
                patch,
                base_version,
                ..
            } => (
                Method::Patch,
                format!("/cases/{id}"),
                RequestBody::Patch(patch.clone()),
                Some(*base_version),
            ),
            ActionKind::DeleteCase { id, .. } => (
                Method::Delete,
                format!("/cases/{id}"),
                RequestBody::Empty,
                None,
            ),
            ActionKind::AddNote { case_id, note } => (
                Method::Post,
                format!("/cases/{case_id}/notes"),
                RequestBody::NewNote(note.clone()),
                None,
            ),
        };
        Self {
            method,
            path,
            body,
            idempotency_key: action.idempotency_key,
            if_match,
        }
    }
}

/// What the server answered when it accepted an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerAnswer {
    /// `POST /cases` (201) or `PATCH /cases/{id}` (200): the case as stored now.
    Case(Case),
    /// `DELETE /cases/{id}` (204).
    Deleted,
    /// `POST /cases/{id}/notes` (201).
    Note(Note),
}

impl ServerAnswer {
    pub fn as_case(&self) -> Option<&Case> {
        match self {
            Self::Case(case) => Some(case),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Millis;
    use casedesk_model::{CaseStatus, Priority, Timestamp};

    fn case(id: Uuid) -> Case {
        Case {
            id,
            title: "t".into(),
            description: String::new(),
            status: CaseStatus::Open,
            priority: Priority::Low,
            assignee: None,
            tags: vec![],
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
            version: 4,
        }
    }

    #[test]
    fn each_kind_maps_to_its_endpoint() {
        let id = Uuid::from_u128(9);
        let key = Uuid::from_u128(10);
        let update = Action::new(
            Uuid::from_u128(1),
            key,
            ActionKind::UpdateCase {
                id,
                patch: CasePatch::default(),
                base_version: 4,
                base: case(id),
            },
            Millis(0),
        );
        let request = ActionRequest::for_action(&update);
        assert_eq!(request.method.as_str(), "PATCH");
        assert_eq!(request.path, format!("/cases/{id}"));
        assert_eq!(request.if_match, Some(4));
        assert_eq!(request.idempotency_key, key);

        let note = Action::new(
            Uuid::from_u128(2),
            key,
            ActionKind::AddNote {
                case_id: id,
                note: NewNote {
                    id: Uuid::from_u128(3),
                    body: "b".into(),
                    author: None,
                },
            },
            Millis(0),
        );
        let request = ActionRequest::for_action(&note);
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, format!("/cases/{id}/notes"));
        assert_eq!(request.if_match, None);

        let delete = Action::new(
            Uuid::from_u128(4),
            key,
            ActionKind::DeleteCase {
                id,
                last_known: None,
            },
            Millis(0),
        );
        let request = ActionRequest::for_action(&delete);
        assert_eq!(request.method, Method::Delete);
        assert_eq!(request.body, RequestBody::Empty);
    }
}
