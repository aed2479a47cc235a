//! The write side in the browser: every change a person makes becomes an action in a
//! durable queue (IndexedDB), shown at once through the read side's overlay, and sent by a
//! retry worker exactly once, from one tab at a time.
//!
//! # Layout
//! - [`OfflineQueue`] (this file): the handle pages use, from context: changes in, and what
//!   views read out (the queue's view model per case, the status).
//! - [`runtime`]: one queue instance: its private state and the one `dispatch(Msg)` that
//!   changes it (show, then store, then tell the other tabs).
//! - [`status`]: the status signal's types (indicator, Sync page, storage banner).
//! - [`worker`]: the drain loop: ticks, sends, answers back into `dispatch`.
//! - [`connect`]: joining the tabs and the browser (channel, drainer lock, window events).
//! - [`store`]: the `{namespace}-queue` database: one record per action, one transaction
//!   per change set, failures kept and retried.
//! - [`tabs`]: the BroadcastChannel messages between tabs, posted in order.
//! - [`bridge`]: what the queue needs from the query client (a trait).
//! - [`sender`]: how an action goes over HTTP (a trait, so tests can wrap it).
//! - [`announce`]: the words: alerts, banners, and why a change was given up.
//! - [`lease`]: where the browser has no Web Locks, the drainer lease kept in IndexedDB.
//!
//! The drainer is elected with the Web Lock `{namespace}-drainer` (`platform::locks`), or,
//! without Web Locks, with the lease in `{namespace}-lease` ([`lease`]); the tabs talk on
//! `{namespace}-{person}-sync` (`platform::broadcast`): one person's changes never reach a tab
//! signed in as another. Order, retries, dead letters and merges are decided by
//! `casedesk_core::ActionQueue`.

mod announce;
mod bridge;
mod connect;
mod lease;
mod runtime;
mod sender;
mod status;
mod store;
mod tabs;
mod worker;

pub use announce::{death_reason, describe_action};
pub use bridge::QueryBridge;
pub use sender::{ActionSender, HttpSender, OutgoingAction};
pub use status::{BatchProgress, QueueStatus, StorageStatus};
pub use store::{StorageError, UnreadableRecord, SCHEMA_VERSION};

use crate::config::AppConfig;
use crate::platform::env::{use_environment, Environment};
use casedesk_core::queue::view::{CaseQueueView, QueueView};
use casedesk_core::queue::PendingConflict;
use casedesk_core::{
    ActionKind, ConflictChoice, ConflictPolicy, QueueConfig, QueueError, QueuedAction, SyncState,
};
use casedesk_model::validate::{validate_new_case, validate_new_note, validate_patch};
use casedesk_model::{CasePatch, FieldErrors, NewCase, NewNote};
use leptos::prelude::*;
use runtime::{Msg, Runtime, Signals};
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
    author: Option<Uuid>,
) -> OfflineQueue {
    let queue = OfflineQueue::start_as(
        config,
        env,
        Rc::new(query),
        OfflineOptions::default(),
        author,
    );
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
        Self::start_as(config, env, bridge, options, None)
    }

    /// [`OfflineQueue::start_with`], the queue of `author`: the actions they queue carry
    /// their id, and only theirs (and those stored before people) are loaded, shown and sent
    /// (another person's are held, counted). What it tells other tabs goes on `author`'s own
    /// channel, so a tab signed in as someone else never hears their changes.
    fn start_as(
        config: &AppConfig,
        env: Environment,
        bridge: Rc<dyn QueryBridge>,
        options: OfflineOptions,
        author: Option<Uuid>,
    ) -> Self {
        let namespace = config.storage_namespace.clone();
        let signals = Signals {
            changed: Trigger::new(),
            status: RwSignal::new(QueueStatus {
                online: env.window().online(),
                ..QueueStatus::default()
            }),
            unreadable: RwSignal::new(Vec::new()),
        };
        let sender = options
            .sender
            .unwrap_or_else(|| Rc::new(HttpSender::new(config.api.clone())));
        let (wake_tx, wake_rx) = futures::channel::mpsc::unbounded();
        let runtime = Rc::new(Runtime::new(
            options.queue,
            &namespace,
            env,
            bridge,
            sender,
            signals,
            wake_tx,
        ));
        runtime.set_author(author);
        let channel = match author {
            Some(person) => format!("{namespace}-{person}-sync"),
            None => format!("{namespace}-sync"),
        };
        connect::connect(&runtime, &namespace, &channel);
        wasm_bindgen_futures::spawn_local(worker::run(Rc::clone(&runtime), wake_rx));

        // Only a move counts: the first value is the origin the queue started with.
        let moved_from = Rc::downgrade(&runtime);
        let in_use = config.api.origin_in_use();
        Effect::watch(
            move || in_use.get(),
            move |_, _, _| {
                if let Some(runtime) = moved_from.upgrade() {
                    let _ = runtime.dispatch(Msg::ServerChanged);
                }
            },
            false,
        );

        let stored = StoredValue::new_local(runtime);
        on_cleanup(move || {
            if let Some(runtime) = stored.try_get_value() {
                let _ = runtime.dispatch(Msg::Shutdown);
            }
        });
        let changed = signals.changed;
        let view = Memo::new(move |_| {
            changed.track();
            stored
                .try_with_value(|r| r.with_queue(QueueView::of))
                .unwrap_or_default()
        });
        Self {
            runtime: stored,
            signals,
            view,
        }
    }

    /// Actions another person queued on this device, held until they sign in again.
    pub fn held_count(&self) -> Signal<usize> {
        let status = self.signals.status;
        Signal::derive(move || status.with(|s| s.held))
    }

    fn runtime(&self) -> Result<Rc<Runtime>, EnqueueError> {
        self.runtime
            .try_get_value()
            .filter(|r| !r.is_stopped())
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
        runtime.ready().await;
        if !runtime.creation_queued(id) {
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
        runtime.ready().await;
        let kinds = ids
            .into_iter()
            .map(|id| {
                let base = runtime
                    .bridge()
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
        runtime.ready().await;
        let last_known = runtime.bridge().view_case(id);
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
        runtime.ready().await;
        if runtime.is_stopped() {
            return Err(EnqueueError::Stopped);
        }
        if runtime.store().is_superseded() {
            return Err(EnqueueError::Superseded);
        }
        let fx = runtime.dispatch(Msg::Enqueue(kinds));
        // Shown once stored; if storage failed, shown anyway, kept in memory, and the banner
        // (raised by the failed write) says so.
        if let Some(stored) = fx.stored {
            let _ = stored.await;
        }
        let _ = runtime.dispatch(Msg::Shown(fx.queued.clone()));
        Ok(fx.queued)
    }

    /// "Retry" on a dead letter: queued again with a fresh attempt budget and the same
    /// idempotency key (with the actions that died with it).
    pub fn retry(&self, action_id: Uuid) -> Result<(), QueueError> {
        self.person_change(Msg::Retry(action_id))
    }

    /// The person's conflict policy (Settings): the next 412 this instance merges uses it.
    pub fn set_conflict_policy(&self, policy: ConflictPolicy) {
        if let Ok(runtime) = self.runtime() {
            let _ = runtime.dispatch(Msg::SetPolicy(policy));
        }
    }

    /// "Discard" on a dead letter: it leaves the queue, announced.
    pub fn discard(&self, action_id: Uuid) -> Result<(), QueueError> {
        self.person_change(Msg::Discard(action_id))
    }

    /// The person's answer to a conflict ("Keep mine" = `ConflictChoice::All(Side::Mine)`,
    /// "Use theirs" = `All(Side::Theirs)`, or per field): it becomes the action's new patch
    /// on the server's version, under a fresh idempotency key.
    pub fn resolve_conflict(
        &self,
        action_id: Uuid,
        choice: ConflictChoice,
    ) -> Result<(), QueueError> {
        self.person_change(Msg::Resolve(action_id, choice))
    }

    fn person_change(&self, msg: Msg) -> Result<(), QueueError> {
        let Ok(runtime) = self.runtime() else {
            return Err(QueueError::NotFound);
        };
        match runtime.dispatch(msg).refused {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// "Sync now": every action waiting out a backoff is tried at once (by the draining tab).
    pub fn sync_now(&self) {
        if let Ok(runtime) = self.runtime() {
            let _ = runtime.dispatch(Msg::SyncNow);
        }
    }

    /// `person` signed in (`None`: a queue outside people): a queue paused by a 401 drains
    /// again, but only what is `person`'s. Another person's changes stay held for them.
    pub fn signed_in(&self, person: Option<Uuid>) {
        if let Ok(runtime) = self.runtime() {
            let _ = runtime.dispatch(Msg::SignedIn(person));
        }
    }

    /// The person signed out: nothing more is sent from this queue.
    pub fn signed_out(&self) {
        if let Ok(runtime) = self.runtime() {
            let _ = runtime.dispatch(Msg::SignedOut);
        }
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
            runtime.try_with_value(|r| r.records()).unwrap_or_default()
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
        runtime.store().discard_unreadable(key).await?;
        self.signals
            .unreadable
            .try_update(|records| records.retain(|r| r.key != key));
        Ok(())
    }

    /// Resolves once the stored queue has been read at start-up.
    pub async fn ready(&self) {
        if let Ok(runtime) = self.runtime() {
            runtime.ready().await;
        }
    }
}
