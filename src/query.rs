//! The Leptos glue of the read side: the query client in context and the hooks views call.
//! `casedesk-core` decides everything (the cache reducer, the overlay, the policies); this
//! layer feeds it browser events and carries out its commands.
//!
//! # Layout
//! - [`client`]: `QueryClient`: the cache, the request budget, the pending actions, and the
//!   executor of the cache's commands; the boundary the action queue calls.
//! - [`hooks`]: `use_case`, `use_case_list`, `use_notes`, `use_metrics` → `QueryView`.
//! - `request`: query keys to `GET`s and answers to cache events.
//! - `storage`: the cache's IndexedDB records, restored at start-up, written as deltas.
//! - [`live`]: the change-event WebSocket feeding the cache's invalidations.

pub mod client;
pub mod hooks;
pub mod live;
mod request;
mod storage;

pub use client::{provide_query_client, provide_query_client_with, use_query_client, QueryClient};
pub use hooks::{use_case, use_case_list, use_metrics, use_notes, QueryView};
pub use live::LiveStatus;
