//! The app's root: the session gate, then the router with the routes of docs/api.md §2,
//! inside the layout every page shares (header with the nav, the sync indicator and the
//! signed-in person, the main area, the alert region).
//!
//! Everything that belongs to one person (the query cache, the queue's view, the settings)
//! is started inside [`PersonScope`], keyed by who is signed in: another person signing in
//! starts it afresh on their own stored data, and nothing of the previous person's stays in
//! memory.

use crate::components::alert_region::{provide_alerts, AlertRegion};
use crate::components::local_time::provide_shared_clock;
use crate::components::queue_depth::provide_queue_depth_history;
use crate::components::reload_banner::ReloadBanner;
use crate::components::shortcuts::KeyboardShortcuts;
use crate::components::sync_indicator::SyncIndicator;
use crate::config::{use_app_config, AppConfig};
use crate::offline::provide_offline_queue;
use crate::pages::sign_in::{AfterSignIn, SessionEnded, SignedOutGate};
use crate::pages::{
    account::AccountPage, case_detail::CaseDetailPage, cases::CasesPage, dashboard::DashboardPage,
    devtools::DevtoolsPage, new_case::NewCasePage, not_found::NotFoundPage, people::PeoplePage,
    settings::SettingsPage, sync::SyncPage,
};
use crate::permissions::allows;
use crate::platform::env::{provide_environment, use_environment, Environment};
use crate::platform::network::provide_network_status;
use crate::platform::persistence::provide_storage_persistence;
use crate::platform::service_worker::{register_app_shell, reload_into_new_build_on_next_page};
use crate::query::{provide_query_client_with, QueryClient};
use crate::session::{provide_session, use_session, SessionHandle, SessionState};
use crate::settings::provide_settings;
use casedesk_core::KeyScope;
use casedesk_model::Permission;
use leptos::prelude::*;
use leptos::tachys::reactive_graph::OwnedView;
use leptos::task::spawn_local;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;
use uuid::Uuid;

/// The whole app.
#[component]
pub fn App(
    /// Where the API is and how stored state is named; the same origin and `casedesk` when absent.
    #[prop(optional)]
    config: Option<AppConfig>,
) -> impl IntoView {
    let config = config.unwrap_or_default();
    // The world outside, built once: every part below reads time, randomness and the
    // window's events from it.
    let env = Environment::browser();
    provide_environment(env.clone());
    provide_network_status(&env);
    provide_alerts();
    let session = provide_session(&config.api, &config.storage_namespace);
    provide_context(config.clone());
    if config.offline_shell {
        register_app_shell(&env);
    }
    // Which scope to show changes only when the person does (not on every session change:
    // an ended session keeps its person's pages, queue and cache).
    let scope = Memo::new(move |_| match session.state().get() {
        SessionState::Checking => Scope::Checking,
        SessionState::SignedOut => Scope::SignedOut,
        SessionState::SignedIn(p) | SessionState::Expired(p) => Scope::Person(p.id),
    });
    view! {
        <Router>
            {move || {
                let key = scope.get();
                // Each person's scope gets an owner of its own: contexts provided for one
                // person (their queue, their cache) are never found by the next scope, and
                // all of them go when it does.
                let owner = Owner::new();
                let view = owner.with(|| match key {
                    Scope::Checking => {
                        view! { <Layout><p class="muted opening">"Opening…"</p></Layout> }
                            .into_any()
                    }
                    Scope::SignedOut => view! { <Layout><SignedOutGate /></Layout> }.into_any(),
                    Scope::Person(id) => {
                        view! { <PersonScope config=config.clone() person_id=id /> }.into_any()
                    }
                });
                OwnedView::new_with_owner(view, owner)
            }}
        </Router>
    }
}

/// What the app shows, by who is signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Checking,
    SignedOut,
    Person(Uuid),
}

/// The storage namespace of one person's own data on this device (cache, settings).
pub fn person_namespace(namespace: &str, person_id: Uuid) -> String {
    format!("{namespace}-{person_id}")
}

/// The app for one signed-in person: their query cache and settings (stored under their own
/// namespace), the queue, and the routes.
#[component]
fn PersonScope(
    /// The app's configuration.
    config: AppConfig,
    /// Whose data this is.
    person_id: Uuid,
) -> impl IntoView {
    // The world outside (clock, timers, window events), built once by the app.
    let env = use_environment();
    let own = AppConfig {
        storage_namespace: person_namespace(&config.storage_namespace, person_id),
        ..config.clone()
    };
    let query = provide_query_client_with(&own, env.clone());
    // The queue lives in IndexedDB: ask the browser not to clear it under storage pressure.
    let settings = crate::settings::load(&own.storage_namespace);
    provide_storage_persistence(settings.ask_persistent_storage);
    // The write side after the read side it feeds and the alerts it speaks through.
    let queue = provide_offline_queue(&config, env, query, Some(person_id));
    provide_settings(&own, settings, query, queue);
    if let Some(session) = use_session() {
        follow_session(session, query, queue, person_id);
    }
    crate::people::provide_people();
    // The routes mount once the person's stored cache is in memory (or took too long to
    // read), so a warm start's first frame of any page holds the cached data, not skeletons
    // that the restore replaces a moment later.
    let ready = query.ready_to_show();
    view! {
        <Layout>
            <Show when=move || ready.get() fallback=|| view! { <p class="muted opening">"Opening…"</p> }>
                <PersonRoutes />
            </Show>
        </Layout>
    }
}

/// The routes of docs/api.md §2, for a signed-in person.
#[component]
fn PersonRoutes() -> impl IntoView {
    view! {
            <Routes fallback=NotFoundPage>
                <Route path=path!("/") view=DashboardPage />
                <Route path=path!("/cases") view=CasesPage />
                <Route path=path!("/cases/new") view=NewCasePage />
                <Route path=path!("/cases/:id") view=CaseDetailPage />
                <Route path=path!("/sync") view=SyncPage />
                <Route path=path!("/settings") view=SettingsPage />
                <Route path=path!("/people") view=PeoplePage />
                <Route path=path!("/account") view=AccountPage />
                <Route path=path!("/devtools") view=DevtoolsPage />
                <Route path=path!("/sign-in") view=AfterSignIn />
            </Routes>
    }
}

/// Tells the queue whose session is in force as it changes. When a person signs in after
/// this person's session ended, the queue drains again where it stopped, but only what is
/// theirs: the same person's changes go (and what failed for want of a session is fetched
/// again); another person's sign-in resumes nothing of this person's (their own scope takes
/// over). A sign-out stops the queue.
fn follow_session(
    session: SessionHandle,
    query: QueryClient,
    queue: crate::offline::OfflineQueue,
    person_id: Uuid,
) {
    let state = session.state();
    // The effect remembers which session was in force when it ended (`None`: not ended).
    Effect::new(move |ended_under: Option<Option<u64>>| {
        let now = state.get();
        match (&now, ended_under.flatten()) {
            (SessionState::SignedIn(person), Some(generation)) => {
                queue.signed_in(Some(person.id));
                // A new sign-in refetches what failed for want of a session. The same token
                // judged good again (a 401 from something in the way, answered by a read that
                // worked) does not: its reads never failed, and refetching everything would
                // bring the next such verdict, and with it the next resume, at once (a proxy
                // refusing only writes kept the queue sending in a loop).
                if person.id == person_id && session.session_generation() != generation {
                    query.invalidate(KeyScope::Everything);
                }
            }
            (SessionState::SignedOut, _) => queue.signed_out(),
            _ => {}
        }
        match now {
            SessionState::Expired(_) => Some(
                ended_under
                    .flatten()
                    .unwrap_or_else(|| session.session_generation()),
            ),
            _ => None,
        }
    });
}

/// The frame around every page.
#[component]
pub fn Layout(
    /// The routed page.
    children: Children,
) -> impl IntoView {
    // Sampled for the whole session, so the Sync page can show the last minutes at once.
    provide_queue_depth_history();
    provide_shared_clock();
    reload_into_new_build_on_next_page();
    let manages_people = allows(Permission::ManagePeople);
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="app-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"▣"</span>
                "casedesk"
            </a>
            <nav class="app-nav" aria-label="Main">
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/cases">"Cases"</A>
                <A href="/sync">"Sync"</A>
                <A href="/settings">"Settings"</A>
                <Show when=move || manages_people.get()>
                    <A href="/people">"People"</A>
                </Show>
            </nav>
            <SyncIndicator />
            <AccountMenu />
        </header>
        <AlertRegion />
        <KeyboardShortcuts />
        <ReloadBanner />
        <main id="main" class="app-main" tabindex="-1">
            <SessionEnded />
            {children()}
        </main>
    }
}

/// The signed-in person's name and "Sign out". With changes not yet on the server, signing
/// out asks first; the changes stay on the device for that person's next sign-in.
#[component]
fn AccountMenu() -> impl IntoView {
    let Some(session) = use_session() else {
        return ().into_any();
    };
    let queue = use_context::<crate::offline::OfflineQueue>();
    let asking = RwSignal::new(None::<usize>);
    let namespace = use_app_config().storage_namespace;
    let namespace = StoredValue::new(namespace);
    let alerts = crate::components::alert_region::use_alerts();
    let sign_out = move || {
        asking.set(None);
        let Some(person_id) = session.person_id() else {
            return;
        };
        let own = person_namespace(&namespace.get_value(), person_id);
        // Nothing more of the person's goes out from here on (the token leaves force next).
        if let Some(queue) = queue {
            queue.signed_out();
        }
        spawn_local(async move {
            if let Err(error) = session.sign_out().await {
                alerts.error(error.to_string());
            }
            // The person's scope is gone by now (its cache connection closing): their cached
            // case data leaves the device.
            if let Err(error) = crate::session::delete_database(&format!("{own}-cache")).await {
                alerts.error(format!(
                    "The cases kept for offline use could not be removed from this device ({error})."
                ));
            }
        });
    };
    let on_click = move |_| {
        let unsaved = queue.map_or(0, |q| q.pending_count().get_untracked());
        if unsaved > 0 {
            asking.set(Some(unsaved));
        } else {
            sign_out();
        }
    };
    let person = move || session.state().get().person().cloned();
    view! {
        {move || {
            person()
                .map(|p| {
                    view! {
                        <div class="account">
                            <a
                                class="current-user"
                                href="/account"
                                title="Your account"
                                data-testid="current-user"
                            >
                                {p.name}
                            </a>
                            <Show when=move || session.holds_token()>
                                <button type="button" class="button" on:click=on_click>
                                    "Sign out"
                                </button>
                            </Show>
                        </div>
                    }
                })
        }}
        {move || {
            asking
                .get()
                .map(|count| {
                    let changes = if count == 1 {
                        "1 change is".to_owned()
                    } else {
                        format!("{count} changes are")
                    };
                    view! {
                        <div class="dialog-backdrop">
                            <div
                                class="dialog panel"
                                role="dialog"
                                aria-modal="true"
                                aria-labelledby="sign-out-heading"
                            >
                                <h2 id="sign-out-heading">"Sign out?"</h2>
                                <p>
                                    {format!("{changes} not yet saved on the server. They stay on this device and are sent when you sign in again.")}
                                </p>
                                <div class="dialog-actions">
                                    <button type="button" class="button" on:click=move |_| asking.set(None)>
                                        "Stay signed in"
                                    </button>
                                    <button type="button" class="button danger" on:click=move |_| sign_out()>
                                        "Sign out"
                                    </button>
                                </div>
                            </div>
                        </div>
                    }
                })
        }}
    }
    .into_any()
}
