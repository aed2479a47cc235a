//! The whole app given several API origins (docs/api.md §5), against real servers:
//! `scripts/lib/browser-tests` runs the test server on P+1, a second server on the same SQLite
//! file on P+2 (its change events reach only its own sockets, which shows where the app's
//! socket is), and leaves P+3 free, an origin where nothing listens.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::{ApiClient, Fetched};
use casedesk::components::alert_region::provide_alerts;
use casedesk::offline::OfflineQueue;
use casedesk::platform::env::{Environment, ManualClock, WindowEvents};
use casedesk::query::provide_query_client_with;
use casedesk::App;
use casedesk_core::diagnostics::RequestOutcome;
use casedesk_core::Millis;
use casedesk_model::{Case, CasePatch, CaseStatus};
use leptos::prelude::*;
use std::rc::Rc;
use support::dom::*;
use support::{api, api_origin, SERVICE_TOKEN};
use support::{create_case, new_case};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The runner's port plus `offset`: the servers `scripts/lib/browser-tests` placed there.
fn origin_at(offset: u16) -> String {
    let port: u16 = window().location().port().unwrap().parse().unwrap();
    format!("http://127.0.0.1:{}", port + offset)
}

/// The second server, on the first one's database.
fn second_origin() -> String {
    origin_at(2)
}

/// A free port: nothing listens there.
fn nowhere_origin() -> String {
    origin_at(3)
}

/// `method /__chaos` on the server at `origin` (loopback only, outside `/api/v1`).
async fn chaos_at(origin: &str, method: &str, body: Option<&str>) {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&wasm_bindgen::JsValue::from_str(body));
        let headers = web_sys::Headers::new().unwrap();
        headers.set("Content-Type", "application/json").unwrap();
        init.set_headers(&headers);
    }
    let request =
        web_sys::Request::new_with_str_and_init(&format!("{origin}/__chaos"), &init).unwrap();
    let response: web_sys::Response =
        wasm_bindgen_futures::JsFuture::from(window().fetch_with_request(&request))
            .await
            .unwrap()
            .unchecked_into();
    assert!(
        response.ok(),
        "{method} {origin}/__chaos: {}",
        response.status()
    );
}

async fn server_case(id: Uuid) -> Case {
    match api().get_case(id, None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("an unconditional GET answered 304"),
    }
}

/// Renames `case` through the server at `origin`, as another person there would.
async fn rename_through(origin: &str, case: &Case, title: &str) {
    let other = ApiClient::new(origin).with_token(Some(SERVICE_TOKEN.to_owned()));
    let patch = CasePatch {
        title: Some(title.to_owned()),
        ..CasePatch::default()
    };
    other
        .update_case(case.id, &patch, case.version, Uuid::new_v4())
        .await
        .result
        .unwrap();
}

/// Mounts the whole app at the page of `case`, given `api`, and waits for its title.
async fn open_case_with(api: ApiClient, case: &Case) -> Mounted {
    let config = support::app_config(api, format!("origins-{}", Uuid::new_v4()));
    let app = mount_app_at(&format!("/cases/{}", case.id), move || {
        view! { <App config=config /> }
    })
    .await;
    support::wait_until("the case's title is the heading", 30, || {
        app.text("main h1") == case.title
    })
    .await;
    app
}

fn heading(app: &Mounted) -> String {
    app.text("main h1")
}

/// Opens the Sync page through the nav and returns the origin it names.
async fn origin_on_the_sync_page(app: &Mounted) -> String {
    app.link("Sync").unwrap().click();
    support::wait_until("the Sync page", 10, || heading(app) == "Sync").await;
    app.text("[data-testid='api-origin']")
}

#[wasm_bindgen_test]
async fn with_nothing_listening_at_the_first_origin_reads_a_write_and_the_socket_reach_the_second()
{
    let case = create_case("Origins: nothing listens at the first").await;
    let client = ApiClient::with_origins(vec![nowhere_origin(), api_origin()])
        .with_token(Some(SERVICE_TOKEN.to_owned()));
    // The read reached the second origin (the first refuses every connection).
    let app = open_case_with(client, &case).await;

    // A change made here is queued and reaches the server.
    let status = app.labelled("Status");
    status
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value("resolved");
    fire(&status, "change");
    let mut landed = false;
    for _ in 0..300 {
        if server_case(case.id).await.status == CaseStatus::Resolved {
            landed = true;
            break;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    assert!(landed, "the status change reached the server");

    // The live socket is on the second origin too: a change made there shows here.
    let current = server_case(case.id).await;
    rename_through(
        &api_origin(),
        &current,
        "Origins: renamed on the server in use",
    )
    .await;
    support::wait_until("the change made on the server shows live", 30, || {
        heading(&app) == "Origins: renamed on the server in use"
    })
    .await;

    assert_eq!(origin_on_the_sync_page(&app).await, api_origin());
}

#[wasm_bindgen_test]
async fn back_on_the_preferred_origin_the_live_socket_follows() {
    let preferred = second_origin();
    // The preferred server fails every API request (its socket would still open).
    chaos_at(&preferred, "PUT", Some(r#"{"fail_rate":1.0}"#)).await;
    let case = create_case("Origins: the socket follows").await;
    let client = ApiClient::with_origins(vec![preferred.clone(), api_origin()])
        .with_token(Some(SERVICE_TOKEN.to_owned()));
    let in_use = client.origin_in_use();
    let app = open_case_with(client, &case).await;
    assert_eq!(
        in_use.get_untracked(),
        api_origin(),
        "moved off the failing server"
    );
    // The socket may have opened on the preferred server (chaos spares sockets): it moved
    // with the requests, so a change made on the server in use shows live.
    rename_through(
        &api_origin(),
        &case,
        "Origins: renamed on the server in use",
    )
    .await;
    support::wait_until(
        "the change made on the server in use shows live",
        30,
        || heading(&app) == "Origins: renamed on the server in use",
    )
    .await;

    // The preferred server recovers: its health check passes after its rest, and the app
    // (requests and socket) goes back to it.
    chaos_at(&preferred, "DELETE", None).await;
    support::wait_until("the app is back on the preferred server", 60, || {
        in_use.get_untracked() == preferred
    })
    .await;

    // A change made through the preferred server reaches only sockets open on it (these two
    // servers share a SQLite file, not their events): it shows here only if the socket
    // followed the app back.
    let current = server_case(case.id).await;
    rename_through(
        &preferred,
        &current,
        "Origins: renamed on the preferred server",
    )
    .await;
    support::wait_until(
        "the change made on the preferred server shows live",
        30,
        || heading(&app) == "Origins: renamed on the preferred server",
    )
    .await;
    assert_eq!(origin_on_the_sync_page(&app).await, preferred);
}

#[wasm_bindgen_test]
async fn a_change_waiting_out_the_backoff_of_a_failing_server_goes_at_once_when_the_app_moves() {
    let preferred = second_origin();
    // The preferred server fails every API request, its health check included.
    chaos_at(&preferred, "PUT", Some(r#"{"fail_rate":1.0}"#)).await;
    let api = ApiClient::with_origins(vec![preferred.clone(), api_origin()])
        .with_token(Some(SERVICE_TOKEN.to_owned()));
    let in_use = api.origin_in_use();
    let config = support::app_config(api, format!("origins-{}", Uuid::new_v4()));
    // Backoffs of ten minutes on a clock only the test moves (it never does): the change can
    // reach the server within the test only if the move to the other server makes it due.
    let clock = ManualClock::new(Millis(1_000_000_000));
    let env = Environment::manual(clock, WindowEvents::manual(true));
    let (_mounted, (client, queue)) = mount_in_env(env, move |env| {
        let client = provide_query_client_with(&config, env.clone());
        provide_alerts();
        let options = support::backoffs_of_minutes(10);
        let queue = OfflineQueue::start_with(&config, env, Rc::new(client), options);
        (client, queue)
    });
    queue.ready().await;

    let id = queue
        .create_case(new_case("Origins: the queue follows the move"))
        .await
        .unwrap();
    support::wait_until("the app moved to the working server", 30, || {
        in_use.get_untracked() == api_origin()
    })
    .await;
    support::wait_until("the creation is confirmed by the other server", 30, || {
        queue.pending_count().get_untracked() == 0
    })
    .await;
    assert_eq!(
        server_case(id).await.title,
        "Origins: the queue follows the move"
    );
    // It was sent to the failing server first (the queue's requests are logged with the
    // queries'), so it did wait out a backoff there before the move.
    let outcomes: Vec<RequestOutcome> = client.request_log().iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes.first(),
        Some(&RequestOutcome::Failed),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.last(), Some(&RequestOutcome::Ok), "{outcomes:?}");
    chaos_at(&preferred, "DELETE", None).await;
}
