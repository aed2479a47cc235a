//! The retry worker, "service-worker-like" but in the page: while this tab holds the drainer
//! lock and the browser is online, it sends every due action (core decides which: one per
//! case, up to the in-flight bound), one request-budget token each, and feeds each answer
//! back to the queue. It sleeps until `next_wake`, an enqueue, an answer, `online`, a
//! visible tab or "Sync now" wakes it.

use super::runtime::{News, Runtime};
use super::sender::OutgoingAction;
use crate::api::ApiError;
use casedesk_core::queue::Dispatch;
use casedesk_core::{Failure, Millis};
use futures::channel::mpsc::UnboundedReceiver;
use futures::future::{select, Either};
use futures::StreamExt;
use std::rc::Rc;
use uuid::Uuid;

/// The longest sleep: the retention sweep and storage retries need a tick now and then even
/// when nothing is due.
const IDLE_TICK_MS: u64 = 30_000;

/// Loads the stored queue, then drains for as long as the runtime lives.
pub async fn run(runtime: Rc<Runtime>, mut wake: UnboundedReceiver<()>) {
    runtime.load().await;
    loop {
        if runtime.disposed.get() {
            return;
        }
        let next = tick(&runtime);
        let wait = next
            .map(|at| at.0.saturating_sub(runtime.now().0))
            .unwrap_or(IDLE_TICK_MS)
            .min(IDLE_TICK_MS);
        let timer =
            gloo_timers::future::TimeoutFuture::new(u32::try_from(wait).unwrap_or(u32::MAX));
        if let Either::Left((None, _)) = select(wake.next(), timer).await {
            return;
        }
        // Many wakes while busy are one look at the queue.
        while wake.try_recv().is_ok() {}
    }
}

/// One look at the queue: retries storage, recovers a dead drainer's in-flight actions,
/// sweeps retention, sends what is due. Returns when to look again.
fn tick(runtime: &Rc<Runtime>) -> Option<Millis> {
    let now = runtime.now();
    let mut next = None;
    if let Some(at) = runtime.storage_retry.get() {
        if at <= now {
            runtime.storage_retry.set(None);
            wasm_bindgen_futures::spawn_local(Rc::clone(runtime).retry_storage());
        } else {
            next = Some(at);
        }
    }
    if !runtime.may_send(now) || !runtime.loaded.is_open() {
        return next;
    }
    if !runtime.recovered.replace(true) {
        // Whatever the previous drainer (this tab before a reload, or a closed tab) had in
        // flight goes out again under the same idempotency key.
        let changes = runtime.queue.borrow_mut().recover_after_restart(now);
        runtime.commit_soon(changes, News::default());
    }
    let swept = runtime.queue.borrow_mut().sweep(now);
    if !swept.is_empty() {
        runtime.commit_soon(swept, News::default());
    }
    if !runtime.online.get() {
        // The `online` event wakes the worker; nothing is attempted (or counted) before.
        return next;
    }
    let (dispatch, budget_wait) = take_due(runtime, now);
    if !dispatch.send.is_empty() {
        // The in-flight marks are stored alongside, not before, the sends: a crash between
        // the two leaves them pending in the store, and they are re-sent under the same key,
        // which is what recovering an in-flight mark does anyway.
        runtime.commit_soon(dispatch.changes, News::default());
        for action in dispatch.send {
            wasm_bindgen_futures::spawn_local(send(Rc::clone(runtime), action));
        }
    }
    let queue_wake = budget_wait.or_else(|| runtime.queue.borrow().next_wake());
    match (next, queue_wake) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Marks in flight every due action the request budget allows, one token each; says when
/// the budget has tokens again if it ran out.
fn take_due(runtime: &Runtime, now: Millis) -> (Dispatch, Option<Millis>) {
    let mut dispatch = Dispatch::default();
    loop {
        let due = runtime
            .queue
            .borrow()
            .next_wake()
            .is_some_and(|at| at <= now);
        if !due {
            return (dispatch, None);
        }
        if let Err(at) = runtime.bridge.budget_acquire() {
            return (dispatch, Some(at.max(Millis(now.0 + 1))));
        }
        let one = runtime.queue.borrow_mut().ready_at_most(now, true, 1);
        if one.send.is_empty() {
            return (dispatch, None);
        }
        dispatch.send.extend(one.send);
        dispatch.changes.saved.extend(one.changes.saved);
    }
}

/// Sends one attempt and hands the answer to the queue.
async fn send(runtime: Rc<Runtime>, outgoing: OutgoingAction) {
    let exchange = runtime.sender.send(&outgoing).await;
    if !runtime.takes_part() {
        // This instance is gone (or a newer tab took over); its successor re-sends under the
        // same key.
        return;
    }
    let failure = exchange.result.as_ref().err().and_then(ApiError::failure);
    runtime.bridge.record_request(
        outgoing.request.route.label(),
        exchange.elapsed_ms,
        failure,
        &exchange.request_id,
    );
    let now = runtime.now();
    let id = outgoing.id;
    let (changes, news) = match exchange.result {
        Ok(answer) => {
            let action = runtime.queue.borrow().get(id).map(|r| r.action.clone());
            let changes = runtime.queue.borrow_mut().on_success(id, &answer);
            if action.is_some() {
                runtime.last_sync_at.set(Some(now));
                *runtime.last_error.borrow_mut() = None;
            }
            let news = News {
                confirmed: action.map(|action| (action, answer)),
                server_case: None,
            };
            (changes, news)
        }
        Err(ApiError::Conflict { current, .. }) => {
            // The merged resend carries a new body, so it needs a fresh key.
            let changes = runtime
                .queue
                .borrow_mut()
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
                runtime.bridge.on_rate_limited(*retry_after);
            }
            *runtime.last_error.borrow_mut() = Some(failure.describe());
            let online = runtime.online.get();
            let changes = runtime.queue.borrow_mut().on_failure(
                id,
                &failure,
                now,
                online,
                &mut *runtime.rng.borrow_mut(),
            );
            (changes, News::default())
        }
    };
    let write = runtime.commit(changes, news);
    // The slot is free: the next action may go while this answer is being stored.
    runtime.wake();
    let _ = write.await;
}
