//! Charts drawn as SVG by our own components, with no JavaScript chart library.
//!
//! Every chart is an `<svg role="img">` whose `aria-label` states the numbers in one sentence,
//! followed by a visually hidden table of the same numbers for screen readers that browse
//! tables. Values are readable on hover and on keyboard focus (a readout line under the chart,
//! and a `<title>` tooltip per bar or day).
//!
//! The SVG's `viewBox` is the chart's rendered size in CSS pixels, measured and kept current on
//! resize, so text stays 12 px at 360 px and at 1440 px instead of scaling with the chart;
//! the height is fixed, so nothing below moves when data or width change.
//!
//! - [`bar_chart`]: one bar per category (cases by status, by priority).
//! - [`day_series`]: two daily series over a month (opened vs resolved).
//! - [`sparkline`]: a tiny trend line (queue depth over time).

pub mod bar_chart;
pub mod day_series;
pub mod sparkline;

use leptos::ev;
use leptos::html::Div;
use leptos::prelude::*;

/// Space around a chart's plot area for axis labels, in CSS pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Margins {
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
    pub left: f64,
}

/// The width a chart gets before it has been measured: roughly a half-width card on a laptop.
pub(crate) const FALLBACK_WIDTH: f64 = 480.0;

/// The rendered width of `node` in CSS pixels, kept current when the window resizes;
/// [`FALLBACK_WIDTH`] until the node is mounted.
pub(crate) fn use_measured_width(node: NodeRef<Div>) -> ReadSignal<f64> {
    let (width, set_width) = signal(FALLBACK_WIDTH);
    let measure = move || {
        if let Some(element) = node.get_untracked() {
            let measured = f64::from(element.client_width());
            // A detached or hidden element measures 0: keep the last good width.
            if measured > 0.0 && (measured - width.get_untracked()).abs() >= 1.0 {
                set_width.set(measured);
            }
        }
    };
    Effect::new(move |_| {
        if node.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());
    width
}

/// A "nice" value axis for counts from 0 to `max`: about four steps of 1, 2 or 5 × 10ⁿ.
/// Returns the axis top and the tick values, 0 first.
pub(crate) fn count_ticks(max: u64) -> (u64, Vec<u64>) {
    const TARGET_STEPS: u64 = 4;
    let mut magnitude: u64 = 1;
    let step = 'found: loop {
        for multiple in [1, 2, 5] {
            let step = multiple * magnitude;
            if step.saturating_mul(TARGET_STEPS) >= max {
                break 'found step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
    };
    let top = max.div_ceil(step).max(1) * step;
    let ticks = (0..=top / step).map(|i| i * step).collect();
    (top, ticks)
}

/// `value` as a y coordinate on an axis from 0 (at `bottom`) to `top` (at `bottom - height`).
pub(crate) fn scale_y(value: u64, top: u64, bottom: f64, height: f64) -> f64 {
    if top == 0 {
        return bottom;
    }
    bottom - (value as f64 / top as f64) * height
}

/// Rounds a coordinate to a tenth of a pixel, so the markup stays short.
pub(crate) fn px(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    format!("{rounded}")
}

/// `n` followed by `one` or `many`: "1 case", "3 cases".
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}
