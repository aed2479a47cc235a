//! The person's settings on this device: how conflicts are settled, how long a case list
//! counts as fresh, and whether to ask the browser to keep the data durably. Kept as JSON in
//! `localStorage` under the app's namespace (read at once at start-up, and seen by every
//! tab through the `storage` event); nothing secret is in them.

use crate::config::AppConfig;
use crate::offline::OfflineQueue;
use crate::query::QueryClient;
use casedesk_core::{ConflictPolicy, DurationMs};
use leptos::ev;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a person can set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub conflict_policy: ConflictPolicy,
    /// How long a case list is shown without asking the server again, in seconds.
    pub list_stale_secs: u32,
    /// Ask the browser not to clear this device's data when space runs low.
    pub ask_persistent_storage: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            conflict_policy: ConflictPolicy::Ask,
            list_stale_secs: 30,
            ask_persistent_storage: true,
        }
    }
}

/// The stale times the Settings page offers for lists, in seconds.
pub const LIST_STALE_CHOICES: [u32; 5] = [0, 10, 30, 120, 600];

impl Settings {
    pub fn list_stale_time(self) -> DurationMs {
        DurationMs::from_secs(u64::from(self.list_stale_secs))
    }
}

fn storage_key(namespace: &str) -> String {
    format!("{namespace}-settings")
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

/// The settings stored for `namespace`; the defaults when none are stored or they cannot be
/// read (a newer app's fields are ignored, missing ones take their default).
pub fn load(namespace: &str) -> Settings {
    local_storage()
        .and_then(|storage| storage.get_item(&storage_key(namespace)).ok().flatten())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Stores `settings` for `namespace`; the error says in words why the browser refused.
pub fn store(namespace: &str, settings: &Settings) -> Result<(), String> {
    let storage = local_storage().ok_or("this browser keeps no settings")?;
    let text = serde_json::to_string(settings).map_err(|e| e.to_string())?;
    storage
        .set_item(&storage_key(namespace), &text)
        .map_err(|_| {
            "the browser refused to store the settings (storage full or blocked)".to_owned()
        })
}

/// The settings in force, shared by the pages of this tab.
#[derive(Clone, Copy)]
pub struct SettingsHandle {
    current: RwSignal<Settings>,
    namespace: StoredValue<String>,
}

impl SettingsHandle {
    pub fn get(&self) -> Signal<Settings> {
        self.current.into()
    }

    /// Stores `next` and puts it in force in this tab (other tabs follow by the `storage`
    /// event).
    pub fn set(&self, next: Settings) -> Result<(), String> {
        store(&self.namespace.get_value(), &next)?;
        self.current.set(next);
        Ok(())
    }
}

/// Puts `loaded` (the settings as [`load`] read them at start-up) in force on the query
/// client and the queue, now and on every change from this tab or another, and provides
/// them as context.
pub fn provide_settings(
    config: &AppConfig,
    loaded: Settings,
    query: QueryClient,
    queue: OfflineQueue,
) -> SettingsHandle {
    let namespace = config.storage_namespace.clone();
    let handle = SettingsHandle {
        current: RwSignal::new(loaded),
        namespace: StoredValue::new(namespace.clone()),
    };
    Effect::new(move |_| {
        let settings = handle.current.get();
        query.set_list_stale_time(settings.list_stale_time());
        queue.set_conflict_policy(settings.conflict_policy);
    });
    let key = storage_key(&namespace);
    let from_other_tabs = window_event_listener(ev::storage, move |event| {
        if event.key().as_deref() == Some(key.as_str()) {
            handle.current.set(load(&namespace));
        }
    });
    on_cleanup(move || from_other_tabs.remove());
    provide_context(handle);
    handle
}

/// The settings from context (the defaults outside the app).
pub fn use_settings() -> Option<SettingsHandle> {
    use_context::<SettingsHandle>()
}
