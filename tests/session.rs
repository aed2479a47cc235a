//! People on the device (docs/api.md §4) against the real reference server, which runs with
//! people on and the demo people (password `casedesk-demo`): signing in through the form,
//! signing out (the token revoked on the server, the cached cases gone from IndexedDB), and a
//! session that ends while changes are being sent.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::{ApiError, Fetched};
use casedesk::app::person_namespace;
use casedesk::App;
use casedesk_core::Failure;
use casedesk_model::{CaseStatus, HistoryKind};
use leptos::prelude::*;
use support::dom::*;
use support::{anonymous_api, api, wait_until, DEMO_PASSWORD};
use uuid::Uuid;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(inline_js = "
export async function stored_token(namespace) {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open(namespace + '-session');
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  try {
    if (!db.objectStoreNames.contains('session')) return null;
    const value = await new Promise((ok, fail) => {
      const r = db.transaction('session').objectStore('session').get('current');
      r.onsuccess = () => ok(r.result);
      r.onerror = () => fail(r.error);
    });
    return value ? JSON.parse(value).token : null;
  } finally {
    db.close();
  }
}
export async function database_names() {
  return (await indexedDB.databases()).map((d) => d.name);
}
export function local_storage_text() {
  let all = '';
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    all += k + '=' + localStorage.getItem(k) + '\\n';
  }
  return all + document.cookie;
}
")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn stored_token(namespace: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    async fn database_names() -> Result<JsValue, JsValue>;
    fn local_storage_text() -> String;
}

/// Dana Reyes and Sam Okafor, demo people of every new server database (`server/src/people.rs`).
const DANA: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d001);
const SAM: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_d002);

/// Mounts the whole app at `path` with no credentials and storage of its own.
async fn mount_signed_out_at(path: &str, namespace: &str) -> Mounted {
    let config = support::app_config(anonymous_api(), namespace.to_owned());
    mount_app_at(path, move || view! { <App config=config /> }).await
}

fn location() -> String {
    let location = window().location();
    format!(
        "{}{}",
        location.pathname().unwrap(),
        location.search().unwrap()
    )
}

async fn sign_in_through_the_form(app: &Mounted, email: &str, password: &str) {
    wait_until("the sign-in form", 10, || {
        app.button("Sign in").is_some() && app.query("#sign-in-email").is_some()
    })
    .await;
    type_into(&app.labelled("Email"), email);
    type_into(&app.labelled("Password"), password);
    app.button("Sign in").unwrap().click();
}

async fn names_of_databases() -> Vec<String> {
    let names = database_names().await.unwrap();
    js_sys::Array::from(&names)
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

async fn token_of(namespace: &str) -> Option<String> {
    stored_token(namespace).await.unwrap().as_string()
}

/// `GET /me` with `token`: the server's word on whether it is still good.
async fn status_of_token(token: &str) -> u16 {
    let client = anonymous_api().with_token(Some(token.to_owned()));
    match client.me(None).await.result {
        Ok(_) => 200,
        Err(ApiError::Failed(Failure::Http { status, .. })) => status,
        Err(other) => panic!("GET /me failed without an answer: {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn signing_in_goes_back_to_where_the_person_was_and_signing_out_revokes_the_token() {
    let namespace = format!("session-{}", Uuid::new_v4());
    let app = mount_signed_out_at("/cases?status=open", &namespace).await;

    // Signed out, every page asks to sign in, remembering where the person was.
    wait_until("the sign-in page", 10, || {
        app.text("main h1") == "Sign in" && location().starts_with("/sign-in?next=")
    })
    .await;

    // A wrong password is refused in the alert region, and nothing is stored.
    sign_in_through_the_form(&app, "dana@example.com", "not-the-password").await;
    wait_until("the refusal is announced", 15, || {
        app.text("[role='alert']")
            .contains("The email or the password is not right.")
    })
    .await;
    assert_eq!(token_of(&namespace).await, None);

    sign_in_through_the_form(&app, "dana@example.com", DEMO_PASSWORD).await;
    wait_until("Dana is signed in, back on the case list", 15, || {
        app.text("[data-testid='current-user']") == "Dana Reyes" && app.text("main h1") == "Cases"
    })
    .await;
    assert_eq!(location(), "/cases?status=open");
    assert!(app.button("Sign out").is_some());

    // The token is in IndexedDB, and nowhere a script-readable cookie or localStorage holds.
    let token = token_of(&namespace).await.expect("the token is stored");
    assert!(!local_storage_text().contains(&token));
    assert_eq!(status_of_token(&token).await, 200);
    // The case list was fetched and cached for Dana.
    let cache = format!("{}-cache", person_namespace(&namespace, DANA));
    wait_until("Dana's cache database exists", 10, || true).await;
    assert!(names_of_databases().await.contains(&cache));

    app.button("Sign out").unwrap().click();
    wait_until("the sign-in page again", 10, || {
        app.text("main h1") == "Sign in" && app.query("[data-testid='current-user']").is_none()
    })
    .await;
    // The server revoked the token, the device forgot it, and Dana's cached cases are gone.
    assert_eq!(status_of_token(&token).await, 401);
    assert_eq!(token_of(&namespace).await, None);
    let mut gone = false;
    for _ in 0..250 {
        if !names_of_databases().await.contains(&cache) {
            gone = true;
            break;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    assert!(gone, "Dana's cached case data left the device");
}

#[wasm_bindgen_test]
async fn a_session_that_ends_mid_drain_resumes_after_signing_in_again_sending_each_change_once() {
    let namespace = format!("session-{}", Uuid::new_v4());
    let app = mount_signed_out_at("/cases/new", &namespace).await;
    sign_in_through_the_form(&app, "sam@example.com", DEMO_PASSWORD).await;
    wait_until("Sam is signed in on the new-case form", 15, || {
        app.text("[data-testid='current-user']") == "Sam Okafor"
            && app.text("main h1") == "New case"
    })
    .await;

    // The session ends on the server (signed out elsewhere) while Sam keeps working.
    let token = token_of(&namespace).await.expect("the token is stored");
    let revoked = anonymous_api()
        .with_token(Some(token.clone()))
        .sign_out()
        .await;
    assert!(revoked.result.is_ok(), "DELETE /session: {revoked:?}");

    let title = format!(
        "zq{} session ends",
        &Uuid::new_v4().simple().to_string()[..10]
    );
    type_into(&app.labelled("Title"), &title);
    app.button("Create case").unwrap().click();
    wait_until(
        "the sign-in form shows in place of the lost session",
        15,
        || app.query(".session-ended").is_some() && app.text("main h1") == title,
    )
    .await;
    let id: Uuid = location()
        .trim_start_matches("/cases/")
        .parse()
        .expect("the case page's address holds its id");

    // More changes while the session is gone: they wait on the device.
    choose(&app.labelled("Status"), "in_progress");
    type_into(&app.labelled("Note"), "Written while signed out.");
    app.button("Add note").unwrap().click();
    wait_until("three changes wait", 10, || {
        app.find("[data-testid='sync-status']")
            .get_attribute("data-pending")
            .as_deref()
            == Some("3")
    })
    .await;

    // Sam signs in again in place: the queue goes on where it stopped.
    sign_in_through_the_form(&app, "sam@example.com", DEMO_PASSWORD).await;
    wait_until("every change is saved", 30, || {
        app.query(".session-ended").is_none()
            && app
                .find("[data-testid='sync-status']")
                .get_attribute("data-pending")
                .as_deref()
                == Some("0")
    })
    .await;

    // Each change reached the server once, under Sam's name.
    let case = match api().get_case(id, None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("an unconditional GET answered 304"),
    };
    assert_eq!(case.status, CaseStatus::InProgress);
    assert_eq!(case.version, 2, "created once, changed once");
    let notes = match api().list_notes(id, None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("304"),
    };
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].author_id, Some(SAM));
    let history = match api().case_history(id, None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("304"),
    };
    let kinds: Vec<HistoryKind> = history.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        vec![
            HistoryKind::Created,
            HistoryKind::Updated,
            HistoryKind::NoteAdded
        ]
    );
    assert!(history.iter().all(|h| h.actor_id == Some(SAM)));
}

fn choose(select: &web_sys::Element, value: &str) {
    use wasm_bindgen::JsCast;
    select
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value(value);
    fire(select, "change");
}

/// Reads the case titled `title` from the server (through the service token), if it is there.
async fn case_titled(title: &str) -> Option<casedesk_model::Case> {
    let query = casedesk_model::CaseListQuery {
        q: Some(title.to_owned()),
        ..casedesk_model::CaseListQuery::default()
    };
    match api().list_cases(&query, None, None).await.result {
        Ok(Fetched::Fresh { data, .. }) => data.items.into_iter().find(|c| c.title == title),
        other => panic!("GET /cases failed: {other:?}"),
    }
}

fn pending_count(app: &Mounted) -> Option<String> {
    app.query("[data-testid='sync-status']")
        .and_then(|s| s.get_attribute("data-pending"))
}

#[wasm_bindgen_test]
async fn a_session_taken_over_by_another_person_sends_none_of_the_first_persons_changes() {
    let namespace = format!("session-{}", Uuid::new_v4());
    let app = mount_signed_out_at("/cases/new", &namespace).await;
    sign_in_through_the_form(&app, "sam@example.com", DEMO_PASSWORD).await;
    wait_until("Sam is signed in on the new-case form", 15, || {
        app.text("[data-testid='current-user']") == "Sam Okafor"
            && app.text("main h1") == "New case"
    })
    .await;

    // Sam's session ends on the server; his new case waits on the device.
    let token = token_of(&namespace).await.expect("the token is stored");
    let revoked = anonymous_api().with_token(Some(token)).sign_out().await;
    assert!(revoked.result.is_ok(), "DELETE /session: {revoked:?}");
    let title = format!(
        "zq{} taken over",
        &Uuid::new_v4().simple().to_string()[..10]
    );
    type_into(&app.labelled("Title"), &title);
    app.button("Create case").unwrap().click();
    wait_until("the sign-in form shows in place", 15, || {
        app.query(".session-ended").is_some() && app.text("main h1") == title
    })
    .await;

    // Dana signs in on that form: Sam's change is held for him, shown to her as a count.
    sign_in_through_the_form(&app, "dana@example.com", DEMO_PASSWORD).await;
    wait_until("Dana is signed in", 15, || {
        app.text("[data-testid='current-user']") == "Dana Reyes"
    })
    .await;
    app.link("Sync").unwrap().click();
    wait_until("Sam's change is held, counted", 15, || {
        app.query("[data-testid='held-actions']")
            .and_then(|h| h.get_attribute("data-count"))
            .as_deref()
            == Some("1")
    })
    .await;
    assert!(!app.text("main").contains(&title), "no content of Sam's");
    assert_eq!(pending_count(&app).as_deref(), Some("0"));

    // Sam signs in again: his change goes, as his. Had it gone under Dana's session, the
    // server would hold it as hers (the resend replays the first answer).
    app.button("Sign out").unwrap().click();
    sign_in_through_the_form(&app, "sam@example.com", DEMO_PASSWORD).await;
    wait_until("Sam is signed in again", 15, || {
        app.text("[data-testid='current-user']") == "Sam Okafor"
    })
    .await;
    let mut saved = None;
    for _ in 0..300 {
        saved = case_titled(&title).await;
        if saved.is_some() {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(100).await;
    }
    let case = saved.expect("Sam's case reaches the server");
    assert_eq!(case.created_by, Some(SAM), "created under Sam's session");
}

#[wasm_bindgen_test]
async fn a_tab_signed_in_as_another_person_hears_nothing_of_the_persons_changes() {
    use casedesk::platform::broadcast::Channel;
    use std::cell::RefCell;
    use std::rc::Rc;

    let namespace = format!("session-{}", Uuid::new_v4());
    // What a tab of the device hears on the shared channel and on Sam's; and, to show the
    // listening works, on Dana's own.
    let heard = |name: String| {
        let texts = Rc::new(RefCell::new(Vec::<String>::new()));
        let sink = Rc::clone(&texts);
        let channel = Channel::open(&name, move |text| sink.borrow_mut().push(text)).unwrap();
        (channel, texts)
    };
    let (_shared, on_shared) = heard(format!("{namespace}-sync"));
    let (_sams, on_sams) = heard(format!("{namespace}-{SAM}-sync"));
    let (_danas, on_danas) = heard(format!("{namespace}-{DANA}-sync"));

    let app = mount_signed_out_at("/cases/new", &namespace).await;
    sign_in_through_the_form(&app, "dana@example.com", DEMO_PASSWORD).await;
    wait_until("Dana is signed in on the new-case form", 15, || {
        app.text("[data-testid='current-user']") == "Dana Reyes"
            && app.text("main h1") == "New case"
    })
    .await;
    let title = format!("zq{} heard", &Uuid::new_v4().simple().to_string()[..10]);
    type_into(&app.labelled("Title"), &title);
    app.button("Create case").unwrap().click();
    wait_until(
        "Dana's own tabs hear of her case, and of its saving",
        15,
        || {
            on_danas
                .borrow()
                .iter()
                .filter(|t| t.contains(&title))
                .count()
                >= 2
                && pending_count(&app).as_deref() == Some("0")
        },
    )
    .await;
    for (name, texts) in [("the shared channel", &on_shared), ("Sam's", &on_sams)] {
        assert!(
            !texts.borrow().iter().any(|t| t.contains(&title)),
            "{name} carried Dana's change"
        );
    }
}
