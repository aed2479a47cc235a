//! `/cases/:id`: one case. Its fields, title included, change in place as queued actions
//! (shown at once, marked "Saving…" until the server confirms, "Not saved" if it refused);
//! its notes are listed oldest first with a form to add one; a conflict with someone
//! else's change shows both versions with "Keep mine" and "Use theirs".

use crate::components::alert_region::{use_alerts, Alerts};
use crate::components::badges::{PriorityBadge, StatusBadge, SyncBadge};
use crate::components::case_form::{control_id, focus_element, parse_tags, FieldError, TextField};
use crate::components::conflict_panel::ConflictPanel;
use crate::components::local_time::LocalTime;
use crate::components::skeleton::Skeleton;
use crate::offline::{use_offline_queue, EnqueueError, OfflineQueue};
use crate::platform::network::use_network_status;
use crate::query::{use_case, use_notes, QueryView};
use casedesk_core::merge::{CaseField, ConflictChoice};
use casedesk_core::{ActionKind, ActionState, Failure, QueryStatus, QueuedAction};
use casedesk_model::case::normalise_assignee;
use casedesk_model::validate::{check_note_body, validate_patch};
use casedesk_model::{Case, CasePatch, CaseStatus, FieldErrors, Note, Priority};
use leptos::ev::{Event, KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

/// One case.
#[component]
pub fn CaseDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params.with(|p| p.get_str("id").and_then(|text| Uuid::parse_str(text).ok()))
    });
    let case = use_case(id.into());
    let notes = use_notes(id.into());
    move || match id.get() {
        None => view! { <CaseMissing id=None /> }.into_any(),
        Some(id) => view! { <CaseScreen id=id case=case notes=notes /> }.into_any(),
    }
}

/// What the page shows for the case's query state: the case, a placeholder, "does not
/// exist", or an error with "Try again".
#[component]
fn CaseScreen(
    /// The case's id.
    id: Uuid,
    /// The case, overlaid with pending changes.
    case: QueryView<Case>,
    /// Its notes, overlaid with pending ones.
    notes: QueryView<Vec<Note>>,
) -> impl IntoView {
    let online = use_network_status().online;
    let screen = Memo::new(move |_| {
        // The status and error before the data: `data` is a memo over the same state, and
        // reading it first can hide a change from this memo (reactive_graph checks `data`,
        // which refreshes the shared state, and the state then looks unchanged here).
        let status = case.status.get();
        let error = case.error.get();
        if case.data.with(Option::is_some) {
            return Screen::Case;
        }
        match (status, error) {
            // An answer with nothing to show is a case being deleted here.
            (QueryStatus::Success, _) => Screen::Missing,
            (_, Some(Failure::Http { status: 404, .. })) => Screen::Missing,
            (QueryStatus::Error, Some(failure)) => Screen::Failed(failure.describe()),
            // Nothing on this device and no way to ask: a skeleton would wait forever.
            _ if !online.get() => Screen::NotOnDevice,
            _ => Screen::Loading,
        }
    });
    // Only a change of screen re-renders: a refetch leaves the case's form (and the focus
    // and drafts in it) alone.
    move || {
        match screen.get() {
        Screen::Case => view! { <CaseBody id=id case=case notes=notes /> }.into_any(),
        Screen::Missing => view! { <CaseMissing id=Some(id) /> }.into_any(),
        Screen::Failed(message) => view! {
            <section class="page">
                <h1>"This case could not be loaded"</h1>
                <div class="card error-state">
                    <p>{message}</p>
                    <button type="button" class="button" on:click=move |_| case.refetch()>"Try again"</button>
                </div>
                <p><a href="/cases">"Back to cases"</a></p>
            </section>
        }
        .into_any(),
        Screen::NotOnDevice => view! {
            <section class="page">
                <h1>"This case is not on this device yet"</h1>
                <p class="page-lede">
                    "You are offline, and this case has not been opened here recently. "
                    "It opens by itself as soon as the connection is back."
                </p>
                <p><a class="button" href="/cases">"Back to cases"</a></p>
            </section>
        }
        .into_any(),
        Screen::Loading => view! { <CaseSkeleton /> }.into_any(),
    }
    }
}

/// Which of its states the case page is in.
#[derive(Clone, Debug, PartialEq)]
enum Screen {
    Case,
    Missing,
    /// The load failed; the failure in words.
    Failed(String),
    /// Offline with nothing cached for this case.
    NotOnDevice,
    Loading,
}

/// A 404 (or an invalid id): says so plainly and offers the way back. When this device
/// tried to create the case and the server refused, it says why.
#[component]
fn CaseMissing(
    /// The id asked for, when it was one.
    id: Option<Uuid>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let records = queue.records();
    let refused = move || {
        let id = id?;
        records.with(|records| {
            records.iter().find_map(|r| match &r.action.kind {
                ActionKind::CreateCase { case }
                    if case.id == id && r.state == ActionState::Dead =>
                {
                    Some(r.dead_reason.as_ref().map_or_else(
                        || "the server refused it".to_owned(),
                        crate::offline::death_reason,
                    ))
                }
                _ => None,
            })
        })
    };
    view! {
        <section class="page">
            <h1>"This case does not exist"</h1>
            {move || match refused() {
                Some(reason) => view! {
                    <p class="page-lede">
                        "It was created on this device but could not be saved: " {reason} " "
                        <a href="/sync">"See it on the Sync page"</a>
                    </p>
                }
                .into_any(),
                None => view! {
                    <p class="page-lede">"It may have been deleted, or the link is wrong."</p>
                }
                .into_any(),
            }}
            <p><a class="button" href="/cases">"Back to cases"</a></p>
        </section>
    }
}

/// The page's shape while the case loads.
#[component]
fn CaseSkeleton() -> impl IntoView {
    view! {
        <section class="page case-detail" aria-busy="true">
            <p class="breadcrumb"><a href="/cases">"← Cases"</a></p>
            <h1><Skeleton width="60%" height="1.25em" /><span class="visually-hidden">"Loading the case"</span></h1>
            <div class="case-layout">
                <div class="card case-fields">
                    {(0..4)
                        .map(|_| view! { <div class="field"><Skeleton width="5rem" /><Skeleton height="2.4rem" /></div> })
                        .collect_view()}
                </div>
                <div class="card case-notes">
                    <Skeleton width="4rem" height="1.2em" />
                    <Skeleton height="4rem" />
                </div>
            </div>
        </section>
    }
}

/// Whether a field's latest change is still on its way, or was refused.
#[derive(Clone, Debug, PartialEq)]
enum FieldSync {
    Pending,
    Failed,
}

/// The state of the changes to `field` of case `id` among the queued `records`.
fn field_sync(records: &[QueuedAction], id: Uuid, field: CaseField) -> Option<FieldSync> {
    let mut state = None;
    for record in records.iter().filter(|r| r.action.case_id() == id) {
        if let ActionKind::UpdateCase { patch, .. } = &record.action.kind {
            if field.is_in(patch) {
                if record.state == ActionState::Dead {
                    return Some(FieldSync::Failed);
                }
                state = Some(FieldSync::Pending);
            }
        }
    }
    state
}

fn patch_field_name(field: CaseField) -> &'static str {
    match field {
        CaseField::Title => "title",
        CaseField::Description => "description",
        CaseField::Status => "status",
        CaseField::Priority => "priority",
        CaseField::Assignee => "assignee",
        CaseField::Tags => "tags",
    }
}

/// "Saving…" or "Not saved" next to a field's label.
#[component]
fn FieldSyncMark(
    /// The field's state among the queued changes.
    state: Signal<Option<FieldSync>>,
) -> impl IntoView {
    move || match state.get() {
        None => None,
        Some(FieldSync::Pending) => {
            Some(view! { <span class="field-sync" data-sync="pending">"Saving…"</span> }.into_any())
        }
        Some(FieldSync::Failed) => Some(
            view! {
                <span class="field-sync" data-sync="failed">
                    "Not saved · " <a href="/sync">"details"</a>
                </span>
            }
            .into_any(),
        ),
    }
}

/// Queues `patch` on case `id` after checking it; a refused field gets its message.
fn send_patch(
    queue: OfflineQueue,
    alerts: Alerts,
    errors: RwSignal<FieldErrors>,
    id: Uuid,
    patch: CasePatch,
) {
    send_patch_then(queue, alerts, errors, id, patch, || {});
}

/// As [`send_patch`], then `stored` once the change is on the device (queued), so an editor
/// keeps the person's text on screen until then: cleared earlier, the old text would flash
/// back with no "Saving…" until the queue answers.
fn send_patch_then(
    queue: OfflineQueue,
    alerts: Alerts,
    errors: RwSignal<FieldErrors>,
    id: Uuid,
    patch: CasePatch,
    stored: impl FnOnce() + 'static,
) {
    if let Err(fields) = validate_patch(&patch) {
        errors.set(fields);
        return;
    }
    errors.set(FieldErrors::new());
    spawn_local(async move {
        match queue.update_case(id, patch).await {
            Ok(()) => stored(),
            Err(EnqueueError::Invalid(fields)) => {
                errors.try_set(fields);
            }
            Err(other) => alerts.error(format!("The change was not saved: {other}.")),
        }
    });
}

/// "Edit title" under the heading: opens a field with "Save title" and "Cancel" (Enter saves,
/// Escape cancels). The heading shows the new title as soon as it is queued.
#[component]
fn TitleEditor(
    /// The case's id.
    id: Uuid,
    /// The title as shown, pending changes included.
    title: Signal<String>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let errors = RwSignal::new(FieldErrors::new());
    // The text being edited; `None` while the title is only shown.
    let draft = RwSignal::new(None::<String>);
    let error = Signal::derive(move || errors.with(|e| e.get("title").map(str::to_owned)));
    let open = move |_| {
        errors.set(FieldErrors::new());
        draft.set(Some(title.get_untracked()));
        // Typing can start at once: the field gets the focus once it is drawn.
        request_animation_frame(|| focus_element(control_id("title")));
    };
    let cancel = move || {
        errors.set(FieldErrors::new());
        draft.set(None);
    };
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(text) = draft.get_untracked() else {
            return;
        };
        let next = text.trim().to_owned();
        if next == title.get_untracked() {
            cancel();
            return;
        }
        let patch = CasePatch {
            title: Some(next),
            ..CasePatch::default()
        };
        // Checked here as well as in `send_patch`: the field stays open only when refused.
        if let Err(fields) = validate_patch(&patch) {
            errors.set(fields);
            return;
        }
        send_patch_then(queue, alerts, errors, id, patch, move || {
            draft.try_set(None);
        });
    };
    let escape = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            cancel();
        }
    };
    move || {
        match draft.with(Option::is_some) {
        false => view! {
            <button type="button" class="button quiet title-edit-open" on:click=open>"Edit title"</button>
        }
        .into_any(),
        true => view! {
            <form class="title-edit" on:submit=save on:keydown=escape>
                <TextField
                    field="title"
                    label="Title"
                    required=true
                    value=Signal::derive(move || draft.get().unwrap_or_default())
                    on_input=Callback::new(move |text| draft.set(Some(text)))
                    error=error
                />
                <div class="form-actions">
                    <button type="submit" class="button primary">"Save title"</button>
                    <button type="button" class="button" on:click=move |_| cancel()>"Cancel"</button>
                </div>
            </form>
        }
        .into_any(),
    }
    }
}

/// The case itself: heading, conflict panel, editable fields and notes.
#[component]
fn CaseBody(
    /// The case's id.
    id: Uuid,
    /// The case, overlaid with pending changes.
    case: QueryView<Case>,
    /// Its notes, overlaid with pending ones.
    notes: QueryView<Vec<Note>>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let records = queue.records();
    let conflict = queue.conflict_for(id);
    let sync = queue.sync_state(id);
    let errors = RwSignal::new(FieldErrors::new());
    let data = case.data;
    let read =
        move |f: fn(&Case) -> String| move || data.with(|c| c.as_ref().map(f).unwrap_or_default());
    let title = read(|c| c.title.clone());
    let status =
        Signal::derive(move || data.with(|c| c.as_ref().map_or(CaseStatus::Open, |c| c.status)));
    let priority =
        Signal::derive(move || data.with(|c| c.as_ref().map_or(Priority::Medium, |c| c.priority)));
    let assignee = read(|c| c.assignee.clone().unwrap_or_default());
    let tags = read(|c| c.tags.join(", "));
    let description = read(|c| c.description.clone());
    let sync_of =
        move |field: CaseField| Signal::derive(move || records.with(|r| field_sync(r, id, field)));
    let error_of = move |field: CaseField| {
        Signal::derive(move || errors.with(|e| e.get(patch_field_name(field)).map(str::to_owned)))
    };
    let invalid = move |field: CaseField| {
        move || {
            errors
                .with(|e| e.get(patch_field_name(field)).is_some())
                .to_string()
        }
    };
    let described = move |field: CaseField, control: &'static str| {
        move || {
            errors
                .with(|e| e.get(patch_field_name(field)).is_some())
                .then(|| format!("{control}-error"))
        }
    };
    let send = move |patch: CasePatch| send_patch(queue, alerts, errors, id, patch);

    let on_status = move |ev: Event| {
        if let Some(next) = CaseStatus::parse(&event_target_value(&ev)) {
            if next != status.get_untracked() {
                send(CasePatch {
                    status: Some(next),
                    ..CasePatch::default()
                });
            }
        }
    };
    let on_priority = move |ev: Event| {
        if let Some(next) = Priority::parse(&event_target_value(&ev)) {
            if next != priority.get_untracked() {
                send(CasePatch {
                    priority: Some(next),
                    ..CasePatch::default()
                });
            }
        }
    };
    // Text fields save when the person leaves them (the `change` event), not per keystroke.
    let on_assignee = move |ev: Event| {
        let next = normalise_assignee(Some(event_target_value(&ev)));
        if next != data.with_untracked(|c| c.as_ref().and_then(|c| c.assignee.clone())) {
            send(CasePatch {
                assignee: Some(next),
                ..CasePatch::default()
            });
        }
    };
    let on_tags = move |ev: Event| {
        let next = parse_tags(&event_target_value(&ev));
        if data.with_untracked(|c| c.as_ref().is_some_and(|c| c.tags != next)) {
            send(CasePatch {
                tags: Some(next),
                ..CasePatch::default()
            });
        }
    };
    // The description is longer text: it is edited as a draft and saved with a button.
    let draft = RwSignal::new(None::<String>);
    let shown_description = move || draft.get().unwrap_or_else(description);
    let save_description = move |_| {
        if let Some(text) = draft.get_untracked() {
            if text == description() {
                draft.set(None);
                return;
            }
            let patch = CasePatch {
                description: Some(text),
                ..CasePatch::default()
            };
            send_patch_then(queue, alerts, errors, id, patch, move || {
                draft.try_set(None);
            });
        }
    };

    let conflict_panel = move || {
        conflict.get().map(|(action_id, pending)| {
            let merged: Vec<String> = CaseField::ALL
                .into_iter()
                .filter(|f| f.is_in(&pending.auto_patch))
                .map(|f| f.label().to_owned())
                .collect();
            let choose = move |choice: ConflictChoice| {
                if let Err(error) = queue.resolve_conflict(action_id, choice) {
                    alerts.error(format!("The choice could not be applied: {error}."));
                }
            };
            view! { <ConflictPanel conflicts=pending.conflicts merged=merged on_choose=choose /> }
        })
    };

    let created_at = move || data.with(|c| c.as_ref().map(|c| c.created_at));
    let updated_at = move || data.with(|c| c.as_ref().map(|c| c.updated_at));
    let version = move || data.with(|c| c.as_ref().map_or(0, |c| c.version));

    view! {
        <section class="page case-detail">
            <p class="breadcrumb"><a href="/cases">"← Cases"</a></p>
            <div class="page-head case-head">
                <h1 class="case-title">{title}</h1>
                <div class="case-badges">
                    <FieldSyncMark state=sync_of(CaseField::Title) />
                    <StatusBadge status=status />
                    <PriorityBadge priority=priority />
                    <SyncBadge state=sync />
                </div>
            </div>
            <TitleEditor id=id title=Signal::derive(title) />
            <p class="case-meta">
                {move || created_at().map(|at| view! { "Opened " <LocalTime at=at /> })}
                {move || updated_at().map(|at| view! { " · updated " <LocalTime at=at relative=true /> })}
                {move || {
                    let version = version();
                    // Version 0 is a case created here that the server has not confirmed yet.
                    if version == 0 { " · not on the server yet".to_owned() } else { format!(" · version {version}") }
                }}
            </p>
            {conflict_panel}
            <div class="case-layout">
                <form class="card case-fields" on:submit=|ev: SubmitEvent| ev.prevent_default()>
                    <h2>"Details"</h2>
                    <div class="field-row">
                        <div class="field">
                            <div class="field-head">
                                <label for="case-status">"Status"</label>
                                <FieldSyncMark state=sync_of(CaseField::Status) />
                            </div>
                            <select id="case-status" prop:value=move || status.get().as_str() on:change=on_status>
                                {CaseStatus::ALL
                                    .into_iter()
                                    .map(|s| view! { <option value=s.as_str()>{s.label()}</option> })
                                    .collect_view()}
                            </select>
                        </div>
                        <div class="field">
                            <div class="field-head">
                                <label for="case-priority">"Priority"</label>
                                <FieldSyncMark state=sync_of(CaseField::Priority) />
                            </div>
                            <select id="case-priority" prop:value=move || priority.get().as_str() on:change=on_priority>
                                {Priority::ALL
                                    .into_iter()
                                    .map(|p| view! { <option value=p.as_str()>{p.label()}</option> })
                                    .collect_view()}
                            </select>
                        </div>
                    </div>
                    <div class="field-row">
                        <div class="field">
                            <div class="field-head">
                                <label for="case-assignee">"Assignee"</label>
                                <FieldSyncMark state=sync_of(CaseField::Assignee) />
                            </div>
                            <input
                                id="case-assignee"
                                type="text"
                                autocomplete="off"
                                placeholder="Unassigned"
                                aria-invalid=invalid(CaseField::Assignee)
                                aria-describedby=described(CaseField::Assignee, "case-assignee")
                                prop:value=assignee
                                on:change=on_assignee
                            />
                            <FieldError id="case-assignee-error" message=error_of(CaseField::Assignee) />
                        </div>
                        <div class="field">
                            <div class="field-head">
                                <label for="case-tags">"Tags"</label>
                                <FieldSyncMark state=sync_of(CaseField::Tags) />
                            </div>
                            <input
                                id="case-tags"
                                type="text"
                                autocomplete="off"
                                placeholder="hardware, floor 3"
                                aria-invalid=invalid(CaseField::Tags)
                                aria-describedby=described(CaseField::Tags, "case-tags")
                                prop:value=tags
                                on:change=on_tags
                            />
                            <FieldError id="case-tags-error" message=error_of(CaseField::Tags) />
                        </div>
                    </div>
                    <div class="field">
                        <div class="field-head">
                            <label for="case-description">"Description"</label>
                            <FieldSyncMark state=sync_of(CaseField::Description) />
                        </div>
                        <textarea
                            id="case-description"
                            rows="6"
                            aria-invalid=invalid(CaseField::Description)
                            aria-describedby=described(CaseField::Description, "case-description")
                            prop:value=shown_description
                            on:input=move |ev| draft.set(Some(event_target_value(&ev)))
                        ></textarea>
                        <FieldError id="case-description-error" message=error_of(CaseField::Description) />
                        <Show when=move || draft.with(|d| d.as_ref().is_some_and(|d| *d != description()))>
                            <div class="form-actions">
                                <button type="button" class="button primary" on:click=save_description>
                                    "Save description"
                                </button>
                                <button type="button" class="button" on:click=move |_| draft.set(None)>
                                    "Discard edit"
                                </button>
                            </div>
                        </Show>
                    </div>
                    <DeleteCase id=id />
                </form>
                <NotesPanel id=id notes=notes />
            </div>
        </section>
    }
}

/// "Delete case", asked twice: the first press asks, the second deletes.
#[component]
fn DeleteCase(
    /// The case to delete.
    id: Uuid,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let navigate = StoredValue::new_local(use_navigate());
    let asking = RwSignal::new(false);
    let delete = move |_| {
        spawn_local(async move {
            match queue.delete_case(id).await {
                Ok(()) => {
                    alerts.info("The case was deleted.");
                    let _ = navigate
                        .try_with_value(|navigate| navigate("/cases", NavigateOptions::default()));
                }
                Err(error) => alerts.error(format!("The case was not deleted: {error}.")),
            }
        });
    };
    view! {
        <div class="danger-zone">
            <Show
                when=move || asking.get()
                fallback=move || view! {
                    <button type="button" class="button danger" on:click=move |_| asking.set(true)>"Delete case"</button>
                }
            >
                <span>"Delete this case for everyone?"</span>
                <button type="button" class="button danger" on:click=delete>"Yes, delete"</button>
                <button type="button" class="button" on:click=move |_| asking.set(false)>"Keep it"</button>
            </Show>
        </div>
    }
}

/// The notes, oldest first, and the form that adds one.
#[component]
fn NotesPanel(
    /// The case the notes belong to.
    id: Uuid,
    /// The notes, overlaid with pending ones.
    notes: QueryView<Vec<Note>>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let records = queue.records();
    let body = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let pending_notes = Memo::new(move |_| {
        records.with(|records| {
            records
                .iter()
                .filter_map(|r| match &r.action.kind {
                    ActionKind::AddNote { case_id, note } if *case_id == id => {
                        Some((note.id, r.state == ActionState::Dead))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
    });
    let sorted = Memo::new(move |_| {
        notes.data.with(|n| {
            n.as_ref().map(|notes| {
                let mut notes = notes.clone();
                // Stable: notes with the same time keep the server's order.
                notes.sort_by_key(|n| n.created_at);
                notes
            })
        })
    });
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = body.get_untracked();
        let mut problems = FieldErrors::new();
        check_note_body(&text, &mut problems);
        if let Some(message) = problems.get("body") {
            error.set(Some(message.to_owned()));
            return;
        }
        error.set(None);
        spawn_local(async move {
            match queue.add_note(id, text).await {
                Ok(_) => body.set(String::new()),
                Err(EnqueueError::Invalid(fields)) => {
                    error.set(fields.get("body").map(str::to_owned));
                }
                Err(other) => alerts.error(format!("The note was not saved: {other}.")),
            }
        });
    };
    let list = move || {
        // The query's own status first, then the memo over its data (see `CaseScreen`).
        let failed = notes.status.get() == QueryStatus::Error;
        match sorted.get() {
        None if failed => view! {
            <div class="error-state">
                <p>"The notes could not be loaded."</p>
                <button type="button" class="button" on:click=move |_| notes.refetch()>"Try again"</button>
            </div>
        }
        .into_any(),
        None => view! { <div aria-busy="true"><Skeleton height="3rem" /></div> }.into_any(),
        Some(list) if list.is_empty() => view! { <p class="muted">"No notes yet."</p> }.into_any(),
        Some(list) => view! {
            <ol class="notes">
                {list
                    .into_iter()
                    .map(|note| {
                        let note_id = note.id;
                        let state = move || pending_notes.with(|p| p.iter().find(|(id, _)| *id == note_id).map(|(_, dead)| *dead));
                        view! {
                            <li class="note" data-note-id=note_id.to_string()>
                                <div class="note-meta">
                                    <strong>{note.author.clone()}</strong>
                                    " · "
                                    <LocalTime at=note.created_at relative=true />
                                    {move || match state() {
                                        Some(false) => Some(view! { <span class="field-sync" data-sync="pending">" Saving…"</span> }.into_any()),
                                        Some(true) => Some(view! { <span class="field-sync" data-sync="failed">" Not saved"</span> }.into_any()),
                                        None => None,
                                    }}
                                </div>
                                <p class="note-body">{note.body.clone()}</p>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        }
        .into_any(),
    }
    };
    view! {
        <section class="card case-notes" aria-labelledby="notes-heading">
            <h2 id="notes-heading">"Notes"</h2>
            {list}
            <form class="note-form" on:submit=add novalidate=true>
                <div class="field">
                    <label for="note-body">"Note"</label>
                    <textarea
                        id="note-body"
                        rows="3"
                        aria-invalid=move || error.with(Option::is_some).to_string()
                        aria-describedby=move || error.with(Option::is_some).then_some("note-body-error")
                        prop:value=move || body.get()
                        on:input=move |ev| body.set(event_target_value(&ev))
                    ></textarea>
                    <FieldError id="note-body-error" message=error />
                </div>
                <button type="submit" class="button primary">"Add note"</button>
            </form>
        </section>
    }
}
