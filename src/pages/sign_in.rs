//! `/sign-in`, and the same form shown in place when a session ends (docs/api.md §4): email
//! and password (or a setup code and a new password), a failure announced in the alert
//! region, and the way back to where the person was (`?next=`).

use crate::components::alert_region::use_alerts;
use crate::components::case_form::FieldError;
use crate::session::{use_session, SessionState};
use casedesk_core::ReturnPath;
use casedesk_model::validate::{check_password, PASSWORD_MIN};
use casedesk_model::FieldErrors;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_location, use_navigate, use_query_map};
use leptos_router::NavigateOptions;

/// The sign-in page of a person who is signed out: email and password, or, by the link "Use
/// a setup code" (`?setup=1`, keeping `next`), the code an admin gave them and a new password.
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let with_code = Memo::new(move |_| query.with(|q| q.get_str("setup").is_some()));
    // The other form's address, keeping where to go afterwards.
    let other_form = move |setup: bool| {
        let next = query.with(|q| q.get("next"));
        let mut params = Vec::new();
        if setup {
            params.push("setup=1".to_owned());
        }
        if let Some(next) = next {
            params.push(format!(
                "next={}",
                String::from(js_sys::encode_uri_component(&next))
            ));
        }
        if params.is_empty() {
            "/sign-in".to_owned()
        } else {
            format!("/sign-in?{}", params.join("&"))
        }
    };
    view! {
        <section class="page sign-in">
            <h1>"Sign in"</h1>
            {move || if with_code.get() {
                view! {
                    <p class="page-lede">"Type the setup code an admin gave you and choose your password. The code works once."</p>
                    <SetupCodeForm />
                    <p><a href=move || other_form(false)>"Sign in with a password"</a></p>
                }
                .into_any()
            } else {
                view! {
                    <p class="page-lede">"Sign in to work on cases. Your changes are kept on this device and sent under your name."</p>
                    <SignInForm />
                    <p><a href=move || other_form(true)>"Use a setup code"</a></p>
                }
                .into_any()
            }}
        </section>
    }
}

/// "Email", "Setup code" and "New password", and "Set password": the password is checked
/// here first with the server's own rules (shown beside the field), then the server sets it
/// and signs the person in.
#[component]
fn SetupCodeForm() -> impl IntoView {
    let alerts = use_alerts();
    let session = use_session();
    let email = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let password_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(session) = session else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        let (email_now, code_now, password_now) = (
            email.get_untracked(),
            code.get_untracked(),
            password.get_untracked(),
        );
        let mut errors = FieldErrors::new();
        check_password("password", &password_now, &email_now, &mut errors);
        password_error.set(errors.get("password").map(str::to_owned));
        if !errors.is_empty() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match session
                .sign_in_with_setup_code(&email_now, &code_now, &password_now)
                .await
            {
                Ok(_) => {
                    let _ = password.try_set(String::new());
                    let _ = code.try_set(String::new());
                }
                Err(error) => alerts.error(error.to_string()),
            }
            let _ = busy.try_set(false);
        });
    };
    view! {
        <form class="sign-in-form" on:submit=submit novalidate=true>
            <div class="field">
                <label for="setup-email">"Email"</label>
                <input
                    id="setup-email"
                    type="email"
                    name="email"
                    autocomplete="username"
                    required
                    prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="setup-code">"Setup code"</label>
                <input
                    id="setup-code"
                    type="text"
                    name="setup-code"
                    autocomplete="one-time-code"
                    spellcheck="false"
                    required
                    prop:value=move || code.get()
                    on:input=move |ev| code.set(event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="setup-password">"New password"</label>
                <input
                    id="setup-password"
                    type="password"
                    name="new-password"
                    autocomplete="new-password"
                    required
                    aria-invalid=move || password_error.with(Option::is_some).to_string()
                    aria-describedby=move || password_error.with(Option::is_some).then_some("setup-password-error")
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <p class="field-hint">{format!("At least {PASSWORD_MIN} characters, and not your email.")}</p>
                <FieldError id="setup-password-error" message=password_error />
            </div>
            <button type="submit" class="button primary" disabled=move || busy.get()>
                "Set password"
            </button>
        </form>
    }
}

/// While signed out, every route shows the sign-in page and its address becomes
/// `/sign-in?next=<where the person was>`.
#[component]
pub fn SignedOutGate() -> impl IntoView {
    let location = use_location();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let path = location.pathname.get();
        if path != "/sign-in" {
            // The browser's own `search` keeps its `?` (the router's does not).
            let search = web_sys::window()
                .and_then(|w| w.location().search().ok())
                .unwrap_or_default();
            let here = format!("{path}{search}");
            let next = String::from(js_sys::encode_uri_component(&here));
            navigate(
                &format!("/sign-in?next={next}"),
                NavigateOptions {
                    replace: true,
                    ..NavigateOptions::default()
                },
            );
        }
    });
    view! { <SignInPage /> }
}

/// `/sign-in` once signed in: back to where the person was.
#[component]
pub fn AfterSignIn() -> impl IntoView {
    let navigate = use_navigate();
    Effect::new(move |_| {
        // Read from the address itself: `next` holds a path with its own `?`, which must come
        // back exactly as it was encoded.
        let next = web_sys::window()
            .and_then(|w| w.location().href().ok())
            .and_then(|href| web_sys::Url::new(&href).ok())
            .and_then(|url| url.search_params().get("next"));
        // Only a path of this app: a link that sends people elsewhere once they have signed
        // in would borrow the app's trust (casedesk_core::return_path).
        let target = ReturnPath::after_sign_in(next.as_deref());
        navigate(
            target.as_str(),
            NavigateOptions {
                replace: true,
                ..NavigateOptions::default()
            },
        );
    });
}

/// The form itself.
#[component]
pub fn SignInForm() -> impl IntoView {
    let alerts = use_alerts();
    let session = use_session();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(session) = session else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let (email_now, password_now) = (email.get_untracked(), password.get_untracked());
        spawn_local(async move {
            match session.sign_in(&email_now, &password_now).await {
                Ok(_) => {
                    let _ = password.try_set(String::new());
                }
                Err(error) => alerts.error(error.to_string()),
            }
            let _ = busy.try_set(false);
        });
    };
    view! {
        <form class="sign-in-form" on:submit=submit>
            <div class="field">
                <label for="sign-in-email">"Email"</label>
                <input
                    id="sign-in-email"
                    type="email"
                    name="email"
                    autocomplete="username"
                    required
                    prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="sign-in-password">"Password"</label>
                <input
                    id="sign-in-password"
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
            </div>
            <button type="submit" class="button primary" disabled=move || busy.get()>
                "Sign in"
            </button>
        </form>
    }
}

/// When the server refused the person's token: the sign-in form at the top of the page. The
/// page stays below it and the changes wait on the device.
#[component]
pub fn SessionEnded() -> impl IntoView {
    let session = use_session();
    let ended = move || {
        session.and_then(|s| match s.state().get() {
            SessionState::Expired(person) => Some(person.name),
            _ => None,
        })
    };
    move || {
        ended().map(|name| {
            view! {
                <section class="session-ended panel" aria-labelledby="session-ended-heading">
                    <h2 id="session-ended-heading">"Sign in"</h2>
                    <p>
                        {format!("The session of {name} has ended. Sign in again to keep working: changes made on this device are kept and sent once you have.")}
                    </p>
                    <SignInForm />
                </section>
            }
        })
    }
}
