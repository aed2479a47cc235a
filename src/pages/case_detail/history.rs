//! The case page's history (docs/api.md §4): who changed what, from what to what, and when,
//! newest first, with the person's own changes not yet on the server marked at the top.
//! Read from `GET /cases/{id}/history` through the query cache (`QueryKey::History`): kept
//! for offline, and read again whenever the case changes (the cache invalidates it with the
//! case, on this device's confirmed changes and on others' live ones).

use crate::components::local_time::LocalTime;
use crate::offline::describe_action;
use crate::offline::OfflineQueue;
use crate::people::PeopleDirectory;
use crate::query::use_history;
use crate::words::field_value_label;
use casedesk_core::queue::ActionSummary;
use casedesk_core::QueryStatus;
use casedesk_model::{FieldChange, HistoryEntry, HistoryKind};
use leptos::prelude::*;
use uuid::Uuid;

/// A value of a history change in words: a status or priority by the name the app shows
/// ("In progress"), a person's id (the assignee) as their name when known, nothing as
/// "nothing", other text as it is.
fn value_words(field: &str, value: &serde_json::Value, people: Option<PeopleDirectory>) -> String {
    match value {
        serde_json::Value::Null => "nothing".to_owned(),
        serde_json::Value::String(text) if field == "assignee" => text
            .parse::<Uuid>()
            .ok()
            .and_then(|id| people.and_then(|p| p.name_of(id)))
            .unwrap_or_else(|| text.clone()),
        serde_json::Value::String(text) if text.is_empty() => "nothing".to_owned(),
        serde_json::Value::String(text) => {
            field_value_label(field, text).map_or_else(|| text.clone(), str::to_owned)
        }
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// "status from “Open” to “Resolved”".
fn change_words(change: &FieldChange, people: Option<PeopleDirectory>) -> String {
    format!(
        "{} from “{}” to “{}”",
        change.field,
        value_words(&change.field, &change.from, people),
        value_words(&change.field, &change.to, people)
    )
}

fn verb(kind: HistoryKind) -> &'static str {
    match kind {
        HistoryKind::Created => "created the case",
        HistoryKind::Updated => "changed",
        HistoryKind::Deleted => "deleted the case",
        HistoryKind::NoteAdded => "added a note",
    }
}

/// The history of case `id`.
#[component]
pub fn CaseHistory(
    /// The case.
    id: Uuid,
) -> impl IntoView {
    let people = crate::people::use_people();
    let queue = use_context::<OfflineQueue>();
    let history = use_history(Signal::stored(Some(id)));
    let unsaved = move || {
        queue
            .map(|q| {
                q.records_for(id).with(|records| {
                    records
                        .iter()
                        .filter(|r| r.state.is_live())
                        .map(|r| describe_action(&ActionSummary::of(&r.action)))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default()
    };
    let name_of = move |actor: Option<Uuid>| {
        actor
            .and_then(|id| people.and_then(|p| p.name_of(id)))
            .unwrap_or_else(|| "Someone".to_owned())
    };
    let row = move |entry: HistoryEntry| {
        let who = name_of(entry.actor_id);
        let what = if entry.kind == HistoryKind::Updated && !entry.changes.is_empty() {
            let changes: Vec<String> = entry
                .changes
                .iter()
                .map(|c| change_words(c, people))
                .collect();
            format!("{who} changed {}", changes.join("; "))
        } else {
            format!("{who} {}", verb(entry.kind))
        };
        view! {
            <li class="history-entry" data-testid="history-entry" data-kind=entry.kind.as_str()>
                <span class="history-what">{what}</span>
                " · "
                <LocalTime at=entry.at relative=true />
            </li>
        }
    };
    view! {
        <section class="card case-history" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <ul class="history">
                {move || {
                    unsaved()
                        .into_iter()
                        .map(|what| {
                            view! {
                                <li class="history-entry unsaved" data-testid="history-unsaved">
                                    <span class="badge">"Not saved yet"</span>
                                    " Your change: "
                                    {what}
                                </li>
                            }
                        })
                        .collect_view()
                }}
                {move || {
                    // Status before data (see DEVELOPERS.md: reading the data memo first can
                    // hide a change).
                    let loading = history.status.get() == QueryStatus::Loading;
                    match history.data.get() {
                        Some(list) => list.into_iter().rev().map(row).collect_view().into_any(),
                        None if loading => view! { <li class="muted">"Loading the history…"</li> }
                            .into_any(),
                        None => view! { <li class="muted">"The history is not available right now."</li> }
                            .into_any(),
                    }
                }}
            </ul>
        </section>
    }
}
