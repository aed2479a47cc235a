//! The casedesk HTTP contract (`docs/api.md` §1) as Rust types, shared by the app
//! and the reference server so both sides agree on every field by construction.
//!
//! # Layout
//! - [`case`]: `Case`, its status and priority, the create body and the PATCH body.
//! - [`note`]: `Note` and its create body.
//! - [`person`]: people, sign-in and sessions, and a case's history (contract §4).
//! - [`list`]: the case list query (filters, sort, paging) and its page of results.
//! - [`metrics`]: the dashboard metrics.
//! - [`change`]: the change feed (`GET /changes`): a change, a page of them, feed positions.
//! - [`event`]: change events pushed over the WebSocket, each with its change.
//! - [`error`]: the error body every failing endpoint returns, and its codes.
//! - [`validate`]: the field rules (title length, tags…) both sides enforce.
//! - [`timestamp`]: RFC 3339 UTC instants; nothing here reads the clock.

pub mod case;
pub mod change;
pub mod error;
pub mod event;
pub mod list;
pub mod metrics;
pub mod note;
pub mod person;
pub mod timestamp;
pub mod validate;

pub use case::{Case, CasePatch, CaseStatus, NewCase, Priority};
pub use change::{Change, ChangeBody, ChangePage, ChangeSeq, Cursor, LogPosition, SeqOrder};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use event::{ChangeEvent, LiveEvent};
pub use list::{AssigneeFilter, CaseFilter, CaseList, CaseListQuery, CaseSort, FoldedText};
pub use metrics::{DashboardMetrics, DayCount, PriorityCounts, StatusCounts};
pub use note::{NewNote, Note};
pub use person::{
    FieldChange, HistoryEntry, HistoryKind, NewPerson, PasswordChange, Permission, Person,
    PersonPatch, Role, Session, SetupCodeIssued, SetupSignIn, SignIn,
};
pub use timestamp::Timestamp;
pub use validate::FieldErrors;

/// The path prefix of every API endpoint.
pub const API_PREFIX: &str = "/api/v1";

/// The ETag of a case at `version`: the version number in double quotes.
pub fn etag_for_version(version: u64) -> String {
    format!("\"{version}\"")
}

/// Reads a case version back from an `ETag`/`If-Match` value such as `"3"` or `W/"3"`.
pub fn version_from_etag(etag: &str) -> Option<u64> {
    let trimmed = etag.trim();
    let trimmed = trimmed.strip_prefix("W/").unwrap_or(trimmed);
    trimmed.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_round_trip_and_reject_garbage() {
        assert_eq!(etag_for_version(7), "\"7\"");
        assert_eq!(version_from_etag("\"7\""), Some(7));
        assert_eq!(version_from_etag(" W/\"12\" "), Some(12));
        assert_eq!(version_from_etag("7"), None);
        assert_eq!(version_from_etag("\"x\""), None);
        assert_eq!(version_from_etag("\""), None);
    }
}
