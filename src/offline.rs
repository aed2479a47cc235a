//! The write side in the browser: every change a person makes becomes an action in a
//! durable queue (IndexedDB), shown at once through the read side's overlay, and sent by a
//! retry worker exactly once, from one tab at a time.
//!
//! # Layout
//! - [`OfflineQueue`] (this file): the handle pages use, from context: enqueue, dead letters,
//!   conflicts, and the signals of what is waiting.
//! - [`store`]: the `{namespace}-queue` database: one record per action, one transaction
//!   per change set, failures kept and retried.
//! - [`runtime`]: one queue instance: commit = show, store, tell the other tabs.
//! - [`worker`]: the drain loop: what is due, the request budget, answers into the queue.
//! - [`tabs`]: the BroadcastChannel messages between tabs, posted in order.
//! - [`bridge`]: what the queue needs from the query client (a trait).
//! - [`sender`]: how an action goes over HTTP (a trait, so tests can wrap it).
//! - [`announce`]: the sentences alerts say.
//!
//! - [`lease`]: where the browser has no Web Locks, the drainer lease kept in IndexedDB.
//!
//! The drainer is elected with the Web Lock `{namespace}-drainer` (`platform::locks`), or,
//! without Web Locks, with the lease in `{namespace}-lease` ([`lease`]); the tabs talk on `{namespace}-sync` (`platform::broadcast`). Order, retries, dead letters and
//! merges are decided by `casedesk_core::ActionQueue`.

mod announce;
mod bridge;
mod lease;
mod runtime;
mod sender;
mod store;
mod tabs;
mod worker;

pub use announce::death_reason;
pub use bridge::QueryBridge;
pub use sender::{ActionSender, HttpSender, OutgoingAction};
pub use store::{StorageError, UnreadableRecord, SCHEMA_VERSION};

use crate::components::alert_region::use_alerts;
use crate::config::AppConfig;
use crate::platform::broadcast::Channel;
use crate::platform::env::{use_environment, Environment, WindowEvent};
use casedesk_core::queue::view::{CaseQueueView, QueueView};
use casedesk_core::queue::PendingConflict;
use casedesk_core::{
    ActionKind, ActionQueue, ConflictChoice, ConflictPolicy, Millis, QueueChanges, QueueConfig,
    QueueError, QueuedAction, SyncState,
};
use casedesk_model::validate::{validate_new_case, validate_new_note, validate_patch};
use casedesk_model::{CasePatch, FieldErrors, NewCase, NewNote};
use leptos::prelude::*;
use runtime::{Gate, News, Runtime, Signals};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use uuid::Uuid;

/// Why a change was not queued.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EnqueueError {
    /// The change breaks the field rules; each bad field says why.
    #[error("some fields need attention")]
    Invalid(FieldErrors),
    /// The case is not known on this device (not loaded, or deleted), so there is nothing
    /// to base the edit on.
    #[error("this case is not loaded here; open it and try again")]
    UnknownCase(Uuid),
    /// The queue has shut down (its page is closing).
    #[error("changes cannot be saved while the page is closing")]
    Stopped,
    /// A newer casedesk in another tab took the stored queue over.
    #[error("casedesk was updated in another tab; reload this tab to keep working")]
    Superseded,
}

/// Whether queued changes are safe on this device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StorageStatus {
    /// The stored queue is being read.
    #[default]
    Opening,
    /// Every change is in IndexedDB.
    Saved,
    /// IndexedDB failed: changes live in this tab's memory (still sent) and the write is
    /// retried; the person is told.
    MemoryOnly { reason: String },
    /// The stored queue was saved by a newer casedesk: it is kept untouched, and changes made
    /// here live in memory (still sent) until the app is updated.
    NewerVersion,
    /// A newer casedesk in another tab took the stored queue over: this tab stopped sending
    /// and storing, and asks the person to reload.
    Superseded,
}

/// How far a drain has got: settled actions out of all since the queue was last empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchProgress {
    pub done: usize,
    pub total: usize,
}

/// The queue as the indicator and the Sync page show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueStatus {
    pub online: bool,
    /// This tab holds the drainer lock (only the drainer sends; other tabs show the same).
    pub draining: bool,
    /// A 401 paused the queue until the person signs in again.
    pub paused_for_sign_in: bool,
    /// Actions not yet confirmed nor dead (includes in flight and conflicts).
    pub pending: usize,
    pub in_flight: usize,
    pub conflicts: usize,
    pub dead: usize,
    /// When the server last confirmed an action.
    pub last_sync_at: Option<Millis>,
    /// The last failure, in words (cleared by a success).
    pub last_error: Option<String>,
    /// When the oldest live action was queued (its age is `now - this`).
    pub oldest_pending_since: Option<Millis>,
    pub storage: StorageStatus,
    /// Set while a batch drains, for a progress bar.
    pub batch: Option<BatchProgress>,
}

/// How a queue instance is set up beyond the app's config (tests shorten the backoff or
/// wrap the sender).
#[derive(Clone, Default)]
pub struct OfflineOptions {
    pub queue: QueueConfig,
    /// `None`: HTTP with the app's API client.
    pub sender: Option<Rc<dyn ActionSender>>,
}

/// The durable action queue, from context: a `Copy` handle.
#[derive(Clone, Copy)]
pub struct OfflineQueue {
    runtime: StoredValue<Rc<Runtime>, LocalStorage>,
    signals: Signals,
    /// What pages read of the queue, indexed by case: computed once per change however many
    /// views read it (and only while one does).
    view: Memo<QueueView>,
}

/// Starts the queue for the running app (after the query client) in `env`, and provides it
/// as context.
pub fn provide_offline_queue(
    config: &AppConfig,
    env: Environment,
    query: impl QueryBridge + 'static,
) -> OfflineQueue {
    let queue = OfflineQueue::start_with(config, env, Rc::new(query), OfflineOptions::default());
    provide_context(queue);
    queue
}

/// The queue from context. The app provides it at its root; a view outside the app has none,
/// which is a programming error.
pub fn use_offline_queue() -> OfflineQueue {
    expect_context::<OfflineQueue>()
}

impl OfflineQueue {
    /// Starts a queue instance owned by the current reactive owner (stopped, and its drainer
    /// lock released, when that owner is cleaned up). Not put in context: tests use this to
    /// run several instances, like several tabs, in one page.
    pub fn start(config: &AppConfig, bridge: Rc<dyn QueryBridge>, options: OfflineOptions) -> Self {
        Self::start_with(config, use_environment(), bridge, options)
    }

    /// [`OfflineQueue::start`] in `env`: its clock, randomness and window events.
    pub fn start_with(
        config: &AppConfig,
        env: Environment,
        bridge: Rc<dyn QueryBridge>,
        options: OfflineOptions,
    ) -> Self {
        let namespace = config.storage_namespace.clone();
        let online = env.window().online();
        let signals = Signals {
            changed: Trigger::new(),
            status: RwSignal::new(QueueStatus {
                online,
                ..QueueStatus::default()
            }),
            unreadable: RwSignal::new(Vec::new()),
        };
        let sender = options
            .sender
            .unwrap_or_else(|| Rc::new(HttpSender::new(config.api.clone())));
        let (wake_tx, wake_rx) = futures::channel::mpsc::unbounded();
        let runtime = Rc::new(Runtime {
            queue: RefCell::new(ActionQueue::new(options.queue)),
            store: Rc::new(store::QueueStore::new(&namespace)),
            bridge,
            sender,
            alerts: Some(use_alerts()),
            signals,
            outbox: tabs::Outbox::default(),
            channel: RefCell::new(None),
            lock: RefCell::new(None),
            lease: RefCell::new(None),
            lease_held: Cell::new(None),
            lease_terms: casedesk_core::LeaseTerms::default(),
            listeners: RefCell::new(Vec::new()),
            wake_tx,
            loaded: Gate::default(),
            disposed: Cell::new(false),
            draining: Cell::new(false),
            recovered: Cell::new(false),
            online: Cell::new(online),
            paused_elsewhere: Cell::new(false),
            last_sync_at: Cell::new(None),
            last_error: RefCell::new(None),
            storage: RefCell::new(StorageStatus::Opening),
            storage_retry: Cell::new(None),
            storage_failures: Cell::new(0),
            unshown: RefCell::new(HashSet::new()),
            overlay_signature: RefCell::new(Vec::new()),
            settled_in_run: Cell::new(0),
            buffered: RefCell::new(Vec::new()),
            rng: RefCell::new(env.random()),
            window: RefCell::new(None),
            env,
        });
        connect(&runtime, &namespace);
        wasm_bindgen_futures::spawn_local(worker::run(Rc::clone(&runtime), wake_rx));

        let stored = StoredValue::new_local(runtime);
        on_cleanup(move || {
            if let Some(runtime) = stored.try_get_value() {
                runtime.shutdown();
            }
        });
        let changed = signals.changed;
        let view = Memo::new(move |_| {
            changed.track();
            stored
                .try_with_value(|r| QueueView::of(&r.queue.borrow()))
                .unwrap_or_default()
        });
        Self {
            runtime: stored,
            signals,
            view,
        }
    }

    /// The queue's clock (the browser's once the queue is gone).
    fn now(&self) -> Millis {
        self.runtime
            .try_with_value(|runtime| runtime.now())
            .unwrap_or_else(crate::platform::clock::now)
    }

    fn runtime(&self) -> Result<Rc<Runtime>, EnqueueError> {
        self.runtime
            .try_get_value()
            .filter(|r| !r.disposed.get())
            .ok_or(EnqueueError::Stopped)
    }

    // ----- changes -----

    /// Queues a new case (validated first); resolves once it is stored, then it shows.
    /// Returns the case's id (the one given, or a new UUIDv7 when it is nil).
    /// A second create of a case whose creation is still queued (a double submit) queues
    /// nothing and returns the same id.
    pub async fn create_case(&self, mut case: NewCase) -> Result<Uuid, EnqueueError> {
        if case.id.is_nil() {
            case.id = Uuid::now_v7();
        }
        validate_new_case(&case).map_err(EnqueueError::Invalid)?;
        let id = case.id;
        let runtime = self.runtime()?;
        runtime.loaded.wait().await;
        let already_queued = runtime.queue.borrow().records().any(|r| {
            r.state.is_live()
                && matches!(&r.action.kind, ActionKind::CreateCase { case } if case.id == id)
        });
        if !already_queued {
            self.enqueue(vec![ActionKind::CreateCase { case }]).await?;
        }
        Ok(id)
    }

    /// Queues an edit of case `id`, made on the case as the screen shows it now.
    pub async fn update_case(&self, id: Uuid, patch: CasePatch) -> Result<(), EnqueueError> {
        self.update_cases(vec![id], patch).await
    }

    /// The same edit of several cases (the list's multi-select): one action per case, all
    /// stored in one transaction and shown at once; each is sent, and rolled back, alone.
    /// Nothing is queued if any case is unknown.
    pub async fn update_cases(&self, ids: Vec<Uuid>, patch: CasePatch) -> Result<(), EnqueueError> {
        validate_patch(&patch).map_err(EnqueueError::Invalid)?;
        if patch.is_empty() || ids.is_empty() {
            return Ok(());
        }
        let runtime = self.runtime()?;
        runtime.loaded.wait().await;
        let kinds = ids
            .into_iter()
            .map(|id| {
                let base = runtime
                    .bridge
                    .view_case(id)
                    .ok_or(EnqueueError::UnknownCase(id))?;
                Ok(ActionKind::UpdateCase {
                    id,
                    patch: patch.clone(),
                    base_version: base.version,
                    base,
                })
            })
            .collect::<Result<Vec<_>, EnqueueError>>()?;
        self.enqueue(kinds).await.map(drop)
    }

    /// Queues the deletion of case `id`.
    pub async fn delete_case(&self, id: Uuid) -> Result<(), EnqueueError> {
        let runtime = self.runtime()?;
        runtime.loaded.wait().await;
        let last_known = runtime.bridge.view_case(id);
        self.enqueue(vec![ActionKind::DeleteCase { id, last_known }])
            .await
            .map(drop)
    }

    /// Queues a note on case `case_id`; returns the note's id.
    pub async fn add_note(&self, case_id: Uuid, body: String) -> Result<Uuid, EnqueueError> {
        let note = NewNote {
            id: Uuid::now_v7(),
            body,
            author: None,
        };
        validate_new_note(&note).map_err(EnqueueError::Invalid)?;
        let id = note.id;
        self.enqueue(vec![ActionKind::AddNote { case_id, note }])
            .await?;
        Ok(id)
    }

    /// Queues `kinds` as actions in one transaction; they show once it has committed (or
    /// once storage has failed and the banner says so). Returns the action ids.
    async fn enqueue(&self, kinds: Vec<ActionKind>) -> Result<Vec<Uuid>, EnqueueError> {
        let runtime = self.runtime()?;
        runtime.loaded.wait().await;
        if runtime.disposed.get() {
            return Err(EnqueueError::Stopped);
        }
        if runtime.store.is_superseded() {
            return Err(EnqueueError::Superseded);
        }
        let now = runtime.now();
        let mut changes = QueueChanges::default();
        let mut ids = Vec::with_capacity(kinds.len());
        {
            let mut queue = runtime.queue.borrow_mut();
            for kind in kinds {
                let action = casedesk_core::Action::new(Uuid::now_v7(), Uuid::new_v4(), kind, now);
                ids.push(action.id);
                let one = queue.enqueue(action, now);
                changes.saved.extend(one.saved);
                changes.removed.extend(one.removed);
                changes.notices.extend(one.notices);
            }
        }
        runtime.unshown.borrow_mut().extend(ids.iter().copied());
        let stored = runtime.store_and_tell(&changes, &News::default());
        runtime.wake();
        // Shown once stored; if storage failed, shown anyway, kept in memory, and the banner
        // (raised by the failed write) says so.
        let _ = stored.await;
        {
            let mut unshown = runtime.unshown.borrow_mut();
            for id in &ids {
                unshown.remove(id);
            }
        }
        runtime.show(&changes, News::default());
        Ok(ids)
    }

    /// "Retry" on a dead letter: queued again with a fresh attempt budget and the same
    /// idempotency key (with the actions that died with it).
    pub fn retry(&self, action_id: Uuid) -> Result<(), QueueError> {
        let now = self.now();
        self.person_change(|queue| queue.retry_dead(action_id, now))
    }

    /// The person's conflict policy (Settings): the next 412 this instance merges uses it.
    pub fn set_conflict_policy(&self, policy: ConflictPolicy) {
        if let Ok(runtime) = self.runtime() {
            runtime.queue.borrow_mut().set_conflict_policy(policy);
        }
    }

    /// "Discard" on a dead letter: it leaves the queue, announced.
    pub fn discard(&self, action_id: Uuid) -> Result<(), QueueError> {
        self.person_change(|queue| queue.discard(action_id))
    }

    /// The person's answer to a conflict ("Keep mine" = `ConflictChoice::All(Side::Mine)`,
    /// "Use theirs" = `All(Side::Theirs)`, or per field): it becomes the action's new patch
    /// on the server's version, under a fresh idempotency key.
    pub fn resolve_conflict(
        &self,
        action_id: Uuid,
        choice: ConflictChoice,
    ) -> Result<(), QueueError> {
        let now = self.now();
        self.person_change(|queue| {
            queue.on_conflict_resolved(action_id, &choice, Uuid::new_v4(), now)
        })
    }

    fn person_change(
        &self,
        change: impl FnOnce(&mut ActionQueue) -> Result<QueueChanges, QueueError>,
    ) -> Result<(), QueueError> {
        let Ok(runtime) = self.runtime() else {
            return Err(QueueError::NotFound);
        };
        if runtime.store.is_superseded() {
            // The newer tab owns the queue now; the banner already asks for a reload.
            if let Some(alerts) = runtime.alerts {
                alerts.error(announce::SUPERSEDED);
            }
            return Ok(());
        }
        let changes = change(&mut runtime.queue.borrow_mut())?;
        runtime.commit_soon(changes, News::default());
        runtime.wake();
        Ok(())
    }

    /// "Sync now": every action waiting out a backoff is tried at once (by the draining tab).
    pub fn sync_now(&self) {
        let Ok(runtime) = self.runtime() else {
            return;
        };
        if runtime.draining.get() {
            let changes = runtime.queue.borrow_mut().sync_now(runtime.now());
            runtime.commit_soon(changes, News::default());
        } else {
            runtime.post(&serde_json::to_string(&tabs::TabMessage::SyncNow).unwrap_or_default());
        }
        runtime.wake();
    }

    /// The person signed in again (with `api`'s new credentials, if given): a queue paused
    /// by a 401 drains again.
    pub fn signed_in(&self, api: Option<crate::api::ApiClient>) {
        let Ok(runtime) = self.runtime() else {
            return;
        };
        if let Some(api) = api {
            runtime.sender.set_api(api);
        }
        if runtime.draining.get() {
            let changes = runtime
                .queue
                .borrow_mut()
                .resume_after_sign_in(runtime.now());
            runtime.commit_soon(changes, News::default());
        } else {
            runtime.post(&serde_json::to_string(&tabs::TabMessage::SignedIn).unwrap_or_default());
        }
        runtime.wake();
    }

    // ----- what views read -----

    /// The queue as pages read it: every action's step, and each case's view.
    pub fn view(&self) -> Signal<QueueView> {
        self.view.into()
    }

    /// What the queue holds about case `case_id`: its fields' and notes' sync, a refused
    /// creation, the conflict waiting. Changes only when that case's part does.
    pub fn case_view(&self, case_id: Uuid) -> Signal<CaseQueueView> {
        let view = self.view;
        Memo::new(move |_| view.with(|v| v.case(case_id))).into()
    }

    /// A case's row state (`data-sync`).
    pub fn sync_state(&self, case_id: Uuid) -> Signal<SyncState> {
        let view = self.view;
        Memo::new(move |_| view.with(|v| v.sync_state(case_id))).into()
    }

    /// The conflict waiting for the person on case `case_id`: its action id and both sides.
    pub fn conflict_for(&self, case_id: Uuid) -> Signal<Option<(Uuid, PendingConflict)>> {
        let view = self.view;
        Signal::derive(move || view.with(|v| v.case(case_id).conflict))
    }

    /// Every queued record as stored (pending, in flight, conflicts, dead letters), in queue
    /// order: for exports and tests. Copied on each read; pages read [`Self::view`].
    pub fn records(&self) -> Signal<Vec<QueuedAction>> {
        let (runtime, changed) = (self.runtime, self.signals.changed);
        Signal::derive(move || {
            changed.track();
            runtime
                .try_with_value(|r| r.queue.borrow().records().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// The records on case `case_id`, in queue order.
    pub fn records_for(&self, case_id: Uuid) -> Signal<Vec<QueuedAction>> {
        let records = self.records();
        Signal::derive(move || {
            records.with(|all| {
                all.iter()
                    .filter(|r| r.action.case_id() == case_id)
                    .cloned()
                    .collect()
            })
        })
    }

    /// Actions not yet confirmed nor dead (`data-pending`).
    pub fn pending_count(&self) -> Signal<usize> {
        let status = self.signals.status;
        Signal::derive(move || status.with(|s| s.pending))
    }

    /// Dead letters (`data-dead`).
    pub fn dead_count(&self) -> Signal<usize> {
        let status = self.signals.status;
        Signal::derive(move || status.with(|s| s.dead))
    }

    /// Online, draining, paused, counts, last sync and error, oldest age, storage, progress.
    pub fn status(&self) -> Signal<QueueStatus> {
        self.signals.status.into()
    }

    /// Whether changes are stored on the device (the banner when they are not).
    pub fn storage_status(&self) -> Signal<StorageStatus> {
        let status = self.signals.status;
        Signal::derive(move || status.with(|s| s.storage.clone()))
    }

    /// Stored records this version cannot read (kept on the device until discarded).
    pub fn unreadable(&self) -> Signal<Vec<UnreadableRecord>> {
        self.signals.unreadable.into()
    }

    /// "Discard" on an unreadable record: deletes it from the device, then from the list.
    pub async fn discard_unreadable(&self, key: &str) -> Result<(), StorageError> {
        let runtime = self
            .runtime()
            .map_err(|_| StorageError::Unavailable("the page is closing".to_owned()))?;
        runtime.store.discard_unreadable(key).await?;
        self.signals
            .unreadable
            .try_update(|records| records.retain(|r| r.key != key));
        Ok(())
    }

    /// Resolves once the stored queue has been read at start-up.
    pub async fn ready(&self) {
        if let Ok(runtime) = self.runtime() {
            runtime.loaded.wait().await;
        }
    }
}

/// Joins the other tabs: the channel, the drainer lock, and the window events that wake
/// the worker.
fn connect(runtime: &Rc<Runtime>, namespace: &str) {
    let weak = Rc::downgrade(runtime);
    match Channel::open(&format!("{namespace}-sync"), move |text| {
        if let Some(runtime) = weak.upgrade() {
            runtime.on_tab_message(&text);
        }
    }) {
        Ok(channel) => *runtime.channel.borrow_mut() = Some(channel),
        Err(error) => {
            web_sys::console::warn_1(&format!("casedesk: tabs cannot sync: {error}").into())
        }
    }

    let weak = Rc::downgrade(runtime);
    match crate::platform::locks::request(&format!("{namespace}-drainer"), move || {
        if let Some(runtime) = weak.upgrade() {
            runtime.draining.set(true);
            runtime.refresh();
            runtime.wake();
        }
    }) {
        Ok(lock) => *runtime.lock.borrow_mut() = Some(lock),
        Err(error) => {
            // Without Web Locks (not a secure context) tabs take turns by a lease in
            // IndexedDB instead, so still only one of them sends.
            web_sys::console::info_1(
                &format!("casedesk: {error}; tabs take turns by a stored lease").into(),
            );
            wasm_bindgen_futures::spawn_local(lease::run(
                Rc::downgrade(runtime),
                namespace.to_owned(),
                runtime.lease_terms,
            ));
        }
    }

    let weak = Rc::downgrade(runtime);
    let subscription = runtime.env.window().subscribe(move |event| {
        let Some(runtime) = weak.upgrade() else {
            return;
        };
        match event {
            WindowEvent::Online => {
                runtime.online.set(true);
                if runtime.draining.get() && runtime.loaded.is_open() {
                    // The network is back: whatever waits out a backoff goes now.
                    let changes = runtime.queue.borrow_mut().sync_now(runtime.now());
                    runtime.commit_soon(changes, News::default());
                }
                runtime.refresh();
                runtime.wake();
            }
            WindowEvent::Offline => {
                runtime.online.set(false);
                runtime.refresh();
            }
            WindowEvent::Shown => runtime.wake(),
            WindowEvent::Focused | WindowEvent::Hidden => {}
        }
    });
    *runtime.window.borrow_mut() = Some(subscription);
}
