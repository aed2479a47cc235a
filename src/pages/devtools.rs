//! `/devtools`: the data layer's insides for whoever asks "why is this slow, or old?". One
//! row per cache entry (with Refetch, Invalidate and Remove, and a filter by key), one per
//! queued action, the live socket's own round trip and reconnects, the request numbers, and
//! an export of all of it as JSON. The rows come from `casedesk_core::inspect`; this page
//! only puts them into words.

use crate::components::alert_region::use_alerts;
use crate::components::local_time::{now_millis, use_clock};
use crate::offline::{describe_action, use_offline_queue};
use crate::people::PeopleDirectory;
use crate::platform::download::save_text_file;
use crate::platform::network::use_network_status;
use crate::query::live::LiveStats;
use crate::query::use_query_client;
use crate::words::Describe;
use casedesk_core::diagnostics::{alerts, AlertThresholds};
use casedesk_core::inspect::{CacheRow, KeyFilter};
use casedesk_core::queue::view::{ActionItem, ActionStep};
use casedesk_core::{DurationMs, Failure, FetchStatus, Millis, QueryKey, QueryStatus};
use casedesk_model::Timestamp;
use leptos::prelude::*;
use std::time::Duration;
use uuid::Uuid;

use super::sync::{alert_text, live_label};

/// "12 s", "4 min", "3 h": an entry's age at a glance.
fn age_text(age: DurationMs) -> String {
    let seconds = age.0 / 1_000;
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3_600 {
        format!("{} min", seconds / 60)
    } else {
        format!("{} h", seconds / 3_600)
    }
}

fn size_text(bytes: u64) -> String {
    if bytes < 1_024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KB", bytes as f64 / 1_024.0)
    }
}

fn status_text(row: &CacheRow) -> String {
    let status = match row.status {
        QueryStatus::Loading => "Loading",
        QueryStatus::Success => "Loaded",
        QueryStatus::Error => "Error",
    };
    match row.fetch_status {
        FetchStatus::Idle => status.to_owned(),
        FetchStatus::Fetching => format!("{status}, fetching"),
        FetchStatus::Paused => format!("{status}, paused offline"),
    }
}

fn failure_text(failure: &Failure) -> String {
    match failure.request_id() {
        Some(id) => format!("{} (request {id})", failure.describe()),
        None => failure.describe(),
    }
}

/// "Now", "In 12 s", for a next attempt; offline, nothing is sent before the network is back.
fn due_text(at: Millis, now: f64, online: bool) -> String {
    let wait = (at.0 as f64 - now) / 1000.0;
    if !online {
        "When back online".to_owned()
    } else if wait <= 0.5 {
        "Now".to_owned()
    } else {
        format!("In {wait:.0} s")
    }
}

fn queue_state_text(item: &ActionItem) -> &'static str {
    match item.step {
        ActionStep::WaitingForCase => "Waiting for its case",
        ActionStep::Waiting { .. } if item.row.attempts > 0 => "Retrying",
        ActionStep::Waiting { .. } => "Waiting to be sent",
        ActionStep::Sending => "Sending",
        ActionStep::NeedsChoice => "Waiting for your choice",
        ActionStep::Failed(_) => "Failed",
    }
}

fn rtt_text(stats: &LiveStats) -> String {
    stats
        .round_trip_ms
        .map_or("Not measured yet".to_owned(), |ms| format!("{ms:.1} ms"))
}

fn iso(at: Millis) -> Option<String> {
    i64::try_from(at.0)
        .ok()
        .and_then(Timestamp::from_unix_millis)
        .map(|t| t.to_string())
}

/// The name of an action's author: from the people the server lists, else their id (the
/// list not fetched yet, or they left); `None` when the action records nobody.
fn author_name(people: Option<PeopleDirectory>, author_id: Option<Uuid>) -> Option<String> {
    let id = author_id?;
    Some(
        people
            .and_then(|p| p.name_of(id))
            .unwrap_or_else(|| id.to_string()),
    )
}

/// `row` as a JSON object with `extra` fields beside its own.
fn with_fields<const N: usize>(
    row: &impl serde::Serialize,
    extra: [(&str, serde_json::Value); N],
) -> serde_json::Value {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        for (name, field) in extra {
            object.insert(name.to_owned(), field);
        }
    }
    value
}

/// The data layer, entry by entry.
#[component]
pub fn DevtoolsPage() -> impl IntoView {
    let client = use_query_client();
    let queue = use_offline_queue();
    let alerts_region = use_alerts();
    let diagnostics = client.diagnostics();
    let live = client.live_status();
    let stats = client.live_stats();
    let queued = queue.view();
    let now = use_clock(Duration::from_secs(1));
    let filter = RwSignal::new(String::new());
    let people = crate::people::use_people();

    // Ages move with the clock; everything else with the cache.
    let rows = Memo::new(move |_| {
        now.track();
        let filter = KeyFilter::parse(&filter.read());
        client.cache_rows(&filter)
    });
    let keys = move || rows.with(|rows| rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>());
    let actions = Memo::new(move |_| queued.with(|q| q.actions.clone()));
    let alert_lines = move || {
        diagnostics.with(|d| {
            alerts(d, &AlertThresholds::default())
                .iter()
                .map(alert_text)
                .collect::<Vec<_>>()
        })
    };

    let export = move |_| {
        let snapshot = diagnostics.get_untracked();
        let socket = stats.get_untracked();
        let cache_entries: Vec<_> = client
            .cache_rows(&KeyFilter::default())
            .into_iter()
            .map(|row| {
                with_fields(
                    &row,
                    [
                        ("key_text", row.key.to_string().into()),
                        (
                            "last_error_text",
                            row.last_error.as_ref().map(failure_text).into(),
                        ),
                        (
                            "request_id",
                            row.last_error.as_ref().and_then(Failure::request_id).into(),
                        ),
                    ],
                )
            })
            .collect();
        let queued: Vec<_> = actions
            .get_untracked()
            .into_iter()
            .map(|item| {
                let what = describe_action(&item.row.what);
                let author = author_name(people, item.row.author_id);
                with_fields(
                    &item.row,
                    [("what", what.into()), ("author", author.into())],
                )
            })
            .collect();
        let json = serde_json::json!({
            "exported_at": iso(Millis(now_millis().max(0.0) as u64)),
            "cache_entries": cache_entries,
            "queued_actions": queued,
            "socket": {
                "state": live_label(live.get_untracked(), now_millis()),
                "round_trip_ms": socket.round_trip_ms,
                "measured_at": socket.measured_at.and_then(iso),
                "reconnects": socket.reconnects,
            },
            "hit_ratio": snapshot.hit_ratio,
            "p50_ms": snapshot.p50,
            "p95_ms": snapshot.p95,
            "alerts": alerts(&snapshot, &AlertThresholds::default()),
            "diagnostics": snapshot,
            "requests": client.request_log(),
        });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        if let Err(error) = save_text_file("casedesk-devtools.json", "application/json", &text) {
            alerts_region.error(format!("The export could not be saved: {error}"));
        }
    };

    view! {
        <section class="page devtools">
            <div class="page-head">
                <h1>"Devtools"</h1>
                <div class="page-actions">
                    <button type="button" class="button" on:click=export>"Export diagnostics"</button>
                </div>
            </div>
            <p class="page-lede">"What this device holds and how its connection behaves, as the app sees it now."</p>

            <section class="card" aria-labelledby="devtools-cache-heading">
                <h2 id="devtools-cache-heading">
                    "Cache " <span class="count">{move || rows.with(Vec::len)}</span>
                </h2>
                <div class="field">
                    <label for="devtools-filter">"Filter"</label>
                    <input
                        id="devtools-filter"
                        type="search"
                        placeholder="Part of a key, e.g. list"
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                    />
                </div>
                <div class="table-wrap">
                    <table class="devtools-table">
                        <thead>
                            <tr>
                                <th scope="col">"Key"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col">"Observers"</th>
                                <th scope="col">"Age"</th>
                                <th scope="col">"Fresh"</th>
                                <th scope="col">"Size"</th>
                                <th scope="col">"Last error"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr>
                        </thead>
                        <tbody>
                            <For each=keys key=|key| key.clone() let:key>
                                <CacheEntryRow entry_key=key rows=rows.into() />
                            </For>
                        </tbody>
                    </table>
                </div>
                <Show when=move || rows.with(Vec::is_empty)>
                    <p class="muted">
                        {move || if filter.with(|f| f.trim().is_empty()) {
                            "The cache is empty."
                        } else {
                            "No key matches the filter."
                        }}
                    </p>
                </Show>
            </section>

            <section class="card" aria-labelledby="devtools-queue-heading">
                <h2 id="devtools-queue-heading">
                    "Queued actions " <span class="count">{move || actions.with(Vec::len)}</span>
                </h2>
                <div class="table-wrap">
                    <table class="devtools-table">
                        <thead>
                            <tr>
                                <th scope="col">"Action"</th>
                                <th scope="col">"State"</th>
                                <th scope="col">"Attempts"</th>
                                <th scope="col">"Next attempt"</th>
                                <th scope="col">"Last failure"</th>
                                <th scope="col">"Author"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {move || actions.get().into_iter().map(|item| view! {
                                <QueuedActionRow item=item now=now.into() />
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                <Show when=move || actions.with(Vec::is_empty)>
                    <p class="muted">"Nothing is queued."</p>
                </Show>
            </section>

            <div class="sync-grid">
                <section class="card" aria-labelledby="devtools-socket-heading">
                    <h2 id="devtools-socket-heading">"Live socket"</h2>
                    <dl class="facts">
                        <dt>"State"</dt>
                        <dd data-testid="socket-state">{move || live_label(live.get(), now.get())}</dd>
                        <dt>"Round trip (its own ping)"</dt>
                        <dd data-testid="socket-rtt">{move || stats.with(rtt_text)}</dd>
                        <dt>"Reconnects"</dt>
                        <dd data-testid="socket-reconnects">{move || stats.with(|s| s.reconnects)}</dd>
                    </dl>
                </section>
                <section class="card" aria-labelledby="devtools-requests-heading">
                    <h2 id="devtools-requests-heading">"Requests"</h2>
                    <dl class="facts">
                        <dt>"Cache hit ratio"</dt>
                        <dd data-testid="devtools-hit-ratio">
                            {move || diagnostics.with(|d| d.hit_ratio.map_or("—".to_owned(), |r| format!("{:.0} %", r * 100.0)))}
                        </dd>
                        <dt>"p50 / p95"</dt>
                        <dd data-testid="devtools-timing">
                            {move || diagnostics.with(|d| match (d.p50, d.p95) {
                                (Some(p50), Some(p95)) => format!("{} ms / {} ms", p50.0, p95.0),
                                _ => "No requests yet".to_owned(),
                            })}
                        </dd>
                        <dt>"Alerts"</dt>
                        <dd data-testid="devtools-alerts">
                            {move || {
                                let lines = alert_lines();
                                if lines.is_empty() {
                                    "None".into_any()
                                } else {
                                    view! { <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul> }.into_any()
                                }
                            }}
                        </dd>
                    </dl>
                </section>
            </div>
        </section>
    }
}

/// One cache entry, with buttons acting on its key alone. Keyed by key, so its buttons stay
/// put while its age ticks.
#[component]
fn CacheEntryRow(
    /// The entry's key.
    entry_key: QueryKey,
    /// Every row on the page, where this one finds its own.
    rows: Signal<Vec<CacheRow>>,
) -> impl IntoView {
    let client = use_query_client();
    let key = StoredValue::new(entry_key.clone());
    let row = Memo::new(move |_| {
        rows.with(|rows| key.with_value(|key| rows.iter().find(|r| &r.key == key).cloned()))
    });
    let field = move |f: fn(&CacheRow) -> String| {
        move || row.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    // A key scopes the cache's events to this entry alone (tested in `inspect`).
    let refetch = move |_| key.with_value(|key| client.refetch(key));
    let invalidate = move |_| key.with_value(|key| client.invalidate(key));
    let remove = move |_| key.with_value(|key| client.remove(key));
    let key_text = entry_key.to_string();
    let key_attr = key_text.clone();
    view! {
        <tr
            data-testid="cache-entry"
            data-key=key_attr
            data-fresh=move || row.with(|r| r.as_ref().is_some_and(|r| !r.stale).to_string())
        >
            <td class="devtools-key" data-label="Key"><code>{key_text}</code></td>
            <td data-label="Status">{field(status_text)}</td>
            <td data-label="Observers">{field(|r| r.observers.to_string())}</td>
            <td data-label="Age">{field(|r| r.age.map_or("—".to_owned(), age_text))}</td>
            <td data-label="Fresh">{field(|r| if r.stale { "Stale".to_owned() } else { "Fresh".to_owned() })}</td>
            <td data-label="Size">{field(|r| size_text(r.size_bytes))}</td>
            <td data-label="Last error">{field(|r| r.last_error.as_ref().map_or("—".to_owned(), failure_text))}</td>
            <td class="devtools-buttons">
                <button type="button" class="button" on:click=refetch>"Refetch"</button>
                <button type="button" class="button" on:click=invalidate>"Invalidate"</button>
                <button type="button" class="button danger" on:click=remove>"Remove"</button>
            </td>
        </tr>
    }
}

/// One queued action.
#[component]
fn QueuedActionRow(
    /// The action as the queue's view lists it.
    item: ActionItem,
    /// The clock, for "In 4 s".
    now: Signal<f64>,
) -> impl IntoView {
    let network = use_network_status();
    let people = crate::people::use_people();
    let author_id = item.row.author_id;
    let state = queue_state_text(&item);
    let row = item.row;
    let next = row.next_attempt_at;
    view! {
        <tr data-testid="queued-action" data-action-id=row.id.to_string()>
            <td data-label="Action"><a href=format!("/cases/{}", row.case_id)>{describe_action(&row.what)}</a></td>
            <td data-label="State">{state}</td>
            <td data-label="Attempts">{row.attempts}</td>
            <td data-label="Next attempt">{move || next.map_or("—".to_owned(), |at| due_text(at, now.get(), network.online.get()))}</td>
            <td data-label="Last failure">{row.last_failure.as_ref().map_or("—".to_owned(), failure_text)}</td>
            <td data-label="Author" data-testid="queued-action-author">
                {move || author_name(people, author_id).unwrap_or_else(|| "—".to_owned())}
            </td>
        </tr>
    }
}
