//! Saving text the app made as a file on the person's device: a Blob behind a temporary
//! object URL, clicked as a download link.

use leptos::prelude::{document, set_timeout_with_handle};
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};

/// Offers `text` as a download named `name`, of media type `mime`. The error says in words
/// why the browser refused.
pub fn save_text_file(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let describe = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| "the browser refused to save the file".to_owned())
    };
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(describe)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(describe)?;
    let anchor: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(describe)?
        .dyn_into()
        .map_err(|_| "no anchor element".to_owned())?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // The browser has taken the file once the click is handled; the URL can go.
    let _ = set_timeout_with_handle(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        Duration::from_secs(1),
    );
    Ok(())
}
