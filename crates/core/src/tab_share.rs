//! Fetched data shared between one person's tabs: the messages tabs exchange about query
//! answers, and what a tab does with each (ask siblings before a `GET`, answer their asks,
//! wait for the one sibling already fetching, take what a sibling announces).
//! Pure: the glue posts the messages, feeds what arrives, and carries out the effects.

use crate::clock::{DurationMs, Millis};
use crate::data::QueryData;
use crate::entry::FetchId;
use crate::key::QueryKey;
use crate::persist::SCHEMA_VERSION;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The message format's version. A message of another version (an older build still open
/// in another tab) is ignored, as is one of another storage schema.
pub const SHARE_PROTOCOL: u32 = 1;

/// How long an ask waits for siblings' replies before going to the network: a tab that
/// closed without saying so never answers. A busy tab answers within a few ms, a tab of a
/// loaded machine (or a phone) within a hundred or two.
pub const ASK_WAIT: DurationMs = DurationMs(250);

/// How long a tab waits for a sibling's request for the same key to land before sending
/// its own.
pub const SIBLING_FETCH_WAIT: DurationMs = DurationMs(3_000);

/// After opening, how long a tab that knows no sibling yet still asks (its `Hello` may not
/// have been answered yet): past this, a lone tab fetches at once. Not waited at all when
/// the device held nothing of the person ([`TabShare::skip_grace`]).
pub const HELLO_GRACE: DurationMs = DurationMs(250);

/// One tab's instance of the query client, random per start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TabId(pub u64);

/// A cached answer as one tab hands it to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedRecord {
    pub key: QueryKey,
    pub data: QueryData,
    pub etag: Option<String>,
    pub fetched_at: Millis,
    /// When the request that produced or confirmed the data was sent: the data reflects every
    /// server change before it. `None` for data written from a mutation's answer.
    pub requested_at: Option<Millis>,
    pub size_bytes: u64,
    /// Stale in the holder's eyes (invalidated, restored or old): shown, not trusted.
    pub stale: bool,
    /// When the holder vouched for it: its live socket is open and no change event marked
    /// the data stale, so it reflects the server as of then (up to the events still on their
    /// way). `None` when it cannot say so.
    #[serde(default)]
    pub vouched_at: Option<Millis>,
}

impl SharedRecord {
    /// The instant the data is known to reflect.
    pub fn reflects(&self) -> Millis {
        self.known_current_at().unwrap_or(self.fetched_at)
    }

    /// The latest instant the data is known to reflect, when known.
    pub fn known_current_at(&self) -> Option<Millis> {
        self.vouched_at.max(self.requested_at)
    }
}

/// A 304 in another tab: the data under `etag` is still current.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedStamp {
    pub key: QueryKey,
    pub etag: String,
    pub fetched_at: Millis,
    pub requested_at: Option<Millis>,
}

/// What a sibling gave for a key: its data, or a 304's confirmation of an ETag.
#[derive(Clone, Debug, PartialEq)]
pub enum SharedAnswer {
    Record(Box<SharedRecord>),
    Stamp(SharedStamp),
}

/// One message on the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShareMessage {
    /// A tab opened: the others answer `Here`.
    Hello,
    Here,
    /// A tab is going away (its person signed out, or the app is shutting down).
    Bye,
    /// "What do you hold for `key`?": every sibling replies.
    Want {
        key: QueryKey,
    },
    /// To `to`'s `Want`: what this tab holds, and whether it is the one fetching `key`.
    Reply {
        key: QueryKey,
        to: TabId,
        held: Option<Box<SharedRecord>>,
        fetching: bool,
    },
    /// A `GET` answered 200 in the sender.
    Fresh {
        record: Box<SharedRecord>,
    },
    /// A `GET` answered 304 in the sender.
    Revalidated {
        stamp: SharedStamp,
    },
    /// The sender's `GET` for `key` failed: whoever waited for it fetches itself.
    Failed {
        key: QueryKey,
    },
}

/// A message with its sender and versions: what goes on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareEnvelope {
    pub protocol: u32,
    pub schema: u32,
    pub from: TabId,
    pub message: ShareMessage,
}

impl ShareEnvelope {
    /// The wire text of `message` from `from`.
    pub fn encode(from: TabId, message: ShareMessage) -> String {
        let envelope = ShareEnvelope {
            protocol: SHARE_PROTOCOL,
            schema: SCHEMA_VERSION,
            from,
            message,
        };
        // Serializing these types cannot fail (string keys, no non-finite floats); were it
        // to, nothing is posted and the siblings fetch for themselves.
        serde_json::to_string(&envelope).unwrap_or_default()
    }

    /// The envelope in `text`, or `None` for garbage and for another build's messages.
    pub fn decode(text: &str) -> Option<ShareEnvelope> {
        let envelope: ShareEnvelope = serde_json::from_str(text).ok()?;
        (envelope.protocol == SHARE_PROTOCOL && envelope.schema == SCHEMA_VERSION)
            .then_some(envelope)
    }
}

/// What the glue must do after a call into [`TabShare`].
#[derive(Clone, Debug, PartialEq)]
pub enum ShareEffect {
    /// Post this message to the siblings.
    Post(ShareMessage),
    /// The ask for `fetch` is over: feed the cache `answer` (if any) for that fetch; if the
    /// cache still wants the fetch after that, send the `GET` (and call [`TabShare::sending`]).
    Settle {
        key: QueryKey,
        fetch: FetchId,
        answer: Option<SharedAnswer>,
    },
    /// A sibling announced an answer nobody here asked for: the cache takes it if it holds
    /// the key.
    Offer(SharedAnswer),
}

/// Where one ask stands.
#[derive(Clone, Debug)]
struct Ask {
    fetch: FetchId,
    /// Siblings that have not replied yet.
    awaiting: BTreeSet<TabId>,
    /// The best record replied so far.
    best: Option<Box<SharedRecord>>,
    /// The sibling whose request for the key this tab waits for.
    waiting_on: Option<TabId>,
    /// Replies are waited for until then; then the wait for `waiting_on`'s answer.
    deadline: Millis,
    started: Millis,
}

/// One tab's side of the sharing: its siblings, its open asks, the keys it is fetching.
#[derive(Clone, Debug)]
pub struct TabShare {
    me: TabId,
    opened_at: Millis,
    peers: BTreeSet<TabId>,
    asks: HashMap<QueryKey, Ask>,
    /// Keys this tab has a `GET` out for.
    sending: BTreeSet<QueryKey>,
}

/// Whether `a` is better to show than `b`: trusted over stale, then newer.
fn better(a: &SharedRecord, b: &SharedRecord) -> bool {
    (!a.stale, a.fetched_at) > (!b.stale, b.fetched_at)
}

impl TabShare {
    /// A tab opened at `now`; post the returned `Hello`.
    pub fn open(me: TabId, now: Millis) -> (Self, ShareMessage) {
        let share = Self {
            me,
            opened_at: now,
            peers: BTreeSet::new(),
            asks: HashMap::new(),
            sending: BTreeSet::new(),
        };
        (share, ShareMessage::Hello)
    }

    /// Nothing of the person was on the device (a first visit): no sibling has held their
    /// data long, so until one says hello this tab fetches without waiting for one. A
    /// sibling opened a moment before (not yet stored) costs one request more.
    pub fn skip_grace(&mut self) {
        self.opened_at = Millis(0);
    }

    pub fn me(&self) -> TabId {
        self.me
    }

    /// Whether any sibling is known (worth announcing answers to).
    pub fn has_peers(&self) -> bool {
        !self.peers.is_empty()
    }

    /// The cache wants `key` fetched as request `fetch`. `true`: asked the siblings (post
    /// the effects; the request waits for a `Settle`); `false`: send the `GET` now.
    pub fn want(
        &mut self,
        key: &QueryKey,
        fetch: FetchId,
        now: Millis,
        effects: &mut Vec<ShareEffect>,
    ) -> bool {
        if let Some(ask) = self.asks.get_mut(key) {
            // A newer request for the same key takes over the ask already out.
            ask.fetch = fetch;
            return true;
        }
        let lone = self.peers.is_empty() && now >= self.opened_at + HELLO_GRACE;
        if lone || self.sending.contains(key) {
            return false;
        }
        self.asks.insert(
            key.clone(),
            Ask {
                fetch,
                awaiting: self.peers.clone(),
                best: None,
                waiting_on: None,
                // Knowing no sibling yet, the ask lasts only as long as the grace does.
                deadline: if self.peers.is_empty() {
                    self.opened_at + HELLO_GRACE
                } else {
                    now + ASK_WAIT
                },
                started: now,
            },
        );
        effects.push(ShareEffect::Post(ShareMessage::Want { key: key.clone() }));
        true
    }

    /// The glue sent a `GET` for `key`.
    pub fn sending(&mut self, key: &QueryKey) {
        self.sending.insert(key.clone());
    }

    /// The `GET` for `key` was answered (or dropped); the glue announces the answer.
    pub fn answered(&mut self, key: &QueryKey) {
        self.sending.remove(key);
    }

    /// A message from another tab. `held` reads what this tab's cache holds for a key.
    pub fn receive(
        &mut self,
        envelope: ShareEnvelope,
        now: Millis,
        held: &dyn Fn(&QueryKey) -> Option<SharedRecord>,
    ) -> Vec<ShareEffect> {
        let from = envelope.from;
        let mut effects = Vec::new();
        if from == self.me {
            return effects;
        }
        if !matches!(envelope.message, ShareMessage::Bye) {
            self.peers.insert(from);
        }
        match envelope.message {
            ShareMessage::Hello => effects.push(ShareEffect::Post(ShareMessage::Here)),
            ShareMessage::Here => {}
            ShareMessage::Bye => {
                self.peers.remove(&from);
                let keys: Vec<QueryKey> = self.asks.keys().cloned().collect();
                for key in keys {
                    if let Some(ask) = self.asks.get_mut(&key) {
                        ask.awaiting.remove(&from);
                        if ask.waiting_on == Some(from) {
                            ask.waiting_on = None;
                        }
                    }
                    self.try_settle(&key, now, &mut effects);
                }
            }
            ShareMessage::Want { key } => {
                // Two tabs asking for one key at once: the lower id fetches, the other waits.
                let fetching = self.sending.contains(&key)
                    || self
                        .asks
                        .get(&key)
                        .is_some_and(|ask| ask.waiting_on.is_none() && self.me < from);
                effects.push(ShareEffect::Post(ShareMessage::Reply {
                    held: held(&key).map(Box::new),
                    key,
                    to: from,
                    fetching,
                }));
            }
            ShareMessage::Reply {
                key,
                to,
                held,
                fetching,
            } => {
                if to != self.me {
                    return effects;
                }
                let Some(ask) = self.asks.get_mut(&key) else {
                    return effects;
                };
                ask.awaiting.remove(&from);
                if let Some(record) = held {
                    if ask.best.as_ref().is_none_or(|best| better(&record, best)) {
                        ask.best = Some(record);
                    }
                }
                if fetching && ask.waiting_on.is_none_or(|other| from < other) {
                    ask.waiting_on = Some(from);
                }
                self.try_settle(&key, now, &mut effects);
            }
            ShareMessage::Fresh { record } => match self.asks.remove(&record.key) {
                Some(ask) => effects.push(ShareEffect::Settle {
                    key: record.key.clone(),
                    fetch: ask.fetch,
                    answer: Some(SharedAnswer::Record(record)),
                }),
                None => effects.push(ShareEffect::Offer(SharedAnswer::Record(record))),
            },
            ShareMessage::Revalidated { stamp } => match self.asks.remove(&stamp.key) {
                Some(ask) => {
                    // The stamp confirms data this tab may not hold: the best record
                    // replied goes in first when it carries that ETag.
                    if let Some(record) = ask
                        .best
                        .filter(|r| r.etag.as_deref() == Some(stamp.etag.as_str()))
                    {
                        effects.push(ShareEffect::Offer(SharedAnswer::Record(record)));
                    }
                    effects.push(ShareEffect::Settle {
                        key: stamp.key.clone(),
                        fetch: ask.fetch,
                        answer: Some(SharedAnswer::Stamp(stamp)),
                    });
                }
                None => effects.push(ShareEffect::Offer(SharedAnswer::Stamp(stamp))),
            },
            ShareMessage::Failed { key } => {
                if let Some(ask) = self.asks.get_mut(&key) {
                    if ask.waiting_on == Some(from) {
                        ask.waiting_on = None;
                        ask.awaiting.clear();
                    }
                }
                self.try_settle(&key, now, &mut effects);
            }
        }
        effects
    }

    /// Deadlines passed: asks whose siblings did not all reply go on without them (and those
    /// siblings are forgotten: a tab that closed never replies); waits for a sibling's request
    /// that took too long end in a request of this tab's own.
    pub fn tick(&mut self, now: Millis) -> Vec<ShareEffect> {
        let mut effects = Vec::new();
        let due: Vec<QueryKey> = self
            .asks
            .iter()
            .filter(|(_, ask)| ask.deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            if let Some(ask) = self.asks.get_mut(&key) {
                for silent in std::mem::take(&mut ask.awaiting) {
                    self.peers.remove(&silent);
                }
                if ask.waiting_on.is_some() && now >= ask.started + SIBLING_FETCH_WAIT {
                    ask.waiting_on = None;
                }
            }
            self.try_settle(&key, now, &mut effects);
        }
        effects
    }

    /// When `tick` is next needed.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.asks.values().map(|ask| ask.deadline).min()
    }

    /// The cache gave up request `fetch` (cancelled, or the entry went): its ask ends.
    pub fn forget(&mut self, key: &QueryKey) {
        self.asks.remove(key);
    }

    /// Settles the ask for `key` when it can be: a trusted record is in, or every sibling
    /// replied (or the deadline passed) and none is fetching it.
    fn try_settle(&mut self, key: &QueryKey, now: Millis, effects: &mut Vec<ShareEffect>) {
        let Some(ask) = self.asks.get_mut(key) else {
            return;
        };
        let trusted = ask.best.as_ref().is_some_and(|best| !best.stale);
        let replies_in = ask.awaiting.is_empty() || now >= ask.deadline;
        if !trusted && !replies_in {
            return;
        }
        if !trusted && ask.waiting_on.is_some() {
            // A sibling is fetching it: wait for its `Fresh`, `Revalidated` or `Failed`.
            ask.deadline = ask.started + SIBLING_FETCH_WAIT;
            return;
        }
        if let Some(ask) = self.asks.remove(key) {
            effects.push(ShareEffect::Settle {
                key: key.clone(),
                fetch: ask.fetch,
                answer: ask.best.map(SharedAnswer::Record),
            });
        }
    }
}

#[cfg(test)]
mod tests;
