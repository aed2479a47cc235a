//! Change events over the `/api/v1/events` WebSocket.
//!
//! A socket authenticates with its upgrade (an `Authorization` header, for clients that can
//! set one; nothing under `--no-auth`) or else with its first message,
//! `{"type":"auth","token":"…"}`, within 5 s: browsers cannot set headers on a WebSocket,
//! and a token in the URL would end up in logs and history. The upgrade's `Origin` is
//! checked first (`origin`), against cross-site WebSocket hijacking.
//!
//! Writers publish one [`LiveEvent`] per accepted change (the event's fields and the change
//! itself as the change log numbered it, docs/api.md §6), after commit, into a bounded
//! tokio broadcast channel: publishing never waits, whatever the clients do. Each socket
//! has its own task ([`pump`]) that forwards events as JSON text and, every interval, sends
//! `{"type":"ping"}` followed by a WebSocket Ping frame. A client that falls more than the
//! channel's capacity behind gets `{"type":"resync","reason":…}` and is disconnected; one
//! that does not take a message within [`SEND_TIMEOUT`] is dropped.
//!
//! A client may send `{"type":"ping","id":N}` to measure its own round trip; the server
//! answers `{"type":"pong","id":N}` at once (the id echoed when it is a whole number).
//!
//! What a client may cost is bounded: a message (or frame) over `--ws-max-message-bytes`
//! closes its socket (clients only send pongs and small pings); one peer address may hold
//! `--ws-max-per-peer` sockets, further upgrades are 429; and a socket that answers a ping
//! neither with a Pong frame (browsers send one by themselves) nor with `{"type":"pong"}`
//! within `--ws-pong-timeout-ms` is closed, so dead peers do not hold sockets for ever.

use crate::auth::{self, Actor};
use crate::chaos::Chaos;
use crate::connections::ConnectionPermit;
use crate::error::ApiError;
use crate::peer;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use casedesk_model::{ChangeEvent, LiveEvent, Permission};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// How long a socket that did not authenticate with its upgrade has to send its
/// `{"type":"auth"}` message.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one message may take to reach a client before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Retry-After` of an upgrade refused because its peer holds too many sockets.
const TOO_MANY_SOCKETS_RETRY_SECS: u64 = 5;

/// The fan-out of change events; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<LiveEvent>,
}

impl EventBus {
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Sends an event to every connected client; never blocks.
    pub(crate) fn publish(&self, event: impl Into<LiveEvent>) {
        // An error only means nobody listens right now.
        let _ = self.sender.send(event.into());
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.sender.subscribe()
    }
}

/// `GET /api/v1/events`.
pub(crate) async fn socket(
    State(state): State<AppState>,
    parts: Parts,
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
    let limits = state.limits;
    // A router driven in-process has no peer address; a served connection always has one.
    let slot = match peer::address(&parts.extensions) {
        Some(ip) => match state.sockets.take(ip, limits.ws_max_per_peer) {
            Some(slot) => Some(slot),
            None => {
                return ApiError::RateLimited {
                    retry_after_secs: TOO_MANY_SOCKETS_RETRY_SECS,
                }
                .into_response()
            }
        },
        None => None,
    };
    // The socket keeps its connection's place among those served at once.
    let connection = parts.extensions.get::<ConnectionPermit>().cloned();
    // Subscribe before the upgrade completes, so no event after the 101 is missed.
    let events = state.events.subscribe();
    let heartbeat = Heartbeat {
        ping_every: state.ws_ping_interval,
        pong_timeout: limits.ws_pong_timeout,
    };
    let shutdown = state.shutdown.clone();
    let chaos = state.chaos.clone();
    // Authenticated already (a bearer header, or a guest under `--no-auth`)? Otherwise the
    // first message must be `{"type":"auth","token":"…"}`.
    let authenticated = parts.extensions.get::<Actor>().cloned();
    let client = crate::rate_limit::ClientKey::peer(&parts.extensions);
    upgrade
        .max_message_size(limits.ws_max_message_bytes)
        .max_frame_size(limits.ws_max_message_bytes)
        .on_upgrade(move |mut socket| async move {
            let actor = match authenticated {
                Some(actor) => Some(actor),
                None => authenticate_in_band(&mut socket, &state, client).await,
            };
            if let Some(actor) = actor {
                let ended = watch_session(&state, actor.session, shutdown);
                serve_socket(socket, events, heartbeat, ended, chaos).await;
            }
            drop((slot, connection));
        })
}

/// What ends a socket besides its client: the server stopping, or (for a person's socket)
/// their session ending: signed out, revoked by a password change or "sign out everywhere",
/// expired, or the person deactivated. The session is looked at once per ping interval; a
/// socket closed for it reconnects and is then refused `session_expired`.
fn watch_session(
    state: &AppState,
    session: Option<crate::sessions::TokenHash>,
    mut shutdown: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let Some(hash) = session else {
        return shutdown;
    };
    let (end, ended) = watch::channel(false);
    let state = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(state.ws_ping_interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                () = end.closed() => return,
                _ = every.tick() => {
                    if !auth::session_is_live(&state, hash).await {
                        break;
                    }
                }
            }
        }
        let _ = end.send(true);
    });
    ended
}

/// Reads the socket's first message as `{"type":"auth","token":"…"}` within
/// [`AUTH_TIMEOUT`] and checks the token (a session's or a service token) and the route's
/// rule; returns who it is. On failure the socket is closed with code 1008 (policy
/// violation) and the error code as the reason (`unauthorized`, `session_expired` or
/// `forbidden`), and no event is sent.
async fn authenticate_in_band(
    socket: &mut WebSocket,
    state: &AppState,
    client: crate::rate_limit::ClientKey,
) -> Option<Actor> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match socket.recv().await {
                // Pings and pongs may come before; they are not the message.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let token = first.and_then(|text| {
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        (value.get("type")?.as_str()? == "auth")
            .then(|| value.get("token")?.as_str().map(str::to_owned))
            .flatten()
    });
    let refusal = match token {
        Some(token) => match auth::authenticate(state, &token, client).await {
            // The route's rule, as `auth::permit` checks it for a header-authenticated one.
            Ok((actor, _)) if actor.allows(Permission::Read) => return Some(actor),
            Ok(_) => casedesk_model::ErrorCode::Forbidden,
            Err(error) => error.code(),
        },
        None => casedesk_model::ErrorCode::Unauthorized,
    };
    let reason = serde_json::to_value(refusal)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unauthorized".into());
    let _ = socket
        .send(Message::Close(Some(axum::extract::ws::CloseFrame {
            code: axum::extract::ws::close_code::POLICY,
            reason: reason.into(),
        })))
        .await;
    None
}

/// When the server pings and how long it waits for the answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heartbeat {
    pub(crate) ping_every: Duration,
    pub(crate) pong_timeout: Duration,
}

async fn serve_socket(
    socket: WebSocket,
    events: broadcast::Receiver<LiveEvent>,
    heartbeat: Heartbeat,
    shutdown: watch::Receiver<bool>,
    chaos: Arc<Chaos>,
) {
    let (sink, stream) = socket.split();
    // One message may become several frames when `corrupt_socket` is on.
    let sink = sink.with_flat_map(move |out: Outgoing| {
        let frames = match out {
            Outgoing::Text(text) => chaos.socket_frames(text),
            Outgoing::Ping => vec![Message::Ping(axum::body::Bytes::from_static(b"casedesk"))],
            Outgoing::Close => vec![Message::Close(None)],
        };
        futures_util::stream::iter(frames.into_iter().map(Ok::<_, axum::Error>))
    });
    // An error includes a message over the size limit: the socket ends.
    let stream = stream.map(|message| match message {
        Ok(Message::Close(_)) | Err(_) => Incoming::Closed,
        Ok(Message::Pong(_)) => Incoming::Pong,
        Ok(Message::Text(text)) if is_pong(text.as_str()) => Incoming::Pong,
        Ok(Message::Text(text)) => match client_ping(text.as_str()) {
            Some(id) => Incoming::Ping { id },
            None => Incoming::Message,
        },
        Ok(_) => Incoming::Message,
    });
    pump(
        Box::pin(sink),
        Box::pin(stream),
        events,
        heartbeat,
        shutdown,
    )
    .await;
}

/// Whether a text message is the contract's `{"type":"pong"}`.
fn is_pong(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Typed<'_>>(text).is_ok_and(|typed| typed.kind == "pong")
}

/// A text message that is a client's `{"type":"ping"}`: `Some(id)` (the id when it is a
/// whole number, which the answer echoes), `None` for anything else.
fn client_ping(text: &str) -> Option<Option<u64>> {
    #[derive(serde::Deserialize)]
    struct Ping<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    let ping = serde_json::from_str::<Ping<'_>>(text).ok()?;
    (ping.kind == "ping").then(|| ping.id.and_then(|id| id.as_u64()))
}

/// The answer to a client's ping.
fn pong_for(id: Option<u64>) -> String {
    match id {
        Some(id) => format!(r#"{{"type":"pong","id":{id}}}"#),
        None => r#"{"type":"pong"}"#.to_owned(),
    }
}

/// A message to the client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outgoing {
    Text(String),
    /// A WebSocket Ping frame, which browsers answer with a Pong frame by themselves.
    Ping,
    Close,
}

/// What the client sent, as far as the server cares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Incoming {
    /// A Pong frame or `{"type":"pong"}`: the client is alive.
    Pong,
    /// `{"type":"ping","id":N}`: the client measures its round trip; answered at once.
    Ping {
        id: Option<u64>,
    },
    /// Anything else (a ping frame…): ignored.
    Message,
    Closed,
}

fn encode(event: &LiveEvent) -> String {
    // An event is plain data and always serialises.
    serde_json::to_string(event).unwrap_or_default()
}

/// Forwards events, pings and handles lag until the client goes, misses a pong deadline,
/// or the server stops.
pub(crate) async fn pump<Tx, Rx>(
    mut sink: Tx,
    mut incoming: Rx,
    mut events: broadcast::Receiver<LiveEvent>,
    heartbeat: Heartbeat,
    mut shutdown: watch::Receiver<bool>,
) where
    Tx: Sink<Outgoing> + Unpin,
    Rx: Stream<Item = Incoming> + Unpin,
{
    let ping_every = heartbeat.ping_every;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When the oldest unanswered ping must have been answered by.
    let mut pong_due: Option<tokio::time::Instant> = None;
    loop {
        let due = pong_due;
        let deadline = async move {
            match due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        let outgoing = tokio::select! {
            event = events.recv() => match event {
                // A resync from the bus (the server's listener was interrupted) ends the
                // socket like a lag does: the client refetches and reconnects.
                Ok(live) if matches!(live.event, ChangeEvent::Resync { .. }) => {
                    vec![Outgoing::Text(encode(&live)), Outgoing::Close]
                }
                Ok(event) => vec![Outgoing::Text(encode(&event))],
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let resync = ChangeEvent::Resync {
                        reason: format!("missed {missed} events; refetch what you show"),
                    };
                    let _ = send(&mut sink, Outgoing::Text(encode(&resync.into()))).await;
                    let _ = send(&mut sink, Outgoing::Close).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => vec![Outgoing::Close],
            },
            _ = ping.tick() => {
                pong_due.get_or_insert(tokio::time::Instant::now() + heartbeat.pong_timeout);
                vec![Outgoing::Text(encode(&ChangeEvent::Ping.into())), Outgoing::Ping]
            }
            message = incoming.next() => match message {
                Some(Incoming::Pong) => {
                    pong_due = None;
                    continue;
                }
                Some(Incoming::Ping { id }) => vec![Outgoing::Text(pong_for(id))],
                Some(Incoming::Message) => continue,
                Some(Incoming::Closed) | None => return,
            },
            () = deadline => {
                tracing::info!("an events socket answered no ping in time; closing it");
                vec![Outgoing::Close]
            }
            _ = shutdown.changed() => vec![Outgoing::Close],
        };
        for message in outgoing {
            let closing = message == Outgoing::Close;
            if !send(&mut sink, message).await || closing {
                return;
            }
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

    fn slow_heartbeat() -> Heartbeat {
        Heartbeat {
            ping_every: Duration::from_secs(60),
            pong_timeout: Duration::from_secs(60),
        }
    }

    fn texts(log: &[Outgoing]) -> Vec<&str> {
        log.iter()
            .map(|m| match m {
                Outgoing::Text(t) => t.as_str(),
                Outgoing::Ping => "ping frame",
                Outgoing::Close => "close",
            })
            .collect()
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
            slow_heartbeat(),
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
            Heartbeat {
                ping_every: Duration::from_millis(100),
                pong_timeout: Duration::from_secs(60),
            },
            shutdown,
        )
        .await;
        let log = log.lock().unwrap();
        let texts = texts(&log);
        assert_eq!(texts.len(), 5, "{texts:?}");
        assert!(texts[0].contains("case.deleted"));
        assert_eq!(
            texts[1..],
            [
                r#"{"type":"ping"}"#,
                "ping frame",
                r#"{"type":"ping"}"#,
                "ping frame"
            ]
        );
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
            slow_heartbeat(),
            shutdown,
        ));
        stop.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![Outgoing::Close]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_no_ping_is_closed_after_the_pong_timeout() {
        let bus = EventBus::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (_stop, shutdown) = watch::channel(false);
        let heartbeat = Heartbeat {
            ping_every: Duration::from_millis(100),
            pong_timeout: Duration::from_millis(250),
        };
        // The client stays connected and silent. Time is paused: the guard is virtual time.
        let ended = tokio::time::timeout(
            Duration::from_secs(3600),
            pump(
                recording_sink(log.clone()),
                futures_util::stream::pending(),
                bus.subscribe(),
                heartbeat,
                shutdown,
            ),
        )
        .await;
        assert!(ended.is_ok(), "the socket was never closed");
        let log = log.lock().unwrap();
        let texts = texts(&log);
        // Pings at 100, 200, 300 ms; the first one's answer was due at 350 ms.
        assert_eq!(texts.last(), Some(&"close"), "{texts:?}");
        assert_eq!(
            texts.iter().filter(|t| **t == "ping frame").count(),
            3,
            "{texts:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_its_pings_stays_connected() {
        let bus = EventBus::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (_stop, shutdown) = watch::channel(false);
        let heartbeat = Heartbeat {
            ping_every: Duration::from_millis(100),
            pong_timeout: Duration::from_millis(50),
        };
        // Answers 10 ms after each ping (a Pong frame, then the JSON pong, alternately),
        // for 2 s, then closes.
        let incoming = Box::pin(futures_util::stream::unfold(0u32, |n| async move {
            if n == 20 {
                return Some((Incoming::Closed, n + 1));
            }
            if n > 20 {
                return None;
            }
            tokio::time::sleep(if n == 0 {
                Duration::from_millis(110)
            } else {
                Duration::from_millis(100)
            })
            .await;
            Some((Incoming::Pong, n + 1))
        }));
        pump(
            recording_sink(log.clone()),
            incoming,
            bus.subscribe(),
            heartbeat,
            shutdown,
        )
        .await;
        let log = log.lock().unwrap();
        let texts = texts(&log);
        assert!(!texts.contains(&"close"), "closed by the server: {texts:?}");
        assert!(
            texts.iter().filter(|t| **t == "ping frame").count() >= 19,
            "{texts:?}"
        );
    }

    #[tokio::test]
    async fn a_client_ping_is_answered_with_a_pong_carrying_its_id() {
        let bus = EventBus::new(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (_stop, shutdown) = watch::channel(false);
        let incoming = Box::pin(futures_util::stream::iter([
            Incoming::Ping { id: Some(7) },
            Incoming::Ping { id: None },
            Incoming::Closed,
        ]));
        pump(
            recording_sink(log.clone()),
            incoming,
            bus.subscribe(),
            slow_heartbeat(),
            shutdown,
        )
        .await;
        let log = log.lock().unwrap();
        assert_eq!(
            texts(&log),
            [r#"{"type":"pong","id":7}"#, r#"{"type":"pong"}"#]
        );
    }

    #[test]
    fn client_pings_are_recognised() {
        assert_eq!(client_ping(r#"{"type":"ping","id":12}"#), Some(Some(12)));
        assert_eq!(client_ping(r#"{"type":"ping"}"#), Some(None));
        assert_eq!(client_ping(r#"{"type":"ping","id":"x"}"#), Some(None));
        assert_eq!(client_ping(r#"{"type":"pong","id":1}"#), None);
        assert_eq!(client_ping("ping"), None);
    }

    #[test]
    fn pongs_are_recognised() {
        assert!(is_pong(r#"{"type":"pong"}"#));
        assert!(is_pong(r#"{ "type" : "pong", "extra": 1 }"#));
        assert!(!is_pong(r#"{"type":"ping"}"#));
        assert!(!is_pong("pong"));
    }
}
