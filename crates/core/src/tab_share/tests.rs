//! Several tabs of one person simulated natively: each a cache (`Harness`) and a `TabShare`,
//! joined by an in-memory channel that carries the wire text; the "server" is counted GETs.

use super::*;
use crate::cache::tests::{case, only_fetch, Harness};
use crate::cache::{CacheCommand, CacheEvent};
use crate::entry::FetchStatus;
use std::collections::VecDeque;

struct Tab {
    h: Harness,
    share: TabShare,
    /// GETs this tab sent and the server has not answered yet.
    out: Vec<(QueryKey, FetchId)>,
    /// Every GET this tab sent.
    sent: usize,
    /// Its live socket is open.
    live: bool,
}

struct World {
    tabs: Vec<Tab>,
    bus: VecDeque<(usize, String)>,
}

impl World {
    fn new() -> Self {
        Self {
            tabs: Vec::new(),
            bus: VecDeque::new(),
        }
    }

    /// Opens a tab (ids grow with the index) and lets the hellos be answered.
    fn open(&mut self) -> usize {
        let i = self.tabs.len();
        let h = Harness::new();
        let (share, hello) = TabShare::open(TabId(i as u64 + 1), h.now);
        self.tabs.push(Tab {
            h,
            share,
            out: Vec::new(),
            sent: 0,
            live: false,
        });
        self.post(i, hello);
        self.deliver();
        i
    }

    fn post(&mut self, from: usize, message: ShareMessage) {
        let me = self.tabs[from].share.me();
        self.bus
            .push_back((from, ShareEnvelope::encode(me, message)));
    }

    fn advance(&mut self, ms: u64) {
        for tab in &mut self.tabs {
            tab.h.advance(ms);
        }
    }

    /// Carries out a tab's cache commands: fetches ask the siblings first.
    fn run(&mut self, i: usize, cmds: Vec<CacheCommand>) {
        for cmd in cmds {
            if let CacheCommand::Fetch { key, fetch, .. } = cmd {
                let mut effects = Vec::new();
                let tab = &mut self.tabs[i];
                let now = tab.h.now;
                if !tab.share.want(&key, fetch, now, &mut effects) {
                    self.send(i, key, fetch);
                }
                self.effects(i, effects);
            }
        }
    }

    fn send(&mut self, i: usize, key: QueryKey, fetch: FetchId) {
        let tab = &mut self.tabs[i];
        tab.share.sending(&key);
        tab.out.push((key, fetch));
        tab.sent += 1;
    }

    fn effects(&mut self, i: usize, effects: Vec<ShareEffect>) {
        for effect in effects {
            match effect {
                ShareEffect::Post(message) => self.post(i, message),
                ShareEffect::Settle { key, fetch, answer } => {
                    if let Some(answer) = answer {
                        let cmds = self.tabs[i].h.apply(CacheEvent::Shared {
                            fetch: Some(fetch),
                            answer,
                        });
                        self.run(i, cmds);
                    }
                    if self.tabs[i].h.cache.get(&key).and_then(|e| e.in_flight()) == Some(fetch) {
                        self.send(i, key, fetch);
                    }
                }
                ShareEffect::Offer(answer) => {
                    let cmds = self.tabs[i].h.apply(CacheEvent::Shared {
                        fetch: None,
                        answer,
                    });
                    self.run(i, cmds);
                }
            }
        }
    }

    /// Delivers every message on the channel (and those they cause) to every other tab.
    fn deliver(&mut self) {
        while let Some((from, text)) = self.bus.pop_front() {
            for j in 0..self.tabs.len() {
                if j == from {
                    continue;
                }
                let Some(envelope) = ShareEnvelope::decode(&text) else {
                    continue;
                };
                let tab = &mut self.tabs[j];
                let now = tab.h.now;
                let cache = &tab.h.cache;
                let live = tab.live;
                let effects = tab
                    .share
                    .receive(envelope, now, &|key| cache.shared_record(key, now, live));
                self.effects(j, effects);
            }
        }
    }

    fn tick(&mut self, i: usize) {
        let now = self.tabs[i].h.now;
        let effects = self.tabs[i].share.tick(now);
        self.effects(i, effects);
        self.deliver();
    }

    /// The server answers tab `i`'s GETs with 200 and `data`; the tab announces each.
    fn answer(&mut self, i: usize, data: QueryData) {
        for (key, fetch) in std::mem::take(&mut self.tabs[i].out) {
            let tab = &mut self.tabs[i];
            tab.h.succeed(&key, fetch, data.clone());
            tab.share.answered(&key);
            if let Some(record) = tab.h.cache.shared_record(&key, tab.h.now, false) {
                let record = Box::new(record);
                self.post(i, ShareMessage::Fresh { record });
            }
        }
        self.deliver();
    }

    /// The server answers tab `i`'s GETs with 304; the tab announces each.
    fn not_modified(&mut self, i: usize) {
        for (key, fetch) in std::mem::take(&mut self.tabs[i].out) {
            let tab = &mut self.tabs[i];
            tab.h.apply(CacheEvent::NotModified {
                key: key.clone(),
                fetch,
            });
            tab.share.answered(&key);
            let entry = tab.h.cache.get(&key).expect("entry");
            let stamp = SharedStamp {
                key: key.clone(),
                etag: entry.etag().expect("etag").to_owned(),
                fetched_at: entry.fetched_at().expect("fetched"),
                requested_at: entry.reflects_server_state_at(),
            };
            self.post(i, ShareMessage::Revalidated { stamp });
        }
        self.deliver();
    }

    fn observe(&mut self, i: usize, key: &QueryKey) {
        let cmds = self.tabs[i].h.observe(key);
        self.run(i, cmds);
        self.deliver();
    }

    fn entry(&self, i: usize, key: &QueryKey) -> &crate::entry::QueryEntry {
        self.tabs[i].h.entry(key)
    }
}

/// Two tabs that open one page at the same moment, each asking before it hears the other's
/// question: the world, the tab that fetches and the one that waits.
fn two_tabs_asking_at_once() -> (World, usize, usize) {
    let mut w = World::new();
    let a = w.open();
    let b = w.open();
    let cmds_a = w.tabs[a].h.observe(&case_key());
    let cmds_b = w.tabs[b].h.observe(&case_key());
    w.run(a, cmds_a);
    w.run(b, cmds_b);
    w.deliver();
    let fetcher = if w.tabs[a].sent == 1 { a } else { b };
    (w, fetcher, 1 - fetcher)
}

fn case_key() -> QueryKey {
    QueryKey::Case(uuid::Uuid::from_u128(7))
}

fn case_data(version: u64) -> QueryData {
    QueryData::Case(case(7, version))
}

#[test]
fn a_lone_tab_fetches_at_once_once_its_hello_went_unanswered() {
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0);
    w.observe(a, &case_key());
    assert_eq!(
        w.tabs[a].sent, 1,
        "no sibling to ask: straight to the network"
    );
}

#[test]
fn a_second_tab_opening_what_the_first_holds_sends_no_request() {
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0);
    w.observe(a, &case_key());
    w.answer(a, case_data(3));
    w.advance(1_000);

    let b = w.open();
    w.observe(b, &case_key());
    assert_eq!(
        w.tabs[b].sent, 0,
        "the sibling's fresh answer served the first read"
    );
    let entry = w.entry(b, &case_key());
    assert_eq!(entry.data(), Some(&case_data(3)));
    assert_eq!(entry.fetch_status(), FetchStatus::Idle);
    assert!(
        !entry.is_stale(w.tabs[b].h.now),
        "fresh data is used as fresh"
    );
    assert_eq!(
        entry.fetched_at(),
        w.entry(a, &case_key()).fetched_at(),
        "as old as the sibling's answer, not younger"
    );
}

#[test]
fn two_tabs_opening_one_page_at_once_make_one_request() {
    let (mut w, fetcher, waiter) = two_tabs_asking_at_once();
    assert_eq!(
        w.tabs[fetcher].sent + w.tabs[waiter].sent,
        1,
        "one of the two fetches"
    );
    w.answer(fetcher, case_data(2));
    assert_eq!(w.tabs[waiter].sent, 0);
    assert_eq!(w.entry(waiter, &case_key()).data(), Some(&case_data(2)));
    assert_eq!(
        w.entry(waiter, &case_key()).fetch_status(),
        FetchStatus::Idle
    );
}

#[test]
fn stale_data_is_shown_and_revalidated_by_one_tab_whose_304_refreshes_the_other() {
    let mut w = World::new();
    let a = w.open();
    let b = w.open();
    w.observe(a, &case_key());
    w.answer(a, case_data(1));
    w.observe(b, &case_key());
    assert_eq!(w.tabs[b].sent, 0);
    // Both go stale with time; both views still on screen refetch on focus.
    w.advance(60_000);
    let cmds_a = w.tabs[a].h.apply(CacheEvent::WindowFocused);
    let cmds_b = w.tabs[b].h.apply(CacheEvent::WindowFocused);
    w.run(a, cmds_a);
    w.run(b, cmds_b);
    w.deliver();
    assert_eq!(
        w.tabs[a].sent + w.tabs[b].sent,
        1 + 1,
        "the first read and one revalidation"
    );
    let fetcher = if w.tabs[a].out.is_empty() { b } else { a };
    let waiter = if fetcher == a { b } else { a };
    assert!(
        w.entry(waiter, &case_key()).data().is_some(),
        "stale data stays on screen while the sibling revalidates"
    );
    w.not_modified(fetcher);
    let now = w.tabs[waiter].h.now;
    let entry = w.entry(waiter, &case_key());
    assert!(
        !entry.is_stale(now),
        "the sibling's 304 refreshed this tab's stamp"
    );
    assert_eq!(entry.fetch_status(), FetchStatus::Idle);
}

#[test]
fn an_answer_one_tab_fetched_is_taken_by_a_sibling_holding_the_key() {
    let mut w = World::new();
    let a = w.open();
    let b = w.open();
    w.observe(a, &case_key());
    w.answer(a, case_data(1));
    w.observe(b, &case_key());
    w.advance(60_000);
    let cmds = w.tabs[a]
        .h
        .apply(CacheEvent::FetchRequested { key: case_key() });
    w.run(a, cmds);
    w.deliver();
    w.answer(a, case_data(4));
    assert_eq!(w.entry(b, &case_key()).data(), Some(&case_data(4)));
    assert_eq!(w.tabs[b].sent, 0);
}

#[test]
fn data_from_before_an_invalidation_here_is_shown_but_not_trusted() {
    let mut w = World::new();
    let a = w.open();
    let b = w.open();
    w.observe(a, &case_key());
    w.answer(a, case_data(1));
    w.observe(b, &case_key());
    // A change reaches tab b first (its live socket); a has not heard of it yet.
    w.advance(10);
    let cmds = w.tabs[b].h.apply(CacheEvent::Invalidate {
        scope: crate::key::KeyScope::Key(case_key()),
    });
    w.run(b, cmds);
    w.deliver();
    assert_eq!(
        w.tabs[b].sent, 1,
        "a's answer predates the change b heard of: b fetches the truth"
    );
}

#[test]
fn a_sibling_that_never_replies_costs_one_bounded_wait_and_is_forgotten() {
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0);
    // A sibling said hello, then its tab was closed without a word.
    let ghost = ShareEnvelope::encode(TabId(99), ShareMessage::Here);
    w.bus.push_back((usize::MAX, ghost));
    w.deliver();
    w.observe(a, &case_key());
    assert_eq!(w.tabs[a].sent, 0, "waiting for the sibling's reply");
    w.advance(ASK_WAIT.0);
    w.tick(a);
    assert_eq!(w.tabs[a].sent, 1, "the wait ended in its own request");
    w.answer(a, case_data(1));
    let other = QueryKey::Case(uuid::Uuid::from_u128(8));
    w.observe(a, &other);
    assert_eq!(
        w.tabs[a].sent, 2,
        "the silent sibling is no longer waited for"
    );
}

#[test]
fn a_sibling_whose_request_fails_or_hangs_does_not_hold_the_other_back() {
    let (mut w, _, waiter) = two_tabs_asking_at_once();
    // The fetcher's request hangs: the waiter goes itself after the bounded wait.
    w.advance(SIBLING_FETCH_WAIT.0);
    w.tick(waiter);
    assert_eq!(w.tabs[waiter].sent, 1);
    // A failure announced ends a wait at once.
    let (mut w, fetcher, waiter) = two_tabs_asking_at_once();
    w.post(fetcher, ShareMessage::Failed { key: case_key() });
    w.deliver();
    assert_eq!(w.tabs[waiter].sent, 1);
}

#[test]
fn garbage_and_messages_of_another_build_are_ignored() {
    assert_eq!(ShareEnvelope::decode("not json"), None);
    assert_eq!(ShareEnvelope::decode(r#"{"protocol":1}"#), None);
    let mut old: serde_json::Value =
        serde_json::from_str(&ShareEnvelope::encode(TabId(1), ShareMessage::Hello)).unwrap();
    old["schema"] = serde_json::json!(SCHEMA_VERSION - 1);
    assert_eq!(ShareEnvelope::decode(&old.to_string()), None);
    old["schema"] = serde_json::json!(SCHEMA_VERSION);
    old["protocol"] = serde_json::json!(SHARE_PROTOCOL + 1);
    assert_eq!(ShareEnvelope::decode(&old.to_string()), None);
    old["protocol"] = serde_json::json!(SHARE_PROTOCOL);
    assert!(ShareEnvelope::decode(&old.to_string()).is_some());
}

#[test]
fn an_announcement_never_creates_an_entry_nor_takes_an_older_case() {
    let mut h = Harness::new();
    let record = |version| SharedRecord {
        key: case_key(),
        data: case_data(version),
        etag: Some(format!("\"{version}\"")),
        fetched_at: Millis(2_000_000),
        requested_at: None,
        size_bytes: 10,
        stale: false,
        vouched_at: None,
    };
    h.apply(CacheEvent::Shared {
        fetch: None,
        answer: SharedAnswer::Record(Box::new(record(3))),
    });
    assert!(h.cache.get(&case_key()).is_none());
    let (_, fetch, _) = only_fetch(&h.observe(&case_key()));
    h.succeed(&case_key(), fetch, case_data(5));
    h.apply(CacheEvent::Shared {
        fetch: None,
        answer: SharedAnswer::Record(Box::new(record(3))),
    });
    assert_eq!(h.entry(&case_key()).data(), Some(&case_data(5)));
}

#[test]
fn a_tab_that_just_opened_alone_waits_no_longer_than_its_hello_grace() {
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0 / 2);
    w.observe(a, &case_key());
    assert_eq!(w.tabs[a].sent, 0, "its hello may still be answered");
    assert_eq!(
        w.tabs[a].share.next_deadline(),
        Some(w.tabs[a].share.opened_at + HELLO_GRACE)
    );
    w.advance(HELLO_GRACE.0 / 2);
    w.tick(a);
    assert_eq!(w.tabs[a].sent, 1);
}

#[test]
fn the_answer_a_tab_restored_from_storage_is_trusted_when_the_sibling_that_fetched_it_vouches() {
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0);
    w.observe(a, &case_key());
    w.answer(a, case_data(2));
    let stored = w.tabs[a].h.cache.take_dirty().upserts;
    assert_eq!(stored.len(), 1);
    w.advance(1_000);
    // Tab b starts from the same stored record (stale on arrival), then asks.
    let b = w.open();
    let cmds = w.tabs[b].h.apply(CacheEvent::Restore { entries: stored });
    w.run(b, cmds);
    w.observe(b, &case_key());
    assert_eq!(w.tabs[b].sent, 0);
    let now = w.tabs[b].h.now;
    assert!(!w.entry(b, &case_key()).is_stale(now));
    assert_eq!(w.entry(b, &case_key()).fetch_status(), FetchStatus::Idle);
}

#[test]
fn a_sibling_listening_to_changes_since_its_answer_vouches_for_it_as_current_now() {
    let mut w = World::new();
    let a = w.open();
    w.tabs[a].live = true;
    w.advance(HELLO_GRACE.0);
    w.observe(a, &case_key());
    w.answer(a, case_data(2));
    let requested = w.entry(a, &case_key()).reflects_server_state_at();
    w.advance(5_000);
    let b = w.open();
    w.observe(b, &case_key());
    assert_eq!(w.tabs[b].sent, 0);
    // (Each simulated tab keeps its own clock; the sibling's is the one that vouched.)
    let now = w.tabs[a].h.now;
    assert_eq!(
        w.entry(b, &case_key()).reflects_server_state_at(),
        Some(now),
        "b knows the data current as of the sibling's word, not only as of its request"
    );
    assert!(requested < Some(now));
    // Without a live socket the sibling can only say when it asked.
    let mut w = World::new();
    let a = w.open();
    w.advance(HELLO_GRACE.0);
    w.observe(a, &case_key());
    w.answer(a, case_data(2));
    let requested = w.entry(a, &case_key()).reflects_server_state_at();
    w.advance(5_000);
    let b = w.open();
    w.observe(b, &case_key());
    assert_eq!(
        w.entry(b, &case_key()).reflects_server_state_at(),
        requested
    );
}

#[test]
fn a_first_visit_fetches_at_once_without_waiting_for_hellos() {
    let mut w = World::new();
    let a = w.open();
    w.tabs[a].share.skip_grace();
    w.observe(a, &case_key());
    assert_eq!(w.tabs[a].sent, 1);
}
