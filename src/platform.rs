//! Thin adapters over browser APIs. Each turns one browser facility into signals or async
//! functions and holds no business logic; that lives in `casedesk-core`. [`env`] bundles the
//! clock, timers, randomness and window events the glue is given once, at start-up.

pub mod broadcast;
pub mod clock;
pub mod download;
pub mod env;
pub mod events;
pub mod idb;
pub mod locks;
pub mod network;
pub mod persistence;
pub mod service_worker;
