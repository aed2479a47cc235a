//! `/sync`: what waits to be sent, what failed (with "Retry" and "Discard"), the
//! connection's health, and the diagnostics the team reads when something feels slow:
//! cache entries and hit ratio, request times, the queue's depth over time, recent errors
//! with their request ids, warnings past thresholds, and an export of all of it as JSON.

use crate::components::alert_region::use_alerts;
use crate::components::charts::sparkline::Sparkline;
use crate::components::local_time::{format_relative, now_millis, use_clock, LocalTime};
use crate::components::queue_depth::use_queue_depth_history;
use crate::offline::{
    death_reason, describe_action, use_offline_queue, QueueStatus, StorageStatus, UnreadableRecord,
};
use crate::platform::download::save_text_file;
use crate::platform::network::use_network_status;
use crate::platform::persistence::{use_storage_persistence, Persistence};
use crate::query::{use_query_client, LiveStatus};
use crate::words::Describe;
use casedesk_core::diagnostics::{alerts, Alert, AlertThresholds};
use casedesk_core::queue::view::{ActionItem, ActionStep};
use casedesk_core::{DeathReason, DiagnosticsSnapshot, Failure, Millis};
use casedesk_model::Timestamp;
use leptos::prelude::*;
use std::time::Duration;

/// A change waiting longer than this is worth a warning: past it, something is stuck rather
/// than slow (the queue retries transient failures within seconds to a minute).
const QUEUE_AGE_LIMIT_MS: f64 = 5.0 * 60.0 * 1000.0;

fn timestamp(at: Millis) -> Option<Timestamp> {
    i64::try_from(at.0)
        .ok()
        .and_then(Timestamp::from_unix_millis)
}

pub(crate) fn live_label(status: LiveStatus, now: f64) -> String {
    match status {
        LiveStatus::Connecting => "Connecting…".to_owned(),
        LiveStatus::Live => "Live".to_owned(),
        LiveStatus::Offline => "Paused while offline".to_owned(),
        LiveStatus::Reconnecting { attempt, next_at } => {
            let wait = ((next_at.0 as f64 - now) / 1000.0).max(0.0).ceil();
            format!("Reconnecting (attempt {attempt}, in {wait:.0} s)")
        }
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("—".to_owned(), |r| format!("{:.0} %", r * 100.0))
}

fn millis_text(value: Option<u64>) -> String {
    value.map_or("—".to_owned(), |ms| format!("{ms} ms"))
}

fn state_label(item: &ActionItem, now: f64) -> String {
    match &item.step {
        ActionStep::Sending => "Sending…".to_owned(),
        ActionStep::NeedsChoice => "Waiting for your choice".to_owned(),
        ActionStep::Failed(_) => "Failed".to_owned(),
        ActionStep::WaitingForCase => "Waiting for the case to be created".to_owned(),
        ActionStep::Waiting { next_at } => {
            let wait = (next_at.0 as f64 - now) / 1000.0;
            if item.row.attempts > 0 && wait > 0.5 {
                format!("Retrying in {wait:.0} s")
            } else {
                "Waiting to be sent".to_owned()
            }
        }
    }
}

/// A diagnostics alert in words (here and on the Devtools page).
pub(crate) fn alert_text(alert: &Alert) -> String {
    match alert {
        Alert::SlowRequests { p95, limit } => format!(
            "Requests are slow: p95 {} ms is over the {} ms limit.",
            p95.0, limit.0
        ),
        Alert::HighErrorRate { rate, limit } => format!(
            "Many requests fail: {:.0} % is over the {:.0} % limit.",
            rate * 100.0,
            limit * 100.0
        ),
    }
}

/// What the warnings list says, worst first.
fn health_warnings(
    snapshot: &DiagnosticsSnapshot,
    status: &QueueStatus,
    live: LiveStatus,
    online: bool,
    now: f64,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if status.paused_for_sign_in {
        warnings.push("The server asked to sign in again: changes wait until then.".to_owned());
    }
    if let StorageStatus::MemoryOnly { reason } = &status.storage {
        warnings.push(format!(
            "Changes cannot be stored on this device ({reason}); they are kept in this tab until sent."
        ));
    }
    match &status.storage {
        StorageStatus::NewerVersion => warnings.push(
            "This device holds changes saved by a newer version of casedesk: they are kept, \
             untouched. Reload to get the newer version; until then changes made here are \
             kept in this tab only until sent."
                .to_owned(),
        ),
        StorageStatus::Superseded => warnings.push(
            "casedesk was updated in another tab: reload this tab to keep working.".to_owned(),
        ),
        _ => {}
    }
    if status.dead > 0 {
        warnings.push(format!(
            "{} refused by the server: retry or discard below.",
            if status.dead == 1 {
                "1 change was".to_owned()
            } else {
                format!("{} changes were", status.dead)
            }
        ));
    }
    if let Some(since) = status.oldest_pending_since {
        let age = now - since.0 as f64;
        if age > QUEUE_AGE_LIMIT_MS {
            warnings.push(format!(
                "The oldest change has waited {:.0} minutes.",
                age / 60_000.0
            ));
        }
    }
    for alert in alerts(snapshot, &AlertThresholds::default()) {
        warnings.push(alert_text(&alert));
    }
    if online && matches!(live, LiveStatus::Reconnecting { attempt, .. } if attempt >= 3) {
        warnings.push(
            "Live updates keep failing to connect: changes made elsewhere show late.".to_owned(),
        );
    }
    warnings
}

/// Pending actions, dead letters, connection health and diagnostics.
#[component]
pub fn SyncPage() -> impl IntoView {
    let queue = use_offline_queue();
    let client = use_query_client();
    let network = use_network_status();
    let history = use_queue_depth_history();
    let alerts = use_alerts();
    let status = queue.status();
    let queued = queue.view();
    let diagnostics = client.diagnostics();
    let live = client.live_status();
    let now = use_clock(Duration::from_secs(1));
    let persistence = use_storage_persistence();
    let unreadable = queue.unreadable();
    // Which API server requests, the queue and live updates go through (docs/api.md §5).
    let origin = crate::config::use_app_config().api.origin_in_use();

    let pending = Memo::new(move |_| queued.with(|q| q.pending().cloned().collect::<Vec<_>>()));
    let dead = Memo::new(move |_| queued.with(|q| q.dead().cloned().collect::<Vec<_>>()));
    let warnings = move || {
        let online = network.online.get();
        let now = now.get();
        diagnostics.with(|d| status.with(|s| health_warnings(d, s, live.get(), online, now)))
    };
    let depth = Signal::derive(move || {
        // The sampled history, then the depth right now, so the line ends at the present.
        let mut values: Vec<u64> = history.samples().iter().map(|s| s.pending as u64).collect();
        values.push(status.with(|s| s.pending) as u64);
        values
    });

    let export = move |_| {
        let json = serde_json::json!({
            "exported_at": Timestamp::from_unix_millis(now_millis() as i64).map(|t| t.to_string()),
            "connection": {
                "online": network.online.get_untracked(),
                "live_updates": live_label(live.get_untracked(), now_millis()),
                "last_sync_at": status.with_untracked(|s| s.last_sync_at.and_then(timestamp).map(|t| t.to_string())),
                "draining_here": status.with_untracked(|s| s.draining),
            },
            "queue": status.with_untracked(|s| serde_json::json!({
                "pending": s.pending,
                "in_flight": s.in_flight,
                "conflicts": s.conflicts,
                "dead": s.dead,
                "paused_for_sign_in": s.paused_for_sign_in,
                "last_error": s.last_error,
                "oldest_pending_since": s.oldest_pending_since.and_then(timestamp).map(|t| t.to_string()),
                "storage": format!("{:?}", s.storage),
            })),
            "queue_depth": history.samples(),
            "actions": queue.records().get_untracked(),
            "diagnostics": diagnostics.get_untracked(),
            "warnings": warnings(),
            "requests": client.request_log(),
        });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        if let Err(error) = save_text_file("casedesk-diagnostics.json", "application/json", &text) {
            alerts.error(format!("The export could not be saved: {error}"));
        }
    };

    view! {
        <section class="page sync">
            <div class="page-head">
                <h1>"Sync"</h1>
                <div class="page-actions">
                    <button type="button" class="button" on:click=move |_| queue.sync_now()>"Sync now"</button>
                    <button type="button" class="button" on:click=export>"Export"</button>
                    <a href="/devtools" class="button">"Devtools"</a>
                </div>
            </div>
            <p class="page-lede">
                "Changes are saved on this device first and sent when the server can be reached."
            </p>
            {move || {
                let warnings = warnings();
                (!warnings.is_empty()).then(|| view! {
                    <div class="notice notice-warn" role="status" data-testid="health-warnings">
                        <ul>{warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
                    </div>
                })
            }}
            <div class="sync-grid">
                <section class="card" aria-labelledby="health-heading">
                    <h2 id="health-heading">"Connection"</h2>
                    <dl class="facts" data-testid="connection-health">
                        <dt>"Network"</dt>
                        <dd data-testid="health-online">{move || if network.online.get() { "Online" } else { "Offline" }}</dd>
                        <dt>"Live updates"</dt>
                        <dd data-testid="health-live">{move || live_label(live.get(), now.get())}</dd>
                        <dt>"Server"</dt>
                        <dd data-testid="api-origin">{move || origin.get()}</dd>
                        <dt>"Last sync"</dt>
                        <dd data-testid="health-last-sync">
                            {move || match status.with(|s| s.last_sync_at.and_then(timestamp)) {
                                Some(at) => format_relative(at, now.get()),
                                None => "Not yet in this session".to_owned(),
                            }}
                        </dd>
                        <dt>"Latency"</dt>
                        <dd data-testid="health-latency">
                            {move || diagnostics.with(|d| match (d.p50, d.p95) {
                                (Some(p50), Some(p95)) => format!("{} ms typical, {} ms p95", p50.0, p95.0),
                                _ => "No requests yet".to_owned(),
                            })}
                        </dd>
                        <dt>"Sending from"</dt>
                        <dd>{move || if status.with(|s| s.draining) { "This tab" } else { "Another tab of this browser" }}</dd>
                        <dt>"Storage"</dt>
                        <dd>
                            {move || status.with(|s| match &s.storage {
                                StorageStatus::Opening => "Opening…".to_owned(),
                                StorageStatus::Saved => "Saved on this device".to_owned(),
                                StorageStatus::MemoryOnly { .. } => "This tab's memory only".to_owned(),
                                StorageStatus::NewerVersion => "Kept for a newer version of casedesk; this tab's memory only".to_owned(),
                                StorageStatus::Superseded => "Handed over to an updated tab; reload".to_owned(),
                            })}
                        </dd>
                        <dt>"Kept by the browser"</dt>
                        <dd
                            data-testid="storage-persistence"
                            data-persisted=move || match persistence.get() {
                                Persistence::Granted => "true",
                                Persistence::NotGranted => "false",
                                Persistence::Asking | Persistence::Unknown => "unknown",
                            }
                        >
                            {move || match persistence.get() {
                                Persistence::Granted => "Stored durably on this device",
                                Persistence::NotGranted => "The browser may clear this device's data when space runs low",
                                Persistence::Asking => "Asking the browser…",
                                Persistence::Unknown => "This browser does not say whether it keeps this device's data",
                            }}
                        </dd>
                    </dl>
                </section>
                <section class="card" aria-labelledby="pending-heading">
                    <h2 id="pending-heading">
                        "Waiting to be sent " <span class="count">{move || pending.with(Vec::len)}</span>
                    </h2>
                    {move || {
                        let items = pending.get();
                        if items.is_empty() {
                            return view! { <p class="muted">"Nothing is waiting: every change reached the server."</p> }.into_any();
                        }
                        view! {
                            <ul class="action-list">
                                {items.into_iter().map(|item| view! { <PendingAction item=item now=now.into() /> }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    }}
                    // Another person's changes: how many, never what (they are theirs).
                    {move || {
                        let held = status.with(|s| s.held);
                        (held > 0).then(|| {
                            let text = if held == 1 {
                                "1 change made by another person on this device waits for them to sign in again.".to_owned()
                            } else {
                                format!("{held} changes made by another person on this device wait for them to sign in again.")
                            };
                            view! {
                                <p class="notice held-actions" data-testid="held-actions" data-count=held.to_string()>
                                    {text}
                                </p>
                            }
                        })
                    }}
                </section>
            </div>
            <section class="card" aria-labelledby="dead-heading">
                <h2 id="dead-heading">"Failed " <span class="count">{move || dead.with(Vec::len)}</span></h2>
                {move || {
                    let items = dead.get();
                    if items.is_empty() {
                        return view! { <p class="muted">"No change has failed."</p> }.into_any();
                    }
                    view! {
                        <ul class="action-list">
                            {items.into_iter().map(|item| view! { <DeadLetter item=item /> }).collect_view()}
                        </ul>
                    }
                    .into_any()
                }}
            </section>
            {move || {
                let items = unreadable.get();
                let count = items.len();
                (count > 0).then(|| view! {
                    <section class="card" aria-labelledby="unreadable-heading">
                        <h2 id="unreadable-heading">"Unreadable " <span class="count">{count}</span></h2>
                        <p class="muted">
                            "These stored changes could not be read: saved by another version of casedesk, \
                             or damaged. They are kept on this device and not sent. Export one to keep a copy; \
                             discard it to delete it from this device."
                        </p>
                        <ul class="action-list">
                            {items.into_iter().map(|record| view! { <UnreadableItem record=record /> }).collect_view()}
                        </ul>
                    </section>
                })
            }}
            <section class="card diagnostics" aria-labelledby="diagnostics-heading">
                <h2 id="diagnostics-heading">"Diagnostics"</h2>
                <div class="diagnostic-grid">
                    <div class="stat" data-testid="diag-cache">
                        <span class="stat-label">"Cache entries"</span>
                        <span class="stat-value">{move || diagnostics.with(|d| d.cache.entries)}</span>
                        <span class="stat-note">
                            {move || diagnostics.with(|d| format!("{} on screen · {} KB", d.cache.observed, d.cache.bytes.div_ceil(1024)))}
                        </span>
                    </div>
                    <div class="stat" data-testid="diag-hit-ratio">
                        <span class="stat-label">"Cache hit ratio"</span>
                        <span class="stat-value">{move || diagnostics.with(|d| percent(d.hit_ratio))}</span>
                        <span class="stat-note">
                            {move || diagnostics.with(|d| format!("{} lookups", d.lookups.total()))}
                        </span>
                    </div>
                    <div class="stat" data-testid="diag-timing">
                        <span class="stat-label">"Request time p50 / p95"</span>
                        <span class="stat-value">
                            {move || diagnostics.with(|d| format!("{} / {}", millis_text(d.p50.map(|v| v.0)), millis_text(d.p95.map(|v| v.0))))}
                        </span>
                        <span class="stat-note">
                            {move || diagnostics.with(|d| format!("{} recent requests · {} failed", d.requests, percent(d.error_rate)))}
                        </span>
                    </div>
                    <div class="stat" data-testid="diag-queue-depth">
                        <span class="stat-label">"Queue depth, last minutes"</span>
                        <Sparkline label="Queue depth" values=depth />
                    </div>
                </div>
                <h3>"Recent errors"</h3>
                {move || {
                    let errors = diagnostics.with(|d| d.recent_errors.clone());
                    if errors.is_empty() {
                        return view! { <p class="muted">"No errors in this session."</p> }.into_any();
                    }
                    view! {
                        // It may scroll sideways on a narrow screen: a focusable region,
                        // so a keyboard can scroll it too.
                        <div class="table-wrap" tabindex="0" role="region" aria-label="Recent errors">
                            <table class="error-table" data-testid="recent-errors">
                                <thead>
                                    <tr>
                                        <th scope="col">"When"</th>
                                        <th scope="col">"Request"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Message"</th>
                                        <th scope="col">"Request id"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {errors.into_iter().map(|e| view! {
                                        <tr>
                                            <td>{timestamp(e.at).map(|at| view! { <LocalTime at=at relative=true /> })}</td>
                                            <td>{e.subject}</td>
                                            <td>{e.status.map_or("—".to_owned(), |s| s.to_string())}</td>
                                            <td>{e.failure.describe()}</td>
                                            <td><code>{e.request_id.unwrap_or_else(|| "—".to_owned())}</code></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                    .into_any()
                }}
            </section>
        </section>
    }
}

/// The address of the case an action belongs to, unless the action deletes it.
fn case_link(item: &ActionItem) -> Option<String> {
    item.opens_case
        .then(|| format!("/cases/{}", item.row.case_id))
}

fn failure_line(failure: &Failure) -> String {
    match failure.request_id() {
        Some(id) => format!("{} (request {id})", failure.describe()),
        None => failure.describe(),
    }
}

/// One action on its way.
#[component]
fn PendingAction(
    /// The queued action.
    item: ActionItem,
    /// The clock, for "Retrying in 4 s".
    now: Signal<f64>,
) -> impl IntoView {
    let link = case_link(&item);
    let last_error = item.row.last_failure.as_ref().map(failure_line);
    let queued = timestamp(item.row.enqueued_at);
    let (id, what, attempts, data_state) = (
        item.row.id,
        describe_action(&item.row.what),
        item.row.attempts,
        item.step.data_state(),
    );
    let stored = StoredValue::new(item);
    let state = move || stored.with_value(|item| state_label(item, now.get()));
    view! {
        <li
            class="action-item"
            data-testid="pending-action"
            data-action-id=id.to_string()
            data-state=data_state
        >
            <div class="action-main">
                <span class="action-what">{what}</span>
                <span class="action-state">{state}</span>
            </div>
            <div class="action-meta">
                {queued.map(|at| view! { "Queued " <LocalTime at=at relative=true /> })}
                {(attempts > 0).then(|| format!(" · {attempts} attempts"))}
                {link.map(|href| view! { " · " <a href=href>"Open the case"</a> })}
            </div>
            {last_error.map(|e| view! { <p class="action-error">{e}</p> })}
        </li>
    }
}

/// One refused action, with "Retry" and "Discard".
#[component]
fn DeadLetter(
    /// The dead action.
    item: ActionItem,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let id = item.row.id;
    let reason = match &item.step {
        ActionStep::Failed(Some(reason)) => Some(reason),
        _ => None,
    };
    // The reason usually is the last error in words: then only its request id is new.
    let said = |failure: &Failure| match reason {
        Some(DeathReason::Refused(refusal)) => refusal == failure,
        Some(DeathReason::Described(words)) => *words == failure.describe(),
        _ => false,
    };
    let last_error = item.row.last_failure.as_ref().and_then(|failure| {
        if said(failure) {
            failure.request_id().map(|rid| format!("Request id {rid}"))
        } else {
            Some(failure_line(failure))
        }
    });
    let reason = reason.map_or_else(|| "The server refused it.".to_owned(), death_reason);
    let describe_id = format!("dead-{id}");
    let retry = move |_| {
        if let Err(error) = queue.retry(id) {
            alerts.error(format!("It could not be retried: {error}."));
        }
    };
    let discard = move |_| {
        if let Err(error) = queue.discard(id) {
            alerts.error(format!("It could not be discarded: {error}."));
        }
    };
    view! {
        <li class="action-item dead" data-testid="dead-letter" data-action-id=id.to_string()>
            <div class="action-main" id=describe_id.clone()>
                <span class="action-what">{describe_action(&item.row.what)}</span>
                <span class="action-state">{reason}</span>
            </div>
            {last_error.map(|e| view! { <p class="action-error">{e}</p> })}
            <div class="form-actions">
                <button type="button" class="button" aria-describedby=describe_id.clone() on:click=retry>"Retry"</button>
                <button type="button" class="button danger" aria-describedby=describe_id on:click=discard>"Discard"</button>
            </div>
        </li>
    }
}

/// One stored record the queue cannot read, with "Export" and "Discard".
#[component]
fn UnreadableItem(
    /// The record as it is stored.
    record: UnreadableRecord,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let key = record.key.clone();
    let describe_id = format!("unreadable-{key}");
    let size = record.raw.len();
    let stored = StoredValue::new(record);
    let export = move |_| {
        let (name, text) = stored.with_value(|r| {
            // The stored text as JSON if it is JSON, else as a string: either way the file
            // holds exactly what was on the device.
            let value = serde_json::from_str::<serde_json::Value>(&r.raw)
                .unwrap_or_else(|_| serde_json::Value::String(r.raw.clone()));
            let json = serde_json::json!({ "key": r.key, "value": value });
            (
                format!("casedesk-unreadable-{}.json", file_safe(&r.key)),
                serde_json::to_string_pretty(&json).unwrap_or_default(),
            )
        });
        if let Err(error) = save_text_file(&name, "application/json", &text) {
            alerts.error(format!("The export could not be saved: {error}"));
        }
    };
    let discard = move |_| {
        let key = stored.with_value(|r| r.key.clone());
        leptos::task::spawn_local(async move {
            match queue.discard_unreadable(&key).await {
                Ok(()) => alerts.info("Discarded the unreadable stored change."),
                Err(error) => alerts.error(format!("It could not be discarded: {error}.")),
            }
        });
    };
    view! {
        <li class="action-item dead" data-testid="unreadable-record" data-key=key.clone()>
            <div class="action-main" id=describe_id.clone()>
                <span class="action-what">"Stored change " <code>{key.clone()}</code></span>
                <span class="action-state">{format!("{size} characters, not readable by this version")}</span>
            </div>
            <div class="form-actions">
                <button type="button" class="button" aria-describedby=describe_id.clone() on:click=export>"Export"</button>
                <button type="button" class="button danger" aria-describedby=describe_id on:click=discard>"Discard"</button>
            </div>
        </li>
    }
}

/// `key` with only letters, digits and dashes, for a file name.
fn file_safe(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}
