//! Mounting views in browser tests and acting on them as a person would: each view goes into
//! its own element under its own reactive owner, is disposed when dropped, and whatever a
//! failed test left behind is disposed before the next whole app mounts.

use casedesk::platform::env::Environment;
use js_sys::{Array, Function, Object, Reflect};
use leptos::prelude::*;
use leptos::task::tick;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, HtmlElement};

/// A mounted view's owner, element and mount handle.
type Mount = (Owner, Element, Box<dyn std::any::Any>);

thread_local! {
    // A failed test never drops what it mounted (a wasm panic does not unwind), and a left-over
    // app's router would go on handling the next test's clicks and history: every mount is
    // recorded here so that `mount_app_at` can dispose of what a failed test left.
    static MOUNTED: RefCell<Vec<Mount>> = const { RefCell::new(Vec::new()) };
}

/// Disposes the mount in `host`, or every mount with `None`: the handle first, then the owner
/// (running cleanups: unobserving queries, the router's listeners, sockets), then the element.
fn dispose(host: Option<&Element>) {
    let gone: Vec<Mount> = MOUNTED.with(|m| {
        let mut mounted = m.borrow_mut();
        let (gone, kept) = mounted
            .drain(..)
            .partition(|(_, h, _)| host.is_none_or(|host| h == host));
        *mounted = kept;
        gone
    });
    for (owner, host, handle) in gone {
        drop(handle);
        owner.cleanup();
        host.remove();
    }
}

/// A view mounted into its own element; dropping it disposes the view and its owner.
pub struct Mounted {
    pub host: Element,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        dispose(Some(&self.host));
    }
}

/// Loads the app's stylesheet once, so sizes and visibility in tests are the real ones.
pub fn use_app_stylesheet() {
    let document = document();
    if document.get_element_by_id("app-css").is_none() {
        let style = document.create_element("style").unwrap();
        style.set_id("app-css");
        style.set_text_content(Some(include_str!("../../style/main.css")));
        document.head().unwrap().append_child(&style).unwrap();
    }
}

/// Mounts `view` into a new element (given `style`, if any) under a new owner.
pub fn mount_view<V: IntoView + 'static>(
    style: Option<&str>,
    view: impl FnOnce() -> V + 'static,
) -> Mounted {
    let host = document().create_element("div").unwrap();
    if let Some(style) = style {
        host.set_attribute("style", style).unwrap();
    }
    document().body().unwrap().append_child(&host).unwrap();
    let owner = Owner::new();
    let handle = owner.with(|| mount_to(host.clone().unchecked_into::<HtmlElement>(), view));
    MOUNTED.with(|m| m.borrow_mut().push((owner, host.clone(), Box::new(handle))));
    Mounted { host }
}

/// Mounts `build` under a new owner with `env` in context (the query client and the queue
/// take their clock, randomness and window events from it); returns what it built.
pub fn mount_in_env<R: 'static>(
    env: Environment,
    build: impl FnOnce(Environment) -> R + 'static,
) -> (Mounted, R) {
    let out: Rc<RefCell<Option<R>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let mounted = mount_view(None, move || {
        casedesk::platform::env::provide_environment(env.clone());
        *slot.borrow_mut() = Some(build(env));
    });
    let built = out.borrow_mut().take().expect("the build ran when mounted");
    (mounted, built)
}

/// Puts the browser at `path` and mounts a whole app there, after disposing anything a
/// failed test left mounted; waits for the first render.
pub async fn mount_app_at<V: IntoView + 'static>(
    path: &str,
    app: impl FnOnce() -> V + 'static,
) -> Mounted {
    dispose(None);
    window()
        .history()
        .unwrap()
        .replace_state_with_url(&JsValue::NULL, "", Some(path))
        .unwrap();
    use_app_stylesheet();
    let mounted = mount_view(None, app);
    tick().await;
    mounted
}

/// Lets effects and the DOM catch up.
pub async fn settle() {
    tick().await;
    gloo_timers::future::TimeoutFuture::new(0).await;
    tick().await;
}

impl Mounted {
    pub fn query(&self, selector: &str) -> Option<Element> {
        self.host.query_selector(selector).unwrap()
    }

    pub fn find(&self, selector: &str) -> Element {
        self.query(selector)
            .unwrap_or_else(|| panic!("nothing matches {selector}"))
    }

    pub fn exists(&self, selector: &str) -> bool {
        self.query(selector).is_some()
    }

    pub fn all(&self, selector: &str) -> Vec<Element> {
        let list = self.host.query_selector_all(selector).unwrap();
        (0..list.length())
            .map(|i| list.item(i).unwrap().unchecked_into())
            .collect()
    }

    /// The text of the first match, or "" when nothing matches (yet).
    pub fn text(&self, selector: &str) -> String {
        self.query(selector)
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    }

    fn named(&self, tag: &str, name: &str) -> Option<HtmlElement> {
        self.all(tag)
            .into_iter()
            .find(|e| e.text_content().unwrap_or_default().trim() == name)
            .map(JsCast::unchecked_into)
    }

    /// The button whose text is `name`.
    pub fn button(&self, name: &str) -> Option<HtmlElement> {
        self.named("button", name)
    }

    /// The link whose text is `name`.
    pub fn link(&self, name: &str) -> Option<HtmlElement> {
        self.named("a", name)
    }

    /// The control a `<label>` with exactly this text names.
    pub fn labelled(&self, label: &str) -> Element {
        let label_el = self
            .named("label", label)
            .unwrap_or_else(|| panic!("no label {label}"));
        let id = label_el.get_attribute("for").unwrap();
        self.find(&format!("#{id}"))
    }
}

/// Dispatches a DOM event built with `constructor` (bubbling, like a real one) with extra
/// `fields`.
pub fn fire_with(target: &Element, constructor: &str, kind: &str, fields: &[(&str, JsValue)]) {
    let ctor: Function = Reflect::get(&window(), &JsValue::from_str(constructor))
        .unwrap()
        .unchecked_into();
    let init = Object::new();
    Reflect::set(&init, &"bubbles".into(), &JsValue::TRUE).unwrap();
    for (name, value) in fields {
        Reflect::set(&init, &JsValue::from_str(name), value).unwrap();
    }
    let event = Reflect::construct(&ctor, &Array::of2(&JsValue::from_str(kind), &init)).unwrap();
    target
        .dispatch_event(event.unchecked_ref::<web_sys::Event>())
        .unwrap();
}

/// Dispatches a plain bubbling event, as the browser does for a person's input.
pub fn fire(target: &Element, kind: &str) {
    fire_with(target, "Event", kind, &[]);
}

/// Types `text` into an input or textarea as a person would (value, then an `input` event).
pub fn type_into(target: &Element, text: &str) {
    Reflect::set(target, &"value".into(), &JsValue::from_str(text)).unwrap();
    fire(target, "input");
}
