//! A vertical bar chart: one bar per category, its value written above it.

use super::{count_ticks, plural, px, scale_y, use_measured_width, Margins};
use crate::components::skeleton::Skeleton;
use leptos::html::Div;
use leptos::prelude::*;

/// One category of a bar chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// The CSS class that colours the bar, e.g. `status-open` or `priority-high`.
    pub tone: &'static str,
    /// What a person reads under the bar: "In progress".
    pub label: String,
    pub value: u64,
}

/// The sentence a screen reader hears for the chart:
/// "Cases by status: 12 open, 5 in progress, 30 resolved, 80 closed".
pub fn bar_summary(title: &str, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return format!("{title}: no data");
    }
    let parts: Vec<String> = bars
        .iter()
        .map(|bar| format!("{} {}", bar.value, bar.label.to_lowercase()))
        .collect();
    format!("{title}: {}", parts.join(", "))
}

/// The chart's height in CSS pixels; fixed so the page never moves when data arrives.
const HEIGHT: f64 = 220.0;
const MARGINS: Margins = Margins {
    top: 22.0,
    right: 8.0,
    bottom: 28.0,
    left: 40.0,
};
/// Widest a bar gets, so four bars on a wide screen still read as bars, not blocks.
const MAX_BAR_WIDTH: f64 = 72.0;

/// Where each piece goes for a given width.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    width: f64,
    top: u64,
    ticks: Vec<u64>,
    plot_bottom: f64,
    plot_height: f64,
    bars: Vec<PlacedBar>,
}

#[derive(Clone, Debug, PartialEq)]
struct PlacedBar {
    bar: Bar,
    /// Centre of the bar's band.
    center: f64,
    band: f64,
    bar_width: f64,
    y: f64,
}

fn layout(width: f64, bars: &[Bar]) -> Layout {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0);
    let (top, ticks) = count_ticks(max);
    let plot_width = (width - MARGINS.left - MARGINS.right).max(1.0);
    let plot_height = HEIGHT - MARGINS.top - MARGINS.bottom;
    let plot_bottom = MARGINS.top + plot_height;
    let band = plot_width / bars.len().max(1) as f64;
    let bar_width = (band * 0.6).min(MAX_BAR_WIDTH);
    let bars = bars
        .iter()
        .enumerate()
        .map(|(i, bar)| PlacedBar {
            bar: bar.clone(),
            center: MARGINS.left + band * (i as f64 + 0.5),
            band,
            bar_width,
            y: scale_y(bar.value, top, plot_bottom, plot_height),
        })
        .collect();
    Layout {
        width,
        top,
        ticks,
        plot_bottom,
        plot_height,
        bars,
    }
}

/// A bar chart with a value axis, a label under each bar and its value above it. Hovering or
/// focusing a bar (Tab moves from bar to bar) shows its value and share in the readout line.
#[component]
pub fn BarChart(
    /// What the chart shows ("Cases by status"): its caption and the start of its `aria-label`.
    #[prop(into)]
    title: String,
    /// The bars, in order; `None` while loading, when a placeholder of the same size shows.
    #[prop(into)]
    bars: Signal<Option<Vec<Bar>>>,
) -> impl IntoView {
    let canvas = NodeRef::<Div>::new();
    let width = use_measured_width(canvas);
    // Only real changes redraw: a refetch that brings the same numbers leaves the DOM (and
    // the keyboard focus on a bar) alone.
    let bars = Memo::new(move |_| bars.get());
    let active = RwSignal::new(None::<usize>);
    let title = StoredValue::new(title);

    let readout = move || {
        bars.with(|bars| {
            let Some(bars) = bars else {
                return "Loading…".to_owned();
            };
            let total: u64 = bars.iter().map(|b| b.value).sum();
            match active.get().and_then(|i| bars.get(i)) {
                Some(bar) => {
                    let share = if total == 0 {
                        0.0
                    } else {
                        bar.value as f64 * 100.0 / total as f64
                    };
                    format!(
                        "{}: {} ({share:.0} %)",
                        bar.label,
                        plural(bar.value, "case", "cases")
                    )
                }
                None => format!("Total: {}", plural(total, "case", "cases")),
            }
        })
    };

    let chart = move || {
        let Some(data) = bars.get() else {
            return view! { <Skeleton height="220px" /> }.into_any();
        };
        let summary = bar_summary(&title.get_value(), &data);
        let layout = layout(width.get(), &data);
        let view_box = format!("0 0 {} {}", px(layout.width), px(HEIGHT));
        let plot_bottom = layout.plot_bottom;
        let grid = layout
            .ticks
            .iter()
            .map(|&tick| {
                let y = px(scale_y(tick, layout.top, plot_bottom, layout.plot_height));
                view! {
                    <g class="chart-grid-line">
                        <line x1=px(MARGINS.left) x2=px(layout.width - MARGINS.right) y1=y.clone() y2=y.clone() />
                        <text x=px(MARGINS.left - 6.0) y=y dy="0.32em" text-anchor="end">{tick}</text>
                    </g>
                }
            })
            .collect_view();
        let placed = layout
            .bars
            .iter()
            .enumerate()
            .map(|(i, placed)| {
                let bar = &placed.bar;
                let height = (plot_bottom - placed.y).max(0.0);
                let tip = format!("{}: {}", bar.label, bar.value);
                view! {
                    <g
                        class=format!("chart-bar {}", bar.tone)
                        class:active=move || active.get() == Some(i)
                        tabindex="0"
                        data-label=bar.label.clone()
                        data-value=bar.value
                        on:mouseenter=move |_| active.set(Some(i))
                        on:mouseleave=move |_| active.set(None)
                        on:focus=move |_| active.set(Some(i))
                        on:blur=move |_| active.set(None)
                    >
                        <title>{tip}</title>
                        // The whole band answers the pointer, so short bars are easy to hover.
                        <rect
                            class="chart-hit"
                            x=px(placed.center - placed.band / 2.0)
                            y=px(MARGINS.top)
                            width=px(placed.band)
                            height=px(layout.plot_height)
                        />
                        <rect
                            class="chart-bar-rect"
                            x=px(placed.center - placed.bar_width / 2.0)
                            y=px(placed.y)
                            width=px(placed.bar_width)
                            height=px(height)
                            rx="3"
                        />
                        <text class="chart-value" x=px(placed.center) y=px(placed.y - 6.0) text-anchor="middle">
                            {bar.value}
                        </text>
                        <text class="chart-axis-label" x=px(placed.center) y=px(plot_bottom + 18.0) text-anchor="middle">
                            {bar.label.clone()}
                        </text>
                    </g>
                }
            })
            .collect_view();
        view! {
            <svg
                role="img"
                aria-label=summary
                width="100%"
                height=px(HEIGHT)
                viewBox=view_box
                class="chart-svg"
            >
                {grid}
                <line
                    class="chart-axis"
                    x1=px(MARGINS.left)
                    x2=px(layout.width - MARGINS.right)
                    y1=px(plot_bottom)
                    y2=px(plot_bottom)
                />
                {placed}
            </svg>
        }
        .into_any()
    };

    let table = move || {
        bars.get().map(|data| {
            let rows = data
                .into_iter()
                .map(|bar| view! { <tr><th scope="row">{bar.label}</th><td>{bar.value}</td></tr> })
                .collect_view();
            view! {
                // A table ignores a 1 px height; the wrapper clips it.
                <div class="visually-hidden">
                    <table class="chart-data">
                        <caption>{title.get_value()}</caption>
                        <thead><tr><th scope="col">"Category"</th><th scope="col">"Cases"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
            }
        })
    };

    view! {
        <figure class="card chart">
            <figcaption class="chart-title">{title.get_value()}</figcaption>
            <div class="chart-canvas" node_ref=canvas>{chart}</div>
            <p class="chart-readout" aria-live="polite">{readout}</p>
            {table}
        </figure>
    }
}
