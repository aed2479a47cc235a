//! The case list: its filters, sort orders and paging (`GET /cases`), the rule for which
//! cases a filter admits and in what order, and the page of results.
//!
//! The server implements the same rules in SQL; the app uses them to place a case created
//! or changed offline where the server will put it.

use crate::{Case, CaseStatus, FieldErrors, Priority};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use uuid::Uuid;

/// Default page size.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Largest page size the server accepts.
pub const MAX_PER_PAGE: u32 = 200;
/// Longest search text (`q`, in characters) the server accepts: longer text finds
/// nothing a person could be looking for and costs the database in proportion.
pub const MAX_SEARCH_CHARS: usize = 200;

/// How the list is ordered. Ties are broken by id, ascending, so paging is stable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseSort {
    #[serde(rename = "updated_at")]
    UpdatedAsc,
    #[default]
    #[serde(rename = "-updated_at")]
    UpdatedDesc,
    #[serde(rename = "priority")]
    PriorityAsc,
    #[serde(rename = "-priority")]
    PriorityDesc,
    #[serde(rename = "created_at")]
    CreatedAsc,
    #[serde(rename = "-created_at")]
    CreatedDesc,
}

impl CaseSort {
    /// Every order, default first.
    pub const ALL: [CaseSort; 6] = [
        Self::UpdatedDesc,
        Self::UpdatedAsc,
        Self::PriorityDesc,
        Self::PriorityAsc,
        Self::CreatedDesc,
        Self::CreatedAsc,
    ];

    /// The wire name (`-updated_at`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpdatedAsc => "updated_at",
            Self::UpdatedDesc => "-updated_at",
            Self::PriorityAsc => "priority",
            Self::PriorityDesc => "-priority",
            Self::CreatedAsc => "created_at",
            Self::CreatedDesc => "-created_at",
        }
    }

    /// What a person reads in the sort menu.
    pub fn label(self) -> &'static str {
        match self {
            Self::UpdatedAsc => "Least recently updated",
            Self::UpdatedDesc => "Recently updated",
            Self::PriorityAsc => "Lowest priority",
            Self::PriorityDesc => "Highest priority",
            Self::CreatedAsc => "Oldest",
            Self::CreatedDesc => "Newest",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The order in which `a` and `b` appear in a list sorted this way.
    pub fn compare(self, a: &Case, b: &Case) -> Ordering {
        self.key(a).cmp(&self.key(b))
    }

    /// Where `case` sorts in a list sorted this way: lists sorted by key are sorted by
    /// [`CaseSort::compare`]. Worth computing once per case when sorting many: comparing two
    /// times as dates costs far more than comparing two numbers.
    pub fn key(self, case: &Case) -> SortKey {
        // Ranks and millisecond counts (within ±10,000 years) negate without overflow.
        let rank = |priority: Priority| priority as i64;
        let primary = match self {
            Self::UpdatedAsc => case.updated_at.unix_millis(),
            Self::UpdatedDesc => -case.updated_at.unix_millis(),
            Self::PriorityAsc => rank(case.priority),
            Self::PriorityDesc => -rank(case.priority),
            Self::CreatedAsc => case.created_at.unix_millis(),
            Self::CreatedDesc => -case.created_at.unix_millis(),
        };
        SortKey {
            primary,
            id: case.id,
        }
    }
}

/// A case's place in one sort order: the order's value (negated when descending), then the id,
/// ascending, as the tie-break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    primary: i64,
    id: Uuid,
}

/// The `assignee` filter of `GET /cases`: `<id>`, `me` or `none`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeFilter {
    /// Cases assigned to this person (their id as text).
    Person(String),
    /// Cases assigned to whoever asks; resolve it with [`CaseListQuery::resolve_me`]
    /// before [`CaseListQuery::matches`] (unresolved, it matches nothing).
    Me,
    /// Cases assigned to nobody.
    Unassigned,
}

impl AssigneeFilter {
    /// Reads a query value: `me`, `none`, or anything else as a person.
    pub fn parse(text: &str) -> Self {
        match text {
            "me" => Self::Me,
            "none" => Self::Unassigned,
            other => Self::Person(other.to_owned()),
        }
    }

    /// The query value (`me`, `none`, or the person).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Person(id) => id,
            Self::Me => "me",
            Self::Unassigned => "none",
        }
    }
}

/// The query of `GET /cases`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaseListQuery {
    pub status: Option<CaseStatus>,
    pub priority: Option<Priority>,
    /// Searched in title and description, ASCII case-insensitively; blank means no search.
    pub q: Option<String>,
    pub sort: CaseSort,
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
    /// Only the cases of one assignee (absent in older stored queries).
    #[serde(default)]
    pub assignee: Option<AssigneeFilter>,
}

impl Default for CaseListQuery {
    fn default() -> Self {
        Self {
            status: None,
            priority: None,
            q: None,
            sort: CaseSort::default(),
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            assignee: None,
        }
    }
}

impl CaseListQuery {
    /// Reads `name=value` pairs (already percent-decoded), as from a URL's query string.
    /// Empty values mean "not set"; unknown names are ignored; bad values are named in the error.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FieldErrors> {
        let mut query = Self::default();
        let mut errors = FieldErrors::new();
        for (name, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name {
                "status" => match CaseStatus::parse(value) {
                    Some(s) => query.status = Some(s),
                    None => errors.insert(
                        "status",
                        format!("`{value}` is not a status: use open, in_progress, resolved or closed."),
                    ),
                },
                "priority" => match Priority::parse(value) {
                    Some(p) => query.priority = Some(p),
                    None => errors.insert(
                        "priority",
                        format!("`{value}` is not a priority: use low, medium, high or critical."),
                    ),
                },
                "q" => query.q = Some(value.to_owned()),
                "assignee" => query.assignee = Some(AssigneeFilter::parse(value)),
                "sort" => match CaseSort::parse(value) {
                    Some(s) => query.sort = s,
                    None => errors.insert(
                        "sort",
                        format!(
                            "`{value}` is not a sort order: use updated_at, -updated_at, priority, -priority, created_at or -created_at."
                        ),
                    ),
                },
                "page" => match value.parse::<u32>() {
                    Ok(p) if p >= 1 => query.page = p,
                    _ => errors.insert("page", format!("`{value}` is not a page number (1 or more).")),
                },
                "per_page" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_PER_PAGE).contains(&n) => query.per_page = n,
                    _ => errors.insert(
                        "per_page",
                        format!("`{value}` is not a page size: use a number from 1 to {MAX_PER_PAGE}."),
                    ),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// The `name=value` pairs that differ from the defaults, in a fixed order, values not
    /// yet percent-encoded. `from_pairs` reads them back to an equal query.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(priority) = self.priority {
            pairs.push(("priority", priority.as_str().to_owned()));
        }
        if let Some(q) = self.search_text() {
            pairs.push(("q", q.to_owned()));
        }
        if let Some(assignee) = &self.assignee {
            pairs.push(("assignee", assignee.as_str().to_owned()));
        }
        if self.sort != CaseSort::default() {
            pairs.push(("sort", self.sort.as_str().to_owned()));
        }
        if self.page != 1 {
            pairs.push(("page", self.page.to_string()));
        }
        if self.per_page != DEFAULT_PER_PAGE {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        pairs
    }

    /// The search text, trimmed, or `None` when blank.
    pub fn search_text(&self) -> Option<&str> {
        self.q.as_deref().map(str::trim).filter(|q| !q.is_empty())
    }

    /// `Err` naming `q` when the search text is longer than [`MAX_SEARCH_CHARS`] (the
    /// server's 422; a well-formed parameter whose value is refused).
    pub fn check_search_length(&self) -> Result<(), FieldErrors> {
        match self.search_text() {
            Some(text) if text.chars().count() > MAX_SEARCH_CHARS => {
                let mut errors = FieldErrors::new();
                errors.insert(
                    "q",
                    format!("The search text is too long: at most {MAX_SEARCH_CHARS} characters."),
                );
                Err(errors)
            }
            _ => Ok(()),
        }
    }

    /// Whether `case` passes this query's filters (paging aside).
    pub fn matches(&self, case: &Case) -> bool {
        self.filter().matches(case)
    }

    /// This query's filters ready to test many cases: the search text is folded once.
    pub fn filter(&self) -> CaseFilter<'_> {
        CaseFilter {
            query: self,
            needle: self.search_text().map(str::to_ascii_lowercase),
        }
    }

    /// This query with `assignee=me` made `me`'s id, as the server does for whoever asks.
    pub fn resolve_me(&self, me: &str) -> Self {
        let mut query = self.clone();
        if query.assignee == Some(AssigneeFilter::Me) {
            query.assignee = Some(AssigneeFilter::Person(me.to_owned()));
        }
        query
    }

    /// The same filters and order on another page.
    pub fn with_page(&self, page: u32) -> Self {
        Self {
            page: page.max(1),
            ..self.clone()
        }
    }

    /// How many items come before this page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.per_page)
    }
}

/// A list query's filters, compiled: [`CaseListQuery::matches`] for many cases.
///
/// The search is the server's: a substring of the title or the description, ASCII letters
/// compared without case and every other character exactly (SQLite's `lower()`, and
/// PostgreSQL's in the "C" collation, fold ASCII only; `%` and `_` are no wildcards).
#[derive(Clone, Debug)]
pub struct CaseFilter<'q> {
    query: &'q CaseListQuery,
    /// The search text, trimmed and ASCII-lower-cased.
    needle: Option<String>,
}

impl CaseFilter<'_> {
    /// Whether `case` passes the filters.
    pub fn matches(&self, case: &Case) -> bool {
        self.passes_fields(case)
            && self.needle.as_deref().is_none_or(|needle| {
                contains_ignoring_ascii_case(&case.title, needle)
                    || contains_ignoring_ascii_case(&case.description, needle)
            })
    }

    /// [`CaseFilter::matches`] for a case whose text was folded beforehand (`text` is
    /// [`FoldedText::of`] it): a search then costs a scan per case, not a copy.
    pub fn matches_folded(&self, case: &Case, text: &FoldedText) -> bool {
        self.passes_fields(case)
            && self.needle.as_deref().is_none_or(|needle| {
                text.title.contains(needle) || text.description.contains(needle)
            })
    }

    /// Status, priority and assignee.
    fn passes_fields(&self, case: &Case) -> bool {
        let query = self.query;
        if query.status.is_some_and(|s| s != case.status) {
            return false;
        }
        if query.priority.is_some_and(|p| p != case.priority) {
            return false;
        }
        match &query.assignee {
            None => true,
            Some(AssigneeFilter::Person(id)) => case.assignee.as_deref() == Some(id.as_str()),
            Some(AssigneeFilter::Unassigned) => case.assignee.is_none(),
            Some(AssigneeFilter::Me) => false,
        }
    }
}

/// A case's title and description as the search compares them (ASCII letters lower-cased),
/// for a device that searches the same cases again and again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldedText {
    title: String,
    description: String,
}

impl FoldedText {
    pub fn of(case: &Case) -> Self {
        Self {
            title: case.title.to_ascii_lowercase(),
            description: case.description.to_ascii_lowercase(),
        }
    }
}

/// Whether `haystack` contains `needle` (ASCII-lower-cased), ASCII letters compared without
/// case: lower-casing `haystack` and searching, without copying it.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    // A match starts at a character boundary: the needle's first byte starts a character.
    while let Some(tail) = haystack.get(from..) {
        let Some(found) = tail.iter().position(|&b| b == lower || b == upper) else {
            return false;
        };
        let start = from + found;
        match haystack.get(start + 1..start + needle.len()) {
            Some(candidate) if candidate.eq_ignore_ascii_case(rest) => return true,
            Some(_) => from = start + 1,
            None => return false,
        }
    }
    false
}

/// One page of `GET /cases`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseList {
    pub items: Vec<Case>,
    /// How many cases match the filters, over all pages.
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

impl CaseList {
    /// How many pages the matching cases fill (at least 1).
    pub fn page_count(&self) -> u64 {
        let per_page = u64::from(self.per_page.max(1));
        self.total.div_ceil(per_page).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use uuid::Uuid;

    #[test]
    fn search_text_over_the_limit_is_refused_by_characters_not_bytes() {
        let query = |q: String| CaseListQuery::from_pairs([("q", q.as_str())]).unwrap();
        assert!(query("é".repeat(MAX_SEARCH_CHARS))
            .check_search_length()
            .is_ok());
        assert!(query(format!("  {}  ", "a".repeat(MAX_SEARCH_CHARS)))
            .check_search_length()
            .is_ok());
        let refused = query("a".repeat(MAX_SEARCH_CHARS + 1)).check_search_length();
        assert!(refused.is_err_and(|fields| fields.iter().any(|(name, _)| name == "q")));
    }

    fn case(n: u128, priority: Priority, updated: i64) -> Case {
        Case {
            created_by: None,
            updated_by: None,
            id: Uuid::from_u128(n),
            title: format!("Case {n}"),
            description: "Printer TONER low".into(),
            status: CaseStatus::Open,
            priority,
            assignee: None,
            tags: vec![],
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            updated_at: Timestamp::from_unix_millis(updated).unwrap(),
            version: 1,
        }
    }

    #[test]
    fn search_folds_ascii_letters_only_and_has_no_wildcards() {
        let search = |q: &str, title: &str| {
            let mut found = case(1, Priority::Low, 0);
            found.title = title.into();
            CaseListQuery {
                q: Some(q.into()),
                ..CaseListQuery::default()
            }
            .matches(&found)
        };
        assert!(search("printer", "Printer JAMS"));
        assert!(search("JAMS", "Printer jams"));
        assert!(search("Ärger", "Ärger mit dem Drucker"));
        assert!(!search("ärger", "Ärger mit dem Drucker"), "Ä is not ASCII");
        assert!(search("0%", "100% done"));
        assert!(!search("1%0", "100% done"));
        assert!(search("a_b", "A_B"));
        assert!(!search("a_b", "axb"));
        assert!(!search("jams!", "jams"));
        assert!(!search("x", ""));
        // The description ("Printer TONER low") is searched too.
        assert!(search("toner", "Case 1"));
    }

    #[test]
    fn a_search_over_folded_text_finds_what_the_search_finds() {
        let titles = ["Printer JAMS", "Ärger mit 100% Toner_Rest", "", "ab"];
        let needles = [
            "printer", "JAMS", "Ärger", "ärger", "0%", "r_r", "x", "abc", " ab ",
        ];
        for title in titles {
            let mut found = case(1, Priority::Low, 0);
            found.title = title.into();
            let text = FoldedText::of(&found);
            for needle in needles {
                let query = CaseListQuery {
                    q: Some(needle.into()),
                    ..CaseListQuery::default()
                };
                let filter = query.filter();
                assert_eq!(
                    filter.matches_folded(&found, &text),
                    filter.matches(&found),
                    "{needle:?} in {title:?}"
                );
            }
        }
    }

    #[test]
    fn sorting_by_key_is_sorting_by_compare_ties_by_id() {
        let cases: Vec<Case> = (1..=12)
            .map(|n| case(n, Priority::ALL[(n % 4) as usize], (n % 3) as i64 * 1_000))
            .collect();
        for sort in CaseSort::ALL {
            let mut by_compare = cases.clone();
            by_compare.sort_by(|a, b| sort.compare(a, b));
            let mut by_key = cases.clone();
            by_key.sort_by_key(|c| sort.key(c));
            assert_eq!(by_compare, by_key, "{sort:?}");
            for pair in by_key.windows(2) {
                assert_eq!(sort.compare(&pair[0], &pair[1]), Ordering::Less, "{sort:?}");
            }
        }
        let mut newest = cases;
        newest.sort_by_key(|c| CaseSort::UpdatedDesc.key(c));
        let first: Vec<u128> = newest.iter().take(4).map(|c| c.id.as_u128()).collect();
        assert_eq!(first, vec![2, 5, 8, 11]);
    }

    #[test]
    fn the_assignee_filter_reads_me_none_and_ids() {
        let query = CaseListQuery::from_pairs([("assignee", "me")]).unwrap();
        assert_eq!(query.assignee, Some(AssigneeFilter::Me));
        let mut mine = case(1, Priority::Low, 0);
        mine.assignee = Some("abc".into());
        assert!(!query.matches(&mine), "unresolved `me` matches nothing");
        assert!(query.resolve_me("abc").matches(&mine));
        assert!(!query.resolve_me("xyz").matches(&mine));
        let none = CaseListQuery::from_pairs([("assignee", "none")]).unwrap();
        assert!(!none.matches(&mine));
        assert!(none.matches(&case(2, Priority::Low, 0)));
        let by_id = CaseListQuery::from_pairs([("assignee", "abc")]).unwrap();
        assert!(by_id.matches(&mine));
        assert_eq!(by_id.to_pairs(), vec![("assignee", "abc".to_owned())]);
    }

    #[test]
    fn pairs_round_trip_and_defaults_are_omitted() {
        let query = CaseListQuery {
            status: Some(CaseStatus::InProgress),
            priority: None,
            q: Some("printer".into()),
            sort: CaseSort::PriorityDesc,
            page: 3,
            per_page: 50,
            assignee: Some(AssigneeFilter::Unassigned),
        };
        let pairs = query.to_pairs();
        assert_eq!(
            pairs,
            vec![
                ("status", "in_progress".to_owned()),
                ("q", "printer".to_owned()),
                ("assignee", "none".to_owned()),
                ("sort", "-priority".to_owned()),
                ("page", "3".to_owned())
            ]
        );
        let back = CaseListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, query);
        assert!(CaseListQuery::default().to_pairs().is_empty());
    }

    #[test]
    fn bad_parameters_are_each_named() {
        let errors = CaseListQuery::from_pairs([
            ("status", "pending"),
            ("per_page", "500"),
            ("page", "0"),
            ("sort", "title"),
            ("unknown", "x"),
            ("priority", ""),
        ])
        .unwrap_err();
        let names: Vec<_> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["page", "per_page", "sort", "status"]);
    }

    #[test]
    fn search_is_case_insensitive_over_title_and_description() {
        let c = case(1, Priority::Low, 0);
        let q = |text: &str| CaseListQuery {
            q: Some(text.into()),
            ..CaseListQuery::default()
        };
        assert!(q("toner").matches(&c));
        assert!(q("CASE 1").matches(&c));
        assert!(q("   ").matches(&c));
        assert!(!q("stapler").matches(&c));
    }

    #[test]
    fn sorting_breaks_ties_by_id() {
        let a = case(1, Priority::High, 10);
        let b = case(2, Priority::High, 10);
        let c = case(3, Priority::Critical, 5);
        let mut list = vec![b.clone(), c.clone(), a.clone()];
        list.sort_by(|x, y| CaseSort::PriorityDesc.compare(x, y));
        assert_eq!(list, vec![c.clone(), a.clone(), b.clone()]);
        list.sort_by(|x, y| CaseSort::UpdatedDesc.compare(x, y));
        assert_eq!(list, vec![a, b, c]);
    }

    #[test]
    fn page_count_rounds_up_and_is_at_least_one() {
        let list = |total| CaseList {
            items: vec![],
            total,
            page: 1,
            per_page: 50,
        };
        assert_eq!(list(0).page_count(), 1);
        assert_eq!(list(50).page_count(), 1);
        assert_eq!(list(51).page_count(), 2);
    }
}
