//! The HTTP suite of `tests/api` again, on PostgreSQL: the same files (one suite, not a
//! copy); `support` reads the engine from this crate's name and gives each server a fresh
//! database in one throwaway cluster per run.

#[path = "../api/accounts.rs"]
mod accounts;
#[path = "../api/caching.rs"]
mod caching;
#[path = "../api/cases.rs"]
mod cases;
#[path = "../api/changes.rs"]
mod changes;
#[path = "../api/chaos.rs"]
mod chaos;
#[path = "../api/client_errors.rs"]
mod client_errors;
#[path = "../api/compression.rs"]
mod compression;
#[path = "../api/counts.rs"]
mod counts;
#[path = "../api/errors.rs"]
mod errors;
#[path = "../api/events.rs"]
mod events;
#[path = "../api/hostile.rs"]
mod hostile;
#[path = "../api/idempotency.rs"]
mod idempotency;
#[path = "../api/limits.rs"]
mod limits;
#[path = "../api/logs.rs"]
mod logs;
#[path = "../api/metrics.rs"]
mod metrics;
#[path = "../api/migration.rs"]
mod migration;
#[path = "../api/people.rs"]
mod people;
#[path = "../api/process.rs"]
mod process;
#[path = "../api/roles.rs"]
mod roles;
#[path = "../api/security.rs"]
mod security;
#[path = "../api/shared_reads.rs"]
mod shared_reads;
#[path = "../api/static_site.rs"]
mod static_site;
#[path = "../api/support.rs"]
mod support;
#[path = "../api/telemetry.rs"]
mod telemetry;

/// Only on PostgreSQL: TLS to the database, and `backup` pointing to pg_dump.
mod operations;
/// Only on PostgreSQL: several servers on one database.
mod servers;
