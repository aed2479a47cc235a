//! Fetches: the gate that holds the first requests until the stored cache is read, the
//! request budget every request draws from, and sending a `GET` for a key (unless a sibling
//! tab gives the answer) and feeding its answer back to the cache.

use super::request;
use super::state::QueryClient;
use super::tabs::Outcome;
use crate::api::ApiClient;
use casedesk_core::{
    CacheEvent, DurationMs, Failure, FetchId, Millis, OverlayTarget, QueryKey, RetryPolicy,
};
use leptos::task::spawn_local;
use web_sys::AbortController;

impl QueryClient {
    /// Request `fetch` for `key`: once the gate is open, the person's other tabs are asked
    /// first (`tabs.rs`), and only what they cannot give is sent.
    pub(super) fn start_fetch(&self, key: QueryKey, fetch: FetchId, if_none_match: Option<String>) {
        let gate_open = self
            .read_inner(|inner| inner.fetch_gate_open)
            .unwrap_or(false);
        if gate_open && self.ask_siblings(&key, fetch) {
            return;
        }
        self.send_fetch(key, fetch, if_none_match);
    }

    /// Sends request `fetch` for `key` when the gate is open and the budget allows.
    pub(super) fn send_fetch(&self, key: QueryKey, fetch: FetchId, if_none_match: Option<String>) {
        enum Plan {
            Wait,
            Defer(Millis),
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
            let target = OverlayTarget::of(&key);
            if let Err(until) = inner.budget.try_acquire(now) {
                return Plan::Defer(until);
            }
            // A fetch released by the restore gate was planned before the stored data
            // arrived: it revalidates whatever the entry holds by the time it is sent.
            let held = inner
                .cache
                .get(&key)
                .and_then(|entry| entry.data().map(|_| entry));
            let etag = if_none_match.or_else(|| held.and_then(|e| e.etag()).map(str::to_owned));
            let api = if held.is_some() {
                inner.api.clone().holding_data()
            } else {
                inner.api.clone()
            };
            let controller = AbortController::new().ok();
            if let Some(controller) = &controller {
                inner.aborts.insert(fetch, controller.clone());
            }
            Plan::Send {
                api,
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
            Some(Plan::Send {
                api,
                target,
                etag,
                controller,
            }) => {
                let client = *self;
                self.tabs_sending(&key);
                spawn_local(async move {
                    let signal = controller.as_ref().map(AbortController::signal);
                    let sent_for = key.clone();
                    let answer =
                        request::fetch(&api, &target, key, fetch, etag.as_deref(), signal.as_ref())
                            .await;
                    client.finish_fetch(fetch, sent_for, answer);
                });
            }
        }
    }

    fn finish_fetch(
        &self,
        fetch: FetchId,
        key: QueryKey,
        answer: Option<(CacheEvent, Option<Failure>)>,
    ) {
        let now = self.now();
        let Some(Some((event, failure))) = self.with_inner(|inner| {
            inner.aborts.remove(&fetch);
            answer
        }) else {
            // Cancelled: the cache has already let go of it; a sibling waiting goes itself.
            self.tabs_answered(&key, Outcome::Cancelled);
            return;
        };
        let outcome = match &event {
            CacheEvent::FetchSucceeded { .. } => Outcome::Fresh,
            CacheEvent::NotModified { .. } => Outcome::NotModified,
            _ => Outcome::Failed,
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
        self.tabs_answered(&key, outcome);
    }

    /// Lets parked fetches go (the stored cache is in, or took too long).
    pub(super) fn open_fetch_gate(&self) {
        let parked = self.with_inner(|inner| {
            inner.restore_gate = None;
            if inner.fetch_gate_open {
                return Vec::new();
            }
            inner.fetch_gate_open = true;
            QueryClient::tabs_gate_opened(inner);
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

    /// Takes a token from the request budget the queries share for the queue's drain (which
    /// leaves the reads' reserve in the bucket), or says when to ask again.
    pub fn budget_acquire(&self) -> Result<(), Millis> {
        let now = self.now();
        self.with_inner(|inner| inner.budget.try_acquire_background(now))
            .unwrap_or(Ok(()))
    }

    /// How many of the person's reads are on their way: the queue's drain leaves them
    /// connections.
    pub fn reads_in_flight(&self) -> usize {
        self.read_inner(|inner| inner.aborts.len()).unwrap_or(0)
    }

    /// The server said 429: every request, query or action, holds off.
    pub fn on_rate_limited(&self, retry_after: Option<DurationMs>) {
        let now = self.now();
        self.with_inner(|inner| inner.budget.on_rate_limited(retry_after, now));
    }
}
