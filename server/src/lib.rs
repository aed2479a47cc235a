//! The casedesk reference API server: docs/api.md §1 over axum and SQLite or PostgreSQL, with
//! idempotency keys, live change events, fault injection and the built app's static files.
//!
//! # Layout
//! - [`config`]: the command line (docs/api.md §3), each flag also `CASEDESK_<FLAG>`.
//! - `state`: what every request can reach (`AppState`). `app`: the router and its layers,
//!   start-up and graceful shutdown.
//!   `connections` accepts and serves connections (connection cap, header timeout, peer
//!   address, per-address cap, the client behind a trusted proxy). A request passes
//!   `security_headers` → `request_id` (id, error bodies) → `telemetry` (its span and log
//!   line, the request metrics) → the `Host`/`Origin` check (`origin`) → CORS → the request
//!   timeout → its deadline for the database → then either `api` (compression → auth →
//!   rate limit → chaos → body limit → the route's role rule → handler), `/health` (rate
//!   limit), `/metrics` (`telemetry`), `/__chaos` (loopback clients only), or
//!   `static_files`. `api` builds the router from one list of routes, each with its rule
//!   (`api_routes` lists them).
//! - `api`: the `/api/v1` handlers; changes go through one `mutate` helper that runs the
//!   idempotency protocol (`idempotency`) inside the write transaction and publishes
//!   change events (`events`) after commit.
//! - `change_log`: the log of changes behind `GET /changes`, written in each change's
//!   transaction and numbered in commit order; `change_feed`: the `/changes` endpoint (a
//!   person's working set, then the log; cursors, pages bounded by count and bytes).
//! - `cases`, `metrics`: the SQL, equal to the model's filters, order and definitions.
//! - `db`: the storage interface (`Sql`) and its two engines, SQLite (one writer, read-only
//!   readers, WAL) and PostgreSQL (a pool; row and advisory locks), each with its schema.
//!   `pg_events`: change events between servers on one PostgreSQL (LISTEN/NOTIFY).
//! - `body`, `conditional`: request bodies (413/415/400/422) and ETag/304; `compression`:
//!   API answers over 1 KiB sent `br` or `gzip`.
//! - `auth`, `rate_limit`, `chaos`: the middleware of the same names; `chaos/hostile`
//!   holds the hostile answers (refusals before the handler, garblings after it); `peer`:
//!   the client's address as the limits count it (`--trust-proxy`), and what each holds.
//! - People (docs/api.md §4): `people` (people and passwords in SQL, the built-in and demo
//!   people, the migration of free-text assignees), `sessions` (tokens, stored hashed,
//!   sliding expiry), `sign_in` (`/session`, `/me`, `/users`, the sign-in throttle),
//!   `password_checks` (how many Argon2id computations run and wait at once),
//!   `history` (a case's history, written in each change's transaction), `origin` (the
//!   `Host` check against DNS rebinding and the `Origin` check against CSRF and
//!   cross-site sockets, `--public-origin`). `auth` resolves who a request acts as and what
//!   their role allows. `accounts` (people managed by admins, setup codes, one's own
//!   password and sessions) with `setup_codes`; `user_command` (`user add|passwd|role|
//!   deactivate` from the shell).
//! - Operations (docs/api.md §7): `telemetry` (the request log line, `/metrics`; not the
//!   dashboard's `metrics`), [`logging`] (text or JSON lines), [`backup`] (a live SQLite
//!   copy), `client_errors` (the app's crash reports).
//! - `seed`: deterministic demo data.
//! - `error`: [`ApiError`](error) rendered as the contract's error body; [`StartError`].

pub mod config;
pub mod logging;

mod accounts;
mod api;
mod app;
mod auth;
mod backup;
mod body;
mod cases;
mod change_feed;
mod change_log;
mod chaos;
mod client_errors;
mod clock;
mod compression;
mod conditional;
mod connections;
mod db;
mod error;
mod events;
mod history;
mod idempotency;
mod metrics;
mod origin;
mod password_checks;
mod peer;
mod people;
mod pg_events;
mod rate_limit;
mod request_id;
mod security_headers;
mod seed;
mod sessions;
mod setup_codes;
mod sign_in;
mod state;
mod static_files;
mod telemetry;
mod user_command;

pub use api::{api_routes, Access, ApiRoute};
pub use app::run;
pub use backup::{backup, BackupError, BackupSummary};
pub use config::Config;
pub use error::StartError;
pub use user_command::{add_user, deactivate, set_password, set_role};
