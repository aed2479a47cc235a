//! The durable action queue as a pure state machine. The browser keeps each record in
//! IndexedDB and sends what this module says to send; everything else (order, dependencies,
//! retries, dead letters, conflicts) is decided here, and every call that changes the queue
//! returns exactly the records to write and the ids to delete. [`view`] is what pages read
//! of it; [`DeathReason`] says, as data, why an action was given up.

use crate::action::{Action, ActionKind};
use crate::clock::{DurationMs, Millis, Random};
use crate::failure::{Failure, FailureClass};
use crate::merge::{self, ConflictChoice, ConflictPolicy, FieldConflict, MergeOutcome};
use crate::request::{ActionRequest, ServerAnswer};
use crate::retry::RetryPolicy;
use casedesk_model::{Case, CasePatch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

mod health;
#[cfg(test)]
mod properties;
mod reason;
mod signer;
mod summary;
pub mod view;

use health::ServerHealth;
pub use reason::DeathReason;
pub use signer::Signer;
pub use summary::ActionSummary;

/// How the queue behaves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueConfig {
    /// Requests in flight at once, each on a different case.
    pub max_in_flight: usize,
    /// How long an action may keep failing (from when it was queued, or retried by hand)
    /// before it is dead-lettered.
    pub retention: DurationMs,
    /// The backoff between attempts.
    pub retry: RetryPolicy,
    /// What a 412 does with fields both sides changed.
    pub conflict_policy: ConflictPolicy,
    /// How long a single change made by the person counts as what they are doing now, and
    /// so goes before background work (see [`Lane`]).
    #[serde(default = "QueueConfig::default_interactive_window")]
    pub interactive_window: DurationMs,
}

impl QueueConfig {
    fn default_interactive_window() -> DurationMs {
        DurationMs::from_secs(30)
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            // A browser opens six connections to a host over HTTP/1.1: the drain takes five
            // at most, so a read the person starts always finds one free, and the app sends
            // fewer while the person's reads are on their way (`QueryBridge::reads_in_flight`).
            // Four left the drain bound by its request time (four over ~12 ms on loopback).
            max_in_flight: 5,
            retention: DurationMs::from_mins(7 * 24 * 60),
            retry: RetryPolicy::ACTION,
            conflict_policy: ConflictPolicy::Ask,
            interactive_window: Self::default_interactive_window(),
        }
    }
}

/// Where a queued action is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Waiting to be sent (now, or at `next_attempt_at`).
    Pending,
    /// Sent; its answer has not arrived.
    InFlight,
    /// The server refused it with a 412 and the merge needs the person; later actions on the
    /// same case wait behind it.
    Conflict,
    /// Given up: a dead letter, kept until the person retries or discards it.
    Dead,
}

impl ActionState {
    /// Still on its way to the server (shown by the overlay).
    pub fn is_live(self) -> bool {
        self != Self::Dead
    }
}

/// Which work an action belongs to, for the order in which independent cases are sent.
///
/// What the person is doing now goes first: a case touched by a single change within the
/// last [`QueueConfig::interactive_window`] is sent before every other case, however much
/// background work (a bulk change, a backlog built offline long ago) is queued ahead of it.
/// Between cases of one kind the oldest goes first; within one case the order never changes
/// (a background head of a case the person just touched goes first with it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// One change made by the person in the UI.
    #[default]
    Interactive,
    /// Part of a bulk change: sent after what the person is doing now.
    Background,
}

/// A 412 waiting for the person: both versions, and what merged on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingConflict {
    /// The server's case from the 412 body.
    pub theirs: Case,
    /// The fields that merged without help.
    pub auto_patch: CasePatch,
    /// The fields both sides changed to different values.
    pub conflicts: Vec<FieldConflict>,
}

/// One stored action with its delivery state: the IndexedDB record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedAction {
    pub action: Action,
    pub state: ActionState,
    /// Position in the queue, increasing with each enqueue.
    pub seq: u64,
    /// Counted attempts (those made while offline or paused for sign-in are not counted).
    pub attempts: u32,
    /// Not sent before this.
    pub next_attempt_at: Millis,
    pub last_error: Option<Failure>,
    /// Why it is dead (records from before reasons were data hold words: `Described`).
    #[serde(default, deserialize_with = "reason::read_stored")]
    pub dead_reason: Option<DeathReason>,
    /// The action whose death took this one with it (its case's creation).
    pub dead_because_of: Option<Uuid>,
    /// The creation of this action's case, while that creation is still queued.
    pub depends_on: Option<Uuid>,
    /// Interactive or background (records from before lanes are interactive).
    #[serde(default)]
    pub lane: Lane,
    pub enqueued_at: Millis,
    /// Still failing at this time: dead-lettered (enqueue, or manual retry, plus retention).
    pub give_up_at: Millis,
    /// Set while the state is `Conflict`.
    pub conflict: Option<PendingConflict>,
}

impl QueuedAction {
    pub fn id(&self) -> Uuid {
        self.action.id
    }

    /// The request to send for this action now.
    pub fn request(&self) -> ActionRequest {
        ActionRequest::for_action(&self.action)
    }
}

/// What a row shows about its case (`data-sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing of this case is waiting.
    #[default]
    Synced,
    /// An action on it is queued, in flight, or waiting for a conflict choice.
    Pending,
    /// An action on it is a dead letter.
    Failed,
}

impl SyncState {
    /// The contract's `data-sync` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }
}

/// Something a person should be told (in the `role="alert"` region or the Sync page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QueueNotice {
    /// The server accepted it.
    Confirmed { id: Uuid },
    /// It became a dead letter: its change is undone on screen.
    RolledBack {
        id: Uuid,
        what: ActionSummary,
        reason: DeathReason,
    },
    /// A 412 needs the person's choice.
    NeedsChoice { id: Uuid, what: ActionSummary },
    /// A dead letter was discarded (with `dependents` that died with it).
    Discarded {
        id: Uuid,
        what: ActionSummary,
        dependents: usize,
    },
    /// A 401: the whole queue waits until the person signs in again.
    SignInNeeded,
}

/// What one call changed: write `saved` to the store, delete `removed`, announce `notices`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueChanges {
    /// The new state of every record that changed, in queue order.
    pub saved: Vec<QueuedAction>,
    /// Records gone from the queue (confirmed or discarded).
    pub removed: Vec<Uuid>,
    pub notices: Vec<QueueNotice>,
}

impl QueueChanges {
    pub fn is_empty(&self) -> bool {
        self.saved.is_empty() && self.removed.is_empty() && self.notices.is_empty()
    }
}

/// An action to send now.
#[derive(Clone, Debug, PartialEq)]
pub struct Outgoing {
    pub id: Uuid,
    /// Whose it is: the sender sends it only under this person's session (`None`: an action
    /// made before people, or without them).
    pub author: Option<Uuid>,
    pub request: ActionRequest,
}

/// What `ready` hands the worker: the requests to send, and the records now in flight (to be
/// written before sending, so a crash mid-request is recovered by a resend with the same key).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dispatch {
    pub send: Vec<Outgoing>,
    pub changes: QueueChanges,
}

/// Why a person's request on the queue could not be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("no queued action has this id (it may have been confirmed or discarded)")]
    NotFound,
    #[error("only a dead letter can be retried or discarded")]
    NotDead,
    #[error("this action is not waiting for a conflict choice")]
    NotInConflict,
}

/// The queue: records by position, with an index by action id.
#[derive(Clone, Debug, Default)]
pub struct ActionQueue {
    config: QueueConfig,
    records: BTreeMap<u64, QueuedAction>,
    seq_by_id: HashMap<Uuid, u64>,
    /// The queued creation of each case, so an enqueue finds what it depends on at once.
    creation_by_case: HashMap<Uuid, Uuid>,
    next_seq: u64,
    paused_for_auth: bool,
    /// Actions in flight when the person signed in again: sent with the old credentials, so
    /// their 401 says nothing about the new session (it must not pause the queue again).
    sent_before_sign_in: HashSet<Uuid>,
    /// Whose session the requests carry: only what that person may send goes.
    signer: Signer,
    /// The server's last answers (how troubled it is, as opposed to how unlucky one action
    /// has been), and the queue-wide hold while it fails nearly everything.
    health: ServerHealth,
}

/// Collects what a call touched, then reports the records' final state once each.
#[derive(Default)]
struct Touched {
    saved: Vec<Uuid>,
    removed: Vec<Uuid>,
    notices: Vec<QueueNotice>,
}

impl Touched {
    fn save(&mut self, id: Uuid) {
        if !self.saved.contains(&id) {
            self.saved.push(id);
        }
    }

    fn remove(&mut self, id: Uuid) {
        self.saved.retain(|saved| *saved != id);
        if !self.removed.contains(&id) {
            self.removed.push(id);
        }
    }
}

impl ActionQueue {
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The queue as stored, e.g. read back from IndexedDB at start-up (then call
    /// `recover_after_restart`). Records are ordered by `seq`, then id; a repeated id keeps
    /// the last record given.
    pub fn from_records(
        config: QueueConfig,
        records: impl IntoIterator<Item = QueuedAction>,
    ) -> Self {
        let mut queue = Self::new(config);
        for record in records {
            queue.absorb(record);
        }
        queue
    }

    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The person chose another conflict policy: it applies to the next 412.
    pub fn set_conflict_policy(&mut self, policy: ConflictPolicy) {
        self.config.conflict_policy = policy;
    }

    /// Takes in a record another tab wrote (its enqueue, or the draining tab's progress).
    pub fn absorb(&mut self, record: QueuedAction) {
        self.take(record.id());
        // Two tabs may have handed out the same position; the one absorbed later goes after.
        let mut seq = record.seq;
        while self.records.contains_key(&seq) {
            seq = seq.saturating_add(1);
        }
        self.insert(QueuedAction { seq, ..record });
    }

    /// Drops a record another tab deleted.
    pub fn forget(&mut self, id: Uuid) {
        self.take(id);
    }

    // ----- reads -----

    pub fn get(&self, id: Uuid) -> Option<&QueuedAction> {
        self.seq_by_id
            .get(&id)
            .and_then(|seq| self.records.get(seq))
    }

    /// Every record, in queue order.
    pub fn records(&self) -> impl Iterator<Item = &QueuedAction> {
        self.records.values()
    }

    /// The actions the overlay applies, in queue order: every one not dead.
    pub fn live_actions(&self) -> impl Iterator<Item = &Action> {
        self.records
            .values()
            .filter(|r| r.state.is_live())
            .map(|r| &r.action)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> impl Iterator<Item = &QueuedAction> {
        self.records
            .values()
            .filter(|r| r.state == ActionState::Dead)
    }

    /// The actions waiting for a conflict choice.
    pub fn conflicts(&self) -> impl Iterator<Item = &QueuedAction> {
        self.records
            .values()
            .filter(|r| r.state == ActionState::Conflict)
    }

    /// The `If-Match` version an update will be sent with (already moved to the version of
    /// the last confirmed action on its case); `None` for other kinds.
    pub fn if_match_for(&self, id: Uuid) -> Option<u64> {
        match &self.get(id)?.action.kind {
            ActionKind::UpdateCase { base_version, .. } => Some(*base_version),
            _ => None,
        }
    }

    /// The request that would carry action `id` now.
    pub fn request_for(&self, id: Uuid) -> Option<ActionRequest> {
        self.get(id).map(QueuedAction::request)
    }

    /// A case's row state: failed beats pending beats synced.
    pub fn sync_state(&self, case_id: Uuid) -> SyncState {
        let mut state = SyncState::Synced;
        for record in self.records.values() {
            if record.action.case_id() != case_id {
                continue;
            }
            if record.state == ActionState::Dead {
                return SyncState::Failed;
            }
            state = SyncState::Pending;
        }
        state
    }

    /// The row state of every case the queue touches; a case not in the map is synced.
    pub fn sync_states(&self) -> HashMap<Uuid, SyncState> {
        let mut states = HashMap::new();
        for record in self.records.values() {
            let state = if record.state == ActionState::Dead {
                SyncState::Failed
            } else {
                SyncState::Pending
            };
            let entry = states
                .entry(record.action.case_id())
                .or_insert(SyncState::Synced);
            if *entry != SyncState::Failed {
                *entry = state;
            }
        }
        states
    }

    /// Every record, live or dead.
    pub fn depth(&self) -> usize {
        self.records.len()
    }

    /// Actions not yet confirmed and not dead (the indicator's `data-pending`).
    pub fn pending_count(&self) -> usize {
        self.records.values().filter(|r| r.state.is_live()).count()
    }

    pub fn in_flight_count(&self) -> usize {
        self.count(ActionState::InFlight)
    }

    pub fn conflict_count(&self) -> usize {
        self.count(ActionState::Conflict)
    }

    /// Dead letters (the indicator's `data-dead`).
    pub fn dead_count(&self) -> usize {
        self.count(ActionState::Dead)
    }

    fn count(&self, state: ActionState) -> usize {
        self.records.values().filter(|r| r.state == state).count()
    }

    /// How long the oldest live action has waited.
    pub fn oldest_pending_age(&self, now: Millis) -> Option<DurationMs> {
        self.records
            .values()
            .filter(|r| r.state.is_live())
            .map(|r| r.enqueued_at)
            .min()
            .map(|oldest| now.since(oldest))
    }

    pub fn is_paused_for_auth(&self) -> bool {
        self.paused_for_auth
    }

    /// Whose session the requests carry, as the queue was last told.
    pub fn signer(&self) -> Signer {
        self.signer
    }

    /// The session in force is now `signer`'s (the queue's person at start-up); nothing
    /// else changes: see [`Self::resume_after_sign_in`] for a new sign-in.
    pub fn set_signer(&mut self, signer: Signer) {
        self.signer = signer;
    }

    /// The person signed out: nothing is sent until someone signs in, and then only theirs.
    pub fn signed_out(&mut self) {
        self.signer = Signer::Nobody;
    }

    /// When the worker should next call `ready`: the earliest time a sendable action comes
    /// due (possibly already past). `None` when nothing waits on time: the queue is empty,
    /// paused for sign-in, every slot is in flight (an answer will wake the worker), or all
    /// that is left waits on a person. Being offline is the worker's to know: it waits for
    /// the `online` event instead.
    pub fn next_wake(&self) -> Option<Millis> {
        self.next_wake_where(&|_| true)
    }

    /// `next_wake`, counting only the cases whose next action `sendable` accepts (e.g. the
    /// signed-in person's own actions).
    pub fn next_wake_where(&self, sendable: &dyn Fn(&QueuedAction) -> bool) -> Option<Millis> {
        let limit = self.health.in_flight_limit(self.config.max_in_flight);
        if self.paused_for_auth || self.in_flight_count() >= limit {
            return None;
        }
        let signer = self.signer;
        let due = self
            .heads()
            .filter(|r| {
                r.state == ActionState::Pending && signer.may_send(&r.action) && sendable(r)
            })
            .map(|r| r.next_attempt_at)
            .min()?;
        // While the server fails nearly everything, nothing goes before the queue's hold ends.
        Some(due.max(self.health.hold_end()))
    }

    /// Whether most of the server's recent answers were transient failures, so the queue sends
    /// one probe at a time, spaced by a growing backoff.
    pub fn is_server_troubled(&self) -> bool {
        self.health.is_troubled()
    }

    /// Up to `free` heads that `due` accepts, in the order they are sent: the cases the
    /// person touched by a single change within the interactive window first, then the rest,
    /// each oldest first (by the position of its head, so the order within a case is
    /// untouched). Each pass stops at `free`: the heads are at the front of the queue, so a
    /// drain does not scan the whole backlog for every request.
    fn due_by_priority(
        &self,
        now: Millis,
        free: usize,
        due: &dyn Fn(&QueuedAction) -> bool,
    ) -> Vec<Uuid> {
        let window = self.config.interactive_window;
        let current: HashSet<Uuid> = self
            .records
            .values()
            .filter(|r| {
                r.state.is_live()
                    && r.lane == Lane::Interactive
                    && now.since(r.enqueued_at) < window
            })
            .map(|r| r.action.case_id())
            .collect();
        let mut picked: Vec<Uuid> = Vec::with_capacity(free.min(self.config.max_in_flight));
        if !current.is_empty() {
            picked.extend(
                self.heads()
                    .filter(|r| current.contains(&r.action.case_id()) && due(r))
                    .take(free)
                    .map(QueuedAction::id),
            );
        }
        let left = free.saturating_sub(picked.len());
        if left > 0 {
            picked.extend(
                self.heads()
                    .filter(|r| !current.contains(&r.action.case_id()) && due(r))
                    .take(left)
                    .map(QueuedAction::id),
            );
        }
        picked
    }

    /// The oldest live action of each case whose creation (if queued) is not still waiting:
    /// the only ones that may be sent.
    fn heads(&self) -> impl Iterator<Item = &QueuedAction> {
        let mut seen = HashSet::new();
        self.records.values().filter(move |record| {
            record.state.is_live()
                && seen.insert(record.action.case_id())
                && !self.waits_on_creation(record)
        })
    }

    /// Whether `record`'s case creation is queued ahead of it and not yet confirmed.
    fn waits_on_creation(&self, record: &QueuedAction) -> bool {
        record
            .depends_on
            .and_then(|creation| self.get(creation))
            .is_some_and(|creation| creation.state.is_live())
    }

    fn get_mut(&mut self, id: Uuid) -> Option<&mut QueuedAction> {
        let seq = self.seq_by_id.get(&id)?;
        self.records.get_mut(seq)
    }

    /// Files `record` at its `seq`, which must be free, keeping the indexes.
    fn insert(&mut self, record: QueuedAction) {
        let id = record.id();
        self.next_seq = self.next_seq.max(record.seq.saturating_add(1));
        if let ActionKind::CreateCase { case } = &record.action.kind {
            self.creation_by_case.insert(case.id, id);
        }
        self.seq_by_id.insert(id, record.seq);
        self.records.insert(record.seq, record);
    }

    /// Takes record `id` out, keeping the indexes.
    fn take(&mut self, id: Uuid) -> Option<QueuedAction> {
        let seq = self.seq_by_id.remove(&id)?;
        let record = self.records.remove(&seq)?;
        if let ActionKind::CreateCase { case } = &record.action.kind {
            if self.creation_by_case.get(&case.id) == Some(&id) {
                self.creation_by_case.remove(&case.id);
            }
        }
        Some(record)
    }

    fn report(&self, touched: Touched) -> QueueChanges {
        let mut saved: Vec<QueuedAction> = touched
            .saved
            .iter()
            .filter_map(|id| self.get(*id).cloned())
            .collect();
        crate::sort::sort_by_key(&mut saved, |r| r.seq);
        QueueChanges {
            saved,
            removed: touched.removed,
            notices: touched.notices,
        }
    }

    // ----- changes -----

    /// Queues `action` (write the returned record before showing the change). An action on a
    /// case whose creation is still queued waits for it; if that creation is already dead,
    /// the action is born dead with it (and revives with it on retry). An id already queued
    /// changes nothing.
    pub fn enqueue(&mut self, action: Action, now: Millis) -> QueueChanges {
        self.enqueue_in(action, Lane::Interactive, now)
    }

    /// `enqueue` in `lane`: a bulk change queues its actions as [`Lane::Background`], so a
    /// change the person makes next does not wait behind them.
    pub fn enqueue_in(&mut self, action: Action, lane: Lane, now: Millis) -> QueueChanges {
        let mut touched = Touched::default();
        if self.seq_by_id.contains_key(&action.id) {
            return self.report(touched);
        }
        let creation = match action.kind {
            ActionKind::CreateCase { .. } => None,
            _ => self.queued_creation_of(action.case_id()),
        };
        let seq = self.next_seq;
        let id = action.id;
        let mut record = QueuedAction {
            action,
            state: ActionState::Pending,
            seq,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            dead_reason: None,
            dead_because_of: None,
            depends_on: creation.map(QueuedAction::id),
            lane,
            enqueued_at: now,
            give_up_at: now + self.config.retention,
            conflict: None,
        };
        if let Some(dead) = creation.filter(|c| c.state == ActionState::Dead) {
            record.state = ActionState::Dead;
            record.dead_because_of = Some(dead.id());
            record.dead_reason = Some(cascade_reason(&dead.action));
        }
        self.insert(record);
        touched.save(id);
        self.report(touched)
    }

    /// The queued creation of `case_id`, if any.
    fn queued_creation_of(&self, case_id: Uuid) -> Option<&QueuedAction> {
        self.get(*self.creation_by_case.get(&case_id)?)
    }

    /// Picks what to send now and marks it in flight: the oldest live action of each case
    /// (never two of one case), not waiting on its case's creation, due by `now`, up to
    /// `max_in_flight` in flight in all, the cases the person is working on first ([`Lane`]).
    /// Nothing while offline or paused for sign-in.
    pub fn ready(&mut self, now: Millis, online: bool) -> Dispatch {
        self.ready_at_most(now, online, usize::MAX)
    }

    /// `ready`, sending at most `limit` actions: the worker takes one request-budget token per
    /// action, so it asks for as many as it holds tokens and leaves the rest pending, neither
    /// marked in flight nor counted.
    pub fn ready_at_most(&mut self, now: Millis, online: bool, limit: usize) -> Dispatch {
        self.ready_where(now, online, limit, &|_| true)
    }

    /// `ready_at_most`, sending only cases whose next action `sendable` accepts: a case whose
    /// next action it refuses waits as a whole, so nothing on it overtakes that action. An
    /// action the session in force may not carry ([`Signer`]) is never sent, whatever
    /// `sendable` says.
    pub fn ready_where(
        &mut self,
        now: Millis,
        online: bool,
        limit: usize,
        sendable: &dyn Fn(&QueuedAction) -> bool,
    ) -> Dispatch {
        if !online || self.paused_for_auth || self.health.held_until(now).is_some() {
            return Dispatch::default();
        }
        let free = self
            .health
            .in_flight_limit(self.config.max_in_flight)
            .saturating_sub(self.in_flight_count())
            .min(limit);
        if free == 0 {
            return Dispatch::default();
        }
        let signer = self.signer;
        let due = self.due_by_priority(now, free, &|r| {
            r.state == ActionState::Pending
                && r.next_attempt_at <= now
                && signer.may_send(&r.action)
                && sendable(r)
        });
        let mut touched = Touched::default();
        let mut send = Vec::with_capacity(due.len());
        for id in due {
            self.sent_before_sign_in.remove(&id);
            if let Some(record) = self.get_mut(id) {
                record.state = ActionState::InFlight;
                send.push(Outgoing {
                    id,
                    author: record.action.author,
                    request: record.request(),
                });
                touched.save(id);
            }
        }
        Dispatch {
            send,
            changes: self.report(touched),
        }
    }

    /// The server accepted action `id` with `answer`: it leaves the queue. Later updates of
    /// the same case move to the answer's version (`If-Match`) and take it as their merge
    /// base, since their view already showed the confirmed change; a confirmed creation
    /// frees the actions that waited for it. An unknown id (already handled) changes nothing.
    pub fn on_success(&mut self, id: Uuid, answer: &ServerAnswer) -> QueueChanges {
        let mut touched = Touched::default();
        self.sent_before_sign_in.remove(&id);
        let Some(record) = self.take(id) else {
            return self.report(touched);
        };
        self.health.on_success();
        touched.remove(id);
        touched.notices.push(QueueNotice::Confirmed { id });
        if matches!(record.action.kind, ActionKind::CreateCase { .. }) {
            for later in self.records.values_mut() {
                if later.depends_on == Some(id) {
                    later.depends_on = None;
                    touched.save(later.id());
                }
            }
        }
        if let Some(confirmed) = answer.as_case() {
            self.rebase_after(record.seq, confirmed, &mut touched);
        }
        self.report(touched)
    }

    /// Moves the actions on `confirmed`'s case queued after `seq` onto its version.
    fn rebase_after(&mut self, seq: u64, confirmed: &Case, touched: &mut Touched) {
        for later in self
            .records
            .range_mut(seq.saturating_add(1)..)
            .map(|(_, r)| r)
        {
            if later.action.case_id() != confirmed.id || later.state == ActionState::InFlight {
                continue;
            }
            let later_id = later.action.id;
            match &mut later.action.kind {
                ActionKind::UpdateCase {
                    base_version, base, ..
                } => {
                    *base_version = confirmed.version;
                    *base = confirmed.clone();
                    touched.save(later_id);
                }
                ActionKind::DeleteCase { last_known, .. } => {
                    *last_known = Some(confirmed.clone());
                    touched.save(later_id);
                }
                ActionKind::CreateCase { .. } | ActionKind::AddNote { .. } => {}
            }
        }
    }

    /// Action `id` failed with `failure` (not a 412 with a readable body: see `on_conflict`).
    ///
    /// Classified as a write ([`Failure::write_class`]): transient (network, timeout, 408,
    /// 429, 5xx, and a success answer that could not be read) → pending again after the backoff for its
    /// counted attempts, `Retry-After` as a floor; an attempt made offline (`Failure::Offline`
    /// or `online == false`) is not counted. Permanent → dead at once, with the actions that
    /// waited for it. 401 → the whole queue pauses for sign-in; the action stays pending,
    /// uncounted (unless it was sent before the person signed in again: then it goes again at
    /// once, with the new credentials). A 412 here (its body unreadable) cannot be merged: dead. Past its retention
    /// → dead, labelled. An unknown id, or one not pending or in flight, changes nothing.
    pub fn on_failure(
        &mut self,
        id: Uuid,
        failure: &Failure,
        now: Millis,
        online: bool,
        rng: &mut dyn Random,
    ) -> QueueChanges {
        let mut touched = Touched::default();
        let sent_before_sign_in = self.sent_before_sign_in.remove(&id);
        let retention = self.config.retention;
        let policy = self.config.retry;
        let transient_online = online && failure.write_class() == FailureClass::Transient;
        let mut health = self.health;
        if transient_online {
            health.on_transient_failure(now, failure.retry_after(), &policy, rng);
        }
        let serving = health.is_serving();
        let Some(record) = self.get_mut(id) else {
            return self.report(touched);
        };
        if !matches!(record.state, ActionState::Pending | ActionState::InFlight) {
            return self.report(touched);
        }
        let offline = failure.is_offline() || !online;
        // Whatever went wrong while offline, the cause was being offline: recorded so, so that
        // retention (which counts only real failures) leaves it alone.
        record.last_error = Some(
            if offline && failure.write_class() == FailureClass::Transient {
                Failure::Offline
            } else {
                failure.clone()
            },
        );
        record.state = ActionState::Pending;
        touched.save(id);
        let mut pause = false;
        let death = match failure.write_class() {
            FailureClass::Transient => {
                if !offline {
                    record.attempts = record.attempts.saturating_add(1);
                }
                if !offline && now >= record.give_up_at {
                    Some(DeathReason::Expired {
                        retention,
                        last: failure.clone(),
                    })
                } else if !policy.allows(record.attempts) {
                    Some(DeathReason::GaveUp {
                        attempts: record.attempts,
                        last: failure.clone(),
                    })
                } else {
                    // Offline, the worker waits for the `online` event and then sends at
                    // once; a device that claims to be online while requests say otherwise
                    // still backs off, so the worker does not spin.
                    let wait = if online {
                        let step = backoff_step(record.attempts, serving);
                        policy.delay(step, failure.retry_after(), rng)
                    } else {
                        DurationMs::ZERO
                    };
                    record.next_attempt_at = now + wait;
                    None
                }
            }
            FailureClass::Permanent => Some(DeathReason::Refused(failure.clone())),
            FailureClass::Unauthorized => {
                record.next_attempt_at = now;
                // Refused under the credentials the person has since replaced: sent again
                // with the new ones rather than taken for a new refusal.
                pause = !sent_before_sign_in;
                None
            }
            FailureClass::Conflict => Some(DeathReason::ConflictUnreadable(failure.clone())),
        };
        self.health = health;
        if pause && !self.paused_for_auth {
            self.paused_for_auth = true;
            touched.notices.push(QueueNotice::SignInNeeded);
        }
        if let Some(reason) = death {
            self.kill(id, reason, &mut touched);
        }
        self.report(touched)
    }

    /// Makes `id` a dead letter with `reason`, and with it every action waiting for it (the
    /// actions on a case whose creation died), each labelled with why.
    fn kill(&mut self, id: Uuid, reason: DeathReason, touched: &mut Touched) {
        let Some(record) = self.get_mut(id) else {
            return;
        };
        record.state = ActionState::Dead;
        record.dead_reason = Some(reason.clone());
        record.conflict = None;
        let what = ActionSummary::of(&record.action);
        let cascade = cascade_reason(&record.action);
        let is_creation = matches!(record.action.kind, ActionKind::CreateCase { .. });
        touched.save(id);
        touched
            .notices
            .push(QueueNotice::RolledBack { id, what, reason });
        if !is_creation {
            return;
        }
        for dependent in self.records.values_mut() {
            if dependent.depends_on != Some(id) || dependent.state == ActionState::Dead {
                continue;
            }
            dependent.state = ActionState::Dead;
            dependent.dead_because_of = Some(id);
            dependent.dead_reason = Some(cascade.clone());
            dependent.conflict = None;
            touched.save(dependent.id());
            touched.notices.push(QueueNotice::RolledBack {
                id: dependent.id(),
                what: ActionSummary::of(&dependent.action),
                reason: cascade.clone(),
            });
        }
    }

    /// A 412 on update `id`, with the server's current case `theirs` from its body: runs the
    /// three-way merge under the configured policy. Merged (nothing left to ask) → pending
    /// again at once with the merged patch, `If-Match: theirs.version`, `theirs` as base and
    /// `fresh_key` as its idempotency key (the body changed, so the old key cannot be reused);
    /// nothing left to send → done, removed like a success. Otherwise → `Conflict`, holding
    /// both versions, and the case's later actions wait behind it. The glue should also write
    /// `theirs` into the case's cache entry: it is the server's latest.
    pub fn on_conflict(
        &mut self,
        id: Uuid,
        theirs: &Case,
        fresh_key: Uuid,
        now: Millis,
    ) -> QueueChanges {
        let mut touched = Touched::default();
        self.sent_before_sign_in.remove(&id);
        let policy = self.config.conflict_policy;
        let Some(record) = self.get_mut(id) else {
            return self.report(touched);
        };
        if !matches!(record.state, ActionState::Pending | ActionState::InFlight) {
            return self.report(touched);
        }
        let edit = match &record.action.kind {
            ActionKind::UpdateCase { patch, base, .. } => Some((patch.clone(), base.clone())),
            _ => None,
        };
        let Some((patch, base)) = edit else {
            // Only updates send `If-Match`; a 412 on anything else is the server's mistake.
            self.kill(
                id,
                DeathReason::UnexpectedConflict { status: 412 },
                &mut touched,
            );
            return self.report(touched);
        };
        match merge::merge(&base, &patch, theirs, policy) {
            MergeOutcome::Resend { patch, base, .. } => {
                self.resend_merged(id, patch, base, fresh_key, now, &mut touched);
            }
            MergeOutcome::NeedsChoice {
                auto_patch,
                conflicts,
            } => {
                let Some(record) = self.get_mut(id) else {
                    return self.report(touched);
                };
                record.state = ActionState::Conflict;
                record.conflict = Some(PendingConflict {
                    theirs: theirs.clone(),
                    auto_patch,
                    conflicts,
                });
                let what = ActionSummary::of(&record.action);
                touched.save(id);
                touched.notices.push(QueueNotice::NeedsChoice { id, what });
            }
        }
        self.report(touched)
    }

    /// The person chose ("Keep mine" / "Use theirs", per field or for all) for the conflict of
    /// `id`: the choice becomes a patch against the server's version, sent with `fresh_key`;
    /// an empty one (theirs everywhere) means the action is done and leaves the queue.
    pub fn on_conflict_resolved(
        &mut self,
        id: Uuid,
        choice: &ConflictChoice,
        fresh_key: Uuid,
        now: Millis,
    ) -> Result<QueueChanges, QueueError> {
        let record = self.get(id).ok_or(QueueError::NotFound)?;
        let conflict = match (&record.state, &record.conflict) {
            (ActionState::Conflict, Some(conflict)) => conflict.clone(),
            _ => return Err(QueueError::NotInConflict),
        };
        let patch = merge::resolve(&conflict.auto_patch, &conflict.conflicts, choice);
        let mut touched = Touched::default();
        self.resend_merged(id, patch, conflict.theirs, fresh_key, now, &mut touched);
        Ok(self.report(touched))
    }

    /// Sends update `id` again as `patch` on `theirs`, or settles it when nothing is left.
    fn resend_merged(
        &mut self,
        id: Uuid,
        patch: CasePatch,
        theirs: Case,
        fresh_key: Uuid,
        now: Millis,
        touched: &mut Touched,
    ) {
        if patch.is_empty() {
            // The server already holds everything this action wanted.
            if let Some(record) = self.take(id) {
                touched.remove(id);
                touched.notices.push(QueueNotice::Confirmed { id });
                self.rebase_after(record.seq, &theirs, touched);
            }
            return;
        }
        let Some(record) = self.get_mut(id) else {
            return;
        };
        if let ActionKind::UpdateCase {
            patch: sent,
            base_version,
            base,
            ..
        } = &mut record.action.kind
        {
            *sent = patch;
            *base_version = theirs.version;
            *base = theirs;
        }
        record.action.idempotency_key = fresh_key;
        record.state = ActionState::Pending;
        record.conflict = None;
        record.next_attempt_at = now;
        touched.save(id);
    }

    /// "Retry" on a dead letter: pending again at once with a fresh attempt budget and
    /// retention, the same idempotency key (so an attempt that did land is not applied
    /// twice), at the end of the queue: later actions on its case may already have reached
    /// the server, so it is sent, and shown by the overlay, after them. A cascade revives as a
    /// whole, in its order: retrying a creation revives the actions that died with it, and
    /// retrying one of those retries the creation (and so all of them).
    pub fn retry_dead(&mut self, id: Uuid, now: Millis) -> Result<QueueChanges, QueueError> {
        let record = self.get(id).ok_or(QueueError::NotFound)?;
        if record.state != ActionState::Dead {
            return Err(QueueError::NotDead);
        }
        let cause = record
            .dead_because_of
            .filter(|cause| {
                self.get(*cause)
                    .is_some_and(|c| c.state == ActionState::Dead)
            })
            .unwrap_or(id);
        let cascade: Vec<Uuid> = self
            .records
            .values()
            .filter(|r| r.dead_because_of == Some(cause) && r.state == ActionState::Dead)
            .map(QueuedAction::id)
            .collect();
        let retention = self.config.retention;
        let mut touched = Touched::default();
        for revived in std::iter::once(cause).chain(cascade).chain([id]) {
            if let Some(record) = self.get_mut(revived) {
                if record.state != ActionState::Dead {
                    continue;
                }
                record.state = ActionState::Pending;
                record.attempts = 0;
                record.next_attempt_at = now;
                record.give_up_at = now + retention;
                record.last_error = None;
                record.dead_reason = None;
                record.dead_because_of = None;
                touched.save(revived);
                self.move_to_end(revived);
            }
        }
        Ok(self.report(touched))
    }

    /// Gives `id` the next position in the queue.
    fn move_to_end(&mut self, id: Uuid) {
        if let Some(mut record) = self.take(id) {
            record.seq = self.next_seq;
            self.insert(record);
        }
    }

    /// "Discard" on a dead letter: it leaves the queue (its overlay is already gone). A
    /// discarded creation takes the actions that died with it along: they were about a case
    /// that will now never exist. Discarding one of those leaves the creation as it is.
    pub fn discard(&mut self, id: Uuid) -> Result<QueueChanges, QueueError> {
        let record = self.get(id).ok_or(QueueError::NotFound)?;
        if record.state != ActionState::Dead {
            return Err(QueueError::NotDead);
        }
        let what = ActionSummary::of(&record.action);
        let dependents: Vec<Uuid> = self
            .records
            .values()
            .filter(|r| r.dead_because_of == Some(id) || r.depends_on == Some(id))
            .map(QueuedAction::id)
            .collect();
        let mut touched = Touched::default();
        for gone in std::iter::once(id).chain(dependents.iter().copied()) {
            if self.take(gone).is_some() {
                touched.remove(gone);
            }
        }
        touched.notices.push(QueueNotice::Discarded {
            id,
            what,
            dependents: dependents.len(),
        });
        Ok(self.report(touched))
    }

    /// At start-up: actions that were in flight when the page died go back to pending, due at
    /// once, to be sent again with the same idempotency key (so one that did land is not
    /// applied twice). Not counted as an attempt.
    pub fn recover_after_restart(&mut self, now: Millis) -> QueueChanges {
        let mut touched = Touched::default();
        for record in self.records.values_mut() {
            if record.state == ActionState::InFlight {
                record.state = ActionState::Pending;
                record.next_attempt_at = record.next_attempt_at.min(now);
                touched.save(record.action.id);
            }
        }
        self.report(touched)
    }

    /// Retention: an action still failing transiently past its `give_up_at` becomes a dead
    /// letter with a clear reason (never silently deleted), with its dependents. Actions never
    /// tried, last tried while offline (an offline-first app must not punish a long trip),
    /// waiting for sign-in or for a conflict choice are not failing and stay. Call it on each
    /// worker tick.
    pub fn sweep(&mut self, now: Millis) -> QueueChanges {
        let retention = self.config.retention;
        let expired: Vec<(Uuid, DeathReason)> =
            self.records
                .values()
                .filter(|r| r.state == ActionState::Pending && now >= r.give_up_at)
                .filter_map(|r| {
                    let failure = r.last_error.as_ref()?;
                    (failure.write_class() == FailureClass::Transient && !failure.is_offline())
                        .then(|| {
                            let reason = DeathReason::Expired {
                                retention,
                                last: failure.clone(),
                            };
                            (r.id(), reason)
                        })
                })
                .collect();
        let mut touched = Touched::default();
        for (id, reason) in expired {
            self.kill(id, reason, &mut touched);
        }
        self.report(touched)
    }

    /// `signer` signed in: the queue drains again, the actions held by the 401 that `signer`
    /// may send at once. Another person's actions stay held, untouched, for their author:
    /// a session that ended and was taken over by someone else resumes nothing of the
    /// first person's.
    pub fn resume_after_sign_in(&mut self, now: Millis, signer: Signer) -> QueueChanges {
        self.signer = signer;
        self.paused_for_auth = false;
        let mut touched = Touched::default();
        self.sent_before_sign_in = self
            .records
            .values()
            .filter(|r| r.state == ActionState::InFlight)
            .map(|r| r.action.id)
            .collect();
        for record in self.records.values_mut() {
            let held_by_auth = record
                .last_error
                .as_ref()
                .is_some_and(|e| e.write_class() == FailureClass::Unauthorized);
            if record.state == ActionState::Pending
                && held_by_auth
                && signer.may_send(&record.action)
            {
                record.next_attempt_at = now;
                touched.save(record.action.id);
            }
        }
        self.report(touched)
    }

    /// "Sync now": every pending action waiting out a backoff is due at once (attempts keep
    /// counting, so backoff resumes if the server is still failing). A pause for sign-in is
    /// lifted too: the person asked to try, and a session that is still missing answers 401
    /// again, which pauses the queue again at once.
    pub fn sync_now(&mut self, now: Millis) -> QueueChanges {
        self.paused_for_auth = false;
        self.health.lift_hold();
        let touched = self.make_backoffs_due(now);
        self.report(touched)
    }

    /// The app moved to another API server (failover, docs/api.md §5): the backoffs and the
    /// queue-wide hold were earned by the server it left, so every pending action is due at
    /// once and the new server starts with no record of failures. Attempts keep counting (the
    /// Sync page's tries stay true); a pause for sign-in stays, as another server does not
    /// make a missing session good.
    pub fn server_changed(&mut self, now: Millis) -> QueueChanges {
        self.health = ServerHealth::default();
        let touched = self.make_backoffs_due(now);
        self.report(touched)
    }

    fn make_backoffs_due(&mut self, now: Millis) -> Touched {
        let mut touched = Touched::default();
        for record in self.records.values_mut() {
            if record.state == ActionState::Pending && record.next_attempt_at > now {
                record.next_attempt_at = now;
                touched.save(record.action.id);
            }
        }
        touched
    }
}

/// Which step of the retry policy's exponential backoff an action waits after `attempts`
/// counted failures, given whether the server is `serving` (most of its recent answers were
/// not failures: [`ServerHealth::is_serving`]).
///
/// An action's own failures alone would make one unlucky action wait minutes behind a
/// server that answers most requests: with 30 % of requests failing at random, one action
/// in a thousand fails six times in a row and waited up to 2⁶ s, which held a drain of
/// 1,000 actions for half a minute after 99 % of it had settled. So while the server serves,
/// the step grows only with a third of the action's own count (an action that keeps failing
/// alone still backs off, slower), and the wait is mostly the server's own `Retry-After`. A
/// server failing most requests gets the full backoff per action, and one failing nearly all
/// of them is held off queue-wide besides.
fn backoff_step(attempts: u32, serving: bool) -> u32 {
    if serving {
        (attempts / 3).max(1)
    } else {
        attempts.max(1)
    }
}

/// Why an action on a case whose creation died was not sent.
fn cascade_reason(creation: &Action) -> DeathReason {
    let title = match &creation.kind {
        ActionKind::CreateCase { case } => case.title.trim().to_owned(),
        // Only creations have dependents; were another kind to, its case has no title here.
        _ => String::new(),
    };
    DeathReason::CaseNotCreated { title }
}

#[cfg(test)]
mod tests;
