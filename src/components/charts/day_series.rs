//! Two daily series over the same days as lines: cases opened and cases resolved per day.

use super::{count_ticks, plural, px, scale_y, use_measured_width, Margins};
use crate::components::local_time::format_day;
use crate::components::skeleton::Skeleton;
use casedesk_model::DayCount;
use leptos::ev::KeyboardEvent;
use leptos::html::Div;
use leptos::prelude::*;

/// One day of the chart: its date and both counts.
#[derive(Clone, Debug, PartialEq)]
struct Day {
    /// `2026-10-23`, a UTC day.
    date: String,
    /// The date as the person reads it ("23 Oct").
    label: String,
    opened: u64,
    resolved: u64,
}

/// Pairs the two series by position (the contract gives both the same days, oldest first);
/// a missing count reads as zero rather than shifting the days.
fn days(opened: &[DayCount], resolved: &[DayCount]) -> Vec<Day> {
    let len = opened.len().max(resolved.len());
    (0..len)
        .map(|i| {
            let date = opened
                .get(i)
                .or_else(|| resolved.get(i))
                .map(|d| d.date.clone())
                .unwrap_or_default();
            Day {
                label: format_day(&date),
                date,
                opened: opened.get(i).map_or(0, |d| d.count),
                resolved: resolved.get(i).map_or(0, |d| d.count),
            }
        })
        .collect()
}

/// The sentence a screen reader hears:
/// "Opened and resolved per day, 23 Oct to 21 Nov: 54 opened, 40 resolved; most opened on 3 Nov (7)".
fn summary(title: &str, days: &[Day]) -> String {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return format!("{title}: no data");
    };
    let opened: u64 = days.iter().map(|d| d.opened).sum();
    let resolved: u64 = days.iter().map(|d| d.resolved).sum();
    let mut text = format!(
        "{title}, {} to {}: {opened} opened, {resolved} resolved",
        first.label, last.label
    );
    // The latest of the busiest days, as the most relevant one.
    if let Some(busiest) = days
        .iter()
        .filter(|d| d.opened > 0)
        .max_by_key(|d| d.opened)
    {
        text.push_str(&format!(
            "; most opened on {} ({})",
            busiest.label, busiest.opened
        ));
    }
    text
}

fn readout_for(day: &Day) -> String {
    format!(
        "{}: {} opened, {} resolved",
        day.label,
        plural(day.opened, "case", "cases"),
        day.resolved
    )
}

const HEIGHT: f64 = 240.0;
const MARGINS: Margins = Margins {
    top: 12.0,
    right: 12.0,
    bottom: 28.0,
    left: 40.0,
};
/// Closest two date labels on the x axis may be, in CSS pixels.
const MIN_LABEL_GAP: f64 = 64.0;

/// Opened vs resolved per day as two lines (resolved dashed, so the two differ without
/// colour). Hover a day, or focus the plot and use the arrow keys (Home and End jump to the
/// ends), to read that day's numbers.
#[component]
pub fn DaySeriesChart(
    /// What the chart shows: its caption and the start of its `aria-label`.
    #[prop(into)]
    title: String,
    /// Cases opened per day, oldest first; `None` while loading.
    #[prop(into)]
    opened: Signal<Option<Vec<DayCount>>>,
    /// Cases resolved per day, the same days; `None` while loading.
    #[prop(into)]
    resolved: Signal<Option<Vec<DayCount>>>,
) -> impl IntoView {
    let canvas = NodeRef::<Div>::new();
    let width = use_measured_width(canvas);
    let days = Memo::new(move |_| match (opened.get(), resolved.get()) {
        (Some(opened), Some(resolved)) => Some(days(&opened, &resolved)),
        _ => None,
    });
    let active = RwSignal::new(None::<usize>);
    let focused = RwSignal::new(false);
    let title = StoredValue::new(title);
    let day_count = move || days.with(|d| d.as_ref().map_or(0, Vec::len));

    let on_keydown = move |ev: KeyboardEvent| {
        let len = day_count();
        if len == 0 {
            return;
        }
        let last = len - 1;
        let current = active.get_untracked().unwrap_or(last).min(last);
        let next = match ev.key().as_str() {
            "ArrowLeft" | "ArrowDown" => current.saturating_sub(1),
            "ArrowRight" | "ArrowUp" => (current + 1).min(last),
            "Home" => 0,
            "End" => last,
            _ => return,
        };
        ev.prevent_default();
        active.set(Some(next));
    };

    let readout = move || {
        days.with(|days| match days {
            None => "Loading…".to_owned(),
            Some(days) => match active.get().and_then(|i| days.get(i)) {
                Some(day) => readout_for(day),
                None => {
                    let opened: u64 = days.iter().map(|d| d.opened).sum();
                    let resolved: u64 = days.iter().map(|d| d.resolved).sum();
                    format!("{} days: {opened} opened, {resolved} resolved", days.len())
                }
            },
        })
    };

    let chart = move || {
        let Some(days) = days.get() else {
            return view! { <Skeleton height="240px" /> }.into_any();
        };
        let width = width.get();
        let summary = summary(&title.get_value(), &days);
        let max = days
            .iter()
            .map(|d| d.opened.max(d.resolved))
            .max()
            .unwrap_or(0);
        let (top, ticks) = count_ticks(max);
        let plot_width = (width - MARGINS.left - MARGINS.right).max(1.0);
        let plot_height = HEIGHT - MARGINS.top - MARGINS.bottom;
        let bottom = MARGINS.top + plot_height;
        let n = days.len();
        let step = if n > 1 {
            plot_width / (n - 1) as f64
        } else {
            0.0
        };
        let x_at = move |i: usize| {
            if n > 1 {
                MARGINS.left + step * i as f64
            } else {
                MARGINS.left + plot_width / 2.0
            }
        };
        let y_at = move |v: u64| scale_y(v, top, bottom, plot_height);
        let line = |pick: fn(&Day) -> u64| {
            days.iter()
                .enumerate()
                .map(|(i, d)| format!("{},{}", px(x_at(i)), px(y_at(pick(d)))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let opened_line = line(|d| d.opened);
        let resolved_line = line(|d| d.resolved);
        // Label every k-th day counting back from the newest, so today always has a label.
        let every = if step > 0.0 {
            (MIN_LABEL_GAP / step).ceil().max(1.0) as usize
        } else {
            1
        };
        let grid = ticks
            .iter()
            .map(|&tick| {
                let y = px(y_at(tick));
                view! {
                    <g class="chart-grid-line">
                        <line x1=px(MARGINS.left) x2=px(width - MARGINS.right) y1=y.clone() y2=y.clone() />
                        <text x=px(MARGINS.left - 6.0) y=y dy="0.32em" text-anchor="end">{tick}</text>
                    </g>
                }
            })
            .collect_view();
        let x_labels = days
            .iter()
            .enumerate()
            .filter(|(i, _)| (n - 1 - i) % every == 0)
            .map(|(i, d)| {
                view! {
                    <text class="chart-axis-label" x=px(x_at(i)) y=px(bottom + 18.0) text-anchor="middle">
                        {d.label.clone()}
                    </text>
                }
            })
            .collect_view();
        let hit_width = if n > 1 { step } else { plot_width };
        let hits = days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                view! {
                    <rect
                        class="chart-hit"
                        x=px(x_at(i) - hit_width / 2.0)
                        y=px(MARGINS.top)
                        width=px(hit_width)
                        height=px(plot_height)
                        data-date=d.date.clone()
                        on:mouseenter=move |_| active.set(Some(i))
                    >
                        <title>{readout_for(d)}</title>
                    </rect>
                }
            })
            .collect_view();
        let points = days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let x = px(x_at(i));
                view! {
                    <g class="chart-day" class:active=move || active.get() == Some(i)>
                        <circle class="series-opened" cx=x.clone() cy=px(y_at(d.opened)) r="3" />
                        <circle class="series-resolved" cx=x cy=px(y_at(d.resolved)) r="3" />
                    </g>
                }
            })
            .collect_view();
        let guide = move || {
            active.get().filter(|&i| i < n).map(|i| {
                let x = px(x_at(i));
                view! { <line class="chart-guide" x1=x.clone() x2=x y1=px(MARGINS.top) y2=px(bottom) /> }
            })
        };
        view! {
            <svg
                role="img"
                aria-label=summary
                width="100%"
                height=px(HEIGHT)
                viewBox=format!("0 0 {} {}", px(width), px(HEIGHT))
                class="chart-svg"
            >
                {grid}
                <line class="chart-axis" x1=px(MARGINS.left) x2=px(width - MARGINS.right) y1=px(bottom) y2=px(bottom) />
                {x_labels}
                {guide}
                <polyline class="series-line series-opened" points=opened_line />
                <polyline class="series-line series-resolved" points=resolved_line />
                {points}
                <g
                    class="chart-focus"
                    class:focused=move || focused.get()
                    tabindex="0"
                    on:focus=move |_| {
                        focused.set(true);
                        if active.get_untracked().is_none() && n > 0 {
                            active.set(Some(n - 1));
                        }
                    }
                    on:blur=move |_| {
                        focused.set(false);
                        active.set(None);
                    }
                    on:keydown=on_keydown
                    on:mouseleave=move |_| {
                        if !focused.get_untracked() {
                            active.set(None);
                        }
                    }
                >
                    <rect
                        class="chart-focus-ring"
                        x=px(MARGINS.left - 4.0)
                        y=px(MARGINS.top - 4.0)
                        width=px(plot_width + 8.0)
                        height=px(plot_height + 8.0)
                        rx="4"
                    />
                    {hits}
                </g>
            </svg>
        }
        .into_any()
    };

    let table = move || {
        days.get().map(|days| {
            let rows = days
                .into_iter()
                .map(|d| {
                    view! {
                        <tr><th scope="row">{d.label}</th><td>{d.opened}</td><td>{d.resolved}</td></tr>
                    }
                })
                .collect_view();
            view! {
                // A table ignores a 1 px height; the wrapper clips it.
                <div class="visually-hidden">
                    <table class="chart-data">
                        <caption>{title.get_value()}</caption>
                        <thead>
                            <tr><th scope="col">"Day"</th><th scope="col">"Opened"</th><th scope="col">"Resolved"</th></tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
        })
    };

    view! {
        <figure class="card chart wide">
            <figcaption class="chart-title">{title.get_value()}</figcaption>
            <ul class="chart-legend" aria-hidden="true">
                <li><span class="legend-swatch series-opened"></span>"Opened"</li>
                <li><span class="legend-swatch series-resolved"></span>"Resolved"</li>
            </ul>
            <div class="chart-canvas" node_ref=canvas>{chart}</div>
            <p class="chart-readout" aria-live="polite">{readout}</p>
            {table}
        </figure>
    }
}
