//! `/settings`: what the person can set for this device — how conflicts are settled, how
//! long lists stay fresh, and whether to ask for durable storage. Each change is stored
//! and in force at once, in every tab.

use crate::components::alert_region::use_alerts;
use crate::settings::{use_settings, Settings, LIST_STALE_CHOICES};
use casedesk_core::ConflictPolicy;
use leptos::prelude::*;

/// The conflict policies in the order offered, with their labels and what each does.
const POLICIES: [(ConflictPolicy, &str, &str); 4] = [
    (
        ConflictPolicy::AskAlways,
        "Ask me",
        "Whenever the case changed on the server, show your change next to the server's and let you choose.",
    ),
    (
        ConflictPolicy::ClientWins,
        "Keep mine",
        "Your change is sent again over the server's.",
    ),
    (
        ConflictPolicy::ServerWins,
        "Use theirs",
        "Where the server's case differs, its value stands and your change to that field is dropped.",
    ),
    (
        ConflictPolicy::Ask,
        "Merge fields automatically and ask only when the same field clashes",
        "Fields only one side changed are merged; you choose only where both changed the same field.",
    ),
];

fn policy_value(policy: ConflictPolicy) -> &'static str {
    match policy {
        ConflictPolicy::AskAlways => "ask_always",
        ConflictPolicy::ClientWins => "client_wins",
        ConflictPolicy::ServerWins => "server_wins",
        ConflictPolicy::Ask => "ask",
    }
}

fn stale_label(secs: u32) -> String {
    match secs {
        0 => "Always ask the server".to_owned(),
        s if s < 60 => format!("{s} seconds"),
        s => format!("{} minutes", s / 60),
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let alerts = use_alerts();
    let Some(handle) = use_settings() else {
        return view! {
            <section class="page">
                <h1>"Settings"</h1>
                <p>"Settings are not available here."</p>
            </section>
        }
        .into_any();
    };
    let settings = handle.get();
    let saved = RwSignal::new(false);
    let change = move |edit: &dyn Fn(&mut Settings)| {
        let mut next = settings.get_untracked();
        edit(&mut next);
        match handle.set(next) {
            Ok(()) => saved.set(true),
            Err(error) => {
                saved.set(false);
                alerts.error(format!("The setting could not be saved: {error}"));
            }
        }
    };

    view! {
        <section class="page settings">
            <h1>"Settings"</h1>
            <p class="page-lede">
                "Kept on this device and in force at once, in every tab. "
                <span role="status" class="muted">
                    {move || saved.get().then_some("Saved.")}
                </span>
            </p>
            <fieldset class="card settings-group">
                <legend>"When a case changed on the server while you edited it"</legend>
                {POLICIES
                    .into_iter()
                    .map(|(policy, label, explanation)| {
                        let id = format!("policy-{}", policy_value(policy));
                        let hint = format!("{id}-hint");
                        view! {
                            <div class="choice">
                                <input
                                    type="radio"
                                    name="conflict-policy"
                                    id=id.clone()
                                    value=policy_value(policy)
                                    aria-describedby=hint.clone()
                                    prop:checked=move || settings.with(|s| s.conflict_policy == policy)
                                    on:change=move |_| change(&|s| s.conflict_policy = policy)
                                />
                                <label for=id>{label}</label>
                                <p class="hint" id=hint>{explanation}</p>
                            </div>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <div class="card settings-group">
                <div class="field">
                    <label for="list-stale">"Case lists stay fresh for"</label>
                    <select
                        id="list-stale"
                        prop:value=move || settings.with(|s| s.list_stale_secs.to_string())
                        on:change=move |ev| {
                            if let Ok(secs) = event_target_value(&ev).parse::<u32>() {
                                change(&|s| s.list_stale_secs = secs);
                            }
                        }
                    >
                        {LIST_STALE_CHOICES
                            .into_iter()
                            .map(|secs| view! { <option value=secs.to_string()>{stale_label(secs)}</option> })
                            .collect_view()}
                    </select>
                    <p class="hint">
                        "Changes made elsewhere still show at once through live updates; this is how long a list opened again is shown without asking."
                    </p>
                </div>
                <div class="choice">
                    <input
                        type="checkbox"
                        id="ask-persistent"
                        prop:checked=move || settings.with(|s| s.ask_persistent_storage)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            change(&|s| s.ask_persistent_storage = on);
                        }
                    />
                    <label for="ask-persistent">"Ask the browser to keep this device's data"</label>
                    <p class="hint">
                        "Without it, the browser may clear cases and unsaved changes kept on this device when space runs low."
                    </p>
                </div>
            </div>
        </section>
    }
    .into_any()
}
