//! The form that creates a case: Title, Description, Priority, Assignee and Tags.
//!
//! It checks the fields in the browser with the same rules and messages as the server
//! (`casedesk_model::validate`), shows each message next to its field (`aria-invalid`,
//! `aria-describedby`), and shows the server's 422 `fields` the same way.

use casedesk_model::validate::validate_new_case;
use casedesk_model::{CaseStatus, FieldErrors, NewCase, Priority};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use uuid::Uuid;
use wasm_bindgen::JsCast;

/// What the form holds, as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseDraft {
    pub title: String,
    pub description: String,
    pub priority: Priority,
    pub assignee: String,
    /// Comma-separated, as typed.
    pub tags: String,
}

impl Default for CaseDraft {
    fn default() -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            priority: Priority::Medium,
            assignee: String::new(),
            tags: String::new(),
        }
    }
}

impl CaseDraft {
    /// The create body for this draft, with the client-chosen `id`.
    pub fn to_new_case(&self, id: Uuid) -> NewCase {
        let assignee = self.assignee.trim();
        NewCase {
            id,
            title: self.title.trim().to_owned(),
            description: self.description.clone(),
            status: CaseStatus::Open,
            priority: self.priority,
            assignee: (!assignee.is_empty()).then(|| assignee.to_owned()),
            tags: parse_tags(&self.tags),
        }
    }
}

/// Tags typed as "hardware, floor 3": split on commas, trimmed, blanks and repeats dropped.
pub fn parse_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

/// The fields in the order they appear, with the id of their control: the first one in
/// error gets the focus after a refused submit.
const FIELDS: [(&str, &str); 5] = [
    ("title", "case-title"),
    ("description", "case-description"),
    ("priority", "case-priority"),
    ("assignee", "case-assignee"),
    ("tags", "case-tags"),
];

/// The id of the control for `field` (`"case-title"` for `"title"`).
pub fn control_id(field: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map_or("case-title", |(_, id)| id)
}

fn error_id(field: &str) -> String {
    format!("{}-error", control_id(field))
}

fn hint_id(field: &str) -> String {
    format!("{}-hint", control_id(field))
}

/// The `aria-describedby` of a control: its hint, if it has one, and its error, if shown.
fn described_by(field: &str, has_hint: bool, has_error: bool) -> Option<String> {
    let mut ids = Vec::new();
    if has_hint {
        ids.push(hint_id(field));
    }
    if has_error {
        ids.push(error_id(field));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// A field's error message, right under its control; nothing when the field is fine.
#[component]
pub fn FieldError(
    /// The element id the control's `aria-describedby` names.
    #[prop(into)]
    id: String,
    /// The message, when there is one.
    #[prop(into)]
    message: Signal<Option<String>>,
) -> impl IntoView {
    move || {
        message
            .get()
            .map(|text| view! { <p id=id.clone() class="field-error">{text}</p> })
    }
}

/// A one-line text control with its label, optional hint and error message, wired for
/// assistive technology (`aria-invalid`, `aria-describedby`).
#[component]
pub fn TextField(
    /// The field's name in the form and in the server's `fields`.
    field: &'static str,
    label: &'static str,
    /// A line under the control saying what goes in it.
    #[prop(optional)]
    hint: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(into)] value: Signal<String>,
    /// Receives what the person typed.
    on_input: Callback<String>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = control_id(field);
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=field
                type="text"
                autocomplete="off"
                required=required
                aria-required=required.then_some("true")
                aria-invalid=move || error.with(Option::is_some).to_string()
                aria-describedby=move || {
                    described_by(field, hint.is_some(), error.with(Option::is_some))
                }
                prop:value=move || value.get()
                on:input=move |ev| on_input.run(event_target_value(&ev))
            />
            {hint.map(|text| view! { <p id=hint_id(field) class="field-hint">{text}</p> })}
            <FieldError id=error_id(field) message=error />
        </div>
    }
}

/// The "Assignee" picker: the people the server lists (`GET /users`) and "Unassigned"; the
/// value is the person's id, which is what the server takes. A server without people
/// (`--no-auth`) lists nobody, and there the assignee stays free text.
#[component]
fn AssigneeField(
    /// The person's id as text, or blank for nobody (free text where nobody is listed).
    #[prop(into)]
    value: Signal<String>,
    /// Receives the new value.
    on_change: Callback<String>,
    /// The field's message, when there is one.
    #[prop(into)]
    error: Signal<Option<String>>,
) -> impl IntoView {
    let field = "assignee";
    let hint = "Optional: who works on it.";
    let people = crate::people::people_list();
    let invalid = move || error.with(Option::is_some).to_string();
    let describe = move || described_by(field, true, error.with(Option::is_some));
    view! {
        <div class="field">
            <label for=control_id(field)>"Assignee"</label>
            {move || if people.with(Vec::is_empty) {
                view! {
                    <input
                        id=control_id(field)
                        name=field
                        type="text"
                        autocomplete="off"
                        aria-invalid=invalid
                        aria-describedby=describe
                        prop:value=move || value.get()
                        on:input=move |ev| on_change.run(event_target_value(&ev))
                    />
                }
                .into_any()
            } else {
                view! {
                    <select
                        id=control_id(field)
                        name=field
                        aria-invalid=invalid
                        aria-describedby=describe
                        prop:value=move || value.get()
                        on:change=move |ev| on_change.run(event_target_value(&ev))
                    >
                        <option value="">"Unassigned"</option>
                        <crate::people::PersonOptions people=people assigning=true />
                    </select>
                }
                .into_any()
            }}
            <p id=hint_id(field) class="field-hint">{hint}</p>
            <FieldError id=error_id(field) message=error />
        </div>
    }
}

/// Puts the focus on the element with this id, if there is one that can take it.
pub fn focus_element(id: &str) {
    if let Some(element) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// The new-case form. Submitting checks every field; if one breaks a rule its message shows
/// next to it and the first such field gets the focus, otherwise `on_submit` receives the
/// case (with a fresh UUIDv7 id). After a refused submit, messages follow the typing.
#[component]
pub fn CaseForm(
    /// Receives the case once every field passes.
    #[prop(into)]
    on_submit: Callback<NewCase>,
    /// The server's 422 `fields`, shown like the browser's own messages until the field is edited.
    #[prop(into, default = Signal::stored(FieldErrors::new()))]
    server_errors: Signal<FieldErrors>,
    /// True while a submit is being handled: the button is disabled.
    #[prop(into, default = Signal::stored(false))]
    busy: Signal<bool>,
) -> impl IntoView {
    let draft = RwSignal::new(CaseDraft::default());
    let attempted = RwSignal::new(false);
    // Fields changed since the server's errors arrived: its message no longer applies to them.
    let edited = RwSignal::new(Vec::<&'static str>::new());
    Effect::new(move |_| {
        server_errors.track();
        edited.set(Vec::new());
    });
    let browser_errors = Memo::new(move |_| {
        draft.with(|d| {
            validate_new_case(&d.to_new_case(Uuid::nil()))
                .err()
                .unwrap_or_default()
        })
    });
    let error_for = move |field: &'static str| -> Option<String> {
        if attempted.get() {
            if let Some(message) = browser_errors.with(|e| e.get(field).map(str::to_owned)) {
                return Some(message);
            }
        }
        if edited.with(|e| e.contains(&field)) {
            return None;
        }
        server_errors.with(|e| e.get(field).map(str::to_owned))
    };
    let invalid = move |field: &'static str| error_for(field).is_some().to_string();
    let describe = move |field: &'static str, hint: bool| {
        described_by(field, hint, error_for(field).is_some())
    };
    let touch = move |field: &'static str| {
        edited.update(|e| {
            if !e.contains(&field) {
                e.push(field);
            }
        });
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        attempted.set(true);
        // The draft's errors are already known (they show as the person types): the form
        // does not check it again, and the queue checks the case once more as it stores it.
        let first_bad = browser_errors.with_untracked(|errors| {
            FIELDS
                .iter()
                .find(|(name, _)| errors.get(name).is_some())
                .map(|(_, id)| *id)
        });
        match first_bad {
            None => on_submit.run(draft.with_untracked(|d| d.to_new_case(Uuid::now_v7()))),
            Some(id) => focus_element(id),
        }
    };

    view! {
        <form class="card case-form" novalidate=true on:submit=submit>
            <TextField
                field="title"
                label="Title"
                hint="A short summary, up to 200 characters."
                required=true
                value=Signal::derive(move || draft.with(|d| d.title.clone()))
                on_input=Callback::new(move |text| {
                    draft.update(|d| d.title = text);
                    touch("title");
                })
                error=Signal::derive(move || error_for("title"))
            />
            <div class="field">
                <label for="case-description">"Description"</label>
                <textarea
                    id="case-description"
                    name="description"
                    rows="5"
                    aria-invalid=move || invalid("description")
                    aria-describedby=move || describe("description", false)
                    prop:value=move || draft.with(|d| d.description.clone())
                    on:input=move |ev| {
                        draft.update(|d| d.description = event_target_value(&ev));
                        touch("description");
                    }
                ></textarea>
                <FieldError id=error_id("description") message=Signal::derive(move || error_for("description")) />
            </div>
            <div class="field-row">
                <div class="field">
                    <label for="case-priority">"Priority"</label>
                    <select
                        id="case-priority"
                        name="priority"
                        aria-invalid=move || invalid("priority")
                        aria-describedby=move || describe("priority", false)
                        prop:value=move || draft.with(|d| d.priority.as_str())
                        on:change=move |ev| {
                            if let Some(priority) = Priority::parse(&event_target_value(&ev)) {
                                draft.update(|d| d.priority = priority);
                            }
                            touch("priority");
                        }
                    >
                        {Priority::ALL
                            .into_iter()
                            .map(|p| view! { <option value=p.as_str()>{p.label()}</option> })
                            .collect_view()}
                    </select>
                    <FieldError id=error_id("priority") message=Signal::derive(move || error_for("priority")) />
                </div>
                <AssigneeField
                    value=Signal::derive(move || draft.with(|d| d.assignee.clone()))
                    on_change=Callback::new(move |text| {
                        draft.update(|d| d.assignee = text);
                        touch("assignee");
                    })
                    error=Signal::derive(move || error_for("assignee"))
                />
            </div>
            <TextField
                field="tags"
                label="Tags"
                hint="Separate tags with commas, e.g. hardware, floor 3."
                value=Signal::derive(move || draft.with(|d| d.tags.clone()))
                on_input=Callback::new(move |text| {
                    draft.update(|d| d.tags = text);
                    touch("tags");
                })
                error=Signal::derive(move || error_for("tags"))
            />
            <div class="form-actions">
                <button type="submit" class="button primary" disabled=move || busy.get()>"Create case"</button>
                <a class="button" href="/cases">"Cancel"</a>
            </div>
        </form>
    }
}
