//! A `BroadcastChannel` carrying text: every other channel of the same name on this origin
//! (other tabs, or other instances in this page) receives what one posts; the poster does not.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Why the channel could not be opened or used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the browser refused the broadcast channel: {0}")]
pub struct ChannelError(String);

/// An open channel; closed on drop.
pub struct Channel {
    channel: web_sys::BroadcastChannel,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Channel {
    /// Opens channel `name`; `on_message` gets each text message another channel posts.
    /// Messages that are not text are ignored: only this module posts on our channels.
    pub fn open(
        name: &str,
        mut on_message: impl FnMut(String) + 'static,
    ) -> Result<Self, ChannelError> {
        let channel =
            web_sys::BroadcastChannel::new(name).map_err(|e| ChannelError(describe(&e)))?;
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
            move |event: web_sys::MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    on_message(text);
                }
            },
        );
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Ok(Self {
            channel,
            _on_message: on_message,
        })
    }

    /// Sends `text` to every other channel of this name.
    pub fn post(&self, text: &str) -> Result<(), ChannelError> {
        self.channel
            .post_message(&JsValue::from_str(text))
            .map_err(|e| ChannelError(describe(&e)))
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}
