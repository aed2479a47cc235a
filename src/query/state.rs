//! The query client's handle and its state: `QueryClient` (`Copy`, what views and the
//! queue hold) and `Inner` (the cache, the budget, requests in flight, storage, timers),
//! reached only through `with_inner`/`read_inner`. Every other file of `query/` works on it.

use super::live::Live;
use crate::api::ApiClient;
use crate::platform::env::{Environment, SharedRandom, Subscription, Timer};
use casedesk_core::{Action, DurationMs, FetchId, Millis, QueryCache, QueryKey, RequestBudget};
use indexed_db_futures::database::Database;
use leptos::prelude::*;
use std::collections::HashMap;
use web_sys::AbortController;

/// The handle every view and the action queue use. `Copy`; its state lives in the reactive
/// owner that `provide_query_client` ran in, and goes when that owner is cleaned up.
#[derive(Clone, Copy)]
pub struct QueryClient {
    pub(super) inner: StoredValue<Inner, LocalStorage>,
    /// The pending actions changed: every view's overlay may have.
    pub(super) pending_changed: Trigger,
    /// Some entry changed: overlays that consult other entries (lists and metrics look up
    /// known cases) recompute, but only while actions are pending.
    pub(super) data_changed: Trigger,
    /// Diagnostics have new numbers.
    pub(super) diagnostics_changed: Trigger,
    pub(super) restored: RwSignal<bool>,
    /// The restore gate's time passed before the stored cache was read (pages mount anyway).
    pub(super) restore_overdue: RwSignal<bool>,
    pub(super) storage_error: RwSignal<Option<String>>,
    pub(super) live: Live,
}

/// Where the stored cache stands.
pub(super) enum Storage {
    /// Opening and reading at start-up; writes wait.
    Opening,
    Ready(Database),
    /// IndexedDB refused: the cache lives in memory only.
    Unavailable,
}

/// The client's state; not `Send`, so it lives in local storage.
pub(super) struct Inner {
    pub(super) api: ApiClient,
    /// The clock, timers, randomness and window events, as given at creation.
    pub(super) env: Environment,
    pub(super) cache: QueryCache,
    pub(super) rng: SharedRandom,
    pub(super) shut_down: bool,
    // The executor's (`executor.rs`):
    /// One trigger per key some view has looked at.
    pub(super) triggers: HashMap<QueryKey, ArcTrigger>,
    pub(super) wake: Option<Timer>,
    /// When `wake` fires; `None` once it has.
    pub(super) wake_at: Option<Millis>,
    // The views' (`views.rs`):
    /// Live actions in queue order, as the queue last said.
    pub(super) pending: Vec<Action>,
    /// The person's stale time for case lists (Settings), when it differs from the default.
    pub(super) list_stale_time: Option<DurationMs>,
    // The fetches' (`fetch.rs`):
    pub(super) budget: RequestBudget,
    /// One controller per request in flight, to abort it.
    pub(super) aborts: HashMap<FetchId, AbortController>,
    /// Until the stored cache is read (or the restore gate's time passed), fetches wait here.
    pub(super) fetch_gate_open: bool,
    pub(super) parked: Vec<FetchId>,
    // Persistence's (`persistence.rs`):
    pub(super) storage: Storage,
    pub(super) persist_timer: Option<Timer>,
    pub(super) restore_gate: Option<Timer>,
    // The window's events, routed by `client.rs`:
    pub(super) window: Option<Subscription>,
    // The person's other tabs (`tabs.rs`); `None` where the browser has no channel.
    pub(super) tabs: Option<super::tabs::TabLink>,
}

impl QueryClient {
    /// The API client with the current credentials, for requests outside the cache (an
    /// export of every page).
    pub fn api(&self) -> Option<ApiClient> {
        self.read_inner(|inner| inner.api.clone())
    }

    /// Runs `f` on the state; `None` once the owner is gone (a late timer or answer).
    pub(super) fn with_inner<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        self.inner.try_update_value(f)
    }

    pub(super) fn read_inner<R>(&self, f: impl FnOnce(&Inner) -> R) -> Option<R> {
        self.inner.try_with_value(f)
    }

    /// The environment's time (the browser's once the client is gone). Not to be called
    /// inside `with_inner`/`read_inner`: there, read `inner.env`.
    pub(super) fn now(&self) -> Millis {
        self.read_inner(|inner| inner.env.now())
            .unwrap_or_else(crate::platform::clock::now)
    }
}
