//! The query client: one `QueryCache`, one `RequestBudget`, the pending actions of the
//! overlay, and the executor of the cache's commands (requests, aborts, the one wake timer,
//! per-key notifications, throttled persistence). Views and the action queue reach it here.

use super::live::{LiveSocket, LiveStats, LiveStatus};
use super::{request, storage};
use crate::api::ApiClient;
use crate::config::{use_app_config, AppConfig};
use crate::platform::env::WindowEvent;
use crate::platform::env::{use_environment, Environment, SharedRandom, Subscription, Timer};
use casedesk_core::confirm;
use casedesk_core::diagnostics::{ErrorRecord, RequestOutcome, RequestSample};
use casedesk_core::inspect::{self, CacheRow, KeyFilter};
use casedesk_core::overlay::{self, KnownCases};
use casedesk_core::{
    Action, ActionKind, BudgetConfig, CacheCommand, CacheConfig, CacheEvent, DiagnosticsSnapshot,
    DurationMs, Failure, FetchId, KeyScope, Millis, OverlayTarget, QueryCache, QueryData, QueryKey,
    QueryOptions, RequestBudget, RetryPolicy, ServerAnswer,
};
use casedesk_model::Case;
use indexed_db_futures::database::Database;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::HashMap;
use uuid::Uuid;
use web_sys::AbortController;

/// How long the first fetches wait for the stored cache, so they can revalidate it (a cheap
/// 304) instead of downloading everything again. Past this, storage is slow (a cold disk, a
/// huge store) and the network goes ahead; the restore still lands when it can.
const RESTORE_GATE_MS: DurationMs = DurationMs(300);

/// How long changes gather before they are written: one transaction per second at most,
/// however busy the cache, and a crash loses at most a second of (re-fetchable) answers.
const PERSIST_THROTTLE_MS: DurationMs = DurationMs(1_000);

/// The handle every view and the action queue use. `Copy`; its state lives in the reactive
/// owner that `provide_query_client` ran in, and goes when that owner is cleaned up.
#[derive(Clone, Copy)]
pub struct QueryClient {
    pub(super) inner: StoredValue<Inner, LocalStorage>,
    /// The pending actions changed: every view's overlay may have.
    pending_changed: Trigger,
    /// Some entry changed: overlays that consult other entries (lists and metrics look up
    /// known cases) recompute, but only while actions are pending.
    data_changed: Trigger,
    /// Diagnostics have new numbers.
    diagnostics_changed: Trigger,
    restored: RwSignal<bool>,
    storage_error: RwSignal<Option<String>>,
    pub(super) live_status: RwSignal<LiveStatus>,
    pub(super) live_stats: RwSignal<LiveStats>,
}

/// Where the stored cache stands.
enum Storage {
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
    budget: RequestBudget,
    pub(super) rng: SharedRandom,
    /// Live actions in queue order, as the queue last said.
    pending: Vec<Action>,
    /// One trigger per key some view has looked at.
    triggers: HashMap<QueryKey, ArcTrigger>,
    /// The person's stale time for case lists (Settings), when it differs from the default.
    list_stale_time: Option<DurationMs>,
    /// One controller per request in flight, to abort it.
    aborts: HashMap<FetchId, AbortController>,
    /// Until the stored cache is read (or `RESTORE_GATE_MS` passed), fetches wait here.
    fetch_gate_open: bool,
    parked: Vec<FetchId>,
    wake: Option<Timer>,
    /// When `wake` fires; `None` once it has.
    wake_at: Option<Millis>,
    storage: Storage,
    persist_timer: Option<Timer>,
    pub(super) live: LiveSocket,
    window: Option<Subscription>,
    restore_gate: Option<Timer>,
    pub(super) shut_down: bool,
}

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
        env,
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
        live: LiveSocket::default(),
        window: None,
        restore_gate: None,
        shut_down: false,
    };
    let client = QueryClient {
        inner: StoredValue::new_local(inner),
        pending_changed: Trigger::new(),
        data_changed: Trigger::new(),
        diagnostics_changed: Trigger::new(),
        restored: RwSignal::new(false),
        storage_error: RwSignal::new(None),
        live_status: RwSignal::new(if online {
            LiveStatus::Connecting
        } else {
            LiveStatus::Offline
        }),
        live_stats: RwSignal::new(LiveStats::default()),
    };
    provide_context(client);
    client.start_restore(config.storage_namespace.clone());
    client.listen_to_the_window();
    client.live_connect();
    on_cleanup(move || client.shut_down());
    client
}

/// The client from context. Outside `App` (a component mounted alone), a client for the
/// configuration in context is created and provided here, so the hooks always work.
pub fn use_query_client() -> QueryClient {
    use_context::<QueryClient>().unwrap_or_else(|| provide_query_client(&use_app_config()))
}

impl QueryClient {
    // ---- state access ----

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

    // ---- the reducer and its commands ----

    /// Feeds one event to the cache and carries out what it asks.
    pub(super) fn dispatch(&self, event: CacheEvent) {
        self.dispatch_all(vec![event]);
    }

    /// Feeds `events` to the cache as one step (one reducer pass, one notify) and carries
    /// out what they ask.
    pub(super) fn dispatch_all(&self, events: Vec<CacheEvent>) {
        let now = self.now();
        let commands = self.with_inner(|inner| {
            if inner.shut_down {
                return Vec::new();
            }
            let Inner { cache, rng, .. } = inner;
            cache.apply_all(events, now, rng)
        });
        self.run(commands.unwrap_or_default());
    }

    fn run(&self, commands: Vec<CacheCommand>) {
        for command in commands {
            match command {
                CacheCommand::Fetch {
                    key,
                    fetch,
                    if_none_match,
                } => self.start_fetch(key, fetch, if_none_match),
                CacheCommand::CancelFetch { fetch, .. } => {
                    if let Some(Some(controller)) = self.with_inner(|i| i.aborts.remove(&fetch)) {
                        controller.abort();
                    }
                }
                CacheCommand::Notify { keys } => self.notify(&keys),
                CacheCommand::ScheduleWake { at } => self.schedule_wake(at),
                CacheCommand::PersistSoon => self.persist_soon(),
            }
        }
    }

    /// Wakes the views of `keys`. Keys whose entries are gone lose their trigger after it
    /// fires (a view still looking creates a new one when it next reads).
    fn notify(&self, keys: &[QueryKey]) {
        let triggers = self.with_inner(|inner| {
            keys.iter()
                .filter_map(|key| {
                    if inner.cache.get(key).is_some() {
                        inner.triggers.get(key).cloned()
                    } else {
                        inner.triggers.remove(key)
                    }
                })
                .collect::<Vec<_>>()
        });
        for trigger in triggers.unwrap_or_default() {
            trigger.notify();
        }
        self.data_changed.notify();
        self.diagnostics_changed.notify();
    }

    fn schedule_wake(&self, at: Millis) {
        // Commands run in order, and one of them (a fetch the budget defers) may dispatch an
        // event whose own, earlier wake is scheduled before the batch's later one runs. The
        // earlier pending timer stays: replacing it left a deferred fetch waiting for the later
        // deadline (minutes), its page a skeleton. A wake earlier than needed is a no-op tick.
        if self
            .read_inner(|inner| inner.wake_at.is_some_and(|pending| pending <= at))
            .unwrap_or(false)
        {
            return;
        }
        let client = *self;
        // Replacing the handle cancels the later timer: one timer, at the earliest deadline.
        self.with_inner(|inner| {
            inner.wake = Some(inner.env.timeout_at(at, move || {
                client.with_inner(|inner| inner.wake_at = None);
                client.dispatch(CacheEvent::Tick);
            }));
            inner.wake_at = Some(at);
        });
    }

    /// Sends request `fetch` for `key` when the gate is open and the budget allows.
    fn start_fetch(&self, key: QueryKey, fetch: FetchId, if_none_match: Option<String>) {
        enum Plan {
            Wait,
            Defer(Millis),
            Unknown,
            Send {
                api: ApiClient,
                target: OverlayTarget,
                etag: Option<String>,
                controller: Option<AbortController>,
            },
        }
        let now = self.now();
        let plan = self.with_inner(|inner| {
            if inner.shut_down {
                return Plan::Wait;
            }
            if !inner.fetch_gate_open {
                inner.parked.push(fetch);
                return Plan::Wait;
            }
            let Some(target) = OverlayTarget::of(&key) else {
                return Plan::Unknown;
            };
            if let Err(until) = inner.budget.try_acquire(now) {
                return Plan::Defer(until);
            }
            // A fetch released by the restore gate was planned before the stored data
            // arrived: it revalidates whatever the entry holds by the time it is sent.
            let etag = if_none_match.or_else(|| {
                let entry = inner.cache.get(&key)?;
                entry.data().and(entry.etag()).map(str::to_owned)
            });
            let controller = AbortController::new().ok();
            if let Some(controller) = &controller {
                inner.aborts.insert(fetch, controller.clone());
            }
            Plan::Send {
                api: inner.api.clone(),
                target,
                etag,
                controller,
            }
        });
        match plan {
            None | Some(Plan::Wait) => {}
            // A 429 asked for a longer pause than a person would wait at a skeleton (up to
            // 10 minutes are believed): the page says so, with "Try again", at once.
            Some(Plan::Defer(until)) if until.since(now) > RetryPolicy::QUERY.cap => {
                let minutes = until.since(now).0.div_ceil(60_000);
                self.dispatch(CacheEvent::FetchFailed {
                    failure: Failure::Http {
                        status: 429,
                        code: Some("rate_limited".to_owned()),
                        message: format!(
                            "Too many requests: the server asked this device to pause for \
                             about {minutes} min."
                        ),
                        request_id: None,
                        retry_after: Some(until.since(now)),
                    },
                    key,
                    fetch,
                })
            }
            Some(Plan::Defer(until)) => {
                self.dispatch(CacheEvent::FetchDeferred { key, fetch, until })
            }
            Some(Plan::Unknown) => self.dispatch(CacheEvent::FetchFailed {
                failure: Failure::Decode {
                    message: format!("the app knows no request for “{key}”"),
                    request_id: None,
                },
                key,
                fetch,
            }),
            Some(Plan::Send {
                api,
                target,
                etag,
                controller,
            }) => {
                let client = *self;
                spawn_local(async move {
                    let signal = controller.as_ref().map(AbortController::signal);
                    let answer =
                        request::fetch(&api, &target, key, fetch, etag.as_deref(), signal.as_ref())
                            .await;
                    client.finish_fetch(fetch, answer);
                });
            }
        }
    }

    fn finish_fetch(&self, fetch: FetchId, answer: Option<(CacheEvent, Option<Failure>)>) {
        let now = self.now();
        let Some(Some((event, failure))) = self.with_inner(|inner| {
            inner.aborts.remove(&fetch);
            answer
        }) else {
            return; // cancelled: the cache has already let go of it
        };
        if let Some(Failure::Http {
            status: 429,
            retry_after,
            ..
        }) = &failure
        {
            let retry_after = *retry_after;
            self.with_inner(|inner| inner.budget.on_rate_limited(retry_after, now));
        }
        self.dispatch(event);
    }

    /// Lets parked fetches go (the stored cache is in, or took too long).
    fn open_fetch_gate(&self) {
        let parked = self.with_inner(|inner| {
            inner.restore_gate = None;
            if inner.fetch_gate_open {
                return Vec::new();
            }
            inner.fetch_gate_open = true;
            // Only requests the cache still waits for; others were cancelled meanwhile.
            std::mem::take(&mut inner.parked)
                .into_iter()
                .filter_map(|fetch| {
                    inner
                        .cache
                        .entries()
                        .find(|(_, entry)| entry.in_flight() == Some(fetch))
                        .map(|(key, _)| (key.clone(), fetch))
                })
                .collect()
        });
        for (key, fetch) in parked.unwrap_or_default() {
            self.start_fetch(key, fetch, None);
        }
    }

    // ---- persistence ----

    fn start_restore(&self, namespace: String) {
        let client = *self;
        self.with_inner(|inner| {
            inner.restore_gate = Some(
                inner
                    .env
                    .timeout(RESTORE_GATE_MS, move || client.open_fetch_gate()),
            )
        });
        spawn_local(async move {
            let outcome = match storage::open(&namespace).await {
                Ok(db) => match storage::read_all(&db).await {
                    Ok(restored) => Ok((db, restored)),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            client.finish_restore(outcome);
        });
    }

    fn finish_restore(
        &self,
        outcome: Result<(Database, storage::Restored), storage::CacheStoreError>,
    ) {
        let still_here = self.read_inner(|inner| !inner.shut_down).unwrap_or(false);
        if !still_here {
            if let Ok((db, _)) = outcome {
                db.close();
            }
            return;
        }
        match outcome {
            Ok((db, restored)) => {
                if !restored.dropped.is_empty() {
                    // Unreadable or outdated records cost one fetch each; remove them so they
                    // are not read again at every start.
                    let writes = storage::Writes {
                        puts: Vec::new(),
                        deletes: restored.dropped,
                    };
                    let db = db.clone();
                    spawn_local(async move {
                        let _ = storage::write(&db, writes).await;
                    });
                }
                self.with_inner(|inner| inner.storage = Storage::Ready(db));
                self.dispatch(CacheEvent::Restore {
                    entries: restored.entries,
                });
            }
            Err(error) => {
                self.with_inner(|inner| inner.storage = Storage::Unavailable);
                self.storage_error.set(Some(error.to_string()));
            }
        }
        self.restored.set(true);
        self.open_fetch_gate();
    }

    fn persist_soon(&self) {
        let client = *self;
        self.with_inner(|inner| {
            if inner.persist_timer.is_none() && !inner.shut_down {
                inner.persist_timer = Some(
                    inner
                        .env
                        .timeout(PERSIST_THROTTLE_MS, move || client.flush()),
                );
            }
        });
    }

    /// Writes the changes since the last flush. While the store is still opening, waits.
    fn flush(&self) {
        enum Step {
            Later,
            Write(Database, storage::Writes),
            Nothing,
        }
        let step = self.with_inner(|inner| {
            inner.persist_timer = None;
            match &inner.storage {
                Storage::Opening => Step::Later,
                // Taken anyway, so the cache does not keep a growing list of changes nobody
                // will write.
                Storage::Unavailable => {
                    inner.cache.take_dirty();
                    Step::Nothing
                }
                Storage::Ready(db) => {
                    Step::Write(db.clone(), storage::Writes::of(inner.cache.take_dirty()))
                }
            }
        });
        match step {
            Some(Step::Later) => self.persist_soon(),
            Some(Step::Write(db, writes)) if !writes.is_empty() => {
                let client = *self;
                spawn_local(async move {
                    if let Err(error) = storage::write(&db, writes).await {
                        client.storage_error.try_set(Some(error.to_string()));
                    }
                });
            }
            _ => {}
        }
    }

    // ---- focus and network ----

    fn listen_to_the_window(&self) {
        let client = *self;
        self.with_inner(|inner| {
            inner.window = Some(inner.env.window().subscribe(move |event| match event {
                WindowEvent::Focused | WindowEvent::Shown => {
                    client.dispatch(CacheEvent::WindowFocused)
                }
                WindowEvent::Online => {
                    client.dispatch(CacheEvent::NetworkOnline);
                    client.live_online();
                }
                WindowEvent::Offline => {
                    client.dispatch(CacheEvent::NetworkOffline);
                    client.live_offline();
                }
                WindowEvent::Hidden => {}
            }))
        });
    }

    /// Stops everything: requests, timers, the socket, the listeners; writes what is unsaved.
    fn shut_down(&self) {
        let state = self.with_inner(|inner| {
            inner.shut_down = true;
            inner.window = None;
            inner.wake = None;
            inner.wake_at = None;
            inner.restore_gate = None;
            inner.persist_timer = None;
            inner.live.close();
            let aborts: Vec<_> = inner.aborts.drain().map(|(_, c)| c).collect();
            let db = match std::mem::replace(&mut inner.storage, Storage::Unavailable) {
                Storage::Ready(db) => Some((db, storage::Writes::of(inner.cache.take_dirty()))),
                _ => None,
            };
            (aborts, db)
        });
        let Some((aborts, db)) = state else {
            return;
        };
        for controller in aborts {
            controller.abort();
        }
        // The last changes are written before the connection closes (a reload, a test
        // mounting the next app on the same store, must find them).
        if let Some((db, writes)) = db {
            spawn_local(async move {
                if !writes.is_empty() {
                    let _ = storage::write(&db, writes).await;
                }
                db.close();
            });
        }
    }

    // ---- what views use ----

    /// Subscribes the running reactive computation to `key`'s changes.
    pub(super) fn track_key(&self, key: &QueryKey) {
        let trigger = self.with_inner(|inner| {
            inner
                .triggers
                .entry(key.clone())
                .or_insert_with(ArcTrigger::new)
                .clone()
        });
        if let Some(trigger) = trigger {
            trigger.track();
        }
    }

    /// Subscribes to the pending actions, and (`consults_others`) while any are pending, to
    /// every entry: a list's or the metrics' overlay looks up cases held elsewhere.
    pub(super) fn track_overlay_inputs(&self, consults_others: bool) {
        self.pending_changed.track();
        if consults_others && self.read_inner(|i| !i.pending.is_empty()).unwrap_or(false) {
            self.data_changed.track();
        }
    }

    /// A view starts showing `target`.
    pub(super) fn observe(&self, target: &OverlayTarget) {
        let key = target.key();
        let is_list = matches!(target, OverlayTarget::CaseList(_));
        let options = self
            .read_inner(|inner| {
                let defaults = inner.cache.config().defaults;
                match inner.list_stale_time {
                    Some(stale_time) if is_list => defaults.with_stale_time(stale_time),
                    _ => defaults,
                }
            })
            .unwrap_or_default();
        self.dispatch(CacheEvent::Observe { key, options });
    }

    /// The stale time case lists are observed with from now on (the person's setting); other
    /// queries keep the default.
    pub fn set_list_stale_time(&self, stale_time: DurationMs) {
        self.with_inner(|inner| inner.list_stale_time = Some(stale_time));
    }

    /// A view stops showing `key`.
    pub(super) fn unobserve(&self, key: QueryKey) {
        self.dispatch(CacheEvent::Unobserve { key });
    }

    /// What the screen shows for `target` (server data with the pending actions), and what
    /// the entry says about its fetch. Untracked: callers track what they depend on.
    pub(super) fn overlaid(
        &self,
        target: &OverlayTarget,
    ) -> Option<(Option<QueryData>, EntryInfo)> {
        self.read_inner(|inner| {
            let key = target.key();
            let entry = inner.cache.get(&key);
            let server = entry.and_then(|e| e.data());
            let shown = match target {
                // The cache knows where each case is held, so a view with pending actions
                // costs what those actions touch, not the size of the cache.
                OverlayTarget::CaseList(_) | OverlayTarget::Metrics if !inner.pending.is_empty() => {
                    overlay::view(target, server, &inner.pending, &inner.cache)
                }
                _ => overlay::view(target, server, &inner.pending, &overlay::NoKnownCases),
            };
            let created_here = inner.pending.iter().any(|action| {
                matches!(&action.kind, ActionKind::CreateCase { case } if Some(case.id) == target_case(target))
            });
            // A case created here has no notes yet: an empty list, not "loading" for ever
            // (the server answers 404 until the creation lands).
            let shown = match target {
                OverlayTarget::Notes(_) if shown.is_none() && server.is_none() && created_here => {
                    Some(QueryData::Notes(Vec::new()))
                }
                _ => shown,
            };
            let info = EntryInfo {
                has_server_data: server.is_some(),
                is_fetching: entry.is_some_and(|e| e.is_fetching()),
                // A case created offline is unknown to the server until its creation lands;
                // its 404 is expected, not an error to show.
                error: entry
                    .and_then(|e| e.error())
                    .filter(|failure| !(created_here && is_not_found(failure)))
                    .cloned(),
            };
            (shown, info)
        })
    }

    // ---- public API ----

    /// Warms the cache for a case page about to open (link hover): fetched if missing or
    /// stale, not observed, so it is collected later if the page never opens.
    pub fn prefetch_case(&self, id: Uuid) {
        self.dispatch(CacheEvent::Prefetch {
            key: QueryKey::case(id),
        });
    }

    /// The options views observe with from now on (stale time, GC time, retries, refetch on
    /// focus and reconnect), as TanStack's `setDefaultOptions`: a query already on screen
    /// keeps its options until a view observes it again.
    pub fn set_default_options(&self, options: QueryOptions) {
        self.with_inner(|inner| inner.cache.set_default_options(options));
    }

    /// Marks everything `scope` reaches stale; what is on screen refetches.
    pub fn invalidate(&self, scope: impl Into<KeyScope>) {
        self.dispatch(CacheEvent::Invalidate {
            scope: scope.into(),
        });
    }

    /// Refetches `key` now, whatever its age.
    pub fn refetch(&self, key: &QueryKey) {
        self.dispatch(CacheEvent::FetchRequested { key: key.clone() });
    }

    /// The Sync page's numbers, recomputed whenever the cache or a request changes them.
    pub fn diagnostics(&self) -> Signal<DiagnosticsSnapshot> {
        let client = *self;
        Signal::derive(move || {
            client.diagnostics_changed.track();
            client.diagnostics_now()
        })
    }

    /// The recent requests (queries' and the queue's), oldest first: what the timings are
    /// computed over, for the Sync page's table and for tests.
    pub fn request_log(&self) -> Vec<RequestSample> {
        self.read_inner(|inner| inner.cache.diagnostics().requests().cloned().collect())
            .unwrap_or_default()
    }

    fn diagnostics_now(&self) -> DiagnosticsSnapshot {
        let now = self.now();
        self.read_inner(|inner| inner.cache.diagnostics_snapshot(now))
            .unwrap_or_else(|| {
                QueryCache::new(CacheConfig::default(), true).diagnostics_snapshot(now)
            })
    }

    /// The live-updates connection's state.
    pub fn live_status(&self) -> Signal<LiveStatus> {
        self.live_status.into()
    }

    /// The live socket's round trip and reconnect count.
    pub fn live_stats(&self) -> Signal<LiveStats> {
        self.live_stats.into()
    }

    /// Forgets everything `scope` reaches; what is on screen refetches.
    pub fn remove(&self, scope: impl Into<KeyScope>) {
        self.dispatch(CacheEvent::Remove {
            scope: scope.into(),
        });
    }

    /// The Devtools page's rows of the entries `filter` matches, recomputed whenever an
    /// entry changes (read them inside a reactive closure).
    pub fn cache_rows(&self, filter: &KeyFilter) -> Vec<CacheRow> {
        self.diagnostics_changed.track();
        let now = self.now();
        self.read_inner(|inner| inspect::cache_rows(&inner.cache, now, filter))
            .unwrap_or_default()
    }

    /// Whether the stored cache has been read (or found unavailable). Fetches wait for it
    /// at most `RESTORE_GATE_MS`; views may use it to hold a skeleton instead of "no data".
    pub fn restored(&self) -> Signal<bool> {
        self.restored.into()
    }

    /// Why the cache cannot be stored, when it cannot (private mode, quota, a blocked
    /// database): the app keeps working from memory and says so.
    pub fn storage_error(&self) -> Signal<Option<String>> {
        self.storage_error.into()
    }

    // ---- the write side's boundary ----

    /// The overlay's input: the live actions, in queue order. Every view updates in the same
    /// turn; leaving an action out is its rollback.
    pub fn set_pending(&self, actions: Vec<Action>) {
        self.with_inner(|inner| inner.pending = actions);
        self.pending_changed.notify();
    }

    /// `action` was accepted with `answer`; `pending_after` is the queue without it. In one
    /// synchronous step (so views never see a frame between): the answer becomes the action's
    /// own entry (its case, or its notes), every cached list page and the metrics are settled
    /// as the server now has them (then marked stale, to be revalidated behind the settled
    /// data), and the pending actions are replaced.
    pub fn confirm(&self, action: &Action, answer: &ServerAnswer, pending_after: Vec<Action>) {
        let events = self
            .read_inner(|inner| confirm::confirmation_events(&inner.cache, action, answer))
            .unwrap_or_default();
        self.dispatch_all(events);
        self.set_pending(pending_after);
    }

    /// The server's current case from elsewhere (the "theirs" of a 412); an older version
    /// than the cached one is ignored.
    pub fn set_server_case(&self, case: Case) {
        self.dispatch(CacheEvent::SetData {
            key: QueryKey::case(case.id),
            data: QueryData::Case(case),
        });
    }

    /// The case as the screen shows it now (server data with the pending actions), untracked:
    /// what an edit is based on.
    pub fn view_case(&self, id: Uuid) -> Option<Case> {
        self.read_inner(|inner| {
            // The case's own entry or any list page showing it, newest version first: a case
            // seen only in a list can be edited from that list.
            let server = inner.cache.known_case(id);
            overlay::case_view(id, server, &inner.pending)
        })
        .flatten()
    }

    /// Records a request made elsewhere (the action queue) beside the queries', so the Sync
    /// page's timings and errors cover all traffic.
    pub fn record_request(
        &self,
        subject: &str,
        elapsed_ms: f64,
        failure: Option<&Failure>,
        request_id: &str,
    ) {
        let now = self.now();
        let duration = DurationMs(if elapsed_ms.is_finite() && elapsed_ms > 0.0 {
            elapsed_ms.round() as u64
        } else {
            0
        });
        self.with_inner(|inner| {
            let diagnostics = inner.cache.diagnostics_mut();
            diagnostics.record_request(RequestSample {
                at: now,
                subject: subject.to_owned(),
                duration,
                outcome: if failure.is_some() {
                    RequestOutcome::Failed
                } else {
                    RequestOutcome::Ok
                },
            });
            if let Some(failure) = failure {
                diagnostics.record_error(ErrorRecord {
                    at: now,
                    subject: subject.to_owned(),
                    status: match failure {
                        Failure::Http { status, .. } => Some(*status),
                        _ => None,
                    },
                    request_id: failure
                        .request_id()
                        .map(str::to_owned)
                        .or_else(|| (!request_id.is_empty()).then(|| request_id.to_owned())),
                    message: failure.describe(),
                });
            }
        });
        self.diagnostics_changed.notify();
    }

    /// Takes a token from the request budget the queries share, or says when to ask again.
    pub fn budget_acquire(&self) -> Result<(), Millis> {
        let now = self.now();
        self.with_inner(|inner| inner.budget.try_acquire(now))
            .unwrap_or(Ok(()))
    }

    /// The server said 429: every request, query or action, holds off.
    pub fn on_rate_limited(&self, retry_after: Option<DurationMs>) {
        let now = self.now();
        self.with_inner(|inner| inner.budget.on_rate_limited(retry_after, now));
    }
}

/// What a view needs from an entry besides its data.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EntryInfo {
    pub(super) has_server_data: bool,
    pub(super) is_fetching: bool,
    pub(super) error: Option<Failure>,
}

fn target_case(target: &OverlayTarget) -> Option<Uuid> {
    match target {
        OverlayTarget::Case(id) | OverlayTarget::Notes(id) => Some(*id),
        OverlayTarget::CaseList(_) | OverlayTarget::Metrics => None,
    }
}

fn is_not_found(failure: &Failure) -> bool {
    matches!(failure, Failure::Http { status: 404, .. })
}
