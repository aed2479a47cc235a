//! Placeholders shaped like the content they stand for, so the page does not jump when data
//! arrives. Hidden from screen readers: the region around them says it is busy instead.

use leptos::prelude::*;

/// A shimmering block of the given size.
#[component]
pub fn Skeleton(
    /// CSS width, e.g. `"60%"` or `"4rem"`.
    #[prop(default = "100%")]
    width: &'static str,
    /// CSS height, e.g. `"1em"` or `"220px"`.
    #[prop(default = "1em")]
    height: &'static str,
) -> impl IntoView {
    view! {
        <span
            class="skeleton"
            aria-hidden="true"
            style=format!("width: {width}; height: {height};")
        ></span>
    }
}
