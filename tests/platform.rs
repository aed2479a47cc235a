//! The environment the glue is given once (`platform::env`), in headless Chromium against the
//! real reference server: a test's manual clock and window events reach the query client and
//! the queue through it, so time-driven behaviour is tested without waiting for time; and the
//! one IndexedDB adapter's typed errors, as the cache reports them.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::components::alert_region::provide_alerts;
use casedesk::config::AppConfig;
use casedesk::offline::{OfflineOptions, OfflineQueue};
use casedesk::platform::env::{Environment, ManualClock, WindowEvent, WindowEvents};
use casedesk::query::{provide_query_client_with, use_case, QueryClient};
use casedesk_core::diagnostics::RequestOutcome;
use casedesk_core::inspect::KeyFilter;
use casedesk_core::{ActionState, Clock, DurationMs, Millis, QueryKey, QueryOptions};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use leptos::prelude::*;
use std::rc::Rc;
use support::dom::{mount_in_env, settle};
use support::{api, clear_chaos, set_chaos, wait_until};
use support::{create_case, new_case};
use uuid::Uuid;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A reading far from the browser's own clock, so nothing passes by accident of real time.
const START: Millis = Millis(1_000_000_000);

fn config(test: &str) -> AppConfig {
    support::app_config(
        api(),
        format!("platform-{test}-{}", Uuid::new_v4().simple()),
    )
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

fn is_stale(client: &QueryClient, key: &QueryKey) -> bool {
    client
        .cache_rows(&KeyFilter::default())
        .into_iter()
        .find(|row| &row.key == key)
        .is_some_and(|row| row.stale)
}

#[wasm_bindgen_test]
async fn a_query_goes_stale_when_the_manual_clock_passes_its_stale_time() {
    let case = create_case("Fresh until the clock moves").await;
    let id = case.id;
    let key = QueryKey::case(id);
    let clock = ManualClock::new(START);
    let window = WindowEvents::manual(true);
    let env = Environment::manual(clock.clone(), window.clone());
    let config = config("stale");
    let (_mounted, (client, view)) = mount_in_env(env, move |env| {
        let client = provide_query_client_with(&config, env);
        (client, use_case(Signal::stored(Some(id))))
    });
    wait_until("the case shows", 5, || view.data.get_untracked().is_some()).await;
    wait_until("the fetch is recorded", 5, || {
        requests_for(&client, &key).len() == 1
    })
    .await;

    // Just before the stale time the data is fresh: regaining the focus fetches nothing.
    // (The server's data stays as it is: a change there would come over the live socket.)
    clock.advance(DurationMs(QueryOptions::DEFAULT_STALE_TIME.0 - 1));
    assert!(!is_stale(&client, &key), "fresh until its stale time");
    window.emit(WindowEvent::Focused);
    assert!(
        !view.is_fetching.get_untracked(),
        "a fresh query is not refetched on focus"
    );

    // Past it, the same focus revalidates at once (a 304: nothing changed).
    clock.advance(DurationMs(2));
    assert!(
        is_stale(&client, &key),
        "stale once the clock passed its stale time"
    );
    window.emit(WindowEvent::Focused);
    assert!(
        view.is_fetching.get_untracked(),
        "a stale query is refetched on focus"
    );
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

#[wasm_bindgen_test]
async fn the_queue_reads_time_and_the_network_from_its_environment() {
    let clock = ManualClock::new(START);
    let window = WindowEvents::manual(true);
    let env = Environment::manual(clock.clone(), window.clone());
    let config = config("queue");
    let (_mounted, (client, queue)) = mount_in_env(env, move |env| {
        let client = provide_query_client_with(&config, env.clone());
        provide_alerts();
        let queue =
            OfflineQueue::start_with(&config, env, Rc::new(client), OfflineOptions::default());
        (client, queue)
    });
    queue.ready().await;

    // The environment says offline (the browser does not): the queue believes it.
    window.emit(WindowEvent::Offline);
    settle().await;
    assert!(
        !queue.status().get_untracked().online,
        "the queue follows its environment"
    );

    let id = queue
        .create_case(new_case("Queued at the test's time"))
        .await
        .unwrap();
    let records = queue.records().get_untracked();
    let record = records
        .iter()
        .find(|r| r.action.case_id() == id)
        .expect("the creation is queued");
    assert_eq!(
        record.action.created_at, START,
        "stamped by the environment's clock"
    );
    assert_eq!(record.state, ActionState::Pending);
    assert!(
        client.view_case(id).is_some(),
        "shown at once through the overlay"
    );

    // Back online in the environment: the queue sends it, and the server has it.
    window.emit(WindowEvent::Online);
    wait_until("the creation is confirmed", 10, || {
        queue.pending_count().get_untracked() == 0
    })
    .await;
    let fetched = api().get_case(id, None, None).await.result.unwrap();
    assert!(
        matches!(fetched, casedesk::api::Fetched::Fresh { data, .. } if data.title == "Queued at the test's time")
    );
}

#[wasm_bindgen_test]
async fn the_cache_names_why_indexeddb_refused_in_the_shared_adapters_words() {
    // A newer casedesk left the cache database at a version this build does not know.
    let config = config("newer");
    let name = format!("{}-cache", config.storage_namespace);
    Database::open(&name)
        .with_version(7u32)
        .with_on_upgrade_needed(|_event, db| {
            db.create_object_store("entries").build()?;
            Ok(())
        })
        .await
        .unwrap()
        .close();

    let (_mounted, client) = mount_in_env(Environment::browser(), move |env| {
        provide_query_client_with(&config, env)
    });
    wait_until("the cache gives up on storage", 5, || {
        client.restored().get_untracked()
    })
    .await;
    assert_eq!(
        client.storage_error().get_untracked().as_deref(),
        Some(
            "the offline cache could not be opened (this device holds changes saved by a \
             newer version of casedesk, which this version cannot read)"
        )
    );
}

#[wasm_bindgen_test]
async fn a_retry_backoff_is_waited_out_on_the_environments_clock() {
    let clock = ManualClock::new(START);
    let window = WindowEvents::manual(true);
    let env = Environment::manual(clock.clone(), window.clone());
    let config = config("backoff");
    let (_mounted, queue) = mount_in_env(env, move |env| {
        let client = provide_query_client_with(&config, env.clone());
        provide_alerts();
        // Backoffs of minutes: only the test's clock can get through one within the test.
        let options = support::backoffs_of_minutes(10);
        OfflineQueue::start_with(&config, env, Rc::new(client), options)
    });
    queue.ready().await;

    // The server fails everything: the creation is tried, fails, and waits out a backoff.
    set_chaos(r#"{"fail_rate":1.0}"#).await;
    let id = queue
        .create_case(new_case("Sent after the backoff"))
        .await
        .unwrap();
    let backoff_until = |queue: &OfflineQueue| {
        queue.records().with_untracked(|records| {
            records
                .iter()
                .find(|r| r.action.case_id() == id && r.attempts > 0)
                .filter(|r| r.state == ActionState::Pending && r.next_attempt_at > clock.now())
                .map(|r| r.next_attempt_at)
        })
    };
    wait_until("the creation fails and waits", 10, || {
        backoff_until(&queue).is_some()
    })
    .await;
    clear_chaos().await;
    let until = backoff_until(&queue).unwrap();

    // The server is well again, but the backoff runs on the test's clock: moving it past
    // the next attempt's time sends the creation at once.
    clock.advance(until.since(clock.now()));
    wait_until("the creation is confirmed", 10, || {
        queue.pending_count().get_untracked() == 0
    })
    .await;
    let fetched = api().get_case(id, None, None).await.result.unwrap();
    assert!(matches!(fetched, casedesk::api::Fetched::Fresh { .. }));
}
