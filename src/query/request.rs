//! From a query key to the `GET` that answers it, and from the answer to the cache event that
//! reports it. The cache deals in keys only; this is the one place that knows the endpoints.

use crate::api::{ApiClient, ApiError, Exchange, Fetched};
use casedesk_core::{CacheEvent, Failure, FetchId, OverlayTarget, QueryData, QueryKey};
use web_sys::AbortSignal;

/// Sends the conditional `GET` for `target`. The answer is always one of the cache's fetch
/// events, except a cancellation, which nobody waits for (`None`).
pub(crate) async fn fetch(
    api: &ApiClient,
    target: &OverlayTarget,
    key: QueryKey,
    fetch: FetchId,
    etag: Option<&str>,
    cancel: Option<&AbortSignal>,
) -> Option<(CacheEvent, Option<Failure>)> {
    let exchange = match target {
        OverlayTarget::Case(id) => {
            into_data(api.get_case(*id, etag, cancel).await, QueryData::Case)
        }
        OverlayTarget::CaseList(query) => into_data(
            api.list_cases(query, etag, cancel).await,
            QueryData::CaseList,
        ),
        OverlayTarget::Notes(id) => {
            into_data(api.list_notes(*id, etag, cancel).await, QueryData::Notes)
        }
        OverlayTarget::Metrics => into_data(api.metrics(etag, cancel).await, QueryData::Metrics),
        OverlayTarget::Users => into_data(api.users(etag, cancel).await, QueryData::Users),
        OverlayTarget::History(id) => into_data(
            api.case_history(*id, etag, cancel).await,
            QueryData::History,
        ),
    };
    let failure = |failure: Failure| {
        let event = CacheEvent::FetchFailed {
            key: key.clone(),
            fetch,
            failure: failure.clone(),
        };
        Some((event, Some(failure)))
    };
    match exchange.result {
        Ok(Fetched::Fresh { data, .. }) if !is_about(&data, target) => failure(Failure::Decode {
            message: "the answer was about another case than the one asked for".to_owned(),
            request_id: Some(exchange.request_id),
        }),
        Ok(Fetched::Fresh {
            data,
            etag,
            size_bytes,
        }) => Some((
            CacheEvent::FetchSucceeded {
                key,
                fetch,
                data,
                etag,
                size_bytes: size_bytes as u64,
            },
            None,
        )),
        Ok(Fetched::NotModified) => Some((CacheEvent::NotModified { key, fetch }, None)),
        Err(ApiError::Cancelled) => None,
        Err(ApiError::Failed(f)) => failure(f),
        // A 412 cannot answer a GET; should a proxy invent one, it is just a refusal.
        Err(ApiError::Conflict { failure: f, .. }) => failure(f),
    }
}

/// Whether an answer is about what was asked for. A case or its notes answered with another
/// case's (a proxy or cache mixing answers up) would show that case under this one's
/// address; a list cannot be checked this way, its items are whatever the server holds.
fn is_about(data: &QueryData, target: &OverlayTarget) -> bool {
    match (target, data) {
        (OverlayTarget::Case(id), QueryData::Case(case)) => case.id == *id,
        (OverlayTarget::Notes(id), QueryData::Notes(notes)) => {
            notes.iter().all(|note| note.case_id == *id)
        }
        _ => true,
    }
}

fn into_data<T>(
    exchange: Exchange<Fetched<T>>,
    wrap: fn(T) -> QueryData,
) -> Exchange<Fetched<QueryData>> {
    Exchange {
        result: exchange.result.map(|fetched| match fetched {
            Fetched::Fresh {
                data,
                etag,
                size_bytes,
            } => Fetched::Fresh {
                data: wrap(data),
                etag,
                size_bytes,
            },
            Fetched::NotModified => Fetched::NotModified,
        }),
        request_id: exchange.request_id,
        elapsed_ms: exchange.elapsed_ms,
    }
}
