//! The queue's rules, one behaviour per test, with a hand-driven clock.

use super::*;
use crate::clock::SeededRandom;
use crate::merge::Side;
use crate::overlay::fixtures::*;
use casedesk_model::{CaseStatus, Priority};

fn queue() -> ActionQueue {
    ActionQueue::new(QueueConfig::default())
}

fn at(offset: u64) -> Millis {
    Millis(T0 + offset)
}

fn http(status: u16, message: &str) -> Failure {
    Failure::Http {
        status,
        code: None,
        message: message.into(),
        request_id: None,
        retry_after: None,
    }
}

fn sent(dispatch: &Dispatch) -> Vec<Uuid> {
    dispatch.send.iter().map(|o| o.id).collect()
}

fn open_case(n: u128) -> Case {
    let mut c = case(n, CaseStatus::Open, Priority::Low, T0 - DAY);
    c.version = 3;
    c
}

fn status_update(n: u128, base: &Case, status: CaseStatus) -> Action {
    update_action(
        n,
        base,
        CasePatch {
            status: Some(status),
            ..CasePatch::default()
        },
        T0 + n as u64,
    )
}

fn saved_ids(changes: &QueueChanges) -> Vec<Uuid> {
    changes.saved.iter().map(QueuedAction::id).collect()
}

#[test]
fn actions_on_one_case_go_strictly_in_order() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::InProgress), at(0));
    q.enqueue(status_update(2, &c, CaseStatus::Resolved), at(0));
    let first = q.ready(at(0), true);
    assert_eq!(sent(&first), vec![action_id(1)]);
    assert_eq!(first.changes.saved[0].state, ActionState::InFlight);
    assert!(q.ready(at(0), true).send.is_empty());
    q.on_success(action_id(1), &ServerAnswer::Case(c.clone()));
    assert_eq!(sent(&q.ready(at(0), true)), vec![action_id(2)]);
}

#[test]
fn a_waiting_head_blocks_its_case_but_not_others() {
    let mut q = queue();
    let (a, b) = (open_case(1), open_case(2));
    q.enqueue(status_update(1, &a, CaseStatus::InProgress), at(0));
    q.enqueue(status_update(2, &a, CaseStatus::Resolved), at(0));
    q.enqueue(status_update(3, &b, CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(1);
    q.on_failure(action_id(1), &http(503, "busy"), at(0), true, &mut rng);
    q.on_success(action_id(3), &ServerAnswer::Case(b));
    // Action 1 waits out its backoff; action 2 (same case) must not overtake it.
    let due = q.get(action_id(1)).unwrap().next_attempt_at;
    let before_due = q.ready(Millis(due.0.saturating_sub(1)), true);
    assert!(before_due.send.is_empty() || sent(&before_due) == vec![action_id(1)]);
    assert!(!sent(&before_due).contains(&action_id(2)));
    assert_eq!(q.next_wake(), Some(due));
}

#[test]
fn independent_cases_drain_concurrently_up_to_the_bound() {
    let mut q = queue();
    for n in 1..=7 {
        q.enqueue(status_update(n, &open_case(n), CaseStatus::Closed), at(0));
    }
    let first = q.ready(at(0), true);
    assert_eq!(
        sent(&first),
        (1..=5).map(action_id).collect::<Vec<_>>(),
        "oldest first, five at once"
    );
    assert_eq!(q.in_flight_count(), 5);
    assert_eq!(
        q.next_wake(),
        None,
        "slots full: an answer wakes the worker"
    );
    assert!(q.ready(at(0), true).send.is_empty());
    q.on_success(action_id(2), &ServerAnswer::Case(open_case(2)));
    assert_eq!(sent(&q.ready(at(0), true)), vec![action_id(6)]);
}

#[test]
fn ready_at_most_sends_no_more_than_the_tokens_it_is_given() {
    let mut q = queue();
    for n in 1..=3 {
        q.enqueue(status_update(n, &open_case(n), CaseStatus::Closed), at(0));
    }
    let one = q.ready_at_most(at(0), true, 1);
    assert_eq!(sent(&one), vec![action_id(1)]);
    assert_eq!(saved_ids(&one.changes), vec![action_id(1)]);
    // The others stay pending, due at once, for the next token.
    assert_eq!(q.get(action_id(2)).unwrap().state, ActionState::Pending);
    assert_eq!(q.next_wake(), Some(at(0)));
    assert!(q.ready_at_most(at(0), true, 0).send.is_empty());
    assert_eq!(
        sent(&q.ready_at_most(at(0), true, 5)),
        vec![action_id(2), action_id(3)]
    );
}

#[test]
fn nothing_is_sent_offline() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    assert!(q.ready(at(0), false).send.is_empty());
    assert_eq!(q.get(action_id(1)).unwrap().state, ActionState::Pending);
    assert_eq!(q.next_wake(), Some(at(0)));
}

#[test]
fn an_action_waits_for_its_cases_creation_and_is_rebased_on_it() {
    let mut q = queue();
    let create = create_action(1, 100, "New printer", CaseStatus::Open, Priority::High, T0);
    let mut provisional = case(100, CaseStatus::Open, Priority::High, T0);
    provisional.version = 0;
    q.enqueue(create, at(0));
    q.enqueue(
        status_update(2, &provisional, CaseStatus::InProgress),
        at(1),
    );
    q.enqueue(note_action(3, case_id(100), 1, "hi", T0 + 2), at(2));
    assert_eq!(q.get(action_id(2)).unwrap().depends_on, Some(action_id(1)));
    assert_eq!(q.get(action_id(3)).unwrap().depends_on, Some(action_id(1)));
    assert_eq!(q.if_match_for(action_id(2)), Some(0));
    assert_eq!(sent(&q.ready(at(5), true)), vec![action_id(1)]);
    assert!(q.ready(at(5), true).send.is_empty());

    let mut confirmed = provisional.clone();
    confirmed.version = 1;
    let changes = q.on_success(action_id(1), &ServerAnswer::Case(confirmed.clone()));
    assert_eq!(changes.removed, vec![action_id(1)]);
    assert_eq!(saved_ids(&changes), vec![action_id(2), action_id(3)]);
    assert_eq!(
        changes.notices,
        vec![QueueNotice::Confirmed { id: action_id(1) }]
    );
    assert_eq!(q.if_match_for(action_id(2)), Some(1));
    assert_eq!(
        q.request_for(action_id(2)).unwrap().route.if_match(),
        Some(1)
    );
    assert!(q.records().all(|r| r.depends_on.is_none()));
    assert_eq!(sent(&q.ready(at(5), true)), vec![action_id(2)]);
}

#[test]
fn success_rebases_later_actions_on_the_confirmed_version() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::InProgress), at(0));
    q.enqueue(update_action(2, &c, title_patch("Renamed"), T0 + 2), at(0));
    q.enqueue(delete_action(3, &c, T0 + 3), at(0));
    q.ready(at(0), true);
    let mut confirmed = c.with_patch(&CasePatch {
        status: Some(CaseStatus::InProgress),
        ..CasePatch::default()
    });
    confirmed.version = 4;
    let changes = q.on_success(action_id(1), &ServerAnswer::Case(confirmed.clone()));
    assert_eq!(saved_ids(&changes), vec![action_id(2), action_id(3)]);
    assert_eq!(q.if_match_for(action_id(2)), Some(4));
    match &q.get(action_id(2)).unwrap().action.kind {
        ActionKind::UpdateCase { base, .. } => assert_eq!(base, &confirmed),
        other => panic!("{other:?}"),
    }
    match &q.get(action_id(3)).unwrap().action.kind {
        ActionKind::DeleteCase { last_known, .. } => {
            assert_eq!(last_known.as_ref(), Some(&confirmed));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(q.if_match_for(action_id(3)), None);
    // Unknown ids (another tab already handled them) change nothing.
    assert!(q
        .on_success(action_id(1), &ServerAnswer::Case(confirmed))
        .is_empty());
}

#[test]
fn a_dead_creation_takes_its_dependents_with_it_labelled() {
    let mut q = queue();
    let mut provisional = case(100, CaseStatus::Open, Priority::High, T0);
    provisional.version = 0;
    q.enqueue(
        create_action(
            1,
            100,
            "  New printer ",
            CaseStatus::Open,
            Priority::High,
            T0,
        ),
        at(0),
    );
    q.enqueue(status_update(2, &provisional, CaseStatus::Closed), at(1));
    q.enqueue(note_action(3, case_id(100), 1, "hi", T0), at(2));
    q.enqueue(status_update(4, &open_case(5), CaseStatus::Closed), at(3));
    q.ready(at(5), true);
    let mut rng = SeededRandom::new(3);
    let changes = q.on_failure(
        action_id(1),
        &http(422, "Title is required."),
        at(6),
        true,
        &mut rng,
    );
    assert_eq!(
        saved_ids(&changes),
        vec![action_id(1), action_id(2), action_id(3)]
    );
    let creation = q.get(action_id(1)).unwrap();
    assert_eq!(creation.state, ActionState::Dead);
    assert_eq!(
        creation.dead_reason,
        Some(DeathReason::Refused(http(422, "Title is required.")))
    );
    for dependent in [action_id(2), action_id(3)] {
        let record = q.get(dependent).unwrap().clone();
        assert_eq!(record.state, ActionState::Dead);
        assert_eq!(record.dead_because_of, Some(action_id(1)));
        assert_eq!(
            record.dead_reason,
            Some(DeathReason::CaseNotCreated {
                title: "New printer".into()
            })
        );
    }
    assert_eq!(changes.notices.len(), 3);
    assert!(matches!(
        &changes.notices[0],
        QueueNotice::RolledBack { what: ActionSummary::Create { title }, .. } if title == "New printer"
    ));
    // The independent case is untouched; the overlay no longer sees the dead ones.
    assert_eq!(q.get(action_id(4)).unwrap().state, ActionState::InFlight);
    assert_eq!(q.live_actions().count(), 1);
    assert_eq!(q.sync_state(case_id(100)), SyncState::Failed);
    assert_eq!(q.sync_state(case_id(5)), SyncState::Pending);
    assert_eq!(q.sync_state(case_id(6)), SyncState::Synced);
    assert_eq!(q.dead_count(), 3);
    assert_eq!(q.pending_count(), 1);

    // Acting on the case after its creation died: born dead, part of the cascade.
    let late = q.enqueue(status_update(5, &provisional, CaseStatus::Resolved), at(7));
    assert_eq!(late.saved[0].state, ActionState::Dead);
    assert_eq!(late.saved[0].dead_because_of, Some(action_id(1)));
}

#[test]
fn retry_revives_the_whole_cascade_with_the_same_keys() {
    let mut q = queue();
    let mut provisional = case(100, CaseStatus::Open, Priority::High, T0);
    provisional.version = 0;
    q.enqueue(
        create_action(1, 100, "New", CaseStatus::Open, Priority::High, T0),
        at(0),
    );
    q.enqueue(status_update(2, &provisional, CaseStatus::Closed), at(1));
    q.enqueue(status_update(3, &provisional, CaseStatus::Resolved), at(2));
    q.ready(at(0), true);
    let keys: Vec<Uuid> = q.records().map(|r| r.action.idempotency_key).collect();
    let mut rng = SeededRandom::new(3);
    q.on_failure(action_id(1), &http(400, "bad"), at(1), true, &mut rng);
    assert_eq!(q.retry_dead(action_id(4), at(2)), Err(QueueError::NotFound));

    // Retrying a dependent retries the creation, and so every dependent.
    let changes = q.retry_dead(action_id(3), at(DAY * 8)).unwrap();
    assert_eq!(
        saved_ids(&changes),
        vec![action_id(1), action_id(2), action_id(3)]
    );
    for record in q.records() {
        assert_eq!(record.state, ActionState::Pending);
        assert_eq!(record.attempts, 0);
        assert_eq!(record.dead_reason, None);
        assert_eq!(record.dead_because_of, None);
        assert_eq!(record.give_up_at, at(DAY * 8) + q.config().retention);
        assert_eq!(record.depends_on.is_some(), record.id() != action_id(1));
    }
    let after: Vec<Uuid> = q.records().map(|r| r.action.idempotency_key).collect();
    assert_eq!(keys, after);
    assert_eq!(q.retry_dead(action_id(1), at(0)), Err(QueueError::NotDead));
    assert_eq!(sent(&q.ready(at(DAY * 8), true)), vec![action_id(1)]);
}

#[test]
fn retrying_a_single_dead_update_revives_only_it() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &c, CaseStatus::Open), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(3);
    q.on_failure(action_id(1), &http(404, "gone"), at(1), true, &mut rng);
    assert_eq!(q.get(action_id(2)).unwrap().state, ActionState::Pending);
    let changes = q.retry_dead(action_id(1), at(2)).unwrap();
    assert_eq!(saved_ids(&changes), vec![action_id(1)]);
    // At the end of the queue: the action after it on the case goes first, as the overlay
    // already shows them.
    let order: Vec<Uuid> = q.records().map(QueuedAction::id).collect();
    assert_eq!(order, vec![action_id(2), action_id(1)]);
    assert_eq!(sent(&q.ready(at(2), true)), vec![action_id(2)]);
    q.on_success(action_id(2), &ServerAnswer::Case(open_case(1)));
    assert_eq!(sent(&q.ready(at(2), true)), vec![action_id(1)]);
}

#[test]
fn discarding_a_creation_discards_its_dependents_and_says_so() {
    let mut q = queue();
    let mut provisional = case(100, CaseStatus::Open, Priority::High, T0);
    provisional.version = 0;
    q.enqueue(
        create_action(1, 100, "New", CaseStatus::Open, Priority::High, T0),
        at(0),
    );
    q.enqueue(status_update(2, &provisional, CaseStatus::Closed), at(1));
    q.enqueue(status_update(3, &provisional, CaseStatus::Resolved), at(2));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(3);
    q.on_failure(action_id(1), &http(400, "bad"), at(1), true, &mut rng);

    // Discarding a dependent alone leaves the creation and the rest.
    let changes = q.discard(action_id(3)).unwrap();
    assert_eq!(changes.removed, vec![action_id(3)]);
    assert!(changes.saved.is_empty());
    assert_eq!(q.depth(), 2);

    let changes = q.discard(action_id(1)).unwrap();
    assert_eq!(changes.removed, vec![action_id(1), action_id(2)]);
    assert_eq!(
        changes.notices,
        vec![QueueNotice::Discarded {
            id: action_id(1),
            what: ActionSummary::Create {
                title: "New".into()
            },
            dependents: 1
        }]
    );
    assert_eq!(q.depth(), 0);
    assert_eq!(q.discard(action_id(1)), Err(QueueError::NotFound));

    q.enqueue(status_update(4, &open_case(1), CaseStatus::Closed), at(0));
    assert_eq!(q.discard(action_id(4)), Err(QueueError::NotDead));
}

#[test]
fn transient_failures_back_off_with_full_jitter_under_the_ceiling() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    let policy = q.config().retry;
    let mut rng = SeededRandom::new(42);
    let mut now = at(0);
    let mut delays = Vec::new();
    for attempt in 1..=12u32 {
        assert_eq!(
            sent(&q.ready(now, true)),
            vec![action_id(1)],
            "attempt {attempt}"
        );
        q.on_failure(action_id(1), &http(503, "busy"), now, true, &mut rng);
        let record = q.get(action_id(1)).unwrap().clone();
        assert_eq!(record.attempts, attempt);
        assert_eq!(record.state, ActionState::Pending);
        let delay = record.next_attempt_at.since(now);
        assert!(
            delay <= policy.ceiling(attempt),
            "attempt {attempt}: {delay:?}"
        );
        delays.push(delay.0);
        // Not before it is due.
        if delay.0 > 0 {
            assert!(q
                .ready(Millis(record.next_attempt_at.0 - 1), true)
                .send
                .is_empty());
        }
        now = record.next_attempt_at;
    }
    // The ceiling grows to 5 minutes: the late delays are not all tiny.
    assert!(delays[8..].iter().any(|d| *d > 8_000), "{delays:?}");
    assert!(delays.iter().all(|d| *d <= 300_000));
}

#[test]
fn an_unreadable_success_answer_is_sent_again_under_the_same_key_not_rolled_back() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::Closed), at(0));
    let first = q.ready(at(0), true);
    let key = first.send[0].request.idempotency_key;
    let mut rng = SeededRandom::new(7);
    let cut_off = Failure::Decode {
        message: "the answer was cut off before its end".into(),
        request_id: Some("r-1".into()),
    };
    let changes = q.on_failure(action_id(1), &cut_off, at(0), true, &mut rng);
    assert!(
        !changes
            .notices
            .iter()
            .any(|n| matches!(n, QueueNotice::RolledBack { .. })),
        "a write the server probably applied must not be rolled back: {changes:?}"
    );
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.state, ActionState::Pending);
    assert_eq!(q.dead_count(), 0);
    let again = q.ready(record.next_attempt_at, true);
    assert_eq!(sent(&again), vec![action_id(1)]);
    assert_eq!(again.send[0].request.idempotency_key, key);
}

#[test]
fn retry_after_is_obeyed_as_a_floor() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    let limited = Failure::Http {
        status: 429,
        code: Some("rate_limited".into()),
        message: "slow down".into(),
        request_id: None,
        retry_after: Some(DurationMs::from_secs(30)),
    };
    q.on_failure(action_id(1), &limited, at(0), true, &mut rng);
    let record = q.get(action_id(1)).unwrap().clone();
    assert!(record.next_attempt_at >= at(30_000));
    assert_eq!(record.attempts, 1);
    assert!(q.ready(at(29_999), true).send.is_empty());
    assert_eq!(
        sent(&q.ready(record.next_attempt_at, true)),
        vec![action_id(1)]
    );
}

#[test]
fn attempts_made_offline_are_not_counted() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    let mut rng = SeededRandom::new(7);
    // The browser said offline: not counted, due again as soon as the network is back.
    q.ready(at(0), true);
    q.on_failure(action_id(1), &Failure::Offline, at(10), false, &mut rng);
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.attempts, 0);
    assert_eq!(record.next_attempt_at, at(10));
    // A network error while the device is offline: not counted either.
    q.ready(at(10), true);
    let network = Failure::Network {
        message: "reset".into(),
    };
    q.on_failure(action_id(1), &network, at(20), false, &mut rng);
    assert_eq!(q.get(action_id(1)).unwrap().attempts, 0);
    // `Offline` while the device claims to be online: not counted, but it still backs off.
    q.ready(at(20), true);
    q.on_failure(action_id(1), &Failure::Offline, at(30), true, &mut rng);
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.attempts, 0);
    assert!(record.next_attempt_at.since(at(30)) <= q.config().retry.ceiling(1));
    // A real network error online counts.
    q.ready(record.next_attempt_at, true);
    q.on_failure(action_id(1), &network, at(40_000), true, &mut rng);
    assert_eq!(q.get(action_id(1)).unwrap().attempts, 1);
}

#[test]
fn sync_now_tries_a_queue_paused_for_sign_in_again_and_a_new_401_pauses_it_again() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(1), &http(401, "sign in"), at(1), true, &mut rng);
    assert!(q.ready(at(10), true).send.is_empty());
    q.sync_now(at(20));
    assert!(!q.is_paused_for_auth());
    assert_eq!(sent(&q.ready(at(20), true)), vec![action_id(1)]);
    let again = q.on_failure(action_id(1), &http(401, "sign in"), at(30), true, &mut rng);
    assert_eq!(again.notices, vec![QueueNotice::SignInNeeded]);
    assert!(q.is_paused_for_auth());
    assert_eq!(
        q.get(action_id(1)).unwrap().attempts,
        0,
        "nothing lost, nothing counted"
    );
}

#[test]
fn a_401_to_a_request_sent_before_signing_in_again_does_not_pause_the_resumed_queue() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(0));
    assert_eq!(sent(&q.ready(at(0), true)).len(), 2);
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(1), &http(401, "sign in"), at(1), true, &mut rng);
    assert!(q.is_paused_for_auth());

    // Signed in again while action 2, sent with the old token, is still out.
    q.resume_after_sign_in(at(5), Signer::Anyone);
    let late = q.on_failure(action_id(2), &http(401, "sign in"), at(6), true, &mut rng);
    assert!(late.notices.is_empty(), "no second sign-in prompt");
    assert!(!q.is_paused_for_auth(), "the new session is not blamed");
    let mut again = sent(&q.ready(at(6), true));
    again.sort();
    assert_eq!(
        again,
        vec![action_id(1), action_id(2)],
        "both go with the new token"
    );

    // Sent after the sign-in, a 401 is the new session's and pauses again.
    let refused = q.on_failure(action_id(2), &http(401, "sign in"), at(7), true, &mut rng);
    assert_eq!(refused.notices, vec![QueueNotice::SignInNeeded]);
    assert!(q.is_paused_for_auth());
    assert_eq!(q.get(action_id(2)).unwrap().attempts, 0, "nothing counted");
}

#[test]
fn unauthorized_pauses_the_whole_queue_until_sign_in() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    let changes = q.on_failure(action_id(1), &http(401, "sign in"), at(1), true, &mut rng);
    assert_eq!(changes.notices, vec![QueueNotice::SignInNeeded]);
    assert!(q.is_paused_for_auth());
    let second = q.on_failure(action_id(2), &http(401, "sign in"), at(1), true, &mut rng);
    assert!(second.notices.is_empty(), "announced once");
    for id in [action_id(1), action_id(2)] {
        let record = q.get(id).unwrap().clone();
        assert_eq!(record.state, ActionState::Pending);
        assert_eq!(record.attempts, 0);
    }
    assert!(q.ready(at(1_000_000), true).send.is_empty());
    assert_eq!(q.next_wake(), None);
    // Held past retention while waiting for sign-in: not a transient failure, not swept.
    assert!(q.sweep(at(DAY * 30)).is_empty());

    let resumed = q.resume_after_sign_in(at(2_000), Signer::Anyone);
    assert_eq!(saved_ids(&resumed), vec![action_id(1), action_id(2)]);
    assert!(!q.is_paused_for_auth());
    assert_eq!(
        sent(&q.ready(at(2_000), true)),
        vec![action_id(1), action_id(2)]
    );
}

#[test]
fn a_still_failing_action_is_dead_lettered_after_retention_never_deleted() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(2), &Failure::Offline, at(1), false, &mut rng);
    q.on_failure(action_id(1), &http(503, "down"), at(1), true, &mut rng);
    let week = 7 * DAY;
    assert!(q.sweep(at(week - 1)).is_empty());
    let changes = q.sweep(at(week));
    assert_eq!(saved_ids(&changes), vec![action_id(1)]);
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.state, ActionState::Dead);
    assert_eq!(
        record.dead_reason,
        Some(DeathReason::Expired {
            retention: DurationMs(week),
            last: http(503, "down"),
        })
    );
    assert_eq!(q.depth(), 2);
    // Failing only because the device was offline is not failing: a long trip kills nothing.
    assert_eq!(q.get(action_id(2)).unwrap().state, ActionState::Pending);
    assert_eq!(
        q.get(action_id(2)).unwrap().last_error,
        Some(Failure::Offline)
    );
}

#[test]
fn a_failure_past_retention_dead_letters_at_once() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(7 * DAY), true);
    let mut rng = SeededRandom::new(7);
    let changes = q.on_failure(action_id(1), &Failure::Timeout, at(7 * DAY), true, &mut rng);
    assert_eq!(changes.saved[0].state, ActionState::Dead);
    assert_eq!(
        changes.saved[0].dead_reason,
        Some(DeathReason::Expired {
            retention: DurationMs(7 * DAY),
            last: Failure::Timeout,
        })
    );
}

#[test]
fn in_flight_actions_are_resent_with_the_same_key_after_a_restart() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(0));
    let before = q.ready(at(0), true);
    let stored: Vec<QueuedAction> = q.records().cloned().collect();

    let mut restarted = ActionQueue::from_records(QueueConfig::default(), stored.into_iter().rev());
    assert_eq!(restarted.in_flight_count(), 2);
    let changes = restarted.recover_after_restart(at(100));
    assert_eq!(saved_ids(&changes), vec![action_id(1), action_id(2)]);
    assert!(changes
        .saved
        .iter()
        .all(|r| r.state == ActionState::Pending && r.attempts == 0));
    let after = restarted.ready(at(100), true);
    assert_eq!(
        after.send, before.send,
        "same requests, same idempotency keys"
    );
}

#[test]
fn a_conflict_on_other_fields_merges_and_is_resent_on_their_version() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::Resolved), at(0));
    q.ready(at(0), true);
    let mut theirs = c.with_patch(&title_patch("Renamed by Sam"));
    theirs.version = 5;
    let fresh = Uuid::from_u128(99);
    let changes = q.on_conflict(action_id(1), &theirs, fresh, at(10));
    assert_eq!(saved_ids(&changes), vec![action_id(1)]);
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.state, ActionState::Pending);
    assert_eq!(record.next_attempt_at, at(10));
    let request = record.request();
    assert_eq!(request.idempotency_key, fresh);
    assert_eq!(
        request.route,
        crate::request::Route::UpdateCase {
            id: c.id,
            patch: CasePatch {
                status: Some(CaseStatus::Resolved),
                ..CasePatch::default()
            },
            if_match: 5,
        }
    );
}

#[test]
fn a_conflict_on_the_same_field_waits_for_the_person_and_blocks_its_case() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::Resolved), at(0));
    q.enqueue(update_action(2, &c, title_patch("Mine"), T0 + 2), at(0));
    q.enqueue(status_update(3, &open_case(2), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut theirs = c.with_patch(&CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    });
    theirs.version = 5;
    let changes = q.on_conflict(action_id(1), &theirs, Uuid::from_u128(99), at(10));
    assert!(matches!(
        changes.notices[0],
        QueueNotice::NeedsChoice { .. }
    ));
    let record = q.get(action_id(1)).unwrap().clone();
    assert_eq!(record.state, ActionState::Conflict);
    let conflict = record.conflict.as_ref().unwrap();
    assert_eq!(conflict.theirs, theirs);
    assert_eq!(conflict.conflicts[0].field, crate::merge::CaseField::Status);
    assert_eq!(q.conflicts().count(), 1);
    assert_eq!(q.sync_state(c.id), SyncState::Pending);
    assert_eq!(q.pending_count(), 3);
    // The later action on the same case waits behind the conflict; others go on.
    q.on_success(action_id(3), &ServerAnswer::Case(open_case(2)));
    assert!(q.ready(at(20), true).send.is_empty());
    assert_eq!(q.next_wake(), None);
    // Conflicts are not failures: never swept.
    assert!(q.sweep(at(DAY * 30)).is_empty());

    assert_eq!(
        q.on_conflict_resolved(
            action_id(2),
            &ConflictChoice::All(Side::Mine),
            Uuid::nil(),
            at(0)
        ),
        Err(QueueError::NotInConflict)
    );
    let fresh = Uuid::from_u128(100);
    let changes = q
        .on_conflict_resolved(
            action_id(1),
            &ConflictChoice::All(Side::Mine),
            fresh,
            at(30),
        )
        .unwrap();
    assert_eq!(saved_ids(&changes), vec![action_id(1)]);
    let request = q.request_for(action_id(1)).unwrap();
    assert_eq!(request.route.if_match(), Some(5));
    assert_eq!(request.idempotency_key, fresh);
    assert_eq!(q.get(action_id(1)).unwrap().conflict, None);
    assert_eq!(sent(&q.ready(at(30), true)), vec![action_id(1)]);
}

#[test]
fn using_theirs_everywhere_settles_the_action_and_rebases_the_next() {
    let mut q = queue();
    let c = open_case(1);
    q.enqueue(status_update(1, &c, CaseStatus::Resolved), at(0));
    q.enqueue(update_action(2, &c, title_patch("Mine"), T0 + 2), at(0));
    q.ready(at(0), true);
    let mut theirs = c.with_patch(&CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    });
    theirs.version = 5;
    q.on_conflict(action_id(1), &theirs, Uuid::from_u128(99), at(10));
    let changes = q
        .on_conflict_resolved(
            action_id(1),
            &ConflictChoice::All(Side::Theirs),
            Uuid::from_u128(100),
            at(20),
        )
        .unwrap();
    assert_eq!(changes.removed, vec![action_id(1)]);
    assert_eq!(saved_ids(&changes), vec![action_id(2)]);
    assert_eq!(q.if_match_for(action_id(2)), Some(5));
    assert_eq!(sent(&q.ready(at(20), true)), vec![action_id(2)]);
}

#[test]
fn configured_policies_settle_conflicts_without_asking() {
    let c = open_case(1);
    let mut theirs = c.with_patch(&CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    });
    theirs.version = 5;
    for (policy, expect_removed) in [
        (ConflictPolicy::ServerWins, true),
        (ConflictPolicy::ClientWins, false),
    ] {
        let mut q = ActionQueue::new(QueueConfig {
            conflict_policy: policy,
            ..QueueConfig::default()
        });
        q.enqueue(status_update(1, &c, CaseStatus::Resolved), at(0));
        q.ready(at(0), true);
        let changes = q.on_conflict(action_id(1), &theirs, Uuid::from_u128(9), at(1));
        assert_eq!(changes.removed.len() == 1, expect_removed, "{policy:?}");
        if !expect_removed {
            assert_eq!(q.if_match_for(action_id(1)), Some(5));
            assert_eq!(q.get(action_id(1)).unwrap().state, ActionState::Pending);
        }
    }
}

#[test]
fn a_412_without_a_readable_case_or_on_a_non_update_is_a_dead_letter() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(note_action(2, case_id(2), 1, "hi", T0), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(1), &http(412, "changed"), at(1), true, &mut rng);
    assert_eq!(q.get(action_id(1)).unwrap().state, ActionState::Dead);
    q.on_conflict(action_id(2), &open_case(2), Uuid::from_u128(9), at(1));
    assert_eq!(q.get(action_id(2)).unwrap().state, ActionState::Dead);
}

#[test]
fn late_reports_on_settled_actions_change_nothing() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(1), &http(400, "bad"), at(1), true, &mut rng);
    assert!(q
        .on_failure(action_id(1), &http(503, "x"), at(2), true, &mut rng)
        .is_empty());
    assert!(q
        .on_conflict(action_id(1), &open_case(1), Uuid::nil(), at(2))
        .is_empty());
    assert!(q
        .on_failure(action_id(7), &http(503, "x"), at(2), true, &mut rng)
        .is_empty());
    // A duplicate enqueue is ignored.
    assert!(q
        .enqueue(status_update(1, &open_case(1), CaseStatus::Open), at(3))
        .is_empty());
}

#[test]
fn sync_now_makes_every_backoff_due() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(1);
    for _ in 0..6 {
        let due = q.get(action_id(1)).unwrap().next_attempt_at.max(at(0));
        q.ready(due, true);
        q.on_failure(action_id(1), &http(503, "x"), due, true, &mut rng);
    }
    let waiting_until = q.get(action_id(1)).unwrap().next_attempt_at;
    let now = Millis(waiting_until.0.saturating_sub(1));
    if waiting_until > now {
        assert_eq!(saved_ids(&q.sync_now(now)), vec![action_id(1)]);
    }
    assert_eq!(sent(&q.ready(now, true)), vec![action_id(1)]);
    assert_eq!(q.get(action_id(1)).unwrap().attempts, 6);
}

#[test]
fn counts_ages_and_row_states_for_the_indicator() {
    let mut q = queue();
    assert_eq!(q.oldest_pending_age(at(0)), None);
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(500));
    q.enqueue(status_update(3, &open_case(2), CaseStatus::Open), at(600));
    q.ready(at(1_000), true);
    let mut rng = SeededRandom::new(1);
    q.on_failure(action_id(1), &http(422, "no"), at(1_000), true, &mut rng);
    assert_eq!(q.depth(), 3);
    assert_eq!(q.pending_count(), 2);
    assert_eq!(q.in_flight_count(), 1);
    assert_eq!(q.dead_count(), 1);
    assert_eq!(q.conflict_count(), 0);
    assert_eq!(q.oldest_pending_age(at(2_000)), Some(DurationMs(1_500)));
    let states = q.sync_states();
    assert_eq!(states.get(&case_id(1)), Some(&SyncState::Failed));
    assert_eq!(states.get(&case_id(2)), Some(&SyncState::Pending));
    assert_eq!(states.get(&case_id(3)), None);
    assert_eq!(q.dead_letters().count(), 1);
    assert_eq!(SyncState::Failed.as_str(), "failed");
}

#[test]
fn records_from_another_tab_keep_queue_order() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    // Another tab queued an action at the same position: it goes after, not over.
    let mut other = ActionQueue::new(QueueConfig::default());
    let foreign = other.enqueue(status_update(2, &open_case(1), CaseStatus::Open), at(1));
    q.absorb(foreign.saved[0].clone());
    let order: Vec<Uuid> = q.records().map(QueuedAction::id).collect();
    assert_eq!(order, vec![action_id(1), action_id(2)]);
    assert_eq!(sent(&q.ready(at(2), true)), vec![action_id(1)]);
    // The drainer's progress replaces the record in place.
    let mut progressed = q.get(action_id(2)).unwrap().clone();
    progressed.attempts = 3;
    q.absorb(progressed);
    assert_eq!(q.get(action_id(2)).unwrap().attempts, 3);
    assert_eq!(q.depth(), 2);
    q.forget(action_id(1));
    assert_eq!(q.depth(), 1);
    let next = q.enqueue(status_update(3, &open_case(3), CaseStatus::Open), at(3));
    assert!(next.saved[0].seq > q.get(action_id(2)).unwrap().seq);
}

#[test]
fn an_edit_made_behind_a_bulk_change_is_sent_first() {
    let mut q = queue();
    for n in 1..=500 {
        q.enqueue_in(
            status_update(n, &open_case(n), CaseStatus::Closed),
            Lane::Background,
            at(0),
        );
    }
    let edit = status_update(1_000, &open_case(1_000), CaseStatus::Resolved);
    q.enqueue(edit, at(5));
    let first = q.ready(at(5), true);
    assert_eq!(
        sent(&first),
        vec![
            action_id(1_000),
            action_id(1),
            action_id(2),
            action_id(3),
            action_id(4)
        ],
        "the person's edit first, then the bulk change oldest first"
    );
}

#[test]
fn an_edit_made_behind_a_backlog_built_offline_long_ago_is_sent_first() {
    let mut q = queue();
    // Single edits made offline over an hour: each was interactive when it was made.
    for n in 1..=50 {
        q.enqueue(
            status_update(n, &open_case(n), CaseStatus::Closed),
            at(n as u64 * 60_000),
        );
    }
    let now = at(3_600_000);
    q.enqueue(
        status_update(100, &open_case(100), CaseStatus::Resolved),
        now,
    );
    let first = q.ready_at_most(now, true, 2);
    assert_eq!(
        sent(&first),
        vec![action_id(100), action_id(1)],
        "the edit made now, then the backlog oldest first"
    );
}

#[test]
fn a_case_the_person_touches_keeps_its_order_and_goes_first_as_a_whole() {
    let mut q = queue();
    let (a, b) = (open_case(1), open_case(2));
    q.enqueue_in(
        status_update(1, &a, CaseStatus::Closed),
        Lane::Background,
        at(0),
    );
    q.enqueue_in(
        status_update(2, &b, CaseStatus::Closed),
        Lane::Background,
        at(0),
    );
    // The person edits case b: its bulk change must still go before the edit.
    q.enqueue(status_update(3, &b, CaseStatus::Open), at(1));
    let first = q.ready_at_most(at(1), true, 1);
    assert_eq!(sent(&first), vec![action_id(2)]);
    q.on_success(action_id(2), &ServerAnswer::Case(b.clone()));
    assert_eq!(
        sent(&q.ready_at_most(at(1), true, 1)),
        vec![action_id(3)],
        "the edit follows its own case's bulk change, before case a"
    );
}

#[test]
fn a_case_creation_goes_before_its_notes_whatever_their_lanes() {
    let mut q = queue();
    let create = create_action(1, 500, "New", CaseStatus::Open, Priority::Low, T0);
    let case_id = create.case_id();
    q.enqueue_in(create, Lane::Background, at(0));
    q.enqueue(status_update(2, &open_case(2), CaseStatus::Closed), at(0));
    let note = Action::new(
        action_id(3),
        Uuid::from_u128(903),
        ActionKind::AddNote {
            case_id,
            note: casedesk_model::NewNote {
                id: Uuid::from_u128(803),
                body: "first note".into(),
                author: None,
            },
        },
        Millis(T0),
    );
    q.enqueue(note, at(1));
    // The note's case is the person's now, so its creation goes first; the note waits.
    assert_eq!(sent(&q.ready_at_most(at(1), true, 1)), vec![action_id(1)]);
    assert!(!sent(&q.ready(at(1), true)).contains(&action_id(3)));
}

#[test]
fn a_filter_holds_back_a_whole_case_and_lets_others_go() {
    let mut q = queue();
    let (a, b) = (open_case(1), open_case(2));
    q.enqueue(status_update(1, &a, CaseStatus::Closed), at(0));
    q.enqueue(status_update(2, &a, CaseStatus::Open), at(0));
    q.enqueue(status_update(3, &b, CaseStatus::Closed), at(0));
    let not_one = |r: &QueuedAction| r.id() != action_id(1);
    assert_eq!(q.next_wake_where(&not_one), Some(at(0)));
    let first = q.ready_where(at(0), true, usize::MAX, &not_one);
    assert_eq!(
        sent(&first),
        vec![action_id(3)],
        "action 2 never overtakes 1"
    );
    assert_eq!(q.next_wake_where(&not_one), None);
}

#[test]
fn random_failures_on_a_serving_server_back_off_briefly_a_down_server_fully() {
    let policy = QueueConfig::default().retry;
    // One action failing six times in a row while the others succeed.
    let mut q = queue();
    let lone = open_case(1);
    q.enqueue(status_update(1, &lone, CaseStatus::Closed), at(0));
    let mut rng = SeededRandom::new(7);
    let mut now = at(0);
    for n in 0..6u128 {
        let other = open_case(10 + n);
        q.enqueue(status_update(10 + n, &other, CaseStatus::Closed), now);
        let dispatch = q.ready(now, true);
        assert!(sent(&dispatch).contains(&action_id(1)));
        q.on_success(action_id(10 + n), &ServerAnswer::Case(other));
        q.on_failure(action_id(1), &http(503, "busy"), now, true, &mut rng);
        let record = q.get(action_id(1)).unwrap().clone();
        assert!(record.next_attempt_at.since(now) <= policy.ceiling(2));
        now = record.next_attempt_at;
    }
    assert_eq!(q.get(action_id(1)).unwrap().attempts, 6);

    // A server that fails everything: the full exponential backoff.
    let mut q = queue();
    for n in 1..=4 {
        q.enqueue(status_update(n, &open_case(n), CaseStatus::Closed), at(0));
    }
    let mut now = at(0);
    for round in 1..=6u32 {
        let dispatch = q.ready(now, true);
        assert_eq!(dispatch.send.len(), 4, "round {round}");
        for id in sent(&dispatch) {
            q.on_failure(id, &http(503, "down"), now, true, &mut SeededRandom::new(3));
        }
        // Full jitter draws low sometimes; the ceiling is the full policy's.
        now = (1..=4)
            .map(|n| q.get(action_id(n)).unwrap().next_attempt_at)
            .max()
            .unwrap();
    }
    assert_eq!(super::backoff_step(6, false), 6);
    assert_eq!(super::backoff_step(6, true), 2);
    assert_eq!(super::backoff_step(30, true), 10);
    assert_eq!(super::backoff_step(1, true), 1);
    assert_eq!(super::backoff_step(0, false), 1);
}

/// What a simulated drain did.
#[derive(Debug)]
struct DrainRun {
    /// From the first request until the queue was empty (or the simulation stopped).
    took: DurationMs,
    /// Requests sent.
    attempts: usize,
    /// The longest time between a failure's answer and that action's next attempt.
    longest_wait: DurationMs,
    /// Most requests in flight at once after the server first looked troubled.
    in_flight_while_troubled: usize,
    /// Whether the queue ever held off because the server looked down.
    ever_troubled: bool,
}

/// Drains `n` updates of independent cases against a simulated server that answers each
/// request after `request_ms`, failing a `fail_rate` fraction at random with a 503 naming
/// `retry_after` (as the reference server's chaos does). Stops when the queue is empty or at
/// `until_ms`. Time only moves to the next answer or the queue's next wake, as the worker does;
/// `seed` draws which requests fail.
fn simulate_drain(
    seed: u64,
    n: u128,
    fail_rate: f64,
    retry_after: Option<DurationMs>,
    request_ms: u64,
    until_ms: u64,
) -> DrainRun {
    let mut q = queue();
    for i in 1..=n {
        q.enqueue(status_update(i, &open_case(i), CaseStatus::Closed), at(0));
    }
    let mut rng = SeededRandom::new(11);
    let mut server = SeededRandom::new(seed);
    let mut now = at(0);
    let mut in_flight: Vec<(Millis, Uuid)> = Vec::new();
    let mut failed_at: HashMap<Uuid, Millis> = HashMap::new();
    let mut run = DrainRun {
        took: DurationMs::ZERO,
        attempts: 0,
        longest_wait: DurationMs::ZERO,
        in_flight_while_troubled: 0,
        ever_troubled: false,
    };
    while q.pending_count() > 0 && now < at(until_ms) {
        for out in q.ready(now, true).send {
            run.attempts += 1;
            if let Some(failed) = failed_at.remove(&out.id) {
                run.longest_wait = run.longest_wait.max(now.since(failed));
            }
            in_flight.push((now + DurationMs(request_ms), out.id));
        }
        if run.ever_troubled {
            run.in_flight_while_troubled = run.in_flight_while_troubled.max(in_flight.len());
        }
        let next_answer = in_flight.iter().map(|(t, _)| *t).min();
        now = match (next_answer, q.next_wake()) {
            (Some(a), Some(w)) => a.min(w.max(now)),
            (Some(a), None) => a,
            (None, Some(w)) => w.max(now),
            (None, None) => break,
        };
        let (done, waiting): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|(t, _)| *t <= now);
        in_flight = waiting;
        for (_, id) in done {
            if server.next_unit() < fail_rate {
                let failure = Failure::Http {
                    status: 503,
                    code: Some("unavailable".into()),
                    message: "injected".into(),
                    request_id: None,
                    retry_after,
                };
                q.on_failure(id, &failure, now, true, &mut rng);
                failed_at.insert(id, now);
            } else {
                let case = q
                    .get(id)
                    .map(|r| open_case(r.action.case_id().as_u128() - case_id(0).as_u128()));
                q.on_success(
                    id,
                    &ServerAnswer::Case(case.unwrap_or_else(|| open_case(0))),
                );
            }
            run.ever_troubled |= q.is_server_troubled();
        }
    }
    run.took = now.since(at(0));
    run
}

#[test]
fn a_drain_under_thirty_percent_failures_retries_each_failure_after_its_retry_after_and_keeps_up() {
    // The reference server's 503 says `Retry-After: 1`: that is the wait after a failure; two
    // seconds at most when a run of bad luck makes most recent answers failures (then the
    // action's own count sets the step). Five draws of which requests fail.
    let mut took: Vec<DurationMs> = (1..=5)
        .map(|seed| {
            let run = simulate_drain(seed, 1_000, 0.3, Some(DurationMs(1_000)), 10, 600_000);
            assert!(!run.ever_troubled, "{run:?}");
            assert!(run.longest_wait >= DurationMs(1_000), "{run:?}");
            assert!(run.longest_wait <= DurationMs(2_000), "{run:?}");
            assert!(run.attempts < 1_500, "{run:?}");
            run.took
        })
        .collect();
    took.sort();
    // 1,000 actions in under 10 s: at least 100 a second, with nobody pressing "Sync now".
    // What is left is the unluckiest action's failures in a row, a second each.
    assert!(took[2] < DurationMs(10_000), "{took:?}");

    // Failures that name no wait (a dropped connection): a second at most.
    let run = simulate_drain(1, 1_000, 0.3, None, 10, 600_000);
    assert!(!run.ever_troubled, "{run:?}");
    assert!(run.longest_wait <= DurationMs(1_000), "{run:?}");
    assert!(run.took < DurationMs(6_000), "{run:?}");
}

#[test]
fn a_down_server_gets_one_probe_at_a_time_however_many_actions_wait() {
    // Refused at once (1 ms a request), for ten minutes, with 500 actions waiting.
    let run = simulate_drain(1, 500, 1.0, None, 1, 600_000);
    assert!(run.ever_troubled);
    assert_eq!(run.in_flight_while_troubled, 1, "{run:?}");
    // Two dozen answers to notice, then probes spaced by a doubling backoff up to 5 min.
    assert!(run.attempts <= 50, "{run:?}");
}

#[test]
fn a_success_after_an_outage_lifts_the_hold_and_the_drain_goes_full_speed() {
    let mut q = queue();
    for i in 1..=40 {
        q.enqueue(status_update(i, &open_case(i), CaseStatus::Closed), at(0));
    }
    let mut rng = SeededRandom::new(5);
    let mut now = at(0);
    let down = Failure::Http {
        status: 503,
        code: None,
        message: "down".into(),
        request_id: None,
        retry_after: Some(DurationMs(1_000)),
    };
    loop {
        let ids = sent(&q.ready(now, true));
        assert!(!ids.is_empty());
        for id in ids {
            q.on_failure(id, &down, now, true, &mut rng);
        }
        if q.is_server_troubled() {
            break;
        }
        now = q.next_wake().unwrap().max(now);
    }
    // Held: nothing before the hold ends, then a single probe.
    let wake = q.next_wake().unwrap();
    assert!(wake > now);
    assert!(q.ready(Millis(wake.0 - 1), true).send.is_empty());
    let probe = sent(&q.ready(wake, true));
    assert_eq!(probe.len(), 1);
    q.on_success(probe[0], &ServerAnswer::Case(open_case(0)));
    assert!(!q.is_server_troubled());
    assert_eq!(
        q.ready(wake, true).send.len(),
        QueueConfig::default().max_in_flight
    );
}

#[test]
fn moving_to_another_server_sends_at_once_what_waited_out_the_old_ones_backoffs() {
    let mut q = queue();
    for i in 1..=40 {
        q.enqueue(status_update(i, &open_case(i), CaseStatus::Closed), at(0));
    }
    let mut rng = SeededRandom::new(9);
    let mut now = at(0);
    // The server in use is gone: every request fails until the queue holds off.
    loop {
        let ids = sent(&q.ready(now, true));
        assert!(!ids.is_empty());
        for id in ids {
            q.on_failure(
                id,
                &Failure::Network {
                    message: "refused".into(),
                },
                now,
                true,
                &mut rng,
            );
        }
        if q.is_server_troubled() {
            break;
        }
        now = q.next_wake().unwrap().max(now);
    }
    assert!(q.next_wake().unwrap() > now, "held off the old server");

    // The app moved to a server that answers its health check.
    let changes = q.server_changed(now);
    assert!(!changes.is_empty());
    assert!(!q.is_server_troubled());
    let sent_now = sent(&q.ready(now, true));
    assert_eq!(sent_now.len(), QueueConfig::default().max_in_flight);
    // The new server's first failure is its bad luck, not a reason to hold the queue.
    q.on_failure(sent_now[0], &http(503, "x"), now, true, &mut rng);
    assert!(!q.is_server_troubled());
    assert!(!q.ready(now, true).send.is_empty());
}

#[test]
fn moving_to_another_server_does_not_lift_a_pause_for_sign_in() {
    let mut q = queue();
    q.enqueue(status_update(1, &open_case(1), CaseStatus::Closed), at(0));
    q.ready(at(0), true);
    let mut rng = SeededRandom::new(1);
    q.on_failure(
        action_id(1),
        &http(401, "session_expired"),
        at(0),
        true,
        &mut rng,
    );
    assert!(q.is_paused_for_auth());
    q.server_changed(at(10));
    assert!(q.is_paused_for_auth());
    assert!(q.ready(at(10), true).send.is_empty());
}

const ADA: Uuid = Uuid::from_u128(0xada);
const BOB: Uuid = Uuid::from_u128(0xb0b);

#[test]
fn a_session_taken_over_by_another_person_resumes_none_of_the_first_persons_changes() {
    let mut q = queue();
    q.set_signer(Signer::Person(ADA));
    q.enqueue(
        status_update(1, &open_case(1), CaseStatus::Closed).by(Some(ADA)),
        at(0),
    );
    q.enqueue(
        status_update(2, &open_case(2), CaseStatus::Closed).by(Some(ADA)),
        at(0),
    );
    let sent_first = q.ready(at(0), true);
    assert_eq!(
        sent_first.send.iter().map(|o| o.author).collect::<Vec<_>>(),
        vec![Some(ADA), Some(ADA)],
        "each request says whose session it must go under"
    );
    let mut rng = SeededRandom::new(7);
    q.on_failure(action_id(1), &http(401, "expired"), at(1), true, &mut rng);
    q.on_failure(action_id(2), &http(401, "expired"), at(1), true, &mut rng);
    assert!(q.is_paused_for_auth());

    // Ada's session ended; Bob signs in on the in-place form.
    let resumed = q.resume_after_sign_in(at(10), Signer::Person(BOB));
    assert!(
        saved_ids(&resumed).is_empty(),
        "nothing of Ada's is touched"
    );
    assert!(
        q.ready(at(10), true).send.is_empty(),
        "nothing under Bob's token"
    );
    assert_eq!(q.next_wake(), None, "nothing to wake for");
    // The network coming back ("sync now") does not send them either.
    q.sync_now(at(20));
    assert!(q.ready(at(20), true).send.is_empty());
    for id in [action_id(1), action_id(2)] {
        let record = q.get(id).unwrap();
        assert_eq!(record.state, ActionState::Pending, "held, not lost");
        assert_eq!(record.attempts, 0);
    }

    // Ada signs in again: hers go, under her session.
    q.resume_after_sign_in(at(30), Signer::Person(ADA));
    let mut again = sent(&q.ready(at(30), true));
    again.sort();
    assert_eq!(again, vec![action_id(1), action_id(2)]);
}

#[test]
fn after_a_sign_out_nothing_is_sent_until_someone_signs_in_and_then_only_theirs() {
    let mut q = queue();
    q.set_signer(Signer::Person(ADA));
    q.enqueue(
        status_update(1, &open_case(1), CaseStatus::Closed).by(Some(ADA)),
        at(0),
    );
    q.enqueue(
        status_update(2, &open_case(2), CaseStatus::Closed).by(Some(BOB)),
        at(0),
    );
    // Made before people: whoever signs in next sends it.
    q.enqueue(status_update(3, &open_case(3), CaseStatus::Closed), at(0));
    q.signed_out();
    assert!(q.ready(at(1), true).send.is_empty());
    q.sync_now(at(2));
    assert!(
        q.ready(at(2), true).send.is_empty(),
        "network back: still nothing"
    );
    assert_eq!(q.next_wake(), None);

    q.resume_after_sign_in(at(3), Signer::Person(BOB));
    let mut bobs = sent(&q.ready(at(3), true));
    bobs.sort();
    assert_eq!(bobs, vec![action_id(2), action_id(3)]);
}
