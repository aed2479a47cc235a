//! `/`: the dashboard. Counts by status, the mean time to resolve, and three charts (by
//! status, by priority, opened vs resolved per day). It paints the cached numbers at once,
//! revalidates behind them, and counts pending changes (a case created offline is counted).

use crate::components::charts::bar_chart::{Bar, BarChart};
use crate::components::charts::day_series::DaySeriesChart;
use crate::components::local_time::{format_date_time, format_relative, use_clock};
use crate::components::metric_card::{MeanTimeToResolveCard, MetricCard};
use crate::query::use_metrics;
use crate::words::Describe;
use casedesk_core::QueryStatus;
use casedesk_model::{AssigneeFilter, CaseListQuery, CaseStatus, DashboardMetrics, Priority};
use leptos::prelude::*;
use std::time::Duration;

/// The card test id of each status (docs/api.md §2).
fn metric_testid(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Open => "metric-open",
        CaseStatus::InProgress => "metric-in-progress",
        CaseStatus::Resolved => "metric-resolved",
        CaseStatus::Closed => "metric-closed",
    }
}

fn status_tone(status: CaseStatus) -> &'static str {
    match status {
        CaseStatus::Open => "status-open",
        CaseStatus::InProgress => "status-in_progress",
        CaseStatus::Resolved => "status-resolved",
        CaseStatus::Closed => "status-closed",
    }
}

fn priority_tone(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "priority-low",
        Priority::Medium => "priority-medium",
        Priority::High => "priority-high",
        Priority::Critical => "priority-critical",
    }
}

fn status_bars(metrics: &DashboardMetrics) -> Vec<Bar> {
    CaseStatus::ALL
        .into_iter()
        .map(|status| Bar {
            tone: status_tone(status),
            label: status.label().to_owned(),
            value: metrics.by_status.get(status),
        })
        .collect()
}

fn priority_bars(metrics: &DashboardMetrics) -> Vec<Bar> {
    Priority::ALL
        .into_iter()
        .map(|priority| Bar {
            tone: priority_tone(priority),
            label: priority.label().to_owned(),
            value: metrics.by_priority.get(priority),
        })
        .collect()
}

/// Counts by status and priority, and the trend of opened and resolved cases.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let metrics = use_metrics();
    let data = metrics.data;
    let status_chart = Signal::derive(move || data.with(|m| m.as_ref().map(status_bars)));
    let priority_chart = Signal::derive(move || data.with(|m| m.as_ref().map(priority_bars)));
    let opened =
        Signal::derive(move || data.with(|m| m.as_ref().map(|m| m.opened_per_day.clone())));
    let resolved =
        Signal::derive(move || data.with(|m| m.as_ref().map(|m| m.resolved_per_day.clone())));
    let mean_hours =
        Signal::derive(move || data.with(|m| m.as_ref().map(|m| m.mean_hours_to_resolve)));
    let failed_empty =
        move || metrics.status.get() == QueryStatus::Error && data.with(Option::is_none);

    // The signed-in person's own open cases (`?assignee=me`): one row asked for, the total read.
    let mine = crate::query::use_case_list(Signal::stored(CaseListQuery {
        status: Some(CaseStatus::Open),
        assignee: Some(AssigneeFilter::Me),
        per_page: 1,
        ..CaseListQuery::default()
    }));
    let mine_data = mine.data;
    let my_open = Signal::derive(move || mine_data.with(|l| l.as_ref().map(|l| l.total)));
    let cards = move || {
        CaseStatus::ALL
            .into_iter()
            .map(|status| {
                let value = Signal::derive(move || {
                    data.with(|m| m.as_ref().map(|m| m.by_status.get(status)))
                });
                view! {
                    <MetricCard
                        label=status.label()
                        value=value
                        testid=metric_testid(status)
                        tone=status_tone(status)
                    />
                }
            })
            .collect_view()
    };

    view! {
        <section class="page dashboard">
            <div class="page-head">
                <h1>"Dashboard"</h1>
                <Freshness metrics=data is_fetching=metrics.is_fetching />
            </div>
            {move || {
                metrics
                    .error
                    .get()
                    .filter(|_| data.with(Option::is_some))
                    .map(|failure| {
                        view! {
                            <div class="notice notice-warn">
                                <p>
                                    "These numbers could not be refreshed: " {failure.describe()}
                                    " They are the last ones known."
                                </p>
                                <button type="button" class="button" on:click=move |_| metrics.refetch()>
                                    "Try again"
                                </button>
                            </div>
                        }
                    })
            }}
            <Show
                when=move || !failed_empty()
                fallback=move || {
                    view! {
                        <div class="card error-state">
                            <p>
                                "The dashboard could not be loaded. "
                                {move || metrics.error.get().map(|f| f.describe()).unwrap_or_default()}
                            </p>
                            <button type="button" class="button" on:click=move |_| metrics.refetch()>
                                "Try again"
                            </button>
                        </div>
                    }
                }
            >
                <div class="metric-grid">
                    {cards()}
                    <MetricCard label="My open cases" value=my_open testid="metric-my-open" tone="status-open" />
                    <MeanTimeToResolveCard hours=mean_hours />
                </div>
                <div class="chart-grid">
                    <BarChart title="Cases by status" bars=status_chart />
                    <BarChart title="Cases by priority" bars=priority_chart />
                    <DaySeriesChart
                        title="Opened and resolved per day, last 30 days"
                        opened=opened
                        resolved=resolved
                    />
                </div>
            </Show>
        </section>
    }
}

/// "Updated 2 minutes ago", or "Updating…" while a refetch runs: how fresh the numbers are.
#[component]
fn Freshness(
    /// The metrics on screen.
    metrics: Signal<Option<DashboardMetrics>>,
    /// A refetch is running.
    is_fetching: Signal<bool>,
) -> impl IntoView {
    let now = use_clock(Duration::from_secs(30));
    let text = move || {
        if is_fetching.get() {
            return "Updating…".to_owned();
        }
        metrics.with(|m| {
            m.as_ref()
                .map(|m| format!("Updated {}", format_relative(m.generated_at, now.get())))
                .unwrap_or_default()
        })
    };
    let title = move || {
        metrics.with(|m| {
            m.as_ref().map(|m| {
                format!(
                    "Computed by the server at {}",
                    format_date_time(m.generated_at)
                )
            })
        })
    };
    view! {
        <p class="freshness" title=title>{text}</p>
    }
}
