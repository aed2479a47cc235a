//! The keyboard shortcuts (`/`, `c`, `g d`/`g c`/`g s`, `j`/`k`, `?`): one window listener
//! that feeds key presses to `casedesk_core::shortcut` and carries out what it decides, the
//! list of shortcuts as a dialog, and a polite live region that says where `j`/`k` went.

use crate::platform::clock::now;
use casedesk_core::shortcut::{KeyPress, Shortcut, ShortcutReader};
use leptos::ev;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_location, use_navigate};
use wasm_bindgen::JsCast;

/// What a shortcut does, in words, for the list of shortcuts.
fn describe(shortcut: Shortcut) -> &'static str {
    match shortcut {
        Shortcut::FocusSearch => "Search cases",
        Shortcut::NewCase => "New case",
        Shortcut::GoDashboard => "Go to the dashboard",
        Shortcut::GoCases => "Go to the cases",
        Shortcut::GoSync => "Go to Sync",
        Shortcut::NextCase => "Next case in the list",
        Shortcut::PreviousCase => "Previous case in the list",
        Shortcut::ShowHelp => "Show these shortcuts",
    }
}

/// Whether the key event happened while typing: in a text field, a select or an editable
/// element, where every key is the person's text.
fn typing_in(target: Option<web_sys::EventTarget>) -> bool {
    let Some(element) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
        return false;
    };
    matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        || element.is_content_editable()
}

/// The case links of the list on screen, in order.
fn case_links() -> Vec<web_sys::HtmlElement> {
    let Ok(nodes) = document().query_selector_all("[data-testid='case-row'] a.case-link") else {
        return Vec::new();
    };
    (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .filter_map(|node| node.dyn_into::<web_sys::HtmlElement>().ok())
        .collect()
}

/// Focuses the case search, once the case list has rendered it (after a navigation, a few
/// frames later).
fn focus_search_when_shown() {
    spawn_local(async move {
        for _ in 0..50 {
            if let Some(search) = document()
                .get_element_by_id("case-search")
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = search.focus();
                return;
            }
            gloo_timers::future::TimeoutFuture::new(20).await;
        }
    });
}

/// Listens for shortcuts on every page; renders the list of them when asked (`?`) and the
/// announcements of where the focus went.
#[component]
pub fn KeyboardShortcuts() -> impl IntoView {
    let navigate = use_navigate();
    let location = use_location();
    let help_open = RwSignal::new(false);
    let announcement = RwSignal::new(String::new());
    let reader = StoredValue::new(ShortcutReader::default());

    let move_in_list = move |step: isize| {
        let links = case_links();
        if links.is_empty() {
            announcement.set("No case list on this page.".to_owned());
            return;
        }
        let active = document().active_element();
        let current = links.iter().position(|link| {
            active
                .as_ref()
                .is_some_and(|a| a == link.unchecked_ref::<web_sys::Element>())
        });
        let last = links.len() - 1;
        let next = match current {
            None => 0,
            Some(i) => i.saturating_add_signed(step).min(last),
        };
        if let Some(link) = links.get(next) {
            let _ = link.focus();
            let title = link.text_content().unwrap_or_default();
            announcement.set(format!(
                "Case {} of {}: {}",
                next + 1,
                links.len(),
                title.trim()
            ));
        }
    };

    let on_key = window_event_listener(ev::keydown, move |event: web_sys::KeyboardEvent| {
        if event.default_prevented() {
            return;
        }
        let key = event.key();
        if help_open.get_untracked() && key == "Escape" {
            help_open.set(false);
            return;
        }
        let press = KeyPress {
            key: &key,
            with_modifier: event.ctrl_key() || event.meta_key() || event.alt_key(),
            in_field: typing_in(event.target()),
            at: now(),
        };
        let Some(shortcut) = reader.try_update_value(|r| r.read(press)).flatten() else {
            return;
        };
        event.prevent_default();
        let on_cases = location.pathname.get_untracked() == "/cases";
        match shortcut {
            Shortcut::FocusSearch => {
                if !on_cases {
                    navigate("/cases", Default::default());
                }
                focus_search_when_shown();
            }
            Shortcut::NewCase => navigate("/cases/new", Default::default()),
            Shortcut::GoDashboard => navigate("/", Default::default()),
            Shortcut::GoCases => navigate("/cases", Default::default()),
            Shortcut::GoSync => navigate("/sync", Default::default()),
            Shortcut::NextCase => move_in_list(1),
            Shortcut::PreviousCase => move_in_list(-1),
            Shortcut::ShowHelp => help_open.update(|open| *open = !*open),
        }
    });
    on_cleanup(move || on_key.remove());

    view! {
        <span class="visually-hidden" role="status" aria-live="polite">
            {move || announcement.get()}
        </span>
        <Show when=move || help_open.get()>
            <ShortcutHelp close=Callback::new(move |()| help_open.set(false)) />
        </Show>
    }
}

/// The list of shortcuts, as a dialog that takes the focus and gives it back when closed.
#[component]
fn ShortcutHelp(
    /// Closes the dialog.
    close: Callback<()>,
) -> impl IntoView {
    let close_button = NodeRef::<leptos::html::Button>::new();
    let previous_focus = document().active_element();
    Effect::new(move |_| {
        if let Some(button) = close_button.get() {
            let _ = button.focus();
        }
    });
    on_cleanup(move || {
        if let Some(element) =
            previous_focus.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    });
    view! {
        <div class="dialog-backdrop">
            <div
                class="dialog card shortcut-help"
                role="dialog"
                aria-modal="true"
                aria-labelledby="shortcut-help-title"
            >
                <h2 id="shortcut-help-title">"Keyboard shortcuts"</h2>
                <dl class="shortcut-list">
                    {Shortcut::ALL
                        .into_iter()
                        .map(|shortcut| {
                            view! {
                                <div class="shortcut-row">
                                    <dt>
                                        {shortcut
                                            .keys()
                                            .split(' ')
                                            .map(|key| view! { <kbd>{key}</kbd> })
                                            .collect_view()}
                                    </dt>
                                    <dd>{describe(shortcut)}</dd>
                                </div>
                            }
                        })
                        .collect_view()}
                </dl>
                <p class="hint">"Shortcuts do nothing while you type in a field."</p>
                <button
                    type="button"
                    class="button"
                    node_ref=close_button
                    on:click=move |_| close.run(())
                >
                    "Close"
                </button>
            </div>
        </div>
    }
}
