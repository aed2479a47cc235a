//! How an action reaches the server: the typed API client by default; tests wrap it to
//! inject answers (a 429, being offline) or to watch what is sent.

use crate::api::{ApiClient, ApiError, Exchange, Fetched};
use casedesk_core::request::Route;
use casedesk_core::{Failure, ServerAnswer};
use futures::future::LocalBoxFuture;

/// One attempt of an action, as the worker hands it to a sender: core's `Outgoing` (the
/// action's id and its request, route included) as it is.
pub use casedesk_core::queue::Outgoing as OutgoingAction;

/// Sends one attempt and reports the server's answer.
pub trait ActionSender {
    fn send(&self, outgoing: &OutgoingAction) -> LocalBoxFuture<'static, Exchange<ServerAnswer>>;
}

/// The real thing: the API client over `fetch`.
pub struct HttpSender {
    api: ApiClient,
}

impl HttpSender {
    pub fn new(api: ApiClient) -> Self {
        Self { api }
    }
}

impl ActionSender for HttpSender {
    fn send(&self, outgoing: &OutgoingAction) -> LocalBoxFuture<'static, Exchange<ServerAnswer>> {
        // Only under its author's session: after a sign-out, or with another person signed
        // in, the request is not sent at all (it waits for its author, as after a 401).
        let api = self.api.clone().acting_for(outgoing.author);
        let outgoing = outgoing.clone();
        Box::pin(async move { send_with(&api, &outgoing).await })
    }
}

/// Sends `outgoing` with `api`, every attempt under the action's idempotency key, and makes
/// sure the answer is about what was sent.
///
/// A creation refused as `already_exists` is looked up: when the server holds this very
/// creation (its first answer was lost and the key expired before the resend), the action
/// is done and settles with what the server holds.
pub async fn send_with(api: &ApiClient, outgoing: &OutgoingAction) -> Exchange<ServerAnswer> {
    let mut exchange = send_once(api, outgoing).await;
    match &exchange.result {
        Ok(answer) if !outgoing.request.confirmed_by(answer) => {
            exchange.result = Err(ApiError::Failed(Failure::Decode {
                message: "the answer was about another case or note than the one sent".to_owned(),
                request_id: Some(exchange.request_id.clone()),
            }));
        }
        Err(ApiError::Failed(failure @ Failure::Http { status: 412, .. }))
            if outgoing.request.route.if_match().is_some() =>
        {
            // A 412 whose body lacks the server's case cannot be merged as it is; with the
            // case looked up, it goes to the merge like any other conflict.
            // When the server still holds the very version the change was made on, the 412
            // was not the server's (a proxy's, or a glitch): merging would resend at once,
            // into the same answer, so it waits out a backoff like any unreadable answer.
            let failure = failure.clone();
            if let Ok(Fetched::Fresh { data, .. }) = api
                .get_case(outgoing.request.route.case_id(), None, None)
                .await
                .result
            {
                exchange.result = Err(if outgoing.request.route.if_match() == Some(data.version) {
                    ApiError::Failed(Failure::Decode {
                        message: "the server refused the change as out of date, yet holds the \
                                  version it was made on"
                            .to_owned(),
                        request_id: failure.request_id().map(str::to_owned),
                    })
                } else {
                    ApiError::Conflict {
                        failure,
                        current: Box::new(data),
                    }
                });
            }
        }
        Err(ApiError::Failed(Failure::Http {
            code: Some(code), ..
        })) if code == "already_exists" => {
            if let Some(existing) = look_up_existing(api, outgoing).await {
                if outgoing.request.is_earlier_arrival(&existing) {
                    exchange.result = Ok(existing);
                }
            }
        }
        _ => {}
    }
    exchange
}

/// What the server holds under the id a creation sent, if it can be read now.
async fn look_up_existing(api: &ApiClient, outgoing: &OutgoingAction) -> Option<ServerAnswer> {
    match &outgoing.request.route {
        Route::CreateCase(case) => match api.get_case(case.id, None, None).await.result {
            Ok(Fetched::Fresh { data, .. }) => Some(ServerAnswer::Case(data)),
            _ => None,
        },
        Route::AddNote { case_id, note } => match api.list_notes(*case_id, None, None).await.result
        {
            Ok(Fetched::Fresh { data, .. }) => data
                .into_iter()
                .find(|n| n.id == note.id)
                .map(ServerAnswer::Note),
            _ => None,
        },
        Route::UpdateCase { .. } | Route::DeleteCase { .. } => None,
    }
}

async fn send_once(api: &ApiClient, outgoing: &OutgoingAction) -> Exchange<ServerAnswer> {
    let key = outgoing.request.idempotency_key;
    match &outgoing.request.route {
        Route::CreateCase(case) => answer(api.create_case(case, key).await, ServerAnswer::Case),
        Route::UpdateCase {
            id,
            patch,
            if_match,
        } => answer(
            api.update_case(*id, patch, *if_match, key).await,
            ServerAnswer::Case,
        ),
        Route::DeleteCase { id } => {
            answer(api.delete_case(*id, key).await, |()| ServerAnswer::Deleted)
        }
        Route::AddNote { case_id, note } => {
            answer(api.add_note(*case_id, note, key).await, ServerAnswer::Note)
        }
    }
}

fn answer<T>(
    exchange: Exchange<T>,
    wrap: impl FnOnce(T) -> ServerAnswer,
) -> Exchange<ServerAnswer> {
    Exchange {
        result: exchange.result.map(wrap),
        request_id: exchange.request_id,
        elapsed_ms: exchange.elapsed_ms,
    }
}
