//! A word-sized trend line with no axes, e.g. the queue's depth over the last minutes.

use super::px;
use leptos::prelude::*;

const WIDTH: f64 = 160.0;
const HEIGHT: f64 = 36.0;
/// Room for the stroke and the end dot at the edges.
const PAD: f64 = 3.0;

/// The sentence a screen reader hears: "Queue depth: now 3, peak 7, over 20 samples".
pub fn sparkline_summary(label: &str, values: &[u64]) -> String {
    match values.last() {
        None => format!("{label}: no samples yet"),
        Some(now) => {
            let peak = values.iter().copied().max().unwrap_or(0);
            format!(
                "{label}: now {now}, peak {peak}, over {} samples",
                values.len()
            )
        }
    }
}

/// A small line of `values` (oldest first) scaled to its own peak, the latest value marked.
#[component]
pub fn Sparkline(
    /// What the values are ("Queue depth"): the start of the `aria-label`.
    #[prop(into)]
    label: String,
    /// The samples, oldest first.
    #[prop(into)]
    values: Signal<Vec<u64>>,
) -> impl IntoView {
    let label = StoredValue::new(label);
    move || {
        let values = values.get();
        let summary = sparkline_summary(&label.get_value(), &values);
        let tooltip = summary.clone();
        let peak = values.iter().copied().max().unwrap_or(0).max(1);
        let n = values.len();
        let x_at = |i: usize| {
            if n > 1 {
                PAD + (WIDTH - 2.0 * PAD) * i as f64 / (n - 1) as f64
            } else {
                WIDTH - PAD
            }
        };
        let y_at = |v: u64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * v as f64 / peak as f64;
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &v)| format!("{},{}", px(x_at(i)), px(y_at(v))))
            .collect::<Vec<_>>()
            .join(" ");
        let end = values
            .last()
            .map(|&v| view! { <circle class="sparkline-end" cx=px(x_at(n - 1)) cy=px(y_at(v)) r="2.5" /> });
        view! {
            <svg
                class="sparkline"
                role="img"
                aria-label=summary
                width=px(WIDTH)
                height=px(HEIGHT)
                viewBox=format!("0 0 {} {}", px(WIDTH), px(HEIGHT))
            >
                <title>{tooltip}</title>
                <line class="sparkline-base" x1="0" x2=px(WIDTH) y1=px(HEIGHT - PAD) y2=px(HEIGHT - PAD) />
                <polyline class="sparkline-line" points=points />
                {end}
            </svg>
        }
    }
}
