//! Query keys as types: what a cached query is (a case, a page of the case list, a case's
//! notes, the metrics; people and history), and [`KeyScope`], the typed "every list" or
//! "everything of case X" that invalidation and removal reach. Nothing here is parsed.

use casedesk_model::{AssigneeFilter, CaseListQuery};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use uuid::Uuid;

/// Identifies one cached query.
///
/// Its serde form (`{"case":"<id>"}`, `{"case_list":{…}}`, `"metrics"`) is the stored
/// cache's key: changing a variant's name or shape orphans stored records, which restore
/// then drops (see `persist`). The variants' order is the cache's key order: every list page
/// sits in one contiguous range (see [`QueryKey::before_every_list`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKey {
    /// `GET /cases/{id}`.
    Case(Uuid),
    /// `GET /cases?…`: one page of one filter and order.
    CaseList(ListKey),
    /// `GET /cases/{id}/notes`.
    Notes(Uuid),
    /// `GET /cases/{id}/history`.
    History(Uuid),
    /// `GET /dashboard/metrics`.
    Metrics,
    /// `GET /users`: every person, for pickers.
    Users,
}

impl QueryKey {
    /// One case.
    pub fn case(id: Uuid) -> Self {
        Self::Case(id)
    }

    /// One page of the case list. Two queries that differ only in defaults (a blank search,
    /// a search with spaces around it) share a key.
    pub fn case_list(query: &CaseListQuery) -> Self {
        Self::CaseList(ListKey::new(query.clone()))
    }

    /// A case's notes.
    pub fn notes(case_id: Uuid) -> Self {
        Self::Notes(case_id)
    }

    /// The dashboard metrics.
    pub fn metrics() -> Self {
        Self::Metrics
    }

    /// The case this query is about, when it is about one.
    pub fn case_id(&self) -> Option<Uuid> {
        match self {
            Self::Case(id) | Self::Notes(id) | Self::History(id) => Some(*id),
            Self::CaseList(_) | Self::Metrics | Self::Users => None,
        }
    }

    /// The list query behind a list key.
    pub fn list_query(&self) -> Option<&CaseListQuery> {
        match self {
            Self::CaseList(list) => Some(list.query()),
            _ => None,
        }
    }

    /// Every key of case `id`'s own queries.
    pub fn of_case(id: Uuid) -> [QueryKey; 3] {
        [Self::Case(id), Self::Notes(id), Self::History(id)]
    }

    /// A key below every list key and above every other key that sorts before them: the
    /// start (exclusive) of the lists' range in a map ordered by key. Holds because `Case`
    /// is declared right before `CaseList` and no case id is above `Uuid::max()`.
    pub(crate) fn before_every_list() -> Self {
        Self::Case(Uuid::max())
    }
}

/// People and logs read keys as paths (`cases/list/status=open`): the Sync page's request
/// table, the Devtools filter. Never parsed back.
impl fmt::Display for QueryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Case(id) => write!(f, "cases/{id}"),
            Self::CaseList(list) => {
                f.write_str("cases/list/")?;
                for (i, (name, value)) in list.query().to_pairs().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str("&")?;
                    }
                    write!(f, "{name}={value}")?;
                }
                Ok(())
            }
            Self::Notes(id) => write!(f, "notes/{id}"),
            Self::History(id) => write!(f, "history/{id}"),
            Self::Metrics => f.write_str("dashboard/metrics"),
            Self::Users => f.write_str("users"),
        }
    }
}

/// A case list query in canonical form (the search text trimmed, blank as none), so equal
/// lists are equal keys. Ordered field by field, so list keys can sit in a `BTreeMap`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ListKey(CaseListQuery);

impl ListKey {
    pub fn new(mut query: CaseListQuery) -> Self {
        query.q = query.search_text().map(str::to_owned);
        Self(query)
    }

    pub fn query(&self) -> &CaseListQuery {
        &self.0
    }

    /// Every field, in a comparable form that tells every distinct query apart.
    fn rank(&self) -> impl Ord + '_ {
        let q = &self.0;
        let assignee = q.assignee.as_ref().map(|a| match a {
            AssigneeFilter::Person(id) => (0u8, id.as_str()),
            AssigneeFilter::Me => (1, ""),
            AssigneeFilter::Unassigned => (2, ""),
        });
        (
            q.status,
            q.priority,
            q.q.as_deref(),
            q.sort.as_str(),
            q.page,
            q.per_page,
            assignee,
        )
    }
}

impl Ord for ListKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for ListKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for ListKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A stored key is canonicalized again, so an edited or older record cannot hold a list key
/// that a fresh one would never equal.
impl<'de> Deserialize<'de> for ListKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CaseListQuery::deserialize(deserializer).map(Self::new)
    }
}

/// Which keys an invalidation or a removal reaches.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum KeyScope {
    /// Every cached query (a missed stretch of live updates).
    Everything,
    /// One query.
    Key(QueryKey),
    /// Every page of every case list.
    CaseLists,
    /// Everything about one case: the case, its notes, its history.
    OfCase(Uuid),
}

impl KeyScope {
    pub fn matches(&self, key: &QueryKey) -> bool {
        match self {
            Self::Everything => true,
            Self::Key(own) => own == key,
            Self::CaseLists => matches!(key, QueryKey::CaseList(_)),
            Self::OfCase(id) => key.case_id() == Some(*id),
        }
    }
}

impl From<QueryKey> for KeyScope {
    fn from(key: QueryKey) -> Self {
        Self::Key(key)
    }
}

impl From<&QueryKey> for KeyScope {
    fn from(key: &QueryKey) -> Self {
        Self::Key(key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::{CaseSort, CaseStatus};
    use std::collections::BTreeSet;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn scopes_reach_what_they_name() {
        let open = CaseListQuery {
            status: Some(CaseStatus::Open),
            ..CaseListQuery::default()
        };
        let list = QueryKey::case_list(&open);
        let (case, notes, history) = (
            QueryKey::case(id(1)),
            QueryKey::notes(id(1)),
            QueryKey::History(id(1)),
        );
        let other = QueryKey::case(id(2));
        assert!(KeyScope::CaseLists.matches(&list));
        assert!(!KeyScope::CaseLists.matches(&case));
        assert!(!KeyScope::CaseLists.matches(&QueryKey::Metrics));
        for key in [&case, &notes, &history] {
            assert!(KeyScope::OfCase(id(1)).matches(key));
        }
        assert!(!KeyScope::OfCase(id(1)).matches(&other));
        assert!(!KeyScope::OfCase(id(1)).matches(&list));
        assert!(KeyScope::from(&case).matches(&case));
        assert!(!KeyScope::from(&case).matches(&notes));
        for key in [&list, &case, &QueryKey::Metrics, &QueryKey::Users] {
            assert!(KeyScope::Everything.matches(key));
        }
    }

    #[test]
    fn list_keys_form_one_range_after_the_marker() {
        let lists = [
            QueryKey::case_list(&CaseListQuery::default()),
            QueryKey::case_list(&CaseListQuery {
                q: Some("zzz".into()),
                sort: CaseSort::CreatedAsc,
                page: 9,
                ..CaseListQuery::default()
            }),
        ];
        let others = [
            QueryKey::case(Uuid::max()),
            QueryKey::case(Uuid::nil()),
            QueryKey::notes(Uuid::nil()),
            QueryKey::History(Uuid::nil()),
            QueryKey::Metrics,
            QueryKey::Users,
        ];
        let marker = QueryKey::before_every_list();
        let all: BTreeSet<&QueryKey> = lists.iter().chain(&others).collect();
        let after: Vec<&QueryKey> = all
            .range::<&QueryKey, _>((
                std::ops::Bound::Excluded(&marker),
                std::ops::Bound::Unbounded,
            ))
            .copied()
            .take_while(|k| KeyScope::CaseLists.matches(k))
            .collect();
        assert_eq!(after.len(), lists.len());
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
        let padded = CaseListQuery {
            q: Some(" printer ".into()),
            ..CaseListQuery::default()
        };
        let trimmed = CaseListQuery {
            q: Some("printer".into()),
            ..CaseListQuery::default()
        };
        assert_eq!(QueryKey::case_list(&padded), QueryKey::case_list(&trimmed));
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

    #[test]
    fn a_search_text_that_looks_like_a_query_string_stays_one_field() {
        // `q=x&page=2` and `q=x`, page 2, read the same as text; as keys they differ.
        let tricky = CaseListQuery {
            q: Some("x&page=2".into()),
            ..CaseListQuery::default()
        };
        let paged = CaseListQuery {
            q: Some("x".into()),
            page: 2,
            ..CaseListQuery::default()
        };
        let (a, b) = (QueryKey::case_list(&tricky), QueryKey::case_list(&paged));
        assert_eq!(a.to_string(), b.to_string());
        assert_ne!(a, b);
        assert_eq!(a.list_query(), Some(&tricky));
    }

    #[test]
    fn the_serialized_form_is_stable_and_round_trips() {
        let case = QueryKey::case(id(1));
        assert_eq!(
            serde_json::to_string(&case).unwrap(),
            r#"{"case":"00000000-0000-0000-0000-000000000001"}"#
        );
        assert_eq!(
            serde_json::to_string(&QueryKey::Metrics).unwrap(),
            r#""metrics""#
        );
        assert_eq!(
            serde_json::to_string(&QueryKey::notes(id(2))).unwrap(),
            r#"{"notes":"00000000-0000-0000-0000-000000000002"}"#
        );
        let list = QueryKey::case_list(&CaseListQuery {
            status: Some(CaseStatus::Open),
            q: Some("a/b".into()),
            ..CaseListQuery::default()
        });
        let json = serde_json::to_string(&list).unwrap();
        assert!(
            json.starts_with(r#"{"case_list":{"status":"open""#),
            "{json}"
        );
        for key in [
            case,
            list,
            QueryKey::Metrics,
            QueryKey::Users,
            QueryKey::History(id(3)),
        ] {
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(serde_json::from_str::<QueryKey>(&json).unwrap(), key);
        }
    }

    #[test]
    fn a_stored_list_key_is_read_back_canonical() {
        let json = r#"{"case_list":{"status":null,"priority":null,"q":"  printer ","sort":"-updated_at","page":1,"per_page":50}}"#;
        let key: QueryKey = serde_json::from_str(json).unwrap();
        assert_eq!(
            key,
            QueryKey::case_list(&CaseListQuery {
                q: Some("printer".into()),
                ..CaseListQuery::default()
            })
        );
    }

    #[test]
    fn keys_of_the_old_string_form_or_unknown_kinds_do_not_decode() {
        for json in [
            r#"["cases","00000000-0000-0000-0000-000000000001"]"#,
            r#"{"attachment":"00000000-0000-0000-0000-000000000001"}"#,
            r#"{"case":"not a uuid"}"#,
        ] {
            assert!(serde_json::from_str::<QueryKey>(json).is_err(), "{json}");
        }
    }
}
