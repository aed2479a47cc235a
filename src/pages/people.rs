//! `/people` (admins): everyone who can sign in, with their role and whether they are
//! active; adding a person (which shows their one-time setup code), changing a role,
//! deactivating or reactivating, and a new setup code. Every change goes to the server at
//! once; a refusal is said in the alert region or beside its field. Others see a refusal.

use crate::components::alert_region::{use_alerts, Alerts};
use crate::components::case_form::FieldError;
use crate::components::field_errors::FieldErrorsShown;
use crate::components::local_time::LocalTime;
use crate::people::{use_people, PeopleDirectory};
use crate::permissions::allows;
use crate::query::use_users;
use crate::session::use_session;
use crate::words::{account_refusal, role_name, role_summary, Describe};
use casedesk_core::QueryStatus;
use casedesk_model::validate::validate_new_person;
use casedesk_model::{
    FieldErrors, NewPerson, Permission, Person, PersonPatch, Role, SetupCodeIssued,
};
use leptos::ev::SubmitEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

/// The People page, or a plain refusal for anyone but an admin.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let admin = allows(Permission::ManagePeople);
    let people = use_people();
    move || {
        match (admin.get(), people) {
        (true, Some(people)) => view! { <PeopleScreen people=people /> }.into_any(),
        _ => view! {
            <section class="page people">
                <h1>"People"</h1>
                <p class="page-lede" data-testid="people-refused">
                    "Only an admin can manage people. Ask an admin if you need someone added or your role changed."
                </p>
            </section>
        }
        .into_any(),
    }
    }
}

/// The latest setup code, shown once, with whose it is.
#[derive(Clone, Debug, PartialEq)]
struct ShownCode {
    name: String,
    issued: SetupCodeIssued,
}

/// The page for an admin.
#[component]
fn PeopleScreen(
    /// The people, and how to change them.
    people: PeopleDirectory,
) -> impl IntoView {
    let users = use_users();
    let shown = RwSignal::new(None::<ShownCode>);
    let me = use_session().and_then(|s| s.person_id());
    let rows = Memo::new(move |_| users.data.get().unwrap_or_default());
    view! {
        <section class="page people">
            <div class="page-head">
                <h1>"People"</h1>
            </div>
            <p class="page-lede">
                "Everyone who can sign in. A new person gets a setup code to choose their password with; a deactivated person can no longer sign in, and what they wrote keeps their name."
            </p>
            <SetupCodePanel shown=shown />
            <AddPerson people=people shown=shown />
            {move || {
                // The status and error before the data (see `CaseScreen` in case_detail).
                let status = users.status.get();
                let error = users.error.get();
                match (rows.with(Vec::is_empty), status, error) {
                    (true, QueryStatus::Error, Some(failure)) => view! {
                        <p class="error-state">{format!("The people could not be loaded. {}", failure.describe())}</p>
                    }
                    .into_any(),
                    (true, QueryStatus::Loading, _) => view! { <p class="muted" aria-busy="true">"Loading people…"</p> }.into_any(),
                    _ => ().into_any(),
                }
            }}
            <div class="table-wrap">
                <table class="people-table">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Email"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        // Keyed by what a row shows, so a change the server confirmed draws
                        // the row again with its new role and state.
                        <For
                            each=move || rows.get()
                            key=|p| (p.id, p.role, p.active, p.name.clone(), p.email.clone())
                            let:person
                        >
                            <PersonRow person=person people=people shown=shown me=me />
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// The setup code just issued: shown this once, with whose it is and until when it works.
#[component]
fn SetupCodePanel(
    /// The code to show, if one was just issued.
    shown: RwSignal<Option<ShownCode>>,
) -> impl IntoView {
    move || {
        shown.get().map(|code| {
            view! {
                <div class="card setup-code-panel" role="status">
                    <p>
                        {format!("The setup code for {}: ", code.name)}
                        <code class="setup-code" data-testid="setup-code">{code.issued.setup_code.clone()}</code>
                    </p>
                    <p class="hint">
                        "Give it to them in person or by a channel you trust. It works once, until "
                        <LocalTime at=code.issued.expires_at />
                        ", and is not shown again."
                    </p>
                    <button type="button" class="button" on:click=move |_| shown.set(None)>"Done"</button>
                </div>
            }
        })
    }
}

/// "Add person": email, name and role; the setup code shows once the server has added them.
#[component]
fn AddPerson(
    /// The people, and how to change them.
    people: PeopleDirectory,
    /// Where the new person's setup code shows.
    shown: RwSignal<Option<ShownCode>>,
) -> impl IntoView {
    let alerts = use_alerts();
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Agent);
    let errors = RwSignal::new(FieldErrors::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let person = NewPerson {
            email: email.get_untracked().trim().to_owned(),
            name: name.get_untracked().trim().to_owned(),
            role: role.get_untracked(),
        };
        if let Err(fields) = validate_new_person(&person) {
            errors.set(fields);
            return;
        }
        errors.set(FieldErrors::new());
        busy.set(true);
        spawn_local(async move {
            match people.add(&person).await {
                Ok(Ok(issued)) => {
                    shown.try_set(Some(ShownCode {
                        name: issued.user.name.clone(),
                        issued,
                    }));
                    email.try_set(String::new());
                    name.try_set(String::new());
                    role.try_set(Role::Agent);
                }
                Ok(Err(fields)) => {
                    errors.try_set(fields);
                }
                Err(error) => alerts.error(format!(
                    "{} was not added. {}",
                    person.name,
                    account_refusal(&error)
                )),
            }
            busy.try_set(false);
        });
    };
    let shown = FieldErrorsShown::new(errors, "new-person");
    let error = move |field: &'static str| shown.error(field);
    let invalid = move |field: &'static str| shown.invalid(field);
    let described = move |field: &'static str| shown.described(field);
    view! {
        <form class="card add-person" on:submit=submit novalidate=true aria-labelledby="add-person-heading">
            <h2 id="add-person-heading">"Add a person"</h2>
            <div class="field-row">
                <div class="field">
                    <label for="new-person-email">"Email"</label>
                    <input
                        id="new-person-email"
                        type="email"
                        autocomplete="off"
                        required
                        aria-invalid=invalid("email")
                        aria-describedby=described("email")
                        prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev))
                    />
                    <FieldError id="new-person-email-error" message=error("email") />
                </div>
                <div class="field">
                    <label for="new-person-name">"Name"</label>
                    <input
                        id="new-person-name"
                        type="text"
                        autocomplete="off"
                        required
                        aria-invalid=invalid("name")
                        aria-describedby=described("name")
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <FieldError id="new-person-name-error" message=error("name") />
                </div>
                <div class="field">
                    <label for="new-person-role">"Role"</label>
                    <select
                        id="new-person-role"
                        prop:value=move || role.get().as_str()
                        on:change=move |ev| {
                            if let Some(next) = Role::parse(&event_target_value(&ev)) {
                                role.set(next);
                            }
                        }
                    >
                        <RoleOptions />
                    </select>
                    <FieldError id="new-person-role-error" message=error("role") />
                </div>
            </div>
            <button type="submit" class="button primary" disabled=move || busy.get()>"Add person"</button>
        </form>
    }
}

/// One `<option>` per role, least powerful first, each saying what it allows.
#[component]
fn RoleOptions() -> impl IntoView {
    Role::ALL
        .into_iter()
        .map(|r| {
            view! {
                <option value=r.as_str()>{format!("{} — {}", role_name(r), role_summary(r))}</option>
            }
        })
        .collect_view()
}

/// One person: their role (changed at once), "Deactivate" or "Reactivate", "New setup code".
#[component]
fn PersonRow(
    /// The person as the server lists them.
    person: Person,
    /// How to change them.
    people: PeopleDirectory,
    /// Where a new setup code shows.
    shown: RwSignal<Option<ShownCode>>,
    /// The signed-in admin.
    me: Option<Uuid>,
) -> impl IntoView {
    let is_me = me == Some(person.id);
    let alerts = use_alerts();
    let busy = RwSignal::new(false);
    let role_select = NodeRef::<html::Select>::new();
    let id = person.id;
    let name = StoredValue::new(person.name.clone());
    let role = person.role;
    let active = person.active;
    let change_role = move |ev: leptos::ev::Event| {
        let Some(next) = Role::parse(&event_target_value(&ev)) else {
            return;
        };
        if next == role {
            return;
        }
        let patch = PersonPatch {
            role: Some(next),
            ..PersonPatch::default()
        };
        // A refusal puts the menu back on the role the server kept.
        let put_back = move || {
            if let Some(select) = role_select.get_untracked() {
                select.set_value(role.as_str());
            }
        };
        change(people, alerts, busy, id, name.get_value(), patch, put_back);
    };
    let toggle_active = move |_| {
        let patch = PersonPatch {
            active: Some(!active),
            ..PersonPatch::default()
        };
        change(people, alerts, busy, id, name.get_value(), patch, || {});
    };
    let new_code = move |_| {
        busy.set(true);
        spawn_local(async move {
            match people.issue_setup_code(id).await {
                Ok(issued) => {
                    shown.try_set(Some(ShownCode {
                        name: name.get_value(),
                        issued,
                    }));
                }
                Err(error) => alerts.error(format!(
                    "No new setup code for {}. {}",
                    name.get_value(),
                    account_refusal(&error)
                )),
            }
            busy.try_set(false);
        });
    };
    let select_id = format!("person-role-{id}");
    view! {
        <tr data-testid="person-row" data-person-id=id.to_string() data-active=active.to_string() class:inactive=!active>
            <td class="col-name">
                {person.name.clone()}
                {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
            </td>
            <td class="col-email">{person.email.clone()}</td>
            <td class="col-role">
                <label class="visually-hidden" for=select_id.clone()>"Role"</label>
                <select
                    id=select_id
                    node_ref=role_select
                    prop:value=role.as_str()
                    disabled=move || busy.get()
                    on:change=change_role
                >
                    {Role::ALL
                        .into_iter()
                        .map(|r| view! { <option value=r.as_str()>{role_name(r)}</option> })
                        .collect_view()}
                </select>
            </td>
            <td class="col-status">{if active { "Active" } else { "Deactivated" }}</td>
            <td class="col-actions">
                <button type="button" class="button" class:danger=active disabled=move || busy.get() on:click=toggle_active>
                    {if active { "Deactivate" } else { "Reactivate" }}
                </button>
                " "
                <button type="button" class="button" disabled=move || busy.get() on:click=new_code>
                    "New setup code"
                </button>
            </td>
        </tr>
    }
}

/// Sends `patch` for the person `id`; on a refusal, says why and runs `refused`.
fn change(
    people: PeopleDirectory,
    alerts: Alerts,
    busy: RwSignal<bool>,
    id: Uuid,
    name: String,
    patch: PersonPatch,
    refused: impl FnOnce() + 'static,
) {
    busy.set(true);
    spawn_local(async move {
        let why = match people.change(id, &patch).await {
            Ok(Ok(_)) => None,
            Ok(Err(fields)) => Some(
                fields
                    .iter()
                    .map(|(_, message)| message.clone())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Err(error) => Some(account_refusal(&error)),
        };
        if let Some(why) = why {
            alerts.error(format!("{name} was not changed. {why}"));
            refused();
        }
        busy.try_set(false);
    });
}
