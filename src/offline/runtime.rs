//! One running queue: the in-memory `ActionQueue`, its store, its place among the tabs, and
//! what it shows. Every change goes through [`Runtime::commit`]: the screen first (one
//! batch), then the store, then the other tabs, so no tab learns a state the store lacks.

use super::announce;
use super::bridge::QueryBridge;
use super::sender::ActionSender;
use super::store::{QueueStore, StorageError, UnreadableRecord};
use super::tabs::{Outbox, TabChanges, TabMessage};
use super::{BatchProgress, QueueStatus, StorageStatus};
use crate::components::alert_region::Alerts;
use crate::platform::broadcast::Channel;
use crate::platform::env::{Environment, SharedRandom, Subscription};
use crate::platform::locks::LockRequest;
use casedesk_core::{
    Action, ActionKind, ActionQueue, Lease, LeaseTerms, Millis, QueueChanges, ServerAnswer,
};
use casedesk_model::Case;
use futures::channel::mpsc::UnboundedSender;
use futures::channel::oneshot;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::rc::Rc;
use uuid::Uuid;

/// The reactive handles views read; the runtime writes them.
#[derive(Clone, Copy)]
pub struct Signals {
    /// Fired after every change to the queue's records.
    pub changed: Trigger,
    pub status: RwSignal<QueueStatus>,
    /// Stored records this version cannot read, for the Sync page.
    pub unreadable: RwSignal<Vec<UnreadableRecord>>,
}

/// What an answer from the server adds to a change set.
#[derive(Clone, Debug, Default)]
pub struct News {
    pub confirmed: Option<(Action, ServerAnswer)>,
    pub server_case: Option<Case>,
}

/// Opens once; everyone waiting is let through then, and later callers pass at once.
#[derive(Default)]
pub struct Gate {
    open: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Gate {
    pub fn open(&self) {
        self.open.set(true);
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.get()
    }

    pub async fn wait(&self) {
        if self.open.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        // A dropped sender (the queue shut down) lets the waiter go too; it then sees
        // `disposed` and stops.
        let _ = rx.await;
    }
}

/// The state of one queue instance (one per tab in the app; tests make several).
pub struct Runtime {
    pub queue: RefCell<ActionQueue>,
    pub store: Rc<QueueStore>,
    pub bridge: Rc<dyn QueryBridge>,
    pub sender: Rc<dyn ActionSender>,
    pub alerts: Option<Alerts>,
    pub signals: Signals,
    pub outbox: Outbox,
    pub channel: RefCell<Option<Channel>>,
    pub lock: RefCell<Option<LockRequest>>,
    /// Without Web Locks: this tab's side of the drainer lease, and the lease it last
    /// took (it sends only while that is valid).
    pub lease: RefCell<Option<Rc<super::lease::DrainerLease>>>,
    pub lease_held: Cell<Option<Lease>>,
    pub lease_terms: LeaseTerms,
    pub listeners: RefCell<Vec<leptos::prelude::WindowListenerHandle>>,
    pub wake_tx: UnboundedSender<()>,
    /// Opens once the stored queue is loaded; enqueues wait for it.
    pub loaded: Gate,
    pub disposed: Cell<bool>,
    /// This instance holds the drainer lock: only it sends.
    pub draining: Cell<bool>,
    /// In-flight records left by a previous drainer were put back to pending.
    pub recovered: Cell<bool>,
    pub online: Cell<bool>,
    /// The drainer's sign-in pause as broadcast (for tabs that do not drain).
    pub paused_elsewhere: Cell<bool>,
    pub last_sync_at: Cell<Option<Millis>>,
    pub last_error: RefCell<Option<String>>,
    pub storage: RefCell<StorageStatus>,
    /// When to try storage again after a failure, and how many tries failed in a row.
    pub storage_retry: Cell<Option<Millis>>,
    pub storage_failures: Cell<u32>,
    /// Enqueued actions whose write has not committed yet: not shown until it has.
    pub unshown: RefCell<HashSet<Uuid>>,
    /// What the overlay was last given, to skip identical updates.
    pub overlay_signature: RefCell<Vec<(Uuid, Uuid, u64)>>,
    /// Actions settled since the queue was last empty (the progress bar's numerator).
    pub settled_in_run: Cell<usize>,
    /// Messages from other tabs that arrived before the stored queue was loaded.
    pub buffered: RefCell<Vec<TabMessage>>,
    pub rng: RefCell<SharedRandom>,
    /// The online, offline and visibility events this queue follows (dropped at shutdown).
    pub window: RefCell<Option<Subscription>>,
    /// The clock, randomness and window events it was started in.
    pub env: Environment,
}

impl Runtime {
    /// The time in the queue's environment.
    pub fn now(&self) -> Millis {
        self.env.now()
    }

    /// Asks the worker loop to look at the queue again.
    pub fn wake(&self) {
        let _ = self.wake_tx.unbounded_send(());
    }

    /// Shows `changes`, stores them and tells the other tabs. The returned future resolves
    /// once they are stored (or storage failed and said so); everything visible has
    /// happened before it is first polled.
    pub fn commit(
        self: &Rc<Self>,
        changes: QueueChanges,
        news: News,
    ) -> impl Future<Output = Result<(), StorageError>> + 'static {
        let nothing = changes.is_empty() && news.confirmed.is_none() && news.server_case.is_none();
        let stored = self.store_and_tell(&changes, &news);
        if !nothing {
            self.show(&changes, news);
        }
        stored
    }

    /// Stores `changes` and then tells the other tabs, without showing them here: an enqueue
    /// shows its change only once it is stored.
    pub fn store_and_tell(
        self: &Rc<Self>,
        changes: &QueueChanges,
        news: &News,
    ) -> impl Future<Output = Result<(), StorageError>> + 'static {
        let nothing = changes.is_empty() && news.confirmed.is_none() && news.server_case.is_none();
        let write = self.store.write(changes);
        let message = (!nothing).then(|| self.tab_message(changes, news));
        let ticket = self.outbox.reserve(message);
        let runtime = Rc::clone(self);
        async move {
            let result = write.await;
            runtime.after_write(&result);
            for text in runtime.outbox.release(ticket) {
                runtime.post(&text);
            }
            result
        }
    }

    /// `commit`, its storing left to run on its own (a failure shows in the banner).
    pub fn commit_soon(self: &Rc<Self>, changes: QueueChanges, news: News) {
        let write = self.commit(changes, news);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = write.await;
        });
    }

    fn tab_message(&self, changes: &QueueChanges, news: &News) -> String {
        let draining = self.draining.get();
        let message = TabMessage::Changes(Box::new(TabChanges {
            saved: changes.saved.clone(),
            removed: changes.removed.clone(),
            notices: changes.notices.clone(),
            confirmed: news.confirmed.clone(),
            server_case: news.server_case.clone(),
            paused_for_sign_in: draining.then(|| self.queue.borrow().is_paused_for_auth()),
            last_sync_at: if draining {
                self.last_sync_at.get()
            } else {
                None
            },
        }));
        serde_json::to_string(&message).unwrap_or_default()
    }

    pub fn post(&self, text: &str) {
        if text.is_empty() || self.disposed.get() {
            return;
        }
        if let Some(channel) = self.channel.borrow().as_ref() {
            // A tab that cannot be told still reads the store when it next starts.
            let _ = channel.post(text);
        }
    }

    /// Updates everything the person sees after `changes`: the overlay (or the confirmed
    /// answer) in one batch, alerts, counts and row states.
    pub fn show(&self, changes: &QueueChanges, news: News) {
        if self.disposed.get() {
            return;
        }
        for notice in &changes.notices {
            if let (Some(alerts), Some((is_error, text))) =
                (self.alerts, announce::sentence(notice))
            {
                if is_error {
                    alerts.error(text);
                } else {
                    alerts.info(text);
                }
            }
        }
        if let Some(case) = news.server_case {
            self.bridge.set_server_case(case);
        }
        self.publish_pending(news.confirmed.as_ref());
        self.settled_in_run
            .set(self.settled_in_run.get() + changes.removed.len());
        self.refresh();
        self.signals.changed.notify();
    }

    /// Gives the read side the live actions, if they changed (or with a confirmation, always).
    pub fn publish_pending(&self, confirmed: Option<&(Action, ServerAnswer)>) {
        if self.disposed.get() {
            return;
        }
        let (signature, live) = {
            let queue = self.queue.borrow();
            let unshown = self.unshown.borrow();
            let live: Vec<&Action> = queue
                .live_actions()
                .filter(|a| !unshown.contains(&a.id))
                .collect();
            let signature: Vec<(Uuid, Uuid, u64)> = live
                .iter()
                .map(|a| (a.id, a.idempotency_key, based_on(a)))
                .collect();
            if confirmed.is_none() && *self.overlay_signature.borrow() == signature {
                return;
            }
            (
                signature,
                live.into_iter().cloned().collect::<Vec<Action>>(),
            )
        };
        *self.overlay_signature.borrow_mut() = signature;
        match confirmed {
            Some((action, answer)) => self.bridge.confirm(action, answer, live),
            None => self.bridge.set_pending(live),
        }
    }

    /// Recomputes the status signal.
    pub fn refresh(&self) {
        if self.disposed.get() {
            return;
        }
        let status = {
            let queue = self.queue.borrow();
            // Enqueued actions still being written are not shown yet, not even as a count.
            let pending = queue
                .pending_count()
                .saturating_sub(self.unshown.borrow().len());
            if pending == 0 {
                self.settled_in_run.set(0);
            }
            let settled = self.settled_in_run.get();
            let in_flight = queue.in_flight_count();
            QueueStatus {
                online: self.online.get(),
                draining: self.draining.get(),
                paused_for_sign_in: if self.draining.get() {
                    queue.is_paused_for_auth()
                } else {
                    self.paused_elsewhere.get()
                },
                pending,
                in_flight,
                conflicts: queue.conflict_count(),
                dead: queue.dead_count(),
                last_sync_at: self.last_sync_at.get(),
                last_error: self.last_error.borrow().clone(),
                oldest_pending_since: queue
                    .records()
                    .filter(|r| r.state.is_live())
                    .map(|r| r.enqueued_at)
                    .min(),
                storage: self.storage.borrow().clone(),
                batch: (pending > 0 && (settled > 0 || in_flight > 0)).then_some(BatchProgress {
                    done: settled,
                    total: settled + pending,
                }),
            }
        };
        if self.signals.status.try_get_untracked().as_ref() != Some(&status) {
            self.signals.status.try_set(status);
        }
    }

    /// Storage worked or failed: the banner follows, and a failed write is retried later.
    fn after_write(self: &Rc<Self>, result: &Result<(), StorageError>) {
        match result {
            // A write with nothing in it succeeds without the database: it says nothing
            // about storage working (at start-up beside a newer database, say).
            Ok(()) if !self.store.has_unsaved() && self.store.is_open() => self.storage_ok(),
            Ok(()) => {}
            Err(error) => self.storage_failed(error, false),
        }
    }

    pub fn storage_ok(&self) {
        if self.store.is_superseded() {
            return;
        }
        let was_failing = matches!(
            *self.storage.borrow(),
            StorageStatus::MemoryOnly { .. } | StorageStatus::NewerVersion
        );
        *self.storage.borrow_mut() = StorageStatus::Saved;
        self.storage_retry.set(None);
        self.storage_failures.set(0);
        if was_failing {
            if let Some(alerts) = self.alerts {
                alerts.info(announce::STORAGE_BACK);
            }
        }
        self.refresh();
    }

    /// Storage failed (a write, or a retry when `retrying`): the banner says so, and a
    /// retry is scheduled, backing off only as retries themselves fail.
    pub fn storage_failed(&self, error: &StorageError, retrying: bool) {
        if matches!(error, StorageError::Superseded) || self.store.is_superseded() {
            self.superseded();
            return;
        }
        let (status, sentence) = match error {
            StorageError::NewerVersion => (
                StorageStatus::NewerVersion,
                announce::NEWER_VERSION.to_owned(),
            ),
            other => {
                let reason = other.to_string();
                (
                    StorageStatus::MemoryOnly {
                        reason: reason.clone(),
                    },
                    announce::memory_only(&reason),
                )
            }
        };
        let already = *self.storage.borrow() == status;
        *self.storage.borrow_mut() = status;
        if !already {
            if let Some(alerts) = self.alerts {
                alerts.error(sentence);
            }
        }
        if retrying {
            self.storage_failures
                .set(self.storage_failures.get().saturating_add(1));
        }
        if retrying || self.storage_retry.get().is_none() {
            // 1 s, 2 s, 4 s… up to a minute: storage rarely comes back (space freed, the
            // other tab closed) within a second, and each retry costs a transaction.
            let doublings = self.storage_failures.get().min(6);
            let delay = (1_000u64 << doublings).min(60_000);
            self.storage_retry
                .set(Some(self.now() + casedesk_core::DurationMs(delay)));
        }
        self.refresh();
        self.wake();
    }

    /// Tries storage again: reopens it if needed (taking in records this tab did not know),
    /// then writes everything unsaved.
    pub async fn retry_storage(self: Rc<Self>) {
        if self.disposed.get() || self.store.is_superseded() {
            return;
        }
        match self.store.reopen(self.on_superseded()).await {
            Ok(Some(loaded)) => {
                self.signals.unreadable.try_set(loaded.unreadable);
                {
                    let mut queue = self.queue.borrow_mut();
                    for record in loaded.records {
                        if queue.get(record.id()).is_none() {
                            queue.absorb(record);
                        }
                    }
                }
                self.publish_pending(None);
                self.signals.changed.notify();
            }
            Ok(None) => {}
            Err(error) => {
                self.storage_failed(&error, true);
                return;
            }
        }
        match self.store.flush().await {
            Ok(()) => self.storage_ok(),
            Err(error) => self.storage_failed(&error, true),
        }
    }

    /// Reads the stored queue at start-up; then views show its pending actions at once.
    pub async fn load(self: &Rc<Self>) {
        let result = self.store.open_and_load(self.on_superseded()).await;
        if self.disposed.get() {
            return;
        }
        match result {
            Ok(loaded) => {
                // The queue in memory may already carry the person's settings (a conflict
                // policy chosen before the stored records arrived): the loaded one keeps them.
                let config = *self.queue.borrow().config();
                *self.queue.borrow_mut() = ActionQueue::from_records(config, loaded.records);
                *self.storage.borrow_mut() = StorageStatus::Saved;
                if !loaded.unreadable.is_empty() {
                    if let Some(alerts) = self.alerts {
                        alerts.error(announce::unreadable(loaded.unreadable.len()));
                    }
                }
                self.signals.unreadable.try_set(loaded.unreadable);
            }
            Err(error) => self.storage_failed(&error, false),
        }
        let buffered = std::mem::take(&mut *self.buffered.borrow_mut());
        for message in buffered {
            self.apply_message(message);
        }
        self.loaded.open();
        self.publish_pending(None);
        self.refresh();
        self.signals.changed.notify();
        self.wake();
    }

    /// A message from another tab.
    pub fn on_tab_message(self: &Rc<Self>, text: &str) {
        if self.disposed.get() {
            return;
        }
        // A tab running another version may speak differently: ignore what we cannot read.
        let Ok(message) = serde_json::from_str::<TabMessage>(text) else {
            return;
        };
        if !self.loaded.is_open() {
            self.buffered.borrow_mut().push(message);
            return;
        }
        self.apply_message(message);
    }

    fn apply_message(self: &Rc<Self>, message: TabMessage) {
        match message {
            TabMessage::Changes(changes) => self.absorb_changes(*changes),
            TabMessage::SyncNow => {
                if self.draining.get() {
                    let changes = self.queue.borrow_mut().sync_now(self.now());
                    self.commit_soon(changes, News::default());
                    self.wake();
                }
            }
            TabMessage::SignedIn => {
                if self.draining.get() {
                    let changes = self.queue.borrow_mut().resume_after_sign_in(self.now());
                    self.commit_soon(changes, News::default());
                    self.wake();
                }
            }
        }
    }

    /// Takes in another tab's stored change set: same records, same screen, no write (the
    /// sender stored it).
    fn absorb_changes(self: &Rc<Self>, changes: TabChanges) {
        {
            let mut queue = self.queue.borrow_mut();
            for id in &changes.removed {
                queue.forget(*id);
            }
            for record in &changes.saved {
                queue.absorb(record.clone());
            }
        }
        if let Some(paused) = changes.paused_for_sign_in {
            self.paused_elsewhere.set(paused);
        }
        if let Some(at) = changes.last_sync_at {
            self.last_sync_at.set(Some(at));
        }
        let shown = QueueChanges {
            saved: Vec::new(),
            removed: changes.removed,
            notices: changes.notices,
        };
        self.show(
            &shown,
            News {
                confirmed: changes.confirmed,
                server_case: changes.server_case,
            },
        );
        // The drainer may have new work (another tab's enqueue or retry).
        self.wake();
    }

    /// What the store calls when a newer casedesk in another tab asks for the database: this
    /// tab stops at once, finishes the writes it has begun (so a change made a moment before
    /// is on disk for the newer tab), then closes the database so the upgrade can go on.
    /// Returns whether it took charge (false once the runtime is gone: the store then closes
    /// at once).
    fn on_superseded(self: &Rc<Self>) -> impl FnOnce() -> bool + 'static {
        let weak = Rc::downgrade(self);
        move || {
            let Some(runtime) = weak.upgrade() else {
                return false;
            };
            runtime.superseded();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = runtime.store.flush().await;
                runtime.store.close();
            });
            true
        }
    }

    /// A newer casedesk took the queue's database over (its connection here is closed): this
    /// tab stops sending and writing, lets the newer tab drain, and asks the person to
    /// reload. Nothing is lost: every change it made was stored before, and the newer tab
    /// reads and sends them.
    pub fn superseded(&self) {
        if self.disposed.get() || *self.storage.borrow() == StorageStatus::Superseded {
            return;
        }
        *self.storage.borrow_mut() = StorageStatus::Superseded;
        self.storage_retry.set(None);
        if let Some(alerts) = self.alerts {
            alerts.error(announce::SUPERSEDED);
        }
        if let Some(lock) = self.lock.borrow_mut().take() {
            lock.release();
        }
        if let Some(lease) = self.lease.borrow_mut().take() {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = lease.release().await;
            });
        }
        self.lease_held.set(None);
        self.draining.set(false);
        self.refresh();
        self.wake();
    }

    /// This tab holds the drainer lease (`None`: no lease can be kept, so it drains alone).
    pub fn lease_taken(&self, lease: Option<Lease>) {
        self.lease_held.set(lease);
        if !self.draining.replace(true) {
            // Whatever the previous holder had in flight is sent again, under its key.
            self.recovered.set(false);
            self.refresh();
            self.wake();
        }
    }

    /// Another tab holds the drainer lease (or this tab's ran out): stop sending.
    pub fn lease_lost(&self) {
        self.lease_held.set(None);
        if self.draining.replace(false) {
            self.refresh();
        }
    }

    /// Whether this instance still competes to drain (not closed, not superseded).
    pub fn takes_part(&self) -> bool {
        !self.disposed.get() && !self.store.is_superseded()
    }

    /// Whether this tab may send at `now`: it drains, and its lease (if it drains by lease)
    /// has not run out. A lease that ran out stops the draining here.
    pub fn may_send(&self, now: Millis) -> bool {
        if !self.draining.get() || self.store.is_superseded() {
            return false;
        }
        match self.lease_held.get() {
            Some(lease) if !self.lease_terms.still_valid(&lease, now) => {
                self.lease_lost();
                false
            }
            _ => true,
        }
    }

    /// Stops everything: no more sends, writes, messages or signal updates. Lets the drainer
    /// lock go, so another instance takes over (and re-sends what was in flight, under the
    /// same idempotency keys).
    pub fn shutdown(&self) {
        if self.disposed.replace(true) {
            return;
        }
        if let Some(lock) = self.lock.borrow_mut().take() {
            lock.release();
        }
        if let Some(lease) = self.lease.borrow_mut().take() {
            self.lease_held.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                let _ = lease.release().await;
            });
        }
        self.channel.borrow_mut().take();
        for listener in self.listeners.borrow_mut().drain(..) {
            listener.remove();
        }
        self.window.borrow_mut().take();
        self.loaded.open();
        self.wake();
    }
}

/// What an action's effect was computed on: changes when core rebases it.
fn based_on(action: &Action) -> u64 {
    match &action.kind {
        ActionKind::UpdateCase { base_version, .. } => *base_version,
        ActionKind::DeleteCase { last_known, .. } => last_known.as_ref().map_or(0, |c| c.version),
        ActionKind::CreateCase { .. } | ActionKind::AddNote { .. } => 0,
    }
}
