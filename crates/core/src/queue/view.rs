//! The queue as pages read it: per case, which fields and notes are still saving or were
//! not saved, a refused creation and the conflict waiting; and each action's step for the
//! Sync and Devtools pages. Computed once per queue change and indexed by case, so a page
//! reads its own case without scanning (or matching on) queue records.

use super::{ActionQueue, ActionState, DeathReason, PendingConflict, QueuedAction, SyncState};
use crate::action::ActionKind;
use crate::clock::Millis;
use crate::inspect::{queue_rows, QueueRow};
use crate::merge::CaseField;
use std::collections::HashMap;
use uuid::Uuid;

/// Where a change a person sees on screen stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSync {
    /// Queued or on its way: "Saving…".
    Saving,
    /// Given up: "Not saved".
    NotSaved,
}

/// What the queue holds about one case.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaseQueueView {
    /// The row's `data-sync`: failed beats pending beats synced.
    pub sync: SyncState,
    /// The latest state of the queued changes to each field (a refusal wins).
    fields: Vec<(CaseField, ChangeSync)>,
    /// Each queued note by its id.
    notes: Vec<(Uuid, ChangeSync)>,
    /// Why this device's creation of the case was given up, if it was.
    pub refused_creation: Option<DeathReason>,
    /// The 412 waiting for the person's choice: the action's id and both sides.
    pub conflict: Option<(Uuid, PendingConflict)>,
}

impl CaseQueueView {
    /// Where the queued changes to `field` stand (`None`: nothing queued touches it).
    pub fn field(&self, field: CaseField) -> Option<ChangeSync> {
        self.fields
            .iter()
            .find_map(|(f, sync)| (*f == field).then_some(*sync))
    }

    /// Where queued note `note_id` stands (`None`: not queued, so on the server).
    pub fn note(&self, note_id: Uuid) -> Option<ChangeSync> {
        self.notes
            .iter()
            .find_map(|(id, sync)| (*id == note_id).then_some(*sync))
    }

    fn take_in(&mut self, record: &QueuedAction) {
        let dead = record.state == ActionState::Dead;
        let change = if dead {
            ChangeSync::NotSaved
        } else {
            ChangeSync::Saving
        };
        self.sync = match (self.sync, dead) {
            (SyncState::Failed, _) | (_, true) => SyncState::Failed,
            _ => SyncState::Pending,
        };
        match &record.action.kind {
            ActionKind::CreateCase { .. } if dead => {
                self.refused_creation = record.dead_reason.clone();
            }
            ActionKind::UpdateCase { patch, .. } => {
                for field in CaseField::ALL.into_iter().filter(|f| f.is_in(patch)) {
                    match self.fields.iter_mut().find(|(f, _)| *f == field) {
                        // A refusal stays shown whatever was queued after it.
                        Some((_, ChangeSync::NotSaved)) => {}
                        Some((_, sync)) => *sync = change,
                        None => self.fields.push((field, change)),
                    }
                }
            }
            ActionKind::AddNote { note, .. } => self.notes.push((note.id, change)),
            ActionKind::CreateCase { .. } | ActionKind::DeleteCase { .. } => {}
        }
        if self.conflict.is_none() {
            if let (ActionState::Conflict, Some(conflict)) = (record.state, &record.conflict) {
                self.conflict = Some((record.id(), conflict.clone()));
            }
        }
    }
}

/// Where one action is in its life, as the Sync and Devtools pages tell it.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionStep {
    /// Waiting to be sent at `next_at` (now, or after a backoff when it has failed before).
    Waiting { next_at: Millis },
    /// Waiting for its case's creation to reach the server first.
    WaitingForCase,
    /// Sent; the answer has not arrived.
    Sending,
    /// The server holds another version: waiting for the person's choice.
    NeedsChoice,
    /// Given up, and why (`None` only for records that never said).
    Failed(Option<DeathReason>),
}

impl ActionStep {
    fn of(record: &QueuedAction) -> Self {
        match record.state {
            ActionState::Pending if record.depends_on.is_some() => Self::WaitingForCase,
            ActionState::Pending => Self::Waiting {
                next_at: record.next_attempt_at,
            },
            ActionState::InFlight => Self::Sending,
            ActionState::Conflict => Self::NeedsChoice,
            ActionState::Dead => Self::Failed(record.dead_reason.clone()),
        }
    }

    /// Still on its way (not a dead letter).
    pub fn is_live(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }

    /// The `data-state` of its item on the Sync page.
    pub fn data_state(&self) -> &'static str {
        match self {
            Self::Waiting { .. } | Self::WaitingForCase => "pending",
            Self::Sending => "inflight",
            Self::NeedsChoice => "conflict",
            Self::Failed(_) => "dead",
        }
    }
}

/// One queued action as a list shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionItem {
    /// What it does, its attempts, last failure and times (also what Devtools exports).
    pub row: QueueRow,
    pub step: ActionStep,
    /// Whether its case has a page to open (not when the action deletes it).
    pub opens_case: bool,
}

/// The whole queue as pages read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueView {
    cases: HashMap<Uuid, CaseQueueView>,
    /// Every action, in queue order.
    pub actions: Vec<ActionItem>,
}

impl QueueView {
    pub fn of(queue: &ActionQueue) -> Self {
        let mut cases: HashMap<Uuid, CaseQueueView> = HashMap::new();
        for record in queue.records() {
            cases
                .entry(record.action.case_id())
                .or_default()
                .take_in(record);
        }
        let actions = queue
            .records()
            .zip(queue_rows(queue.records()))
            .map(|(record, row)| ActionItem {
                row,
                step: ActionStep::of(record),
                opens_case: !matches!(record.action.kind, ActionKind::DeleteCase { .. }),
            })
            .collect();
        Self { cases, actions }
    }

    /// What the queue holds about case `id` (a case it does not touch is synced).
    pub fn case(&self, id: Uuid) -> CaseQueueView {
        self.cases.get(&id).cloned().unwrap_or_default()
    }

    /// A case's row state, without copying the rest of its view.
    pub fn sync_state(&self, id: Uuid) -> SyncState {
        self.cases.get(&id).map_or(SyncState::Synced, |c| c.sync)
    }

    /// The actions still on their way, in queue order.
    pub fn pending(&self) -> impl Iterator<Item = &ActionItem> {
        self.actions.iter().filter(|a| a.step.is_live())
    }

    /// The dead letters, oldest first.
    pub fn dead(&self) -> impl Iterator<Item = &ActionItem> {
        self.actions.iter().filter(|a| !a.step.is_live())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;
    use crate::failure::Failure;
    use crate::overlay::fixtures::*;
    use crate::queue::QueueConfig;
    use casedesk_model::{Case, CasePatch, CaseStatus, Priority};

    fn refused(status: u16) -> Failure {
        Failure::Http {
            status,
            code: None,
            message: "no".into(),
            request_id: None,
            retry_after: None,
        }
    }

    fn open_case(n: u128) -> Case {
        case(n, CaseStatus::Open, Priority::Low, T0 - DAY)
    }

    fn status(to: CaseStatus) -> CasePatch {
        CasePatch {
            status: Some(to),
            ..CasePatch::default()
        }
    }

    #[test]
    fn a_case_reads_its_fields_notes_and_refusals_and_no_other_case() {
        let mut queue = ActionQueue::new(QueueConfig::default());
        let now = Millis(T0);
        let mine = open_case(1);
        let other = open_case(2);
        queue.enqueue(
            update_action(1, &mine, status(CaseStatus::Resolved), T0),
            now,
        );
        queue.enqueue(note_action(2, mine.id, 2, "Called the vendor.", T0), now);
        queue.enqueue(update_action(3, &mine, title_patch("Renamed"), T0), now);
        queue.enqueue(
            update_action(4, &other, status(CaseStatus::Closed), T0),
            now,
        );
        // The status change is refused; the title change behind it still waits.
        queue.ready(now, true);
        let mut rng = SeededRandom::new(1);
        queue.on_failure(action_id(1), &refused(422), now, true, &mut rng);

        let view = QueueView::of(&queue);
        let case = view.case(mine.id);
        assert_eq!(case.sync, SyncState::Failed);
        assert_eq!(case.field(CaseField::Status), Some(ChangeSync::NotSaved));
        assert_eq!(case.field(CaseField::Title), Some(ChangeSync::Saving));
        assert_eq!(case.field(CaseField::Priority), None);
        assert_eq!(
            case.note(Uuid::from_u128(3_000_002)),
            Some(ChangeSync::Saving)
        );
        assert_eq!(case.note(Uuid::from_u128(999)), None);
        assert_eq!(view.sync_state(other.id), SyncState::Pending);
        assert_eq!(view.case(other.id).field(CaseField::Title), None);
        assert_eq!(view.sync_state(case_id(77)), SyncState::Synced);

        let dead: Vec<_> = view.dead().collect();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            dead[0].step,
            ActionStep::Failed(Some(DeathReason::Refused(refused(422))))
        );
        assert_eq!(dead[0].step.data_state(), "dead");
        assert_eq!(view.pending().count(), 3);
        assert!(view.actions.iter().all(|a| a.opens_case));
    }

    #[test]
    fn a_refused_creation_and_a_waiting_conflict_are_found_by_case() {
        let mut queue = ActionQueue::new(QueueConfig::default());
        let now = Millis(T0);
        queue.enqueue(
            create_action(1, 7, "New printer", CaseStatus::Open, Priority::High, T0),
            now,
        );
        queue.enqueue(note_action(2, case_id(7), 2, "Plugged in.", T0), now);
        let mut rng = SeededRandom::new(1);
        queue.ready(now, true);
        queue.on_failure(action_id(1), &refused(409), now, true, &mut rng);

        let edited = open_case(4);
        queue.enqueue(
            update_action(5, &edited, status(CaseStatus::Resolved), T0),
            now,
        );
        queue.ready(now, true);
        let mut theirs = edited.clone();
        theirs.status = CaseStatus::Closed;
        theirs.version += 1;
        queue.on_conflict(action_id(5), &theirs, Uuid::from_u128(6), now);

        let view = QueueView::of(&queue);
        let created = view.case(case_id(7));
        assert_eq!(
            created.refused_creation,
            Some(DeathReason::Refused(refused(409)))
        );
        assert_eq!(
            created.note(Uuid::from_u128(3_000_002)),
            Some(ChangeSync::NotSaved)
        );
        let waiting = view.case(edited.id);
        assert_eq!(
            waiting
                .conflict
                .as_ref()
                .map(|(id, c)| (*id, c.theirs.status)),
            Some((action_id(5), CaseStatus::Closed))
        );
        let steps: Vec<&ActionStep> = view.actions.iter().map(|a| &a.step).collect();
        assert!(
            matches!(
                steps.as_slice(),
                [
                    ActionStep::Failed(_),
                    ActionStep::Failed(Some(DeathReason::CaseNotCreated { .. })),
                    ActionStep::NeedsChoice
                ]
            ),
            "{steps:?}"
        );
    }
}
