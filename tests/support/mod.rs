//! What browser tests share: where the reference server is, waiting for the DOM, and (in
//! [`dom`]) mounting views and acting on them.
//!
//! `scripts/lib/browser-tests` starts the test runner on port P and a fresh reference server
//! on P+1 with CORS open to the runner's origin, so the API's address follows from the page's.
//!
//! Each test file declares this module `pub mod support;`: its public items are an interface
//! that every file uses a part of, and as a private module each file would report the parts it
//! does not use as dead code. Its private items are still checked.

pub mod dom;

use casedesk::api::ApiClient;
use casedesk::config::AppConfig;
use casedesk::offline::OfflineOptions;
use casedesk_core::retry::RetryPolicy;
use casedesk_core::{DurationMs, QueueConfig};
use casedesk_model::{Case, CaseStatus, NewCase, Priority};
use uuid::Uuid;

/// The origin of the reference server started for this test run.
pub fn api_origin() -> String {
    let location = web_sys::window().unwrap().location();
    let port: u16 = location.port().unwrap().parse().unwrap();
    format!("http://127.0.0.1:{}", port + 1)
}

/// The service token `scripts/lib/browser-tests` gives the server: requests with it act as
/// the person "Service" (docs/api.md §4), so tests not about people need no sign-in.
pub const SERVICE_TOKEN: &str = "casedesk-browser-tests-service-token";

/// The password of the demo people the test server has (`dana@example.com`, …).
pub const DEMO_PASSWORD: &str = "casedesk-demo";

/// A client for the test server, acting through the service token.
pub fn api() -> ApiClient {
    ApiClient::new(&api_origin()).with_token(Some(SERVICE_TOKEN.to_owned()))
}

/// The app's configuration in a test: the test server through `api`, stored state under
/// `namespace`, and no offline shell (the runner's page is the test runner, not the app).
pub fn app_config(api: ApiClient, namespace: impl Into<String>) -> AppConfig {
    AppConfig {
        api,
        storage_namespace: namespace.into(),
        offline_shell: false,
    }
}

/// A client for the test server with no credentials (as a signed-out app starts).
pub fn anonymous_api() -> ApiClient {
    ApiClient::new(&api_origin())
}

/// Waits until `condition` holds, giving the reactive system and the network time to work;
/// fails the test after `seconds`.
pub async fn wait_until(what: &str, seconds: u32, mut condition: impl FnMut() -> bool) {
    for _ in 0..seconds * 50 {
        if condition() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("timed out after {seconds} s waiting until {what}");
}

/// Sets the server's fault injection (`PUT /__chaos`), e.g. `{"fail_rate":1.0}`.
pub async fn set_chaos(json: &str) {
    let init = web_sys::RequestInit::new();
    init.set_method("PUT");
    init.set_body(&wasm_bindgen::JsValue::from_str(json));
    let headers = web_sys::Headers::new().unwrap();
    headers.set("Content-Type", "application/json").unwrap();
    init.set_headers(&headers);
    let url = format!("{}/__chaos", api_origin());
    let request = web_sys::Request::new_with_str_and_init(&url, &init).unwrap();
    let response: web_sys::Response = wasm_bindgen_futures::JsFuture::from(
        web_sys::window().unwrap().fetch_with_request(&request),
    )
    .await
    .unwrap()
    .into();
    assert!(
        response.ok(),
        "PUT /__chaos {json} answered {}",
        response.status()
    );
}

/// Turns every fault off (`DELETE /__chaos`): every setting, including those a later server
/// adds, so one test file's faults never leak into the next (they share one server).
pub async fn clear_chaos() {
    let init = web_sys::RequestInit::new();
    init.set_method("DELETE");
    let url = format!("{}/__chaos", api_origin());
    let request = web_sys::Request::new_with_str_and_init(&url, &init).unwrap();
    let response: web_sys::Response = wasm_bindgen_futures::JsFuture::from(
        web_sys::window().unwrap().fetch_with_request(&request),
    )
    .await
    .unwrap()
    .into();
    assert!(
        response.ok(),
        "DELETE /__chaos answered {}",
        response.status()
    );
}

/// Queue options whose every retry waits `minutes`: under a test's manual clock, which only
/// the test moves, an action that failed is sent again only if something makes it due.
pub fn backoffs_of_minutes(minutes: u64) -> OfflineOptions {
    OfflineOptions {
        queue: QueueConfig {
            retry: RetryPolicy {
                base: DurationMs::from_mins(minutes),
                cap: DurationMs::from_mins(minutes),
                max_attempts: None,
            },
            ..QueueConfig::default()
        },
        sender: None,
    }
}

/// A new open, medium-priority case titled `title`, with a fresh UUIDv7.
pub fn new_case(title: &str) -> NewCase {
    NewCase {
        id: Uuid::now_v7(),
        title: title.to_owned(),
        description: "made by a browser test".to_owned(),
        status: CaseStatus::Open,
        priority: Priority::Medium,
        assignee: None,
        tags: vec![],
    }
}

/// Creates [`new_case`] `title` on the server, as the service account.
pub async fn create_case(title: &str) -> Case {
    api()
        .create_case(&new_case(title), Uuid::new_v4())
        .await
        .result
        .unwrap()
}
