//! The server's behaviour over real HTTP: each test starts the built `casedesk-server`
//! binary on a free loopback port with its own temp database (see `api/support.rs`).

mod support;

mod accounts;
mod caching;
mod cases;
mod changes;
mod chaos;
mod counts;
mod errors;
mod events;
mod hostile;
mod idempotency;
mod limits;
mod metrics;
mod migration;
mod people;
mod process;
mod roles;
mod security;
mod shared_reads;
mod static_site;
