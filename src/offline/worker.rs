//! The retry worker, "service-worker-like" but in the page: while this tab holds the drainer
//! lock and the browser is online, it sends every due action (core decides which: one per
//! case, up to the in-flight bound, one request-budget token each) and hands each answer
//! back to the queue. It sleeps until the queue's next wake, an enqueue, an answer,
//! `online`, a visible tab or "Sync now" wakes it.

use super::runtime::{Msg, Runtime};
use super::sender::OutgoingAction;
use crate::api::ApiError;
use futures::channel::mpsc::UnboundedReceiver;
use futures::future::{select, Either};
use futures::StreamExt;
use std::rc::Rc;

/// The longest sleep: the retention sweep and storage retries need a tick now and then even
/// when nothing is due.
const IDLE_TICK_MS: u64 = 30_000;

/// Loads the stored queue, then drains for as long as the runtime lives.
pub async fn run(runtime: Rc<Runtime>, mut wake: UnboundedReceiver<()>) {
    let loaded = runtime.store().open_and_load(runtime.on_superseded()).await;
    let _ = runtime.dispatch(Msg::Loaded(loaded));
    loop {
        if runtime.is_stopped() {
            return;
        }
        let fx = runtime.dispatch(Msg::Tick(runtime.now()));
        if fx.retry_storage {
            wasm_bindgen_futures::spawn_local(retry_storage(Rc::clone(&runtime)));
        }
        for action in fx.send {
            wasm_bindgen_futures::spawn_local(send(Rc::clone(&runtime), action));
        }
        let wait = fx
            .next_look
            .map(|at| at.0.saturating_sub(runtime.now().0))
            .unwrap_or(IDLE_TICK_MS)
            .min(IDLE_TICK_MS);
        let timer = runtime.env().sleep(casedesk_core::DurationMs(wait));
        if let Either::Left((None, _)) = select(wake.next(), timer).await {
            return;
        }
        // Many wakes while busy are one look at the queue.
        while wake.try_recv().is_ok() {}
    }
}

/// Sends one attempt and hands the answer to the queue.
async fn send(runtime: Rc<Runtime>, outgoing: OutgoingAction) {
    let exchange = runtime.sender().send(&outgoing).await;
    if !runtime.takes_part() {
        // This instance is gone (or a newer tab took over); its successor re-sends under the
        // same key.
        return;
    }
    let failure = exchange.result.as_ref().err().and_then(ApiError::failure);
    runtime.bridge().record_request(
        outgoing.request.route.label(),
        exchange.elapsed_ms,
        failure,
        &exchange.request_id,
    );
    let fx = runtime.dispatch(Msg::Answer {
        id: outgoing.id,
        result: exchange.result,
    });
    if let Some(stored) = fx.stored {
        let _ = stored.await;
    }
}

/// Tries storage again: reopens it if needed (taking in records this tab did not know),
/// then writes everything unsaved.
async fn retry_storage(runtime: Rc<Runtime>) {
    if !runtime.takes_part() {
        return;
    }
    match runtime.store().reopen(runtime.on_superseded()).await {
        Ok(loaded) => {
            let _ = runtime.dispatch(Msg::Reopened(loaded));
        }
        Err(error) => {
            let _ = runtime.dispatch(Msg::StorageRetried(Err(error)));
            return;
        }
    }
    let flushed = runtime.store().flush().await;
    let _ = runtime.dispatch(Msg::StorageRetried(flushed));
}
