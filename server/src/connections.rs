//! Accepting and serving connections (instead of `axum::serve`, which has no knobs for
//! what follows):
//!
//! - at most `--max-connections` are served at once: the accept loop takes a permit before
//!   it accepts, so further clients wait in the listen backlog instead of being dropped.
//!   An upgraded connection (an events socket) keeps its permit until the socket ends;
//! - a client must send a request's line and headers within `--header-read-timeout-ms`
//!   (hyper's `header_read_timeout`; the clock also runs while a kept-alive connection sits
//!   idle), else the connection closes: a slowloris client cannot hold a permit for ever.
//!   The whole request, body included, is bounded by the router's timeout layer (408);
//! - each request carries the peer address (`ConnectInfo<SocketAddr>`) for the rate
//!   limiter, the per-peer socket cap and the loopback-only `/__chaos`;
//! - shutdown stops accepting, asks every connection to finish its request in flight and
//!   close, and returns when they all have (the caller bounds the wait).

use crate::config::Limits;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// A place among the connections served at once, held by the connection and by an events
/// socket upgraded from it (in the request's extensions), and freed when both are done.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionPermit(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Serves `app` on `listener` until `stop` completes, then waits for open connections to
/// finish (see the module doc).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    // Dropping `stop_tx` asks the connections to finish; each holds a clone of `done_rx`,
    // so `done_tx.closed()` completes when the last one has.
    let (stop_tx, stop_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&places).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; if it were, there would be nothing to wait for.
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits.header_read_timeout,
            ConnectionPermit(Arc::new(permit)),
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    permit: ConnectionPermit,
    mut stop: watch::Receiver<()>,
    _done: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(permit.clone());
        app.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            log_end(result);
            return;
        }
        // Only ever an error: the sender is dropped when the server stops.
        _ = stop.changed() => {}
    }
    connection.as_mut().graceful_shutdown();
    log_end(connection.await);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts, resets and clients that vanish are routine; not worth more than debug.
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Errors of `accept` that concern one connection (it was reset before we took it) are
/// skipped; others (out of file descriptors) would repeat at once, so the loop pauses.
async fn wait_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept a connection; pausing");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
