//! The durable action queue against the real server in headless Chromium: reloads, exactly
//! once under chaos, dead letters with rollback, `Retry-After`, conflicts, two tabs, offline,
//! storage failure (unavailable, and a full disk). Each test uses its own storage namespace;
//! "tabs" are queue instances, each under its own reactive owner, cleaned up like a closed tab.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::{ApiError, Exchange, Fetched};
use casedesk::components::alert_region::{provide_alerts, Alerts};
use casedesk::offline::{
    ActionSender, HttpSender, OfflineOptions, OfflineQueue, OutgoingAction, QueryBridge,
    StorageStatus, SCHEMA_VERSION,
};
use casedesk_core::merge::{CaseField, Side};
use casedesk_core::overlay::{view, NoKnownCases, OverlayTarget};
use casedesk_core::retry::RetryPolicy;
use casedesk_core::{
    Action, ActionState, BudgetConfig, ConflictChoice, ConflictPolicy, DurationMs, Failure, Millis,
    QueryData, QueueConfig, RequestBudget, ServerAnswer, SyncState,
};
use casedesk_model::{Case, CaseListQuery, CasePatch, CaseStatus, Priority};
use futures::future::LocalBoxFuture;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use support::new_case;
use support::{api, clear_chaos, set_chaos, wait_until};
use uuid::Uuid;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// ----- a stand-in for the query client -----

/// The read side as the queue sees it: server cases, the overlay, what it was told.
#[derive(Default)]
struct TestBridge {
    server: RefCell<HashMap<Uuid, Case>>,
    pending: RefCell<Vec<Action>>,
    confirmed: RefCell<Vec<(Uuid, ServerAnswer)>>,
    server_cases: RefCell<Vec<Case>>,
    rate_limited: RefCell<Vec<Option<DurationMs>>>,
    requests: Cell<usize>,
    request_ms: Cell<f64>,
    /// The request budget as the app ships it, for measurements of the drain the app does;
    /// `None` (the tests' default) lets every request go.
    budget: RefCell<Option<RequestBudget>>,
}

impl TestBridge {
    fn knows(&self, case: Case) {
        self.server.borrow_mut().insert(case.id, case);
    }

    fn pending_ids(&self) -> Vec<Uuid> {
        self.pending.borrow().iter().map(|a| a.id).collect()
    }
}

impl QueryBridge for TestBridge {
    fn set_pending(&self, actions: Vec<Action>) {
        *self.pending.borrow_mut() = actions;
    }

    fn confirm(&self, action: &Action, answer: &ServerAnswer, pending_after: Vec<Action>) {
        match answer {
            ServerAnswer::Case(case) => self.knows(case.clone()),
            ServerAnswer::Deleted => {
                self.server.borrow_mut().remove(&action.case_id());
            }
            ServerAnswer::Note(_) => {}
        }
        self.confirmed
            .borrow_mut()
            .push((action.id, answer.clone()));
        *self.pending.borrow_mut() = pending_after;
    }

    fn set_server_case(&self, case: Case) {
        self.server_cases.borrow_mut().push(case.clone());
        self.knows(case);
    }

    fn view_case(&self, id: Uuid) -> Option<Case> {
        let server = self.server.borrow().get(&id).cloned().map(QueryData::Case);
        match view(
            &OverlayTarget::Case(id),
            server.as_ref(),
            self.pending.borrow().iter(),
            &NoKnownCases,
        ) {
            Some(QueryData::Case(case)) => Some(case),
            _ => None,
        }
    }

    fn record_request(&self, _: &str, elapsed_ms: f64, _: Option<&Failure>, _: &str) {
        self.requests.set(self.requests.get() + 1);
        self.request_ms.set(self.request_ms.get() + elapsed_ms);
    }

    fn budget_acquire(&self) -> Result<(), Millis> {
        match self.budget.borrow_mut().as_mut() {
            Some(budget) => budget.try_acquire_background(casedesk::platform::clock::now()),
            None => Ok(()),
        }
    }

    fn on_rate_limited(&self, retry_after: Option<DurationMs>) {
        if let Some(budget) = self.budget.borrow_mut().as_mut() {
            budget.on_rate_limited(retry_after, casedesk::platform::clock::now());
        }
        self.rate_limited.borrow_mut().push(retry_after);
    }
}

// ----- a sender that watches, and can answer in the server's place -----

/// One attempt as the sender saw it.
#[derive(Clone, Debug)]
struct Sent {
    at_ms: f64,
    action: Uuid,
    key: Uuid,
    case: Uuid,
}

/// HTTP to the test server, except while `offline` (every attempt fails as offline) or when
/// a scripted failure is queued for the next attempt.
struct TestSender {
    http: HttpSender,
    sent: RefCell<Vec<Sent>>,
    offline: Cell<bool>,
    scripted: RefCell<VecDeque<Failure>>,
}

impl TestSender {
    fn new() -> Rc<Self> {
        Rc::new(Self {
            http: HttpSender::new(api()),
            sent: RefCell::new(Vec::new()),
            offline: Cell::new(false),
            scripted: RefCell::new(VecDeque::new()),
        })
    }

    fn count(&self) -> usize {
        self.sent.borrow().len()
    }
}

impl ActionSender for TestSender {
    fn send(&self, outgoing: &OutgoingAction) -> LocalBoxFuture<'static, Exchange<ServerAnswer>> {
        self.sent.borrow_mut().push(Sent {
            at_ms: performance_now(),
            action: outgoing.id,
            key: outgoing.request.idempotency_key,
            case: outgoing.request.route.case_id(),
        });
        let fake = if self.offline.get() {
            Some(Failure::Offline)
        } else {
            self.scripted.borrow_mut().pop_front()
        };
        match fake {
            Some(failure) => Box::pin(async move {
                Exchange {
                    result: Err(ApiError::Failed(failure)),
                    request_id: "scripted".to_owned(),
                    elapsed_ms: 0.0,
                }
            }),
            None => self.http.send(outgoing),
        }
    }
}

// ----- tabs -----

/// One queue instance under its own owner: a tab. Dropping it closes the tab.
struct Tab {
    owner: Owner,
    queue: OfflineQueue,
    bridge: Rc<TestBridge>,
    sender: Rc<TestSender>,
    alerts: Alerts,
}

impl Drop for Tab {
    fn drop(&mut self) {
        self.owner.cleanup();
    }
}

/// Retries from 20 ms capped at 200 ms: the production schedule (1 s to 5 min) scaled down
/// so the chaos tests run in seconds.
fn fast() -> QueueConfig {
    QueueConfig {
        retry: RetryPolicy {
            base: DurationMs(20),
            cap: DurationMs(200),
            max_attempts: None,
        },
        ..QueueConfig::default()
    }
}

fn namespace(test: &str) -> String {
    format!("offline-{test}-{}", Uuid::new_v4().simple())
}

fn open_tab_with(namespace: &str, config: QueueConfig) -> Tab {
    // The queue's effects run on Leptos's executor, which mounting a view starts in the app;
    // these tabs mount nothing. Starting it again is a no-op.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    let owner = Owner::new();
    let bridge = Rc::new(TestBridge::default());
    let sender = TestSender::new();
    let app = support::app_config(api(), namespace.to_owned());
    let (queue, alerts) = owner.with(|| {
        let alerts = provide_alerts();
        let options = OfflineOptions {
            queue: config,
            sender: Some(sender.clone()),
        };
        (OfflineQueue::start(&app, bridge.clone(), options), alerts)
    });
    Tab {
        owner,
        queue,
        bridge,
        sender,
        alerts,
    }
}

async fn open_tab(namespace: &str) -> Tab {
    let tab = open_tab_with(namespace, fast());
    tab.queue.ready().await;
    tab
}

impl Tab {
    fn pending(&self) -> usize {
        self.queue.pending_count().get_untracked()
    }

    fn dead(&self) -> usize {
        self.queue.dead_count().get_untracked()
    }

    fn alert_texts(&self) -> Vec<String> {
        self.alerts.items().into_iter().map(|a| a.message).collect()
    }

    /// Waits until the queue stores on disk again, and checks the person was told.
    async fn storage_back(&self, seconds: u32) {
        wait_until("storage works again", seconds, || {
            self.queue.storage_status().get_untracked() == StorageStatus::Saved
        })
        .await;
        assert!(self
            .alert_texts()
            .join("\n")
            .contains("saved on this device again"));
    }

    async fn drained(&self, seconds: u32) {
        wait_until("the queue drains", seconds, || {
            self.pending() == 0 && self.queue.status().get_untracked().in_flight == 0
        })
        .await;
    }
}

fn performance_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

async fn server_case(id: Uuid) -> Option<Case> {
    match api().get_case(id, None, None).await.result {
        Ok(Fetched::Fresh { data, .. }) => Some(data),
        _ => None,
    }
}

/// How many cases on the server match `q`.
async fn server_total(q: &str) -> u64 {
    let query = CaseListQuery {
        q: Some(q.to_owned()),
        ..CaseListQuery::default()
    };
    match api().list_cases(&query, None, None).await.result {
        Ok(Fetched::Fresh { data, .. }) => data.total,
        other => panic!("listing cases failed: {other:?}"),
    }
}

async fn server_notes(case_id: Uuid) -> usize {
    match api().list_notes(case_id, None, None).await.result {
        Ok(Fetched::Fresh { data, .. }) => data.len(),
        other => panic!("listing notes failed: {other:?}"),
    }
}

fn dispatch_window_event(name: &str) {
    let window = web_sys::window().unwrap();
    window
        .dispatch_event(&web_sys::Event::new(name).unwrap())
        .unwrap();
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

// ----- tests -----

#[wasm_bindgen_test]
async fn an_enqueued_action_survives_a_reload_and_is_sent_after_it() {
    let ns = namespace("reload");
    let first = open_tab(&ns).await;
    // The first tab never reaches the server.
    first.sender.offline.set(true);
    let draft = new_case("Survives a reload");
    let id = first.queue.create_case(draft.clone()).await.unwrap();
    // A double submit queues nothing more.
    assert_eq!(first.queue.create_case(draft).await.unwrap(), id);
    assert_eq!(first.pending(), 1);
    assert_eq!(first.bridge.pending.borrow().len(), 1, "shown at once");
    drop(first);
    assert!(server_case(id).await.is_none());

    let second = open_tab_with(&ns, fast());
    second.queue.ready().await;
    // The reloaded tab shows the pending creation before any answer.
    assert_eq!(second.bridge.pending.borrow().len(), 1);
    assert_eq!(
        second.queue.sync_state(id).get_untracked(),
        SyncState::Pending
    );
    second.drained(5).await;
    let stored = server_case(id).await.expect("the case reached the server");
    assert_eq!(stored.title, "Survives a reload");
    assert_eq!(second.bridge.confirmed.borrow().len(), 1);
    assert!(second.bridge.pending.borrow().is_empty());
    assert_eq!(
        second.queue.sync_state(id).get_untracked(),
        SyncState::Synced
    );
}

#[wasm_bindgen_test]
async fn an_action_in_flight_at_reload_is_sent_again_and_applied_once() {
    let ns = namespace("inflight");
    let title = format!("In flight {}", Uuid::new_v4().simple());
    set_chaos(r#"{"latency_ms":[400,400]}"#).await;
    let first = open_tab(&ns).await;
    let id = first.queue.create_case(new_case(&title)).await.unwrap();
    wait_until("the first tab sends", 2, || first.sender.count() == 1).await;
    sleep(100).await;
    let first_key = first.sender.sent.borrow()[0].key;
    // The tab closes while its request sits in the server's latency.
    drop(first);

    let second = open_tab(&ns).await;
    second.drained(5).await;
    clear_chaos().await;
    let resent = second.sender.sent.borrow().clone();
    assert_eq!(resent.len(), 1, "re-sent once");
    assert_eq!(resent[0].key, first_key, "under the same idempotency key");
    assert_eq!(second.dead(), 0);
    assert_eq!(server_total(&title).await, 1);
    assert_eq!(server_case(id).await.unwrap().version, 1, "applied once");
}

#[wasm_bindgen_test]
async fn chaos_failures_and_drops_still_make_exactly_n_changes() {
    let ns = namespace("chaos");
    let run = Uuid::new_v4().simple().to_string();
    let tab = open_tab(&ns).await;
    set_chaos(r#"{"fail_rate":0.3,"drop_rate":0.1,"latency_ms":[0,10]}"#).await;
    let mut ids = Vec::new();
    // 10 creations, 2 notes and 1 status change each: 40 actions.
    for i in 0..10 {
        let id = tab
            .queue
            .create_case(new_case(&format!("Chaos {run} {i}")))
            .await
            .unwrap();
        tab.queue.add_note(id, format!("first {i}")).await.unwrap();
        tab.queue
            .update_case(
                id,
                CasePatch {
                    status: Some(CaseStatus::InProgress),
                    ..CasePatch::default()
                },
            )
            .await
            .unwrap();
        tab.queue.add_note(id, format!("second {i}")).await.unwrap();
        ids.push(id);
    }
    tab.drained(40).await;
    clear_chaos().await;
    assert_eq!(tab.dead(), 0, "{:?}", tab.queue.records().get_untracked());
    assert!(tab.sender.count() > 40, "chaos made some attempts fail");
    assert_eq!(server_total(&format!("Chaos {run}")).await, 10);
    for id in ids {
        let case = server_case(id).await.unwrap();
        assert_eq!(case.version, 2, "one creation and one change, no more");
        assert_eq!(case.status, CaseStatus::InProgress);
        assert_eq!(server_notes(id).await, 2);
    }
}

#[wasm_bindgen_test]
async fn a_refused_creation_dead_letters_its_dependents_and_rolls_back_their_overlay() {
    let ns = namespace("dead");
    let tab = open_tab(&ns).await;
    // The server already has a case with this id: creating it again is a 409.
    let taken = new_case("Already there");
    api()
        .create_case(&taken, Uuid::new_v4())
        .await
        .result
        .unwrap();
    tab.sender.offline.set(true);
    let mut mine = new_case("Mine, with a taken id");
    mine.id = taken.id;
    tab.queue.create_case(mine).await.unwrap();
    tab.queue.add_note(taken.id, "a note".into()).await.unwrap();
    tab.queue
        .update_case(
            taken.id,
            CasePatch {
                priority: Some(Priority::Critical),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    let other = tab.queue.create_case(new_case("Unrelated")).await.unwrap();
    assert_eq!(tab.bridge.pending.borrow().len(), 4, "all shown");
    let shown = tab.bridge.view_case(taken.id).unwrap();
    assert_eq!(shown.priority, Priority::Critical);

    tab.sender.offline.set(false);
    tab.queue.sync_now();
    wait_until("three dead letters", 5, || tab.dead() == 3).await;
    tab.drained(5).await;
    // The overlay no longer holds them: the screen is back to what the server says.
    assert!(tab.bridge.pending.borrow().is_empty());
    assert_eq!(
        tab.queue.sync_state(taken.id).get_untracked(),
        SyncState::Failed
    );
    assert_eq!(
        tab.queue.sync_state(other).get_untracked(),
        SyncState::Synced
    );
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains("Undone: Create “Mine, with a taken id”"),
        "{alerts}"
    );
    assert!(
        alerts.contains("Not sent because creating “Mine, with a taken id” failed"),
        "{alerts}"
    );
    assert_eq!(tab.queue.records_for(taken.id).get_untracked().len(), 3);
    assert!(tab.queue.records_for(other).get_untracked().is_empty());
    let records = tab.queue.records().get_untracked();
    assert!(records.iter().all(|r| r.state == ActionState::Dead));
    assert!(matches!(
        &records[0].dead_reason,
        Some(casedesk_core::DeathReason::Refused(Failure::Http {
            status: 409,
            ..
        }))
    ));
    assert_eq!(server_notes(taken.id).await, 0);

    // Discarding the creation takes its dependents along, announced.
    tab.queue.discard(records[0].id()).unwrap();
    assert_eq!(tab.dead(), 0);
    assert!(tab.queue.records().get_untracked().is_empty());
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains(
            "Discarded: Create “Mine, with a taken id”, and 2 changes that depended on it."
        ),
        "{alerts}"
    );
    // And nothing of it comes back after a reload.
    drop(tab);
    let again = open_tab(&ns).await;
    assert!(again.queue.records().get_untracked().is_empty());
}

/// Nine days: past the 8 days the server keeps idempotency keys.
const PAST_KEY_RETENTION: &str = r#"{"clock_offset_s":777600}"#;

/// The idempotency key of the first attempt `tab` made of `action`.
fn first_key(tab: &Tab, action: Uuid) -> Uuid {
    tab.sender
        .sent
        .borrow()
        .iter()
        .find(|s| s.action == action)
        .map(|s| s.key)
        .expect("the action was attempted")
}

#[wasm_bindgen_test]
async fn a_creation_resent_after_the_server_forgot_its_key_ends_synced_not_dead() {
    let ns = namespace("expired-key");
    let tab = open_tab(&ns).await;
    // Every attempt of this tab is lost on the way back...
    tab.sender.offline.set(true);
    let draft = new_case("Landed, answer lost");
    let id = tab.queue.create_case(draft.clone()).await.unwrap();
    let action = tab.queue.records().get_untracked()[0].id();
    wait_until("a first attempt", 3, || tab.sender.count() >= 1).await;
    let key = first_key(&tab, action);
    // ...while one of them did land, under the action's key.
    let landed = api().create_case(&draft, key).await.result.unwrap();
    // Nine days later the server has forgotten the key: the resend is "already exists".
    set_chaos(PAST_KEY_RETENTION).await;
    tab.sender.offline.set(false);
    tab.drained(10).await;
    clear_chaos().await;
    assert_eq!(tab.dead(), 0, "{:?}", tab.queue.records().get_untracked());
    assert_eq!(tab.queue.sync_state(id).get_untracked(), SyncState::Synced);
    let confirmed = tab.bridge.confirmed.borrow().clone();
    assert_eq!(
        confirmed,
        vec![(action, ServerAnswer::Case(landed.clone()))]
    );
    let stored = server_case(id).await.unwrap();
    assert_eq!(stored.version, 1, "created once");
    assert_eq!(stored, landed);
}

#[wasm_bindgen_test]
async fn a_note_resent_after_the_server_forgot_its_key_ends_synced_not_dead() {
    let ns = namespace("expired-note-key");
    let tab = open_tab(&ns).await;
    let id = tab.queue.create_case(new_case("Noted")).await.unwrap();
    tab.drained(5).await;
    tab.sender.offline.set(true);
    tab.queue
        .add_note(id, "Called the vendor.".to_owned())
        .await
        .unwrap();
    let record = tab
        .queue
        .records()
        .get_untracked()
        .into_iter()
        .find(|r| r.state != ActionState::Dead)
        .unwrap();
    let casedesk_core::ActionKind::AddNote { note, .. } = record.action.kind.clone() else {
        panic!("expected the note action, got {record:?}");
    };
    wait_until("a first attempt", 3, || {
        tab.sender
            .sent
            .borrow()
            .iter()
            .any(|s| s.action == record.id())
    })
    .await;
    let key = first_key(&tab, record.id());
    api().add_note(id, &note, key).await.result.unwrap();
    set_chaos(PAST_KEY_RETENTION).await;
    tab.sender.offline.set(false);
    tab.drained(10).await;
    clear_chaos().await;
    assert_eq!(tab.dead(), 0, "{:?}", tab.queue.records().get_untracked());
    assert_eq!(server_notes(id).await, 1, "the note is there once");
}

/// Garbles the server's success answers to writes with `kind` (the change itself is
/// committed), waits until `tab` has tried the pending action at least twice more, then
/// lets the answers through again.
async fn garble_writes_while(tab: &Tab, kind: &str, what: &str) {
    let before = tab.sender.count();
    wait_until(
        &format!("{what} is sent again after a garbled {kind} answer"),
        10,
        || tab.sender.count() >= before + 2,
    )
    .await;
    assert_eq!(
        tab.dead(),
        0,
        "{what}: a garbled {kind} answer to a write must not roll it back"
    );
    assert!(
        tab.pending() > 0,
        "{what} is still waiting for a readable answer"
    );
    clear_chaos().await;
    tab.drained(10).await;
}

#[wasm_bindgen_test]
async fn a_write_whose_success_answer_is_unreadable_is_resent_under_its_key_never_rolled_back() {
    // Each kind garbles the bytes of a committed change's answer; the replay under the same
    // idempotency key returns the stored answer, so the change lands once and stays on screen.
    for kind in [
        "invalid_json",
        "wrong_types",
        "html_error_page",
        "huge_body",
        "truncated_body",
        "empty_200",
        "array_instead_of_object",
        "other_case",
        "not_modified_uncached",
        "empty_204",
        "null_body",
        "duplicated_json_keys",
    ] {
        let ns = namespace("garbled");
        let tab = open_tab(&ns).await;
        let chaos = format!(r#"{{"corrupt":"{kind}","corrupt_on":"writes"}}"#);

        set_chaos(&chaos).await;
        let id = tab
            .queue
            .create_case(new_case(&format!("Garbled {kind}")))
            .await
            .unwrap();
        garble_writes_while(&tab, kind, "the creation").await;
        assert_eq!(
            server_case(id).await.unwrap().version,
            1,
            "{kind}: created once"
        );

        set_chaos(&chaos).await;
        tab.queue
            .update_case(
                id,
                CasePatch {
                    status: Some(CaseStatus::Resolved),
                    ..CasePatch::default()
                },
            )
            .await
            .unwrap();
        garble_writes_while(&tab, kind, "the edit").await;
        let edited = server_case(id).await.unwrap();
        assert_eq!(edited.version, 2, "{kind}: edited once");
        assert_eq!(edited.status, CaseStatus::Resolved);

        set_chaos(&chaos).await;
        tab.queue
            .add_note(id, format!("Note {kind}"))
            .await
            .unwrap();
        garble_writes_while(&tab, kind, "the note").await;
        assert_eq!(server_notes(id).await, 1, "{kind}: the note is there once");

        // A delete's answer has no body to read; it is resent only when the status itself
        // is garbled (a 304, a proxy's 502).
        set_chaos(&chaos).await;
        let before = tab.sender.count();
        tab.queue.delete_case(id).await.unwrap();
        wait_until("the delete is sent", 5, || tab.sender.count() > before).await;
        clear_chaos().await;
        tab.drained(10).await;
        assert_eq!(
            tab.dead(),
            0,
            "{kind}: {:?}",
            tab.queue.records().get_untracked()
        );
        assert!(server_case(id).await.is_none(), "{kind}: deleted");
    }
}

#[wasm_bindgen_test]
async fn a_write_answer_with_extra_fields_or_a_loose_content_type_settles_at_once() {
    for kind in ["extra_fields", "wrong_content_type"] {
        let ns = namespace("readable");
        let tab = open_tab(&ns).await;
        set_chaos(&format!(r#"{{"corrupt":"{kind}","corrupt_on":"writes"}}"#)).await;
        let id = tab
            .queue
            .create_case(new_case(&format!("Readable {kind}")))
            .await
            .unwrap();
        tab.queue
            .add_note(id, format!("Note {kind}"))
            .await
            .unwrap();
        tab.drained(10).await;
        clear_chaos().await;
        assert_eq!(tab.sender.count(), 2, "{kind}: each write sent once");
        assert_eq!(tab.dead(), 0);
        assert_eq!(server_notes(id).await, 1);
    }
}

#[wasm_bindgen_test]
async fn retrying_a_dead_letter_sends_it_again_under_the_same_key() {
    let ns = namespace("retry");
    let tab = open_tab(&ns).await;
    tab.sender.scripted.borrow_mut().push_back(Failure::Http {
        status: 422,
        code: Some("validation".into()),
        message: "scripted refusal".into(),
        request_id: None,
        retry_after: None,
    });
    let id = tab.queue.create_case(new_case("Retried")).await.unwrap();
    wait_until("a dead letter", 3, || tab.dead() == 1).await;
    assert!(tab.bridge.pending.borrow().is_empty(), "rolled back");
    let action = tab.queue.records().get_untracked()[0].id();
    tab.queue.retry(action).unwrap();
    assert_eq!(tab.bridge.pending_ids(), vec![action], "shown again");
    tab.drained(5).await;
    assert_eq!(tab.dead(), 0);
    let sent = tab.sender.sent.borrow().clone();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].key, sent[1].key);
    assert_eq!(server_case(id).await.unwrap().title, "Retried");
}

#[wasm_bindgen_test]
async fn a_retry_after_date_from_the_server_is_waited_out() {
    let ns = namespace("retry-date");
    let tab = open_tab(&ns).await;
    // The server refuses with 503 and `Retry-After` as an HTTP date 3 s ahead (whole
    // seconds, so 2–3 s). The queue's own backoff here is at most 200 ms.
    set_chaos(r#"{"corrupt":"retry_after_date","corrupt_on":"writes","retry_after_s":3}"#).await;
    let id = tab
        .queue
        .create_case(new_case("Retry-After date"))
        .await
        .unwrap();
    let action = tab.queue.records().get_untracked()[0].id();
    wait_until("a refused first attempt", 5, || {
        tab.queue
            .records()
            .get_untracked()
            .iter()
            .any(|r| r.id() == action && r.last_error.is_some())
    })
    .await;
    let record = tab
        .queue
        .records()
        .get_untracked()
        .into_iter()
        .find(|r| r.id() == action)
        .unwrap();
    let wait = record.next_attempt_at.0 as f64 - js_sys::Date::now();
    assert!(
        wait > 1_000.0,
        "the next attempt is {wait} ms away: the date was not honoured"
    );
    assert_eq!(tab.sender.count(), 1, "nothing sent before the date");
    clear_chaos().await;
    tab.drained(10).await;
    assert_eq!(tab.dead(), 0);
    assert!(server_case(id).await.is_some());
}

#[wasm_bindgen_test]
async fn a_429_waits_for_retry_after() {
    let ns = namespace("429");
    let tab = open_tab(&ns).await;
    tab.sender.scripted.borrow_mut().push_back(Failure::Http {
        status: 429,
        code: Some("rate_limited".into()),
        message: "Too many requests: retry in 1 s.".into(),
        request_id: None,
        retry_after: Some(DurationMs(1_000)),
    });
    let id = tab
        .queue
        .create_case(new_case("Rate limited"))
        .await
        .unwrap();
    tab.drained(5).await;
    let sent = tab.sender.sent.borrow().clone();
    assert_eq!(sent.len(), 2);
    let gap = sent[1].at_ms - sent[0].at_ms;
    assert!(gap >= 995.0, "retried after {gap} ms, before Retry-After");
    assert!(
        gap < 1_500.0,
        "retried {gap} ms later, much after Retry-After"
    );
    assert_eq!(
        *tab.bridge.rate_limited.borrow(),
        vec![Some(DurationMs(1_000))],
        "the shared budget was told"
    );
    assert!(server_case(id).await.is_some());
}

#[wasm_bindgen_test]
async fn a_401_pauses_the_queue_until_sign_in() {
    let ns = namespace("401");
    let tab = open_tab(&ns).await;
    tab.sender.scripted.borrow_mut().push_back(Failure::Http {
        status: 401,
        code: Some("unauthorized".into()),
        message: "Sign in again.".into(),
        request_id: None,
        retry_after: None,
    });
    let id = tab
        .queue
        .create_case(new_case("Needs a session"))
        .await
        .unwrap();
    tab.queue.add_note(id, "waits too".into()).await.unwrap();
    wait_until("the queue pauses", 3, || {
        tab.queue.status().get_untracked().paused_for_sign_in
    })
    .await;
    sleep(200).await;
    assert_eq!(tab.sender.count(), 1, "nothing more is sent while paused");
    assert_eq!(tab.pending(), 2, "nothing is lost or dead");
    assert_eq!(tab.dead(), 0);
    assert!(tab.alert_texts().join("\n").contains("Sign in again"));
    let record = tab.queue.records().get_untracked()[0].clone();
    assert_eq!(record.attempts, 0, "a 401 is not the action's fault");

    tab.queue.signed_in(None);
    tab.drained(5).await;
    assert!(!tab.queue.status().get_untracked().paused_for_sign_in);
    assert_eq!(server_notes(id).await, 1);
}

#[wasm_bindgen_test]
async fn each_conflict_policy_settles_a_412_its_own_way() {
    // Elsewhere: the title and the priority changed. Here: the title (a clash) and the
    // status (only mine).
    for policy in [
        ConflictPolicy::ClientWins,
        ConflictPolicy::ServerWins,
        ConflictPolicy::Ask,
        ConflictPolicy::AskAlways,
    ] {
        let ns = namespace("policy");
        // Chosen at start-up, before the stored queue is read (as the app applies settings).
        let tab = open_tab_with(&ns, fast());
        tab.queue.set_conflict_policy(policy);
        tab.queue.ready().await;
        let created = api()
            .create_case(&new_case(&format!("Policy {policy:?}")), Uuid::new_v4())
            .await
            .result
            .unwrap();
        let id = created.id;
        tab.bridge.knows(created);
        api()
            .update_case(
                id,
                &CasePatch {
                    title: Some("Theirs".into()),
                    priority: Some(Priority::Critical),
                    ..CasePatch::default()
                },
                1,
                Uuid::new_v4(),
            )
            .await
            .result
            .unwrap();
        tab.queue
            .update_case(
                id,
                CasePatch {
                    title: Some("Mine".into()),
                    status: Some(CaseStatus::Resolved),
                    ..CasePatch::default()
                },
            )
            .await
            .unwrap();
        let conflict = tab.queue.conflict_for(id);
        match policy {
            ConflictPolicy::ClientWins | ConflictPolicy::ServerWins => {
                tab.drained(5).await;
                assert!(
                    conflict.get_untracked().is_none(),
                    "{policy:?}: nobody is asked"
                );
                let stored = server_case(id).await.unwrap();
                let title = if policy == ConflictPolicy::ClientWins {
                    "Mine"
                } else {
                    "Theirs"
                };
                assert_eq!(stored.title, title, "{policy:?}");
                assert_eq!(
                    stored.status,
                    CaseStatus::Resolved,
                    "{policy:?}: mine merged"
                );
                assert_eq!(
                    stored.priority,
                    Priority::Critical,
                    "{policy:?}: theirs kept"
                );
            }
            ConflictPolicy::Ask | ConflictPolicy::AskAlways => {
                wait_until("a conflict to choose", 5, || {
                    conflict.get_untracked().is_some()
                })
                .await;
                let (_, pending) = conflict.get_untracked().unwrap();
                let mut asked: Vec<_> = pending.conflicts.iter().map(|c| c.field).collect();
                asked.sort_by_key(|f| format!("{f:?}"));
                let expected = if policy == ConflictPolicy::Ask {
                    vec![CaseField::Title]
                } else {
                    vec![CaseField::Status, CaseField::Title]
                };
                assert_eq!(asked, expected, "{policy:?}");
                assert_eq!(
                    server_case(id).await.unwrap().version,
                    2,
                    "{policy:?}: nothing sent before the person chooses"
                );
            }
        }
    }
}

#[wasm_bindgen_test]
async fn a_conflicting_edit_merges_or_asks_and_each_choice_lands() {
    let ns = namespace("conflict");
    let tab = open_tab(&ns).await;
    let created = api()
        .create_case(&new_case("Conflicted"), Uuid::new_v4())
        .await
        .result
        .unwrap();
    let id = created.id;
    tab.bridge.knows(created.clone());
    let elsewhere = |patch: CasePatch, version: u64| async move {
        api()
            .update_case(id, &patch, version, Uuid::new_v4())
            .await
            .result
            .unwrap()
    };

    // Different fields: merged and re-sent on their version, nobody asked.
    elsewhere(
        CasePatch {
            priority: Some(Priority::Critical),
            ..CasePatch::default()
        },
        1,
    )
    .await;
    tab.queue
        .update_case(
            id,
            CasePatch {
                status: Some(CaseStatus::Resolved),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    tab.drained(5).await;
    let merged = server_case(id).await.unwrap();
    assert_eq!(
        (merged.status, merged.priority, merged.version),
        (CaseStatus::Resolved, Priority::Critical, 3)
    );
    assert_eq!(
        tab.bridge.server_cases.borrow().len(),
        1,
        "theirs reached the cache"
    );

    // The same field: the person is asked; "Keep mine" wins.
    elsewhere(
        CasePatch {
            title: Some("Theirs".into()),
            ..CasePatch::default()
        },
        3,
    )
    .await;
    tab.queue
        .update_case(
            id,
            CasePatch {
                title: Some("Mine".into()),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    let conflict = tab.queue.conflict_for(id);
    wait_until("a conflict to choose", 5, || {
        conflict.get_untracked().is_some()
    })
    .await;
    let (action, pending) = conflict.get_untracked().unwrap();
    assert_eq!(pending.theirs.title, "Theirs");
    assert_eq!(pending.conflicts.len(), 1);
    assert_eq!(tab.queue.sync_state(id).get_untracked(), SyncState::Pending);
    assert!(tab.alert_texts().join("\n").contains("Keep mine"));
    tab.queue
        .resolve_conflict(action, ConflictChoice::All(Side::Mine))
        .unwrap();
    tab.drained(5).await;
    assert!(conflict.get_untracked().is_none());
    let kept = server_case(id).await.unwrap();
    assert_eq!((kept.title.as_str(), kept.version), ("Mine", 5));

    // Again, and "Use theirs": nothing more is sent.
    elsewhere(
        CasePatch {
            title: Some("Theirs again".into()),
            ..CasePatch::default()
        },
        5,
    )
    .await;
    tab.queue
        .update_case(
            id,
            CasePatch {
                title: Some("Mine again".into()),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    wait_until("a second conflict", 5, || {
        conflict.get_untracked().is_some()
    })
    .await;
    let (action, _) = conflict.get_untracked().unwrap();
    let sends = tab.sender.count();
    tab.queue
        .resolve_conflict(action, ConflictChoice::All(Side::Theirs))
        .unwrap();
    tab.drained(5).await;
    assert_eq!(tab.sender.count(), sends, "theirs needs no request");
    let theirs = server_case(id).await.unwrap();
    assert_eq!((theirs.title.as_str(), theirs.version), ("Theirs again", 6));
    assert_eq!(
        tab.bridge.view_case(id).unwrap().title,
        "Theirs again",
        "the screen shows the server's title"
    );
}

#[wasm_bindgen_test]
async fn two_tabs_drain_once_not_twice_and_show_the_same_queue() {
    let ns = namespace("tabs");
    let run = Uuid::new_v4().simple().to_string();
    let first = open_tab(&ns).await;
    let second = open_tab(&ns).await;
    wait_until("one tab drains", 2, || {
        first.queue.status().get_untracked().draining
    })
    .await;
    assert!(!second.queue.status().get_untracked().draining);

    first.sender.offline.set(true);
    for i in 0..5 {
        first
            .queue
            .create_case(new_case(&format!("Tabs {run} first {i}")))
            .await
            .unwrap();
        second
            .queue
            .create_case(new_case(&format!("Tabs {run} second {i}")))
            .await
            .unwrap();
    }
    // Both tabs show all ten, whichever tab queued them.
    wait_until("both tabs show ten pending", 1, || {
        first.pending() == 10 && second.pending() == 10
    })
    .await;
    assert_eq!(second.bridge.pending.borrow().len(), 10);

    first.sender.offline.set(false);
    second.queue.sync_now();
    first.drained(10).await;
    second.drained(2).await;
    let first_sent: Vec<Uuid> = first
        .sender
        .sent
        .borrow()
        .iter()
        .map(|s| s.action)
        .collect();
    assert_eq!(second.sender.count(), 0, "the other tab never sends");
    let mut distinct = first_sent.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert_eq!(server_total(&format!("Tabs {run}")).await, 10);
    // The other tab took the server's answers into its cache.
    assert_eq!(second.bridge.confirmed.borrow().len(), 10);
    assert!(second.bridge.pending.borrow().is_empty());

    // The draining tab closes: the other takes over.
    drop(first);
    wait_until("the other tab takes over", 2, || {
        second.queue.status().get_untracked().draining
    })
    .await;
    let id = second
        .queue
        .create_case(new_case(&format!("Tabs {run} after")))
        .await
        .unwrap();
    second.drained(5).await;
    assert!(server_case(id).await.is_some());
    assert_eq!(second.sender.count(), 1);
}

#[wasm_bindgen_test]
async fn attempts_made_offline_are_not_counted_and_online_sends_at_once() {
    let ns = namespace("offline");
    let tab = open_tab(&ns).await;
    tab.sender.offline.set(true);
    let id = tab
        .queue
        .create_case(new_case("Offline first"))
        .await
        .unwrap();
    wait_until("a few offline attempts", 3, || tab.sender.count() >= 3).await;
    let record = tab.queue.records().get_untracked()[0].clone();
    assert_eq!(record.attempts, 0, "offline attempts are free");
    assert_eq!(record.last_error, Some(Failure::Offline));

    // The browser says it is offline: nothing is attempted at all.
    dispatch_window_event("offline");
    sleep(50).await;
    let before = tab.sender.count();
    sleep(300).await;
    assert_eq!(tab.sender.count(), before);
    assert!(!tab.queue.status().get_untracked().online);

    tab.sender.offline.set(false);
    let back = performance_now();
    dispatch_window_event("online");
    tab.drained(3).await;
    let first_after = tab.sender.sent.borrow()[before].at_ms - back;
    web_sys::console::log_1(&format!("online → first request: {first_after:.1} ms").into());
    assert!(
        first_after < 50.0,
        "sent {first_after} ms after the online event"
    );
    assert!(server_case(id).await.is_some());
}

#[wasm_bindgen_test]
async fn stored_changes_of_a_newer_version_are_kept_untouched_and_the_person_is_told() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;

    let ns = namespace("newer");
    // A newer casedesk left its database at a version this one cannot open, with a change
    // of its own in it.
    let newer = Database::open(&format!("{ns}-queue"))
        .with_version(SCHEMA_VERSION + 49)
        .with_on_upgrade_needed(|_event, db| {
            db.create_object_store("actions").build()?;
            Ok(())
        })
        .await
        .unwrap();
    let tx = newer
        .transaction("actions")
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let store = tx.object_store("actions").unwrap();
    drop(
        store
            .put(r#"{"format":7,"what":"a change made by the newer version"}"#)
            .with_key("newer-change")
            .primitive()
            .unwrap(),
    );
    drop(store);
    tx.commit().await.unwrap();
    newer.close();

    let tab = open_tab(&ns).await;
    assert_eq!(
        tab.queue.storage_status().get_untracked(),
        StorageStatus::NewerVersion
    );
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains("This device holds changes saved by a newer version of casedesk"),
        "{alerts}"
    );
    // This version still works (in memory) and sends.
    let id = tab
        .queue
        .create_case(new_case("Made beside a newer version"))
        .await
        .unwrap();
    assert_eq!(tab.bridge.pending.borrow().len(), 1, "still shown");
    tab.drained(5).await;
    assert!(server_case(id).await.is_some(), "still sent");

    // The newer version's data is exactly as it was: same version, same record.
    let newer = Database::open(&format!("{ns}-queue")).await.unwrap();
    assert_eq!(newer.version(), f64::from(SCHEMA_VERSION + 49));
    let tx = newer.transaction("actions").build().unwrap();
    let store = tx.object_store("actions").unwrap();
    let kept: Option<String> = store
        .get("newer-change")
        .primitive()
        .unwrap()
        .await
        .unwrap();
    let count = store.count().primitive().unwrap().await.unwrap();
    drop(store);
    drop(tx);
    newer.close();
    assert_eq!(
        kept.as_deref(),
        Some(r#"{"format":7,"what":"a change made by the newer version"}"#)
    );
    assert_eq!(count, 1, "nothing written into the newer database");

    // The newer database goes away (say the person cleared it): the queue stores again.
    Database::delete_by_name(&format!("{ns}-queue"))
        .unwrap()
        .await
        .unwrap();
    tab.storage_back(5).await;
}

#[wasm_bindgen_test]
async fn a_newer_tab_upgrading_the_database_is_not_blocked_and_this_tab_stops_and_asks_for_a_reload(
) {
    use futures::future::{select, Either};
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use std::future::IntoFuture;

    let ns = namespace("upgrade");
    let tab = open_tab(&ns).await;
    tab.sender.offline.set(true);
    let id = tab
        .queue
        .create_case(new_case("Made before the upgrade"))
        .await
        .unwrap();
    wait_until("the tab drains", 2, || {
        tab.queue.status().get_untracked().draining
    })
    .await;

    // A newer casedesk opens the queue database at the next version.
    let upgrade = Database::open(&format!("{ns}-queue"))
        .with_version(SCHEMA_VERSION + 1)
        .with_on_upgrade_needed(|_event, _db| Ok(()))
        .into_future();
    let newer = match select(
        std::pin::pin!(upgrade),
        std::pin::pin!(gloo_timers::future::TimeoutFuture::new(3_000)),
    )
    .await
    {
        Either::Left((db, _)) => db.unwrap(),
        Either::Right(_) => panic!("the older tab blocked the upgrade"),
    };

    // This tab stopped, said why, and let the queue go.
    assert_eq!(
        tab.queue.storage_status().get_untracked(),
        StorageStatus::Superseded
    );
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains("casedesk was updated in another tab. Reload this tab"),
        "{alerts}"
    );
    assert!(!tab.queue.status().get_untracked().draining);
    let sent_before = tab.sender.count();
    tab.sender.offline.set(false);
    tab.queue.sync_now();
    sleep(300).await;
    assert_eq!(
        tab.sender.count(),
        sent_before,
        "a superseded tab sends nothing"
    );
    assert_eq!(
        tab.queue
            .create_case(new_case("Made after the upgrade"))
            .await,
        Err(casedesk::offline::EnqueueError::Superseded)
    );

    // Nothing was lost: the change made before is in the database the newer tab reads.
    let tx = newer.transaction("actions").build().unwrap();
    let store = tx.object_store("actions").unwrap();
    let stored: Option<String> = store
        .get(tab.queue.records().get_untracked()[0].id().to_string())
        .primitive()
        .unwrap()
        .await
        .unwrap();
    let count = store.count().primitive().unwrap().await.unwrap();
    drop(store);
    drop(tx);
    newer.close();
    assert_eq!(count, 1);
    assert!(stored.is_some_and(|json| json.contains(&id.to_string())));
}

#[wasm_bindgen_test]
async fn unreadable_stored_changes_are_listed_kept_and_deleted_only_when_discarded() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;

    let ns = namespace("unreadable");
    // One tab stores a change; then something (another version, a damaged disk) leaves a
    // record beside it that this version cannot read.
    let first = open_tab(&ns).await;
    first.sender.offline.set(true);
    first.queue.create_case(new_case("Readable")).await.unwrap();
    drop(first);
    let db = Database::open(&format!("{ns}-queue"))
        .with_version(SCHEMA_VERSION)
        .await
        .unwrap();
    let tx = db
        .transaction("actions")
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let store = tx.object_store("actions").unwrap();
    drop(
        store
            .put(r#"{"action":{"kind":"ArchiveCase"},"format":9}"#)
            .with_key("strange-record")
            .primitive()
            .unwrap(),
    );
    drop(store);
    tx.commit().await.unwrap();
    db.close();

    let tab = open_tab(&ns).await;
    tab.sender.offline.set(true);
    assert_eq!(tab.pending(), 1, "the readable change is queued");
    let unreadable = tab.queue.unreadable().get_untracked();
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].key, "strange-record");
    assert_eq!(
        unreadable[0].raw,
        r#"{"action":{"kind":"ArchiveCase"},"format":9}"#
    );
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains("1 stored change could not be read"),
        "{alerts}"
    );
    // Kept across a reload.
    drop(tab);
    let tab = open_tab(&ns).await;
    tab.sender.offline.set(true);
    assert_eq!(tab.queue.unreadable().get_untracked().len(), 1);
    assert_eq!(stored_actions(&ns).await, 2);

    // "Discard" deletes it, and only it.
    tab.queue
        .discard_unreadable("strange-record")
        .await
        .unwrap();
    assert!(tab.queue.unreadable().get_untracked().is_empty());
    assert_eq!(stored_actions(&ns).await, 1);
    assert_eq!(tab.pending(), 1);
}

/// Removes `navigator.locks` from this page, as a non-secure context (plain HTTP from a LAN
/// address) has none; put back on drop.
struct NoWebLocks;

impl NoWebLocks {
    fn on() -> Self {
        js_sys::Function::new_no_args(
            "Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });",
        )
        .call0(&wasm_bindgen::JsValue::NULL)
        .unwrap();
        Self
    }
}

impl Drop for NoWebLocks {
    fn drop(&mut self) {
        let _ = js_sys::Function::new_no_args("delete navigator.locks;")
            .call0(&wasm_bindgen::JsValue::NULL);
    }
}

#[wasm_bindgen_test]
async fn without_web_locks_two_tabs_take_turns_and_send_each_change_once() {
    let ns = namespace("nolocks");
    let run = Uuid::new_v4().simple().to_string();
    let no_locks = NoWebLocks::on();
    let first = open_tab(&ns).await;
    let second = open_tab(&ns).await;
    drop(no_locks);
    wait_until("one tab drains", 5, || {
        first.queue.status().get_untracked().draining
            || second.queue.status().get_untracked().draining
    })
    .await;

    // Changes made in both tabs while the server cannot be reached.
    first.sender.offline.set(true);
    second.sender.offline.set(true);
    for i in 0..5 {
        first
            .queue
            .create_case(new_case(&format!("No locks {run} first {i}")))
            .await
            .unwrap();
        second
            .queue
            .create_case(new_case(&format!("No locks {run} second {i}")))
            .await
            .unwrap();
    }
    wait_until("both tabs show ten pending", 2, || {
        first.pending() == 10 && second.pending() == 10
    })
    .await;
    let offline_attempts = (first.sender.count(), second.sender.count());
    first.sender.offline.set(false);
    second.sender.offline.set(false);
    first.queue.sync_now();
    second.queue.sync_now();
    first.drained(10).await;
    second.drained(5).await;
    assert!(
        !(first.queue.status().get_untracked().draining
            && second.queue.status().get_untracked().draining),
        "never two drainers"
    );
    let mut sent: Vec<Uuid> = first.sender.sent.borrow()[offline_attempts.0..]
        .iter()
        .chain(second.sender.sent.borrow()[offline_attempts.1..].iter())
        .map(|s| s.action)
        .collect();
    assert_eq!(sent.len(), 10, "each change sent once: {sent:?}");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 10);
    assert_eq!(server_total(&format!("No locks {run}")).await, 10);

    // The draining tab closes: the other takes over and sends what comes next, once.
    let (closing, staying) = if first.queue.status().get_untracked().draining {
        (first, second)
    } else {
        (second, first)
    };
    drop(closing);
    wait_until("the other tab takes over", 10, || {
        staying.queue.status().get_untracked().draining
    })
    .await;
    let before = staying.sender.count();
    let id = staying
        .queue
        .create_case(new_case(&format!("No locks {run} after")))
        .await
        .unwrap();
    staying.drained(5).await;
    assert!(server_case(id).await.is_some());
    assert_eq!(staying.sender.count() - before, 1);
}

/// Makes the browser report a full disk for database `name` the way Chromium does when the
/// origin's quota is exceeded (seen with a quota set through DevTools): every request
/// succeeds, then the transaction aborts with a `QuotaExceededError` in `transaction.error`.
/// The app's own code runs unchanged; only the browser's answer is replaced. Undone on drop.
struct StorageFull(js_sys::Function);

impl StorageFull {
    fn on(database: &str) -> Self {
        let install = js_sys::Function::new_with_args(
            "name",
            r#"
            const proto = IDBTransaction.prototype;
            const commit = proto.commit;
            const error = Object.getOwnPropertyDescriptor(proto, "error");
            const full = new WeakSet();
            proto.commit = function () {
                if (this.mode === "readwrite" && this.db.name === name) {
                    full.add(this);
                    this.abort();
                    return;
                }
                return commit.call(this);
            };
            Object.defineProperty(proto, "error", {
                configurable: true,
                enumerable: error.enumerable,
                get() {
                    return full.has(this)
                        ? new DOMException("The quota has been exceeded.", "QuotaExceededError")
                        : error.get.call(this);
                },
            });
            return () => {
                proto.commit = commit;
                Object.defineProperty(proto, "error", error);
            };
            "#,
        );
        let undo = install
            .call1(&wasm_bindgen::JsValue::NULL, &database.into())
            .unwrap();
        Self(wasm_bindgen::JsCast::unchecked_into(undo))
    }
}

impl Drop for StorageFull {
    fn drop(&mut self) {
        self.0.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    }
}

/// How many actions the queue database of `ns` holds on disk.
async fn stored_actions(ns: &str) -> u32 {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;

    let db = Database::open(&format!("{ns}-queue"))
        .with_version(SCHEMA_VERSION)
        .await
        .unwrap();
    let tx = db.transaction("actions").build().unwrap();
    let store = tx.object_store("actions").unwrap();
    let count = store.count().primitive().unwrap().await.unwrap();
    drop(store);
    drop(tx);
    db.close();
    count
}

#[wasm_bindgen_test]
async fn when_the_disk_is_full_the_person_is_told_changes_still_go_and_storage_recovers() {
    let ns = namespace("quota");
    let tab = open_tab(&ns).await;
    assert_eq!(
        tab.queue.storage_status().get_untracked(),
        StorageStatus::Saved
    );
    let full = StorageFull::on(&format!("{ns}-queue"));

    // A change made on a full disk: shown, the person told why, and sent all the same.
    let sent = tab
        .queue
        .create_case(new_case("Made on a full disk"))
        .await
        .unwrap();
    assert_eq!(
        tab.queue.storage_status().get_untracked(),
        StorageStatus::MemoryOnly {
            reason: "the device's storage is full".to_owned()
        }
    );
    let alerts = tab.alert_texts().join("\n");
    assert!(
        alerts.contains("Changes are kept in memory only: the device's storage is full"),
        "{alerts}"
    );
    tab.drained(5).await;
    assert!(server_case(sent).await.is_some(), "still sent");

    // Another waits for the network while the disk is still full: only memory holds it.
    tab.sender.offline.set(true);
    let waiting = tab
        .queue
        .create_case(new_case("Waiting on a full disk"))
        .await
        .unwrap();
    assert_eq!(tab.bridge.pending.borrow().len(), 1, "still shown");
    assert_eq!(stored_actions(&ns).await, 0);

    // Space is freed: the waiting change is written to disk, and the person is told.
    drop(full);
    tab.storage_back(10).await;
    assert_eq!(
        stored_actions(&ns).await,
        1,
        "the waiting change is on disk"
    );

    tab.sender.offline.set(false);
    tab.drained(5).await;
    assert!(server_case(waiting).await.is_some());
    assert_eq!(stored_actions(&ns).await, 0, "sent, and gone from the disk");
}

#[wasm_bindgen_test]
async fn with_the_query_client_changes_show_at_once_and_roll_back_alone() {
    // The query client spawns through Leptos' executor, which mounting sets up.
    let host = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .create_element("div")
        .unwrap();
    drop(leptos::mount::mount_to(
        wasm_bindgen::JsCast::unchecked_into(host),
        || (),
    ));
    let config = support::app_config(api(), namespace("query"));
    let owner = Owner::new();
    let sender = TestSender::new();
    let (client, queue, alerts) = owner.with(|| {
        let client = casedesk::query::provide_query_client(&config);
        let alerts = provide_alerts();
        let options = OfflineOptions {
            queue: fast(),
            sender: Some(sender.clone()),
        };
        let queue = OfflineQueue::start(&config, Rc::new(client), options);
        (client, queue, alerts)
    });
    queue.ready().await;
    let created = api()
        .create_case(&new_case("Seen through the cache"), Uuid::new_v4())
        .await
        .result
        .unwrap();
    let id = created.id;
    client.set_server_case(created);

    sender.offline.set(true);
    queue
        .update_case(
            id,
            CasePatch {
                status: Some(CaseStatus::InProgress),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    queue
        .update_case(
            id,
            CasePatch {
                priority: Some(Priority::Critical),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    let shown = client.view_case(id).unwrap();
    assert_eq!(
        (shown.status, shown.priority),
        (CaseStatus::InProgress, Priority::Critical),
        "both edits show at once"
    );

    // The server refuses the first edit and takes the second.
    sender.scripted.borrow_mut().push_back(Failure::Http {
        status: 422,
        code: Some("validation".into()),
        message: "status: not allowed here".into(),
        request_id: None,
        retry_after: None,
    });
    sender.offline.set(false);
    queue.sync_now();
    wait_until("the queue settles", 5, || {
        queue.pending_count().get_untracked() == 0
    })
    .await;
    let shown = client.view_case(id).unwrap();
    assert_eq!(
        (shown.status, shown.priority, shown.version),
        (CaseStatus::Open, Priority::Critical, 2),
        "the refused edit rolled back alone; the other is confirmed"
    );
    let stored = server_case(id).await.unwrap();
    assert_eq!(
        (stored.status, stored.priority),
        (CaseStatus::Open, Priority::Critical)
    );
    let said: Vec<String> = alerts.items().into_iter().map(|a| a.message).collect();
    assert!(
        said.iter()
            .any(|m| m.starts_with("Undone: Change In progress of “Seen through the cache”")),
        "{said:?}"
    );
    assert_eq!(queue.dead_count().get_untracked(), 1);
    owner.cleanup();
}

/// `n` cases made on the server directly (not through the queue), `concurrency` at a time.
async fn cases_on_the_server(title: &str, n: usize) -> Vec<Case> {
    let mut cases = Vec::with_capacity(n);
    let numbers: Vec<usize> = (0..n).collect();
    for chunk in numbers.chunks(25) {
        let made = chunk.iter().map(|i| async move {
            let new = new_case(&format!("{title} {i}"));
            match api().create_case(&new, Uuid::new_v4()).await.result {
                Ok(case) => case,
                Err(error) => panic!("creating case {i} failed: {error:?}"),
            }
        });
        cases.extend(futures::future::join_all(made).await);
    }
    cases
}

fn closed() -> CasePatch {
    CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    }
}

fn retitled(title: &str) -> CasePatch {
    CasePatch {
        title: Some(title.to_owned()),
        ..CasePatch::default()
    }
}

#[wasm_bindgen_test]
async fn an_edit_made_behind_a_bulk_change_of_500_is_sent_among_the_first() {
    let ns = namespace("priority");
    let tab = open_tab(&ns).await;
    let run = Uuid::new_v4().simple().to_string();
    let mut cases = cases_on_the_server(&format!("Bulk {run}"), 501).await;
    for case in &cases {
        tab.bridge.knows(case.clone());
    }
    let Some(edited) = cases.pop() else {
        panic!("no cases were made");
    };
    dispatch_window_event("offline");
    tab.queue
        .update_cases(cases.iter().map(|c| c.id).collect(), closed())
        .await
        .unwrap();
    tab.queue
        .update_case(edited.id, retitled(&format!("Edited now {run}")))
        .await
        .unwrap();
    assert_eq!(tab.pending(), 501);

    dispatch_window_event("online");
    tab.drained(300).await;
    let order: Vec<Uuid> = tab.sender.sent.borrow().iter().map(|s| s.case).collect();
    assert_eq!(order.len(), 501, "each action sent once");
    let position = order.iter().position(|case| *case == edited.id);
    assert!(
        position.is_some_and(|p| p < 4),
        "the person's edit went out at position {position:?} of 501, not among the first four"
    );
    // The bulk change kept its own order behind it.
    let bulk: Vec<Uuid> = cases.iter().map(|c| c.id).collect();
    let sent_bulk: Vec<Uuid> = order.into_iter().filter(|c| *c != edited.id).collect();
    assert_eq!(sent_bulk, bulk);
    let server = server_case(edited.id).await.unwrap();
    assert_eq!(server.title, format!("Edited now {run}"));
    assert_eq!(server.version, edited.version + 1);
    assert_eq!(
        server_case(bulk[499]).await.map(|c| c.status),
        Some(CaseStatus::Closed)
    );
}

// ----- measurements -----
//
// `WASM_BINDGEN_TEST_TIMEOUT=300 scripts/lib/browser-tests --release --test offline -- \
//     --include-ignored --nocapture bench` prints the numbers (debug builds are ~5x slower).

fn report(line: String) {
    web_sys::console::log_1(&line.clone().into());
}

fn fake_case(n: usize) -> Case {
    let mut case = new_case(&format!("Bench {n}"))
        .into_case(casedesk_model::Timestamp::from_unix_millis(1_700_000_000_000).unwrap());
    case.id = Uuid::now_v7();
    case
}

#[wasm_bindgen_test]
#[ignore]
async fn bench_enqueue_throughput() {
    let ns = namespace("bench-enqueue");
    let tab = open_tab(&ns).await;
    // Nothing drains while the numbers are taken.
    dispatch_window_event("offline");

    let n = 300;
    let started = performance_now();
    for i in 0..n {
        tab.queue
            .add_note(Uuid::now_v7(), format!("note {i}"))
            .await
            .unwrap();
    }
    let single = performance_now() - started;
    report(format!(
        "enqueue, one at a time: {n} actions in {single:.0} ms = {:.0} actions/s",
        n as f64 * 1000.0 / single
    ));

    let started = performance_now();
    let all = (0..n).map(|i| tab.queue.add_note(Uuid::now_v7(), format!("burst {i}")));
    for result in futures::future::join_all(all).await {
        result.unwrap();
    }
    let burst = performance_now() - started;
    report(format!(
        "enqueue, {n} concurrent calls (writes coalesce): {burst:.0} ms = {:.0} actions/s",
        n as f64 * 1000.0 / burst
    ));

    let batch = 1_000;
    let ids: Vec<Uuid> = (0..batch)
        .map(|i| {
            let case = fake_case(i);
            let id = case.id;
            tab.bridge.knows(case);
            id
        })
        .collect();
    let started = performance_now();
    tab.queue
        .update_cases(
            ids,
            CasePatch {
                status: Some(CaseStatus::Closed),
                ..CasePatch::default()
            },
        )
        .await
        .unwrap();
    let batched = performance_now() - started;
    report(format!(
        "enqueue, one batch of {batch} (update_cases): {batched:.0} ms = {:.0} actions/s",
        batch as f64 * 1000.0 / batched
    ));
    assert_eq!(tab.pending(), 2 * n + batch);
    drop(tab);
    dispatch_window_event("online");
}

/// Drains 1,000 queued creations as the app does: the queue's shipped config, the request
/// budget as shipped (`BudgetConfig::DEFAULT`, through the bridge), against the test server
/// (whose rate limiter is the shipped default when `scripts/bench --queue` runs this, and off
/// in a plain test run: see `scripts/lib/browser-tests`).
async fn drain_thousand(label: &str, chaos: Option<&str>, config: QueueConfig) -> f64 {
    let ns = namespace("bench-drain");
    let tab = open_tab_with(&ns, config);
    *tab.bridge.budget.borrow_mut() = Some(RequestBudget::new(
        BudgetConfig::DEFAULT,
        casedesk::platform::clock::now(),
    ));
    tab.queue.ready().await;
    dispatch_window_event("offline");
    // The production backoff has a long tail (an action failing 8 times in a row waits up to
    // 2^8 s): allow for it.
    let run = Uuid::new_v4().simple().to_string();
    let n = 1_000;
    let all = (0..n).map(|i| tab.queue.create_case(new_case(&format!("Drain {run} {i}"))));
    for result in futures::future::join_all(all).await {
        result.unwrap();
    }
    assert_eq!(tab.pending(), n);
    if let Some(chaos) = chaos {
        set_chaos(chaos).await;
    }
    // Let the burst of enqueues settle, so the clock measures only the drain.
    sleep(300).await;
    let started = performance_now();
    dispatch_window_event("online");
    let mut ninety_nine = None;
    wait_until("the queue drains", 900, || {
        let pending = tab.pending();
        if pending <= n / 100 && ninety_nine.is_none() {
            ninety_nine = Some(performance_now() - started);
        }
        pending == 0
    })
    .await;
    let elapsed = performance_now() - started;
    let ninety_nine = ninety_nine.unwrap_or(elapsed);
    clear_chaos().await;
    let first = tab
        .sender
        .sent
        .borrow()
        .first()
        .map_or(f64::NAN, |s| s.at_ms)
        - started;
    report(format!(
        "drain {n} creations, {label}: {elapsed:.0} ms = {:.0} actions/s, 99% settled in \
         {ninety_nine:.0} ms ({} attempts, {} answered 429, mean request {:.1} ms; online → \
         first request {first:.1} ms)",
        n as f64 * 1000.0 / elapsed,
        tab.sender.count(),
        tab.bridge.rate_limited.borrow().len(),
        tab.bridge.request_ms.get() / tab.bridge.requests.get().max(1) as f64,
    ));
    assert_eq!(tab.dead(), 0);
    assert_eq!(server_total(&format!("Drain {run}")).await, n as u64);
    n as f64 * 1000.0 / elapsed
}

/// Three drains of `drain_thousand`, then their median rate.
async fn drain_three_times(label: &str, chaos: Option<&str>) {
    let mut rates = Vec::new();
    for _ in 0..3 {
        rates.push(drain_thousand(label, chaos, QueueConfig::default()).await);
    }
    rates.sort_by(f64::total_cmp);
    report(format!(
        "drain 1000 creations, {label}, median of 3: {:.0} actions/s (runs {:.0}, {:.0}, {:.0})",
        rates[1], rates[0], rates[1], rates[2]
    ));
}

#[wasm_bindgen_test]
#[ignore]
async fn bench_drain_throughput() {
    drain_three_times("no chaos", None).await;
}

#[wasm_bindgen_test]
#[ignore]
async fn bench_drain_throughput_under_chaos() {
    drain_three_times(
        "30% failures (the queue's backoff, Retry-After 1 s on each 503)",
        Some(r#"{"fail_rate":0.3}"#),
    )
    .await;
}

/// The time from a single edit, made while a bulk change of 500 cases drains, until the
/// server has it, with the queue's priority (`interactive_window` as configured) or without
/// it (`interactive_window` zero: strict first-in, first-out, as before priorities).
async fn edit_behind_bulk(label: &str, config: QueueConfig) {
    let ns = namespace("bench-priority");
    let tab = open_tab_with(&ns, config);
    tab.queue.ready().await;
    let run = Uuid::new_v4().simple().to_string();
    let mut cases = cases_on_the_server(&format!("Behind {run}"), 501).await;
    for case in &cases {
        tab.bridge.knows(case.clone());
    }
    let Some(edited) = cases.pop() else {
        panic!("no cases were made");
    };
    tab.queue
        .update_cases(cases.iter().map(|c| c.id).collect(), closed())
        .await
        .unwrap();
    let started = performance_now();
    tab.queue
        .update_case(edited.id, retitled(&format!("Edited {run}")))
        .await
        .unwrap();
    wait_until("the edit is confirmed", 300, || {
        tab.queue.sync_state(edited.id).get_untracked() == SyncState::Synced
    })
    .await;
    let confirmed = performance_now() - started;
    let (position, sent_at) = tab
        .sender
        .sent
        .borrow()
        .iter()
        .enumerate()
        .find(|(_, s)| s.case == edited.id)
        .map_or((usize::MAX, f64::NAN), |(p, s)| (p, s.at_ms - started));
    tab.drained(300).await;
    let all = performance_now() - started;
    report(format!(
        "edit behind a bulk change of 500, {label}: {confirmed:.0} ms until the server \
         confirmed it (sent after {sent_at:.0} ms, request {} of 501); the bulk change drained \
         in {all:.0} ms",
        position.saturating_add(1)
    ));
}

#[wasm_bindgen_test]
#[ignore]
async fn bench_edit_behind_bulk_change() {
    edit_behind_bulk("with priority", QueueConfig::default()).await;
    edit_behind_bulk(
        "strict first-in, first-out (no interactive window)",
        QueueConfig {
            interactive_window: DurationMs::ZERO,
            ..QueueConfig::default()
        },
    )
    .await;
}
