//! The shared components in headless Chromium, fed plain data (no server): charts, metric
//! cards, badges, dates, the new-case form and the conflict panel. Each test asserts what a
//! person (or a screen reader) gets: labels, numbers, messages next to the right field.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::components::alert_region::{
    provide_alerts_with, AlertLifetimes, AlertRegion, Alerts,
};
use casedesk::components::badges::{PriorityBadge, StatusBadge, SyncBadge};
use casedesk::components::case_form::{parse_tags, CaseForm};
use casedesk::components::charts::bar_chart::{Bar, BarChart};
use casedesk::components::charts::day_series::DaySeriesChart;
use casedesk::components::charts::sparkline::Sparkline;
use casedesk::components::conflict_panel::ConflictPanel;
use casedesk::components::local_time::{format_day, format_relative, LocalTime};
use casedesk::components::metric_card::{format_hours, MeanTimeToResolveCard, MetricCard};
use casedesk_core::merge::{CaseField, ConflictChoice, FieldConflict, FieldValue, Side};
use casedesk_core::SyncState;
use casedesk_model::{CaseStatus, DayCount, FieldErrors, NewCase, Priority, Timestamp};
use leptos::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use support::dom::*;
use support::wait_until;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts `view` at a realistic width (so charts measure something like a card on a laptop),
/// with the app's stylesheet, and lets it render.
async fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> Mounted {
    use_app_stylesheet();
    let mounted = mount_view(Some("width: 640px"), view);
    settle().await;
    mounted
}

fn press(target: &Element, key: &str) {
    fire_with(
        target,
        "KeyboardEvent",
        "keydown",
        &[("key", JsValue::from_str(key))],
    );
}

fn focus(target: &Element) {
    target
        .unchecked_ref::<web_sys::SvgElement>()
        .focus()
        .unwrap();
}

fn status_bars(open: u64, in_progress: u64, resolved: u64, closed: u64) -> Vec<Bar> {
    [
        ("status-open", "Open", open),
        ("status-in_progress", "In progress", in_progress),
        ("status-resolved", "Resolved", resolved),
        ("status-closed", "Closed", closed),
    ]
    .into_iter()
    .map(|(tone, label, value)| Bar {
        tone,
        label: label.to_owned(),
        value,
    })
    .collect()
}

fn series(counts: &[u64]) -> Vec<DayCount> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &count)| DayCount {
            date: format!("2026-11-{:02}", i + 1),
            count,
        })
        .collect()
}

// ---------------------------------------------------------------- charts

#[wasm_bindgen_test]
async fn bar_chart_summarises_its_numbers_in_the_aria_label() {
    let app = mount(|| {
        view! { <BarChart title="Cases by status" bars=Some(status_bars(12, 5, 30, 80)) /> }
    })
    .await;
    let svg = app.find("svg[role='img']");
    assert_eq!(
        svg.get_attribute("aria-label").as_deref(),
        Some("Cases by status: 12 open, 5 in progress, 30 resolved, 80 closed")
    );
    // Each value is written above its bar, each label under it.
    let values: Vec<String> = app
        .all(".chart-value")
        .iter()
        .map(|t| t.text_content().unwrap())
        .collect();
    assert_eq!(values, ["12", "5", "30", "80"]);
    let labels: Vec<String> = app
        .all(".chart-axis-label")
        .iter()
        .map(|t| t.text_content().unwrap())
        .collect();
    assert_eq!(labels, ["Open", "In progress", "Resolved", "Closed"]);
    // The tallest bar is the largest value.
    let height = |i: usize| {
        app.all(".chart-bar-rect")[i]
            .get_attribute("height")
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(height(3) > height(2) && height(2) > height(0) && height(0) > height(1));
    // Screen readers that browse tables get the same numbers.
    let rows = app.all("table.chart-data tbody tr");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1].text_content().unwrap(), "In progress5");
    assert_eq!(app.text(".chart-readout"), "Total: 127 cases");
}

#[wasm_bindgen_test]
async fn bar_chart_reads_out_a_bar_on_focus_and_on_hover() {
    let app = mount(|| {
        view! { <BarChart title="Cases by status" bars=Some(status_bars(12, 5, 30, 80)) /> }
    })
    .await;
    let bars = app.all(".chart-bar");
    assert!(bars
        .iter()
        .all(|b| b.get_attribute("tabindex").as_deref() == Some("0")));
    assert!(app.all(".chart-bar title")[0]
        .text_content()
        .unwrap()
        .contains("Open: 12"));

    focus(&bars[0]);
    settle().await;
    assert_eq!(app.text(".chart-readout"), "Open: 12 cases (9 %)");
    assert!(bars[0].class_list().contains("active"));

    fire_with(&bars[2], "MouseEvent", "mouseenter", &[]);
    settle().await;
    assert_eq!(app.text(".chart-readout"), "Resolved: 30 cases (24 %)");
    fire_with(&bars[2], "MouseEvent", "mouseleave", &[]);
    settle().await;
    assert_eq!(app.text(".chart-readout"), "Total: 127 cases");
}

#[wasm_bindgen_test]
async fn bar_chart_keeps_its_height_from_placeholder_to_data() {
    let bars = RwSignal::new(None::<Vec<Bar>>);
    let app = mount(move || view! { <BarChart title="Cases by priority" bars=bars /> }).await;
    assert!(!app.exists("svg"));
    assert!(app.exists(".skeleton"));
    assert_eq!(app.text(".chart-readout"), "Loading…");
    let figure: HtmlElement = app.find("figure").unchecked_into();
    let before = figure.offset_height();

    bars.set(Some(vec![Bar {
        tone: "priority-low",
        label: "Low".into(),
        value: 0,
    }]));
    settle().await;
    assert!(app.exists("svg[role='img']"));
    assert_eq!(figure.offset_height(), before, "the chart moved the page");
    assert_eq!(
        app.find("svg").get_attribute("aria-label").as_deref(),
        Some("Cases by priority: 0 low")
    );
}

#[wasm_bindgen_test]
async fn chart_view_box_follows_its_rendered_width() {
    let app = mount(|| {
        view! { <BarChart title="Cases by status" bars=Some(status_bars(1, 2, 3, 4)) /> }
    })
    .await;
    let canvas = app.find(".chart-canvas");
    let width = canvas.client_width();
    let view_box = app.find("svg").get_attribute("viewBox").unwrap();
    assert_eq!(view_box, format!("0 0 {width} 220"));
}

#[wasm_bindgen_test]
async fn day_series_summarises_and_reads_days_with_the_keyboard() {
    let opened = series(&[1, 0, 4, 2]);
    let resolved = series(&[0, 1, 1, 3]);
    let app = mount(move || {
        view! {
            <DaySeriesChart title="Opened and resolved per day" opened=Some(opened) resolved=Some(resolved) />
        }
    })
    .await;
    let label = app
        .find("svg[role='img']")
        .get_attribute("aria-label")
        .unwrap();
    let first = format_day("2026-11-01");
    let third = format_day("2026-11-03");
    let last = format_day("2026-11-04");
    assert_eq!(
        label,
        format!("Opened and resolved per day, {first} to {last}: 7 opened, 5 resolved; most opened on {third} (4)")
    );
    assert_eq!(app.all(".series-line").len(), 2);
    assert_eq!(app.all(".chart-hit title").len(), 4);

    let plot = app.find(".chart-focus");
    assert_eq!(plot.get_attribute("tabindex").as_deref(), Some("0"));
    focus(&plot);
    settle().await;
    assert_eq!(
        app.text(".chart-readout"),
        format!("{last}: 2 cases opened, 3 resolved")
    );
    press(&plot, "ArrowLeft");
    settle().await;
    assert_eq!(
        app.text(".chart-readout"),
        format!("{third}: 4 cases opened, 1 resolved")
    );
    assert!(app.exists(".chart-guide"));
    press(&plot, "Home");
    settle().await;
    assert_eq!(
        app.text(".chart-readout"),
        format!("{first}: 1 case opened, 0 resolved")
    );
    assert_eq!(app.all("table.chart-data tbody tr").len(), 4);
}

#[wasm_bindgen_test]
async fn sparkline_states_now_and_peak() {
    let app = mount(|| view! { <Sparkline label="Queue depth" values=vec![0, 3, 7, 2] /> }).await;
    assert_eq!(
        app.find("svg[role='img']")
            .get_attribute("aria-label")
            .as_deref(),
        Some("Queue depth: now 2, peak 7, over 4 samples")
    );
}

// ---------------------------------------------------------------- metric cards

#[wasm_bindgen_test]
async fn metric_card_shows_its_count_or_a_placeholder() {
    let value = RwSignal::new(None::<u64>);
    let app = mount(move || {
        view! { <MetricCard label="In progress" value=value testid="metric-in-progress" tone="status-in_progress" /> }
    })
    .await;
    let card = app.find("[data-testid='metric-in-progress']");
    assert_eq!(card.get_attribute("aria-busy").as_deref(), Some("true"));
    assert!(app.exists(".skeleton"));
    value.set(Some(42));
    settle().await;
    assert!(card.text_content().unwrap().contains("42"));
    assert!(card.text_content().unwrap().contains("In progress"));
    assert_eq!(card.get_attribute("aria-busy").as_deref(), Some("false"));
    assert!(!app.exists(".skeleton"));
}

#[wasm_bindgen_test]
async fn mean_time_to_resolve_reads_in_hours_or_days_and_dash_when_none() {
    assert_eq!(format_hours(0.5), "30 min");
    assert_eq!(format_hours(31.5), "31.5 h");
    assert_eq!(format_hours(2.0), "2 h");
    assert_eq!(format_hours(72.0), "3 days");
    assert_eq!(format_hours(f64::NAN), "—");
    let hours = RwSignal::new(Some(None::<f64>));
    let app = mount(move || view! { <MeanTimeToResolveCard hours=hours /> }).await;
    assert!(app.text(".metric-value").contains('—'));
    hours.set(Some(Some(31.5)));
    settle().await;
    assert_eq!(app.text(".metric-value"), "31.5 h");
}

// ---------------------------------------------------------------- badges and dates

#[wasm_bindgen_test]
async fn badges_say_what_they_mean_in_words() {
    let sync = RwSignal::new(SyncState::Pending);
    let app = mount(move || {
        view! {
            <StatusBadge status=CaseStatus::InProgress />
            <PriorityBadge priority=Priority::Critical />
            <SyncBadge state=sync />
        }
    })
    .await;
    let status = app.find(".badge.status-in_progress");
    assert_eq!(status.text_content().unwrap(), "In progress");
    assert_eq!(app.text(".badge.priority-critical"), "Critical");
    assert_eq!(app.text("[data-sync='pending']"), "Saving…");
    sync.set(SyncState::Failed);
    settle().await;
    assert_eq!(app.text("[data-sync='failed']"), "Not saved");
    sync.set(SyncState::Synced);
    settle().await;
    assert!(!app.exists("[data-sync]"));
}

#[wasm_bindgen_test]
async fn dates_follow_the_browser_locale() {
    let at = Timestamp::parse("2026-11-20T09:12:03Z").unwrap();
    let app = mount(move || view! { <LocalTime at=at /> }).await;
    let time = app.find("time");
    assert_eq!(
        time.get_attribute("datetime").as_deref(),
        Some("2026-11-20T09:12:03Z")
    );
    // Whatever the locale, the year is written out and the full date is on hover.
    assert!(time.text_content().unwrap().contains("2026"));
    assert!(time.get_attribute("title").unwrap().contains("2026"));
    assert!(format_day("2026-10-23").contains("23"));
    assert_eq!(format_day("not a date"), "not a date");

    let now = at.unix_millis() as f64;
    let five_minutes_ago = Timestamp::from_unix_millis(at.unix_millis() - 5 * 60_000).unwrap();
    assert!(format_relative(five_minutes_ago, now).contains('5'));
    let yesterday = Timestamp::from_unix_millis(at.unix_millis() - 86_400_000).unwrap();
    assert_ne!(format_relative(yesterday, now), format_relative(at, now));
}

// ---------------------------------------------------------------- the new-case form

#[wasm_bindgen_test]
async fn case_form_shows_each_error_next_to_its_field_and_focuses_the_first() {
    let submitted = RwSignal::new(Vec::<NewCase>::new());
    let app = mount(move || {
        view! { <CaseForm on_submit=move |case| submitted.update(|s| s.push(case)) /> }
    })
    .await;
    for label in ["Title", "Description", "Priority", "Assignee", "Tags"] {
        let label_el = app
            .all("label")
            .into_iter()
            .find(|l| l.text_content().unwrap() == label)
            .unwrap_or_else(|| panic!("no label {label}"));
        let target = label_el.get_attribute("for").unwrap();
        assert!(
            app.exists(&format!("#{target}")),
            "label {label} names no control"
        );
    }
    let title = app.find("#case-title");
    assert_eq!(
        title.get_attribute("aria-invalid").as_deref(),
        Some("false")
    );
    assert!(!app.exists(".field-error"));

    app.button("Create case").unwrap().click();
    settle().await;
    assert!(submitted.get_untracked().is_empty());
    assert_eq!(title.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(app.text("#case-title-error"), "Title is required.");
    assert!(title
        .get_attribute("aria-describedby")
        .unwrap()
        .split(' ')
        .any(|id| id == "case-title-error"));
    // The error sits in the Title field's own container.
    assert_eq!(
        app.find("#case-title-error").parent_element().unwrap(),
        title.parent_element().unwrap()
    );
    let active = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element();
    assert_eq!(active.map(|e| e.id()), Some("case-title".to_owned()));

    // Messages follow the typing once shown, with the server's wording.
    type_into(&title, &"x".repeat(201));
    let tags = app.find("#case-tags");
    type_into(&tags, &"t".repeat(41));
    settle().await;
    assert_eq!(
        app.text("#case-title-error"),
        "Title must be at most 200 characters (it has 201)."
    );
    assert!(app
        .text("#case-tags-error")
        .contains("at most 40 characters"));
    assert_eq!(tags.get_attribute("aria-invalid").as_deref(), Some("true"));

    type_into(&title, "  Printer on floor 3 jams  ");
    type_into(&tags, "hardware, floor 3, hardware,  ");
    type_into(&app.find("#case-assignee"), " dana ");
    let priority: web_sys::HtmlSelectElement = app.find("#case-priority").unchecked_into();
    priority.set_value("high");
    fire_with(&priority, "Event", "change", &[]);
    settle().await;
    assert!(!app.exists(".field-error"));
    app.button("Create case").unwrap().click();
    settle().await;
    let sent = submitted.get_untracked();
    assert_eq!(sent.len(), 1);
    let case = &sent[0];
    assert_eq!(case.title, "Printer on floor 3 jams");
    assert_eq!(case.priority, Priority::High);
    assert_eq!(case.assignee.as_deref(), Some("dana"));
    assert_eq!(case.tags, vec!["hardware".to_owned(), "floor 3".to_owned()]);
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(case.id.get_version_num(), 7);
}

#[wasm_bindgen_test]
async fn case_form_shows_the_servers_field_errors_the_same_way() {
    let server_errors = RwSignal::new(FieldErrors::new());
    let app = mount(move || {
        view! { <CaseForm on_submit=|_| {} server_errors=server_errors /> }
    })
    .await;
    let mut errors = FieldErrors::new();
    errors.insert(
        "description",
        "Description must be at most 10000 characters (it has 10001).".into(),
    );
    server_errors.set(errors);
    settle().await;
    let description = app.find("#case-description");
    assert_eq!(
        description.get_attribute("aria-invalid").as_deref(),
        Some("true")
    );
    assert_eq!(
        app.text("#case-description-error"),
        "Description must be at most 10000 characters (it has 10001)."
    );
    assert_eq!(
        description.get_attribute("aria-describedby").as_deref(),
        Some("case-description-error")
    );
    // Editing the field retires the server's message about it.
    type_into(&description, "shorter");
    settle().await;
    assert!(!app.exists("#case-description-error"));
    assert_eq!(
        description.get_attribute("aria-invalid").as_deref(),
        Some("false")
    );
}

#[wasm_bindgen_test]
fn tags_are_split_on_commas_without_blanks_or_repeats() {
    assert_eq!(parse_tags(""), Vec::<String>::new());
    assert_eq!(
        parse_tags(" a ,b,, a"),
        vec!["a".to_owned(), "b".to_owned()]
    );
}

// ---------------------------------------------------------------- the conflict panel

fn conflicts() -> Vec<FieldConflict> {
    vec![
        FieldConflict {
            field: CaseField::Status,
            base: FieldValue::Status(CaseStatus::Open),
            mine: FieldValue::Status(CaseStatus::Resolved),
            theirs: FieldValue::Status(CaseStatus::Closed),
        },
        FieldConflict {
            field: CaseField::Title,
            base: FieldValue::Text("Printer".into()),
            mine: FieldValue::Text("<img src=x onerror=alert(1)>".into()),
            theirs: FieldValue::Text("Printer on floor 3".into()),
        },
    ]
}

#[wasm_bindgen_test]
async fn conflict_panel_shows_both_versions_and_reports_the_choice() {
    let chosen = RwSignal::new(Vec::<ConflictChoice>::new());
    let app = mount(move || {
        view! {
            <ConflictPanel
                conflicts=conflicts()
                merged=vec!["Priority".to_owned()]
                on_choose=move |choice| chosen.update(|c| c.push(choice))
            />
        }
    })
    .await;
    let status_row = app.find("tr[data-field='Status']");
    assert_eq!(
        status_row
            .query_selector(".conflict-mine")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Resolved"
    );
    assert_eq!(
        status_row
            .query_selector(".conflict-theirs")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Closed"
    );
    assert_eq!(
        status_row
            .query_selector(".conflict-base")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Open"
    );
    // Text from the server or the person is shown as text, never as markup.
    let title_row = app.find("tr[data-field='Title']");
    assert_eq!(
        title_row
            .query_selector(".conflict-mine")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "<img src=x onerror=alert(1)>"
    );
    assert!(!app.exists("img"));
    assert!(app.text(".conflict-panel").contains("Priority"));

    app.button("Keep mine").unwrap().click();
    app.button("Use theirs").unwrap().click();
    settle().await;
    assert_eq!(
        chosen.get_untracked(),
        vec![
            ConflictChoice::All(Side::Mine),
            ConflictChoice::All(Side::Theirs)
        ]
    );
}

#[wasm_bindgen_test]
async fn conflict_panel_lets_the_person_choose_per_field() {
    let chosen = RwSignal::new(Vec::<ConflictChoice>::new());
    let app = mount(move || {
        view! {
            <ConflictPanel conflicts=conflicts() on_choose=move |choice| chosen.update(|c| c.push(choice)) />
        }
    })
    .await;
    // Each field starts on the person's own version.
    let radio = |label: &str| -> web_sys::HtmlInputElement {
        app.find(&format!("input[type='radio'][aria-label='{label}']"))
            .unchecked_into()
    };
    assert!(radio("Status: keep mine").checked());
    assert!(radio("Title: keep mine").checked());
    assert!(!radio("Title: use theirs").checked());

    radio("Title: use theirs").click();
    settle().await;
    assert!(radio("Title: use theirs").checked());
    assert!(!radio("Title: keep mine").checked());
    assert!(
        radio("Status: keep mine").checked(),
        "other fields keep their choice"
    );
    app.button("Apply these choices").unwrap().click();
    settle().await;
    assert_eq!(
        chosen.get_untracked(),
        vec![ConflictChoice::PerField(vec![
            (CaseField::Status, Side::Mine),
            (CaseField::Title, Side::Theirs),
        ])]
    );
}

#[wasm_bindgen_test]
async fn conflict_panel_with_one_field_offers_only_the_two_buttons() {
    let one = conflicts().into_iter().take(1).collect::<Vec<_>>();
    let app = mount(move || view! { <ConflictPanel conflicts=one on_choose=|_| {} /> }).await;
    assert!(!app.exists("input[type='radio']"));
    assert!(app.button("Apply these choices").is_none());
    assert!(app.button("Keep mine").is_some() && app.button("Use theirs").is_some());
}

#[wasm_bindgen_test]
async fn conflict_panel_buttons_wait_while_busy() {
    let app = mount(|| {
        view! { <ConflictPanel conflicts=conflicts() on_choose=|_| {} busy=true /> }
    })
    .await;
    let keep: web_sys::HtmlButtonElement = app.button("Keep mine").unwrap().unchecked_into();
    assert!(keep.disabled());
}

// ---------------------------------------------------------------- the alert region

#[wasm_bindgen_test]
async fn alerts_go_on_their_own_but_not_while_the_pointer_is_on_them() {
    let handle: Rc<RefCell<Option<Alerts>>> = Rc::default();
    let slot = handle.clone();
    let app = mount(move || {
        *slot.borrow_mut() = Some(provide_alerts_with(AlertLifetimes {
            info: Duration::from_millis(300),
            error: Duration::from_secs(5),
        }));
        view! { <AlertRegion /> }
    })
    .await;
    let alerts = handle.borrow().expect("the region's alerts");
    let texts = || {
        app.all(".alert-message")
            .iter()
            .map(|m| m.text_content().unwrap_or_default())
            .collect::<Vec<_>>()
    };

    alerts.info("Saved on this device again.");
    alerts.error("Not saved: the server refused it.");
    settle().await;
    assert_eq!(texts().len(), 2);
    // Floating alerts cover the page: the notice goes on its own, the error stays longer.
    wait_until("the notice goes on its own", 3, || texts().len() == 1).await;
    assert_eq!(
        texts(),
        vec!["Not saved: the server refused it.".to_owned()]
    );
    app.find(".alert-dismiss")
        .unchecked_into::<HtmlElement>()
        .click();
    settle().await;
    assert!(texts().is_empty(), "Dismiss removes it at once");

    // While the pointer rests on the alerts, nothing goes away under it.
    alerts.info("Undone: Close “Printer”.");
    settle().await;
    let region = app.find(".alert-region");
    fire_with(&region, "MouseEvent", "mouseenter", &[]);
    gloo_timers::future::TimeoutFuture::new(900).await;
    assert_eq!(texts(), vec!["Undone: Close “Printer”.".to_owned()]);
    fire_with(&region, "MouseEvent", "mouseleave", &[]);
    wait_until("the notice goes once the pointer leaves", 4, || {
        texts().is_empty()
    })
    .await;
}
