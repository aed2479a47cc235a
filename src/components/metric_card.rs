//! The dashboard's headline numbers: one card per count, and the mean time to resolve.

use crate::components::skeleton::Skeleton;
use leptos::prelude::*;

/// One headline count: a label and a big number (a placeholder of the same size while loading).
#[component]
pub fn MetricCard(
    /// What is counted ("Open").
    #[prop(into)]
    label: String,
    /// The count; `None` while loading.
    #[prop(into)]
    value: Signal<Option<u64>>,
    /// The card's `data-testid` (docs/api.md §2: `metric-open`, `metric-in-progress`…).
    testid: &'static str,
    /// The CSS class giving the card its accent colour, e.g. `status-open`.
    #[prop(optional)]
    tone: &'static str,
) -> impl IntoView {
    view! {
        <div
            class=format!("card metric {tone}")
            data-testid=testid
            aria-busy=move || value.get().is_none().to_string()
        >
            <span class="metric-label">{label}</span>
            <span class="metric-value">
                {move || match value.get() {
                    Some(n) => n.to_string().into_any(),
                    None => view! { <Skeleton width="3ch" height="1em" /> }.into_any(),
                }}
            </span>
        </div>
    }
}

/// A duration given in hours, as a person reads it: "45 min", "31.5 h", "3.2 days".
pub fn format_hours(hours: f64) -> String {
    if !hours.is_finite() || hours < 0.0 {
        return "—".to_owned();
    }
    if hours < 1.0 {
        format!("{:.0} min", (hours * 60.0).round())
    } else if hours < 48.0 {
        format!("{} h", one_decimal(hours))
    } else {
        format!("{} days", one_decimal(hours / 24.0))
    }
}

/// One decimal, without a trailing ".0": 31.5 → "31.5", 2.0 → "2".
fn one_decimal(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The mean time from opening a case to resolving it; "—" before any case was resolved.
#[component]
pub fn MeanTimeToResolveCard(
    /// Outer `None` while loading; inner `None` when no case has been resolved yet.
    #[prop(into)]
    hours: Signal<Option<Option<f64>>>,
) -> impl IntoView {
    view! {
        <div
            class="card metric metric-mttr"
            data-testid="metric-mean-time-to-resolve"
            aria-busy=move || hours.get().is_none().to_string()
        >
            <span class="metric-label">"Mean time to resolve"</span>
            <span class="metric-value">
                {move || match hours.get() {
                    None => view! { <Skeleton width="4ch" height="1em" /> }.into_any(),
                    Some(None) => view! {
                        <span title="No case has been resolved yet">"—"</span>
                    }
                    .into_any(),
                    Some(Some(h)) => view! {
                        <span title=format!("{h:.1} hours")>{format_hours(h)}</span>
                    }
                    .into_any(),
                }}
            </span>
        </div>
    }
}
