//! The executor: every cache event goes in through `dispatch` (the public commands here are
//! events too), one reducer pass runs, and the commands that come out are carried out:
//! fetches started, requests aborted, views notified, the one wake timer set, a flush planned.

use super::state::{Inner, QueryClient};
use casedesk_core::{CacheCommand, CacheEvent, KeyScope, Millis, QueryKey, QueryOptions};
use leptos::prelude::*;
use uuid::Uuid;

impl QueryClient {
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
            // Most keys have no view (an invalidation names every list page): the trigger is
            // looked up first, and the cache only for the few that have one.
            keys.iter()
                .filter_map(|key| {
                    let trigger = inner.triggers.get(key)?.clone();
                    if inner.cache.get(key).is_none() {
                        inner.triggers.remove(key);
                    }
                    Some(trigger)
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

    /// Forgets everything `scope` reaches; what is on screen refetches.
    pub fn remove(&self, scope: impl Into<KeyScope>) {
        self.dispatch(CacheEvent::Remove {
            scope: scope.into(),
        });
    }
}
