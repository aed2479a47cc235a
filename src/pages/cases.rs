//! `/cases`: the case list. Search (debounced), status and priority filters, sort and
//! pages live in the URL's query string, so a view can be shared and Back undoes a filter.
//! Each row shows whether its changes reached the server (`data-sync`); the status changes
//! inline, several rows change at once, and hovering a case's link fetches it ahead.

use crate::api::{ApiClient, Fetched};
use crate::components::alert_region::{use_alerts, Alerts};
use crate::components::badges::{PriorityBadge, SyncBadge};
use crate::components::local_time::LocalTime;
use crate::components::skeleton::Skeleton;
use crate::offline::{use_offline_queue, EnqueueError};
use crate::permissions::allows;
use crate::platform::download::save_text_file;
use crate::query::{use_case_list, use_query_client, QueryView};
use crate::words::Describe;
use casedesk_core::export::{csv_header, csv_record};
use casedesk_core::{Failure, QueryStatus, SyncState};
use casedesk_model::list::MAX_PER_PAGE;
use casedesk_model::{
    AssigneeFilter, Case, CaseList, CaseListQuery, CasePatch, CaseSort, CaseStatus, Permission,
    Priority,
};
use leptos::ev::Event;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;
use leptos_router::NavigateOptions;
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

/// How long typing must pause before the search runs.
const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);

/// Reads the list's query from the URL. A parameter that makes no sense (`status=pending`)
/// is dropped, not fatal: the rest of a shared link still applies. Returns whether any was.
fn query_from_url(params: &ParamsMap) -> (CaseListQuery, bool) {
    let pairs = || params.latest_values().map(|(k, v)| (k.as_ref(), v));
    match CaseListQuery::from_pairs(pairs()) {
        Ok(query) => (query, false),
        Err(bad) => {
            let good = pairs().filter(|(name, _)| bad.get(name).is_none());
            (CaseListQuery::from_pairs(good).unwrap_or_default(), true)
        }
    }
}

/// The address of the list showing `query`: `/cases?status=open&q=printer%20jam`.
fn href_for(query: &CaseListQuery) -> String {
    let pairs = query.to_pairs();
    if pairs.is_empty() {
        return "/cases".to_owned();
    }
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let value: String = js_sys::encode_uri_component(value).into();
            format!("{name}={value}")
        })
        .collect();
    format!("/cases?{}", encoded.join("&"))
}

/// Whether `query` narrows the list (search or a filter), as opposed to only sorting or paging.
fn is_filtered(query: &CaseListQuery) -> bool {
    query.status.is_some() || query.priority.is_some() || query.search_text().is_some()
}

/// A change to several selected cases at once.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BulkChange {
    Status(CaseStatus),
    Priority(Priority),
}

impl BulkChange {
    fn parse(value: &str) -> Option<Self> {
        let (kind, name) = value.split_once(':')?;
        match kind {
            "status" => CaseStatus::parse(name).map(Self::Status),
            "priority" => Priority::parse(name).map(Self::Priority),
            _ => None,
        }
    }

    fn patch(self) -> CasePatch {
        match self {
            Self::Status(status) => CasePatch {
                status: Some(status),
                ..CasePatch::default()
            },
            Self::Priority(priority) => CasePatch {
                priority: Some(priority),
                ..CasePatch::default()
            },
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Status(status) => format!("status {}", status.label()),
            Self::Priority(priority) => format!("priority {}", priority.label()),
        }
    }
}

/// Says why a change could not be queued, in the alert region.
fn announce_refusal(alerts: Alerts, error: EnqueueError) {
    alerts.error(format!("The change was not saved: {error}."));
}

/// Every case, searchable and filterable.
#[component]
pub fn CasesPage() -> impl IntoView {
    let params = use_query_map();
    let parsed = Memo::new(move |_| params.with(query_from_url));
    let query = Memo::new(move |_| parsed.with(|(q, _)| q.clone()));
    let list = use_case_list(query.into());
    let navigate = use_navigate();
    let go = StoredValue::new(move |next: CaseListQuery, replace: bool| {
        navigate(
            &href_for(&next),
            NavigateOptions {
                replace,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    let apply = Callback::new(move |(next, replace): (CaseListQuery, bool)| {
        go.with_value(|go| go(next, replace));
    });

    let items = Memo::new(move |_| list.data.with(|l| l.as_ref().map(|l| l.items.clone())));
    let selected = RwSignal::new(BTreeSet::<Uuid>::new());
    // Only what is on screen can stay selected: a filter or page change drops the rest.
    Effect::new(move |_| {
        let visible: BTreeSet<Uuid> = items.with(|i| i.iter().flatten().map(|c| c.id).collect());
        let kept: BTreeSet<Uuid> =
            selected.with_untracked(|s| s.intersection(&visible).copied().collect());
        if selected.with_untracked(|s| s.len() != kept.len()) {
            selected.set(kept);
        }
    });

    // A viewer reads: no "New case", no ticking rows for a bulk change.
    let writes = allows(Permission::WriteCases);
    view! {
        <section class="page cases">
            <div class="page-head">
                <h1>"Cases"</h1>
                <ExportCsv query=query.into() />
                <Show when=move || writes.get()>
                    <a class="button primary" href="/cases/new" aria-keyshortcuts="c">
                        "New case"
                    </a>
                </Show>
            </div>
            <Show when=move || parsed.with(|(_, bad)| *bad)>
                <p class="notice">"Part of this address was not understood and is ignored."</p>
            </Show>
            <CaseFilters query=query.into() apply=apply />
            <Show when=move || writes.get()>
                <BulkBar selected=selected />
            </Show>
            <CaseListScreen list=list items=items.into() query=query.into() selected=selected />
            <Pagination list=list.data query=query.into() />
        </section>
    }
}

/// The search box, the "Status" and "Priority" filters and the sort: each change becomes a
/// new address (the search after a pause in typing).
#[component]
fn CaseFilters(
    /// The list's query as the address says it.
    query: Signal<CaseListQuery>,
    /// Goes to the list for a query (`true`: replacing the current history entry).
    apply: Callback<(CaseListQuery, bool)>,
) -> impl IntoView {
    // The search box: what is typed shows at once; the URL (and so the request) follows after
    // a pause. Back and forward bring the box along, unless a search is still waiting.
    let search = RwSignal::new(query.get_untracked().q.unwrap_or_default());
    let debounce = StoredValue::new(None::<TimeoutHandle>);
    let typing = RwSignal::new(false);
    on_cleanup(move || {
        if let Some(Some(handle)) = debounce.try_get_value() {
            handle.clear();
        }
    });
    Effect::watch(
        move || query.with(|q| q.q.clone()),
        move |q, _, _| {
            if !typing.get_untracked() {
                search.set(q.clone().unwrap_or_default());
            }
        },
        false,
    );
    let on_search = move |ev: Event| {
        search.set(event_target_value(&ev));
        typing.set(true);
        if let Some(handle) = debounce.get_value() {
            handle.clear();
        }
        let handle = set_timeout_with_handle(
            move || {
                typing.set(false);
                let text = search.get_untracked();
                let current = query.get_untracked();
                let q = (!text.trim().is_empty()).then(|| text.trim().to_owned());
                if current.q != q {
                    // Typing refines one search: one history entry for it, not one per pause.
                    let replace = current.q.is_some() && q.is_some();
                    apply.run((CaseListQuery { q, ..current }.with_page(1), replace));
                }
            },
            SEARCH_DEBOUNCE,
        );
        debounce.set_value(handle.ok());
    };

    let on_status_filter = move |ev: Event| {
        let status = CaseStatus::parse(&event_target_value(&ev));
        apply.run((
            CaseListQuery {
                status,
                ..query.get_untracked()
            }
            .with_page(1),
            false,
        ));
    };
    let on_priority_filter = move |ev: Event| {
        let priority = Priority::parse(&event_target_value(&ev));
        apply.run((
            CaseListQuery {
                priority,
                ..query.get_untracked()
            }
            .with_page(1),
            false,
        ));
    };
    let on_assignee_filter = move |ev: Event| {
        let text = event_target_value(&ev);
        let assignee = (!text.is_empty()).then(|| AssigneeFilter::parse(&text));
        apply.run((
            CaseListQuery {
                assignee,
                ..query.get_untracked()
            }
            .with_page(1),
            false,
        ));
    };
    let people = crate::people::people_list();
    let on_sort = move |ev: Event| {
        let sort = CaseSort::parse(&event_target_value(&ev)).unwrap_or_default();
        apply.run((
            CaseListQuery {
                sort,
                ..query.get_untracked()
            }
            .with_page(1),
            false,
        ));
    };

    view! {
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <div class="field field-grow">
                    <label for="case-search">"Search"</label>
                    <input
                        id="case-search"
                        type="search"
                        placeholder="Title or description"
                        autocomplete="off"
                        aria-keyshortcuts="/"
                        prop:value=move || search.get()
                        on:input=on_search
                    />
                </div>
                <div class="field">
                    <label for="filter-status">"Status"</label>
                    <select
                        id="filter-status"
                        prop:value=move || query.with(|q| q.status.map_or("", CaseStatus::as_str))
                        on:change=on_status_filter
                    >
                        <option value="">"Any status"</option>
                        {CaseStatus::ALL
                            .into_iter()
                            .map(|s| view! { <option value=s.as_str()>{s.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="filter-priority">"Priority"</label>
                    <select
                        id="filter-priority"
                        prop:value=move || query.with(|q| q.priority.map_or("", Priority::as_str))
                        on:change=on_priority_filter
                    >
                        <option value="">"Any priority"</option>
                        {Priority::ALL
                            .into_iter()
                            .map(|p| view! { <option value=p.as_str()>{p.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="filter-assignee">"Assignee"</label>
                    <select
                        id="filter-assignee"
                        prop:value=move || query.with(|q| q.assignee.as_ref().map_or(String::new(), |a| a.as_str().to_owned()))
                        on:change=on_assignee_filter
                    >
                        <option value="">"Anyone"</option>
                        <option value="me">"Me"</option>
                        <option value="none">"Unassigned"</option>
                        <crate::people::PersonOptions people=people />
                    </select>
                </div>
                <div class="field">
                    <label for="case-sort">"Sort by"</label>
                    <select
                        id="case-sort"
                        prop:value=move || query.with(|q| q.sort.as_str())
                        on:change=on_sort
                    >
                        {CaseSort::ALL
                            .into_iter()
                            .map(|s| view! { <option value=s.as_str()>{s.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
            </form>
    }
}

/// The list's body for the query's state: the table, "no cases", or the failure with "Try
/// again"; above it, a refresh that failed while older rows still show.
#[component]
fn CaseListScreen(
    /// The list query's view.
    list: QueryView<CaseList>,
    /// The page's cases, once loaded.
    items: Signal<Option<Vec<Case>>>,
    /// The list's query, for the empty state's wording.
    query: Signal<CaseListQuery>,
    /// The ids ticked for a bulk change.
    selected: RwSignal<BTreeSet<Uuid>>,
) -> impl IntoView {
    let screen = Memo::new(move |_| {
        // The status and error before the data (see `CaseScreen` in case_detail.rs).
        let status = list.status.get();
        let error = list.error.get();
        match items.with(|i| i.as_ref().map(Vec::is_empty)) {
            None if status == QueryStatus::Error => {
                ListScreen::Failed(error.map(|f| f.describe()).unwrap_or_default())
            }
            Some(true) => ListScreen::Empty,
            _ => ListScreen::Table,
        }
    });
    view! {
            {move || {
                list.error
                    .get()
                    .filter(|_| items.with(Option::is_some))
                    .map(|failure| {
                        view! {
                            <div class="notice notice-warn">
                                <p>"The list could not be refreshed: " {failure.describe()}</p>
                                <button type="button" class="button" on:click=move |_| list.refetch()>
                                    "Try again"
                                </button>
                            </div>
                        }
                    })
            }}
            // Only a change of screen re-renders: the table stays while its rows change, so
            // the focus stays on a row's status menu after a change.
            {move || match screen.get() {
                ListScreen::Failed(message) => view! {
                    <div class="card error-state">
                        <p>"The cases could not be loaded. " {message}</p>
                        <button type="button" class="button" on:click=move |_| list.refetch()>
                            "Try again"
                        </button>
                    </div>
                }
                .into_any(),
                ListScreen::Empty => view! { <EmptyState query=query /> }.into_any(),
                ListScreen::Table => view! {
                    <CaseTable items=items selected=selected stale=list.is_placeholder />
                }
                .into_any(),
            }}
    }
}

/// How far an export has come: cases fetched, of how many.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ExportProgress {
    fetched: usize,
    total: Option<u64>,
}

/// "Export CSV": every case matching the list's filters and sort, all pages (not only the
/// one on screen), saved as one file; progress shows while pages come in.
#[component]
fn ExportCsv(
    /// The list's filters and sort; its page and page size are ignored.
    query: Signal<CaseListQuery>,
) -> impl IntoView {
    let client = use_query_client();
    let alerts = use_alerts();
    let progress = RwSignal::new(None::<ExportProgress>);
    let start = move |_| {
        if progress.get_untracked().is_some() {
            return;
        }
        let Some(api) = client.api() else {
            return;
        };
        progress.set(Some(ExportProgress {
            fetched: 0,
            total: None,
        }));
        let filters = query.get_untracked();
        spawn_local(async move {
            let outcome = export_csv(&api, &filters, |step| {
                progress.try_set(Some(step));
            })
            .await;
            progress.try_set(None);
            match outcome {
                Ok((text, count)) => {
                    let name = format!("cases-{}.csv", today());
                    match save_text_file(&name, "text/csv;charset=utf-8", &text) {
                        Ok(()) => alerts.info(format!(
                            "Exported {count} {} to {name}.",
                            if count == 1 { "case" } else { "cases" }
                        )),
                        Err(error) => {
                            alerts.error(format!("The export could not be saved: {error}"))
                        }
                    }
                }
                Err(message) => alerts.error(format!("The export stopped: {message}")),
            }
        });
    };
    view! {
        <button
            type="button"
            class="button"
            on:click=start
            disabled=move || progress.with(Option::is_some)
        >
            "Export CSV"
        </button>
        {move || {
            progress
                .get()
                .map(|p| {
                    let text = match p.total {
                        Some(total) => format!("Exporting… {} of {total}", p.fetched),
                        None => "Exporting…".to_owned(),
                    };
                    view! {
                        <span class="export-progress" role="status" data-testid="export-progress">
                            {text}
                        </span>
                    }
                })
        }}
    }
}

/// Fetches every page of `filters` (the largest pages the API allows) and makes the CSV;
/// the text and the number of cases, or the failure in words. A case that moves between
/// pages while they are fetched is written once.
async fn export_csv(
    api: &ApiClient,
    filters: &CaseListQuery,
    mut on_progress: impl FnMut(ExportProgress),
) -> Result<(String, usize), String> {
    let mut text = csv_header();
    let mut seen = BTreeSet::new();
    let mut page = 1;
    loop {
        let query = CaseListQuery {
            per_page: MAX_PER_PAGE,
            ..filters.with_page(page)
        };
        let list = match api.list_cases(&query, None, None).await.result {
            Ok(Fetched::Fresh { data, .. }) => data,
            Ok(Fetched::NotModified) => return Err("the server sent no data".to_owned()),
            Err(error) => {
                return Err(error
                    .failure()
                    .map(Failure::describe)
                    .unwrap_or_else(|| "it was cancelled".to_owned()))
            }
        };
        for case in &list.items {
            if seen.insert(case.id) {
                text.push_str(&csv_record(case));
            }
        }
        on_progress(ExportProgress {
            fetched: seen.len(),
            total: Some(list.total),
        });
        let pages = list.total.div_ceil(u64::from(MAX_PER_PAGE));
        if list.items.is_empty() || u64::from(page) >= pages {
            return Ok((text, seen.len()));
        }
        page += 1;
    }
}

/// Today's date on the device, `YYYY-MM-DD`, for the file's name.
fn today() -> String {
    let date = js_sys::Date::new_0();
    format!(
        "{:04}-{:02}-{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date()
    )
}

/// Which of its states the list is in.
#[derive(Clone, Debug, PartialEq)]
enum ListScreen {
    /// The table (or its placeholder while loading).
    Table,
    /// The list loaded and no case matches.
    Empty,
    /// Nothing could be loaded; the failure in words.
    Failed(String),
}

/// No case to show: says whether the filters or the empty database is why.
#[component]
fn EmptyState(
    /// The list's query, to tell "no match" from "no cases at all".
    query: Signal<CaseListQuery>,
) -> impl IntoView {
    let writes = allows(Permission::WriteCases);
    move || {
        if query.with(is_filtered) {
            view! {
                <div class="card empty-state">
                    <p>"No cases match these filters."</p>
                    <a href="/cases">"Clear filters"</a>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="card empty-state">
                    <p>"No cases yet."</p>
                    <Show when=move || writes.get()>
                        <a href="/cases/new">"Create the first case"</a>
                    </Show>
                </div>
            }
            .into_any()
        }
    }
}

/// Rows shown while the first page loads, shaped like real ones.
const SKELETON_ROWS: usize = 8;

/// The table of cases (a placeholder while loading).
#[component]
fn CaseTable(
    /// The cases on this page; `None` while loading.
    items: Signal<Option<Vec<Case>>>,
    /// The ids ticked for a bulk change.
    selected: RwSignal<BTreeSet<Uuid>>,
    /// The rows are the previous page's, kept while this one loads.
    stale: Signal<bool>,
) -> impl IntoView {
    let ids =
        Memo::new(move |_| items.with(|i| i.iter().flatten().map(|c| c.id).collect::<Vec<_>>()));
    let all_selected = move || {
        ids.with(|ids| !ids.is_empty() && selected.with(|s| ids.iter().all(|id| s.contains(id))))
    };
    let some_selected = move || {
        !all_selected() && ids.with(|ids| selected.with(|s| ids.iter().any(|id| s.contains(id))))
    };
    let toggle_all = move |ev: Event| {
        let on = event_target_checked(&ev);
        let ids = ids.get_untracked();
        selected.update(|s| {
            for id in ids {
                if on {
                    s.insert(id);
                } else {
                    s.remove(&id);
                }
            }
        });
    };
    let loading = move || items.with(Option::is_none);
    let writes = allows(Permission::WriteCases);
    view! {
        <div
            class="table-wrap case-table-wrap"
            class:is-stale=move || stale.get()
            aria-busy=move || {
                // The query's signal before the memo over it (see `CaseScreen` in case_detail).
                let stale = stale.get();
                (stale || loading()).to_string()
            }
        >
            <table class="case-table">
                <thead>
                    <tr>
                        <th scope="col" class="col-select">
                            <Show when=move || writes.get()>
                                <input
                                    type="checkbox"
                                    aria-label="Select every case on this page"
                                    prop:checked=all_selected
                                    prop:indeterminate=some_selected
                                    disabled=loading
                                    on:change=toggle_all
                                />
                            </Show>
                        </th>
                        <th scope="col">"Title"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Priority"</th>
                        <th scope="col">"Assignee"</th>
                        <th scope="col">"Updated"</th>
                    </tr>
                </thead>
                <tbody>
                    <Show when=move || !loading() fallback=|| (0..SKELETON_ROWS).map(|_| view! { <SkeletonRow /> }).collect_view()>
                        <For each=move || ids.get() key=|id| *id let:id>
                            <CaseRow id=id items=items selected=selected />
                        </For>
                    </Show>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn SkeletonRow() -> impl IntoView {
    view! {
        <tr class="skeleton-row" aria-hidden="true">
            <td class="col-select"><Skeleton width="1rem" /></td>
            <td class="col-title"><Skeleton width="80%" /></td>
            <td class="col-status"><Skeleton width="6rem" height="1.6rem" /></td>
            <td class="col-priority"><Skeleton width="4rem" /></td>
            <td class="col-assignee"><Skeleton width="5rem" /></td>
            <td class="col-updated"><Skeleton width="6rem" /></td>
        </tr>
    }
}

/// One case's row. Keyed by id, so a change to the case updates the row in place and the
/// keyboard focus (say, on its status menu) stays where it was.
#[component]
fn CaseRow(
    /// The case this row shows.
    id: Uuid,
    /// The page's cases, where the row finds its own.
    items: Signal<Option<Vec<Case>>>,
    /// The ids ticked for a bulk change.
    selected: RwSignal<BTreeSet<Uuid>>,
) -> impl IntoView {
    let sync = use_offline_queue().sync_state(id);
    let case: Signal<Option<Case>> =
        Memo::new(move |_| items.with(|i| i.iter().flatten().find(|c| c.id == id).cloned())).into();
    let title = Signal::derive(move || {
        case.with(|c| c.as_ref().map(|c| c.title.clone()).unwrap_or_default())
    });
    let priority =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(Priority::Medium, |c| c.priority)));
    let writes = allows(Permission::WriteCases);
    view! {
        <tr
            data-testid="case-row"
            data-case-id=id.to_string()
            data-sync=move || sync.get().as_str()
            class:row-selected=move || selected.with(|s| s.contains(&id))
        >
            <td class="col-select">
                <Show when=move || writes.get()>
                    <RowCheckbox id=id title=title selected=selected />
                </Show>
            </td>
            <td class="col-title">
                <RowTitle id=id case=case title=title sync=sync />
            </td>
            <td class="col-status">
                <RowStatusMenu id=id case=case title=title />
            </td>
            <td class="col-priority">
                <PriorityBadge priority=priority />
            </td>
            <td class="col-assignee">
                {move || match case.with(|c| c.as_ref().and_then(|c| c.assignee.clone())) {
                    Some(name) => view! { <span>{name}</span> }.into_any(),
                    None => view! { <span class="muted">"Unassigned"</span> }.into_any(),
                }}
            </td>
            <td class="col-updated">
                {move || case.with(|c| c.as_ref().map(|c| c.updated_at)).map(|at| view! { <LocalTime at=at relative=true /> })}
            </td>
        </tr>
    }
}

/// The row's "Select “…”" box, for a bulk change.
#[component]
fn RowCheckbox(
    /// The row's case.
    id: Uuid,
    /// Its title, for the box's name.
    title: Signal<String>,
    /// The ids ticked for a bulk change.
    selected: RwSignal<BTreeSet<Uuid>>,
) -> impl IntoView {
    view! {
        <input
            type="checkbox"
            aria-label=move || format!("Select “{}”", title.get())
            prop:checked=move || selected.with(|s| s.contains(&id))
            on:change=move |ev| {
                let on = event_target_checked(&ev);
                selected.update(|s| {
                    if on {
                        s.insert(id);
                    } else {
                        s.remove(&id);
                    }
                });
            }
        />
    }
}

/// The row's title (a link that prefetches the case), its sync badge and its tags.
#[component]
fn RowTitle(
    /// The row's case.
    id: Uuid,
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// Its title.
    title: Signal<String>,
    /// The row's `data-sync`.
    sync: Signal<SyncState>,
) -> impl IntoView {
    let client = use_query_client();
    let href = format!("/cases/{id}");
    view! {
        <a class="case-link" href=href on:mouseenter=move |_| client.prefetch_case(id) on:focus=move |_| client.prefetch_case(id)>
            {title}
        </a>
        " "
        <SyncBadge state=sync />
        {move || {
            case.with(|c| {
                c.as_ref()
                    .filter(|c| !c.tags.is_empty())
                    .map(|c| {
                        let tags = c.tags.clone();
                        view! {
                            <ul class="tag-list" aria-label="Tags">
                                {tags.into_iter().map(|t| view! { <li class="tag">{t}</li> }).collect_view()}
                            </ul>
                        }
                    })
            })
        }}
    }
}

/// The row's status menu: a choice is queued at once.
#[component]
fn RowStatusMenu(
    /// The row's case.
    id: Uuid,
    /// The case as shown, pending changes included.
    case: Signal<Option<Case>>,
    /// Its title, for the menu's name.
    title: Signal<String>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let writes = allows(Permission::WriteCases);
    let status =
        Signal::derive(move || case.with(|c| c.as_ref().map_or(CaseStatus::Open, |c| c.status)));
    let change_status = move |ev: Event| {
        let Some(next) = CaseStatus::parse(&event_target_value(&ev)) else {
            return;
        };
        if Some(next) == case.with_untracked(|c| c.as_ref().map(|c| c.status)) {
            return;
        }
        let patch = CasePatch {
            status: Some(next),
            ..CasePatch::default()
        };
        spawn_local(async move {
            if let Err(error) = queue.update_case(id, patch).await {
                announce_refusal(alerts, error);
            }
        });
    };
    // Named "Move … to" rather than "Status of …": the list's own filter is the one control
    // called "Status" on this page.
    view! {
        <select
            class=move || format!("inline-select status-{}", status.get().as_str())
            aria-label=move || format!("Move “{}” to", title.get())
            prop:value=move || status.get().as_str()
            disabled=move || !writes.get()
            on:change=change_status
        >
            {CaseStatus::ALL
                .into_iter()
                .map(|s| view! { <option value=s.as_str()>{s.label()}</option> })
                .collect_view()}
        </select>
    }
}

/// The bar that appears when rows are ticked: change all of them at once. Every case gets
/// its own queued action, so one refusal rolls back only its own case.
#[component]
fn BulkBar(
    /// The ids ticked.
    selected: RwSignal<BTreeSet<Uuid>>,
) -> impl IntoView {
    let queue = use_offline_queue();
    let alerts = use_alerts();
    let choice = RwSignal::new(String::new());
    let done = RwSignal::new(String::new());
    let count = move || selected.with(BTreeSet::len);
    let apply = move |_| {
        let Some(change) = BulkChange::parse(&choice.get_untracked()) else {
            return;
        };
        let ids: Vec<Uuid> = selected.get_untracked().into_iter().collect();
        let n = ids.len();
        spawn_local(async move {
            match queue.update_cases(ids, change.patch()).await {
                Ok(()) => {
                    done.set(format!(
                        "{} set to {}.",
                        if n == 1 {
                            "1 case".to_owned()
                        } else {
                            format!("{n} cases")
                        },
                        change.describe()
                    ));
                    selected.set(BTreeSet::new());
                    choice.set(String::new());
                }
                Err(error) => announce_refusal(alerts, error),
            }
        });
    };
    view! {
        <div class="bulk-bar" class:open=move || { count() > 0 }>
            <Show when=move || { count() > 0 }>
                <span class="bulk-count">{move || format!("{} selected", count())}</span>
                <label class="visually-hidden" for="bulk-change">"Change selected cases"</label>
                <select id="bulk-change" prop:value=move || choice.get() on:change=move |ev| choice.set(event_target_value(&ev))>
                    <option value="">"Change selected cases…"</option>
                    <optgroup label="Set status">
                        {CaseStatus::ALL
                            .into_iter()
                            .map(|s| view! { <option value=format!("status:{}", s.as_str())>{s.label()}</option> })
                            .collect_view()}
                    </optgroup>
                    <optgroup label="Set priority">
                        {Priority::ALL
                            .into_iter()
                            .map(|p| view! { <option value=format!("priority:{}", p.as_str())>{p.label()}</option> })
                            .collect_view()}
                    </optgroup>
                </select>
                <button type="button" class="button primary" disabled=move || choice.with(String::is_empty) on:click=apply>
                    "Apply"
                </button>
                <button type="button" class="button" on:click=move |_| selected.set(BTreeSet::new())>
                    "Clear selection"
                </button>
            </Show>
            <p class="bulk-done" role="status">{move || done.get()}</p>
        </div>
    }
}

/// "Page 2 of 5" with links to the neighbours; real links, so they open in a new tab too.
#[component]
fn Pagination(
    /// The page on screen.
    list: Signal<Option<CaseList>>,
    /// The list's query, for the neighbours' addresses.
    query: Signal<CaseListQuery>,
) -> impl IntoView {
    move || {
        let (total, pages) = list.with(|l| l.as_ref().map(|l| (l.total, l.page_count())))?;
        if total == 0 {
            return None;
        }
        let query = query.get();
        let page = u64::from(query.page);
        let previous = (page > 1).then(|| href_for(&query.with_page(query.page - 1)));
        let next = (page < pages).then(|| href_for(&query.with_page(query.page.saturating_add(1))));
        let cases = if total == 1 {
            "1 case".to_owned()
        } else {
            format!("{total} cases")
        };
        Some(view! {
            <nav class="pagination" aria-label="Pages">
                {match previous {
                    Some(href) => view! { <a class="button" href=href rel="prev">"Previous"</a> }.into_any(),
                    None => view! { <span class="button" aria-disabled="true">"Previous"</span> }.into_any(),
                }}
                <span class="page-status">{format!("Page {page} of {pages} · {cases}")}</span>
                {match next {
                    Some(href) => view! { <a class="button" href=href rel="next">"Next"</a> }.into_any(),
                    None => view! { <span class="button" aria-disabled="true">"Next"</span> }.into_any(),
                }}
            </nav>
        })
    }
}
