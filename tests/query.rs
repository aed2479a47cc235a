//! The query layer in headless Chromium against the real reference server: fetching and
//! caching, revalidation with 304, shared requests, retries, typed errors, the optimistic
//! overlay and its rollback, confirmation without flicker, restore from IndexedDB, live
//! updates over the WebSocket, refetch on focus and reconnect, abort on unmount, and the
//! shared request budget after a 429.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::config::AppConfig;
use casedesk::query::{
    provide_query_client, use_case, use_case_list, use_notes, LiveStatus, QueryClient,
};
use casedesk::words::Describe;
use casedesk_core::diagnostics::RequestOutcome;
use casedesk_core::persist::{self, PersistedEntry};
use casedesk_core::{
    Action, ActionKind, DurationMs, Failure, Millis, QueryData, QueryKey, QueryOptions,
    QueryStatus, ServerAnswer,
};
use casedesk_model::{Case, CaseListQuery, CasePatch, CaseStatus, Priority};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use support::dom::*;
use support::{api, clear_chaos, set_chaos, wait_until};
use support::{create_case, new_case};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn config(namespace: &str) -> AppConfig {
    support::app_config(api(), namespace.to_owned())
}

fn unique_namespace(test: &str) -> String {
    format!("casedesk-test-{test}-{}", Uuid::new_v4())
}

/// Mounts a client for `namespace` and runs `build` inside it (to call hooks); returns what
/// `build` returned. Dropping the mount cleans its owner up (unobserving, closing the socket,
/// writing the cache).
fn mount<R: 'static>(
    namespace: &str,
    build: impl FnOnce(QueryClient) -> R + 'static,
) -> (Mounted, R) {
    let config = config(namespace);
    let out: Rc<RefCell<Option<R>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let mounted = mount_view(None, move || {
        let client = provide_query_client(&config);
        *slot.borrow_mut() = Some(build(client));
    });
    let result = out.borrow_mut().take().unwrap();
    (mounted, result)
}

fn requests_for(client: &QueryClient, key: &QueryKey) -> Vec<RequestOutcome> {
    let subject = key.to_string();
    client
        .request_log()
        .iter()
        .filter(|r| r.subject == subject)
        .map(|r| r.outcome)
        .collect()
}

#[wasm_bindgen_test]
async fn a_case_is_fetched_cached_and_revalidated_with_304() {
    let case = create_case("Fetch and cache").await;
    let id = case.id;
    let (_app, (client, view)) = mount(&unique_namespace("fetch"), move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the case shows", 5, || view.data.get_untracked().is_some()).await;
    assert_eq!(view.data.get_untracked(), Some(case.clone()));
    assert_eq!(view.status.get_untracked(), QueryStatus::Success);
    let key = QueryKey::case(id);
    wait_until("one request recorded", 2, || {
        requests_for(&client, &key).len() == 1
    })
    .await;
    assert_eq!(requests_for(&client, &key), vec![RequestOutcome::Ok]);

    client.invalidate(&key);
    wait_until("the revalidation answers", 5, || {
        requests_for(&client, &key).len() == 2
    })
    .await;
    assert_eq!(
        requests_for(&client, &key),
        vec![RequestOutcome::Ok, RequestOutcome::NotModified]
    );
    assert_eq!(view.data.get_untracked(), Some(case));
}

/// An update of `case` as a person would make it on screen.
fn update(case: &Case, patch: CasePatch) -> Action {
    Action::new(
        Uuid::new_v4(),
        Uuid::new_v4(),
        ActionKind::UpdateCase {
            id: case.id,
            patch,
            base_version: case.version,
            base: case.clone(),
        },
        Millis(js_sys::Date::now() as u64),
    )
}

fn status(status: CaseStatus) -> CasePatch {
    CasePatch {
        status: Some(status),
        ..CasePatch::default()
    }
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

fn list_query(q: &str) -> CaseListQuery {
    CaseListQuery {
        q: Some(q.to_owned()),
        ..CaseListQuery::default()
    }
}

#[wasm_bindgen_test]
async fn two_views_of_one_key_share_one_request() {
    let case = create_case("Shared request").await;
    let id = case.id;
    let (_app, (client, first, second)) = mount(&unique_namespace("share"), move |client| {
        let first = use_case(Signal::stored(Some(id)));
        let second = use_case(Signal::stored(Some(id)));
        (client, first, second)
    });
    wait_until("both views show the case", 5, || {
        first.data.get_untracked().is_some() && second.data.get_untracked().is_some()
    })
    .await;
    sleep(100).await;
    assert_eq!(first.data.get_untracked(), second.data.get_untracked());
    assert_eq!(
        requests_for(&client, &QueryKey::case(id)),
        vec![RequestOutcome::Ok]
    );
}

#[wasm_bindgen_test]
async fn a_server_error_is_retried_until_it_succeeds() {
    let case = create_case("Retried").await;
    let id = case.id;
    set_chaos(r#"{"fail_rate":1}"#).await;
    let (_app, (client, view)) = mount(&unique_namespace("retry"), move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    let key = QueryKey::case(id);
    wait_until("a 503 was seen", 5, || {
        requests_for(&client, &key).contains(&RequestOutcome::Failed)
    })
    .await;
    clear_chaos().await;
    // Still trying, not failed for good: the person sees a loading state, not an error.
    assert_eq!(view.error.get_untracked(), None);
    assert!(view.is_fetching.get_untracked());
    wait_until("the retry succeeds", 5, || {
        view.data.get_untracked().is_some()
    })
    .await;
    assert_eq!(view.data.get_untracked(), Some(case));
    assert_eq!(view.status.get_untracked(), QueryStatus::Success);
    assert_eq!(
        requests_for(&client, &key).last(),
        Some(&RequestOutcome::Ok)
    );
    let errors = client.diagnostics().get_untracked().recent_errors;
    assert!(errors.iter().any(|e| e.status == Some(503)), "{errors:?}");
}

#[wasm_bindgen_test]
async fn a_404_is_final_at_once() {
    let id = Uuid::now_v7();
    let (_app, (client, view)) = mount(&unique_namespace("404"), move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the error shows", 5, || {
        view.status.get_untracked() == QueryStatus::Error
    })
    .await;
    assert!(matches!(
        view.error.get_untracked(),
        Some(Failure::Http { status: 404, .. })
    ));
    assert!(!view.is_fetching.get_untracked());
    assert_eq!(view.data.get_untracked(), None);
    // A retry would come within a second (the first backoff step); none does.
    sleep(1_200).await;
    assert_eq!(
        requests_for(&client, &QueryKey::case(id)),
        vec![RequestOutcome::Failed]
    );
}

#[wasm_bindgen_test]
async fn a_malformed_body_is_a_typed_error_and_the_app_recovers() {
    for kind in ["invalid_json", "wrong_types", "empty_200"] {
        // A case of its own each time: the browser's HTTP cache would otherwise revalidate
        // an earlier good answer (a 304, which chaos leaves alone) and hand that to us.
        let id = create_case(&format!("Corrupt answer ({kind})")).await.id;
        set_chaos(&format!(r#"{{"corrupt":"{kind}"}}"#)).await;
        let (app, view) = mount(&unique_namespace("corrupt"), move |_| {
            use_case(Signal::stored(Some(id)))
        });
        wait_until("the error shows", 5, || {
            view.status.get_untracked() == QueryStatus::Error
        })
        .await;
        let error = view.error.get_untracked();
        assert!(
            matches!(error, Some(Failure::Decode { .. })),
            "{kind}: {error:?}"
        );
        assert!(error.unwrap().describe().contains("could not be read"));
        assert_eq!(view.data.get_untracked(), None);

        clear_chaos().await;
        view.refetch();
        wait_until("the case shows after the fault is gone", 5, || {
            view.data.get_untracked().is_some()
        })
        .await;
        assert_eq!(view.error.get_untracked(), None);
        assert_eq!(view.status.get_untracked(), QueryStatus::Success);
        drop(app);
    }
}

#[wasm_bindgen_test]
async fn optimistic_updates_show_at_once_and_roll_back_independently() {
    let tag = format!("optimistic-{}", Uuid::new_v4().simple());
    let case = create_case(&tag).await;
    let id = case.id;
    let query = list_query(&tag);
    let (_app, (client, view, list)) = mount(&unique_namespace("overlay"), move |client| {
        let view = use_case(Signal::stored(Some(id)));
        let list = use_case_list(Signal::stored(query));
        (client, view, list)
    });
    wait_until("the case and the list show", 5, || {
        view.data.get_untracked().is_some() && list.data.get_untracked().is_some()
    })
    .await;

    let resolve = update(&case, status(CaseStatus::Resolved));
    let escalate = update(
        &case,
        CasePatch {
            priority: Some(Priority::Critical),
            ..CasePatch::default()
        },
    );
    client.set_pending(vec![resolve.clone(), escalate.clone()]);
    // No request, no tick: the very next read shows both changes.
    let shown = view.data.get_untracked().unwrap();
    assert_eq!(
        (shown.status, shown.priority),
        (CaseStatus::Resolved, Priority::Critical)
    );
    let row = list.data.get_untracked().unwrap().items[0].clone();
    assert_eq!(
        (row.status, row.priority),
        (CaseStatus::Resolved, Priority::Critical)
    );
    assert_eq!(
        client.view_case(id).map(|c| c.status),
        Some(CaseStatus::Resolved)
    );

    // The first is rejected: it leaves the pending list, and only its effect goes.
    client.set_pending(vec![escalate]);
    let shown = view.data.get_untracked().unwrap();
    assert_eq!(
        (shown.status, shown.priority),
        (CaseStatus::Open, Priority::Critical)
    );
    let row = list.data.get_untracked().unwrap().items[0].clone();
    assert_eq!(
        (row.status, row.priority),
        (CaseStatus::Open, Priority::Critical)
    );

    client.set_pending(Vec::new());
    assert_eq!(view.data.get_untracked(), Some(case));
}

/// One frame of the confirmation test: the case's status and version, and its row's status.
type Frame = (CaseStatus, u64, Option<CaseStatus>);

#[wasm_bindgen_test]
async fn a_confirmation_swaps_pending_for_server_data_without_a_flicker() {
    let tag = format!("confirm-{}", Uuid::new_v4().simple());
    let case = create_case(&tag).await;
    let id = case.id;
    let query = list_query(&tag);
    let (_app, (client, view, list)) = mount(&unique_namespace("confirm"), move |client| {
        let view = use_case(Signal::stored(Some(id)));
        let list = use_case_list(Signal::stored(query));
        (client, view, list)
    });
    wait_until("the case and the list show", 5, || {
        view.data.get_untracked().is_some() && list.data.get_untracked().is_some()
    })
    .await;

    // What the screen went through, as effects (and so the DOM) see it.
    let history: Rc<RefCell<Vec<Frame>>> = Rc::default();
    let record = history.clone();
    let _effect = Effect::new(move |_| {
        let shown = view.data.get();
        let row = list
            .data
            .get()
            .and_then(|l| l.items.into_iter().find(|c| c.id == id));
        if let Some(shown) = shown {
            record
                .borrow_mut()
                .push((shown.status, shown.version, row.map(|r| r.status)));
        }
    });
    sleep(10).await;

    let resolve = update(&case, status(CaseStatus::Resolved));
    client.set_pending(vec![resolve.clone()]);
    sleep(10).await;
    let confirmed = api()
        .update_case(
            id,
            &status(CaseStatus::Resolved),
            case.version,
            resolve.idempotency_key,
        )
        .await
        .result
        .unwrap();
    client.confirm(&resolve, &ServerAnswer::Case(confirmed.clone()), Vec::new());
    sleep(300).await;

    let seen = history.borrow().clone();
    assert_eq!(
        seen.first(),
        Some(&(CaseStatus::Open, 1, Some(CaseStatus::Open)))
    );
    assert_eq!(
        seen.last(),
        Some(&(CaseStatus::Resolved, 2, Some(CaseStatus::Resolved)))
    );
    let first_resolved = seen
        .iter()
        .position(|(s, _, _)| *s == CaseStatus::Resolved)
        .unwrap();
    assert!(
        seen[first_resolved..]
            .iter()
            .all(|(s, _, row)| *s == CaseStatus::Resolved && *row == Some(CaseStatus::Resolved)),
        "a frame showed the old value again: {seen:?}"
    );
    assert_eq!(view.data.get_untracked(), Some(confirmed));
}

#[wasm_bindgen_test]
async fn a_reload_paints_the_stored_cache_before_the_network_answers() {
    let case = create_case("Restored").await;
    let id = case.id;
    let namespace = unique_namespace("reload");
    let (first, view) = mount(&namespace, move |_| use_case(Signal::stored(Some(id))));
    wait_until("the case shows", 5, || view.data.get_untracked().is_some()).await;
    // Closing the app writes what the throttle had not written yet.
    drop(first);

    set_chaos(r#"{"latency_ms":[1500,1500]}"#).await;
    let started = js_sys::Date::now();
    let (_second, (client, view)) = mount(&namespace, move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the stored case shows", 1, || {
        view.data.get_untracked().is_some()
    })
    .await;
    let painted_after = js_sys::Date::now() - started;
    clear_chaos().await;
    assert_eq!(view.data.get_untracked(), Some(case));
    assert!(client.restored().get_untracked());
    // Painted from storage: the revalidation is still on its way.
    assert!(view.is_fetching.get_untracked());
    assert!(requests_for(&client, &QueryKey::case(id)).is_empty());
    assert!(painted_after < 1_000.0, "painted after {painted_after} ms");
}

#[wasm_bindgen_test]
async fn a_list_keeps_the_previous_page_while_the_next_loads() {
    let tag = format!("paging-{}", Uuid::new_v4().simple());
    for n in 0..3 {
        create_case(&format!("{tag} {n}")).await;
    }
    let query = RwSignal::new(CaseListQuery {
        per_page: 2,
        ..list_query(&tag)
    });
    let (_app, list) = mount(&unique_namespace("paging"), move |_| {
        use_case_list(query.into())
    });
    wait_until("page 1 shows", 5, || list.data.get_untracked().is_some()).await;
    let page_one = list.data.get_untracked().unwrap();
    assert_eq!(
        (page_one.page, page_one.items.len(), page_one.total),
        (1, 2, 3)
    );

    set_chaos(r#"{"latency_ms":[400,400]}"#).await;
    query.update(|q| q.page = 2);
    sleep(50).await;
    assert_eq!(list.data.get_untracked(), Some(page_one));
    assert!(list.is_placeholder.get_untracked());
    assert!(list.is_fetching.get_untracked());
    wait_until("page 2 shows", 5, || {
        list.data.get_untracked().is_some_and(|l| l.page == 2)
    })
    .await;
    clear_chaos().await;
    assert!(!list.is_placeholder.get_untracked());
    assert_eq!(list.data.get_untracked().unwrap().items.len(), 1);
}

#[wasm_bindgen_test]
async fn a_change_made_elsewhere_shows_live_without_a_refetch_call() {
    let case = create_case("Live").await;
    let id = case.id;
    let (_app, (client, view)) = mount(&unique_namespace("live"), move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the case shows and the socket is live", 5, || {
        view.data.get_untracked().is_some()
            && client.live_status().get_untracked() == LiveStatus::Live
    })
    .await;

    let started = js_sys::Date::now();
    api()
        .update_case(
            id,
            &CasePatch {
                title: Some("Live, changed elsewhere".to_owned()),
                ..CasePatch::default()
            },
            case.version,
            Uuid::new_v4(),
        )
        .await
        .result
        .unwrap();
    wait_until("the change shows", 3, || {
        view.data
            .get_untracked()
            .is_some_and(|c| c.title == "Live, changed elsewhere")
    })
    .await;
    let elapsed = js_sys::Date::now() - started;
    assert!(elapsed < 1_000.0, "the change took {elapsed} ms to show");

    // Offline closes the socket; online opens it again at once.
    let window = web_sys::window().unwrap();
    window
        .dispatch_event(&web_sys::Event::new("offline").unwrap())
        .unwrap();
    assert_eq!(client.live_status().get_untracked(), LiveStatus::Offline);
    window
        .dispatch_event(&web_sys::Event::new("online").unwrap())
        .unwrap();
    wait_until("the socket is live again", 3, || {
        client.live_status().get_untracked() == LiveStatus::Live
    })
    .await;
}

/// Opens the cache database of `namespace` as the client would (or at another `version`).
async fn open_cache_db(namespace: &str, version: u8) -> Database {
    Database::open(&format!("{namespace}-cache"))
        .with_version(version)
        .with_on_upgrade_needed(|_event, db| {
            db.create_object_store("entries").build()?;
            Ok(())
        })
        .await
        .unwrap()
}

async fn stored_keys(namespace: &str) -> Vec<String> {
    let db = open_cache_db(namespace, 1).await;
    let tx = db.transaction("entries").build().unwrap();
    let store = tx.object_store("entries").unwrap();
    let keys = store
        .get_all_keys::<String>()
        .primitive()
        .unwrap()
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(store);
    drop(tx);
    db.close();
    keys
}

#[wasm_bindgen_test]
async fn unreadable_stored_records_are_dropped_newer_ones_kept_and_good_ones_restored() {
    let case = create_case("Stored beside garbage").await;
    let namespace = unique_namespace("garbage");
    let good = PersistedEntry {
        key: QueryKey::case(case.id),
        data: QueryData::Case(case.clone()),
        etag: Some("\"1\"".to_owned()),
        fetched_at: Millis(1),
        size_bytes: 300,
    };
    let good_key = persist::storage_key(&good.key);
    let future_schema = persist::encode(&good).unwrap().replace(
        &format!("\"schema\":{}", persist::SCHEMA_VERSION),
        "\"schema\":99",
    );
    let misfiled = persist::encode(&good).unwrap();
    {
        let db = open_cache_db(&namespace, 1).await;
        let tx = db
            .transaction("entries")
            .with_mode(TransactionMode::Readwrite)
            .build()
            .unwrap();
        let store = tx.object_store("entries").unwrap();
        for (key, value) in [
            (good_key.as_str(), persist::encode(&good).unwrap()),
            (r#"["garbage"]"#, "not json at all".to_owned()),
            (r#"["future"]"#, future_schema),
            (r#"["misfiled"]"#, misfiled),
        ] {
            store
                .put(value)
                .with_key(key)
                .primitive()
                .unwrap()
                .await
                .unwrap();
        }
        drop(store);
        tx.commit().await.unwrap();
        db.close();
    }

    let id = case.id;
    let (app, (client, view)) = mount(&namespace, move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the stored case shows", 2, || {
        view.data.get_untracked().is_some()
    })
    .await;
    assert_eq!(view.data.get_untracked(), Some(case));
    assert_eq!(client.storage_error().get_untracked(), None);
    drop(app);
    // The newer casedesk's record is not ours to delete; the bad ones are gone.
    let mut expected = vec![good_key, r#"["future"]"#.to_owned()];
    expected.sort();
    let mut left = Vec::new();
    for _ in 0..50 {
        left = stored_keys(&namespace).await;
        left.sort();
        if left == expected {
            break;
        }
        sleep(20).await;
    }
    assert_eq!(left, expected);
}

#[wasm_bindgen_test]
async fn without_storage_the_app_works_from_memory_and_says_so() {
    let case = create_case("No storage").await;
    let namespace = unique_namespace("nostore");
    // A newer database than this build knows: opening it at our version fails, as it would
    // in a browser that refuses IndexedDB.
    open_cache_db(&namespace, 7).await.close();

    let id = case.id;
    let (_app, (client, view)) = mount(&namespace, move |client| {
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the case shows", 5, || view.data.get_untracked().is_some()).await;
    assert_eq!(view.data.get_untracked(), Some(case));
    assert!(client.restored().get_untracked());
    let error = client.storage_error().get_untracked();
    assert!(
        error
            .as_deref()
            .is_some_and(|e| e.contains("offline cache")),
        "{error:?}"
    );
}

#[wasm_bindgen_test]
async fn a_case_created_here_shows_at_once_and_its_confirmation_takes_over() {
    let tag = format!("created-{}", Uuid::new_v4().simple());
    let draft = new_case(&tag);
    let id = draft.id;
    let query = list_query(&tag);
    let (_app, (client, view, notes, list)) = mount(&unique_namespace("create"), move |client| {
        let view = use_case(Signal::stored(Some(id)));
        let notes = use_notes(Signal::stored(Some(id)));
        let list = use_case_list(Signal::stored(query));
        (client, view, notes, list)
    });
    wait_until("the empty list shows", 5, || {
        list.data.get_untracked().is_some()
    })
    .await;

    let create = Action::new(
        Uuid::new_v4(),
        Uuid::new_v4(),
        ActionKind::CreateCase {
            case: draft.clone(),
        },
        Millis(js_sys::Date::now() as u64),
    );
    client.set_pending(vec![create.clone()]);
    let shown = view.data.get_untracked().unwrap();
    assert_eq!((shown.title.as_str(), shown.version), (tag.as_str(), 0));
    assert_eq!(notes.data.get_untracked(), Some(Vec::new()));
    assert_eq!(list.data.get_untracked().unwrap().items[0].id, id);
    // The server does not know the case yet: its 404s are expected, not errors to show.
    wait_until("the first fetches are answered", 5, || {
        !view.is_fetching.get_untracked() && !notes.is_fetching.get_untracked()
    })
    .await;
    assert_eq!(view.error.get_untracked(), None);
    assert_eq!(notes.error.get_untracked(), None);
    assert_eq!(view.status.get_untracked(), QueryStatus::Success);

    let created = api()
        .create_case(&draft, create.idempotency_key)
        .await
        .result
        .unwrap();
    client.confirm(&create, &ServerAnswer::Case(created.clone()), Vec::new());
    assert_eq!(view.data.get_untracked(), Some(created.clone()));
    assert_eq!(view.error.get_untracked(), None);
    assert_eq!(notes.data.get_untracked(), Some(Vec::new()));
    assert_eq!(notes.error.get_untracked(), None);
    let page = list.data.get_untracked().unwrap();
    assert_eq!((page.items[0].clone(), page.total), (created, 1));
}

// ----- refetch on focus and reconnect, abort on unmount, the shared budget after a 429 -----

/// Mounts a client alone; views are then mounted and unmounted under it with [`ViewScope`].
fn mount_client(namespace: &str) -> (Mounted, (QueryClient, Owner)) {
    mount(namespace, |client| {
        // The owner that provides the client: views mounted under it find it in context.
        (client, Owner::current().unwrap())
    })
}

/// One view's reactive scope under the app's owner: a page that mounts, and unmounts when
/// [`ViewScope::unmount`] cleans it up (as the router does on navigation).
struct ViewScope(Owner);

impl ViewScope {
    fn mount<R>(app: &Owner, build: impl FnOnce() -> R) -> (Self, R) {
        let owner = app.with(Owner::new);
        let out = owner.with(build);
        (Self(owner), out)
    }

    fn unmount(self) {
        self.0.cleanup();
    }
}

/// A case view mounted in a scope of its own.
fn case_view(app: &Owner, id: Uuid) -> (ViewScope, casedesk::query::QueryView<Case>) {
    ViewScope::mount(app, move || use_case(Signal::stored(Some(id))))
}

/// Waits until the stored cache has been read (so fetches are no longer parked behind it)
/// and the live socket is open (so its first-open resync is behind us).
async fn settled(client: &QueryClient) {
    wait_until("the client is restored and live", 5, || {
        client.restored().get_untracked()
            && client.live_status().get_untracked() == LiveStatus::Live
    })
    .await;
}

fn dispatch(target: &web_sys::EventTarget, name: &str) {
    target
        .dispatch_event(&web_sys::Event::new(name).unwrap())
        .unwrap();
}

fn window_event(name: &str) {
    dispatch(web_sys::window().unwrap().as_ref(), name);
}

async fn retitle(case: &Case, title: &str) -> Case {
    api()
        .update_case(
            case.id,
            &CasePatch {
                title: Some(title.to_owned()),
                ..CasePatch::default()
            },
            case.version,
            Uuid::new_v4(),
        )
        .await
        .result
        .unwrap()
}

/// Every `fetch` the page makes while installed, seen from the browser's side: when it was
/// sent, when and how it was answered, and whether its abort signal has fired. Removed on
/// drop.
struct FetchLog(wasm_bindgen::JsValue);

/// One request as [`FetchLog`] saw it.
#[derive(Clone, Debug)]
struct SeenFetch {
    url: String,
    sent_at: f64,
    answered_at: Option<f64>,
    status: Option<u16>,
    aborted: bool,
    /// "pending", "answered", or the name of the error it failed with ("AbortError").
    outcome: String,
}

impl FetchLog {
    fn install() -> Self {
        let install = js_sys::Function::new_no_args(
            r#"
            const original = window.fetch;
            const log = [];
            window.fetch = function (input, init) {
                const url = typeof input === "string" ? input : input.url;
                const signal = (init && init.signal) || (input && input.signal);
                const seen = { url, signal, sentAt: Date.now(), answeredAt: null, status: null,
                               outcome: "pending" };
                log.push(seen);
                const answer = original.call(this, input, init);
                answer.then(
                    (r) => { seen.answeredAt = Date.now(); seen.status = r.status; seen.outcome = "answered"; },
                    (e) => { seen.outcome = (e && e.name) || "failed"; },
                );
                return answer;
            };
            return { log, undo: () => { window.fetch = original; } };
            "#,
        );
        Self(install.call0(&wasm_bindgen::JsValue::NULL).unwrap())
    }

    fn field(object: &wasm_bindgen::JsValue, name: &str) -> wasm_bindgen::JsValue {
        js_sys::Reflect::get(object, &name.into()).unwrap()
    }

    /// The API requests (not the test's own calls to `/__chaos`) whose URL contains `part`.
    fn requests(&self, part: &str) -> Vec<SeenFetch> {
        let log: js_sys::Array = Self::field(&self.0, "log").unchecked_into();
        log.iter()
            .map(|seen| SeenFetch {
                url: Self::field(&seen, "url").as_string().unwrap(),
                sent_at: Self::field(&seen, "sentAt").as_f64().unwrap(),
                answered_at: Self::field(&seen, "answeredAt").as_f64(),
                status: Self::field(&seen, "status").as_f64().map(|s| s as u16),
                aborted: {
                    let signal = Self::field(&seen, "signal");
                    !signal.is_undefined() && Self::field(&signal, "aborted").is_truthy()
                },
                outcome: Self::field(&seen, "outcome").as_string().unwrap(),
            })
            .filter(|seen| seen.url.contains("/api/v1/") && seen.url.contains(part))
            .collect()
    }
}

impl Drop for FetchLog {
    fn drop(&mut self) {
        let undo: js_sys::Function = Self::field(&self.0, "undo").unchecked_into();
        undo.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    }
}

/// Two cases on screen under one client: `fresh` observed with the default options (30 s),
/// `stale` with a 200 ms stale time. Dropping it unmounts both.
struct FreshAndStale {
    _app: Mounted,
    _scopes: (ViewScope, ViewScope),
    client: QueryClient,
    fresh_case: Case,
    stale_case: Case,
    fresh: casedesk::query::QueryView<Case>,
    stale: casedesk::query::QueryView<Case>,
}

/// Creates the two cases and mounts their views; returns once both show.
async fn fresh_and_stale(test: &str) -> FreshAndStale {
    let fresh_case = create_case(&format!("Fresh ({test})")).await;
    let stale_case = create_case(&format!("Stale ({test})")).await;
    let (app_mount, (client, app)) = mount_client(&unique_namespace(test));
    let (fresh_scope, fresh) = case_view(&app, fresh_case.id);
    client.set_default_options(QueryOptions::DEFAULT.with_stale_time(DurationMs(200)));
    let (stale_scope, stale) = case_view(&app, stale_case.id);
    settled(&client).await;
    wait_until("both cases show", 5, || {
        fresh.data.get_untracked().is_some() && stale.data.get_untracked().is_some()
    })
    .await;
    FreshAndStale {
        _app: app_mount,
        _scopes: (fresh_scope, stale_scope),
        client,
        fresh_case,
        stale_case,
        fresh,
        stale,
    }
}

#[wasm_bindgen_test]
async fn a_stale_query_refetches_when_the_window_regains_focus_and_a_fresh_one_does_not() {
    let FreshAndStale {
        _app,
        _scopes,
        client,
        fresh_case,
        stale_case,
        fresh,
        stale,
    } = fresh_and_stale("focus").await;
    let (fresh_key, stale_key) = (QueryKey::case(fresh_case.id), QueryKey::case(stale_case.id));
    assert_eq!(requests_for(&client, &fresh_key), vec![RequestOutcome::Ok]);
    assert_eq!(requests_for(&client, &stale_key), vec![RequestOutcome::Ok]);

    // Nothing refetches on its own when data turns stale: only a reason to look again does.
    sleep(300).await;
    assert!(!stale.is_fetching.get_untracked());
    assert_eq!(requests_for(&client, &stale_key).len(), 1);

    // Back to the window: the stale case revalidates at once; the fresh one is left alone.
    window_event("focus");
    assert!(stale.is_fetching.get_untracked(), "no refetch on focus");
    assert!(
        !fresh.is_fetching.get_untracked(),
        "a fresh query refetched"
    );
    wait_until("the focus refetch answers", 5, || {
        requests_for(&client, &stale_key).len() == 2
    })
    .await;
    assert_eq!(
        requests_for(&client, &stale_key),
        vec![RequestOutcome::Ok, RequestOutcome::NotModified]
    );

    // The tab becomes visible again: the same.
    sleep(300).await;
    let doc = document();
    assert_eq!(doc.visibility_state(), web_sys::VisibilityState::Visible);
    dispatch(doc.as_ref(), "visibilitychange");
    assert!(
        stale.is_fetching.get_untracked(),
        "no refetch on visibility"
    );
    wait_until("the visibility refetch answers", 5, || {
        requests_for(&client, &stale_key).len() == 3
    })
    .await;
    sleep(200).await;
    assert_eq!(
        requests_for(&client, &fresh_key),
        vec![RequestOutcome::Ok],
        "the fresh case was fetched again"
    );
    assert_eq!(stale.data.get_untracked(), Some(stale_case));
    assert_eq!(fresh.data.get_untracked(), Some(fresh_case));
}

#[wasm_bindgen_test]
async fn stale_queries_refetch_when_the_network_returns_and_show_the_new_value() {
    let FreshAndStale {
        _app,
        _scopes,
        client,
        fresh_case,
        stale_case,
        fresh,
        stale,
    } = fresh_and_stale("reconnect").await;

    // Offline (the socket closes, so no change event arrives), both change elsewhere.
    window_event("offline");
    assert_eq!(client.live_status().get_untracked(), LiveStatus::Offline);
    let stale_changed = retitle(&stale_case, "Changed while this tab was offline").await;
    let fresh_changed = retitle(&fresh_case, "Also changed while offline").await;
    sleep(300).await;
    assert_eq!(stale.data.get_untracked(), Some(stale_case.clone()));
    assert!(!stale.is_fetching.get_untracked());

    // Online: the stale query refetches in the same turn, before the socket can even reopen
    // and resync; the fresh one waits for that resync.
    window_event("online");
    assert!(stale.is_fetching.get_untracked(), "no refetch on reconnect");
    assert!(
        !fresh.is_fetching.get_untracked(),
        "a fresh query refetched"
    );
    wait_until("the stale case shows the server's new value", 3, || {
        stale.data.get_untracked().as_ref() == Some(&stale_changed)
    })
    .await;
    // And the socket's resync catches up the fresh one, which may have missed an event.
    wait_until("the fresh case catches up through the resync", 3, || {
        fresh.data.get_untracked().as_ref() == Some(&fresh_changed)
    })
    .await;
    assert_eq!(client.live_status().get_untracked(), LiveStatus::Live);
    let stale_key = QueryKey::case(stale_case.id);
    assert_eq!(
        requests_for(&client, &stale_key).first(),
        Some(&RequestOutcome::Ok)
    );
    assert!(requests_for(&client, &stale_key).len() >= 2);
}

#[wasm_bindgen_test]
async fn leaving_before_the_answer_aborts_the_request_and_a_quick_return_reuses_it() {
    let kept = create_case("Left and re-entered").await;
    let left = create_case("Left for good").await;
    let (_app, (client, app)) = mount_client(&unique_namespace("abort"));
    settled(&client).await;
    let fetches = FetchLog::install();
    set_chaos(r#"{"latency_ms":[1500,1500]}"#).await;

    // A view goes and another takes its place in the same turn (a route re-rendering):
    // the request in flight is adopted, not sent again.
    let (first, _) = case_view(&app, kept.id);
    first.unmount();
    let (_again, view) = case_view(&app, kept.id);

    // A view that goes for good: its request is aborted.
    let (gone, _) = case_view(&app, left.id);
    sleep(100).await;
    assert_eq!(fetches.requests(&left.id.to_string()).len(), 1, "sent");
    gone.unmount();

    wait_until("the re-entered view shows the case", 5, || {
        view.data.get_untracked().is_some()
    })
    .await;
    // The left case's answer would have come with the other one; give it time to show up.
    sleep(300).await;
    clear_chaos().await;
    assert_eq!(view.data.get_untracked(), Some(kept.clone()));

    let kept_requests = fetches.requests(&kept.id.to_string());
    assert_eq!(kept_requests.len(), 1, "{kept_requests:?}");
    assert_eq!(kept_requests[0].status, Some(200));
    assert!(!kept_requests[0].aborted);
    assert_eq!(
        requests_for(&client, &QueryKey::case(kept.id)),
        vec![RequestOutcome::Ok]
    );

    let left_requests = fetches.requests(&left.id.to_string());
    assert_eq!(left_requests.len(), 1, "{left_requests:?}");
    assert!(left_requests[0].aborted, "{left_requests:?}");
    assert_eq!(left_requests[0].outcome, "AbortError", "{left_requests:?}");
    // Nothing late: no answer recorded, no data cached for it.
    assert!(requests_for(&client, &QueryKey::case(left.id)).is_empty());
    assert_eq!(client.view_case(left.id), None);
}

#[wasm_bindgen_test]
async fn a_429_holds_every_query_back_for_retry_after_then_they_proceed() {
    let first = create_case("Rate limited").await;
    let second = create_case("Held back by the budget").await;
    let (_app, (client, app)) = mount_client(&unique_namespace("budget"));
    settled(&client).await;
    let fetches = FetchLog::install();
    set_chaos(r#"{"status_429_rate":1,"retry_after_s":2}"#).await;

    let (_first_scope, first_view) = case_view(&app, first.id);
    wait_until("the 429 arrives", 5, || {
        requests_for(&client, &QueryKey::case(first.id)).contains(&RequestOutcome::Failed)
    })
    .await;
    clear_chaos().await;
    // Another page opens right after: the server would answer it now, but the budget says
    // Retry-After holds for every request, not only the refused one.
    let (_second_scope, second_view) = case_view(&app, second.id);
    assert!(second_view.is_fetching.get_untracked());
    assert_eq!(first_view.error.get_untracked(), None, "a 429 is retried");

    wait_until("both cases show", 6, || {
        first_view.data.get_untracked().is_some() && second_view.data.get_untracked().is_some()
    })
    .await;
    assert_eq!(first_view.data.get_untracked(), Some(first.clone()));
    assert_eq!(second_view.data.get_untracked(), Some(second.clone()));

    let all = fetches.requests("/cases/");
    let refused = all
        .iter()
        .find(|seen| seen.status == Some(429))
        .unwrap_or_else(|| panic!("no 429 seen: {all:?}"));
    let limited_at = refused.answered_at.unwrap();
    let later: Vec<f64> = all
        .iter()
        .filter(|seen| seen.sent_at >= limited_at)
        .map(|seen| seen.sent_at - limited_at)
        .collect();
    assert_eq!(later.len(), 2, "one retry and the second page: {all:?}");
    for gap in &later {
        assert!(
            *gap >= 1_990.0,
            "a request went {gap} ms after the 429: {all:?}"
        );
        assert!(
            *gap < 3_000.0,
            "a request waited {gap} ms, long after Retry-After"
        );
    }
    assert_eq!(
        requests_for(&client, &QueryKey::case(first.id)),
        vec![RequestOutcome::Failed, RequestOutcome::Ok]
    );
    assert_eq!(
        requests_for(&client, &QueryKey::case(second.id)),
        vec![RequestOutcome::Ok]
    );
}
