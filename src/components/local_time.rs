//! Times as the person reads them: in their own locale and time zone (`Intl.DateTimeFormat`
//! with no locale named, so the browser's), and relative to now ("3 minutes ago") where
//! that reads better, with the full date on hover.

use casedesk_model::Timestamp;
use js_sys::{Array, Date, Intl, Object, Reflect};
use leptos::prelude::*;
use std::time::Duration;
use wasm_bindgen::JsValue;

/// A formatter for the browser's locale with `options` (`Intl` option names and values).
fn date_format(options: &[(&str, &str)]) -> Intl::DateTimeFormat {
    let object = Object::new();
    for (name, value) in options {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    Intl::DateTimeFormat::new(&Array::new(), &object)
}

fn format_millis(format: &Intl::DateTimeFormat, millis: f64) -> String {
    let date = Date::new(&JsValue::from_f64(millis));
    format
        .format()
        .call1(&JsValue::UNDEFINED, &date)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_default()
}

thread_local! {
    // Building an Intl formatter costs far more than using one; lists format many dates.
    static DATE_TIME: Intl::DateTimeFormat =
        date_format(&[("dateStyle", "medium"), ("timeStyle", "short")]);
    static DAY: Intl::DateTimeFormat =
        date_format(&[("month", "short"), ("day", "numeric"), ("timeZone", "UTC")]);
    static RELATIVE: Intl::RelativeTimeFormat = {
        let options = Object::new();
        let _ = Reflect::set(&options, &JsValue::from_str("numeric"), &JsValue::from_str("auto"));
        Intl::RelativeTimeFormat::new(&Array::new(), &options)
    };
}

/// Date and time in the person's locale and zone: "21 Nov 2026, 10:00".
pub fn format_date_time(at: Timestamp) -> String {
    DATE_TIME.with(|format| format_millis(format, at.unix_millis() as f64))
}

/// A UTC calendar day (`2026-10-23`) as the person writes it, short: "23 Oct". Anything
/// that is not such a date is returned as it came.
pub fn format_day(date: &str) -> String {
    let mut parts = date.splitn(3, '-').map(str::parse::<u32>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return date.to_owned();
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return date.to_owned();
    }
    let millis =
        Date::utc(f64::from(year), f64::from(month - 1)) + f64::from(day - 1) * 86_400_000.0;
    DAY.with(|format| format_millis(format, millis))
}

/// How long ago (or ahead) `at` is from `now_millis`, in the person's language: "now",
/// "5 minutes ago", "yesterday". Past a month, the date itself reads better.
pub fn format_relative(at: Timestamp, now_millis: f64) -> String {
    let seconds = (at.unix_millis() as f64 - now_millis) / 1000.0;
    let magnitude = seconds.abs();
    let (value, unit) = if magnitude < 45.0 {
        (0.0, "second")
    } else if magnitude < 3_600.0 {
        ((seconds / 60.0).round(), "minute")
    } else if magnitude < 86_400.0 {
        ((seconds / 3_600.0).round(), "hour")
    } else if magnitude < 30.0 * 86_400.0 {
        ((seconds / 86_400.0).round(), "day")
    } else {
        return format_date_time(at);
    };
    RELATIVE.with(|format| String::from(format.format(value, unit)))
}

/// The browser's clock, in milliseconds since the epoch.
pub fn now_millis() -> f64 {
    Date::now()
}

/// The browser's clock as a signal that ticks every `every`, so "5 minutes ago" stays true
/// while a page stays open. The timer stops with the calling owner.
pub fn use_clock(every: Duration) -> ReadSignal<f64> {
    let (now, set_now) = signal(now_millis());
    if let Ok(handle) = set_interval_with_handle(move || set_now.set(now_millis()), every) {
        on_cleanup(move || handle.clear());
    }
    now
}

/// The clock every relative time on screen follows, shared so a list of fifty rows runs
/// one timer, not fifty.
#[derive(Clone, Copy)]
pub struct SharedClock(ReadSignal<f64>);

/// How often relative times ("5 minutes ago") are brought up to date.
const RELATIVE_TICK: Duration = Duration::from_secs(30);

/// Starts the shared clock for the calling owner's subtree (the layout calls it once).
pub fn provide_shared_clock() {
    provide_context(SharedClock(use_clock(RELATIVE_TICK)));
}

/// A `<time>` element with a machine-readable `datetime`, showing the time in the person's
/// locale (relative when asked, kept current) and the full local date and time on hover.
#[component]
pub fn LocalTime(
    /// The instant to show.
    at: Timestamp,
    /// Show "5 minutes ago" rather than the date and time.
    #[prop(optional)]
    relative: bool,
) -> impl IntoView {
    let full = format_date_time(at);
    let text = if relative {
        let now = use_context::<SharedClock>().map_or_else(|| use_clock(RELATIVE_TICK), |c| c.0);
        Signal::derive(move || format_relative(at, now.get()))
    } else {
        Signal::stored(full.clone())
    };
    view! {
        <time datetime=at.to_string() title=full>{text}</time>
    }
}
