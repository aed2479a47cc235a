//! The app shell in headless Chromium: the nav, the sync indicator, routing to "Not found".
//! The app acts through the test server's service token (signed in as "Service").

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::App;
use leptos::prelude::*;
use leptos::task::tick;
use support::dom::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Puts the browser at `path` and mounts the whole app there, on the test server with
/// storage of its own.
async fn mount_app_at(path: &str) -> Mounted {
    let config = support::app_config(support::api(), format!("shell-{}", uuid::Uuid::new_v4()));
    support::dom::mount_app_at(path, move || view! { <App config=config /> }).await
}

/// Waits until `condition` holds, giving the router, the reactive system and the session
/// check (one request) time to run; fails the test after ten seconds.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(10).await;
    }
    panic!("timed out waiting until {what}");
}

fn text_of(host: &Element, selector: &str) -> String {
    host.query_selector(selector)
        .unwrap()
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn nav_links_point_to_each_section() {
    let app = mount_app_at("/").await;
    let host = &app.host;
    let links = host.query_selector_all("nav a").unwrap();
    let mut found = Vec::new();
    for i in 0..links.length() {
        let link: Element = links.item(i).unwrap().unchecked_into();
        found.push((
            link.text_content().unwrap(),
            link.get_attribute("href").unwrap(),
        ));
    }
    assert_eq!(
        found,
        vec![
            ("Dashboard".to_owned(), "/".to_owned()),
            ("Cases".to_owned(), "/cases".to_owned()),
            ("Sync".to_owned(), "/sync".to_owned()),
            ("Settings".to_owned(), "/settings".to_owned()),
        ]
    );
}

#[wasm_bindgen_test]
async fn each_route_shows_its_heading() {
    for (path, heading) in [
        ("/", "Dashboard"),
        ("/cases", "Cases"),
        ("/cases/new", "New case"),
        ("/sync", "Sync"),
        ("/settings", "Settings"),
        ("/devtools", "Devtools"),
        ("/no/such/page", "Not found"),
    ] {
        let app = mount_app_at(path).await;
        wait_until(&format!("{path} shows {heading}"), || {
            text_of(&app.host, "main h1") == heading
        })
        .await;
    }
}

#[wasm_bindgen_test]
async fn clicking_a_nav_link_routes_without_reloading() {
    let app = mount_app_at("/").await;
    let host = &app.host;
    wait_until("the Dashboard shows", || {
        text_of(host, "main h1") == "Dashboard"
    })
    .await;
    let cases: HtmlElement = host
        .query_selector("nav a[href='/cases']")
        .unwrap()
        .unwrap()
        .unchecked_into();
    cases.click();
    wait_until("the Cases page shows", || {
        text_of(host, "main h1") == "Cases"
    })
    .await;
    assert_eq!(
        web_sys::window().unwrap().location().pathname().unwrap(),
        "/cases"
    );
    assert_eq!(cases.get_attribute("aria-current").as_deref(), Some("page"));
}

#[wasm_bindgen_test]
async fn sync_indicator_follows_the_network_events() {
    let app = mount_app_at("/").await;
    let host = &app.host;
    // The signed-in layout replaces the one shown while the session is read.
    wait_until("the Dashboard shows", || {
        text_of(host, "main h1") == "Dashboard"
    })
    .await;
    let indicator = host
        .query_selector("[data-testid='sync-status']")
        .unwrap()
        .unwrap();
    let navigator_online = web_sys::window().unwrap().navigator().on_line();
    assert_eq!(
        indicator.get_attribute("data-online").as_deref(),
        Some(navigator_online.to_string().as_str())
    );
    assert_eq!(
        indicator.get_attribute("data-pending").as_deref(),
        Some("0")
    );
    assert_eq!(indicator.get_attribute("data-dead").as_deref(), Some("0"));

    let window = web_sys::window().unwrap();
    window
        .dispatch_event(&web_sys::Event::new("offline").unwrap())
        .unwrap();
    tick().await;
    assert_eq!(
        indicator.get_attribute("data-online").as_deref(),
        Some("false")
    );
    assert!(indicator.text_content().unwrap().contains("Offline"));

    window
        .dispatch_event(&web_sys::Event::new("online").unwrap())
        .unwrap();
    tick().await;
    assert_eq!(
        indicator.get_attribute("data-online").as_deref(),
        Some("true")
    );
}

#[wasm_bindgen_test]
async fn the_alert_region_is_present_for_announcements() {
    let app = mount_app_at("/").await;
    let host = &app.host;
    assert!(host.query_selector("[role='alert']").unwrap().is_some());
}
