//! Who is signed in on this device (docs/api.md §4): the session (bearer token and the
//! person) kept in IndexedDB (`{namespace}-session`), signing in and out, and the state the
//! layout's gate and the header read. A token the server refuses ends the session in place.
//! Signing in or out is told to the app's other tabs (`{namespace}-session` channel), which
//! follow: all of a device's tabs are one person's, or nobody's.
//!
//! The token lives in IndexedDB, not in `localStorage` or a cookie: a cookie would ride along
//! on requests other sites make (CSRF), and neither is where the rest of the person's data is
//! (the queue and cache), which is deleted with it. The person's record is kept beside the
//! token, so the app opens offline for the last person who signed in; a server without people
//! is remembered the same way, so the app opens offline as its guest.
//!
//! Signing out takes the token out of force at once (no request carries it after), and the
//! server revokes it: at once, or, when the server cannot be reached, once it can (the token
//! waits for that on the device, in the same database, and is used for nothing else).

use crate::api::{ApiClient, ApiError, Fetched};
use crate::platform::broadcast::Channel;
use crate::platform::env::{use_environment, Subscription, WindowEvent};
use crate::platform::idb::{self, StorageError};
use crate::words::Describe;
use casedesk_core::Failure;
use casedesk_model::{Person, Session, SetupSignIn, SignIn, Timestamp};
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The object store, and the keys of its records: the session, the tokens signed out and
/// still to be revoked, and the guest of a server without people.
const STORE: &str = "session";
const CURRENT: &str = "current";
const TO_REVOKE: &str = "to-revoke";
const GUEST: &str = "guest";

/// Where the person stands on this device.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionState {
    /// The stored session is being read at start-up.
    Checking,
    /// Nobody is signed in: every page asks to sign in.
    SignedOut,
    /// `person` is signed in (or, on a server without people, acts as its guest).
    SignedIn(Person),
    /// The server refused `person`'s token (expired or revoked): their pages stay, the queue
    /// waits, and the sign-in form shows in place until someone signs in.
    Expired(Person),
}

impl SessionState {
    /// The person whose data the app shows: the signed-in one, or the one whose session ended.
    pub fn person(&self) -> Option<&Person> {
        match self {
            Self::SignedIn(p) | Self::Expired(p) => Some(p),
            Self::Checking | Self::SignedOut => None,
        }
    }
}

/// Why signing in or out did not work, in words for the person.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SessionError {
    #[error("The email or the password is not right.")]
    InvalidCredentials,
    #[error("The email or the setup code is not right, or the code has expired or was already used. Ask an admin for a new one.")]
    InvalidSetupCode,
    #[error("Too many attempts. Try again in {} seconds.", .wait_secs)]
    Throttled { wait_secs: u64 },
    #[error("You are offline: signing in needs the server. Try again once the network is back.")]
    Offline,
    #[error("The server could not be reached ({0}). Try again.")]
    Unreachable(String),
    #[error("Signing in did not work: {0}")]
    Refused(String),
    #[error("This device could not keep the session ({0}).")]
    Storage(StorageError),
}

/// The record kept in IndexedDB.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredSession {
    token: String,
    user: Person,
    expires_at: Timestamp,
}

/// What a tab tells the others when it signs in or out (the session itself is in
/// IndexedDB, which they read again: a token never goes over the channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SessionNews {
    SignedIn,
    SignedOut,
}

/// The session, from context: a `Copy` handle.
#[derive(Clone, Copy)]
pub struct SessionHandle {
    state: RwSignal<SessionState>,
    api: StoredValue<ApiClient>,
    namespace: StoredValue<String>,
    /// The other tabs; `None` where the browser refused the channel (this tab then learns of
    /// their sign-ins only at its next start).
    tabs: StoredValue<Option<Channel>, LocalStorage>,
    /// The `online` events that send the revocations waiting on the device.
    _online: StoredValue<Subscription, LocalStorage>,
}

/// Reads the stored session and provides the handle. `api` is the app's client: its token
/// (shared by every clone) is set here.
pub fn provide_session(api: &ApiClient, namespace: &str) -> SessionHandle {
    let state = RwSignal::new(SessionState::Checking);
    let tabs = {
        let (api, namespace) = (api.clone(), namespace.to_owned());
        Channel::open(&format!("{namespace}-session"), move |text| {
            if let Ok(news) = serde_json::from_str::<SessionNews>(&text) {
                let (api, namespace) = (api.clone(), namespace.clone());
                leptos::task::spawn_local(follow_other_tab(news, state, api, namespace));
            }
        })
        .ok()
    };
    // A sign-out the server did not hear of (offline) is revoked once it can be reached.
    let online = {
        let (api, namespace) = (api.clone(), namespace.to_owned());
        use_environment().window().subscribe(move |event| {
            if event == WindowEvent::Online {
                leptos::task::spawn_local(revoke_waiting(api.clone(), namespace.clone()));
            }
        })
    };
    let handle = SessionHandle {
        state,
        api: StoredValue::new(api.clone()),
        namespace: StoredValue::new(namespace.to_owned()),
        tabs: StoredValue::new_local(tabs),
        _online: StoredValue::new_local(online),
    };
    api.on_token_verdict(move |accepted| {
        let change = state
            .try_with_untracked(|s| match (s, accepted) {
                (SessionState::SignedIn(p), false) => Some(SessionState::Expired(p.clone())),
                (SessionState::Expired(p), true) => Some(SessionState::SignedIn(p.clone())),
                _ => None,
            })
            .flatten();
        if let Some(next) = change {
            let _ = state.try_set(next);
        }
    });
    provide_context(handle);
    let api = api.clone();
    let namespace = namespace.to_owned();
    leptos::task::spawn_local(async move {
        let next = match load(&namespace).await {
            Ok(Some(stored)) => {
                api.set_session(Some(stored.token), Some(stored.user.id));
                SessionState::SignedIn(stored.user)
            }
            // Nothing stored: the server may still know who this is (a service token the
            // app was configured with, or a server without people, where everyone is its
            // guest). Anything else, offline included, means signing in, unless the server
            // was last seen without people: then the app opens as its guest, as it would
            // online.
            Ok(None) | Err(_) => match who_is_this(&api).await {
                Answer::Person(person) => {
                    api.set_person(Some(person.id));
                    if !api.has_token() {
                        // Best effort: without it an offline start shows the sign-in page.
                        let _ = write_record(&namespace, GUEST, Some(&person)).await;
                    }
                    SessionState::SignedIn(person)
                }
                Answer::Refused => {
                    let _ = write_record::<Person>(&namespace, GUEST, None).await;
                    SessionState::SignedOut
                }
                Answer::Unknown => match read_record::<Person>(&namespace, GUEST).await {
                    Ok(Some(guest)) if !api.has_token() => {
                        api.set_person(Some(guest.id));
                        SessionState::SignedIn(guest)
                    }
                    _ => SessionState::SignedOut,
                },
            },
        };
        let _ = state.try_set(next);
        revoke_waiting(api, namespace).await;
    });
    handle
}

/// Another tab signed in or out: this one follows. Signed out there means the token is gone
/// from the device, so this tab drops its person (their scope, and with it their data in
/// memory, goes; the sign-in page shows). Signed in there means the stored session is the one
/// to use: this tab takes its token and person.
async fn follow_other_tab(
    news: SessionNews,
    state: RwSignal<SessionState>,
    api: ApiClient,
    namespace: String,
) {
    match news {
        SessionNews::SignedOut => {
            // A guest of a server without people, or a service token, has nothing stored
            // and was not signed out by anyone.
            if api.has_token() {
                api.set_session(None, None);
                let _ = state.try_set(SessionState::SignedOut);
            }
        }
        SessionNews::SignedIn => {
            let Ok(Some(stored)) = load(&namespace).await else {
                return;
            };
            api.set_session(Some(stored.token), Some(stored.user.id));
            let already = state
                .try_with_untracked(
                    |s| matches!(s, SessionState::SignedIn(p) if p.id == stored.user.id),
                )
                .unwrap_or(true);
            if !already {
                let _ = state.try_set(SessionState::SignedIn(stored.user));
            }
        }
    }
}

/// What the server said of the app's own credentials (or none).
enum Answer {
    /// They are this person's (a service token's, or the guest's of a server without people).
    Person(Person),
    /// They are nobody's: the server has people, and this device must sign in.
    Refused,
    /// No word from the server (offline, unreachable, garbled).
    Unknown,
}

/// Asks the server who the app's own credentials (or none) are. An answer that is not one
/// (a server error, garbage from something in the way) is asked again a few times; being
/// offline or refused is final at once.
async fn who_is_this(api: &ApiClient) -> Answer {
    for attempt in 0..4u32 {
        match api.me(None).await.result {
            Ok(Fetched::Fresh { data, .. }) => return Answer::Person(data),
            Err(ApiError::Failed(Failure::Http {
                status: 401 | 403, ..
            })) => return Answer::Refused,
            Err(ApiError::Failed(failure)) if !failure.is_offline() => {
                gloo_timers::future::TimeoutFuture::new(500 << attempt).await;
            }
            _ => break,
        }
    }
    Answer::Unknown
}

/// Sends the revocations waiting on the device (sessions signed out while the server could
/// not be reached), each signed with its own old token, the one use left to it. Each is
/// taken from storage before it is sent, so two tabs never send the same one; one that
/// still cannot reach the server is put back for the next `online`.
async fn revoke_waiting(api: ApiClient, namespace: String) {
    let Ok(tokens) = take_record::<Vec<String>>(&namespace, TO_REVOKE).await else {
        return;
    };
    let mut left = Vec::new();
    for token in tokens.unwrap_or_default() {
        if !revoke(&api, &token).await {
            left.push(token);
        }
    }
    if !left.is_empty() {
        let _ = hold_for_revocation(&namespace, left).await;
    }
}

/// `DELETE /session` with `token`: whether the server has heard (revoked it now, or found it
/// ended already). Offline, unreachable or failing, it has not.
async fn revoke(api: &ApiClient, token: &str) -> bool {
    match api.revoke(token).await.result {
        Ok(()) => true,
        Err(ApiError::Failed(failure)) => failure.class() != casedesk_core::FailureClass::Transient,
        Err(_) => false,
    }
}

/// The session from context, if the app provides one.
pub fn use_session() -> Option<SessionHandle> {
    use_context::<SessionHandle>()
}

impl SessionHandle {
    pub fn state(&self) -> Signal<SessionState> {
        self.state.into()
    }

    /// Whether requests carry a token of this device's (not so on a server without people).
    pub fn holds_token(&self) -> bool {
        self.api.with_value(ApiClient::has_token)
    }

    /// Which session is in force: changes with every sign-in and sign-out, not when the
    /// same token is judged good again after a 401 (see [`ApiClient::session_generation`]).
    pub fn session_generation(&self) -> u64 {
        self.api.with_value(ApiClient::session_generation)
    }

    /// The person who last held the session, signed in or not (their data is the app's).
    pub fn person_id(&self) -> Option<Uuid> {
        self.state.with_untracked(|s| s.person().map(|p| p.id))
    }

    /// Signs in: on success the token is stored on the device first, then put in force, and
    /// the state says who is signed in.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Person, SessionError> {
        let api = self.api.get_value();
        let body = SignIn {
            email: email.trim().to_owned(),
            password: password.to_owned(),
        };
        let session: Session = api.sign_in(&body).await.result.map_err(sign_in_error)?;
        self.adopt(session).await
    }

    /// Sets the person's password with the setup code an admin gave them and signs them in,
    /// as [`Self::sign_in`] does.
    pub async fn sign_in_with_setup_code(
        &self,
        email: &str,
        setup_code: &str,
        password: &str,
    ) -> Result<Person, SessionError> {
        let body = SetupSignIn {
            email: email.trim().to_owned(),
            setup_code: setup_code.trim().to_owned(),
            password: password.to_owned(),
        };
        let api = self.api.get_value();
        let session = api
            .sign_in_with_setup_code(&body)
            .await
            .result
            .map_err(setup_error)?;
        self.adopt(session).await
    }

    /// A session the server just gave: stored on the device first, then put in force, and
    /// the state says who is signed in.
    async fn adopt(&self, session: Session) -> Result<Person, SessionError> {
        let api = self.api.get_value();
        let stored = StoredSession {
            token: session.token,
            user: session.user,
            expires_at: session.expires_at,
        };
        let namespace = self.namespace.get_value();
        save(&namespace, &stored)
            .await
            .map_err(SessionError::Storage)?;
        // The server has people: an offline start never opens as a guest again.
        let _ = write_record::<Person>(&namespace, GUEST, None).await;
        api.set_session(Some(stored.token), Some(stored.user.id));
        let _ = self
            .state
            .try_set(SessionState::SignedIn(stored.user.clone()));
        self.tell_other_tabs(SessionNews::SignedIn);
        Ok(stored.user)
    }

    /// Signs out: the token is out of force at once (nothing of anyone's goes out after),
    /// the server revokes it (now, or once it can be reached: it waits on the device for
    /// that, and for nothing else), and the device forgets the session. The person's queued
    /// changes stay on the device for their next sign-in; the caller removes their cached
    /// data.
    pub async fn sign_out(&self) -> Result<(), SessionError> {
        let api = self.api.get_value();
        let namespace = self.namespace.get_value();
        let token = api.take_session();
        let revoked = match &token {
            Some(token) => revoke(&api, token).await,
            None => true,
        };
        let held = match token.filter(|_| !revoked) {
            Some(token) => hold_for_revocation(&namespace, vec![token]).await,
            None => Ok(()),
        };
        let forgotten = forget(&namespace).await;
        let _ = self.state.try_set(SessionState::SignedOut);
        self.tell_other_tabs(SessionNews::SignedOut);
        held.and(forgotten).map_err(SessionError::Storage)
    }

    /// Best effort: a tab that misses the news still reads the stored session at its next
    /// start, and a refused token ends its session there anyway.
    fn tell_other_tabs(&self, news: SessionNews) {
        if let Ok(text) = serde_json::to_string(&news) {
            let _ = self
                .tabs
                .try_with_value(|tabs| tabs.as_ref().map(|c| c.post(&text)));
        }
    }
}

/// A refused setup code reads differently from a refused password: the person typed a code.
fn setup_error(error: ApiError) -> SessionError {
    match error.failure() {
        Some(Failure::Http { status: 401, .. }) => SessionError::InvalidSetupCode,
        Some(Failure::Http {
            status: 422,
            message,
            ..
        }) => SessionError::Refused(message.clone()),
        _ => sign_in_error(error),
    }
}

fn sign_in_error(error: ApiError) -> SessionError {
    match error.failure() {
        Some(Failure::Offline) => SessionError::Offline,
        Some(Failure::Network { message }) => SessionError::Unreachable(message.clone()),
        Some(Failure::Timeout) => SessionError::Unreachable("no answer in time".to_owned()),
        Some(Failure::Http { status: 401, .. }) => SessionError::InvalidCredentials,
        Some(Failure::Http {
            status: 429,
            retry_after,
            ..
        }) => SessionError::Throttled {
            // Rounded up: "try again in 0 seconds" would invite a refusal.
            wait_secs: retry_after.map_or(60, |d| d.0.div_ceil(1_000).max(1)),
        },
        Some(other) => SessionError::Refused(other.describe()),
        None => SessionError::Refused("the request was cancelled".to_owned()),
    }
}

// ----- storage -----

async fn open(namespace: &str) -> Result<Database, StorageError> {
    idb::open(
        &format!("{namespace}-session"),
        1,
        idb::ensure_store(STORE),
        None,
    )
    .await
}

async fn load(namespace: &str) -> Result<Option<StoredSession>, StorageError> {
    // A record this version cannot read is no session: the person signs in again.
    read_record(namespace, CURRENT).await
}

async fn save(namespace: &str, session: &StoredSession) -> Result<(), StorageError> {
    write_record(namespace, CURRENT, Some(session)).await
}

async fn forget(namespace: &str) -> Result<(), StorageError> {
    write_record::<StoredSession>(namespace, CURRENT, None).await
}

/// Adds `tokens` to those waiting for their revocation.
async fn hold_for_revocation(namespace: &str, tokens: Vec<String>) -> Result<(), StorageError> {
    update_record::<Vec<String>>(namespace, TO_REVOKE, move |waiting| {
        let mut all = waiting.unwrap_or_default();
        all.extend(tokens);
        Some(all)
    })
    .await
    .map(drop)
}

/// Reads and deletes record `key` in one transaction (a tab that takes it is the only one).
async fn take_record<T: Serialize + for<'de> Deserialize<'de> + Clone>(
    namespace: &str,
    key: &str,
) -> Result<Option<T>, StorageError> {
    update_record::<T>(namespace, key, |_| None).await
}

async fn read_record<T: for<'de> Deserialize<'de>>(
    namespace: &str,
    key: &str,
) -> Result<Option<T>, StorageError> {
    let db = open(namespace).await?;
    let fail = |e: indexed_db_futures::error::Error| idb::failed(&e);
    let text: Result<Option<String>, StorageError> = async {
        let tx = db.transaction(STORE).build().map_err(fail)?;
        let store = tx.object_store(STORE).map_err(fail)?;
        store
            .get(key)
            .primitive()
            .map_err(fail)?
            .await
            .map_err(fail)
    }
    .await;
    idb::close(&db);
    // A record this version cannot read is none.
    Ok(text?.and_then(|t| serde_json::from_str(&t).ok()))
}

async fn write_record<T: Serialize>(
    namespace: &str,
    key: &str,
    value: Option<&T>,
) -> Result<(), StorageError> {
    let json = value
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StorageError::Failed(e.to_string()))?;
    write(namespace, key, json).await
}

/// Replaces record `key` with what `change` makes of it, in one read-write transaction;
/// returns what it held before.
async fn update_record<T: Serialize + for<'de> Deserialize<'de> + Clone>(
    namespace: &str,
    key: &str,
    change: impl FnOnce(Option<T>) -> Option<T>,
) -> Result<Option<T>, StorageError> {
    let db = open(namespace).await?;
    let fail = |e: indexed_db_futures::error::Error| idb::failed(&e);
    let result = async {
        let tx = db
            .transaction(STORE)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(fail)?;
        let store = tx.object_store(STORE).map_err(fail)?;
        let before: Option<String> = store
            .get(key)
            .primitive()
            .map_err(fail)?
            .await
            .map_err(fail)?;
        let before: Option<T> = before.and_then(|t| serde_json::from_str(&t).ok());
        let after = change(before.clone());
        match after.map(|a| serde_json::to_string(&a)).transpose() {
            Ok(Some(json)) => drop(store.put(json).with_key(key).primitive().map_err(fail)?),
            Ok(None) => drop(store.delete(key).primitive().map_err(fail)?),
            Err(e) => return Err(StorageError::Failed(e.to_string())),
        }
        drop(store);
        idb::commit(tx).await?;
        Ok(before)
    }
    .await;
    idb::close(&db);
    result
}

async fn write(namespace: &str, key: &str, value: Option<String>) -> Result<(), StorageError> {
    let db = open(namespace).await?;
    let fail = |e: indexed_db_futures::error::Error| idb::failed(&e);
    let result = async {
        let tx = db
            .transaction(STORE)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(fail)?;
        let store = tx.object_store(STORE).map_err(fail)?;
        match value {
            Some(json) => drop(store.put(json).with_key(key).primitive().map_err(fail)?),
            None => drop(store.delete(key).primitive().map_err(fail)?),
        }
        drop(store);
        idb::commit(tx).await
    }
    .await;
    idb::close(&db);
    result
}

/// Deletes the IndexedDB database `name` (a person's cached case data at sign-out). The
/// browser deletes it once every connection to it has closed.
pub(crate) async fn delete_database(name: &str) -> Result<(), StorageError> {
    let request =
        Database::delete_by_name(name).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    request.await.map_err(|e| idb::failed(&e))
}
