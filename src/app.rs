//! The app's root: the router with the routes of contract.md §2, inside the layout every page
//! shares (header with the nav and the sync indicator, the main area, the alert region).

use crate::components::alert_region::{provide_alerts, AlertRegion};
use crate::components::sync_indicator::SyncIndicator;
use crate::pages::{
    case_detail::CaseDetailPage, cases::CasesPage, dashboard::DashboardPage, new_case::NewCasePage,
    not_found::NotFoundPage, sync::SyncPage,
};
use crate::platform::network::provide_network_status;
use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    provide_network_status();
    provide_alerts();
    view! {
        <Router>
            <Layout>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/") view=DashboardPage />
                    <Route path=path!("/cases") view=CasesPage />
                    <Route path=path!("/cases/new") view=NewCasePage />
                    <Route path=path!("/cases/:id") view=CaseDetailPage />
                    <Route path=path!("/sync") view=SyncPage />
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
            </nav>
            <SyncIndicator />
        </header>
        <AlertRegion />
        <main id="main" class="app-main" tabindex="-1">
            {children()}
        </main>
    }
}
