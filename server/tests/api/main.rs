//! The server's behaviour over real HTTP: each test starts the built `casedesk-server`
//! binary on a free loopback port with its own temp database (see `api/support.rs`).

mod support;

mod accounts;
mod caching;
mod cases;
mod changes;
mod chaos;
mod client_errors;
mod compression;
mod counts;
mod errors;
mod events;
mod hostile;
mod idempotency;
mod limits;
mod logs;
mod metrics;
mod migration;
mod people;
mod process;
mod roles;
mod security;
mod shared_reads;
mod static_site;
mod telemetry;

/// Only on SQLite: PostgreSQL is backed up with pg_dump (its suite checks that `backup`
/// says so).
mod backup;
