//! The pages against the real reference server (started by `scripts/lib/browser-tests`):
//! the whole app is mounted at a path with its own storage namespace, and each test does
//! what a person does (pick a filter, submit a form, change a status) and checks what they
//! see. Cases are made through the API with a unique word in the title, and each test looks
//! only at its own, so the tests share one server without seeing each other.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::Fetched;
use casedesk::App;
use casedesk_model::{Case, CasePatch, CaseStatus, NewCase, NewNote, Priority};
use js_sys::Reflect;
use leptos::prelude::*;
use leptos::task::tick;
use support::api;
use support::dom::*;
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Lee Chen's id: a demo person of every new server database.
const LEE: &str = "01900000-0000-7000-8000-00000000d004";

/// Puts the browser at `path` and mounts the whole app there with storage of its own.
async fn mount_app_at(path: &str) -> Mounted {
    let config = support::app_config(api(), format!("pages-{}", Uuid::new_v4()));
    let app = support::dom::mount_app_at(path, move || view! { <App config=config /> }).await;
    // The app first reads who is signed in (the service token's "Service"), then that
    // person's stored cache, then shows the pages.
    support::wait_until(
        "the app knows who is signed in and shows the page",
        10,
        || app.exists("[data-testid='current-user']") && !app.exists("main .opening"),
    )
    .await;
    app
}

/// Waits until `condition` holds; on timeout, fails with what the page shows, to see why.
async fn wait_until(what: &str, seconds: u32, mut condition: impl FnMut() -> bool) {
    for _ in 0..seconds * 50 {
        if condition() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    let document = window().document().unwrap();
    let main = document
        .query_selector("body > div:last-of-type main")
        .ok()
        .flatten()
        .map(|m| m.inner_html())
        .unwrap_or_default();
    let alerts = document
        .query_selector(".alert-region")
        .ok()
        .flatten()
        .and_then(|a| a.text_content())
        .unwrap_or_default();
    let (path, search) = location();
    let shown: String = main.chars().take(3000).collect();
    panic!("timed out after {seconds} s waiting until {what}\nat {path}{search}\nalerts: {alerts}\nmain: {shown}");
}

impl Mounted {
    fn heading(&self) -> String {
        self.text("main h1")
    }

    fn rows(&self) -> Vec<Element> {
        self.all("[data-testid='case-row']")
    }

    fn row(&self, id: Uuid) -> Option<Element> {
        self.query(&format!("[data-testid='case-row'][data-case-id='{id}']"))
    }
}

fn choose(select: &Element, value: &str) {
    select
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value(value);
    fire(select, "change");
}

fn value_of(control: &Element) -> String {
    Reflect::get(control, &"value".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

fn location() -> (String, String) {
    let location = window().location();
    (location.pathname().unwrap(), location.search().unwrap())
}

/// Tells the app the network went away or came back (the queue stops and resumes sending).
fn set_online(online: bool) {
    let kind = if online { "online" } else { "offline" };
    window()
        .dispatch_event(&web_sys::Event::new(kind).unwrap())
        .unwrap();
}

/// A word no other test uses, to find this test's cases by search.
fn unique_word() -> String {
    format!("zq{}", &Uuid::new_v4().simple().to_string()[..10])
}

async fn create(title: &str, status: CaseStatus, priority: Priority) -> Case {
    let draft = NewCase {
        id: Uuid::now_v7(),
        title: title.to_owned(),
        description: "made by tests/pages.rs".to_owned(),
        status,
        priority,
        assignee: None,
        tags: vec![],
    };
    api()
        .create_case(&draft, Uuid::new_v4())
        .await
        .result
        .unwrap()
}

/// Opens the page of `case` and waits until its title is the heading.
async fn open_case(case: &Case) -> Mounted {
    let app = mount_app_at(&format!("/cases/{}", case.id)).await;
    wait_until("the case's title is the heading", 10, || {
        app.heading() == case.title
    })
    .await;
    app
}

async fn server_case(id: Uuid) -> Case {
    match api().get_case(id, None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("an unconditional GET answered 304"),
    }
}

// ---------------------------------------------------------------- dashboard

#[wasm_bindgen_test]
async fn dashboard_shows_the_servers_counts_in_cards_and_charts() {
    // Another case so the numbers are not all zero, whatever ran before.
    create(
        &format!("Dashboard {}", unique_word()),
        CaseStatus::InProgress,
        Priority::Critical,
    )
    .await;
    let Fetched::Fresh { data: metrics, .. } = api().metrics(None, None).await.result.unwrap()
    else {
        panic!("metrics answered 304");
    };
    let app = mount_app_at("/").await;
    assert_eq!(app.heading(), "Dashboard");
    let counts = metrics.by_status;
    wait_until("the open card shows the count", 10, || {
        app.text("[data-testid='metric-open']")
            .contains(&counts.open.to_string())
            && app.query("[data-testid='metric-open'] .skeleton").is_none()
    })
    .await;
    for (testid, n) in [
        ("metric-in-progress", counts.in_progress),
        ("metric-resolved", counts.resolved),
        ("metric-closed", counts.closed),
    ] {
        let text = app.text(&format!("[data-testid='{testid}']"));
        assert!(
            text.contains(&n.to_string()),
            "{testid} says {text}, not {n}"
        );
    }
    let labels: Vec<String> = app
        .all("svg[role='img']")
        .iter()
        .filter_map(|svg| svg.get_attribute("aria-label"))
        .collect();
    assert_eq!(labels.len(), 3, "three charts: {labels:?}");
    assert_eq!(
        labels[0],
        format!(
            "Cases by status: {} open, {} in progress, {} resolved, {} closed",
            counts.open, counts.in_progress, counts.resolved, counts.closed
        )
    );
    let p = metrics.by_priority;
    assert_eq!(
        labels[1],
        format!(
            "Cases by priority: {} low, {} medium, {} high, {} critical",
            p.low, p.medium, p.high, p.critical
        )
    );
    let opened: u64 = metrics.opened_per_day.iter().map(|d| d.count).sum();
    assert!(
        labels[2].contains(&format!("{opened} opened")),
        "{}",
        labels[2]
    );
    assert!(app
        .text("[data-testid='metric-mean-time-to-resolve']")
        .contains("Mean time to resolve"));
}

#[wasm_bindgen_test]
async fn the_dashboard_counts_a_case_created_offline_at_once() {
    let app = mount_app_at("/").await;
    let open_count = || {
        app.query("[data-testid='metric-open'] .metric-value")
            .and_then(|v| v.text_content())
            .and_then(|t| t.trim().parse::<u64>().ok())
    };
    wait_until("the open count", 10, || open_count().is_some()).await;
    let before = open_count().unwrap();

    app.link("Cases").unwrap().click();
    wait_until("the list", 5, || app.heading() == "Cases").await;
    app.link("New case").unwrap().click();
    wait_until("the form", 5, || app.heading() == "New case").await;
    set_online(false);
    type_into(
        &app.labelled("Title"),
        &format!("{} counted offline", unique_word()),
    );
    app.button("Create case").unwrap().click();
    wait_until("the new case", 10, || {
        app.query("[data-sync='pending']").is_some()
    })
    .await;
    app.link("Dashboard").unwrap().click();
    wait_until("the dashboard counts it while offline", 10, || {
        app.heading() == "Dashboard" && open_count() == Some(before + 1)
    })
    .await;
    set_online(true);
    wait_until("saved, still counted", 15, || {
        app.find("[data-testid='sync-status']")
            .get_attribute("data-pending")
            .as_deref()
            == Some("0")
            && open_count() == Some(before + 1)
    })
    .await;
}

// ---------------------------------------------------------------- case list

#[wasm_bindgen_test]
async fn the_case_list_filters_through_the_url_and_back_undoes_it() {
    let word = unique_word();
    let open = create(
        &format!("{word} printer jams"),
        CaseStatus::Open,
        Priority::High,
    )
    .await;
    let resolved = create(
        &format!("{word} toner low"),
        CaseStatus::Resolved,
        Priority::Low,
    )
    .await;
    let closed = create(
        &format!("{word} paper tray"),
        CaseStatus::Closed,
        Priority::High,
    )
    .await;

    let app = mount_app_at(&format!("/cases?q={word}")).await;
    assert_eq!(app.heading(), "Cases");
    assert!(app.link("New case").is_some());
    wait_until("the three cases are listed", 10, || app.rows().len() == 3).await;
    assert_eq!(value_of(&app.labelled("Search")), word);
    for case in [&open, &resolved, &closed] {
        let row = app.row(case.id).expect("a row per case");
        assert_eq!(row.get_attribute("data-sync").as_deref(), Some("synced"));
    }

    choose(&app.labelled("Status"), "resolved");
    wait_until("only the resolved case is left", 10, || {
        app.rows().len() == 1 && app.row(resolved.id).is_some()
    })
    .await;
    let (path, search) = location();
    assert_eq!(path, "/cases");
    assert!(
        search.contains("status=resolved") && search.contains(&format!("q={word}")),
        "{search}"
    );

    choose(&app.labelled("Priority"), "high");
    wait_until("no case is both resolved and high", 10, || {
        app.rows().is_empty() && app.text(".empty-state").contains("No cases match")
    })
    .await;
    assert!(location().1.contains("priority=high"));

    // Back undoes the priority, then the status; the selects follow the address.
    window().history().unwrap().back().unwrap();
    wait_until("back to the resolved filter", 10, || {
        app.row(resolved.id).is_some()
    })
    .await;
    assert_eq!(value_of(&app.labelled("Priority")), "");
    assert_eq!(value_of(&app.labelled("Status")), "resolved");
    window().history().unwrap().back().unwrap();
    wait_until("back to all three", 10, || app.rows().len() == 3).await;
    assert_eq!(value_of(&app.labelled("Status")), "");
}

#[wasm_bindgen_test]
async fn searching_waits_for_a_pause_then_updates_the_address() {
    let word = unique_word();
    let case = create(
        &format!("{word} projector"),
        CaseStatus::Open,
        Priority::Medium,
    )
    .await;
    let app = mount_app_at("/cases").await;
    wait_until("the list loads", 10, || {
        !app.rows().is_empty() || app.query(".empty-state").is_some()
    })
    .await;
    let search = app.labelled("Search");
    type_into(&search, &word[..4]);
    type_into(&search, &word);
    // Not at once: the search runs after a pause in typing.
    assert!(!location().1.contains("q="));
    wait_until("the address carries the search", 5, || {
        location().1 == format!("?q={word}")
    })
    .await;
    wait_until("the case is found", 10, || {
        app.rows().len() == 1 && app.row(case.id).is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn pages_of_the_list_are_links_in_the_address() {
    let word = unique_word();
    for n in 0..3 {
        create(&format!("{word} case {n}"), CaseStatus::Open, Priority::Low).await;
    }
    let app = mount_app_at(&format!("/cases?q={word}&per_page=2")).await;
    wait_until("the first page", 10, || app.rows().len() == 2).await;
    assert!(
        app.text(".pagination").contains("Page 1 of 2"),
        "{}",
        app.text(".pagination")
    );
    app.link("Next").expect("a Next link").click();
    wait_until("the second page", 10, || app.rows().len() == 1).await;
    assert!(location().1.contains("page=2"));
    assert!(app.text(".pagination").contains("Page 2 of 2"));
}

#[wasm_bindgen_test]
async fn changing_status_inline_shows_at_once_and_reaches_the_server() {
    let word = unique_word();
    let case = create(
        &format!("{word} badge reader"),
        CaseStatus::Open,
        Priority::Medium,
    )
    .await;
    let app = mount_app_at(&format!("/cases?q={word}")).await;
    wait_until("the row", 10, || app.row(case.id).is_some()).await;
    let row = app.row(case.id).unwrap();
    let select = row.query_selector("select").unwrap().unwrap();
    assert_eq!(value_of(&select), "open");
    // Offline, so the optimistic state lasts long enough to be seen.
    set_online(false);
    choose(&select, "in_progress");
    wait_until("the row shows the change, pending", 5, || {
        app.row(case.id).is_some_and(|r| {
            r.get_attribute("data-sync").as_deref() == Some("pending")
                && r.query_selector("select.status-in_progress")
                    .unwrap()
                    .is_some()
        })
    })
    .await;
    set_online(true);
    wait_until("the change reaches the server", 10, || {
        app.row(case.id)
            .is_some_and(|r| r.get_attribute("data-sync").as_deref() == Some("synced"))
    })
    .await;
    assert_eq!(value_of(&select), "in_progress");
    assert_eq!(server_case(case.id).await.status, CaseStatus::InProgress);
    // The row was updated in place: a keyboard user's focus is still on its menu.
    select.unchecked_ref::<HtmlElement>().focus().unwrap();
    choose(&select, "resolved");
    wait_until("the second change is saved", 10, || {
        app.row(case.id)
            .is_some_and(|r| r.get_attribute("data-sync").as_deref() == Some("synced"))
            && app.row(case.id).is_some_and(|r| {
                r.query_selector("select.status-resolved")
                    .unwrap()
                    .is_some()
            })
    })
    .await;
    let focused = window().document().unwrap().active_element();
    assert_eq!(
        focused.as_ref(),
        Some(&select),
        "the focus left the row's status menu"
    );
}

#[wasm_bindgen_test]
async fn several_rows_change_priority_at_once() {
    let word = unique_word();
    let a = create(&format!("{word} one"), CaseStatus::Open, Priority::Low).await;
    let b = create(&format!("{word} two"), CaseStatus::Open, Priority::Low).await;
    let app = mount_app_at(&format!("/cases?q={word}")).await;
    wait_until("both rows", 10, || app.rows().len() == 2).await;
    let select_all = app.find("thead input[type='checkbox']");
    select_all.unchecked_ref::<HtmlElement>().click();
    wait_until("the bulk bar", 5, || {
        app.text(".bulk-count") == "2 selected"
    })
    .await;
    choose(&app.find("#bulk-change"), "priority:critical");
    tick().await;
    app.button("Apply").expect("Apply").click();
    wait_until("both rows are critical and saved", 10, || {
        app.all(".badge.priority-critical").len() == 2
            && app
                .rows()
                .iter()
                .all(|r| r.get_attribute("data-sync").as_deref() == Some("synced"))
    })
    .await;
    assert_eq!(server_case(a.id).await.priority, Priority::Critical);
    assert_eq!(server_case(b.id).await.priority, Priority::Critical);
}

#[wasm_bindgen_test]
async fn the_list_says_when_it_cannot_load_and_tries_again() {
    let word = unique_word();
    let case = create(
        &format!("{word} unreadable"),
        CaseStatus::Open,
        Priority::Low,
    )
    .await;
    // Signed in first (the app asks who it is), then every answer is unreadable, which is
    // final at once (no retries to wait out), and the person goes to the list.
    let app = mount_app_at("/settings").await;
    support::set_chaos(r#"{"corrupt":"invalid_json"}"#).await;
    let window = window();
    window
        .history()
        .unwrap()
        .push_state_with_url(&JsValue::NULL, "", Some(&format!("/cases?q={word}")))
        .unwrap();
    window
        .dispatch_event(&web_sys::Event::new("popstate").unwrap())
        .unwrap();
    wait_until("the error state", 10, || {
        app.text(".error-state").contains("could not be loaded")
    })
    .await;
    support::clear_chaos().await;
    app.button("Try again").expect("a Try again button").click();
    wait_until("the list after trying again", 10, || {
        app.row(case.id).is_some()
    })
    .await;
    assert!(app.query(".error-state").is_none());
}

// ---------------------------------------------------------------- new case

#[wasm_bindgen_test]
async fn a_new_case_made_offline_shows_pending_then_synced() {
    let word = unique_word();
    let title = format!("{word} made offline");
    let app = mount_app_at("/cases/new").await;
    assert_eq!(app.heading(), "New case");

    // Refused in the browser first, with the server's wording, next to the field.
    app.button("Create case").unwrap().click();
    wait_until("the title's error", 5, || {
        app.text("#case-title-error") == "Title is required."
    })
    .await;
    assert_eq!(location().0, "/cases/new");

    set_online(false);
    type_into(&app.labelled("Title"), &title);
    type_into(&app.labelled("Description"), "Typed with no network.");
    choose(&app.labelled("Priority"), "high");
    app.button("Create case").unwrap().click();
    wait_until("the page moves to the new case", 10, || {
        location().0.starts_with("/cases/0")
    })
    .await;
    let id = Uuid::parse_str(location().0.trim_start_matches("/cases/")).unwrap();
    wait_until("the case shows, pending", 10, || {
        app.heading() == title && app.query("[data-sync='pending']").is_some()
    })
    .await;
    assert!(app.text("[data-testid='sync-status']").contains("Offline"));

    set_online(true);
    wait_until("it reaches the server", 15, || {
        app.query("[data-sync='pending']").is_none()
            && app
                .find("[data-testid='sync-status']")
                .get_attribute("data-pending")
                .as_deref()
                == Some("0")
    })
    .await;
    let saved = server_case(id).await;
    assert_eq!(saved.title, title);
    assert_eq!(saved.priority, Priority::High);

    app.link("← Cases").unwrap().click();
    wait_until("the list", 10, || app.heading() == "Cases").await;
    type_into(&app.labelled("Search"), &word);
    wait_until("its row, synced", 10, || {
        app.row(id)
            .is_some_and(|r| r.get_attribute("data-sync").as_deref() == Some("synced"))
    })
    .await;
}

// ---------------------------------------------------------------- case detail

#[wasm_bindgen_test]
async fn case_detail_edits_status_and_lists_notes_oldest_first() {
    let word = unique_word();
    let case = create(
        &format!("{word} laptop fan"),
        CaseStatus::Open,
        Priority::Medium,
    )
    .await;
    for body in ["First look: dusty.", "Ordered a new fan."] {
        let note = NewNote {
            id: Uuid::now_v7(),
            body: body.to_owned(),
            author: Some("dana".to_owned()),
        };
        api()
            .add_note(case.id, &note, Uuid::new_v4())
            .await
            .result
            .unwrap();
    }
    let app = open_case(&case).await;
    wait_until("the notes", 10, || app.all(".note").len() == 2).await;

    choose(&app.labelled("Status"), "resolved");
    wait_until("the status is saved", 10, || {
        app.query(".field-sync").is_none()
            && app.query(".case-badges .badge.status-resolved").is_some()
    })
    .await;
    assert_eq!(server_case(case.id).await.status, CaseStatus::Resolved);

    // The assignee is picked from the server's people (and "Unassigned"); text fields save
    // when left (`change`); the description with its own button.
    wait_until("the people to assign", 10, || {
        app.labelled("Assignee").tag_name() == "SELECT"
            && app.all("#case-assignee option").len() > 1
    })
    .await;
    let assignee = app.labelled("Assignee");
    let options: Vec<String> = app
        .all("#case-assignee option")
        .iter()
        .map(|o| o.text_content().unwrap_or_default())
        .collect();
    assert_eq!(options[0], "Unassigned");
    assert!(options.contains(&"Lee Chen".to_owned()), "{options:?}");
    choose(&assignee, LEE);
    let tags = app.labelled("Tags");
    type_into(&tags, "hardware, fan");
    fire(&tags, "change");
    type_into(&app.labelled("Description"), "Fan rattles under load.");
    wait_until("the save button", 5, || {
        app.button("Save description").is_some()
    })
    .await;
    app.button("Save description").unwrap().click();
    // The text stays until the change is queued; then the button goes and the change shows
    // as saving until the server has it.
    wait_until("the description is queued", 10, || {
        app.button("Save description").is_none()
    })
    .await;
    assert_eq!(
        app.labelled("Description")
            .unchecked_into::<web_sys::HtmlTextAreaElement>()
            .value(),
        "Fan rattles under load.",
        "the person's text never flashes back to the old one"
    );
    wait_until("all three are saved", 10, || {
        app.query(".field-sync").is_none()
    })
    .await;
    let mut saved = server_case(case.id).await;
    for _ in 0..250 {
        if saved.description == "Fan rattles under load." {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
        saved = server_case(case.id).await;
    }
    assert_eq!(saved.assignee.as_deref(), Some(LEE));
    assert_eq!(saved.tags, vec!["hardware".to_owned(), "fan".to_owned()]);
    assert_eq!(saved.description, "Fan rattles under load.");
    // A tag over 40 characters is refused next to the field, with the server's words.
    type_into(&tags, &"t".repeat(41));
    fire(&tags, "change");
    wait_until("the tag's error", 5, || {
        app.text("#case-tags-error")
            .contains("at most 40 characters")
    })
    .await;
    assert_eq!(tags.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(server_case(case.id).await.tags.len(), 2);

    // An empty note is refused next to the field.
    app.button("Add note").unwrap().click();
    wait_until("the note's error", 5, || {
        app.text("#note-body-error") == "Note cannot be empty."
    })
    .await;
    type_into(&app.labelled("Note"), "Fan replaced, running quiet.");
    app.button("Add note").unwrap().click();
    wait_until("three notes, the new one last", 10, || {
        let notes = app.all(".note-body");
        notes.len() == 3 && notes[2].text_content().unwrap() == "Fan replaced, running quiet."
    })
    .await;
    let bodies: Vec<String> = app
        .all(".note-body")
        .iter()
        .map(|n| n.text_content().unwrap())
        .collect();
    assert_eq!(bodies[0], "First look: dusty.");
    assert_eq!(bodies[1], "Ordered a new fan.");
    assert_eq!(value_of(&app.labelled("Note")), "");
}

#[wasm_bindgen_test]
async fn the_title_is_edited_in_place_and_a_blank_one_is_refused() {
    let word = unique_word();
    let case = create(
        &format!("{word} printer jams"),
        CaseStatus::Open,
        Priority::Medium,
    )
    .await;
    let app = open_case(&case).await;

    app.button("Edit title").unwrap().click();
    settle().await;
    let field = app.labelled("Title");
    assert_eq!(value_of(&field), case.title);
    wait_until("the field takes the focus", 2, || {
        window().document().unwrap().active_element().as_ref() == Some(&field)
    })
    .await;
    // A blank title is refused next to the field, which stays open.
    type_into(&field, "   ");
    app.button("Save title").unwrap().click();
    wait_until("the title's error", 5, || {
        app.text("#case-title-error") == "Title is required."
    })
    .await;
    assert_eq!(field.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(app.heading(), case.title);
    // Escape puts the title back as it was.
    fire_with(
        &field,
        "KeyboardEvent",
        "keydown",
        &[("key", "Escape".into())],
    );
    wait_until("the field closes", 5, || app.button("Edit title").is_some()).await;
    assert!(!app.exists("#case-title"));
    assert_eq!(app.heading(), case.title);

    // Saved: the heading changes at once, and the server gets the title trimmed.
    app.button("Edit title").unwrap().click();
    settle().await;
    let renamed = format!("{word} printer on floor 3 jams");
    type_into(&app.labelled("Title"), &format!("  {renamed} "));
    app.button("Save title").unwrap().click();
    wait_until("the heading shows the new title", 5, || {
        app.heading() == renamed
    })
    .await;
    wait_until("the title is saved", 10, || {
        app.query(".field-sync").is_none()
    })
    .await;
    assert_eq!(server_case(case.id).await.title, renamed);
}

#[wasm_bindgen_test]
async fn an_unknown_case_says_it_does_not_exist() {
    let app = mount_app_at(&format!("/cases/{}", Uuid::new_v4())).await;
    wait_until("the 404 page", 10, || {
        app.heading() == "This case does not exist"
    })
    .await;
    assert_eq!(
        app.link("Back to cases")
            .unwrap()
            .get_attribute("href")
            .as_deref(),
        Some("/cases")
    );
    let app2 = {
        drop(app);
        mount_app_at("/cases/not-a-uuid").await
    };
    wait_until("the 404 page for a bad id", 5, || {
        app2.heading() == "This case does not exist"
    })
    .await;
}

#[wasm_bindgen_test]
async fn offline_a_case_never_opened_here_says_so_then_opens_when_back_online() {
    let word = unique_word();
    let case = create(
        &format!("{word} never opened here"),
        CaseStatus::Open,
        Priority::Low,
    )
    .await;
    let app = mount_app_at("/sync").await;
    wait_until("the Sync page", 10, || app.heading() == "Sync").await;

    set_online(false);
    // Follow a link the way the router does (the app stays mounted, its cache in memory).
    window()
        .history()
        .unwrap()
        .push_state_with_url(&JsValue::NULL, "", Some(&format!("/cases/{}", case.id)))
        .unwrap();
    window()
        .dispatch_event(&web_sys::Event::new("popstate").unwrap())
        .unwrap();
    wait_until("the page says the case is not on this device", 5, || {
        app.heading() == "This case is not on this device yet"
    })
    .await;
    assert!(app.link("Back to cases").is_some());

    set_online(true);
    wait_until("the case opens by itself", 10, || {
        app.heading() == case.title
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_title_with_markup_shows_as_text() {
    let word = unique_word();
    let title = format!("<img src=x onerror=alert(1)> {word}");
    let case = create(&title, CaseStatus::Open, Priority::Low).await;
    let app = open_case(&case).await;
    assert!(app.query("img").is_none());
    drop(app);
    let app = mount_app_at(&format!("/cases?q={word}")).await;
    wait_until("the row", 10, || app.row(case.id).is_some()).await;
    assert_eq!(app.text(".case-link"), title);
    assert!(app.query("img").is_none());
}

#[wasm_bindgen_test]
async fn a_conflict_shows_both_versions_and_keep_mine_wins() {
    let word = unique_word();
    let case = create(
        &format!("{word} shared printer"),
        CaseStatus::Open,
        Priority::Medium,
    )
    .await;
    let app = open_case(&case).await;

    // My change waits while offline; meanwhile someone else closes the case.
    set_online(false);
    choose(&app.labelled("Status"), "resolved");
    wait_until("my change is pending", 5, || {
        app.query(".field-sync[data-sync='pending']").is_some()
    })
    .await;
    let theirs = CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    };
    api()
        .update_case(case.id, &theirs, case.version, Uuid::new_v4())
        .await
        .result
        .unwrap();
    set_online(true);

    wait_until("the conflict panel", 15, || {
        app.query("[data-testid='conflict-panel']").is_some()
    })
    .await;
    let row = app.find("[data-testid='conflict-panel'] tr[data-field='Status']");
    assert_eq!(
        row.query_selector(".conflict-mine")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Resolved"
    );
    assert_eq!(
        row.query_selector(".conflict-theirs")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Closed"
    );
    assert!(app.button("Use theirs").is_some());
    app.button("Keep mine").unwrap().click();
    wait_until("the panel goes and mine is saved", 15, || {
        app.query("[data-testid='conflict-panel']").is_none()
            && app.query(".field-sync").is_none()
            && value_of(&app.labelled("Status")) == "resolved"
    })
    .await;
    assert_eq!(server_case(case.id).await.status, CaseStatus::Resolved);
}

// ---------------------------------------------------------------- sync page

#[wasm_bindgen_test]
async fn the_sync_page_lists_pending_changes_and_connection_health() {
    let word = unique_word();
    let case = create(
        &format!("{word} sync page"),
        CaseStatus::Open,
        Priority::Low,
    )
    .await;
    let app = open_case(&case).await;
    set_online(false);
    choose(&app.labelled("Priority"), "high");
    app.link("Sync").unwrap().click();
    wait_until("the Sync page", 5, || app.heading() == "Sync").await;
    wait_until("the pending change", 5, || {
        app.all("[data-testid='pending-action']").len() == 1
    })
    .await;
    assert!(app
        .text("[data-testid='pending-action']")
        .contains(&case.title));
    assert_eq!(app.text("[data-testid='health-online']"), "Offline");
    for label in ["Network", "Live updates", "Last sync", "Latency"] {
        assert!(app
            .text("[data-testid='connection-health']")
            .contains(label));
    }
    assert!(app.query("[data-testid='diag-cache']").is_some());
    assert!(app
        .query("[data-testid='diag-queue-depth'] svg[role='img']")
        .is_some());
    app.button("Export").expect("an Export button").click();
    tick().await;
    assert!(
        !app.text(".alert-region").contains("export"),
        "{}",
        app.text(".alert-region")
    );

    set_online(true);
    wait_until("nothing waits any more", 15, || {
        app.all("[data-testid='pending-action']").is_empty()
    })
    .await;
    assert_eq!(app.text("[data-testid='health-online']"), "Online");
    assert_eq!(server_case(case.id).await.priority, Priority::High);
}

#[wasm_bindgen_test]
async fn a_refused_change_is_a_dead_letter_with_retry_and_discard() {
    let word = unique_word();
    let case = create(&format!("{word} refused"), CaseStatus::Open, Priority::Low).await;
    let app = open_case(&case).await;
    // Deleted behind the app's back: its edit will be refused (404, permanent).
    set_online(false);
    choose(&app.labelled("Priority"), "critical");
    api()
        .delete_case(case.id, Uuid::new_v4())
        .await
        .result
        .unwrap();
    set_online(true);
    app.link("Sync").unwrap().click();
    wait_until("a dead letter", 15, || {
        app.all("[data-testid='dead-letter']").len() == 1
    })
    .await;
    let dead = app.find("[data-testid='dead-letter']");
    assert!(dead.text_content().unwrap().contains(&case.title));
    let indicator = app.find("[data-testid='sync-status']");
    assert_eq!(indicator.get_attribute("data-dead").as_deref(), Some("1"));
    assert!(app.button("Retry").is_some());
    app.button("Discard").unwrap().click();
    wait_until("it is gone", 5, || {
        app.all("[data-testid='dead-letter']").is_empty()
    })
    .await;
    assert_eq!(indicator.get_attribute("data-dead").as_deref(), Some("0"));
}
