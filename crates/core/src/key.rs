//! Query keys: lists of segments (`["cases", "list", "status=open"]`, `["cases", id]`).
//! Invalidation matches by prefix, so `["cases"]` reaches every case query at once.

use casedesk_model::CaseListQuery;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Identifies one cached query.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueryKey(Vec<String>);

impl QueryKey {
    /// A key from its segments.
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self(segments.into_iter().map(Into::into).collect())
    }

    /// One case: `["cases", "<id>"]`.
    pub fn case(id: Uuid) -> Self {
        Self::new(["cases".to_owned(), id.to_string()])
    }

    /// One page of the case list: `["cases", "list", "<canonical query>"]`. Two queries that
    /// differ only in defaults share a key.
    pub fn case_list(query: &CaseListQuery) -> Self {
        let canonical = query
            .to_pairs()
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        Self::new(["cases".to_owned(), "list".to_owned(), canonical])
    }

    /// Every page of every case list.
    pub fn all_case_lists() -> Self {
        Self::new(["cases", "list"])
    }

    /// A case's notes: `["notes", "<case id>"]`.
    pub fn notes(case_id: Uuid) -> Self {
        Self::new(["notes".to_owned(), case_id.to_string()])
    }

    /// The dashboard metrics: `["dashboard", "metrics"]`.
    pub fn metrics() -> Self {
        Self::new(["dashboard", "metrics"])
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// Whether `prefix`'s segments begin this key (every key starts with the empty key).
    pub fn starts_with(&self, prefix: &QueryKey) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Debug for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl fmt::Display for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::CaseStatus;

    #[test]
    fn prefixes_match_whole_segments_only() {
        let id = Uuid::from_u128(1);
        let case = QueryKey::case(id);
        assert!(case.starts_with(&QueryKey::new(["cases"])));
        assert!(case.starts_with(&QueryKey::new(Vec::<String>::new())));
        assert!(!case.starts_with(&QueryKey::new(["case"])));
        assert!(!QueryKey::notes(id).starts_with(&QueryKey::new(["cases"])));
        let list = QueryKey::case_list(&CaseListQuery::default());
        assert!(list.starts_with(&QueryKey::all_case_lists()));
    }

    #[test]
    fn equivalent_list_queries_share_a_key() {
        let explicit = CaseListQuery {
            page: 1,
            per_page: 50,
            q: Some("  ".into()),
            ..CaseListQuery::default()
        };
        assert_eq!(
            QueryKey::case_list(&explicit),
            QueryKey::case_list(&CaseListQuery::default())
        );
        let filtered = CaseListQuery {
            status: Some(CaseStatus::Open),
            ..CaseListQuery::default()
        };
        assert_ne!(
            QueryKey::case_list(&filtered),
            QueryKey::case_list(&CaseListQuery::default())
        );
        assert_eq!(
            QueryKey::case_list(&filtered).to_string(),
            "cases/list/status=open"
        );
    }
}
