//! Creating the query client: the state, the environment it runs in, and its wiring (the
//! stored cache read, the window's focus and network events routed to the cache and the
//! live socket, the socket started), then shutting all of it down with its owner.

use super::live::{Live, LiveCache, LiveStats, LiveStatus};
use super::state::{Inner, QueryClient, Storage};
use crate::api::ApiClient;
use crate::config::AppConfig;
use crate::platform::env::{use_environment, Environment, WindowEvent};
use casedesk_core::{BudgetConfig, CacheConfig, CacheEvent, QueryCache, RequestBudget};
use leptos::prelude::*;
use std::collections::HashMap;
use std::rc::Rc;

/// Creates the app's query client in the environment from context (the browser's outside
/// one); see [`provide_query_client_with`].
pub fn provide_query_client(config: &AppConfig) -> QueryClient {
    provide_query_client_with(config, use_environment())
}

/// Creates the app's query client in `env` (its clock, timers, randomness and window
/// events), starts reading the stored cache and the live updates, follows focus and
/// network events, and provides the client as context.
pub fn provide_query_client_with(config: &AppConfig, env: Environment) -> QueryClient {
    let now = env.now();
    let online = env.window().online();
    let inner = Inner {
        api: config.api.clone(),
        rng: env.random(),
        env: env.clone(),
        cache: QueryCache::new(CacheConfig::default(), online),
        budget: RequestBudget::new(BudgetConfig::DEFAULT, now),
        pending: Vec::new(),
        triggers: HashMap::new(),
        list_stale_time: None,
        aborts: HashMap::new(),
        fetch_gate_open: false,
        parked: Vec::new(),
        wake: None,
        wake_at: None,
        storage: Storage::Opening,
        persist_timer: None,
        window: None,
        restore_gate: None,
        shut_down: false,
        tabs: None,
    };
    let client = QueryClient {
        inner: StoredValue::new_local(inner),
        pending_changed: Trigger::new(),
        data_changed: Trigger::new(),
        diagnostics_changed: Trigger::new(),
        restored: RwSignal::new(false),
        restore_overdue: RwSignal::new(false),
        storage_error: RwSignal::new(None),
        live: Live::new(env.clone()),
    };
    provide_context(client);
    client.start_restore(config.storage_namespace.clone());
    client.open_tab_share(&config.storage_namespace);
    client.listen_to_the_window();
    client.live.start(Rc::new(client));
    on_cleanup(move || client.shut_down());
    client
}

/// The client from context: `App` provides one per signed-in person, and a test that mounts
/// a query's view alone provides its own ([`provide_query_client`]). Without one this stops
/// with a message naming what is missing, rather than quietly making a second client whose
/// cache, stored data and socket nothing else sees.
pub fn use_query_client() -> QueryClient {
    expect_context::<QueryClient>()
}

impl QueryClient {
    /// Routes the window's events: focus and visibility to the cache (and hiding to the
    /// stored cache), the network to the cache and the live socket.
    fn listen_to_the_window(&self) {
        let client = *self;
        self.with_inner(|inner| {
            inner.window = Some(inner.env.window().subscribe(move |event| match event {
                WindowEvent::Focused | WindowEvent::Shown => {
                    client.dispatch(CacheEvent::WindowFocused)
                }
                WindowEvent::Online => {
                    client.dispatch(CacheEvent::NetworkOnline);
                    client.live.online();
                }
                WindowEvent::Offline => {
                    client.dispatch(CacheEvent::NetworkOffline);
                    client.live.offline();
                }
                // The page may be closed or discarded next: what it fetched is written now,
                // so the next start paints it, instead of waiting out the write throttle.
                WindowEvent::Hidden => client.flush_now(),
            }))
        });
    }

    /// Stops everything: requests, timers, the socket, the listeners; writes what is unsaved.
    fn shut_down(&self) {
        let aborts = self.with_inner(|inner| {
            inner.shut_down = true;
            inner.window = None;
            inner.wake = None;
            inner.wake_at = None;
            inner.aborts.drain().map(|(_, c)| c).collect::<Vec<_>>()
        });
        for controller in aborts.unwrap_or_default() {
            controller.abort();
        }
        self.live.shut_down();
        self.close_tab_share();
        self.persist_and_close();
    }

    /// The live-updates connection's state.
    pub fn live_status(&self) -> Signal<LiveStatus> {
        self.live.status()
    }

    /// The live socket's round trip and reconnect count.
    pub fn live_stats(&self) -> Signal<LiveStats> {
        self.live.stats()
    }
}

/// The live socket reads and feeds the cache through this, and nothing else.
impl LiveCache for QueryClient {
    fn api(&self) -> Option<ApiClient> {
        QueryClient::api(self)
    }

    fn read_cache(&self, read: &mut dyn FnMut(&QueryCache)) {
        self.read_inner(|inner| read(&inner.cache));
    }

    fn apply(&self, events: Vec<CacheEvent>) {
        self.dispatch_all(events);
    }
}
