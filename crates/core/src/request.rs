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

/// The endpoint an action goes to, with what it sends there: one variant per route, so the
/// HTTP adapter matches once and never re-derives the route from a method and a body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Route {
    /// `POST /cases`.
    CreateCase(NewCase),
    /// `PATCH /cases/{id}` with `If-Match: "<if_match>"`.
    UpdateCase {
        id: Uuid,
        patch: CasePatch,
        if_match: u64,
    },
    /// `DELETE /cases/{id}` (no body).
    DeleteCase { id: Uuid },
    /// `POST /cases/{case_id}/notes`.
    AddNote { case_id: Uuid, note: NewNote },
}

impl Route {
    pub fn method(&self) -> Method {
        match self {
            Self::CreateCase(_) | Self::AddNote { .. } => Method::Post,
            Self::UpdateCase { .. } => Method::Patch,
            Self::DeleteCase { .. } => Method::Delete,
        }
    }

    /// The route's pattern, for diagnostics (`PATCH /cases/{id}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::CreateCase(_) => "POST /cases",
            Self::UpdateCase { .. } => "PATCH /cases/{id}",
            Self::DeleteCase { .. } => "DELETE /cases/{id}",
            Self::AddNote { .. } => "POST /cases/{id}/notes",
        }
    }

    /// The path below the API prefix (`/api/v1`).
    pub fn path(&self) -> String {
        match self {
            Self::CreateCase(_) => "/cases".to_owned(),
            Self::UpdateCase { id, .. } | Self::DeleteCase { id } => format!("/cases/{id}"),
            Self::AddNote { case_id, .. } => format!("/cases/{case_id}/notes"),
        }
    }

    /// The version sent as `If-Match` (updates only).
    pub fn if_match(&self) -> Option<u64> {
        match self {
            Self::UpdateCase { if_match, .. } => Some(*if_match),
            _ => None,
        }
    }

    /// The case the request is about (the `{id}` of its path, or the case it creates).
    pub fn case_id(&self) -> Uuid {
        match self {
            Self::CreateCase(case) => case.id,
            Self::UpdateCase { id, .. } | Self::DeleteCase { id } => *id,
            Self::AddNote { case_id, .. } => *case_id,
        }
    }
}

/// Everything needed to send one attempt of an action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub route: Route,
    /// Sent as `Idempotency-Key` on every attempt.
    pub idempotency_key: Uuid,
}

impl ActionRequest {
    /// The request that carries `action` now.
    pub fn for_action(action: &Action) -> Self {
        let route = match &action.kind {
            ActionKind::CreateCase { case } => Route::CreateCase(case.clone()),
            ActionKind::UpdateCase {
                id,
                patch,
                base_version,
                ..
            } => Route::UpdateCase {
                id: *id,
                patch: patch.clone(),
                if_match: *base_version,
            },
            ActionKind::DeleteCase { id, .. } => Route::DeleteCase { id: *id },
            ActionKind::AddNote { case_id, note } => Route::AddNote {
                case_id: *case_id,
                note: note.clone(),
            },
        };
        Self {
            route,
            idempotency_key: action.idempotency_key,
        }
    }

    /// Whether `answer` can be the confirmation of this request: the case or note it carries
    /// is the one this request names. A success answer about another case (a proxy mixing up
    /// answers, a broken server) must not be written over ours.
    pub fn confirmed_by(&self, answer: &ServerAnswer) -> bool {
        match (&self.route, answer) {
            (Route::CreateCase(new), ServerAnswer::Case(case)) => case.id == new.id,
            (Route::UpdateCase { id, .. }, ServerAnswer::Case(case)) => case.id == *id,
            (Route::AddNote { case_id, note: new }, ServerAnswer::Note(note)) => {
                note.id == new.id && note.case_id == *case_id
            }
            (Route::DeleteCase { .. }, ServerAnswer::Deleted) => true,
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
        match (&self.route, existing) {
            (Route::CreateCase(new), ServerAnswer::Case(case)) => {
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
            (Route::AddNote { note: new, .. }, ServerAnswer::Note(note)) => {
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
        assert_eq!(request.route.method().as_str(), "PATCH");
        assert_eq!(request.route.path(), format!("/cases/{id}"));
        assert!(matches!(
            request.route,
            Route::UpdateCase { if_match: 4, .. }
        ));
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
        assert_eq!(request.route.method(), Method::Post);
        assert_eq!(request.route.path(), format!("/cases/{id}/notes"));
        assert_eq!(request.route.label(), "POST /cases/{id}/notes");
        assert_eq!(request.route.case_id(), id);

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
        assert_eq!(request.route.method(), Method::Delete);
        assert_eq!(request.route, Route::DeleteCase { id });
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
        assert!(create.confirmed_by(&ServerAnswer::Case(case(id))));
        assert!(!create.confirmed_by(&ServerAnswer::Case(case(Uuid::from_u128(8)))));
        assert!(!create.confirmed_by(&ServerAnswer::Deleted));

        let new = NewNote {
            id: Uuid::from_u128(5),
            body: "b".into(),
            author: None,
        };
        let add = note_request(id, &new);
        let stamp = Timestamp::from_unix_millis(0).unwrap();
        let ours = new.clone().into_note(id, stamp);
        assert!(add.confirmed_by(&ServerAnswer::Note(ours.clone())));
        let elsewhere = new.clone().into_note(Uuid::from_u128(7), stamp);
        assert!(!add.confirmed_by(&ServerAnswer::Note(elsewhere)));
        let other = NewNote {
            id: Uuid::from_u128(6),
            ..new
        }
        .into_note(id, stamp);
        assert!(!add.confirmed_by(&ServerAnswer::Note(other)));
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
