//! The Leptos glue of the read side: the query client in context and the hooks views call.
//! `casedesk-core` decides everything (the cache reducer, the overlay, confirmation, the
//! policies); this layer feeds it browser events and carries out its commands.
//!
//! # Layout
//! - `state`: `QueryClient`, the `Copy` handle, and the state every file below works on.
//! - [`client`]: creating the client and wiring it (storage, window events, live socket);
//!   shutting it down.
//! - `executor`: events in (`dispatch`, and the public commands that are events), one
//!   reducer pass, the cache's commands carried out.
//! - `fetch`: the fetch gate, the request budget, a key's `GET` sent and answered.
//!   `request` maps keys to endpoints and answers to cache events.
//! - `persistence`: the stored cache read at start-up and written as throttled deltas;
//!   `storage` owns the IndexedDB records.
//! - `tabs`: fetched data shared with the person's other tabs (ask before a `GET`, answer
//!   siblings, announce answers) over a per-person BroadcastChannel.
//! - `views`: what views read: triggers, observing, the overlay of pending actions.
//! - `confirm`: a confirmed action's answer applied in one step.
//! - `diagnostics`: the Sync and Devtools pages' numbers and rows.
//! - [`hooks`]: `use_case`, `use_case_list`, `use_notes`, `use_metrics`, `use_users`,
//!   `use_history` → `QueryView`.
//! - [`live`]: the change-event WebSocket feeding the cache's invalidations, through the
//!   narrow `LiveCache` the client implements (live knows nothing of the client).

pub mod client;
mod confirm;
mod diagnostics;
mod executor;
mod fetch;
pub mod hooks;
pub mod live;
mod persistence;
mod request;
mod state;
mod storage;
mod tabs;
mod views;

pub use client::{provide_query_client, provide_query_client_with, use_query_client};
pub use hooks::{
    use_case, use_case_list, use_history, use_metrics, use_notes, use_users, QueryView,
};
pub use live::LiveStatus;
pub use state::QueryClient;
