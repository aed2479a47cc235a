//! Property tests of the queue: random interleavings of enqueues, sends, answers, failures,
//! conflicts, person's choices, restarts and time. The store mirrored from the returned
//! changes always equals the queue, the ordering rules always hold, and no action is ever
//! lost without being confirmed or discarded.

use super::*;
use crate::clock::SeededRandom;
use crate::merge::Side;
use crate::overlay::fixtures::*;
use casedesk_model::{CaseStatus, Priority};
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
enum FailKind {
    Unavailable,
    RateLimited(u64),
    BrowserOffline,
    NetworkWhileOffline,
    Refused,
    Unauthorized,
}

#[derive(Clone, Debug)]
enum Op {
    Create,
    Update {
        case: usize,
        status: usize,
        bulk: bool,
    },
    Note {
        case: usize,
    },
    Ready {
        online: bool,
    },
    /// Sends only what the filter lets through (the worker's "only the signed-in person's").
    ReadyWithoutNotes,
    Succeed {
        pick: usize,
    },
    Fail {
        pick: usize,
        kind: FailKind,
    },
    Conflict {
        pick: usize,
        same_field: bool,
    },
    Resolve {
        pick: usize,
        mine: bool,
    },
    Retry {
        pick: usize,
    },
    Discard {
        pick: usize,
    },
    Restart,
    Advance {
        ms: u64,
    },
    Sweep,
    Resume,
}

fn fail_kind() -> impl Strategy<Value = FailKind> {
    prop_oneof![
        3 => Just(FailKind::Unavailable),
        1 => (1u64..120).prop_map(FailKind::RateLimited),
        1 => Just(FailKind::BrowserOffline),
        1 => Just(FailKind::NetworkWhileOffline),
        2 => Just(FailKind::Refused),
        1 => Just(FailKind::Unauthorized),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Create),
        4 => (any::<usize>(), 0..4usize, any::<bool>())
            .prop_map(|(case, status, bulk)| Op::Update { case, status, bulk }),
        1 => any::<usize>().prop_map(|case| Op::Note { case }),
        4 => Just(Op::Ready { online: true }),
        1 => Just(Op::ReadyWithoutNotes),
        1 => Just(Op::Ready { online: false }),
        3 => any::<usize>().prop_map(|pick| Op::Succeed { pick }),
        3 => (any::<usize>(), fail_kind()).prop_map(|(pick, kind)| Op::Fail { pick, kind }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, same_field)| Op::Conflict { pick, same_field }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, mine)| Op::Resolve { pick, mine }),
        1 => any::<usize>().prop_map(|pick| Op::Retry { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Discard { pick }),
        1 => Just(Op::Restart),
        2 => (0u64..(3 * DAY)).prop_map(|ms| Op::Advance { ms }),
        2 => (0u64..60_000).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Sweep),
        1 => Just(Op::Resume),
    ]
}

struct Harness {
    queue: ActionQueue,
    /// What IndexedDB would hold, built only from the returned changes.
    store: BTreeMap<Uuid, QueuedAction>,
    cases: Vec<Case>,
    now: Millis,
    next: u128,
    rng: SeededRandom,
    enqueued: BTreeSet<Uuid>,
    confirmed: BTreeSet<Uuid>,
    discarded: BTreeSet<Uuid>,
}

impl Harness {
    fn new() -> Self {
        let cases = (1..=3)
            .map(|n| case(n, CaseStatus::Open, Priority::Low, T0 - DAY))
            .collect();
        Self {
            queue: ActionQueue::new(QueueConfig::default()),
            store: BTreeMap::new(),
            cases,
            now: Millis(T0),
            next: 0,
            rng: SeededRandom::new(11),
            enqueued: BTreeSet::new(),
            confirmed: BTreeSet::new(),
            discarded: BTreeSet::new(),
        }
    }

    fn write(&mut self, changes: &QueueChanges) {
        for record in &changes.saved {
            self.store.insert(record.id(), record.clone());
        }
        for id in &changes.removed {
            self.store.remove(id);
        }
        for notice in &changes.notices {
            if let QueueNotice::Confirmed { id } = notice {
                self.confirmed.insert(*id);
            }
        }
    }

    fn pick(&self, state: ActionState, pick: usize) -> Option<QueuedAction> {
        let matching: Vec<&QueuedAction> =
            self.queue.records().filter(|r| r.state == state).collect();
        (!matching.is_empty()).then(|| matching[pick % matching.len()].clone())
    }

    fn enqueue(&mut self, kind: ActionKind) {
        self.enqueue_in(kind, Lane::Interactive);
    }

    fn enqueue_in(&mut self, kind: ActionKind, lane: Lane) {
        self.next += 1;
        let action = Action::new(
            action_id(self.next),
            Uuid::from_u128(2_000_000 + self.next),
            kind,
            self.now,
        );
        self.enqueued.insert(action.id);
        let changes = self.queue.enqueue_in(action, lane, self.now);
        self.write(&changes);
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Create => {
                let n = 10_000 + self.next;
                let mut provisional = case(n, CaseStatus::Open, Priority::High, self.now.0);
                provisional.version = 0;
                self.cases.push(provisional);
                self.enqueue(ActionKind::CreateCase {
                    case: casedesk_model::NewCase {
                        id: case_id(n),
                        title: format!("Case {n}"),
                        description: String::new(),
                        status: CaseStatus::Open,
                        priority: Priority::High,
                        assignee: None,
                        tags: vec![],
                    },
                });
            }
            Op::Update { case, status, bulk } => {
                let base = self.cases[case % self.cases.len()].clone();
                let lane = if *bulk {
                    Lane::Background
                } else {
                    Lane::Interactive
                };
                self.enqueue_in(
                    ActionKind::UpdateCase {
                        id: base.id,
                        patch: CasePatch {
                            status: Some(CaseStatus::ALL[*status]),
                            ..CasePatch::default()
                        },
                        base_version: base.version,
                        base,
                    },
                    lane,
                );
            }
            Op::Note { case } => {
                let case_id = self.cases[case % self.cases.len()].id;
                let note = casedesk_model::NewNote {
                    id: Uuid::from_u128(3_000_000 + self.next),
                    body: "note".into(),
                    author: None,
                };
                self.enqueue(ActionKind::AddNote { case_id, note });
            }
            Op::Ready { online } => {
                let current = self.current_cases();
                let dispatch = self.queue.ready(self.now, *online);
                // What the person is doing now goes first: in one dispatch, no case they
                // touched comes after one they did not.
                let groups: Vec<bool> = dispatch
                    .send
                    .iter()
                    .filter_map(|o| self.queue.get(o.id))
                    .map(|r| current.contains(&r.action.case_id()))
                    .collect();
                prop_assert!(groups.windows(2).all(|w| w[0] || !w[1]), "{:?}", groups);
                prop_assert_eq!(dispatch.send.len(), dispatch.changes.saved.len());
                for outgoing in &dispatch.send {
                    let record = self.queue.get(outgoing.id).cloned();
                    prop_assert!(record.is_some_and(|r| r.next_attempt_at <= self.now
                        && r.action.idempotency_key == outgoing.request.idempotency_key));
                }
                if !online {
                    prop_assert!(dispatch.send.is_empty());
                }
                self.write(&dispatch.changes);
            }
            Op::ReadyWithoutNotes => {
                let not_a_note =
                    |r: &QueuedAction| !matches!(r.action.kind, ActionKind::AddNote { .. });
                let dispatch = self
                    .queue
                    .ready_where(self.now, true, usize::MAX, &not_a_note);
                for outgoing in &dispatch.send {
                    let record = self.queue.get(outgoing.id);
                    prop_assert!(record.is_some_and(not_a_note));
                }
                self.write(&dispatch.changes);
            }
            Op::Succeed { pick } => {
                let Some(record) = self.pick(ActionState::InFlight, *pick) else {
                    return Ok(());
                };
                let answer = match &record.action.kind {
                    ActionKind::CreateCase { case } => {
                        ServerAnswer::Case(case.clone().into_case(ts(self.now.0)))
                    }
                    ActionKind::UpdateCase {
                        patch,
                        base,
                        base_version,
                        ..
                    } => {
                        let mut updated = base.with_patch(patch);
                        updated.version = base_version + 1;
                        ServerAnswer::Case(updated)
                    }
                    ActionKind::DeleteCase { .. } => ServerAnswer::Deleted,
                    ActionKind::AddNote { case_id, note } => {
                        ServerAnswer::Note(note.clone().into_note(*case_id, ts(self.now.0)))
                    }
                };
                let changes = self.queue.on_success(record.id(), &answer);
                prop_assert_eq!(&changes.removed, &vec![record.id()]);
                self.write(&changes);
            }
            Op::Fail { pick, kind } => {
                let Some(record) = self.pick(ActionState::InFlight, *pick) else {
                    return Ok(());
                };
                let http = |status: u16, retry_after: Option<DurationMs>| Failure::Http {
                    status,
                    code: None,
                    message: "x".into(),
                    request_id: None,
                    retry_after,
                };
                let (failure, online) = match kind {
                    FailKind::Unavailable => (http(503, None), true),
                    FailKind::RateLimited(secs) => {
                        (http(429, Some(DurationMs::from_secs(*secs))), true)
                    }
                    FailKind::BrowserOffline => (Failure::Offline, false),
                    FailKind::NetworkWhileOffline => (
                        Failure::Network {
                            message: "down".into(),
                        },
                        false,
                    ),
                    FailKind::Refused => (http(422, None), true),
                    FailKind::Unauthorized => (http(401, None), true),
                };
                let changes =
                    self.queue
                        .on_failure(record.id(), &failure, self.now, online, &mut self.rng);
                self.write(&changes);
                let after = self.queue.get(record.id()).cloned();
                match kind {
                    FailKind::BrowserOffline
                    | FailKind::NetworkWhileOffline
                    | FailKind::Unauthorized => {
                        let after = after.ok_or_else(|| TestCaseError::fail("lost"))?;
                        prop_assert_eq!(after.attempts, record.attempts);
                        prop_assert_eq!(after.state, ActionState::Pending);
                    }
                    FailKind::Refused => {
                        prop_assert_eq!(after.map(|r| r.state), Some(ActionState::Dead));
                    }
                    FailKind::Unavailable | FailKind::RateLimited(_) => {
                        let after = after.ok_or_else(|| TestCaseError::fail("lost"))?;
                        if after.state == ActionState::Pending {
                            prop_assert_eq!(after.attempts, record.attempts + 1);
                            let wait = after.next_attempt_at.since(self.now);
                            let ceiling = self.queue.config().retry.ceiling(after.attempts);
                            let floor = failure.retry_after().unwrap_or(DurationMs::ZERO);
                            prop_assert!(wait >= floor && wait <= ceiling.max(floor));
                        } else {
                            prop_assert_eq!(after.state, ActionState::Dead);
                            prop_assert!(self.now >= record.give_up_at);
                        }
                    }
                }
            }
            Op::Conflict { pick, same_field } => {
                let Some(record) = self.pick(ActionState::InFlight, *pick) else {
                    return Ok(());
                };
                let ActionKind::UpdateCase {
                    base,
                    patch,
                    base_version,
                    ..
                } = &record.action.kind
                else {
                    return Ok(());
                };
                let mut theirs = base.clone();
                theirs.version = base_version + 1;
                if *same_field {
                    // A status neither the base nor mine has, if there is one.
                    let mine = patch.status;
                    if let Some(other) = CaseStatus::ALL
                        .into_iter()
                        .find(|s| *s != base.status && Some(*s) != mine)
                    {
                        theirs.status = other;
                    }
                } else {
                    theirs.title = "Changed by someone else".into();
                }
                self.next += 1;
                let fresh = Uuid::from_u128(5_000_000 + self.next);
                let changes = self
                    .queue
                    .on_conflict(record.id(), &theirs, fresh, self.now);
                self.write(&changes);
            }
            Op::Resolve { pick, mine } => {
                let Some(record) = self.pick(ActionState::Conflict, *pick) else {
                    return Ok(());
                };
                let side = if *mine { Side::Mine } else { Side::Theirs };
                self.next += 1;
                let fresh = Uuid::from_u128(5_000_000 + self.next);
                let changes = self
                    .queue
                    .on_conflict_resolved(record.id(), &ConflictChoice::All(side), fresh, self.now)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.write(&changes);
            }
            Op::Retry { pick } => {
                let Some(record) = self.pick(ActionState::Dead, *pick) else {
                    return Ok(());
                };
                let key = record.action.idempotency_key;
                let changes = self
                    .queue
                    .retry_dead(record.id(), self.now)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.write(&changes);
                let after = self.queue.get(record.id());
                prop_assert!(after.is_some_and(|r| r.state == ActionState::Pending
                    && r.attempts == 0
                    && r.action.idempotency_key == key));
            }
            Op::Discard { pick } => {
                let Some(record) = self.pick(ActionState::Dead, *pick) else {
                    return Ok(());
                };
                let changes = self
                    .queue
                    .discard(record.id())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(changes.removed.contains(&record.id()));
                self.discarded.extend(changes.removed.iter().copied());
                self.write(&changes);
            }
            Op::Restart => {
                let stored: Vec<QueuedAction> = self.store.values().cloned().collect();
                self.queue = ActionQueue::from_records(QueueConfig::default(), stored);
                let changes = self.queue.recover_after_restart(self.now);
                self.write(&changes);
                prop_assert_eq!(self.queue.in_flight_count(), 0);
            }
            Op::Advance { ms } => self.now = self.now + DurationMs(*ms),
            Op::Sweep => {
                let changes = self.queue.sweep(self.now);
                self.write(&changes);
            }
            Op::Resume => {
                let changes = self.queue.resume_after_sign_in(self.now, Signer::Anyone);
                self.write(&changes);
            }
        }
        Ok(())
    }

    /// The cases a single change touched within the interactive window.
    fn current_cases(&self) -> HashSet<Uuid> {
        let window = self.queue.config().interactive_window;
        self.queue
            .records()
            .filter(|r| {
                r.state.is_live()
                    && r.lane == Lane::Interactive
                    && self.now.since(r.enqueued_at) < window
            })
            .map(|r| r.action.case_id())
            .collect()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        // The store, written only from returned changes, is the queue.
        let queued: BTreeMap<Uuid, QueuedAction> =
            self.queue.records().map(|r| (r.id(), r.clone())).collect();
        prop_assert_eq!(&self.store, &queued);

        // Nothing vanishes: every action is queued, confirmed or discarded.
        for id in &self.enqueued {
            prop_assert!(
                queued.contains_key(id)
                    || self.confirmed.contains(id)
                    || self.discarded.contains(id),
                "action {} was lost",
                id
            );
        }

        prop_assert!(self.queue.in_flight_count() <= self.queue.config().max_in_flight);
        let mut live_cases = HashSet::new();
        for record in self.queue.records() {
            let case = record.action.case_id();
            if record.state == ActionState::InFlight {
                // Strictly in order: nothing older and live on this case.
                prop_assert!(!live_cases.contains(&case), "{:?} overtook", record.id());
            }
            if record.state.is_live() {
                live_cases.insert(case);
            }
            prop_assert_eq!(
                record.state == ActionState::Dead,
                record.dead_reason.is_some()
            );
            prop_assert_eq!(
                record.state == ActionState::Conflict,
                record.conflict.is_some()
            );
            if let Some(creation) = record.depends_on.and_then(|c| self.queue.get(c)) {
                if creation.state == ActionState::Dead {
                    prop_assert_eq!(record.state, ActionState::Dead);
                }
                if creation.state.is_live() {
                    prop_assert!(record.state != ActionState::InFlight);
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_store_mirrors_the_queue_and_the_rules_always_hold(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.run(op)?;
            harness.check()?;
        }
    }
}
