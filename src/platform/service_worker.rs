//! Registers the app-shell service worker (`public/sw.js`) so the app opens with no network,
//! and moves an open page onto a newly deployed build.
//!
//! The worker's URL carries a build id made from the page's hashed asset names, so every
//! deploy installs a fresh worker whose cache replaces the previous shell. When a worker of
//! another build takes control of this page (a tab opened the new deploy, and its worker
//! claims every tab), this page is the old build: it reloads into the new one at the person's
//! next change of page, never in the middle of something. Nothing queued is at risk in the
//! reload: every action is in IndexedDB before the page moves on (the form navigates only once
//! `enqueue` committed), and an action cut off in flight is sent again under its idempotency
//! key.

use super::env::{Environment, WindowEvent, WindowEvents};
use leptos::prelude::*;
use leptos_router::hooks::use_location;
use std::cell::Cell;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

thread_local! {
    /// Whether a worker of another build controls this page: then the next page change
    /// loads the new build instead of routing inside the old one.
    static NEW_BUILD_TOOK_OVER: Cell<bool> = const { Cell::new(false) };
}

/// Where Trunk copies the worker (the site root, so its scope is the whole app).
const WORKER_PATH: &str = "/sw.js";

/// Registers the worker when the browser supports it (the app calls this only when its
/// configuration asks for the offline shell: `AppConfig::offline_shell`). Failures are only
/// logged: the app works without it, it just cannot open offline. `env` says when the
/// network is back or the tab shown again (when a deploy is looked for).
pub fn register_app_shell(env: &Environment) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false) {
        return;
    }
    let Some(document) = window.document() else {
        return;
    };
    let build = build_id(&document);
    let container = navigator.service_worker();
    watch_for_new_build(&container, build.clone());
    look_for_deploys(env.window(), &container, build.clone());
    register(&container, &build);
}

/// Registers the worker of `build` (the shell of that build is what it caches).
fn register(container: &web_sys::ServiceWorkerContainer, build: &str) {
    let promise = container.register(&format!("{WORKER_PATH}?v={build}"));
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = wasm_bindgen_futures::JsFuture::from(promise).await {
            web_sys::console::warn_2(
                &JsValue::from_str("casedesk: the offline app shell could not be installed:"),
                &error,
            );
        }
    });
}

/// When the network comes back or the person returns to the tab, asks which build the server
/// now serves; when it is another one, registers that build's worker. It precaches the new
/// build and takes over, so even a lone tab that is never reloaded moves to a deploy (through
/// [`watch_for_new_build`]), and the new build is ready offline before the tab needs it.
fn look_for_deploys(
    events: &WindowEvents,
    container: &web_sys::ServiceWorkerContainer,
    build: String,
) {
    let container = container.clone();
    let visible = events.clone();
    let subscription = events.subscribe(move |event| {
        let back = match event {
            WindowEvent::Online => visible.visible(),
            WindowEvent::Shown => true,
            WindowEvent::Offline | WindowEvent::Focused | WindowEvent::Hidden => false,
        };
        if !back {
            return;
        }
        let container = container.clone();
        let build = build.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Some(deployed) = deployed_build().await {
                if deployed != build {
                    register(&container, &deployed);
                }
            }
        });
    });
    // For the page's lifetime, like the app itself.
    std::mem::forget(subscription);
}

/// The build of the app the server serves now, if what it serves is the app at all (a
/// captive portal's page names no hashed build file). It asks for `/`, which the worker leaves
/// to the network (it answers navigations and `/index.html` only): this question is about the
/// server, and the cached shell would always say "this very build".
async fn deployed_build() -> Option<String> {
    let window = web_sys::window()?;
    let answer = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str("/"))
        .await
        .ok()?;
    let response: web_sys::Response = answer.dyn_into().ok()?;
    if response.status() != 200 {
        return None;
    }
    let text = wasm_bindgen_futures::JsFuture::from(response.text().ok()?)
        .await
        .ok()?
        .as_string()?;
    html_build_id(&text)
}

/// Notes when the controlling worker becomes one of another build than `build` (this page's).
/// The first worker of this very build taking control (first visit) is no news.
fn watch_for_new_build(container: &web_sys::ServiceWorkerContainer, build: String) {
    let target = container.clone();
    let on_change = Closure::<dyn Fn()>::new(move || {
        let version = controller_build(&target);
        if version.as_deref().is_some_and(|version| version != build) {
            NEW_BUILD_TOOK_OVER.with(|took_over| took_over.set(true));
        }
    });
    if container
        .add_event_listener_with_callback("controllerchange", on_change.as_ref().unchecked_ref())
        .is_ok()
    {
        // The page's lifetime: the listener is needed for as long as the app runs.
        on_change.forget();
    }
}

/// The build id (`?v=`) of the worker controlling this page, if any.
fn controller_build(container: &web_sys::ServiceWorkerContainer) -> Option<String> {
    // Read through `Reflect`: web-sys' `ServiceWorker` type is not worth a feature for one
    // string.
    let controller = js_sys::Reflect::get(container, &JsValue::from_str("controller")).ok()?;
    if controller.is_null() || controller.is_undefined() {
        return None;
    }
    let script = js_sys::Reflect::get(&controller, &JsValue::from_str("scriptURL"))
        .ok()?
        .as_string()?;
    let (_, query) = script.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("v="))
        .map(str::to_owned)
}

/// Reloads the page at the person's next change of page once a newer build's worker took
/// over ([`watch_for_new_build`]), so an open tab does not run the old build for ever. Call
/// inside the router.
pub fn reload_into_new_build_on_next_page() {
    let location = use_location();
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        let moved = previous.is_some_and(|previous| previous != path);
        if moved && NEW_BUILD_TOOK_OVER.with(Cell::get) {
            let mut target = path.clone();
            let search = location.search.get_untracked();
            if !search.is_empty() {
                target = format!("{target}?{search}");
            }
            let hash = location.hash.get_untracked();
            if !hash.is_empty() && !hash.starts_with('#') {
                target.push('#');
            }
            target.push_str(&hash);
            load_page(&target);
        }
        path
    });
}

/// Loads `target` (a path) from the server, as a whole new page.
fn load_page(target: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let address_bar = window.location();
    // The router changes the address bar only once the new route is resolved; a back or
    // forward step has already changed it. Either way `target` is the page the person asked
    // for, and history keeps one entry for it.
    let shown = address_bar.pathname().ok();
    let result = if shown.as_deref() == target.split(['?', '#']).next() {
        address_bar.replace(target)
    } else {
        address_bar.assign(target)
    };
    if let Err(error) = result {
        web_sys::console::warn_2(
            &JsValue::from_str("casedesk: could not load the new version:"),
            &error,
        );
    }
}

/// A short hash of every hashed asset the page references (Trunk names them
/// `name-<hash>.ext`): it changes exactly when a deploy changes any of them.
fn build_id(document: &web_sys::Document) -> String {
    let mut names = Vec::new();
    if let Ok(nodes) = document.query_selector_all("link[href], script[src]") {
        for i in 0..nodes.length() {
            let Some(element) = nodes
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
            else {
                continue;
            };
            let url = element
                .get_attribute("href")
                .or_else(|| element.get_attribute("src"))
                .unwrap_or_default();
            if is_hashed(&url) {
                names.push(url);
            }
        }
    }
    hash_names(names)
}

/// [`build_id`] of a page's HTML text (the same as `appBuild` in `public/sw.js`): the `href`
/// of each `<link>` and the `src` of each `<script>` that is hashed. `None` when there is none:
/// then the page is not the app.
fn html_build_id(html: &str) -> Option<String> {
    // ASCII lowercasing keeps every byte offset, so positions found in `lower` cut `html`.
    let lower = html.to_ascii_lowercase();
    let mut names = Vec::new();
    let mut rest = 0;
    while let Some(found) = lower.get(rest..).and_then(|tail| tail.find('<')) {
        let start = rest + found + 1;
        let tail = lower.get(start..).unwrap_or_default();
        let (name_len, attribute) = if tail.starts_with("link") {
            (4, "href")
        } else if tail.starts_with("script") {
            (6, "src")
        } else {
            rest = start;
            continue;
        };
        let after = start + name_len;
        let Some(end) = lower.get(after..).and_then(|tail| tail.find('>')) else {
            break;
        };
        let end = after + end;
        rest = end;
        // `<linked>` or `<scripts>` are other tags.
        if !lower
            .get(after..=after)
            .is_some_and(|c| c == ">" || c.trim().is_empty())
        {
            continue;
        }
        let (Some(attributes_lower), Some(attributes)) =
            (lower.get(after..end), html.get(after..end))
        else {
            continue;
        };
        if let Some(url) = attribute_value(attributes_lower, attributes, attribute) {
            if is_hashed(url) {
                names.push(url.to_owned());
            }
        }
    }
    (!names.is_empty()).then(|| hash_names(names))
}

/// The value of attribute `name` (lowercase) in a tag's attribute text, quoted or not.
fn attribute_value<'a>(lower: &str, original: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = lower.get(from..).and_then(|tail| tail.find(name)) {
        let at = from + found;
        from = at + name.len();
        let preceded = at == 0 || lower.get(at - 1..at).is_some_and(|c| c.trim().is_empty());
        let rest = lower.get(from..).unwrap_or_default().trim_start();
        if !preceded || !rest.starts_with('=') {
            continue;
        }
        let value_at = lower.len() - rest.len() + 1;
        let value = original.get(value_at..)?.trim_start();
        return match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value.get(1..)?.split(quote).next(),
            Some(_) => value.split(|c: char| c.is_whitespace() || c == '>').next(),
            None => None,
        };
    }
    None
}

/// The build id of a list of hashed names: sorted, joined by newlines, FNV-1a 64 in hex.
fn hash_names(mut names: Vec<String>) -> String {
    casedesk_core::sort::sort_by(&mut names, |a, b| a.cmp(b));
    // FNV-1a: tiny, and collisions between two deploys' asset lists do not happen in practice.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in names.join("\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `url`'s file name carries a content hash (`-` then at least 8 hex digits before
/// the extension, or before `_bg` for the wasm).
fn is_hashed(url: &str) -> bool {
    let file = url.rsplit('/').next().unwrap_or(url);
    let stem = file.split('.').next().unwrap_or(file);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit()))
}
