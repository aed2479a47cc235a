//! The query layer in headless Chromium against the real reference server: fetching and
//! caching, revalidation with 304, shared requests, retries, typed errors, the optimistic
//! overlay and its rollback, confirmation without flicker, restore from IndexedDB, and live
//! updates over the WebSocket.

#![cfg(target_arch = "wasm32")]

mod support;

use casedesk::app::AppConfig;
use casedesk::query::{provide_query_client, use_case, QueryClient};
use casedesk_core::diagnostics::RequestOutcome;
use casedesk_core::{QueryKey, QueryStatus};
use casedesk_model::{Case, CaseStatus, NewCase, Priority};
use leptos::mount::mount_to;
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use support::{api, wait_until};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlElement;

wasm_bindgen_test_configure!(run_in_browser);

/// A query client (and whatever the test builds with it) mounted under its own owner.
/// Dropping it cleans the owner up (unobserving, closing the socket, writing the cache)
/// and removes the element.
struct Mounted {
    host: web_sys::Element,
    owner: Owner,
    handle: Option<Box<dyn std::any::Any>>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.handle.take();
        self.owner.cleanup();
        self.host.remove();
    }
}

fn config(namespace: &str) -> AppConfig {
    AppConfig {
        api: api(),
        storage_namespace: namespace.to_owned(),
    }
}

fn unique_namespace(test: &str) -> String {
    format!("casedesk-test-{test}-{}", Uuid::new_v4())
}

/// Mounts a client for `namespace` and runs `build` inside it (to call hooks); returns what
/// `build` returned.
fn mount<R: 'static>(
    namespace: &str,
    build: impl FnOnce(QueryClient) -> R + 'static,
) -> (Mounted, R) {
    let document = web_sys::window().unwrap().document().unwrap();
    let host = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&host).unwrap();
    let owner = Owner::new();
    let config = config(namespace);
    let out: Rc<RefCell<Option<R>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let handle = owner.with(|| {
        mount_to(host.clone().unchecked_into::<HtmlElement>(), move || {
            let client = provide_query_client(&config);
            *slot.borrow_mut() = Some(build(client));
        })
    });
    let result = out.borrow_mut().take().unwrap();
    (
        Mounted {
            host,
            owner,
            handle: Some(Box::new(handle)),
        },
        result,
    )
}

fn new_case(title: &str) -> NewCase {
    NewCase {
        id: Uuid::now_v7(),
        title: title.to_owned(),
        description: "made by tests/query.rs".to_owned(),
        status: CaseStatus::Open,
        priority: Priority::Medium,
        assignee: None,
        tags: vec![],
    }
}

async fn create(title: &str) -> Case {
    api()
        .create_case(&new_case(title), Uuid::new_v4())
        .await
        .result
        .unwrap()
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
    let case = create("Fetch and cache").await;
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
