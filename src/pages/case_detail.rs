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
use crate::offline::{death_reason, use_offline_queue, EnqueueError, OfflineQueue};
use crate::permissions::allows;
use crate::platform::network::use_network_status;
use crate::query::{use_case, use_notes, QueryView};
use crate::words::Describe;
use casedesk_core::merge::{CaseField, ConflictChoice};
use casedesk_core::queue::view::{CaseQueueView, ChangeSync};
use casedesk_core::{Failure, QueryStatus};
use casedesk_model::case::normalise_assignee;
use casedesk_model::{Case, CasePatch, CaseStatus, FieldErrors, Note, Permission, Priority};
use leptos::ev::{Event, KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

mod history;

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
    let queued = id.map(|id| queue.case_view(id));
    let refused = move || queued?.with(|q| q.refused_creation.as_ref().map(death_reason));
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
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
    /// The field this mark is about.
    field: CaseField,
) -> impl IntoView {
    move || match queued.with(|q| q.field(field)) {
        None => None,
        Some(ChangeSync::Saving) => {
            Some(view! { <span class="field-sync" data-sync="pending">"Saving…"</span> }.into_any())
        }
        Some(ChangeSync::NotSaved) => Some(
            view! {
                <span class="field-sync" data-sync="failed">
                    "Not saved · " <a href="/sync">"details"</a>
                </span>
            }
            .into_any(),
        ),
    }
}

/// The field errors of one form, and how its fields send their changes.
#[derive(Clone, Copy)]
struct Editing {
    id: Uuid,
    queue: OfflineQueue,
    alerts: Alerts,
    errors: RwSignal<FieldErrors>,
}

impl Editing {
    fn new(id: Uuid) -> Self {
        Self {
            id,
            queue: use_offline_queue(),
            alerts: use_alerts(),
            errors: RwSignal::new(FieldErrors::new()),
        }
    }

    /// Queues `patch`; a refused field gets its message.
    fn send(self, patch: CasePatch) {
        self.send_then(patch, || {});
    }

    /// As [`Editing::send`], then `stored` once the change is on the device (queued), so an
    /// editor keeps the person's text on screen until then: cleared earlier, the old text
    /// would flash back with no "Saving…" until the queue answers. The queue checks the
    /// change (once, for every caller); a refused field gets its message and its editor
    /// stays open.
    fn send_then(self, patch: CasePatch, stored: impl FnOnce() + 'static) {
        let Self {
            id,
            queue,
            alerts,
            errors,
        } = self;
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

    fn error(self, field: CaseField) -> Signal<Option<String>> {
        let errors = self.errors;
        Signal::derive(move || errors.with(|e| e.get(patch_field_name(field)).map(str::to_owned)))
    }

    fn invalid(self, field: CaseField) -> impl Fn() -> String + Copy {
        let errors = self.errors;
        move || {
            errors
                .with(|e| e.get(patch_field_name(field)).is_some())
                .to_string()
        }
    }

    fn described(self, field: CaseField, control: &'static str) -> impl Fn() -> Option<String> {
        let errors = self.errors;
        move || {
            errors
                .with(|e| e.get(patch_field_name(field)).is_some())
                .then(|| format!("{control}-error"))
        }
    }
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
    let editing = Editing::new(id);
    let errors = editing.errors;
    // The text being edited; `None` while the title is only shown.
    let draft = RwSignal::new(None::<String>);
    let error = editing.error(CaseField::Title);
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
        // The field closes only once the new title is queued (a refusal keeps it open).
        editing.send_then(patch, move || {
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
    let queued = use_offline_queue().case_view(id);
    view! {
        <section class="page case-detail">
            <p class="breadcrumb"><a href="/cases">"← Cases"</a></p>
            <CaseHead id=id case=case.data queued=queued />
            <CaseConflict queued=queued />
            <div class="case-layout">
                <CaseFields id=id case=case.data queued=queued />
                <NotesPanel id=id notes=notes queued=queued />
                <history::CaseHistory id=id />
            </div>
        </section>
    }
}

/// The title (with its editor), the badges, and when the case was opened and changed.
#[component]
fn CaseHead(
    /// The case's id.
    id: Uuid,
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let title = Signal::derive(move || {
        case.with(|c| c.as_ref().map(|c| c.title.clone()).unwrap_or_default())
    });
    let status =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(CaseStatus::Open, |c| c.status)));
    let priority =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(Priority::Medium, |c| c.priority)));
    let sync = Signal::derive(move || queued.with(|q| q.sync));
    let created_at = move || case.with(|c| c.as_ref().map(|c| c.created_at));
    let updated_at = move || case.with(|c| c.as_ref().map(|c| c.updated_at));
    let version = move || case.with(|c| c.as_ref().map_or(0, |c| c.version));
    let writes = allows(Permission::WriteCases);
    view! {
        <div class="page-head case-head">
            <h1 class="case-title">{title}</h1>
            <div class="case-badges">
                <FieldSyncMark queued=queued field=CaseField::Title />
                <StatusBadge status=status />
                <PriorityBadge priority=priority />
                <SyncBadge state=sync />
            </div>
        </div>
        <Show when=move || writes.get()>
            <TitleEditor id=id title=title />
        </Show>
        <p class="case-meta">
            {move || created_at().map(|at| view! { "Opened " <LocalTime at=at /> })}
            {move || updated_at().map(|at| view! { " · updated " <LocalTime at=at relative=true /> })}
            {move || {
                let version = version();
                // Version 0 is a case created here that the server has not confirmed yet.
                if version == 0 { " · not on the server yet".to_owned() } else { format!(" · version {version}") }
            }}
        </p>
    }
}

/// The conflict waiting for the person's choice, when there is one: both versions, with
/// "Keep mine" and "Use theirs".
#[component]
fn CaseConflict(
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    move || {
        queued.with(|q| q.conflict.clone()).map(|(action_id, pending)| {
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
    }
}

/// The editable details: status and priority, assignee and tags, the description, and
/// "Delete case".
#[component]
fn CaseFields(
    /// The case's id.
    id: Uuid,
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let editing = Editing::new(id);
    // A viewer reads the details: every field is shown, none can be changed. Only an admin
    // deletes.
    let writes = allows(Permission::WriteCases);
    let deletes = allows(Permission::DeleteCases);
    view! {
        <form class="card case-fields" on:submit=|ev: SubmitEvent| ev.prevent_default()>
            <h2>"Details"</h2>
            <fieldset class="plain-fieldset" disabled=move || !writes.get()>
                <legend class="visually-hidden">"The case's details"</legend>
                <StatusAndPriority case=case queued=queued editing=editing />
                <AssigneeAndTags case=case queued=queued editing=editing />
                <DescriptionEditor case=case queued=queued editing=editing />
            </fieldset>
            <Show when=move || deletes.get()>
                <DeleteCase id=id />
            </Show>
        </form>
    }
}

/// The "Status" and "Priority" menus: a choice is queued at once.
#[component]
fn StatusAndPriority(
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
    /// The form's errors and sending.
    editing: Editing,
) -> impl IntoView {
    let status =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(CaseStatus::Open, |c| c.status)));
    let priority =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(Priority::Medium, |c| c.priority)));
    let on_status = move |ev: Event| {
        if let Some(next) = CaseStatus::parse(&event_target_value(&ev)) {
            if next != status.get_untracked() {
                editing.send(CasePatch {
                    status: Some(next),
                    ..CasePatch::default()
                });
            }
        }
    };
    let on_priority = move |ev: Event| {
        if let Some(next) = Priority::parse(&event_target_value(&ev)) {
            if next != priority.get_untracked() {
                editing.send(CasePatch {
                    priority: Some(next),
                    ..CasePatch::default()
                });
            }
        }
    };
    view! {
        <div class="field-row">
            <div class="field">
                <div class="field-head">
                    <label for="case-status">"Status"</label>
                    <FieldSyncMark queued=queued field=CaseField::Status />
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
                    <FieldSyncMark queued=queued field=CaseField::Priority />
                </div>
                <select id="case-priority" prop:value=move || priority.get().as_str() on:change=on_priority>
                    {Priority::ALL
                        .into_iter()
                        .map(|p| view! { <option value=p.as_str()>{p.label()}</option> })
                        .collect_view()}
                </select>
            </div>
        </div>
    }
}

/// The "Assignee" and "Tags" fields: saved when the person leaves them (the `change`
/// event), not per keystroke.
#[component]
fn AssigneeAndTags(
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
    /// The form's errors and sending.
    editing: Editing,
) -> impl IntoView {
    let assignee = move || {
        case.with(|c| {
            c.as_ref()
                .and_then(|c| c.assignee.clone())
                .unwrap_or_default()
        })
    };
    let tags = move || case.with(|c| c.as_ref().map(|c| c.tags.join(", ")).unwrap_or_default());
    let people_list = crate::people::people_list();
    let on_assignee = move |ev: Event| {
        let next = normalise_assignee(Some(event_target_value(&ev)));
        if next != case.with_untracked(|c| c.as_ref().and_then(|c| c.assignee.clone())) {
            editing.send(CasePatch {
                assignee: Some(next),
                ..CasePatch::default()
            });
        }
    };
    let on_tags = move |ev: Event| {
        let next = parse_tags(&event_target_value(&ev));
        if case.with_untracked(|c| c.as_ref().is_some_and(|c| c.tags != next)) {
            editing.send(CasePatch {
                tags: Some(next),
                ..CasePatch::default()
            });
        }
    };
    view! {
        <div class="field-row">
            <div class="field">
                <div class="field-head">
                    <label for="case-assignee">"Assignee"</label>
                    <FieldSyncMark queued=queued field=CaseField::Assignee />
                </div>
                // People to pick from; a server without people (`--no-auth`) lists none, and
                // its assignee stays free text.
                {move || if people_list.with(Vec::is_empty) {
                    view! {
                        <input
                            id="case-assignee"
                            type="text"
                            autocomplete="off"
                            placeholder="Unassigned"
                            aria-invalid=editing.invalid(CaseField::Assignee)
                            aria-describedby=editing.described(CaseField::Assignee, "case-assignee")
                            prop:value=assignee
                            on:change=on_assignee
                        />
                    }
                    .into_any()
                } else {
                    view! {
                        <select
                            id="case-assignee"
                            aria-invalid=editing.invalid(CaseField::Assignee)
                            aria-describedby=editing.described(CaseField::Assignee, "case-assignee")
                            prop:value=assignee
                            on:change=on_assignee
                        >
                            <option value="">"Unassigned"</option>
                            <crate::people::PersonOptions people=people_list assigning=true />
                        </select>
                    }
                    .into_any()
                }}
                <FieldError id="case-assignee-error" message=editing.error(CaseField::Assignee) />
            </div>
            <div class="field">
                <div class="field-head">
                    <label for="case-tags">"Tags"</label>
                    <FieldSyncMark queued=queued field=CaseField::Tags />
                </div>
                <input
                    id="case-tags"
                    type="text"
                    autocomplete="off"
                    placeholder="hardware, floor 3"
                    aria-invalid=editing.invalid(CaseField::Tags)
                    aria-describedby=editing.described(CaseField::Tags, "case-tags")
                    prop:value=tags
                    on:change=on_tags
                />
                <FieldError id="case-tags-error" message=editing.error(CaseField::Tags) />
            </div>
        </div>
    }
}

/// The description: longer text, edited as a draft and saved with "Save description".
#[component]
fn DescriptionEditor(
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
    /// The form's errors and sending.
    editing: Editing,
) -> impl IntoView {
    let description = move || {
        case.with(|c| {
            c.as_ref()
                .map(|c| c.description.clone())
                .unwrap_or_default()
        })
    };
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
            editing.send_then(patch, move || {
                draft.try_set(None);
            });
        }
    };
    view! {
        <div class="field">
            <div class="field-head">
                <label for="case-description">"Description"</label>
                <FieldSyncMark queued=queued field=CaseField::Description />
            </div>
            <textarea
                id="case-description"
                rows="6"
                aria-invalid=editing.invalid(CaseField::Description)
                aria-describedby=editing.described(CaseField::Description, "case-description")
                prop:value=shown_description
                on:input=move |ev| draft.set(Some(event_target_value(&ev)))
            ></textarea>
            <FieldError id="case-description-error" message=editing.error(CaseField::Description) />
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
    /// What the queue holds about the case (which notes are still saving).
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let writes = allows(Permission::WriteCases);
    view! {
        <section class="card case-notes" aria-labelledby="notes-heading">
            <h2 id="notes-heading">"Notes"</h2>
            <NoteList notes=notes queued=queued />
            <Show when=move || writes.get()>
                <NoteForm id=id />
            </Show>
        </section>
    }
}

/// The notes, oldest first, each marked "Saving…" or "Not saved" while queued.
#[component]
fn NoteList(
    /// The notes, overlaid with pending ones.
    notes: QueryView<Vec<Note>>,
    /// What the queue holds about the case.
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let sorted = Memo::new(move |_| {
        notes.data.with(|n| {
            n.as_ref().map(|notes| {
                let mut notes = notes.clone();
                // Stable: notes with the same time keep the server's order.
                casedesk_core::sort::sort_by_key(&mut notes, |n| n.created_at);
                notes
            })
        })
    });
    move || {
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
                    .map(|note| view! { <NoteItem note=note queued=queued /> })
                    .collect_view()}
            </ol>
        }
        .into_any(),
    }
    }
}

/// One note: who wrote it, when, and whether it is still saving.
#[component]
fn NoteItem(
    /// The note.
    note: Note,
    /// What the queue holds about its case.
    queued: Signal<CaseQueueView>,
) -> impl IntoView {
    let note_id = note.id;
    let state = move || queued.with(|q| q.note(note_id));
    view! {
        <li class="note" data-note-id=note_id.to_string()>
            <div class="note-meta">
                <strong>{author_name(&note, state().is_some())}</strong>
                " · "
                <LocalTime at=note.created_at relative=true />
                {move || match state() {
                    Some(ChangeSync::Saving) => Some(view! { <span class="field-sync" data-sync="pending">" Saving…"</span> }.into_any()),
                    Some(ChangeSync::NotSaved) => Some(view! { <span class="field-sync" data-sync="failed">" Not saved"</span> }.into_any()),
                    None => None,
                }}
            </div>
            <p class="note-body">{note.body.clone()}</p>
        </li>
    }
}

/// The field "Note" and "Add note". The queue checks the note (once); a refusal shows next
/// to the field.
#[component]
fn NoteForm(
    /// The case the note is added to.
    id: Uuid,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let body = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let text = body.get_untracked();
        error.set(None);
        spawn_local(async move {
            match queue.add_note(id, text).await {
                Ok(_) => {
                    body.try_set(String::new());
                }
                Err(EnqueueError::Invalid(fields)) => {
                    error.try_set(fields.get("body").map(str::to_owned));
                }
                Err(other) => alerts.error(format!("The note was not saved: {other}.")),
            }
        });
    };
    view! {
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
    }
}

/// The name a note shows: its author's, from the people the server lists (or as the server
/// wrote it); a note still on its way is the signed-in person's own.
fn author_name(note: &Note, unsaved: bool) -> String {
    if unsaved {
        if let Some(me) = crate::session::use_session().and_then(|s| {
            s.state()
                .with_untracked(|st| st.person().map(|p| p.name.clone()))
        }) {
            return me;
        }
    }
    let people = crate::people::use_people();
    note.author_id
        .and_then(|id| people.and_then(|p| p.name_of(id)))
        .unwrap_or_else(|| note.author.clone())
}
