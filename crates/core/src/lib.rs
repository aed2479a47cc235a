//! casedesk's data layer as pure logic, with no browser types: everything here is driven by
//! events and an injected clock, so it is tested natively and runs unchanged in the browser.
//!
//! # Layout
//! - [`clock`]: milliseconds, durations, and the injected `Clock` and `Random`.
//! - [`failure`]: why a request failed and whether that is transient, permanent, auth or conflict.
//! - [`retry`]: the backoff schedule (exponential, full jitter, capped, `Retry-After` as a floor).
//! - [`key`]: query keys and prefix matching.
//! - [`action`]: what a person did (`CreateCase`, `UpdateCase`, `DeleteCase`, `AddNote`).
//! - [`data`]: what a query can hold (a case, a page of cases, notes, metrics).

pub mod action;
pub mod clock;
pub mod data;
pub mod failure;
pub mod key;
pub mod retry;

pub use action::{Action, ActionKind};
pub use clock::{Clock, DurationMs, Millis, Random, SeededRandom};
pub use data::QueryData;
pub use failure::{Failure, FailureClass};
pub use key::QueryKey;
pub use retry::RetryPolicy;
