//! One running queue instance: its state is private and changes only through
//! [`Runtime::dispatch`]. Each [`Msg`] changes the state (core's `ActionQueue` decides order,
//! retries and dead letters); the result is shown (one batch), stored, then told to the other
//! tabs ([`commit`]), so no tab learns a state the store lacks. What the caller does next
//! (send requests, wait for a write, look again later) comes back as [`Effects`].

use super::announce;
use super::bridge::QueryBridge;
use super::lease::DrainerLease;
use super::sender::ActionSender;
use super::status::{QueueStatus, StorageStatus};
use super::store::{Loaded, QueueStore, StorageError, UnreadableRecord};
use super::tabs::{Outbox, TabChanges, TabMessage};
use crate::alerts::{use_alerts, Alerts};
use crate::api::ApiError;
use crate::platform::broadcast::Channel;
use crate::platform::env::{Environment, SharedRandom, Subscription};
use crate::platform::locks::LockRequest;
use crate::words::Describe;
use casedesk_core::queue::{Dispatch, Lane, Outgoing};
use casedesk_core::{
    Action, ActionKind, ActionQueue, ConflictChoice, ConflictPolicy, Failure, Lease, LeaseTerms,
    Millis, QueueChanges, QueueConfig, QueueError, QueuedAction, ServerAnswer, Signer,
};
use casedesk_model::Case;
use futures::channel::mpsc::UnboundedSender;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use uuid::Uuid;

mod commit;

/// Everything that changes a queue instance.
pub enum Msg {
    /// Start-up: the stored queue as read, or why it could not be.
    Loaded(Result<Loaded, StorageError>),
    /// A person's changes, as actions: stored first, shown once stored ([`Msg::Shown`]).
    Enqueue(Vec<ActionKind>),
    /// The write of these enqueued actions finished (or failed and said so): show them.
    Shown(Vec<Uuid>),
    /// "Retry" on a dead letter.
    Retry(Uuid),
    /// "Discard" on a dead letter.
    Discard(Uuid),
    /// The person's choice on a conflict.
    Resolve(Uuid, ConflictChoice),
    /// The person's conflict policy (Settings).
    SetPolicy(ConflictPolicy),
    /// "Sync now" (carried out by the draining tab).
    SyncNow,
    /// A person signed in (`None`: a queue outside people): their actions go, and only theirs
    /// (carried out by the draining tab).
    SignedIn(Option<Uuid>),
    /// The person signed out: nothing goes until someone signs in.
    SignedOut,
    /// The browser went online or offline.
    Online(bool),
    /// The API client moved to another server (failover): what waits out a backoff earned
    /// by the server it left goes now.
    ServerChanged,
    /// The joined tabs and browser: the channel, the drainer lock, the window's events.
    Joined {
        channel: Option<Channel>,
        lock: Option<LockRequest>,
        window: Subscription,
    },
    /// The Web Lock was granted: this tab drains.
    LockGranted,
    /// Without Web Locks: this tab's side of the lease, and the listener that hands it on
    /// when the page goes away.
    LeaseJoined {
        lease: Rc<DrainerLease>,
        on_hide: WindowListenerHandle,
    },
    /// This tab holds the drainer lease (`None`: no lease can be kept, so it drains alone).
    LeaseTaken(Option<Lease>),
    /// Another tab holds the drainer lease (or this tab's ran out, or the page goes away).
    LeaseLost,
    /// A message from another tab, as posted.
    FromTab(String),
    /// The worker looks at the queue at `now`: what is due is marked in flight and returned.
    Tick(Millis),
    /// The server's answer to one attempt of action `id`.
    Answer {
        id: Uuid,
        result: Result<ServerAnswer, ApiError>,
    },
    /// A write finished (the storage banner follows).
    Written(Result<(), StorageError>),
    /// Storage was tried again: reopened (with records this tab did not know) and flushed.
    Reopened(Option<Loaded>),
    StorageRetried(Result<(), StorageError>),
    /// A newer casedesk in another tab took the stored queue over.
    Superseded,
    /// The instance's owner is gone: stop everything.
    Shutdown,
}

/// What the caller of [`Runtime::dispatch`] does next.
#[derive(Default)]
#[must_use]
pub struct Effects {
    /// Requests to send now (the worker sends each on its own).
    pub send: Vec<Outgoing>,
    /// When the worker should look at the queue again.
    pub next_look: Option<Millis>,
    /// Storage should be tried again now.
    pub retry_storage: bool,
    /// The ids of the actions an enqueue queued.
    pub queued: Vec<Uuid>,
    /// Resolves once the change is stored (or storage failed and said so).
    pub stored: Option<LocalBoxFuture<'static, Result<(), StorageError>>>,
    /// A person's request on the queue that could not be done.
    pub refused: Option<QueueError>,
}

/// The reactive handles views read; the runtime writes them.
#[derive(Clone, Copy)]
pub struct Signals {
    /// Fired after every change to the queue's records.
    pub changed: Trigger,
    pub status: RwSignal<QueueStatus>,
    /// Stored records this version cannot read, for the Sync page.
    pub unreadable: RwSignal<Vec<UnreadableRecord>>,
}

/// What the worker waits for after a look at the queue.
enum NextLook {
    /// The request budget has a token again at this time.
    Budget(Millis),
    /// The queue's next due action (or nothing, if none waits on time).
    Queue,
    /// An answer: every connection the drain may use is taken.
    Answer,
}

/// What an answer from the server adds to a change set.
#[derive(Clone, Debug, Default)]
struct News {
    confirmed: Option<(Action, ServerAnswer)>,
    server_case: Option<Case>,
}

/// Opens once; everyone waiting is let through then, and later callers pass at once.
#[derive(Default)]
struct Gate {
    open: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Gate {
    fn open(&self) {
        self.open.set(true);
        for waiter in self.waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
    }

    fn is_open(&self) -> bool {
        self.open.get()
    }

    async fn wait(&self) {
        if self.open.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(tx);
        // A dropped sender (the queue shut down) lets the waiter go too; it then sees the
        // instance stopped.
        let _ = rx.await;
    }
}

/// What the instance holds while it runs (released at shutdown or when superseded).
#[derive(Default)]
struct Links {
    channel: Option<Channel>,
    lock: Option<LockRequest>,
    /// Without Web Locks: this tab's side of the drainer lease.
    lease: Option<Rc<DrainerLease>>,
    /// The online, offline and visibility events this queue follows.
    window: Option<Subscription>,
    /// Window listeners of its own (the lease's `pagehide`).
    listeners: Vec<WindowListenerHandle>,
}

/// The instance's state: read by `status_of` and the views, changed only in `dispatch`.
pub(super) struct State {
    pub(super) queue: ActionQueue,
    pub(super) disposed: bool,
    /// This instance holds the drainer lock: only it sends.
    pub(super) draining: bool,
    /// In-flight records left by a previous drainer were put back to pending.
    recovered: bool,
    pub(super) online: bool,
    /// The drainer's sign-in pause as broadcast (for tabs that do not drain).
    pub(super) paused_elsewhere: bool,
    pub(super) last_sync_at: Option<Millis>,
    pub(super) last_error: Option<String>,
    pub(super) storage: StorageStatus,
    /// When to try storage again after a failure, and how many tries failed in a row.
    storage_retry: Option<Millis>,
    storage_failures: u32,
    /// Enqueued actions whose write has not committed yet: not shown until it has.
    pub(super) unshown: HashSet<Uuid>,
    /// What the overlay was last given, to skip identical updates.
    overlay_signature: Vec<(Uuid, Uuid, u64)>,
    /// Actions settled since the queue was last empty (the progress bar's numerator).
    pub(super) settled_in_run: usize,
    /// Messages from other tabs that arrived before the stored queue was loaded.
    buffered: Vec<TabMessage>,
    /// The drainer lease this tab last took (it sends only while that is valid).
    lease_held: Option<Lease>,
    /// The signed-in person: only their actions (and those stored before people) are taken
    /// into the queue, shown and sent; `None` (a queue outside a person's scope) takes all.
    pub(super) author: Option<Uuid>,
    /// Stored actions of other people, left untouched on the device until they sign in.
    pub(super) held: usize,
}

/// One queue instance (one per tab in the app; tests make several).
pub struct Runtime {
    store: Rc<QueueStore>,
    bridge: Rc<dyn QueryBridge>,
    sender: Rc<dyn ActionSender>,
    alerts: Option<Alerts>,
    signals: Signals,
    outbox: Outbox,
    wake_tx: UnboundedSender<()>,
    /// Opens once the stored queue is loaded; enqueues wait for it.
    loaded: Gate,
    lease_terms: LeaseTerms,
    /// The clock, randomness and window events it was started in.
    env: Environment,
    rng: RefCell<SharedRandom>,
    links: RefCell<Links>,
    state: RefCell<State>,
}

impl Runtime {
    /// A stopped-until-loaded instance on the `{namespace}-queue` database, under the
    /// current reactive owner (its alerts region).
    pub fn new(
        config: QueueConfig,
        namespace: &str,
        env: Environment,
        bridge: Rc<dyn QueryBridge>,
        sender: Rc<dyn ActionSender>,
        signals: Signals,
        wake_tx: UnboundedSender<()>,
    ) -> Self {
        Self {
            store: Rc::new(QueueStore::new(namespace)),
            bridge,
            sender,
            alerts: Some(use_alerts()),
            signals,
            outbox: Outbox::default(),
            wake_tx,
            loaded: Gate::default(),
            lease_terms: LeaseTerms::default(),
            rng: RefCell::new(env.random()),
            links: RefCell::new(Links::default()),
            state: RefCell::new(State {
                queue: ActionQueue::new(config),
                disposed: false,
                draining: false,
                recovered: false,
                online: env.window().online(),
                paused_elsewhere: false,
                last_sync_at: None,
                last_error: None,
                storage: StorageStatus::Opening,
                storage_retry: None,
                storage_failures: 0,
                unshown: HashSet::new(),
                overlay_signature: Vec::new(),
                settled_in_run: 0,
                buffered: Vec::new(),
                lease_held: None,
                author: None,
                held: 0,
            }),
            env,
        }
    }

    /// Makes the queue `author`'s (see [`State::author`]); set once at start, before the
    /// stored queue is read. Their session is the one in force then.
    pub fn set_author(&self, author: Option<Uuid>) {
        let mut state = self.state.borrow_mut();
        state.author = author;
        state.queue.set_signer(signer_of(author));
    }

    // ----- reads -----

    /// The time in the queue's environment.
    pub fn now(&self) -> Millis {
        self.env.now()
    }

    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// Reads the core queue (never hold on to it across a dispatch).
    pub fn with_queue<R>(&self, read: impl FnOnce(&ActionQueue) -> R) -> R {
        read(&self.state.borrow().queue)
    }

    pub fn store(&self) -> &Rc<QueueStore> {
        &self.store
    }

    pub fn bridge(&self) -> &Rc<dyn QueryBridge> {
        &self.bridge
    }

    pub fn sender(&self) -> &Rc<dyn ActionSender> {
        &self.sender
    }

    pub fn lease_terms(&self) -> LeaseTerms {
        self.lease_terms
    }

    /// The lease this tab joined, if it drains by lease.
    pub fn joined_lease(&self) -> Option<Rc<DrainerLease>> {
        self.links.borrow().lease.clone()
    }

    /// The owner is gone: nothing more is sent, stored or shown.
    pub fn is_stopped(&self) -> bool {
        self.state.borrow().disposed
    }

    /// Resolves once the stored queue has been read (or the instance stopped).
    pub async fn ready(&self) {
        self.loaded.wait().await;
    }

    /// Whether this instance still competes to drain (not closed, not superseded).
    pub fn takes_part(&self) -> bool {
        !self.is_stopped() && !self.store.is_superseded()
    }

    /// Whether a live creation of case `id` is queued (a double submit queues nothing).
    pub fn creation_queued(&self, id: Uuid) -> bool {
        self.with_queue(|queue| {
            queue.records().any(|r| {
                r.state.is_live()
                    && matches!(&r.action.kind, ActionKind::CreateCase { case } if case.id == id)
            })
        })
    }

    /// Every record, copied.
    pub fn records(&self) -> Vec<QueuedAction> {
        self.with_queue(|queue| queue.records().cloned().collect())
    }

    /// Asks the worker loop to look at the queue again.
    pub fn wake(&self) {
        let _ = self.wake_tx.unbounded_send(());
    }

    /// What the store calls when a newer casedesk in another tab asks for the database: this
    /// tab stops at once, finishes the writes it has begun (so a change made a moment before
    /// is on disk for the newer tab), then closes the database so the upgrade can go on.
    /// Returns whether it took charge (false once the runtime is gone: the store then closes
    /// at once).
    pub fn on_superseded(self: &Rc<Self>) -> impl FnOnce() -> bool + 'static {
        let weak = Rc::downgrade(self);
        move || {
            let Some(runtime) = weak.upgrade() else {
                return false;
            };
            let _ = runtime.dispatch(Msg::Superseded);
            wasm_bindgen_futures::spawn_local(async move {
                let _ = runtime.store.flush().await;
                runtime.store.close();
            });
            true
        }
    }

    // ----- the one way in -----

    /// Applies `msg`: the one place this instance's state changes.
    pub fn dispatch(self: &Rc<Self>, msg: Msg) -> Effects {
        let mut fx = Effects::default();
        match msg {
            Msg::Loaded(result) => self.loaded(result),
            Msg::Enqueue(kinds) => self.enqueue(kinds, &mut fx),
            Msg::Shown(ids) => {
                {
                    let mut state = self.state.borrow_mut();
                    for id in &ids {
                        state.unshown.remove(id);
                    }
                }
                self.show(&QueueChanges::default(), News::default());
            }
            Msg::Retry(id) => {
                let now = self.now();
                self.person_change(&mut fx, |q| q.retry_dead(id, now));
            }
            Msg::Discard(id) => self.person_change(&mut fx, |q| q.discard(id)),
            Msg::Resolve(id, choice) => {
                let now = self.now();
                self.person_change(&mut fx, |q| {
                    q.on_conflict_resolved(id, &choice, Uuid::new_v4(), now)
                });
            }
            Msg::SetPolicy(policy) => self.state.borrow_mut().queue.set_conflict_policy(policy),
            Msg::SyncNow => {
                self.drainer_or_tell(TabMessage::SyncNow);
                self.wake();
            }
            Msg::SignedIn(person) => {
                self.drainer_or_tell(TabMessage::SignedIn { person });
                self.wake();
            }
            Msg::SignedOut => {
                // Every tab stops at once, whichever drains: the token is gone already, and
                // nothing may go out under the next one that is not its author's.
                self.state.borrow_mut().queue.signed_out();
                self.refresh();
            }
            Msg::Online(online) => {
                self.state.borrow_mut().online = online;
                if online && self.draining() && self.loaded.is_open() {
                    // The network is back: whatever waits out a backoff goes now.
                    let now = self.now();
                    let changes = self.state.borrow_mut().queue.sync_now(now);
                    self.commit_soon(changes, News::default());
                }
                self.refresh();
                if online {
                    self.wake();
                }
            }
            Msg::ServerChanged => {
                if self.draining() && self.loaded.is_open() {
                    let now = self.now();
                    let changes = self.state.borrow_mut().queue.server_changed(now);
                    self.commit_soon(changes, News::default());
                    self.wake();
                }
            }
            Msg::Joined {
                channel,
                lock,
                window,
            } => {
                let mut links = self.links.borrow_mut();
                links.channel = channel;
                links.lock = lock;
                links.window = Some(window);
            }
            Msg::LockGranted => {
                self.state.borrow_mut().draining = true;
                self.refresh();
                self.wake();
            }
            Msg::LeaseJoined { lease, on_hide } => {
                let mut links = self.links.borrow_mut();
                links.lease = Some(lease);
                links.listeners.push(on_hide);
            }
            Msg::LeaseTaken(lease) => {
                let was_draining = {
                    let mut state = self.state.borrow_mut();
                    state.lease_held = lease;
                    std::mem::replace(&mut state.draining, true)
                };
                if !was_draining {
                    // Whatever the previous holder had in flight is sent again, under its key.
                    self.state.borrow_mut().recovered = false;
                    self.refresh();
                    self.wake();
                }
            }
            Msg::LeaseLost => self.lease_lost(),
            Msg::FromTab(text) => self.from_tab(&text),
            Msg::Tick(now) => self.tick(now, &mut fx),
            Msg::Answer { id, result } => self.answer(id, result, &mut fx),
            Msg::Written(result) => match result {
                // A write with nothing in it succeeds without the database: it says nothing
                // about storage working (at start-up beside a newer database, say).
                Ok(()) if !self.store.has_unsaved() && self.store.is_open() => self.storage_ok(),
                Ok(()) => {}
                Err(error) => self.storage_failed(&error, false),
            },
            Msg::Reopened(loaded) => {
                if let Some(loaded) = loaded {
                    self.signals.unreadable.try_set(loaded.unreadable);
                    {
                        let mut state = self.state.borrow_mut();
                        let me = state.author;
                        for record in loaded.records {
                            if record.action.is_sendable_by(me)
                                && state.queue.get(record.id()).is_none()
                            {
                                state.queue.absorb(record);
                            }
                        }
                    }
                    self.publish_pending(None);
                    self.signals.changed.notify();
                }
            }
            Msg::StorageRetried(Ok(())) => self.storage_ok(),
            Msg::StorageRetried(Err(error)) => self.storage_failed(&error, true),
            Msg::Superseded => self.superseded(),
            Msg::Shutdown => self.shutdown(),
        }
        fx
    }

    // ----- what each message does -----

    fn draining(&self) -> bool {
        self.state.borrow().draining
    }

    fn loaded(self: &Rc<Self>, result: Result<Loaded, StorageError>) {
        if self.is_stopped() {
            return;
        }
        match result {
            Ok(loaded) => {
                {
                    let mut state = self.state.borrow_mut();
                    // The queue in memory may already carry the person's settings (a conflict
                    // policy chosen before the stored records arrived): the loaded one keeps them.
                    let config = *state.queue.config();
                    let signer = state.queue.signer();
                    // Another person's actions stay on the device, unread by this queue: they
                    // are neither shown nor sent, only counted, until their author signs in.
                    let me = state.author;
                    let (mine, others): (Vec<_>, Vec<_>) = loaded
                        .records
                        .into_iter()
                        .partition(|r| r.action.is_sendable_by(me));
                    state.held = others.len();
                    state.queue = ActionQueue::from_records(config, mine);
                    state.queue.set_signer(signer);
                    state.storage = StorageStatus::Saved;
                }
                if !loaded.unreadable.is_empty() {
                    if let Some(alerts) = self.alerts {
                        alerts.error(announce::unreadable(loaded.unreadable.len()));
                    }
                }
                self.signals.unreadable.try_set(loaded.unreadable);
            }
            Err(error) => self.storage_failed(&error, false),
        }
        let buffered = std::mem::take(&mut self.state.borrow_mut().buffered);
        for message in buffered {
            self.apply_message(message);
        }
        self.loaded.open();
        self.publish_pending(None);
        self.refresh();
        self.signals.changed.notify();
        self.wake();
    }

    /// Queues `kinds` as actions; they show once the write has committed (or once storage has
    /// failed and the banner says so).
    fn enqueue(self: &Rc<Self>, kinds: Vec<ActionKind>, fx: &mut Effects) {
        let now = self.now();
        let mut changes = QueueChanges::default();
        // A bulk change is background work: what the person does next goes before it.
        let lane = if kinds.len() > 1 {
            Lane::Background
        } else {
            Lane::Interactive
        };
        {
            let mut state = self.state.borrow_mut();
            for kind in kinds {
                let action =
                    Action::new(Uuid::now_v7(), Uuid::new_v4(), kind, now).by(state.author);
                fx.queued.push(action.id);
                let one = state.queue.enqueue_in(action, lane, now);
                changes.saved.extend(one.saved);
                changes.removed.extend(one.removed);
                changes.notices.extend(one.notices);
            }
            state.unshown.extend(fx.queued.iter().copied());
        }
        fx.stored = Some(Box::pin(self.store_and_tell(&changes, &News::default())));
        self.wake();
    }

    fn person_change(
        self: &Rc<Self>,
        fx: &mut Effects,
        change: impl FnOnce(&mut ActionQueue) -> Result<QueueChanges, QueueError>,
    ) {
        if self.store.is_superseded() {
            // The newer tab owns the queue now; the banner already asks for a reload.
            if let Some(alerts) = self.alerts {
                alerts.error(announce::SUPERSEDED);
            }
            return;
        }
        let result = change(&mut self.state.borrow_mut().queue);
        match result {
            Ok(changes) => {
                self.commit_soon(changes, News::default());
                self.wake();
            }
            Err(error) => fx.refused = Some(error),
        }
    }

    /// "Sync now" or a new sign-in: the draining tab carries it out; another tab asks it to.
    fn drainer_or_tell(self: &Rc<Self>, message: TabMessage) {
        if self.draining() {
            self.carry_out(&message);
        } else {
            self.post(&serde_json::to_string(&message).unwrap_or_default());
        }
    }

    /// What the draining tab does for "Sync now" and a new sign-in.
    fn carry_out(self: &Rc<Self>, message: &TabMessage) {
        let now = self.now();
        let changes = {
            let queue = &mut self.state.borrow_mut().queue;
            match message {
                TabMessage::SyncNow => queue.sync_now(now),
                TabMessage::SignedIn { person } => {
                    queue.resume_after_sign_in(now, signer_of(*person))
                }
                TabMessage::Changes(_) => return,
            }
        };
        self.commit_soon(changes, News::default());
    }

    fn lease_lost(&self) {
        let was_draining = {
            let mut state = self.state.borrow_mut();
            state.lease_held = None;
            std::mem::replace(&mut state.draining, false)
        };
        if was_draining {
            self.refresh();
        }
    }

    /// Whether this tab may send at `now`: it drains, and its lease (if it drains by lease)
    /// has not run out. A lease that ran out stops the draining here.
    fn may_send(&self, now: Millis) -> bool {
        let (draining, lease) = {
            let state = self.state.borrow();
            (state.draining, state.lease_held)
        };
        if !draining || self.store.is_superseded() {
            return false;
        }
        match lease {
            Some(lease) if !self.lease_terms.still_valid(&lease, now) => {
                self.lease_lost();
                false
            }
            _ => true,
        }
    }

    /// One look at the queue: retries storage when due, recovers a dead drainer's in-flight
    /// actions, sweeps retention, marks in flight what is due (one request-budget token
    /// each). The worker sends `fx.send` and looks again at `fx.next_look`.
    fn tick(self: &Rc<Self>, now: Millis, fx: &mut Effects) {
        let mut next = None;
        {
            let mut state = self.state.borrow_mut();
            if let Some(at) = state.storage_retry {
                if at <= now {
                    state.storage_retry = None;
                    fx.retry_storage = true;
                } else {
                    next = Some(at);
                }
            }
        }
        if !self.may_send(now) || !self.loaded.is_open() {
            fx.next_look = next;
            return;
        }
        let recovered = std::mem::replace(&mut self.state.borrow_mut().recovered, true);
        if !recovered {
            // Whatever the previous drainer (this tab before a reload, or a closed tab) had in
            // flight goes out again under the same idempotency key.
            let changes = self.state.borrow_mut().queue.recover_after_restart(now);
            self.commit_soon(changes, News::default());
        }
        let swept = self.state.borrow_mut().queue.sweep(now);
        if !swept.is_empty() {
            self.commit_soon(swept, News::default());
        }
        if !self.state.borrow().online {
            // The `online` event wakes the worker; nothing is attempted (or counted) before.
            fx.next_look = next;
            return;
        }
        let (dispatch, look) = self.take_due(now);
        if !dispatch.send.is_empty() {
            // The in-flight marks are stored alongside, not before, the sends: a crash between
            // the two leaves them pending in the store, and they are re-sent under the same
            // key, which is what recovering an in-flight mark does anyway.
            self.commit_soon(dispatch.changes, News::default());
            fx.send = dispatch.send;
        }
        let queue_wake = match look {
            NextLook::Budget(at) => Some(at),
            NextLook::Queue => self.state.borrow().queue.next_wake(),
            // Every slot left to the drain is taken: an answer wakes the worker.
            NextLook::Answer => None,
        };
        fx.next_look = match (next, queue_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Marks in flight every due action the request budget and the connections allow, one
    /// token each (the person's reads in flight each keep one of the drain's connections);
    /// says what to wait for next.
    fn take_due(&self, now: Millis) -> (Dispatch, NextLook) {
        let mut dispatch = Dispatch::default();
        let room = {
            let queue = &self.state.borrow().queue;
            let allowed = queue
                .config()
                .max_in_flight
                .saturating_sub(self.bridge.reads_in_flight())
                .max(1);
            allowed.saturating_sub(queue.in_flight_count())
        };
        if room == 0 {
            return (dispatch, NextLook::Answer);
        }
        for _ in 0..room {
            let due = self
                .state
                .borrow()
                .queue
                .next_wake()
                .is_some_and(|at| at <= now);
            if !due {
                return (dispatch, NextLook::Queue);
            }
            if let Err(at) = self.bridge.budget_acquire() {
                return (dispatch, NextLook::Budget(at.max(Millis(now.0 + 1))));
            }
            let one = self.state.borrow_mut().queue.ready_at_most(now, true, 1);
            if one.send.is_empty() {
                return (dispatch, NextLook::Queue);
            }
            dispatch.send.extend(one.send);
            dispatch.changes.saved.extend(one.changes.saved);
        }
        (dispatch, NextLook::Answer)
    }

    /// Hands the server's answer to the queue, shows and stores what it changed.
    fn answer(self: &Rc<Self>, id: Uuid, result: Result<ServerAnswer, ApiError>, fx: &mut Effects) {
        let now = self.now();
        let (changes, news) = match result {
            Ok(answer) => {
                let mut state = self.state.borrow_mut();
                let action = state.queue.get(id).map(|r| r.action.clone());
                let changes = state.queue.on_success(id, &answer);
                if action.is_some() {
                    state.last_sync_at = Some(now);
                    state.last_error = None;
                }
                let news = News {
                    confirmed: action.map(|action| (action, answer)),
                    server_case: None,
                };
                (changes, news)
            }
            Err(ApiError::Conflict { current, .. }) => {
                // The merged resend carries a new body, so it needs a fresh key.
                let changes =
                    self.state
                        .borrow_mut()
                        .queue
                        .on_conflict(id, &current, Uuid::new_v4(), now);
                let news = News {
                    confirmed: None,
                    server_case: Some(*current),
                };
                (changes, news)
            }
            Err(error) => {
                let failure = match error {
                    ApiError::Failed(failure) => failure,
                    // Nothing here cancels action requests; if something did, it was not sent.
                    _ => Failure::Network {
                        message: "the request was cancelled".to_owned(),
                    },
                };
                if let Failure::Http {
                    status: 429,
                    retry_after,
                    ..
                } = &failure
                {
                    self.bridge.on_rate_limited(*retry_after);
                }
                let mut state = self.state.borrow_mut();
                state.last_error = Some(failure.describe());
                let online = state.online;
                let changes =
                    state
                        .queue
                        .on_failure(id, &failure, now, online, &mut *self.rng.borrow_mut());
                (changes, News::default())
            }
        };
        fx.stored = Some(Box::pin(self.commit(changes, news)));
        // The slot is free: the next action may go while this answer is being stored.
        self.wake();
    }

    fn from_tab(self: &Rc<Self>, text: &str) {
        if self.is_stopped() {
            return;
        }
        // A tab running another version may speak differently: ignore what we cannot read.
        let Ok(message) = serde_json::from_str::<TabMessage>(text) else {
            return;
        };
        if !self.loaded.is_open() {
            self.state.borrow_mut().buffered.push(message);
            return;
        }
        self.apply_message(message);
    }

    fn apply_message(self: &Rc<Self>, message: TabMessage) {
        match message {
            TabMessage::Changes(changes) => self.absorb_changes(*changes),
            other => {
                if self.draining() {
                    self.carry_out(&other);
                    self.wake();
                }
            }
        }
    }

    /// Takes in another tab's stored change set: same records, same screen, no write (the
    /// sender stored it).
    fn absorb_changes(self: &Rc<Self>, changes: TabChanges) {
        {
            let mut state = self.state.borrow_mut();
            for id in &changes.removed {
                state.queue.forget(*id);
            }
            let me = state.author;
            for record in changes.saved.iter().filter(|r| r.action.is_sendable_by(me)) {
                state.queue.absorb(record.clone());
            }
            if let Some(paused) = changes.paused_for_sign_in {
                state.paused_elsewhere = paused;
            }
            if let Some(at) = changes.last_sync_at {
                state.last_sync_at = Some(at);
            }
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

    fn storage_ok(&self) {
        if self.store.is_superseded() {
            return;
        }
        let was_failing = {
            let mut state = self.state.borrow_mut();
            let was_failing = matches!(
                state.storage,
                StorageStatus::MemoryOnly { .. } | StorageStatus::NewerVersion
            );
            state.storage = StorageStatus::Saved;
            state.storage_retry = None;
            state.storage_failures = 0;
            was_failing
        };
        if was_failing {
            if let Some(alerts) = self.alerts {
                alerts.info(announce::STORAGE_BACK);
            }
        }
        self.refresh();
    }

    /// Storage failed (a write, or a retry when `retrying`): the banner says so, and a
    /// retry is scheduled, backing off only as retries themselves fail.
    fn storage_failed(&self, error: &StorageError, retrying: bool) {
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
        let already = {
            let mut state = self.state.borrow_mut();
            let already = state.storage == status;
            state.storage = status;
            if retrying {
                state.storage_failures = state.storage_failures.saturating_add(1);
            }
            if retrying || state.storage_retry.is_none() {
                // 1 s, 2 s, 4 s… up to a minute: storage rarely comes back (space freed, the
                // other tab closed) within a second, and each retry costs a transaction.
                let doublings = state.storage_failures.min(6);
                let delay = (1_000u64 << doublings).min(60_000);
                state.storage_retry = Some(self.env.now() + casedesk_core::DurationMs(delay));
            }
            already
        };
        if !already {
            if let Some(alerts) = self.alerts {
                alerts.error(sentence);
            }
        }
        self.refresh();
        self.wake();
    }

    /// A newer casedesk took the queue's database over (its connection here is closed): this
    /// tab stops sending and writing, lets the newer tab drain, and asks the person to
    /// reload. Nothing is lost: every change it made was stored before, and the newer tab
    /// reads and sends them.
    fn superseded(&self) {
        {
            let mut state = self.state.borrow_mut();
            if state.disposed || state.storage == StorageStatus::Superseded {
                return;
            }
            state.storage = StorageStatus::Superseded;
            state.storage_retry = None;
            state.lease_held = None;
            state.draining = false;
        }
        if let Some(alerts) = self.alerts {
            alerts.error(announce::SUPERSEDED);
        }
        self.release_drainer();
        self.refresh();
        self.wake();
    }

    /// Lets the drainer lock or lease go, so another tab takes over (and re-sends what was in
    /// flight, under the same idempotency keys).
    fn release_drainer(&self) {
        let (lock, lease) = {
            let mut links = self.links.borrow_mut();
            (links.lock.take(), links.lease.take())
        };
        if let Some(lock) = lock {
            lock.release();
        }
        if let Some(lease) = lease {
            wasm_bindgen_futures::spawn_local(async move {
                let _ = lease.release().await;
            });
        }
    }

    /// Stops everything: no more sends, writes, messages or signal updates.
    fn shutdown(&self) {
        {
            let mut state = self.state.borrow_mut();
            if std::mem::replace(&mut state.disposed, true) {
                return;
            }
            state.lease_held = None;
        }
        self.release_drainer();
        let listeners = {
            let mut links = self.links.borrow_mut();
            links.channel.take();
            links.window.take();
            std::mem::take(&mut links.listeners)
        };
        for listener in listeners {
            listener.remove();
        }
        self.loaded.open();
        self.wake();
    }
}

/// The session of `person`, or of anyone where the queue is outside people.
fn signer_of(person: Option<Uuid>) -> Signer {
    person.map_or(Signer::Anyone, Signer::Person)
}
