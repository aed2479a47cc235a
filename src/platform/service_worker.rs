//! Registers the app-shell service worker (`public/sw.js`) so the app opens with no network.
//! The worker's URL carries a build id made from the page's hashed asset names, so every
//! deploy installs a fresh worker whose cache replaces the previous shell.

use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;

/// Where Trunk copies the worker (the site root, so its scope is the whole app).
const WORKER_PATH: &str = "/sw.js";

/// Registers the worker when the browser supports it and this page is the built app (not
/// the wasm test runner, whose origin must not get a worker). Failures are only logged: the
/// app works without it, it just cannot open offline.
pub fn register_app_shell() {
    let Some(window) = web_sys::window() else {
        return;
    };
    // wasm-bindgen-test's runner page defines this; the built app never does.
    if js_sys::Reflect::has(&window, &JsValue::from_str("__wbg_test_invoke")).unwrap_or(true) {
        return;
    }
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &JsValue::from_str("serviceWorker")).unwrap_or(false) {
        return;
    }
    let Some(document) = window.document() else {
        return;
    };
    let url = format!("{WORKER_PATH}?v={}", build_id(&document));
    let promise = navigator.service_worker().register(&url);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(error) = wasm_bindgen_futures::JsFuture::from(promise).await {
            web_sys::console::warn_2(
                &JsValue::from_str("casedesk: the offline app shell could not be installed:"),
                &error,
            );
        }
    });
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
    names.sort();
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
