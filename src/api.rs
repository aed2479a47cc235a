//! The typed client for the casedesk API (docs/api.md §1) over `fetch`: one method per
//! endpoint, every request with its own request id, a time limit and an optional cancel
//! signal. Bodies are read by `casedesk_core::response`, so no answer can cause a panic.
//! The first read of `config.json` and the first `GET` of the dashboard's data may adopt the
//! answers index.html fetched early.
//! With several API origins (`config.json`, docs/api.md §5) every request goes to the one in
//! use ([`ApiOrigins`], shared by every clone) and reports how it went, which moves it on.

use crate::words::Describe;
use casedesk_core::response::{decode_body, decode_refusal, RawResponse};
use casedesk_core::{Failure, Millis, OriginBackoff, OriginChoice, OriginEvent};
use casedesk_model::{
    Case, CaseList, CaseListQuery, CasePatch, DashboardMetrics, ErrorBody, FieldErrors,
    HistoryEntry, NewCase, NewNote, NewPerson, Note, PasswordChange, Person, PersonPatch, Session,
    SetupCodeIssued, SetupSignIn, SignIn,
};
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use leptos::prelude::{ArcRwSignal, Set, WithUntracked};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortSignal;

/// How long a request may take before it counts as timed out.
pub const REQUEST_TIMEOUT_MS: u32 = 15_000;

/// How long a health check (`GET /health` on an origin we left) may take.
const HEALTH_TIMEOUT_MS: u32 = 5_000;

/// Where the built app's list of API origins is, beside `index.html`.
const CONFIG_URL: &str = "/config.json";

/// Where the last list read from `config.json` is kept, so an app opened offline (from the
/// service worker's shell) still knows its servers. Origins only, never a token.
const STORED_ORIGINS_KEY: &str = "casedesk-api-origins";

/// Why a request produced no data.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// The request failed; the failure says whether trying again can help.
    Failed(Failure),
    /// A 412: the case changed on the server since the version we sent; `current` is its
    /// present state, for the three-way merge.
    Conflict {
        failure: Failure,
        current: Box<Case>,
    },
    /// The caller cancelled the request (its view went away); nobody is waiting for it.
    Cancelled,
}

impl ApiError {
    /// The failure behind the error, if it was one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(failure) | Self::Conflict { failure, .. } => Some(failure),
            Self::Cancelled => None,
        }
    }
}

/// What the events socket sent to authenticate (see [`ApiClient::events_auth`]). Never printed.
#[derive(Clone)]
pub struct EventsAuth {
    /// `{"type":"auth","token":"…"}`.
    pub message: String,
    token: String,
}

/// The answer to a form the server checks: done, or refused field by field (a 422's
/// `fields`, each message for beside its field).
pub type Checked<T> = Result<T, FieldErrors>;

/// The answer to a conditional GET.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<T> {
    /// New data, with its ETag and the size of its body.
    Fresh {
        data: T,
        etag: Option<String>,
        size_bytes: usize,
    },
    /// 304: what we hold is still current.
    NotModified,
}

/// What every request reports besides its result, for diagnostics.
#[derive(Clone, Debug, PartialEq)]
pub struct Exchange<T> {
    pub result: Result<T, ApiError>,
    /// The id sent as `X-Request-ID` (the server echoes it and logs it).
    pub request_id: String,
    pub elapsed_ms: f64,
}

/// Where the API lives and how to sign requests.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiClient {
    /// The origins (e.g. `""` for the app's own, or `http://127.0.0.1:3001`); the prefix
    /// `/api/v1` is added per request.
    origins: ApiOrigins,
    credentials: Credentials,
    /// Whether a GET may take index.html's early answer for its URL (see [`Self::holding_data`]).
    early_answer: bool,
    /// Sends only under this person's session (see [`Self::acting_for`]).
    acting_for: Option<Uuid>,
}

/// The API origins one app may use and the one in use, shared by every clone of a client:
/// the query client, the queue's sender and the live socket all move together when a request
/// through one of them finds the origin down and another one answers its health check.
#[derive(Clone)]
pub struct ApiOrigins {
    choice: Arc<RwLock<OriginChoice>>,
    /// Set until the list has been read from `config.json` (the built app's default).
    from_file: Arc<AtomicBool>,
    /// Whether a loop is running the health checks the choice asks for.
    checking: Arc<AtomicBool>,
    /// Wakes that loop when it waits out a rest and a failure wants a check now.
    wake: Arc<Mutex<Option<futures::channel::oneshot::Sender<()>>>>,
    /// The origin in use as people read it, for the Sync page.
    in_use: ArcRwSignal<String>,
}

impl PartialEq for ApiOrigins {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.choice, &other.choice)
    }
}

impl std::fmt::Debug for ApiOrigins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.choice.read() {
            Ok(choice) => f
                .debug_struct("ApiOrigins")
                .field("origins", &choice.origins())
                .field("current", &choice.current().0)
                .finish(),
            Err(_) => f.write_str("ApiOrigins(poisoned)"),
        }
    }
}

impl ApiOrigins {
    fn fixed(origins: Vec<String>) -> Self {
        let choice = OriginChoice::new(origins, OriginBackoff::default());
        let label = readable_origin(choice.current().1);
        Self {
            choice: Arc::new(RwLock::new(choice)),
            from_file: Arc::new(AtomicBool::new(false)),
            checking: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(Mutex::new(None)),
            in_use: ArcRwSignal::new(label),
        }
    }

    fn from_file() -> Self {
        let origins = Self::fixed(Vec::new());
        origins.from_file.store(true, Ordering::SeqCst);
        origins
    }

    /// Reads `config.json` once (every client of the app waits for the same read).
    async fn configured(&self) {
        if !self.from_file.load(Ordering::SeqCst) {
            return;
        }
        let list = config_file().await;
        // Another request may have applied it while this one waited.
        if self.from_file.swap(false, Ordering::SeqCst) {
            if let Ok(mut choice) = self.choice.write() {
                *choice = OriginChoice::new(list, OriginBackoff::default());
            }
            self.publish();
        }
    }

    /// The origin in use and its index.
    fn current(&self) -> (usize, String) {
        self.choice
            .read()
            .map(|c| {
                let (i, o) = c.current();
                (i, o.to_owned())
            })
            .unwrap_or_default()
    }

    fn publish(&self) {
        let label = readable_origin(&self.current().1);
        if self.in_use.try_with_untracked(|l| *l != label) == Some(true) {
            self.in_use.set(label);
        }
    }

    /// Records how a request or a health check through `origin` went; when that leaves a
    /// health check to run (now or later), the checking loop sees to it.
    fn report(&self, event: OriginEvent) {
        let outcome = self.choice.write().ok().and_then(|mut c| {
            if !c.has_alternatives() {
                return None;
            }
            let moved = c.apply(event, &mut BrowserJitter);
            let now = crate::platform::clock::now();
            let work = c.check_due(now).is_some() || c.next_check_at().is_some();
            Some((moved, work))
        });
        let Some((moved, work)) = outcome else {
            return;
        };
        if moved {
            self.publish();
        }
        if work {
            self.start_checking();
        }
    }

    /// Runs the health checks the choice asks for, one at a time, each when it is due
    /// (waking early when a new failure asks for one now), until none is left to run.
    fn start_checking(&self) {
        if self.checking.swap(true, Ordering::SeqCst) {
            // A loop runs: it may be waiting out a rest, and this report may want a check now.
            if let Ok(mut wake) = self.wake.lock() {
                if let Some(wake) = wake.take() {
                    let _ = wake.send(());
                }
            }
            return;
        }
        let origins = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let now = crate::platform::clock::now();
                let plan = origins.choice.read().ok().map(|c| {
                    let due = c
                        .check_due(now)
                        .and_then(|i| c.origins().get(i).map(|o| (i, o.clone())));
                    (due, c.next_check_at())
                });
                let Some((due, next_at)) = plan else { break };
                match (due, next_at) {
                    (Some((i, origin)), _) => {
                        let event = if health_check(&origin).await {
                            OriginEvent::Healthy { origin: i }
                        } else {
                            OriginEvent::Unhealthy {
                                origin: i,
                                now: crate::platform::clock::now(),
                            }
                        };
                        let moved = origins
                            .choice
                            .write()
                            .map(|mut c| c.apply(event, &mut BrowserJitter))
                            .unwrap_or(false);
                        if moved {
                            origins.publish();
                        }
                    }
                    (None, Some(at)) => {
                        let wait = at.since(now).0.clamp(1, u64::from(u32::MAX));
                        let (tell, woken) = futures::channel::oneshot::channel::<()>();
                        if let Ok(mut wake) = origins.wake.lock() {
                            *wake = Some(tell);
                        }
                        let rest = gloo_timers::future::TimeoutFuture::new(wait as u32);
                        futures::future::select(rest, woken).await;
                    }
                    // Nothing to check: done until the next failure.
                    (None, None) => break,
                }
            }
            if let Ok(mut wake) = origins.wake.lock() {
                *wake = None;
            }
            origins.checking.store(false, Ordering::SeqCst);
        });
    }
}

/// The browser's random numbers, for the jitter on an origin's rest.
struct BrowserJitter;

impl casedesk_core::Random for BrowserJitter {
    fn next_unit(&mut self) -> f64 {
        js_sys::Math::random()
    }
}

/// An origin as the Sync page names it: the app's own is spelled out.
fn readable_origin(origin: &str) -> String {
    if origin.is_empty() {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_else(|| "this app's own server".to_owned())
    } else {
        origin.to_owned()
    }
}

/// `config.json`'s shape: only `api_origins` is read; anything else is left for later.
#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    api_origins: Vec<String>,
}

thread_local! {
    /// The one read of `config.json` every client waits for.
    static CONFIG_FILE: RefCell<Option<Shared<LocalBoxFuture<'static, Vec<String>>>>> =
        const { RefCell::new(None) };
}

/// The origins `config.json` names and the app may use: none (the app's own origin) when the
/// server has no such file (a 404, or the SPA fallback's HTML), the last list read when it
/// cannot be reached. An origin the token could be read on the way to is left out
/// ([`usable_origins`]).
async fn config_file() -> Vec<String> {
    let read = CONFIG_FILE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| read_config_file().boxed_local().shared())
            .clone()
    });
    read.await
}

async fn read_config_file() -> Vec<String> {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let stored = || {
        let listed = storage
            .as_ref()
            .and_then(|s| s.get_item(STORED_ORIGINS_KEY).ok().flatten())
            .and_then(|json| serde_json::from_str::<Vec<String>>(&json).ok())
            .unwrap_or_default();
        usable_origins(&listed)
    };
    let answer = match early_config().await {
        Some(early) => Some(early),
        None => fetch_text(CONFIG_URL, HEALTH_TIMEOUT_MS).await,
    };
    let Some(text) = answer else {
        return stored();
    };
    let origins = match text {
        (200, body) => serde_json::from_str::<ConfigFile>(&body)
            .map(|c| usable_origins(&c.api_origins))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    if let Some(storage) = &storage {
        // Best effort: without it an offline start uses the app's own origin.
        let _ = match serde_json::to_string(&origins) {
            Ok(json) if !origins.is_empty() => storage.set_item(STORED_ORIGINS_KEY, &json),
            _ => storage.remove_item(STORED_ORIGINS_KEY),
        };
    }
    origins
}

/// The origins of `listed` the app may send the token to (`casedesk_core::configured_origins`):
/// each one left out is named in the console, with why.
fn usable_origins(listed: &[String]) -> Vec<String> {
    let page = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    let vetted = casedesk_core::vet_api_origins(listed, &page);
    for refused in &vetted.refused {
        let why = refused.reason.describe();
        web_sys::console::warn_1(
            &format!(
                "casedesk: config.json's api_origins entry {:?} is not used: {why}.",
                refused.listed
            )
            .into(),
        );
    }
    vetted.usable
}

/// `GET {origin}/api/v1/health` answered 200.
async fn health_check(origin: &str) -> bool {
    let url = format!("{origin}{}/health", casedesk_model::API_PREFIX);
    matches!(fetch_text(&url, HEALTH_TIMEOUT_MS).await, Some((200, _)))
}

/// A plain GET's status and body; `None` when nothing came back in time.
async fn fetch_text(url: &str, timeout_ms: u32) -> Option<(u16, String)> {
    let window = web_sys::window()?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout_ms)));
    init.set_cache(web_sys::RequestCache::NoCache);
    let request = web_sys::Request::new_with_str_and_init(url, &init).ok()?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    let text = JsFuture::from(response.text().ok()?).await.ok()?;
    Some((response.status(), text.as_string().unwrap_or_default()))
}

/// What is told whether the server took the token a request carried: `false` on a 401,
/// `true` on any other answer but a 403.
type OnVerdict = Arc<dyn Fn(bool) + Send + Sync>;

/// The bearer token and whose it is, shared by every clone of one client: the query client,
/// the queue's sender and the live socket each hold a clone, and a sign-in or a sign-out must
/// reach all of them at once. Never printed.
#[derive(Clone, Default)]
struct Credentials {
    signing: Arc<RwLock<Signing>>,
    on_verdict: Arc<RwLock<Option<OnVerdict>>>,
    /// Counts the tokens put in force (sign-ins, sign-outs), so a caller can tell a new
    /// session from the same token judged good again after a 401.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

/// The token in force and the person it signs for, changed together.
#[derive(Clone, Default)]
struct Signing {
    token: Option<String>,
    /// Whose session this is: the signed-in person, the guest of a server without people,
    /// the service token's person; `None` when nobody's is known.
    person: Option<Uuid>,
}

impl Credentials {
    fn token(&self) -> Option<String> {
        self.signing().token
    }

    fn signing(&self) -> Signing {
        self.signing.read().map(|s| s.clone()).unwrap_or_default()
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.signing, &other.signing)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.token().is_some();
        f.write_str(if set {
            "Credentials(set)"
        } else {
            "Credentials(none)"
        })
    }
}

impl Default for ApiClient {
    fn default() -> Self {
        Self::same_origin()
    }
}

/// A request about to be sent.
struct Outgoing {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    bearer: Bearer,
}

/// Which token a request carries.
enum Bearer {
    /// The one in force (the client's credentials).
    InForce,
    /// None: its answer says nothing about the token in force.
    Without,
    /// This one, which is no longer in force (a revocation after a sign-out); its answer says
    /// nothing about the token in force either.
    Given(String),
}

impl Outgoing {
    fn new(method: &'static str, path: String) -> Self {
        Self {
            method,
            path,
            headers: Vec::new(),
            body: None,
            bearer: Bearer::InForce,
        }
    }

    fn without_token(mut self) -> Self {
        self.bearer = Bearer::Without;
        self
    }

    fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Whether the request sets a precondition (`If-Match`).
    fn is_conditional(&self) -> bool {
        self.headers.iter().any(|(name, _)| *name == "If-Match")
    }
}

/// An answer as it arrived, body read to its end.
struct Incoming {
    status: u16,
    content_type: Option<String>,
    etag: Option<String>,
    request_id: Option<String>,
    retry_after: Option<String>,
    date: Option<String>,
    received_at: Millis,
    body: String,
}

impl Incoming {
    fn raw(&self) -> RawResponse<'_> {
        RawResponse {
            status: self.status,
            content_type: self.content_type.as_deref(),
            body: &self.body,
            request_id: self.request_id.as_deref(),
            retry_after: self.retry_after.as_deref(),
            date: self.date.as_deref(),
            received_at: self.received_at,
        }
    }

    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn refusal(&self) -> ApiError {
        let refusal = decode_refusal(&self.raw());
        match refusal.current {
            Some(current) => ApiError::Conflict {
                failure: refusal.failure,
                current: Box::new(current),
            },
            None => ApiError::Failed(refusal.failure),
        }
    }

    /// A write answered with neither success nor an error: a 304 or another 3xx that came
    /// through. It says nothing about whether the change was applied, so it counts as an
    /// unreadable answer (sent again under the same key), never as a refusal.
    ///
    /// A 412 to a change sent without `If-Match` is the same: no condition was set, so none
    /// can have failed, and something in the way answered for the server.
    fn write_refusal(&self, conditional: bool) -> ApiError {
        if self.status < 400 || (self.status == 412 && !conditional) {
            return ApiError::Failed(Failure::Decode {
                message: format!("the server answered {} to a change", self.status),
                request_id: self.request_id.clone(),
            });
        }
        self.refusal()
    }

    fn decode<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        decode_body(&self.raw()).map_err(ApiError::Failed)
    }

    /// A success with nothing to read (204).
    fn no_content(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// The fields a 422 names, each with its message; `None` for any other answer.
    fn field_errors(&self) -> Option<FieldErrors> {
        if self.status != 422 {
            return None;
        }
        serde_json::from_str::<ErrorBody>(&self.body)
            .ok()?
            .error
            .fields
            .filter(|fields| !fields.is_empty())
    }
}

impl ApiClient {
    /// The built app's API: the origins `config.json` beside `index.html` names, read before
    /// the first request; the app's own origin when it names none.
    pub fn same_origin() -> Self {
        Self {
            origins: ApiOrigins::from_file(),
            credentials: Credentials::default(),
            early_answer: true,
            acting_for: None,
        }
    }

    /// The API at `origin` (no trailing slash), e.g. a test server on another port.
    pub fn new(origin: &str) -> Self {
        Self::with_origins(vec![origin.to_owned()])
    }

    /// The API at several origins, in order of preference: one is used at a time, the next
    /// reachable one after a network error, a timeout or a 5xx, and the first again once its
    /// health check passes.
    pub fn with_origins(origins: Vec<String>) -> Self {
        Self {
            origins: ApiOrigins::fixed(origins),
            credentials: Credentials::default(),
            early_answer: true,
            acting_for: None,
        }
    }

    /// The origin in use, as the Sync page shows it (it changes when the client moves).
    pub fn origin_in_use(&self) -> ArcRwSignal<String> {
        self.origins.in_use.clone()
    }

    /// Waits until the list of origins is known (`config.json` read, when it is used).
    pub async fn configured(&self) {
        self.origins.configured().await;
    }

    /// The index of the origin in use (for [`Self::report_origin_failure`]).
    pub fn origin_index(&self) -> usize {
        self.origins.current().0
    }

    /// Something other than a request (the live socket) found origin `index` down.
    pub fn report_origin_failure(&self, index: usize) {
        self.origins.report(OriginEvent::Failed {
            origin: index,
            now: crate::platform::clock::now(),
        });
    }

    /// This client for reading data the device already holds: its GETs never take
    /// index.html's early answer, which was made at page load and may be older than what is
    /// held (numbers settled by a change made here since, without an `ETag` to revalidate).
    pub fn holding_data(mut self) -> Self {
        self.early_answer = false;
        self
    }

    /// This client signing every request with `token`, on credentials of its own (clones of
    /// the result share them; the client it was made from keeps its own).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.credentials = Credentials::default();
        self.set_token(token);
        self
    }

    /// Changes the token of this client and of every clone sharing its credentials, whose
    /// person is then unknown until [`Self::set_person`].
    pub fn set_token(&self, token: Option<String>) {
        self.set_session(token, None);
    }

    /// Puts `person`'s session in force, signed with `token` (`None`: requests carry no token,
    /// as on a server without people), for this client and every clone sharing its
    /// credentials. `set_session(None, None)` is a sign-out: nothing of anyone's goes out.
    pub fn set_session(&self, token: Option<String>, person: Option<Uuid>) {
        if let Ok(mut slot) = self.credentials.signing.write() {
            *slot = Signing {
                token: token.filter(|t| !t.is_empty()),
                person,
            };
        }
        self.credentials
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Which session is in force, as a number that changes whenever a token is put in force
    /// or taken out of it (never the token itself).
    pub fn session_generation(&self) -> u64 {
        self.credentials
            .generation
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends the session in force for this client and every clone sharing its credentials
    /// (nothing goes out under it from here on) and hands back its token, to be revoked.
    pub(crate) fn take_session(&self) -> Option<String> {
        self.credentials
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.credentials
            .signing
            .write()
            .ok()
            .and_then(|mut slot| std::mem::take(&mut *slot).token)
    }

    /// The server said whose the credentials in force are (`GET /me`): the guest of a server
    /// without people, or a service token's person.
    pub fn set_person(&self, person: Option<Uuid>) {
        if let Ok(mut slot) = self.credentials.signing.write() {
            slot.person = person;
        }
    }

    /// This client sending only under `author`'s session: while the credentials in force are
    /// anyone else's (or nobody's), its requests are not sent and fail with
    /// [`Failure::NoSession`]. The check is made as each request is signed, so a sign-out or
    /// another person's sign-in stops the very next request. `None`: no check (an action
    /// made before people).
    pub fn acting_for(mut self, author: Option<Uuid>) -> Self {
        self.acting_for = author;
        self
    }

    /// Whether requests carry a token.
    pub fn has_token(&self) -> bool {
        self.credentials.token().is_some()
    }

    /// Calls `on_verdict(false)` whenever the server answers 401 to a request that carried
    /// the token (it expired or was revoked: the session module shows the sign-in form), and
    /// `on_verdict(true)` when it answers one otherwise (the token is good after all: a 401
    /// that came from something in the way ends no session for good).
    pub fn on_token_verdict(&self, on_verdict: impl Fn(bool) + Send + Sync + 'static) {
        if let Ok(mut slot) = self.credentials.on_verdict.write() {
            *slot = Some(Arc::new(on_verdict));
        }
    }

    /// The WebSocket URL of the change events. It never carries the token (URLs end up in
    /// logs): the socket sends [`Self::events_auth_message`] once it opens.
    pub fn events_url(&self) -> String {
        let base = format!("{}{}", self.origins.current().1, casedesk_model::API_PREFIX);
        let http = if base.starts_with("http") {
            base
        } else {
            let origin = web_sys::window()
                .and_then(|w| w.location().origin().ok())
                .unwrap_or_default();
            format!("{origin}{base}")
        };
        let ws = http.replacen("http", "ws", 1);
        format!("{ws}/events")
    }

    /// The events socket's first message when there is a token,
    /// `{"type":"auth","token":"…"}` (docs/api.md §4: the token is not in the URL).
    pub fn events_auth_message(&self) -> Option<String> {
        self.events_auth().map(|auth| auth.message)
    }

    /// The events socket's authentication as it is sent: its first message, kept by the
    /// socket to tell later whether a refusal is about the token in force.
    pub fn events_auth(&self) -> Option<EventsAuth> {
        self.credentials.token().map(|token| EventsAuth {
            message: serde_json::json!({"type": "auth", "token": token}).to_string(),
            token,
        })
    }

    /// The server closed the socket that authenticated with `sent` for want of a session
    /// (it ended: expired, revoked, the person deactivated): as a 401 to a request, the
    /// session ends in place, unless another token is in force by now.
    pub fn socket_refused(&self, sent: &EventsAuth) {
        if self.credentials.token().as_deref() != Some(sent.token.as_str()) {
            return;
        }
        let on_verdict = self
            .credentials
            .on_verdict
            .read()
            .ok()
            .and_then(|c| c.clone());
        if let Some(on_verdict) = on_verdict {
            on_verdict(false);
        }
    }

    /// `POST /session`: signs in; the answer holds the token and the person. It does not
    /// change this client's token (the caller stores it first, then sets it).
    pub async fn sign_in(&self, credentials: &SignIn) -> Exchange<Session> {
        // Without the token the device may still hold: a session that ended stays ended
        // until this answer's token is in force (a 200 here must not revive the old one).
        let mut out = Outgoing::new("POST", "/session".to_owned())
            .without_token()
            .header("Content-Type", "application/json".to_owned());
        match serde_json::to_string(credentials) {
            Ok(json) => out.body = Some(json),
            Err(e) => {
                return Exchange {
                    result: Err(ApiError::Failed(local_failure(&format!(
                        "the sign-in could not be encoded ({e})"
                    )))),
                    request_id: String::new(),
                    elapsed_ms: 0.0,
                }
            }
        }
        self.exchange(out, None, |incoming| {
            if incoming.is_success() {
                incoming.decode()
            } else {
                Err(incoming.refusal())
            }
        })
        .await
    }

    /// `DELETE /session`: the server revokes the token this client carries.
    pub async fn sign_out(&self) -> Exchange<()> {
        self.revoke_with(Outgoing::new("DELETE", "/session".to_owned()))
            .await
    }

    /// `DELETE /session` signed with `token`, which is no longer in force: a session signed
    /// out while the server could not be reached is revoked once it can.
    pub async fn revoke(&self, token: &str) -> Exchange<()> {
        let mut out = Outgoing::new("DELETE", "/session".to_owned());
        out.bearer = Bearer::Given(token.to_owned());
        self.revoke_with(out).await
    }

    async fn revoke_with(&self, out: Outgoing) -> Exchange<()> {
        self.exchange(out, None, |incoming| {
            if incoming.is_success() {
                Ok(())
            } else {
                Err(incoming.refusal())
            }
        })
        .await
    }

    /// `GET /me`: who the token (or, without people, the server) says this is.
    pub async fn me(&self, cancel: Option<&AbortSignal>) -> Exchange<Fetched<Person>> {
        self.get("/me".to_owned(), None, cancel).await
    }

    /// `GET /users`: every person a case can be assigned to.
    pub async fn users(
        &self,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<Vec<Person>>> {
        self.get("/users".to_owned(), etag, cancel).await
    }

    /// `POST /session/setup`: sets the person's first (or a reset) password with the setup
    /// code an admin gave them, and signs in; answers as [`Self::sign_in`], and like it
    /// leaves this client's token alone.
    pub async fn sign_in_with_setup_code(&self, setup: &SetupSignIn) -> Exchange<Session> {
        let out = Outgoing::new("POST", "/session/setup".to_owned()).without_token();
        self.call(out, Some(setup), Incoming::decode).await
    }

    /// `PUT /me/password`: changes the signed-in person's password; the server ends every
    /// other session of theirs and keeps this one. A wrong current password is refused on
    /// the field `current`.
    pub async fn change_password(&self, change: &PasswordChange) -> Exchange<Checked<()>> {
        let out = Outgoing::new("PUT", "/me/password".to_owned());
        self.submit(out, Some(change), Incoming::no_content).await
    }

    /// `DELETE /me/sessions`: ends every session of the signed-in person but this one.
    pub async fn sign_out_everywhere_else(&self) -> Exchange<()> {
        let out = Outgoing::new("DELETE", "/me/sessions".to_owned());
        self.call(out, None::<&()>, Incoming::no_content).await
    }

    /// `POST /users` (admin): adds a person; the answer holds their one-time setup code.
    pub async fn add_person(&self, person: &NewPerson) -> Exchange<Checked<SetupCodeIssued>> {
        let out = Outgoing::new("POST", "/users".to_owned());
        self.submit(out, Some(person), Incoming::decode).await
    }

    /// `PATCH /users/{id}` (admin): changes a person's name, role or whether they are active.
    pub async fn update_person(&self, id: Uuid, patch: &PersonPatch) -> Exchange<Checked<Person>> {
        let out = Outgoing::new("PATCH", format!("/users/{id}"));
        self.submit(out, Some(patch), Incoming::decode).await
    }

    /// `POST /users/{id}/setup-code` (admin): a new setup code for the person; any earlier
    /// one stops working.
    pub async fn issue_setup_code(&self, id: Uuid) -> Exchange<SetupCodeIssued> {
        let out = Outgoing::new("POST", format!("/users/{id}/setup-code"));
        self.call(out, None::<&()>, Incoming::decode).await
    }

    /// Sends `out` (with `body` as JSON, when there is one) and reads a success with `read`,
    /// anything else as a refusal. For what a person waits for on screen (signing in, their
    /// account, managing people): never queued, and sent once per press.
    async fn call<B: Serialize, T>(
        &self,
        out: Outgoing,
        body: Option<&B>,
        read: fn(&Incoming) -> Result<T, ApiError>,
    ) -> Exchange<T> {
        self.send_json(out, body, |incoming| {
            if incoming.is_success() {
                read(incoming)
            } else {
                Err(incoming.refusal())
            }
        })
        .await
    }

    /// As [`Self::call`], for a form: a 422 that names its fields is the answer, so each
    /// message can show beside its field.
    async fn submit<B: Serialize, T>(
        &self,
        out: Outgoing,
        body: Option<&B>,
        read: fn(&Incoming) -> Result<T, ApiError>,
    ) -> Exchange<Checked<T>> {
        self.send_json(out, body, |incoming| {
            if incoming.is_success() {
                return read(incoming).map(Ok);
            }
            match incoming.field_errors() {
                Some(fields) => Ok(Err(fields)),
                None => Err(incoming.refusal()),
            }
        })
        .await
    }

    async fn send_json<B: Serialize, T>(
        &self,
        mut out: Outgoing,
        body: Option<&B>,
        interpret: impl FnOnce(&Incoming) -> Result<T, ApiError>,
    ) -> Exchange<T> {
        if let Some(body) = body {
            match serde_json::to_string(body) {
                Ok(json) => {
                    out = out.header("Content-Type", "application/json".to_owned());
                    out.body = Some(json);
                }
                Err(e) => {
                    return Exchange {
                        result: Err(ApiError::Failed(local_failure(&format!(
                            "the request could not be encoded ({e})"
                        )))),
                        request_id: String::new(),
                        elapsed_ms: 0.0,
                    }
                }
            }
        }
        self.exchange(out, None, interpret).await
    }

    /// `GET /cases/{id}/history`, oldest first.
    pub async fn case_history(
        &self,
        case_id: Uuid,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<Vec<HistoryEntry>>> {
        self.get(format!("/cases/{case_id}/history"), etag, cancel)
            .await
    }

    /// `GET /cases/{id}`.
    pub async fn get_case(
        &self,
        id: Uuid,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<Case>> {
        self.get(format!("/cases/{id}"), etag, cancel).await
    }

    /// `GET /cases?…`.
    pub async fn list_cases(
        &self,
        query: &CaseListQuery,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<CaseList>> {
        let mut path = "/cases".to_owned();
        for (i, (name, value)) in query.to_pairs().iter().enumerate() {
            path.push(if i == 0 { '?' } else { '&' });
            path.push_str(name);
            path.push('=');
            path.push_str(&String::from(js_sys::encode_uri_component(value)));
        }
        self.get(path, etag, cancel).await
    }

    /// `GET /cases/{id}/notes`.
    pub async fn list_notes(
        &self,
        case_id: Uuid,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<Vec<Note>>> {
        self.get(format!("/cases/{case_id}/notes"), etag, cancel)
            .await
    }

    /// `GET /dashboard/metrics`.
    pub async fn metrics(
        &self,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<DashboardMetrics>> {
        self.get("/dashboard/metrics".to_owned(), etag, cancel)
            .await
    }

    /// `POST /cases`, idempotent under `key`.
    pub async fn create_case(&self, case: &NewCase, key: Uuid) -> Exchange<Case> {
        self.write(Outgoing::new("POST", "/cases".to_owned()), case, key)
            .await
    }

    /// `PATCH /cases/{id}` against `if_match` (the version the change was made on).
    pub async fn update_case(
        &self,
        id: Uuid,
        patch: &CasePatch,
        if_match: u64,
        key: Uuid,
    ) -> Exchange<Case> {
        let out = Outgoing::new("PATCH", format!("/cases/{id}"))
            .header("If-Match", casedesk_model::etag_for_version(if_match));
        self.write(out, patch, key).await
    }

    /// `DELETE /cases/{id}`; deleting an already deleted case succeeds too.
    pub async fn delete_case(&self, id: Uuid, key: Uuid) -> Exchange<()> {
        let out = Outgoing::new("DELETE", format!("/cases/{id}"))
            .header("Idempotency-Key", key.to_string());
        let conditional = out.is_conditional();
        self.exchange(out, None, |incoming| {
            if incoming.is_success() {
                Ok(())
            } else {
                Err(incoming.write_refusal(conditional))
            }
        })
        .await
    }

    /// `POST /cases/{id}/notes`.
    pub async fn add_note(&self, case_id: Uuid, note: &NewNote, key: Uuid) -> Exchange<Note> {
        self.write(
            Outgoing::new("POST", format!("/cases/{case_id}/notes")),
            note,
            key,
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: String,
        etag: Option<&str>,
        cancel: Option<&AbortSignal>,
    ) -> Exchange<Fetched<T>> {
        let mut out = Outgoing::new("GET", path);
        if let Some(etag) = etag {
            out = out.header("If-None-Match", etag.to_owned());
        }
        let revalidating = etag.is_some();
        self.exchange(out, cancel, |incoming| match incoming.status {
            304 if revalidating => Ok(Fetched::NotModified),
            // "Not modified" about data this device never asked to keep: nothing to show,
            // and asking again would only get the same answer.
            304 => Err(ApiError::Failed(Failure::Decode {
                message: "the server said nothing changed, but this device holds no copy"
                    .to_owned(),
                request_id: incoming.request_id.clone(),
            })),
            _ if incoming.is_success() => incoming.decode().map(|data| Fetched::Fresh {
                data,
                etag: incoming.etag.clone(),
                size_bytes: incoming.body.len(),
            }),
            _ => Err(incoming.refusal()),
        })
        .await
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        out: Outgoing,
        body: &B,
        key: Uuid,
    ) -> Exchange<T> {
        let mut out = out
            .header("Idempotency-Key", key.to_string())
            .header("Content-Type", "application/json".to_owned());
        match serde_json::to_string(body) {
            Ok(json) => out.body = Some(json),
            Err(e) => {
                return Exchange {
                    result: Err(ApiError::Failed(local_failure(&format!(
                        "the change could not be encoded ({e})"
                    )))),
                    request_id: String::new(),
                    elapsed_ms: 0.0,
                }
            }
        }
        let conditional = out.is_conditional();
        self.exchange(out, None, |incoming| {
            if incoming.is_success() {
                incoming.decode()
            } else {
                Err(incoming.write_refusal(conditional))
            }
        })
        .await
    }

    /// Sends `out` and reads the answer with `interpret`, timing it and tagging it with a
    /// fresh request id.
    async fn exchange<T>(
        &self,
        out: Outgoing,
        cancel: Option<&AbortSignal>,
        interpret: impl FnOnce(&Incoming) -> Result<T, ApiError>,
    ) -> Exchange<T> {
        let request_id = Uuid::new_v4().to_string();
        let started = js_sys::Date::now();
        let result = match self.send(out, &request_id, cancel).await {
            Ok(incoming) => interpret(&incoming),
            Err(error) => Err(error),
        };
        Exchange {
            result,
            request_id,
            elapsed_ms: js_sys::Date::now() - started,
        }
    }

    async fn send(
        &self,
        out: Outgoing,
        request_id: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Incoming, ApiError> {
        if !crate::platform::network::navigator_online() {
            return Err(ApiError::Failed(Failure::Offline));
        }
        self.origins.configured().await;
        let (origin_index, origin) = self.origins.current();
        let base = format!("{origin}{}", casedesk_model::API_PREFIX);
        let result = self.send_to(&base, out, request_id, cancel).await;
        // How it went moves the client on (or not): a server that is down or failing.
        let event = match &result {
            Ok(incoming) if incoming.status >= 500 => Some(false),
            Ok(_) => Some(true),
            Err(ApiError::Failed(Failure::Network { .. } | Failure::Timeout)) => Some(false),
            Err(_) => None,
        };
        match event {
            Some(true) => self.origins.report(OriginEvent::Answered {
                origin: origin_index,
            }),
            Some(false) => self.report_origin_failure(origin_index),
            None => {}
        }
        result
    }

    async fn send_to(
        &self,
        base: &str,
        out: Outgoing,
        request_id: &str,
        cancel: Option<&AbortSignal>,
    ) -> Result<Incoming, ApiError> {
        let js_failure = |e: JsValue| ApiError::Failed(local_failure(&js_message(&e)));
        let headers = web_sys::Headers::new().map_err(js_failure)?;
        headers
            .set("Accept", "application/json")
            .map_err(js_failure)?;
        headers
            .set("X-Request-ID", request_id)
            .map_err(js_failure)?;
        let in_force = matches!(out.bearer, Bearer::InForce);
        let token = match &out.bearer {
            Bearer::Without => None,
            Bearer::Given(token) => Some(token.clone()),
            Bearer::InForce => {
                let signing = self.credentials.signing();
                // Nothing goes out for a person under another's session, or under none.
                if self.acting_for.is_some() && signing.person != self.acting_for {
                    return Err(ApiError::Failed(Failure::NoSession));
                }
                signing.token
            }
        };
        if let Some(token) = &token {
            headers
                .set("Authorization", &format!("Bearer {token}"))
                .map_err(js_failure)?;
        }
        for (name, value) in &out.headers {
            headers.set(name, value).map_err(js_failure)?;
        }
        let timeout = AbortSignal::timeout_with_u32(REQUEST_TIMEOUT_MS);
        let signal = match cancel {
            Some(cancel) => AbortSignal::any(&js_sys::Array::of2(cancel, &timeout)),
            None => timeout,
        };
        let init = web_sys::RequestInit::new();
        init.set_method(out.method);
        init.set_headers(&headers);
        init.set_signal(Some(&signal));
        // The API never redirects: a redirect is a sign-in portal or a proxy in the way, and
        // following it would send a write somewhere else. It fails like a lost connection.
        init.set_redirect(web_sys::RequestRedirect::Error);
        if let Some(body) = &out.body {
            init.set_body(&JsValue::from_str(body));
        }
        let url = format!("{base}{}", out.path);
        // index.html's early request is the same GET: adopt it only when it was sent with the
        // token this one carries (or none with none), and only a success (anything else is
        // asked again). A read of data the device holds already (a revalidation after a warm
        // start, a refetch the person asked for, numbers settled by a change made here) is
        // newer than that early answer can be, so it goes to the server and the early answer
        // is dropped unused.
        let revalidating =
            !self.early_answer || out.headers.iter().any(|(name, _)| *name == "If-None-Match");
        let early = if out.method != "GET" {
            None
        } else if revalidating {
            drop(take_early(EARLY_ANSWER, &url));
            None
        } else {
            early_answer(&url, token.as_deref()).await
        };
        if cancel.is_some_and(AbortSignal::aborted) {
            return Err(ApiError::Cancelled);
        }
        let response = match early {
            Some(response) => response,
            None => {
                let request =
                    web_sys::Request::new_with_str_and_init(&url, &init).map_err(js_failure)?;
                let window = web_sys::window().ok_or_else(|| {
                    ApiError::Failed(local_failure("no window to send requests from"))
                })?;
                JsFuture::from(window.fetch_with_request(&request))
                    .await
                    .map_err(|e| classify_fetch_error(&e, cancel))?
                    .dyn_into::<web_sys::Response>()
                    .map_err(|_| {
                        ApiError::Failed(local_failure(
                            "fetch gave something that is not a response",
                        ))
                    })?
            }
        };
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let status = response.status();
        // Only a refusal of the token still in force ends the session: an answer to a request
        // sent before a new sign-in says nothing about the new token.
        if in_force && token.is_some() && status != 403 && token == self.credentials.token() {
            let on_verdict = self
                .credentials
                .on_verdict
                .read()
                .ok()
                .and_then(|c| c.clone());
            if let Some(on_verdict) = on_verdict {
                on_verdict(status != 401);
            }
        }
        let text_promise = response.text().map_err(js_failure)?;
        let body = match JsFuture::from(text_promise).await {
            Ok(text) => text.as_string().unwrap_or_default(),
            Err(e) if cancel.is_some_and(AbortSignal::aborted) => {
                drop(e);
                return Err(ApiError::Cancelled);
            }
            Err(e) if is_timeout(&e) => return Err(ApiError::Failed(Failure::Timeout)),
            Err(e) => {
                return Err(ApiError::Failed(Failure::Decode {
                    message: format!(
                        "the answer could not be read to its end ({})",
                        js_message(&e)
                    ),
                    request_id: Some(request_id.to_owned()),
                }))
            }
        };
        Ok(Incoming {
            status,
            content_type: header("content-type"),
            etag: header("etag"),
            request_id: header("x-request-id").or_else(|| Some(request_id.to_owned())),
            retry_after: header("retry-after"),
            date: header("date"),
            received_at: crate::platform::clock::now(),
            body,
        })
    }
}

/// Where index.html's inline script leaves its early data request.
const EARLY_ANSWER: &str = "__casedeskEarly";

/// The answer index.html's inline script fetched for `url` before the app started
/// (`window.__casedeskEarly`: `{url, answer}`, `url` absolute, `answer` a promise of
/// `{token, response}` — the stored session's token it sent, or null, and a successful
/// response or null — or of null; the script starts it on a visit to `/` only and drops it
/// after 15 s, so stale data is never adopted). Adopted only for the same URL on the app's own
/// origin and the same token as `token`: an answer made for another person, or for a token
/// since replaced, is never shown. Taken at most once ([`take_early`]).
async fn early_answer(url: &str, token: Option<&str>) -> Option<web_sys::Response> {
    let answer = JsFuture::from(take_early(EARLY_ANSWER, url)?).await.ok()?;
    if answer.is_null() || answer.is_undefined() {
        return None;
    }
    let sent_with = js_sys::Reflect::get(&answer, &JsValue::from_str("token")).ok()?;
    if sent_with.as_string().as_deref() != token {
        return None;
    }
    js_sys::Reflect::get(&answer, &JsValue::from_str("response"))
        .ok()?
        .dyn_into()
        .ok()
}

/// The `config.json` answer index.html's inline script fetched before the app started
/// (`window.__casedeskConfig`: `{url, answer}`, `answer` a promise of `{status, body}` or of
/// null), as [`fetch_text`] gives it. Adopted only when it settles what the app's own read
/// would: the file's JSON (200) or no such file (404). A failure, another status or a body
/// that is not the file (a portal's page) leaves the app to ask itself, as before.
async fn early_config() -> Option<(u16, String)> {
    let answer = JsFuture::from(take_early("__casedeskConfig", CONFIG_URL)?)
        .await
        .ok()?;
    if answer.is_null() || answer.is_undefined() {
        return None;
    }
    let field = |name: &str| js_sys::Reflect::get(&answer, &JsValue::from_str(name)).ok();
    let status = u16::try_from(field("status")?.as_f64()? as u32).ok()?;
    let body = field("body")?.as_string()?;
    let settled = match status {
        200 => serde_json::from_str::<ConfigFile>(&body).is_ok(),
        404 => true,
        _ => false,
    };
    settled.then_some((status, body))
}

/// Takes the promise of index.html's early request `window[name]` (`{url, answer}`) when it
/// was made for `url` (the app's own origin is spelled "" in `url`; the script names it in
/// full). Taken at most once: the handoff is removed when its URL is asked for, so a later
/// request always goes to the network.
fn take_early(name: &str, url: &str) -> Option<js_sys::Promise> {
    let window = web_sys::window()?;
    let name = JsValue::from_str(name);
    let handoff = js_sys::Reflect::get(&window, &name).ok()?;
    if handoff.is_undefined() || handoff.is_null() {
        return None;
    }
    let for_url = js_sys::Reflect::get(&handoff, &JsValue::from_str("url")).ok()?;
    let absolute = if url.starts_with('/') {
        format!("{}{url}", window.location().origin().ok()?)
    } else {
        url.to_owned()
    };
    if for_url.as_string().as_deref() != Some(absolute.as_str()) {
        return None;
    }
    let _ = js_sys::Reflect::delete_property(window.as_ref(), &name);
    js_sys::Reflect::get(&handoff, &JsValue::from_str("answer"))
        .ok()?
        .dyn_into()
        .ok()
}

fn classify_fetch_error(error: &JsValue, cancel: Option<&AbortSignal>) -> ApiError {
    if cancel.is_some_and(AbortSignal::aborted) {
        return ApiError::Cancelled;
    }
    if is_timeout(error) {
        return ApiError::Failed(Failure::Timeout);
    }
    if !crate::platform::network::navigator_online() {
        return ApiError::Failed(Failure::Offline);
    }
    ApiError::Failed(Failure::Network {
        message: js_message(error),
    })
}

/// Whether `error` is the request's time limit running out (the only abort that is not a
/// cancel: cancels are checked first).
fn is_timeout(error: &JsValue) -> bool {
    let name = error
        .dyn_ref::<web_sys::DomException>()
        .map(web_sys::DomException::name)
        .or_else(|| {
            error
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.name()))
        })
        .unwrap_or_default();
    name == "TimeoutError" || name == "AbortError"
}

/// A failure that happened in the browser before an answer came.
fn local_failure(message: &str) -> Failure {
    Failure::Network {
        message: message.to_owned(),
    }
}

fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the browser refused the request".to_owned())
}
