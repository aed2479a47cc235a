//! Live updates: the server's change events over a WebSocket, coalesced (`LiveCoalescer`)
//! into cache invalidations. Reconnects with capped full-jitter backoff, watches the
//! server's heartbeat, stays down while offline, and invalidates on reconnect. It also
//! measures its own round trip (a `{"type":"ping","id":N}` the server answers with a pong of
//! the same id) when it opens and every `ROUND_TRIP_EVERY_MS`, and counts its reconnects,
//! for the Devtools page.

use super::client::QueryClient;
use crate::platform::env::Timer;
use casedesk_core::{CacheEvent, DurationMs, KeyScope, LiveCoalescer, Millis, RetryPolicy};
use casedesk_model::{ChangeEvent, Timestamp};
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use serde::Deserialize;
use uuid::Uuid;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// The connection's state, for the sync indicator and the Sync page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    /// Opening the socket.
    Connecting,
    /// Open: changes made elsewhere arrive within the coalescing window.
    Live,
    /// Lost; attempt `attempt` starts at `next_at`.
    Reconnecting { attempt: u32, next_at: Millis },
    /// The device is offline; the socket opens again when the network returns.
    Offline,
}

/// Reconnection: 1 s doubling to a 30 s cap, full jitter so a restarted server is not
/// stormed by every client at once, and never given up.
const RECONNECT: RetryPolicy = RetryPolicy {
    base: DurationMs(1_000),
    cap: DurationMs(30_000),
    max_attempts: None,
};

/// The server pings every 15 s; two missed pings and a margin mean the connection is dead
/// even if the browser has not noticed (a sleeping laptop, a silent proxy).
const SILENCE_LIMIT_MS: u32 = 40_000;

/// How often an open socket measures its round trip: as often as the server's own heartbeat,
/// so it costs one small message each way per 15 s.
const ROUND_TRIP_EVERY_MS: u32 = 15_000;

/// The socket's own numbers, for the Devtools page and the diagnostics export.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LiveStats {
    /// The latest ping/pong round trip over the socket, in milliseconds.
    pub round_trip_ms: Option<f64>,
    /// When it was measured.
    pub measured_at: Option<Millis>,
    /// How many times the socket opened again after having been open (this session).
    pub reconnects: u32,
}

/// What the client keeps of the socket.
#[derive(Default)]
pub(super) struct LiveSocket {
    connection: Option<Connection>,
    /// Tells a current socket's events from a replaced one's.
    generation: u64,
    /// Failed attempts since the socket was last open.
    attempt: u32,
    /// The socket was open before: the next open is a reconnect, after a gap.
    was_live: bool,
    connect_started: Millis,
    reconnect: Option<Timer>,
    watchdog: Option<Timeout>,
    flush: Option<Timer>,
    coalescer: LiveCoalescer,
    /// Measures the round trip while the socket is open.
    round_trip_timer: Option<Interval>,
    /// The id of the last ping sent and when (`performance.now()`); a pong of another id is
    /// a late answer to an earlier one and is ignored.
    ping_sent: Option<(u64, f64)>,
    next_ping_id: u64,
}

impl LiveSocket {
    /// Closes the socket and stops every timer (shut-down, offline).
    pub(super) fn close(&mut self) {
        self.connection = None;
        self.reconnect = None;
        self.watchdog = None;
        self.flush = None;
        self.round_trip_timer = None;
        self.ping_sent = None;
    }
}

/// An open socket and its handlers; dropping it detaches them and closes the socket.
struct Connection {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        // Closing an already closed socket is a no-op; an error here changes nothing.
        let _ = self.socket.close();
    }
}

impl QueryClient {
    /// Opens the socket (replacing any), unless offline or shut down.
    pub(super) fn live_connect(&self) {
        let client = *self;
        let opened = self.with_inner(|inner| {
            inner.live.reconnect = None;
            inner.live.connection = None;
            if inner.shut_down {
                return Err(LiveStatus::Offline);
            }
            if !inner.env.window().online() {
                return Err(LiveStatus::Offline);
            }
            inner.live.generation = inner.live.generation.wrapping_add(1);
            inner.live.connect_started = inner.env.now();
            let generation = inner.live.generation;
            let Ok(socket) = WebSocket::new(&inner.api.events_url()) else {
                return Ok(Some(generation));
            };
            let on_open = Closure::<dyn FnMut()>::new(move || client.live_opened(generation));
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                client.live_message(generation, e.data().as_string());
            });
            let on_close =
                Closure::<dyn FnMut(CloseEvent)>::new(move |_| client.live_lost(generation));
            socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            inner.live.connection = Some(Connection {
                socket,
                _on_open: on_open,
                _on_message: on_message,
                _on_close: on_close,
            });
            // A handshake that hangs is as dead as a silent socket.
            inner.live.watchdog = Some(client.watchdog(generation));
            Ok(None)
        });
        match opened {
            Some(Err(status)) => {
                self.live_status.try_set(status);
            }
            // The browser refused the URL: treated as a lost connection, retried.
            Some(Ok(Some(generation))) => self.live_lost(generation),
            Some(Ok(None)) => {
                self.live_status.try_set(LiveStatus::Connecting);
            }
            None => {}
        }
    }

    fn watchdog(&self, generation: u64) -> Timeout {
        let client = *self;
        Timeout::new(SILENCE_LIMIT_MS, move || client.live_lost(generation))
    }

    fn live_opened(&self, generation: u64) {
        let reconnected = self.with_inner(|inner| {
            if inner.live.generation != generation {
                return None;
            }
            // Authenticate before anything else; a failed send shows as a closed socket.
            if let (Some(auth), Some(connection)) =
                (inner.api.events_auth_message(), &inner.live.connection)
            {
                let _ = connection.socket.send_with_str(&auth);
            }
            inner.live.attempt = 0;
            inner.live.watchdog = Some(self.watchdog(generation));
            let client = *self;
            inner.live.round_trip_timer = Some(Interval::new(ROUND_TRIP_EVERY_MS, move || {
                client.live_ping(generation);
            }));
            let reconnected = std::mem::replace(&mut inner.live.was_live, true);
            let since = inner.live.connect_started;
            let stale = if reconnected {
                // Events were missed while the socket was down: nothing cached is proven
                // current, and what is on screen refetches (cheaply, with If-None-Match).
                vec![KeyScope::Everything]
            } else {
                // First open: entries fetched since we started connecting were fetched at most
                // one handshake before the socket listened; older ones (fetched before
                // connecting began, e.g. while offline) may have missed changes.
                inner
                    .cache
                    .entries()
                    .filter(|(_, entry)| {
                        entry.is_observed()
                            && entry.in_flight().is_none()
                            && entry
                                .reflects_server_state_at()
                                .is_some_and(|at| at < since)
                    })
                    .map(|(key, _)| KeyScope::Key(key.clone()))
                    .collect()
            };
            Some((reconnected, stale))
        });
        let Some(Some((reconnected, stale))) = reconnected else {
            return;
        };
        if reconnected {
            self.live_stats.try_update(|stats| stats.reconnects += 1);
        }
        self.live_status.try_set(LiveStatus::Live);
        self.live_ping(generation);
        for scope in stale {
            self.dispatch(CacheEvent::Invalidate { scope });
        }
    }

    /// Sends a ping of a new id over the current socket, to time its pong.
    fn live_ping(&self, generation: u64) {
        self.with_inner(|inner| {
            let live = &mut inner.live;
            let Some(connection) = live
                .connection
                .as_ref()
                .filter(|_| live.generation == generation)
            else {
                return;
            };
            live.next_ping_id = live.next_ping_id.wrapping_add(1);
            let id = live.next_ping_id;
            live.ping_sent = Some((id, monotonic_ms()));
            // A failed send means the socket is closing; its close event follows.
            let _ = connection
                .socket
                .send_with_str(&format!(r#"{{"type":"ping","id":{id}}}"#));
        });
    }

    /// The server answered ping `id`: the round trip is known.
    fn live_pong(&self, id: u64) {
        let sent = self.with_inner(|inner| match inner.live.ping_sent {
            Some((sent_id, at)) if sent_id == id => inner.live.ping_sent.take().map(|_| at),
            _ => None,
        });
        if let Some(Some(at)) = sent {
            let round_trip = (monotonic_ms() - at).max(0.0);
            let now = self.now();
            self.live_stats.try_update(|stats| {
                stats.round_trip_ms = Some(round_trip);
                stats.measured_at = Some(now);
            });
        }
    }

    fn live_message(&self, generation: u64, text: Option<String>) {
        let client = *self;
        let now = self.now();
        if let Some(id) = text.as_deref().and_then(parse_pong) {
            let current = self
                .read_inner(|inner| inner.live.generation == generation)
                .unwrap_or(false);
            if current {
                self.with_inner(|inner| inner.live.watchdog = Some(client.watchdog(generation)));
                self.live_pong(id);
            }
            return;
        }
        // Unknown event types, and anything that is not our JSON, are ignored: a newer
        // server may send more than this client knows.
        let event = text.as_deref().and_then(parse_event);
        self.with_inner(|inner| {
            if inner.live.generation != generation {
                return;
            }
            inner.live.watchdog = Some(client.watchdog(generation));
            match event {
                Some(ChangeEvent::Ping) => {
                    if let Some(connection) = &inner.live.connection {
                        // A failed send means the socket is closing; its close event follows.
                        let _ = connection.socket.send_with_str(r#"{"type":"pong"}"#);
                    }
                }
                Some(event) => {
                    if let Some(at) = inner.live.coalescer.push(event, now) {
                        inner.live.flush = Some(inner.env.timeout_at(at, move || {
                            client.live_flush();
                        }));
                    }
                }
                None => {}
            }
        });
    }

    /// The coalescing window closed: its effects go to the cache.
    fn live_flush(&self) {
        let effects = self.with_inner(|inner| {
            inner.live.flush = None;
            inner.live.coalescer.drain(&inner.cache)
        });
        for event in effects.unwrap_or_default() {
            self.dispatch(event);
        }
    }

    /// The socket closed, failed to open, or went silent: try again after a backoff.
    fn live_lost(&self, generation: u64) {
        let client = *self;
        let now = self.now();
        let status = self.with_inner(|inner| {
            if inner.live.generation != generation || inner.shut_down {
                return None;
            }
            // Whatever else this socket reports from now on (a close after the watchdog
            // gave up on it) is ignored.
            inner.live.generation = inner.live.generation.wrapping_add(1);
            inner.live.connection = None;
            inner.live.watchdog = None;
            inner.live.round_trip_timer = None;
            inner.live.ping_sent = None;
            if !inner.env.window().online() {
                return Some(LiveStatus::Offline);
            }
            inner.live.attempt = inner.live.attempt.saturating_add(1);
            let attempt = inner.live.attempt;
            let delay = RECONNECT.delay(attempt, None, &mut inner.rng);
            let next_at = now + delay;
            inner.live.reconnect = Some(inner.env.timeout_at(next_at, move || {
                client.live_connect();
            }));
            Some(LiveStatus::Reconnecting { attempt, next_at })
        });
        if let Some(Some(status)) = status {
            self.live_status.try_set(status);
        }
    }

    /// The browser went offline: no socket until it is back.
    pub(super) fn live_offline(&self) {
        self.with_inner(|inner| inner.live.close());
        self.live_status.try_set(LiveStatus::Offline);
    }

    /// The browser is back online: connect now, not after a backoff.
    pub(super) fn live_online(&self) {
        self.with_inner(|inner| inner.live.attempt = 0);
        self.live_connect();
    }
}

/// `performance.now()`: a monotonic clock with sub-millisecond resolution, for timing the
/// round trip (a loopback one is well under `Date.now()`'s millisecond). 0 without a window.
fn monotonic_ms() -> f64 {
    web_sys::window()
        .and_then(|window| window.performance())
        .map_or(0.0, |performance| performance.now())
}

/// The server's answer to our ping: its id; `None` for any other message.
fn parse_pong(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Pong {
        #[serde(rename = "type")]
        kind: String,
        id: Option<u64>,
    }
    let pong: Pong = serde_json::from_str(text).ok()?;
    (pong.kind == "pong").then_some(pong.id).flatten()
}

/// Every field any event type carries, all optional: one flat struct decodes every message,
/// which costs a fraction of the code of the internally tagged `ChangeEvent` derive (the
/// largest single function in the app otherwise), and an unknown `type` is simply `None`.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    id: Option<Uuid>,
    case_id: Option<Uuid>,
    version: Option<u64>,
    at: Option<Timestamp>,
    reason: Option<String>,
}

/// One text message as a change event; `None` for anything this client does not know.
fn parse_event(text: &str) -> Option<ChangeEvent> {
    let wire: WireEvent = serde_json::from_str(text).ok()?;
    Some(match wire.kind.as_str() {
        "case.created" => ChangeEvent::CaseCreated {
            id: wire.id?,
            version: wire.version?,
            at: wire.at?,
        },
        "case.updated" => ChangeEvent::CaseUpdated {
            id: wire.id?,
            version: wire.version?,
            at: wire.at?,
        },
        "case.deleted" => ChangeEvent::CaseDeleted {
            id: wire.id?,
            at: wire.at?,
        },
        "note.created" => ChangeEvent::NoteCreated {
            id: wire.id?,
            case_id: wire.case_id?,
            at: wire.at?,
        },
        "ping" => ChangeEvent::Ping,
        "resync" => ChangeEvent::Resync {
            reason: wire.reason.unwrap_or_default(),
        },
        _ => return None,
    })
}
