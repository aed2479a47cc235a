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

impl ActionRequest {
    /// Whether `answer` can be the confirmation of this request on `case_id`: the case or
    /// note it carries is the one this request names. A success answer about another case
    /// (a proxy mixing up answers, a broken server) must not be written over ours.
    pub fn confirmed_by(&self, case_id: Uuid, answer: &ServerAnswer) -> bool {
        match (&self.body, answer) {
            (RequestBody::NewCase(new), ServerAnswer::Case(case)) => case.id == new.id,
            (RequestBody::Patch(_), ServerAnswer::Case(case)) => case.id == case_id,
            (RequestBody::NewNote(new), ServerAnswer::Note(note)) => {
                note.id == new.id && note.case_id == case_id
            }
            (RequestBody::Empty, ServerAnswer::Deleted) => true,
            _ => false,
        }
    }

    /// After a creation answered 409 `already_exists`: whether `existing`, what the server
    /// holds under the id, is this request's own earlier arrival. That happens when the
    /// first answer was lost and the server forgot the idempotency key before the resend;
    /// the action is then done, not refused.
    ///
    /// The ids are random 122-bit values this device made, so the same id means the same
    /// creation; the contents are still compared while the case is at version 1, and a case
    /// changed since (version > 1) is accepted as ours, since only its creator knew the id
    /// before it existed.
    pub fn is_earlier_arrival(&self, existing: &ServerAnswer) -> bool {
        match (&self.body, existing) {
            (RequestBody::NewCase(new), ServerAnswer::Case(case)) => {
                if case.id != new.id {
                    return false;
                }
                if case.version > 1 {
                    return true;
                }
                let mut expected = new.clone().into_case(case.created_at);
                expected.updated_at = case.updated_at;
                // Authorship is the server's to set (from the session), never the body's.
                expected.created_by = case.created_by;
                expected.updated_by = case.updated_by;
                expected == *case
            }
            (RequestBody::NewNote(new), ServerAnswer::Note(note)) => {
                note.id == new.id && note.body == new.body
            }
            _ => false,
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
            created_by: None,
            updated_by: None,
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

    fn creation(new: &NewCase) -> ActionRequest {
        ActionRequest::for_action(&Action::new(
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            ActionKind::CreateCase { case: new.clone() },
            Millis(0),
        ))
    }

    fn new_case(id: Uuid) -> NewCase {
        NewCase {
            id,
            title: "  Printer jams ".into(),
            description: "floor 3".into(),
            status: CaseStatus::Open,
            priority: Priority::High,
            assignee: Some("dana".into()),
            tags: vec!["hardware".into()],
        }
    }

    fn note_request(case_id: Uuid, note: &NewNote) -> ActionRequest {
        ActionRequest::for_action(&Action::new(
            Uuid::from_u128(3),
            Uuid::from_u128(4),
            ActionKind::AddNote {
                case_id,
                note: note.clone(),
            },
            Millis(0),
        ))
    }

    #[test]
    fn an_answer_about_another_case_or_note_confirms_nothing() {
        let id = Uuid::from_u128(9);
        let create = creation(&new_case(id));
        assert!(create.confirmed_by(id, &ServerAnswer::Case(case(id))));
        assert!(!create.confirmed_by(id, &ServerAnswer::Case(case(Uuid::from_u128(8)))));
        assert!(!create.confirmed_by(id, &ServerAnswer::Deleted));

        let new = NewNote {
            id: Uuid::from_u128(5),
            body: "b".into(),
            author: None,
        };
        let add = note_request(id, &new);
        let stamp = Timestamp::from_unix_millis(0).unwrap();
        let ours = new.clone().into_note(id, stamp);
        assert!(add.confirmed_by(id, &ServerAnswer::Note(ours.clone())));
        let elsewhere = new.clone().into_note(Uuid::from_u128(7), stamp);
        assert!(!add.confirmed_by(id, &ServerAnswer::Note(elsewhere)));
        let other = NewNote {
            id: Uuid::from_u128(6),
            ..new
        }
        .into_note(id, stamp);
        assert!(!add.confirmed_by(id, &ServerAnswer::Note(other)));
    }

    #[test]
    fn a_creation_that_landed_earlier_is_recognised_and_a_stranger_is_not() {
        let id = Uuid::from_u128(9);
        let new = new_case(id);
        let create = creation(&new);
        let stamp = Timestamp::from_unix_millis(1_000).unwrap();
        let mut landed = new.clone().into_case(stamp);
        assert!(create.is_earlier_arrival(&ServerAnswer::Case(landed.clone())));
        // The server names who created it; that is not a difference.
        landed.created_by = Some(Uuid::from_u128(77));
        landed.updated_by = landed.created_by;
        assert!(create.is_earlier_arrival(&ServerAnswer::Case(landed.clone())));

        let different = Case {
            title: "Something else".into(),
            ..landed.clone()
        };
        assert!(!create.is_earlier_arrival(&ServerAnswer::Case(different.clone())));
        // Changed by someone since it landed: still the creation this device made.
        let edited = Case {
            version: 3,
            ..different
        };
        assert!(create.is_earlier_arrival(&ServerAnswer::Case(edited)));
        assert!(!create.is_earlier_arrival(&ServerAnswer::Case(case(Uuid::from_u128(8)))));

        let note = NewNote {
            id: Uuid::from_u128(5),
            body: "Called the vendor.".into(),
            author: None,
        };
        let add = note_request(id, &note);
        let stored = note.clone().into_note(id, stamp);
        assert!(add.is_earlier_arrival(&ServerAnswer::Note(stored.clone())));
        let rewritten = Note {
            body: "Another text".into(),
            ..stored
        };
        assert!(!add.is_earlier_arrival(&ServerAnswer::Note(rewritten)));
    }
}
