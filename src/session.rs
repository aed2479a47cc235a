//! Who is signed in on this device (docs/api.md §4): the session (bearer token and the
//! person) kept in IndexedDB (`{namespace}-session`), signing in and out, and the state the
//! layout's gate and the header read. A token the server refuses ends the session in place.
//! Signing in or out is told to the app's other tabs (`{namespace}-session` channel), which
//! follow: all of a device's tabs are one person's, or nobody's.
//!
//! The token lives in IndexedDB, not in `localStorage` or a cookie: a cookie would ride along
//! on requests other sites make (CSRF), and neither is where the rest of the person's data is
//! (the queue and cache), which is deleted with it. The person's record is kept beside the
//! token, so the app opens offline for the last person who signed in.

use crate::api::{ApiClient, ApiError, Fetched};
use crate::platform::broadcast::Channel;
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

/// The object store, and the key of the one record in it.
const STORE: &str = "session";
const CURRENT: &str = "current";

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
    let handle = SessionHandle {
        state,
        api: StoredValue::new(api.clone()),
        namespace: StoredValue::new(namespace.to_owned()),
        tabs: StoredValue::new_local(tabs),
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
                api.set_token(Some(stored.token));
                SessionState::SignedIn(stored.user)
            }
            // Nothing stored: the server may still know who this is (a service token the
            // app was configured with, or a server without people, where everyone is its
            // guest). Anything else, offline included, means signing in.
            Ok(None) | Err(_) => who_is_this(&api).await,
        };
        let _ = state.try_set(next);
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
                api.set_token(None);
                let _ = state.try_set(SessionState::SignedOut);
            }
        }
        SessionNews::SignedIn => {
            let Ok(Some(stored)) = load(&namespace).await else {
                return;
            };
            api.set_token(Some(stored.token));
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

/// Asks the server who the app's own credentials (or none) are. An answer that is not one
/// (a server error, garbage from something in the way) is asked again a few times before
/// the person is sent to sign in; being offline or refused is final at once.
async fn who_is_this(api: &ApiClient) -> SessionState {
    for attempt in 0..4u32 {
        match api.me(None).await.result {
            Ok(Fetched::Fresh { data, .. }) => return SessionState::SignedIn(data),
            Err(ApiError::Failed(failure))
                if !failure.is_offline()
                    && !matches!(
                        failure,
                        Failure::Http {
                            status: 401 | 403,
                            ..
                        }
                    ) =>
            {
                gloo_timers::future::TimeoutFuture::new(500 << attempt).await;
            }
            _ => break,
        }
    }
    SessionState::SignedOut
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
        save(&self.namespace.get_value(), &stored)
            .await
            .map_err(SessionError::Storage)?;
        api.set_token(Some(stored.token));
        let _ = self
            .state
            .try_set(SessionState::SignedIn(stored.user.clone()));
        self.tell_other_tabs(SessionNews::SignedIn);
        Ok(stored.user)
    }

    /// Signs out: the server revokes the token (when it can be reached; otherwise it expires
    /// unused), and the device forgets it. The caller removes the person's cached data.
    pub async fn sign_out(&self) -> Result<(), SessionError> {
        let api = self.api.get_value();
        if api.has_token() {
            // Revocation needs the server; offline the token is still forgotten here, and the
            // server lets it expire after 30 days without use.
            let _ = api.sign_out().await;
        }
        let forgotten = forget(&self.namespace.get_value()).await;
        api.set_token(None);
        let _ = self.state.try_set(SessionState::SignedOut);
        self.tell_other_tabs(SessionNews::SignedOut);
        forgotten.map_err(SessionError::Storage)
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
    let db = open(namespace).await?;
    let fail = |e: indexed_db_futures::error::Error| idb::failed(&e);
    let text: Result<Option<String>, StorageError> = async {
        let tx = db.transaction(STORE).build().map_err(fail)?;
        let store = tx.object_store(STORE).map_err(fail)?;
        store
            .get(CURRENT)
            .primitive()
            .map_err(fail)?
            .await
            .map_err(fail)
    }
    .await;
    idb::close(&db);
    // A record this version cannot read is no session: the person signs in again.
    Ok(text?.and_then(|t| serde_json::from_str(&t).ok()))
}

async fn save(namespace: &str, session: &StoredSession) -> Result<(), StorageError> {
    let json = serde_json::to_string(session).map_err(|e| StorageError::Failed(e.to_string()))?;
    write(namespace, Some(json)).await
}

async fn forget(namespace: &str) -> Result<(), StorageError> {
    write(namespace, None).await
}

async fn write(namespace: &str, value: Option<String>) -> Result<(), StorageError> {
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
            Some(json) => drop(
                store
                    .put(json)
                    .with_key(CURRENT)
                    .primitive()
                    .map_err(fail)?,
            ),
            None => drop(store.delete(CURRENT).primitive().map_err(fail)?),
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
