//! Accepting and serving connections (instead of `axum::serve`, which has no knobs for
//! what follows):
//!
//! - at most `--max-connections` are served at once: the accept loop takes a permit before
//!   it accepts, so further clients wait in the listen backlog instead of being dropped.
//!   An upgraded connection (an events socket) keeps its permit until the socket ends;
//! - at most `--max-connections-per-peer` of them from one address (a `--trust-proxy`
//!   peer aside, which speaks for many clients): one more is answered 429 at once and
//!   closed, without waiting for its request, so it holds no place;
//! - a client must send a request's line and headers within `--header-read-timeout-ms`
//!   (hyper's `header_read_timeout`; the clock also runs while a kept-alive connection sits
//!   idle), else the connection closes: a slowloris client cannot hold a permit for ever.
//!   The whole request, body included, is bounded by the router's timeout layer (408);
//! - each request carries the peer address (`ConnectInfo<SocketAddr>`) and the client's
//!   ([`ClientAddress`], the peer's unless a trusted proxy names another) for the rate
//!   limiter, the sign-in throttle, the per-peer socket cap, the logs and the
//!   loopback-only `/__chaos`;
//! - shutdown stops accepting, asks every connection to finish its request in flight and
//!   close, and returns when they all have (the caller bounds the wait).

use crate::config::Limits;
use crate::error::ApiError;
use crate::peer::{ClientAddress, PeerSlot, PerPeer, TrustedProxies};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// A place among the connections served at once (and among its address's), held by the
/// connection and by an events socket upgraded from it (in the request's extensions), and
/// freed when both are done.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionPermit(#[allow(dead_code)] Arc<Places>);

#[derive(Debug)]
struct Places {
    _served: OwnedSemaphorePermit,
    /// `None` for a trusted proxy's connection.
    _peer: Option<PeerSlot>,
}

/// How long a connection refused for its address's cap may take to read its 429.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The places among the connections served at once (`--max-connections`); the metrics
/// count those taken.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionPlaces {
    free: Arc<Semaphore>,
    max: usize,
}

impl ConnectionPlaces {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Connections (and the events sockets upgraded from them) being served now.
    pub(crate) fn taken(&self) -> usize {
        self.max.saturating_sub(self.free.available_permits())
    }
}

/// Serves `app` on `listener` until `stop` completes, then waits for open connections to
/// finish (see the module doc).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    trusted: Arc<TrustedProxies>,
    places: ConnectionPlaces,
    stop: impl Future<Output = ()>,
) {
    let places = places.free;
    let per_peer = Arc::new(PerPeer::default());
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
        let peer_slot = if trusted.trusts(peer.ip()) {
            None
        } else {
            match per_peer.take(peer.ip(), limits.max_connections_per_peer) {
                Some(slot) => Some(slot),
                None => {
                    drop(permit);
                    tokio::spawn(refuse(stream));
                    continue;
                }
            }
        };
        let places = Places {
            _served: permit,
            _peer: peer_slot,
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            limits.header_read_timeout,
            Arc::clone(&trusted),
            ConnectionPermit(Arc::new(places)),
            stop_rx.clone(),
            done_rx.clone(),
        ));
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    done_tx.closed().await;
}

/// Answers a connection over its address's cap 429 and closes it. The request is read
/// (briefly, and thrown away) after the answer, so that the close is not a reset that
/// could make the client lose the answer.
async fn refuse(mut stream: TcpStream) {
    let id = uuid::Uuid::new_v4().to_string();
    let (status, retry_after, pending) = ApiError::RateLimited {
        retry_after_secs: 1,
    }
    .into_parts();
    let body = pending.render(&id);
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {}\r\ncontent-length: {}\r\nretry-after: {}\r\n\
         x-request-id: {id}\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         connection: close\r\n\r\n",
        crate::api::JSON_CONTENT_TYPE,
        body.len(),
        retry_after.unwrap_or(1),
    );
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    trusted: Arc<TrustedProxies>,
    permit: ConnectionPermit,
    mut stop: watch::Receiver<()>,
    _done: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(ClientAddress(client));
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
