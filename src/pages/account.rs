//! `/account`: the signed-in person's own account — who they are and their role, changing
//! their password (which ends their other sessions) and signing out everywhere else. Both
//! go to the server at once; a refusal shows beside its field or in the alert region.

use crate::components::alert_region::use_alerts;
use crate::components::case_form::FieldError;
use crate::components::field_errors::FieldErrorsShown;
use crate::config::use_app_config;
use crate::session::use_session;
use crate::words::{account_refusal, role_name, role_summary};
use casedesk_model::validate::{check_password, PASSWORD_MIN};
use casedesk_model::{FieldErrors, PasswordChange};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    let session = use_session();
    let person = session.map(|s| s.state());
    let who = move || person.and_then(|state| state.with(|s| s.person().cloned()));
    // A server without people has no password to change and no sessions to end.
    let signed_in = session.is_some_and(|s| s.holds_token());
    view! {
        <section class="page account">
            <h1>"Account"</h1>
            {move || who().map(|p| view! {
                <dl class="card account-facts">
                    <dt>"Name"</dt><dd>{p.name}</dd>
                    <dt>"Email"</dt><dd>{p.email}</dd>
                    <dt>"Role"</dt><dd>{format!("{} — {}", role_name(p.role), role_summary(p.role))}</dd>
                </dl>
            })}
            {if signed_in {
                view! {
                    <ChangePassword />
                    <SignOutEverywhere />
                }
                .into_any()
            } else {
                view! { <p class="page-lede">"This server runs without people: there is no password to change."</p> }
                    .into_any()
            }}
        </section>
    }
}

/// "Current password", "New password" and "Change password".
#[component]
fn ChangePassword() -> impl IntoView {
    let alerts = use_alerts();
    let session = use_session();
    let api = use_app_config().api;
    let api = StoredValue::new(api);
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let errors = RwSignal::new(FieldErrors::new());
    let busy = RwSignal::new(false);
    let done = RwSignal::new(false);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let email = session
            .and_then(|s| {
                s.state()
                    .with_untracked(|st| st.person().map(|p| p.email.clone()))
            })
            .unwrap_or_default();
        let change = PasswordChange {
            current: current.get_untracked(),
            new: new.get_untracked(),
        };
        let mut checked = FieldErrors::new();
        if change.current.is_empty() {
            checked.insert("current", "Type your current password.".to_owned());
        }
        check_password("new", &change.new, &email, &mut checked);
        done.set(false);
        if !checked.is_empty() {
            errors.set(checked);
            return;
        }
        errors.set(FieldErrors::new());
        busy.set(true);
        let api = api.get_value();
        spawn_local(async move {
            match api.change_password(&change).await.result {
                Ok(Ok(())) => {
                    current.try_set(String::new());
                    new.try_set(String::new());
                    done.try_set(true);
                    alerts.info("Your password was changed. Your other sessions were ended.");
                }
                Ok(Err(fields)) => {
                    errors.try_set(fields);
                }
                Err(error) => alerts.error(format!(
                    "Your password was not changed. {}",
                    account_refusal(&error)
                )),
            }
            busy.try_set(false);
        });
    };
    let shown = FieldErrorsShown::new(errors, "password");
    let error = move |field: &'static str| shown.error(field);
    let invalid = move |field: &'static str| shown.invalid(field);
    let described = move |field: &'static str| shown.described(field);
    view! {
        <form class="card change-password" on:submit=submit novalidate=true aria-labelledby="change-password-heading">
            <h2 id="change-password-heading">"Password"</h2>
            <div class="field">
                <label for="password-current">"Current password"</label>
                <input
                    id="password-current"
                    type="password"
                    autocomplete="current-password"
                    required
                    aria-invalid=invalid("current")
                    aria-describedby=described("current")
                    prop:value=move || current.get()
                    on:input=move |ev| current.set(event_target_value(&ev))
                />
                <FieldError id="password-current-error" message=error("current") />
            </div>
            <div class="field">
                <label for="password-new">"New password"</label>
                <input
                    id="password-new"
                    type="password"
                    autocomplete="new-password"
                    required
                    aria-invalid=invalid("new")
                    aria-describedby=described("new")
                    prop:value=move || new.get()
                    on:input=move |ev| new.set(event_target_value(&ev))
                />
                <p class="field-hint">{format!("At least {PASSWORD_MIN} characters, and not your email. Your other sessions end when it changes.")}</p>
                <FieldError id="password-new-error" message=error("new") />
            </div>
            <button type="submit" class="button primary" disabled=move || busy.get()>"Change password"</button>
            <p role="status" class="muted">{move || done.get().then_some("Password changed.")}</p>
        </form>
    }
}

/// "Sign out everywhere": every other session of the person ends; this one stays.
#[component]
fn SignOutEverywhere() -> impl IntoView {
    let alerts = use_alerts();
    let api = StoredValue::new(use_app_config().api);
    let busy = RwSignal::new(false);
    let done = RwSignal::new(false);
    let sign_out = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        done.set(false);
        let api = api.get_value();
        spawn_local(async move {
            match api.sign_out_everywhere_else().await.result {
                Ok(()) => {
                    done.try_set(true);
                }
                Err(error) => alerts.error(format!(
                    "Your other sessions were not ended. {}",
                    account_refusal(&error)
                )),
            }
            busy.try_set(false);
        });
    };
    view! {
        <div class="card sign-out-everywhere">
            <h2>"Sessions"</h2>
            <p>"Signed in on a computer you no longer use, or lost a phone? End every session but this one."</p>
            <button type="button" class="button danger" disabled=move || busy.get() on:click=sign_out>
                "Sign out everywhere"
            </button>
            <p role="status" class="muted">
                {move || done.get().then_some("Every other session has ended. This one stays signed in.")}
            </p>
        </div>
    }
}
