//! Whether the browser keeps this origin's storage durably (`navigator.storage.persist()`):
//! without it, the browser may clear IndexedDB, and with it the queue, when space runs low.
//! Asked once at start-up; the answer is a signal in context for the Sync page.

use leptos::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// What the browser said about keeping this device's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Not answered yet.
    Asking,
    /// Stored durably: the browser clears it only if the person asks.
    Granted,
    /// Best effort: the browser may clear it under storage pressure.
    NotGranted,
    /// This browser does not say (no `navigator.storage`, or it refused to answer).
    Unknown,
}

/// The answer, from context.
#[derive(Clone, Copy)]
pub struct StoragePersistence(pub ReadSignal<Persistence>);

/// Asks for persistent storage now (only reads whether it is granted when `ask` is false:
/// the person turned asking off in Settings) and provides the answer as context.
pub fn provide_storage_persistence(ask: bool) -> StoragePersistence {
    let (state, set_state) = signal(Persistence::Asking);
    leptos::task::spawn_local(async move {
        let answer = query(ask).await;
        set_state.try_set(answer);
    });
    let persistence = StoragePersistence(state);
    provide_context(persistence);
    persistence
}

/// The answer from context; `Unknown` outside the app.
pub fn use_storage_persistence() -> ReadSignal<Persistence> {
    use_context::<StoragePersistence>()
        .map(|p| p.0)
        .unwrap_or_else(|| signal(Persistence::Unknown).0)
}

/// `persist()` (when `ask`), else or if asking is refused `persisted()`; `Unknown` if
/// neither answers.
async fn query(ask: bool) -> Persistence {
    let Some(storage) = web_sys::window().map(|w| w.navigator().storage()) else {
        return Persistence::Unknown;
    };
    // `navigator.storage` is missing outside a secure context; web-sys does not model that.
    if wasm_bindgen::JsValue::from(storage.clone()).is_undefined() {
        return Persistence::Unknown;
    }
    let answer = if ask {
        match storage.persist() {
            Ok(promise) => JsFuture::from(promise).await.ok(),
            Err(_) => None,
        }
    } else {
        None
    };
    let answer = match answer {
        Some(answer) => Some(answer),
        None => match storage.persisted() {
            Ok(promise) => JsFuture::from(promise).await.ok(),
            Err(_) => None,
        },
    };
    match answer.and_then(|a| a.as_bool()) {
        Some(true) => Persistence::Granted,
        Some(false) => Persistence::NotGranted,
        None => Persistence::Unknown,
    }
}
