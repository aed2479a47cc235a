//! casedesk, the app: an offline-first case-management SPA on Leptos 0.8 (client-side rendered).
//!
//! # Layout
//! - [`api`]: the typed HTTP client for the casedesk API.
//! - [`app`]: the router, the layout every page shares (header, nav, sync indicator, alerts).
//! - [`config`]: what a running app talks to and where it keeps its state (`AppConfig`).
//! - [`pages`]: one module per route of docs/api.md §2.
//! - [`people`]: the people the server knows, for pickers and names on ids, and managing them.
//! - [`permissions`]: what the signed-in person's role lets them do on screen.
//! - [`components`]: pieces several pages use.
//! - [`offline`]: the write side: the durable action queue (IndexedDB), the retry worker,
//!   one drainer across tabs (Web Locks, BroadcastChannel).
//! - [`query`]: the query client and hooks: cached server data with pending actions on top.
//! - [`session`]: who is signed in: the token and person in IndexedDB, signing in and out,
//!   and a session the server ended.
//! - [`settings`]: the person's settings on this device (conflict policy, list freshness).
//! - [`platform`]: thin adapters over browser APIs, and the environment (clock, timers,
//!   randomness, online/focus/visibility) the query client and the queue are given once.
//!
//! Pure logic (cache, overlay, retry, queue) lives in `casedesk-core`, tested natively; the
//! contract's types live in `casedesk-model`.

pub mod alerts;
pub mod api;
pub mod app;
pub mod components;
pub mod config;
pub mod offline;
pub mod pages;
pub mod people;
pub mod permissions;
pub mod platform;
pub mod query;
pub mod session;
pub mod settings;
pub mod words;

pub use app::App;
pub use config::AppConfig;
