//! Fetched data shared with the person's other tabs over the `{namespace}-query`
//! BroadcastChannel (the namespace carries the person's id, so another person's tab never
//! hears it; no token ever goes on it). Before a `GET` the tab asks its siblings; it answers
//! their asks and announces its own answers. `casedesk_core::tab_share` decides; this posts.

use super::state::{Inner, QueryClient};
use crate::platform::broadcast::Channel;
use crate::platform::clock;
use casedesk_core::{
    CacheEvent, FetchId, Millis, QueryKey, ShareEffect, ShareEnvelope, ShareMessage, SharedStamp,
    TabId, TabShare,
};
use gloo_timers::callback::Timeout;

/// This tab's end of the channel.
pub(super) struct TabLink {
    share: TabShare,
    channel: Channel,
    /// The one timer for the share's next deadline, and when it fires.
    timer: Option<(Millis, Timeout)>,
}

/// How a `GET` this tab sent ended, as the siblings hear it.
pub(super) enum Outcome {
    Fresh,
    NotModified,
    Failed,
    Cancelled,
}

impl QueryClient {
    /// Opens the channel of the person whose namespace this is and says hello. Where the
    /// browser refuses the channel, the tab simply fetches for itself.
    pub(super) fn open_tab_share(&self, namespace: &str) {
        let client = *self;
        let Ok(channel) = Channel::open(&format!("{namespace}-query"), move |text| {
            client.on_tab_message(&text)
        }) else {
            return;
        };
        // Real time, not the environment's: siblings answer in the browser's time, and a
        // test's manual clock would otherwise hold every ask open.
        let me = TabId(random_id());
        let (share, hello) = TabShare::open(me, clock::now());
        self.with_inner(|inner| {
            inner.tabs = Some(TabLink {
                share,
                channel,
                timer: None,
            })
        });
        self.post_to_tabs(hello);
    }

    /// Called as the fetch gate opens: when the cache holds no data at all, nothing of the
    /// person was stored on this device (a first visit), so no hello is waited for.
    pub(super) fn tabs_gate_opened(inner: &mut Inner) {
        let first_here = inner
            .cache
            .entries()
            .all(|(_, entry)| entry.data().is_none());
        if let (true, Some(link)) = (first_here, &mut inner.tabs) {
            link.share.skip_grace();
        }
    }

    /// Says goodbye and closes the channel (sign-out, or the app going away).
    pub(super) fn close_tab_share(&self) {
        self.post_to_tabs(ShareMessage::Bye);
        self.with_inner(|inner| inner.tabs = None);
    }

    /// Whether request `fetch` for `key` waits for the siblings' replies first.
    pub(super) fn ask_siblings(&self, key: &QueryKey, fetch: FetchId) -> bool {
        let now = clock::now();
        let mut effects = Vec::new();
        let asked = self
            .with_inner(|inner| match &mut inner.tabs {
                Some(link) if !inner.shut_down => link.share.want(key, fetch, now, &mut effects),
                _ => false,
            })
            .unwrap_or(false);
        self.carry_out(effects);
        asked
    }

    /// The `GET` for `key` left.
    pub(super) fn tabs_sending(&self, key: &QueryKey) {
        self.with_inner(|inner| {
            if let Some(link) = &mut inner.tabs {
                link.share.sending(key);
            }
        });
    }

    /// The `GET` for `key` ended (its event already applied): the siblings hear of it.
    pub(super) fn tabs_answered(&self, key: &QueryKey, outcome: Outcome) {
        let now = self.now();
        let live = self.live.is_live();
        let message = self.with_inner(|inner| {
            let Inner { tabs, cache, .. } = inner;
            let link = tabs.as_mut()?;
            link.share.answered(key);
            if !link.share.has_peers() {
                return None;
            }
            match outcome {
                Outcome::Fresh => {
                    cache
                        .shared_record(key, now, live)
                        .map(|record| ShareMessage::Fresh {
                            record: Box::new(record),
                        })
                }
                Outcome::NotModified => {
                    let entry = cache.get(key)?;
                    Some(ShareMessage::Revalidated {
                        stamp: SharedStamp {
                            key: key.clone(),
                            etag: entry.etag()?.to_owned(),
                            fetched_at: entry.fetched_at()?,
                            requested_at: entry.reflects_server_state_at(),
                        },
                    })
                }
                Outcome::Failed | Outcome::Cancelled => {
                    Some(ShareMessage::Failed { key: key.clone() })
                }
            }
        });
        if let Some(Some(message)) = message {
            self.post_to_tabs(message);
        }
    }

    fn on_tab_message(&self, text: &str) {
        let Some(envelope) = ShareEnvelope::decode(text) else {
            return; // garbage, or another build's
        };
        let now = clock::now();
        let cache_now = self.now();
        let live = self.live.is_live();
        let effects = self.with_inner(|inner| {
            let Inner { tabs, cache, .. } = inner;
            let link = tabs.as_mut()?;
            Some(link.share.receive(envelope, now, &|key| {
                cache.shared_record(key, cache_now, live)
            }))
        });
        self.carry_out(effects.flatten().unwrap_or_default());
    }

    fn carry_out(&self, effects: Vec<ShareEffect>) {
        for effect in effects {
            match effect {
                ShareEffect::Post(message) => self.post_to_tabs(message),
                ShareEffect::Settle { key, fetch, answer } => {
                    if let Some(answer) = answer {
                        self.dispatch(CacheEvent::Shared {
                            fetch: Some(fetch),
                            answer,
                        });
                    }
                    // What the siblings gave did not leave the entry fresh (or they gave
                    // nothing): the request goes out after all.
                    let still_wanted = self
                        .read_inner(|inner| {
                            inner.cache.get(&key).and_then(|e| e.in_flight()) == Some(fetch)
                        })
                        .unwrap_or(false);
                    if still_wanted {
                        self.send_fetch(key, fetch, None);
                    }
                }
                ShareEffect::Offer(answer) => self.dispatch(CacheEvent::Shared {
                    fetch: None,
                    answer,
                }),
            }
        }
        self.schedule_tabs_tick();
    }

    fn post_to_tabs(&self, message: ShareMessage) {
        self.read_inner(|inner| {
            if let Some(link) = &inner.tabs {
                // Best effort: a sibling that misses it asks, or fetches, for itself.
                let _ = link
                    .channel
                    .post(&ShareEnvelope::encode(link.share.me(), message));
            }
        });
    }

    /// One timer at the share's earliest deadline (an ask's wait running out).
    fn schedule_tabs_tick(&self) {
        let client = *self;
        self.with_inner(|inner| {
            let Some(link) = &mut inner.tabs else {
                return;
            };
            let Some(at) = link.share.next_deadline() else {
                link.timer = None;
                return;
            };
            if link
                .timer
                .as_ref()
                .is_some_and(|(pending, _)| *pending <= at)
            {
                return;
            }
            let delay = at.since(clock::now()).0.min(u64::from(u32::MAX)) as u32;
            let timeout = Timeout::new(delay, move || {
                let effects = client.with_inner(|inner| {
                    let link = inner.tabs.as_mut()?;
                    link.timer = None;
                    Some(link.share.tick(clock::now()))
                });
                client.carry_out(effects.flatten().unwrap_or_default());
            });
            link.timer = Some((at, timeout));
        });
    }
}

/// A random tab id: ties between two tabs asking at once are broken by it.
fn random_id() -> u64 {
    let high = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    let low = (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (high << 32) | low
}
