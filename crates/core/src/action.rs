//! Actions: what a person did, as data. Each has a client-made id and an idempotency key,
//! so it can be stored, replayed after a reload, and sent twice without applying twice.

use crate::clock::Millis;
use casedesk_model::{Case, CasePatch, NewCase, NewNote};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One change a person made, waiting to reach the server or already there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: Uuid,
    /// Sent as `Idempotency-Key` on every attempt, so a retry after a lost answer is a replay.
    pub idempotency_key: Uuid,
    pub kind: ActionKind,
    pub created_at: Millis,
    /// Who made it: the person signed in when it was queued. Sent only under their session.
    /// `None` for actions stored before people, which belong to whoever signs in next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Uuid>,
}

/// What an action does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActionKind {
    CreateCase {
        case: NewCase,
    },
    UpdateCase {
        id: Uuid,
        patch: CasePatch,
        /// The version the person saw when editing; sent as `If-Match`. A case created
        /// offline has version 0 until its creation is confirmed.
        base_version: u64,
        /// The case as the person saw it when editing: the "base" of a three-way merge.
        base: Case,
    },
    DeleteCase {
        id: Uuid,
        /// The case as last seen, so counts can be adjusted and the undo can say what it was.
        last_known: Option<Case>,
    },
    AddNote {
        case_id: Uuid,
        note: NewNote,
    },
}

impl Action {
    /// A new action with fresh ids (the caller supplies randomness-derived UUIDs).
    pub fn new(id: Uuid, idempotency_key: Uuid, kind: ActionKind, created_at: Millis) -> Self {
        Self {
            id,
            idempotency_key,
            kind,
            created_at,
            author: None,
        }
    }

    /// The case this action touches.
    pub fn case_id(&self) -> Uuid {
        match &self.kind {
            ActionKind::CreateCase { case } => case.id,
            ActionKind::UpdateCase { id, .. } | ActionKind::DeleteCase { id, .. } => *id,
            ActionKind::AddNote { case_id, .. } => *case_id,
        }
    }

    /// This action as made by `author`.
    pub fn by(mut self, author: Option<Uuid>) -> Self {
        self.author = author;
        self
    }

    /// Whether the person `me` may send it: their own, or one stored before people (which
    /// is whoever's signs in next). Without a person (`None`), every action is.
    pub fn is_sendable_by(&self, me: Option<Uuid>) -> bool {
        me.is_none() || self.author.is_none() || self.author == me
    }
}
