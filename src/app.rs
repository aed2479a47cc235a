//! The app's root: the router with the routes of contract.md §2, inside the layout every page
//! shares (header with the nav and the sync indicator, the main area, the alert region).

use crate::components::alert_region::{provide_alerts, AlertRegion};
use crate::components::local_time::provide_shared_clock;
use crate::components::queue_depth::provide_queue_depth_history;
use crate::components::reload_banner::ReloadBanner;
use crate::components::shortcuts::KeyboardShortcuts;
use crate::components::sync_indicator::SyncIndicator;
use crate::offline::provide_offline_queue;
use crate::pages::{
    case_detail::CaseDetailPage, cases::CasesPage, dashboard::DashboardPage,
    devtools::DevtoolsPage, new_case::NewCasePage, not_found::NotFoundPage, settings::SettingsPage,
    sync::SyncPage,
};
use crate::platform::env::{provide_environment, Environment};
use crate::platform::network::provide_network_status;
use crate::platform::persistence::provide_storage_persistence;
use crate::platform::service_worker::{register_app_shell, reload_into_new_build_on_next_page};
use crate::query::provide_query_client_with;
use crate::settings::provide_settings;
use leptos::prelude::*;
// Re-exported where it used to live, for code written before it moved.
pub use crate::config::{use_app_config, AppConfig};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

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
    let query = provide_query_client_with(&config, env.clone());
    provide_network_status(&env);
    // The queue lives in IndexedDB: ask the browser not to clear it under storage pressure.
    let settings = crate::settings::load(&config.storage_namespace);
    provide_storage_persistence(settings.ask_persistent_storage);
    provide_alerts();
    // The write side after the read side it feeds and the alerts it speaks through.
    let queue = provide_offline_queue(&config, env.clone(), query);
    provide_settings(&config, settings, query, queue);
    provide_context(config);
    register_app_shell(&env);
    view! {
        <Router>
            <Layout>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=DashboardPage />
                    <Route path=path!("/cases") view=CasesPage />
                    <Route path=path!("/cases/new") view=NewCasePage />
                    <Route path=path!("/cases/:id") view=CaseDetailPage />
                    <Route path=path!("/sync") view=SyncPage />
                    <Route path=path!("/settings") view=SettingsPage />
                    <Route path=path!("/devtools") view=DevtoolsPage />
                </Routes>
            </Layout>
        </Router>
    }
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
            </nav>
            <SyncIndicator />
        </header>
        <AlertRegion />
        <KeyboardShortcuts />
        <ReloadBanner />
        <main id="main" class="app-main" tabindex="-1">
            {children()}
        </main>
    }
}
