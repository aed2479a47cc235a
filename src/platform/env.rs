//! The app's environment, built once and handed to the query client and the queue: the
//! clock with its timers, random numbers, and the one source of online, focus and visibility.
//! The browser's in the app; a manual one in tests, whose time moves only when told.

use super::clock::{self, BrowserRandom};
use super::events::EventListener;
use casedesk_core::{Clock, DurationMs, Millis, Random, SeededRandom};
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// Everything the glue reads from the world outside it. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct Environment {
    time: Rc<dyn Time>,
    random: SharedRandom,
    window: WindowEvents,
}

impl Environment {
    /// The browser's clock, timers, `Math.random` and window events. Every call in one page
    /// shares one set of window listeners.
    pub fn browser() -> Self {
        Self {
            time: Rc::new(BrowserTime),
            random: SharedRandom::new(BrowserRandom),
            window: WindowEvents::browser(),
        }
    }

    /// An environment for tests: time starts at `clock`'s reading and moves only when the
    /// test advances it (timers fire then, in order), random numbers are seeded, and window
    /// events happen only when the test emits them through `window`.
    pub fn manual(clock: ManualClock, window: WindowEvents) -> Self {
        Self {
            time: Rc::new(clock),
            random: SharedRandom::new(SeededRandom::new(1)),
            window,
        }
    }

    /// The current time.
    pub fn now(&self) -> Millis {
        self.time.now()
    }

    /// Calls `callback` once `delay` has passed, unless the returned timer is dropped first.
    pub fn timeout(&self, delay: DurationMs, callback: impl FnOnce() + 'static) -> Timer {
        self.time.timeout(delay, Box::new(callback))
    }

    /// Calls `callback` at `at` (at once, on the next turn, when `at` has passed).
    pub fn timeout_at(&self, at: Millis, callback: impl FnOnce() + 'static) -> Timer {
        self.timeout(at.since(self.now()), callback)
    }

    /// Resolves once `delay` has passed on this environment's clock (for a test's clock:
    /// once the test has moved it that far).
    pub fn sleep(&self, delay: DurationMs) -> Sleep {
        let (done, wait) = futures::channel::oneshot::channel();
        let timer = self.timeout(delay, move || {
            let _ = done.send(());
        });
        Sleep {
            _timer: timer,
            wait,
        }
    }

    /// The random numbers jitter is drawn from (one stream, shared by all its users).
    pub fn random(&self) -> SharedRandom {
        self.random.clone()
    }

    /// Online, focus and visibility.
    pub fn window(&self) -> &WindowEvents {
        &self.window
    }
}

impl Clock for Environment {
    fn now(&self) -> Millis {
        self.time.now()
    }
}

/// A clock that can also wake someone up later.
pub trait Time: Clock {
    /// Calls `callback` once `delay` has passed, unless the returned timer is dropped first.
    fn timeout(&self, delay: DurationMs, callback: Box<dyn FnOnce()>) -> Timer;
}

/// A pending timeout; dropping it cancels the call.
pub struct Timer(TimerKind);

enum TimerKind {
    // Held only for its `Drop`, which clears the browser's timeout.
    Browser(#[allow(dead_code)] gloo_timers::callback::Timeout),
    Manual { clock: Weak<ManualState>, id: u64 },
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let TimerKind::Manual { clock, id } = &self.0 {
            if let Some(state) = clock.upgrade() {
                if let Ok(mut pending) = state.pending.try_borrow_mut() {
                    pending.retain(|timer| timer.id != *id);
                }
            }
        }
    }
}

/// The future of [`Environment::sleep`]; dropping it cancels the timer.
pub struct Sleep {
    _timer: Timer,
    wait: futures::channel::oneshot::Receiver<()>,
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // A cancelled sender (never, while the timer is held) also ends the sleep.
        std::pin::Pin::new(&mut self.wait).poll(cx).map(|_| ())
    }
}

/// `Date.now()` and `setTimeout`.
struct BrowserTime;

impl Clock for BrowserTime {
    fn now(&self) -> Millis {
        clock::now()
    }
}

impl Time for BrowserTime {
    fn timeout(&self, delay: DurationMs, callback: Box<dyn FnOnce()>) -> Timer {
        // Browsers run a longer delay than a 32-bit signed number at once; cap it.
        let ms = u32::try_from(delay.0.min(i32::MAX as u64)).unwrap_or(u32::MAX);
        Timer(TimerKind::Browser(gloo_timers::callback::Timeout::new(
            ms, callback,
        )))
    }
}

/// A test's clock: it stands still until [`ManualClock::advance`] moves it, which fires the
/// timers that fall due on the way, each at its own time, earliest first.
#[derive(Clone)]
pub struct ManualClock(Rc<ManualState>);

struct ManualState {
    now: Cell<Millis>,
    next_id: Cell<u64>,
    pending: RefCell<Vec<ManualTimer>>,
}

struct ManualTimer {
    at: Millis,
    id: u64,
    callback: Box<dyn FnOnce()>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Millis) -> Self {
        Self(Rc::new(ManualState {
            now: Cell::new(start),
            next_id: Cell::new(0),
            pending: RefCell::new(Vec::new()),
        }))
    }

    /// Moves time forward by `by`, firing every timer due by then.
    pub fn advance(&self, by: DurationMs) {
        let target = self.0.now.get() + by;
        loop {
            // Taken out before it runs, so the callback may set or cancel timers itself.
            let due = {
                let mut pending = self.0.pending.borrow_mut();
                let next = pending
                    .iter()
                    .enumerate()
                    .filter(|(_, timer)| timer.at <= target)
                    .min_by_key(|(_, timer)| (timer.at, timer.id))
                    .map(|(index, _)| index);
                next.map(|index| pending.swap_remove(index))
            };
            let Some(timer) = due else { break };
            if timer.at > self.0.now.get() {
                self.0.now.set(timer.at);
            }
            (timer.callback)();
        }
        self.0.now.set(target);
    }

    /// How many timers wait.
    pub fn pending_timers(&self) -> usize {
        self.0.pending.borrow().len()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.now.get()
    }
}

impl Time for ManualClock {
    fn timeout(&self, delay: DurationMs, callback: Box<dyn FnOnce()>) -> Timer {
        let id = self.0.next_id.get();
        self.0.next_id.set(id + 1);
        self.0.pending.borrow_mut().push(ManualTimer {
            at: self.0.now.get() + delay,
            id,
            callback,
        });
        Timer(TimerKind::Manual {
            clock: Rc::downgrade(&self.0),
            id,
        })
    }
}

/// One random stream shared by several owners (the query cache's jitter, the queue's).
#[derive(Clone)]
pub struct SharedRandom(Rc<RefCell<dyn Random>>);

impl SharedRandom {
    fn new(random: impl Random + 'static) -> Self {
        Self(Rc::new(RefCell::new(random)))
    }
}

impl Random for SharedRandom {
    fn next_unit(&mut self) -> f64 {
        // Draws never nest; were one to, the middle of the range is a harmless jitter.
        self.0
            .try_borrow_mut()
            .map_or(0.5, |mut random| random.next_unit())
    }
}

/// What the window tells the app about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowEvent {
    /// The network is back (`online`).
    Online,
    /// The network is gone (`offline`).
    Offline,
    /// The window got the focus.
    Focused,
    /// The tab became visible.
    Shown,
    /// The tab was hidden.
    Hidden,
}

/// The one source of online, focus and visibility: in the browser, one set of window
/// listeners per page, fanned out to every subscriber.
#[derive(Clone)]
pub struct WindowEvents(Rc<WindowState>);

/// A subscription's id and its callback.
type Subscriber = (u64, Rc<dyn Fn(WindowEvent)>);

struct WindowState {
    online: Cell<bool>,
    visible: Cell<bool>,
    next_id: Cell<u64>,
    subscribers: RefCell<Vec<Subscriber>>,
    listeners: RefCell<Vec<EventListener>>,
}

thread_local! {
    /// The page's window events: listeners are attached once, whoever asks.
    static BROWSER_WINDOW: WindowEvents = WindowEvents::attach();
}

impl WindowEvents {
    /// The browser window's events (shared by everyone in this page).
    pub fn browser() -> Self {
        BROWSER_WINDOW.with(Clone::clone)
    }

    /// Events that happen only when a test emits them, starting `online` and visible.
    pub fn manual(online: bool) -> Self {
        Self::empty(online, true)
    }

    fn empty(online: bool, visible: bool) -> Self {
        Self(Rc::new(WindowState {
            online: Cell::new(online),
            visible: Cell::new(visible),
            next_id: Cell::new(0),
            subscribers: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
        }))
    }

    fn attach() -> Self {
        let window = web_sys::window();
        let document = window.as_ref().and_then(web_sys::Window::document);
        let events = Self::empty(
            // `true` when the browser cannot say.
            window.as_ref().is_none_or(|w| w.navigator().on_line()),
            document
                .as_ref()
                .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible),
        );
        let mut listeners = Vec::new();
        if let Some(window) = &window {
            for (name, event) in [
                ("online", WindowEvent::Online),
                ("offline", WindowEvent::Offline),
                ("focus", WindowEvent::Focused),
            ] {
                // Weak: the state owns its listeners, which must not own it back.
                let state = Rc::downgrade(&events.0);
                listeners.extend(EventListener::new(window, name, move |_| {
                    if let Some(state) = state.upgrade() {
                        WindowEvents(state).emit(event);
                    }
                }));
            }
        }
        if let Some(document) = document {
            let state = Rc::downgrade(&events.0);
            let doc = document.clone();
            listeners.extend(EventListener::new(
                &document,
                "visibilitychange",
                move |_| {
                    let event = if doc.visibility_state() == web_sys::VisibilityState::Visible {
                        WindowEvent::Shown
                    } else {
                        WindowEvent::Hidden
                    };
                    if let Some(state) = state.upgrade() {
                        WindowEvents(state).emit(event);
                    }
                },
            ));
        }
        *events.0.listeners.borrow_mut() = listeners;
        events
    }

    /// Whether the network is up, as last told (`navigator.onLine` in the browser).
    pub fn online(&self) -> bool {
        self.0.online.get()
    }

    /// Whether the tab is visible, as last told.
    pub fn visible(&self) -> bool {
        self.0.visible.get()
    }

    /// Tells every subscriber of `event` (the browser's listeners do; tests may too).
    pub fn emit(&self, event: WindowEvent) {
        match event {
            WindowEvent::Online => self.0.online.set(true),
            WindowEvent::Offline => self.0.online.set(false),
            WindowEvent::Shown => self.0.visible.set(true),
            WindowEvent::Hidden => self.0.visible.set(false),
            WindowEvent::Focused => {}
        }
        // A copy, so a subscriber may subscribe or unsubscribe while it is told.
        let subscribers: Vec<_> = self
            .0
            .subscribers
            .borrow()
            .iter()
            .map(|(_, callback)| Rc::clone(callback))
            .collect();
        for callback in subscribers {
            callback(event);
        }
    }

    /// Calls `callback` with every event until the subscription is dropped.
    pub fn subscribe(&self, callback: impl Fn(WindowEvent) + 'static) -> Subscription {
        let id = self.0.next_id.get();
        self.0.next_id.set(id + 1);
        self.0
            .subscribers
            .borrow_mut()
            .push((id, Rc::new(callback)));
        Subscription {
            state: Rc::downgrade(&self.0),
            id,
        }
    }
}

/// A subscription to [`WindowEvents`]; dropping it ends it.
pub struct Subscription {
    state: Weak<WindowState>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(state) = self.state.upgrade() {
            if let Ok(mut subscribers) = state.subscribers.try_borrow_mut() {
                subscribers.retain(|(id, _)| *id != self.id);
            }
        }
    }
}

/// The environment in context (a `Copy` handle, as Leptos' context wants `Send + Sync`).
#[derive(Clone, Copy)]
struct EnvironmentContext(StoredValue<Environment, LocalStorage>);

/// Makes `env` the environment of everything created under the current owner.
pub fn provide_environment(env: Environment) {
    provide_context(EnvironmentContext(StoredValue::new_local(env)));
}

/// The environment from context; the browser's outside one.
pub fn use_environment() -> Environment {
    use_context::<EnvironmentContext>()
        .and_then(|context| context.0.try_get_value())
        .unwrap_or_else(Environment::browser)
}
