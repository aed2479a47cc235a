//! What one running app talks to and where it keeps its state ([`AppConfig`]). Its own
//! module so the read and write sides can take it without depending on the app's root.

use crate::api::ApiClient;
use leptos::prelude::*;

/// What one running app talks to and where it keeps its state.
#[derive(Clone, Debug, PartialEq)]
pub struct AppConfig {
    /// Where the API is: the app's own origin in production, a test server in tests.
    pub api: ApiClient,
    /// Prefix of every IndexedDB database, BroadcastChannel and Web Lock name the app uses,
    /// so tests (or two apps on one origin) never share stored state or elect each other.
    pub storage_namespace: String,
    /// Whether the app installs its offline shell (the service worker, `public/sw.js`). The
    /// built app does; browser tests that mount the app inside the test runner's page do not,
    /// as that origin serves the runner, not the app.
    pub offline_shell: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            api: ApiClient::same_origin(),
            storage_namespace: "casedesk".to_owned(),
            offline_shell: true,
        }
    }
}

/// The running app's configuration, from context (the default outside the app).
pub fn use_app_config() -> AppConfig {
    use_context::<AppConfig>().unwrap_or_default()
}
