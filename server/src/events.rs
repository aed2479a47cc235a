//! Change events over the `/api/v1/events` WebSocket.
//!
//! Writers publish one [`ChangeEvent`] per accepted change, after commit, into a bounded
//! tokio broadcast channel: publishing never waits, whatever the clients do. Each socket
//! has its own task ([`pump`]) that forwards events as JSON text, sends `{"type":"ping"}`
//! every interval and ignores what the client sends (`pong`). A client that falls more
//! than the channel's capacity behind gets `{"type":"resync","reason":…}` and is
//! disconnected; one that does not take a message within [`SEND_TIMEOUT`] is dropped.

use crate::app::AppState;
use crate::chaos::Chaos;
use crate::error::ApiError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use casedesk_model::ChangeEvent;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How long one message may take to reach a client before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The fan-out of change events; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<ChangeEvent>,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Sends an event to every connected client; never blocks.
    pub(crate) fn publish(&self, event: ChangeEvent) {
        // An error only means nobody listens right now.
        let _ = self.sender.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.sender.subscribe()
    }
}

/// `GET /api/v1/events`.
pub(crate) async fn socket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::BadRequest(format!(
                "This endpoint is a WebSocket: {}",
                rejection.body_text()
            ))
            .into_response()
        }
    };
    // Subscribe before the upgrade completes, so no event after the 101 is missed.
    let events = state.events.subscribe();
    let ping_every = state.ws_ping_interval;
    let shutdown = state.shutdown.clone();
    let chaos = state.chaos.clone();
    upgrade.on_upgrade(move |socket| serve_socket(socket, events, ping_every, shutdown, chaos))
}

async fn serve_socket(
    socket: WebSocket,
    events: broadcast::Receiver<ChangeEvent>,
    ping_every: Duration,
    shutdown: watch::Receiver<bool>,
    chaos: Arc<Chaos>,
) {
    let (sink, stream) = socket.split();
    // One message may become several frames when `corrupt_socket` is on.
    let sink = sink.with_flat_map(move |out: Outgoing| {
        let frames = match out {
            Outgoing::Text(text) => chaos.socket_frames(text),
            Outgoing::Close => vec![Message::Close(None)],
        };
        futures_util::stream::iter(frames.into_iter().map(Ok::<_, axum::Error>))
    });
    let stream = stream.map(|message| match message {
        Ok(Message::Close(_)) | Err(_) => Incoming::Closed,
        Ok(_) => Incoming::Message,
    });
    pump(
        Box::pin(sink),
        Box::pin(stream),
        events,
        ping_every,
        shutdown,
    )
    .await;
}

/// A message to the client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outgoing {
    Text(String),
    Close,
}

/// What the client sent, as far as the server cares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Incoming {
    /// Anything (a `pong`, a ping frame…): ignored.
    Message,
    Closed,
}

fn encode(event: &ChangeEvent) -> String {
    // A ChangeEvent is plain data and always serialises.
    serde_json::to_string(event).unwrap_or_default()
}

/// Forwards events, pings and handles lag until the client goes or the server stops.
pub(crate) async fn pump<Tx, Rx>(
    mut sink: Tx,
    mut incoming: Rx,
    mut events: broadcast::Receiver<ChangeEvent>,
    ping_every: Duration,
    mut shutdown: watch::Receiver<bool>,
) where
    Tx: Sink<Outgoing> + Unpin,
    Rx: Stream<Item = Incoming> + Unpin,
{
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let outgoing = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => Outgoing::Text(encode(&event)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let resync = ChangeEvent::Resync {
                        reason: format!("missed {missed} events; refetch what you show"),
                    };
                    let _ = send(&mut sink, Outgoing::Text(encode(&resync))).await;
                    let _ = send(&mut sink, Outgoing::Close).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => Outgoing::Close,
            },
            _ = ping.tick() => Outgoing::Text(encode(&ChangeEvent::Ping)),
            message = incoming.next() => match message {
                Some(Incoming::Message) => continue,
                Some(Incoming::Closed) | None => return,
            },
            _ = shutdown.changed() => Outgoing::Close,
        };
        let closing = outgoing == Outgoing::Close;
        if !send(&mut sink, outgoing).await || closing {
            return;
        }
    }
}

/// Sends one message; false when the client is gone or too slow.
async fn send<Tx: Sink<Outgoing> + Unpin>(sink: &mut Tx, message: Outgoing) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::Timestamp;
    use std::sync::{Arc, Mutex};
    use uuid::Uuid;

    fn recording_sink(log: Arc<Mutex<Vec<Outgoing>>>) -> impl Sink<Outgoing> + Unpin {
        Box::pin(futures_util::sink::unfold(log, |log, message| async move {
            log.lock().unwrap().push(message);
            Ok::<_, std::convert::Infallible>(log)
        }))
    }

    fn deleted(n: u128) -> ChangeEvent {
        ChangeEvent::CaseDeleted {
            id: Uuid::from_u128(n),
            at: Timestamp::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn a_lagging_client_is_told_to_resync_then_closed() {
        let bus = EventBus::new(2);
        let events = bus.subscribe();
        for n in 0..5 {
            bus.publish(deleted(n));
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let (_stop, shutdown) = watch::channel(false);
        pump(
            recording_sink(log.clone()),
            futures_util::stream::pending(),
            events,
            Duration::from_secs(60),
            shutdown,
        )
        .await;
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 2, "{log:?}");
        let Outgoing::Text(text) = &log[0] else {
            panic!("{log:?}")
        };
        assert!(
            text.starts_with(r#"{"type":"resync","reason":"missed 3 events"#),
            "{text}"
        );
        assert_eq!(log[1], Outgoing::Close);
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_forwarded_and_pings_sent_until_the_client_closes() {
        let bus = EventBus::new(16);
        let events = bus.subscribe();
        bus.publish(deleted(1));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (_stop, shutdown) = watch::channel(false);
        // The client closes after 2.5 ping intervals.
        let incoming = Box::pin(futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Incoming::Closed
        }));
        pump(
            recording_sink(log.clone()),
            incoming,
            events,
            Duration::from_millis(100),
            shutdown,
        )
        .await;
        let log = log.lock().unwrap();
        let texts: Vec<&str> = log
            .iter()
            .map(|m| match m {
                Outgoing::Text(t) => t.as_str(),
                Outgoing::Close => "close",
            })
            .collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].contains("case.deleted"));
        assert_eq!(texts[1], r#"{"type":"ping"}"#);
        assert_eq!(texts[2], r#"{"type":"ping"}"#);
    }

    #[tokio::test]
    async fn shutdown_closes_the_socket() {
        let bus = EventBus::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(pump(
            recording_sink(log.clone()),
            futures_util::stream::pending(),
            bus.subscribe(),
            Duration::from_secs(60),
            shutdown,
        ));
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![Outgoing::Close]);
    }
}
