//! The hooks views call: each observes its key while mounted (and follows the key when it
//! changes) and returns signals of what the screen shows — server data with the pending
//! actions applied — plus the query's status, fetch state and typed error.

use super::client::use_query_client;
use super::state::QueryClient;
use super::views::EntryInfo;
use casedesk_core::{Failure, OverlayTarget, QueryData, QueryKey, QueryStatus};
use casedesk_model::{Case, CaseList, CaseListQuery, DashboardMetrics, HistoryEntry, Note, Person};
use leptos::prelude::*;
use uuid::Uuid;

/// What a view shows for one query.
pub struct QueryView<T: Send + Sync + 'static> {
    /// Server data with every pending action applied; `None` while loading, when the query
    /// failed with nothing to show, or when the thing does not exist (a pending deletion).
    pub data: Signal<Option<T>>,
    /// `Loading` until there is an answer, then `Success`, or `Error` when the last fetch
    /// gave up (earlier data, if any, is still in `data`).
    pub status: Signal<QueryStatus>,
    /// A request is in flight or a retry is scheduled.
    pub is_fetching: Signal<bool>,
    /// The final error of the last fetch, typed; `Failure::describe` says it to people.
    pub error: Signal<Option<Failure>>,
    /// `data` is the previous key's answer, kept while the current key loads (lists only).
    pub is_placeholder: Signal<bool>,
    client: QueryClient,
    key: Signal<Option<QueryKey>>,
}

impl<T: Send + Sync + 'static> Clone for QueryView<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for QueryView<T> {}

impl<T: Send + Sync + 'static> QueryView<T> {
    /// Fetches the current key again now, whatever the data's age.
    pub fn refetch(&self) {
        if let Some(key) = self.key.get_untracked() {
            self.client.refetch(&key);
        }
    }
}

/// One case; `id` is `None` while the route parameter is not a UUID (nothing is fetched).
pub fn use_case(id: Signal<Option<Uuid>>) -> QueryView<Case> {
    use_query(
        Signal::derive(move || id.get().map(OverlayTarget::Case)),
        QueryData::as_case,
        false,
    )
}

/// One page of the case list. While a new page or filter loads, the previous page stays in
/// `data` (with `is_placeholder` set), as TanStack's `keepPreviousData`: the table keeps its
/// rows and height instead of collapsing to a skeleton on every keystroke or page turn. A
/// failed load replaces the placeholder with the error.
pub fn use_case_list(query: Signal<CaseListQuery>) -> QueryView<CaseList> {
    use_query(
        Signal::derive(move || Some(OverlayTarget::CaseList(query.get()))),
        QueryData::as_case_list,
        true,
    )
}

/// A case's notes, oldest first (pending notes last).
pub fn use_notes(case_id: Signal<Option<Uuid>>) -> QueryView<Vec<Note>> {
    use_query(
        Signal::derive(move || case_id.get().map(OverlayTarget::Notes)),
        QueryData::as_notes,
        false,
    )
}

/// The dashboard's counts and series.
pub fn use_metrics() -> QueryView<DashboardMetrics> {
    use_query(
        Signal::derive(|| Some(OverlayTarget::Metrics)),
        QueryData::as_metrics,
        false,
    )
}

/// Everyone a case can be assigned to (`GET /users`), kept like any other query: cached
/// for the person, stored for offline, revalidated when stale.
pub fn use_users() -> QueryView<Vec<Person>> {
    use_query(
        Signal::derive(|| Some(OverlayTarget::Users)),
        QueryData::as_users,
        false,
    )
}

/// A case's history, oldest first, as the server keeps it; read again whenever the case
/// changes (the cache invalidates it with the case).
pub fn use_history(case_id: Signal<Option<Uuid>>) -> QueryView<Vec<HistoryEntry>> {
    use_query(
        Signal::derive(move || case_id.get().map(OverlayTarget::History)),
        QueryData::as_history,
        false,
    )
}

/// The typed face of the shared machinery: only the data signal depends on `T`, so each
/// kind of query adds one small memo to the binary, not a copy of everything.
fn use_query<T>(
    target: Signal<Option<OverlayTarget>>,
    extract: fn(&QueryData) -> Option<&T>,
    keep_previous: bool,
) -> QueryView<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    let shared = use_query_state(target, keep_previous);
    let state = shared.state;
    let data = Memo::new(move |_| state.with(|s| s.data.as_ref().and_then(extract).cloned()));
    QueryView {
        data: data.into(),
        status: shared.status,
        is_fetching: shared.is_fetching,
        error: shared.error,
        is_placeholder: shared.is_placeholder,
        client: shared.client,
        key: shared.key,
    }
}

/// Everything of a view that does not depend on the data's type.
struct SharedView {
    client: QueryClient,
    key: Signal<Option<QueryKey>>,
    state: Memo<QueryState>,
    status: Signal<QueryStatus>,
    is_fetching: Signal<bool>,
    error: Signal<Option<Failure>>,
    is_placeholder: Signal<bool>,
}

fn use_query_state(target: Signal<Option<OverlayTarget>>, keep_previous: bool) -> SharedView {
    let client = use_query_client();
    let target = Memo::new(move |_| target.get());
    let key = Signal::derive(move || target.with(|t| t.as_ref().map(OverlayTarget::key)));

    // Observed from now until cleanup, following the key: the new key is observed before
    // the old one is let go, so a request both share is never orphaned in between.
    let observed = StoredValue::new(None::<QueryKey>);
    let swap = move |next: Option<OverlayTarget>| {
        if let Some(next) = &next {
            client.observe(next);
        }
        let previous = observed
            .try_update_value(|o| std::mem::replace(o, next.as_ref().map(OverlayTarget::key)));
        if let Some(Some(previous)) = previous {
            client.unobserve(previous);
        }
    };
    swap(target.get_untracked());
    Effect::watch(
        move || target.get(),
        move |next, previous, _| {
            if previous.is_some_and(|p| p != next) {
                swap(next.clone());
            }
        },
        false,
    );
    on_cleanup(move || {
        if let Some(Some(key)) = observed.try_update_value(Option::take) {
            client.unobserve(key);
        }
    });

    // One computation per change of the entry or the overlay's inputs; the signals below
    // read it, so data, status and error always agree.
    let state = Memo::new(move |previous: Option<&QueryState>| {
        let Some(target) = target.get() else {
            return QueryState::idle();
        };
        client.track_key(&target.key());
        client.track_overlay_inputs(matches!(
            target,
            OverlayTarget::CaseList(_) | OverlayTarget::Metrics
        ));
        let Some((data, info)) = client.overlaid(&target) else {
            return QueryState::idle();
        };
        let keep = keep_previous && data.is_none() && !info.has_server_data && info.error.is_none();
        match previous.and_then(|p| p.data.clone()) {
            Some(earlier) if keep => QueryState {
                data: Some(earlier),
                placeholder: true,
                info,
            },
            _ => QueryState {
                data,
                placeholder: false,
                info,
            },
        }
    });

    SharedView {
        client,
        key,
        state,
        status: Signal::derive(move || state.with(QueryState::status)),
        is_fetching: Signal::derive(move || state.with(|s| s.info.is_fetching)),
        error: Signal::derive(move || state.with(|s| s.info.error.clone())),
        is_placeholder: Signal::derive(move || state.with(|s| s.placeholder)),
    }
}

/// One view's state at one moment.
#[derive(Clone, Debug, PartialEq)]
struct QueryState {
    /// What the screen shows, before it is narrowed to the view's type.
    data: Option<QueryData>,
    placeholder: bool,
    info: EntryInfo,
}

impl QueryState {
    fn idle() -> Self {
        Self {
            data: None,
            placeholder: false,
            info: EntryInfo {
                has_server_data: false,
                is_fetching: false,
                error: None,
            },
        }
    }

    fn status(&self) -> QueryStatus {
        if self.info.error.is_some() {
            QueryStatus::Error
        } else if self.data.is_some() || self.info.has_server_data {
            // Server data with nothing to show is an answer too: the case is being deleted.
            QueryStatus::Success
        } else {
            QueryStatus::Loading
        }
    }
}
