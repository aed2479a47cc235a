//! casedesk's data layer as pure logic, with no browser types: everything here is driven by
//! events and an injected clock, so it is tested natively and runs unchanged in the browser.
//!
//! # Layout
//! - [`clock`]: milliseconds, durations, and the injected `Clock` and `Random`.
//! - [`failure`]: why a request failed and whether that is transient, permanent, auth or conflict.
//! - [`retry`]: the backoff schedule (exponential, full jitter, capped, `Retry-After` as a floor).
//! - [`key`]: typed query keys and the scopes invalidation and removal reach.
//! - [`action`]: what a person did (`CreateCase`, `UpdateCase`, `DeleteCase`, `AddNote`).
//! - [`data`]: what a query can hold (a case, a page of cases, notes, metrics).
//! - [`response`]: reading an HTTP answer into data or a typed failure, however hostile.
//!
//! The read side: views observe keys, the glue feeds events and runs the commands.
//! - [`entry`]: one query's state machine (data, ETag, age, fetch, retry, observers).
//! - [`cache`]: every entry by key and the one reducer, `QueryCache::apply(event) -> commands`.
//! - [`confirm`]: the cache events a confirmed action's answer produces, applied as one batch.
//! - [`persist`]: the stored record format and the incremental deltas written to IndexedDB.
//! - [`diagnostics`]: hit ratio, request timings, recent errors and alerts for the Sync page.
//! - [`inspect`]: the Devtools page's rows: each cache entry and each queued action, and the
//!   key filter.
//! - [`live`]: server change events to cache invalidations, coalesced per window.
//! - [`budget`]: the token bucket every request (query or action) draws from; 429 empties it.
//! - [`origin`]: which of several API origins is in use, failover and the way back.
//! - [`configured_origins`]: which of `config.json`'s API origins may carry the token at all.
//! - [`tab_share`]: fetched data shared between one person's tabs: asks, replies, the one
//!   sibling that fetches, announcements taken into the cache (`CacheEvent::Shared`).
//! - [`replica`]: the person's working set on the device, fed by the change feed through
//!   `Replica::apply(event) -> commands` (records to store, views to notify, pages to pull);
//!   it answers list queries and search with the overlay on top, complete or partial.
//!
//! The write side: actions wait in a durable queue; views show them on top of server data.
//! - [`overlay`]: server data with the pending actions applied: what every view shows.
//! - [`queue`]: the durable queue's state machine: order, dependencies, retries, dead letters.
//! - [`merge`]: the three-way merge of a 412 (base, mine, theirs) and the person's choice.
//! - [`request`]: an action on the wire: its request and the server's answer.
//! - [`lease`]: which tab drains when the browser has no Web Locks (a lease with expiry).
//!
//! Around them: [`export`], cases as CSV (quoting, formula injection); [`shortcut`], key
//! presses to keyboard shortcuts; [`sort`], the one compiled sort every sort of ours goes through;
//! [`return_path`], where a sign-in may send the person (`?next=`, never off the app).

pub mod action;
pub mod budget;
pub mod cache;
pub mod clock;
pub mod configured_origins;
pub mod confirm;
pub mod data;
pub mod diagnostics;
pub mod entry;
pub mod export;
pub mod failure;
pub mod inspect;
pub mod key;
pub mod lease;
pub mod live;
pub mod merge;
pub mod origin;
pub mod overlay;
pub mod persist;
pub mod queue;
pub mod replica;
pub mod request;
pub mod response;
pub mod retry;
pub mod return_path;
pub mod shortcut;
pub mod sort;
pub mod tab_share;

pub use action::{Action, ActionKind};
pub use budget::{BudgetConfig, RequestBudget};
pub use cache::{CacheCommand, CacheConfig, CacheEvent, QueryCache};
pub use clock::{Clock, DurationMs, Millis, Random, SeededRandom};
pub use configured_origins::{vet_api_origins, OriginRefusal, RefusedOrigin, VettedOrigins};
pub use data::QueryData;
pub use diagnostics::{Diagnostics, DiagnosticsSnapshot};
pub use entry::{FetchId, FetchStatus, QueryEntry, QueryOptions, QueryStatus};
pub use failure::{Failure, FailureClass};
pub use key::{KeyScope, ListKey, QueryKey};
pub use lease::{Lease, LeaseDecision, LeaseTerms};
pub use live::{ChangeBatch, LiveCoalescer};
pub use merge::{ConflictChoice, ConflictPolicy, MergeOutcome};
pub use origin::{OriginBackoff, OriginChoice, OriginEvent};
pub use overlay::{CaseIndex, KnownCases, OverlayTarget};
pub use persist::{PersistDelta, PersistedEntry, SCHEMA_VERSION};
pub use queue::{
    ActionQueue, ActionState, DeathReason, Lane, QueueChanges, QueueConfig, QueueError,
    QueueNotice, QueuedAction, Signer, SyncState,
};
pub use replica::{
    Coverage, ListAnswer, PullFrom, Replica, ReplicaCommand, ReplicaEvent, ReplicaStatus,
};
pub use request::{ActionRequest, Route, ServerAnswer};
pub use retry::RetryPolicy;
pub use return_path::ReturnPath;
pub use tab_share::{
    ShareEffect, ShareEnvelope, ShareMessage, SharedAnswer, SharedRecord, SharedStamp, TabId,
    TabShare,
};
