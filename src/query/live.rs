//! Live updates: the server's change events over a WebSocket, coalesced (`LiveCoalescer`)
//! into cache invalidations. Reconnects with capped full-jitter backoff, watches the
//! server's heartbeat, stays down while offline, and invalidates on reconnect. It also
//! measures its own round trip (a `{"type":"ping","id":N}` the server answers with a pong of
//! the same id) when it opens and every `ROUND_TRIP_EVERY_MS`, and counts its reconnects,
//! for the Devtools page. It reaches the cache only through [`LiveCache`]. It opens on the
//! API origin in use, reports a lost socket as that origin's failure, and follows the client
//! to another origin as soon as it moves (docs/api.md §5).

use crate::api::{ApiClient, EventsAuth};
use crate::platform::env::{Environment, SharedRandom, Timer};
use casedesk_core::{
    CacheEvent, DurationMs, KeyScope, LiveCoalescer, Millis, QueryCache, RetryPolicy,
};
use casedesk_model::{ChangeEvent, Timestamp};
use gloo_timers::callback::{Interval, Timeout};
use leptos::prelude::*;
use serde::Deserialize;
use std::rc::Rc;
use uuid::Uuid;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What the socket needs from the query cache, and no more: this module knows nothing of
/// the client that implements it.
pub(crate) trait LiveCache {
    /// The API client with the current credentials (the socket's address and sign-in).
    fn api(&self) -> Option<ApiClient>;
    /// Runs `read` on the cache; not at all once the cache is gone.
    fn read_cache(&self, read: &mut dyn FnMut(&QueryCache));
    /// Applies `events` to the cache as one step.
    fn apply(&self, events: Vec<CacheEvent>);
}

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

/// The close code the server refuses a socket's authentication with (policy violation), its
/// reason the error code (docs/api.md §4).
const POLICY_VIOLATION: u16 = 1008;

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

/// The live socket's handle. `Copy`; its state lives in the reactive owner it was made in.
#[derive(Clone, Copy)]
pub(crate) struct Live {
    state: StoredValue<LiveState, LocalStorage>,
    status: RwSignal<LiveStatus>,
    stats: RwSignal<LiveStats>,
}

/// The socket, its timers and what it remembers between connections.
struct LiveState {
    env: Environment,
    rng: SharedRandom,
    /// Set once by `Live::start`.
    cache: Option<Rc<dyn LiveCache>>,
    /// Shut down for good (the client went away).
    closed: bool,
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
    /// The index of the API origin the socket was opened on.
    socket_origin: Option<usize>,
    /// How the open socket authenticated, for telling a refusal of its session apart.
    auth: Option<EventsAuth>,
}

impl LiveState {
    /// Closes the socket and stops every timer (shut-down, offline).
    fn close(&mut self) {
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

impl Live {
    /// A socket not yet connected, in `env`.
    pub(crate) fn new(env: Environment) -> Self {
        let online = env.window().online();
        let state = LiveState {
            rng: env.random(),
            env,
            cache: None,
            closed: false,
            connection: None,
            generation: 0,
            attempt: 0,
            was_live: false,
            connect_started: Millis(0),
            reconnect: None,
            watchdog: None,
            flush: None,
            coalescer: LiveCoalescer::default(),
            round_trip_timer: None,
            ping_sent: None,
            next_ping_id: 0,
            socket_origin: None,
            auth: None,
        };
        Self {
            state: StoredValue::new_local(state),
            status: RwSignal::new(if online {
                LiveStatus::Connecting
            } else {
                LiveStatus::Offline
            }),
            stats: RwSignal::new(LiveStats::default()),
        }
    }

    /// Connects, feeding `cache` from now on.
    pub(crate) fn start(&self, cache: Rc<dyn LiveCache>) {
        let api = cache.api();
        self.with_state(|state| state.cache = Some(cache));
        let live = *self;
        // When the client moves to another origin (back to the preferred one, above all), the
        // socket moves with it at once instead of staying on the other until that one drops.
        if let Some(in_use) = api.as_ref().map(ApiClient::origin_in_use) {
            Effect::new(move |_| {
                in_use.track();
                untrack(|| live.follow_origin());
            });
        }
        // The socket goes where the requests go: wait for the list of origins first.
        leptos::task::spawn_local(async move {
            if let Some(api) = api {
                api.configured().await;
            }
            live.connect();
        });
    }

    /// The connection's state.
    pub(crate) fn status(&self) -> Signal<LiveStatus> {
        self.status.into()
    }

    /// The socket is open: changes made elsewhere reach the cache as they happen.
    pub(crate) fn is_live(&self) -> bool {
        self.status.try_get_untracked() == Some(LiveStatus::Live)
    }

    /// The socket's round trip and reconnect count.
    pub(crate) fn stats(&self) -> Signal<LiveStats> {
        self.stats.into()
    }

    /// Closes the socket for good.
    pub(crate) fn shut_down(&self) {
        self.with_state(|state| {
            state.closed = true;
            state.close();
        });
    }

    /// Runs `f` on the state; `None` once the owner is gone (a late timer or event).
    fn with_state<R>(&self, f: impl FnOnce(&mut LiveState) -> R) -> Option<R> {
        self.state.try_update_value(f)
    }

    fn read_state<R>(&self, f: impl FnOnce(&LiveState) -> R) -> Option<R> {
        self.state.try_with_value(f)
    }

    fn now(&self) -> Millis {
        self.read_state(|state| state.env.now())
            .unwrap_or_else(crate::platform::clock::now)
    }

    fn cache(&self) -> Option<Rc<dyn LiveCache>> {
        self.read_state(|state| state.cache.clone()).flatten()
    }

    /// Opens the socket (replacing any), unless offline or shut down.
    fn connect(&self) {
        let live = *self;
        let api = self.cache().and_then(|cache| cache.api());
        let opened = self.with_state(|state| {
            state.reconnect = None;
            state.connection = None;
            let Some(api) = api.filter(|_| !state.closed) else {
                return Err(LiveStatus::Offline);
            };
            if !state.env.window().online() {
                return Err(LiveStatus::Offline);
            }
            state.generation = state.generation.wrapping_add(1);
            state.connect_started = state.env.now();
            let generation = state.generation;
            state.socket_origin = Some(api.origin_index());
            let Ok(socket) = WebSocket::new(&api.events_url()) else {
                return Ok(Some(generation));
            };
            let on_open = Closure::<dyn FnMut()>::new(move || live.opened(generation));
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                live.message(generation, e.data().as_string());
            });
            let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
                live.closed(generation, &e)
            });
            socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            state.connection = Some(Connection {
                socket,
                _on_open: on_open,
                _on_message: on_message,
                _on_close: on_close,
            });
            // A handshake that hangs is as dead as a silent socket.
            state.watchdog = Some(live.watchdog(generation));
            Ok(None)
        });
        match opened {
            Some(Err(status)) => {
                self.status.try_set(status);
            }
            // The browser refused the URL: treated as a lost connection, retried.
            Some(Ok(Some(generation))) => self.lost(generation),
            Some(Ok(None)) => {
                self.status.try_set(LiveStatus::Connecting);
            }
            None => {}
        }
    }

    fn watchdog(&self, generation: u64) -> Timeout {
        let live = *self;
        Timeout::new(SILENCE_LIMIT_MS, move || live.lost(generation))
    }

    fn opened(&self, generation: u64) {
        let auth = self
            .cache()
            .and_then(|cache| cache.api())
            .and_then(|api| api.events_auth());
        let opened = self.with_state(|state| {
            if state.generation != generation {
                return None;
            }
            // Authenticate before anything else; a failed send shows as a closed socket.
            if let (Some(auth), Some(connection)) = (&auth, &state.connection) {
                let _ = connection.socket.send_with_str(&auth.message);
            }
            state.auth = auth;
            state.attempt = 0;
            state.watchdog = Some(self.watchdog(generation));
            let live = *self;
            state.round_trip_timer = Some(Interval::new(ROUND_TRIP_EVERY_MS, move || {
                live.ping(generation);
            }));
            let reconnected = std::mem::replace(&mut state.was_live, true);
            Some((reconnected, state.connect_started))
        });
        let Some(Some((reconnected, since))) = opened else {
            return;
        };
        let cache = self.cache();
        let stale = if reconnected {
            // Events were missed while the socket was down: nothing cached is proven
            // current, and what is on screen refetches (cheaply, with If-None-Match).
            vec![KeyScope::Everything]
        } else {
            // First open: entries fetched since we started connecting were fetched at most
            // one handshake before the socket listened; older ones (fetched before
            // connecting began, e.g. while offline) may have missed changes.
            let mut stale = Vec::new();
            if let Some(cache) = &cache {
                cache.read_cache(&mut |cache| {
                    stale = cache
                        .entries()
                        .filter(|(_, entry)| {
                            entry.is_observed()
                                && entry.in_flight().is_none()
                                && entry
                                    .reflects_server_state_at()
                                    .is_some_and(|at| at < since)
                        })
                        .map(|(key, _)| KeyScope::Key(key.clone()))
                        .collect();
                });
            }
            stale
        };
        if reconnected {
            self.stats.try_update(|stats| stats.reconnects += 1);
        }
        self.status.try_set(LiveStatus::Live);
        self.ping(generation);
        if let Some(cache) = cache.filter(|_| !stale.is_empty()) {
            cache.apply(
                stale
                    .into_iter()
                    .map(|scope| CacheEvent::Invalidate { scope })
                    .collect(),
            );
        }
    }

    /// Sends a ping of a new id over the current socket, to time its pong.
    fn ping(&self, generation: u64) {
        self.with_state(|state| {
            let Some(connection) = state
                .connection
                .as_ref()
                .filter(|_| state.generation == generation)
            else {
                return;
            };
            state.next_ping_id = state.next_ping_id.wrapping_add(1);
            let id = state.next_ping_id;
            state.ping_sent = Some((id, monotonic_ms()));
            // A failed send means the socket is closing; its close event follows.
            let _ = connection
                .socket
                .send_with_str(&format!(r#"{{"type":"ping","id":{id}}}"#));
        });
    }

    /// The server answered ping `id`: the round trip is known.
    fn pong(&self, id: u64) {
        let sent = self.with_state(|state| match state.ping_sent {
            Some((sent_id, at)) if sent_id == id => state.ping_sent.take().map(|_| at),
            _ => None,
        });
        if let Some(Some(at)) = sent {
            let round_trip = (monotonic_ms() - at).max(0.0);
            let now = self.now();
            self.stats.try_update(|stats| {
                stats.round_trip_ms = Some(round_trip);
                stats.measured_at = Some(now);
            });
        }
    }

    fn message(&self, generation: u64, text: Option<String>) {
        let live = *self;
        let now = self.now();
        if let Some(id) = text.as_deref().and_then(parse_pong) {
            let current = self
                .read_state(|state| state.generation == generation)
                .unwrap_or(false);
            if current {
                self.with_state(|state| state.watchdog = Some(live.watchdog(generation)));
                self.pong(id);
            }
            return;
        }
        // Unknown event types, and anything that is not our JSON, are ignored: a newer
        // server may send more than this client knows.
        let event = text.as_deref().and_then(parse_event);
        self.with_state(|state| {
            if state.generation != generation {
                return;
            }
            state.watchdog = Some(live.watchdog(generation));
            match event {
                Some(ChangeEvent::Ping) => {
                    if let Some(connection) = &state.connection {
                        // A failed send means the socket is closing; its close event follows.
                        let _ = connection.socket.send_with_str(r#"{"type":"pong"}"#);
                    }
                }
                Some(event) => {
                    if let Some(at) = state.coalescer.push(event, now) {
                        state.flush = Some(state.env.timeout_at(at, move || live.flush()));
                    }
                }
                None => {}
            }
        });
    }

    /// The coalescing window closed: its effects go to the cache, as one step.
    fn flush(&self) {
        let Some(cache) = self.cache() else {
            return;
        };
        let mut effects = Vec::new();
        self.with_state(|state| {
            state.flush = None;
            cache.read_cache(&mut |cached| effects = state.coalescer.drain(cached));
        });
        if !effects.is_empty() {
            cache.apply(effects);
        }
    }

    /// The socket closed. Closed for want of a session (`1008` with `session_expired` or
    /// `unauthorized`: the person's session ended, say they were deactivated), the session
    /// ends in place as a 401 would end it, even in a tab that sends nothing; the server is
    /// not down for that. Anything else is a lost connection.
    fn closed(&self, generation: u64, event: &CloseEvent) {
        let refused = event.code() == POLICY_VIOLATION
            && matches!(event.reason().as_str(), "session_expired" | "unauthorized");
        if refused {
            let sent = self
                .with_state(|state| (state.generation == generation).then(|| state.auth.take()))
                .flatten()
                .flatten();
            if let (Some(sent), Some(api)) = (sent, self.cache().and_then(|c| c.api())) {
                api.socket_refused(&sent);
            }
        }
        self.lost_for(generation, !refused);
    }

    /// The socket closed, failed to open, or went silent: try again after a backoff.
    fn lost(&self, generation: u64) {
        self.lost_for(generation, true);
    }

    /// As [`Self::lost`]; `origin_down` says whether it counts against the origin.
    fn lost_for(&self, generation: u64, origin_down: bool) {
        let live = *self;
        let now = self.now();
        let status = self.with_state(|state| {
            if state.generation != generation || state.closed {
                return None;
            }
            // Whatever else this socket reports from now on (a close after the watchdog
            // gave up on it) is ignored.
            state.generation = state.generation.wrapping_add(1);
            state.connection = None;
            state.watchdog = None;
            state.round_trip_timer = None;
            state.ping_sent = None;
            state.auth = None;
            if !state.env.window().online() {
                return Some(LiveStatus::Offline);
            }
            // The origin the socket was on is down as far as we know: the reconnect (and
            // every request) goes to the next one.
            if let (Some(origin), Some(api), true) = (
                state.socket_origin.take(),
                state.cache.as_ref().and_then(|c| c.api()),
                origin_down,
            ) {
                api.report_origin_failure(origin);
            }
            state.attempt = state.attempt.saturating_add(1);
            let attempt = state.attempt;
            let delay = RECONNECT.delay(attempt, None, &mut state.rng);
            let next_at = now + delay;
            state.reconnect = Some(state.env.timeout_at(next_at, move || live.connect()));
            Some(LiveStatus::Reconnecting { attempt, next_at })
        });
        if let Some(Some(status)) = status {
            self.status.try_set(status);
        }
    }

    /// An open (or opening) socket on another origin than the client's is moved to the
    /// client's. A planned move, not a loss: nothing is reported against the origin left, and
    /// the new socket's first open refetches what is shown, as after any gap.
    fn follow_origin(&self) {
        let Some(current) = self.cache().and_then(|c| c.api()).map(|a| a.origin_index()) else {
            return;
        };
        let elsewhere = self
            .read_state(|state| {
                !state.closed
                    && state.connection.is_some()
                    && state.socket_origin.is_some_and(|origin| origin != current)
            })
            .unwrap_or(false);
        if elsewhere {
            self.with_state(|state| state.attempt = 0);
            self.connect();
        }
    }

    /// The browser went offline: no socket until it is back.
    pub(crate) fn offline(&self) {
        self.with_state(LiveState::close);
        self.status.try_set(LiveStatus::Offline);
    }

    /// The browser is back online: connect now, not after a backoff.
    pub(crate) fn online(&self) {
        self.with_state(|state| state.attempt = 0);
        self.connect();
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
