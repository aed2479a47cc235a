//! Cases and notes in SQL: row mapping, the list query (filters, search and order equal to
//! `CaseListQuery::matches` and `CaseSort::compare`), and the status bookkeeping behind
//! the dashboard (`resolved_at`, `closed_at`).
//!
//! Ids are stored as 16-byte BLOBs, whose memcmp order is `Uuid`'s `Ord`, so the SQL
//! tie-break `id ASC` equals the model's. Times are Unix milliseconds, the model's
//! precision. Deleted cases keep their row (`deleted_at` set) so their ids stay taken.

use casedesk_model::{
    AssigneeFilter, Case, CaseList, CaseListQuery, CaseSort, CaseStatus, Note, Priority, Timestamp,
};
use rusqlite::types::{FromSqlError, Value};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

const CASE_COLUMNS: &str = "id, title, description, status, priority, assignee, tags, \
     created_at, updated_at, version, created_by, updated_by";
/// The first column after [`CASE_COLUMNS`].
const AFTER_CASE: usize = 12;

/// A case row with the bookkeeping the wire format does not show.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CaseRecord {
    pub(crate) case: Case,
    /// When the case last entered `resolved` (kept when it is closed afterwards).
    pub(crate) resolved_at: Option<i64>,
    /// When the case last entered `closed`.
    pub(crate) closed_at: Option<i64>,
    pub(crate) deleted: bool,
}

impl CaseRecord {
    /// A new case's record, with its status times set as of its creation.
    pub(crate) fn new(case: Case) -> Self {
        let mut record = Self {
            case,
            resolved_at: None,
            closed_at: None,
            deleted: false,
        };
        let created = record.case.created_at.unix_millis();
        record.track_status(None, created);
        record
    }

    /// Updates `resolved_at`/`closed_at` after the status changed from `previous` at `at`.
    pub(crate) fn track_status(&mut self, previous: Option<CaseStatus>, at: i64) {
        let status = self.case.status;
        if previous == Some(status) {
            return;
        }
        match status {
            CaseStatus::Open | CaseStatus::InProgress => {
                self.resolved_at = None;
                self.closed_at = None;
            }
            CaseStatus::Resolved => {
                self.resolved_at = Some(at);
                self.closed_at = None;
            }
            CaseStatus::Closed => self.closed_at = Some(at),
        }
    }
}

fn conversion_error(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        Box::new(FromSqlError::Other(message.into())),
    )
}

fn timestamp(row: &Row<'_>, column: usize) -> rusqlite::Result<Timestamp> {
    let millis: i64 = row.get(column)?;
    Timestamp::from_unix_millis(millis)
        .ok_or_else(|| conversion_error(column, format!("{millis} ms is not a time")))
}

fn uuid(row: &Row<'_>, column: usize) -> rusqlite::Result<Uuid> {
    let bytes: [u8; 16] = row.get(column)?;
    Ok(Uuid::from_bytes(bytes))
}

fn optional_uuid(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Uuid>> {
    let bytes: Option<[u8; 16]> = row.get(column)?;
    Ok(bytes.map(Uuid::from_bytes))
}

/// Reads the columns of [`CASE_COLUMNS`], starting at column 0.
fn case_from_row(row: &Row<'_>) -> rusqlite::Result<Case> {
    let status: String = row.get(3)?;
    let status = CaseStatus::parse(&status)
        .ok_or_else(|| conversion_error(3, format!("`{status}` is not a status")))?;
    let priority = priority_from_rank(row.get(4)?)
        .ok_or_else(|| conversion_error(4, "bad priority rank".into()))?;
    let tags: String = row.get(6)?;
    let tags: Vec<String> = serde_json::from_str(&tags)
        .map_err(|e| conversion_error(6, format!("tags are not a JSON list: {e}")))?;
    let version: i64 = row.get(9)?;
    Ok(Case {
        created_by: optional_uuid(row, 10)?,
        updated_by: optional_uuid(row, 11)?,
        id: uuid(row, 0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        status,
        priority,
        assignee: row.get(5)?,
        tags,
        created_at: timestamp(row, 7)?,
        updated_at: timestamp(row, 8)?,
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// Priorities are stored as their rank, so `ORDER BY priority` is the model's order.
pub(crate) fn priority_rank(priority: Priority) -> i64 {
    match priority {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Critical => 3,
    }
}

fn priority_from_rank(rank: i64) -> Option<Priority> {
    Priority::ALL
        .into_iter()
        .find(|p| priority_rank(*p) == rank)
}

fn tags_json(tags: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".into())
}

fn version_value(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The case with `id`, deleted or not.
pub(crate) fn find(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<CaseRecord>> {
    conn.query_row(
        &format!(
            "SELECT {CASE_COLUMNS}, resolved_at, closed_at, deleted_at FROM cases WHERE id = ?1"
        ),
        [id.as_bytes()],
        |row| {
            Ok(CaseRecord {
                case: case_from_row(row)?,
                resolved_at: row.get(AFTER_CASE)?,
                closed_at: row.get(AFTER_CASE + 1)?,
                deleted: row.get::<_, Option<i64>>(AFTER_CASE + 2)?.is_some(),
            })
        },
    )
    .optional()
}

/// The case with `id` unless it is unknown or deleted.
pub(crate) fn find_live(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<CaseRecord>> {
    Ok(find(conn, id)?.filter(|record| !record.deleted))
}

pub(crate) fn insert(conn: &Connection, record: &CaseRecord) -> rusqlite::Result<()> {
    let case = &record.case;
    conn.execute(
        "INSERT INTO cases (id, title, description, status, priority, assignee, tags,
             created_at, updated_at, version, resolved_at, closed_at, deleted_at, created_by,
             updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, ?13, ?14)",
        params![
            case.id.as_bytes(),
            case.title,
            case.description,
            case.status.as_str(),
            priority_rank(case.priority),
            case.assignee,
            tags_json(&case.tags),
            case.created_at.unix_millis(),
            case.updated_at.unix_millis(),
            version_value(case.version),
            record.resolved_at,
            record.closed_at,
            case.created_by.as_ref().map(Uuid::as_bytes),
            case.updated_by.as_ref().map(Uuid::as_bytes),
        ],
    )?;
    Ok(())
}

pub(crate) fn update(conn: &Connection, record: &CaseRecord) -> rusqlite::Result<()> {
    let case = &record.case;
    conn.execute(
        "UPDATE cases SET title = ?2, description = ?3, status = ?4, priority = ?5,
             assignee = ?6, tags = ?7, updated_at = ?8, version = ?9, resolved_at = ?10,
             closed_at = ?11, updated_by = ?12
         WHERE id = ?1",
        params![
            case.id.as_bytes(),
            case.title,
            case.description,
            case.status.as_str(),
            priority_rank(case.priority),
            case.assignee,
            tags_json(&case.tags),
            case.updated_at.unix_millis(),
            version_value(case.version),
            record.resolved_at,
            record.closed_at,
            case.updated_by.as_ref().map(Uuid::as_bytes),
        ],
    )?;
    Ok(())
}

/// Marks a case deleted at `at`, at `version`, by `by`.
pub(crate) fn mark_deleted(
    conn: &Connection,
    id: Uuid,
    version: u64,
    at: Timestamp,
    by: Uuid,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE cases SET deleted_at = ?2, updated_at = ?2, version = ?3, updated_by = ?4
         WHERE id = ?1",
        params![
            id.as_bytes(),
            at.unix_millis(),
            version_value(version),
            by.as_bytes()
        ],
    )?;
    Ok(())
}

fn order_by(sort: CaseSort) -> &'static str {
    match sort {
        CaseSort::UpdatedAsc => "updated_at ASC, id ASC",
        CaseSort::UpdatedDesc => "updated_at DESC, id ASC",
        CaseSort::PriorityAsc => "priority ASC, id ASC",
        CaseSort::PriorityDesc => "priority DESC, id ASC",
        CaseSort::CreatedAsc => "created_at ASC, id ASC",
        CaseSort::CreatedDesc => "created_at DESC, id ASC",
    }
}

/// One page of live cases matching `query`, and how many match in all.
///
/// Without a search, the count and the page each come from a covering index. A search
/// must look at every row, so it is done in one table scan that also counts the matches
/// (`count(*) OVER ()`); `+deleted_at` keeps SQLite from walking an index and fetching
/// each row from it, which is slower for all but the most common words.
pub(crate) fn list(conn: &Connection, query: &CaseListQuery) -> rusqlite::Result<CaseList> {
    let search = query.search_text().map(str::to_ascii_lowercase);
    let mut filter = String::from(if search.is_some() {
        "+deleted_at IS NULL"
    } else {
        "deleted_at IS NULL"
    });
    let mut values: Vec<Value> = Vec::new();
    if let Some(status) = query.status {
        values.push(Value::Text(status.as_str().to_owned()));
        filter.push_str(&format!(" AND status = ?{}", values.len()));
    }
    if let Some(priority) = query.priority {
        values.push(Value::Integer(priority_rank(priority)));
        filter.push_str(&format!(" AND priority = ?{}", values.len()));
    }
    match &query.assignee {
        None => {}
        Some(AssigneeFilter::Person(id)) => {
            values.push(Value::Text(id.clone()));
            filter.push_str(&format!(" AND assignee = ?{}", values.len()));
        }
        Some(AssigneeFilter::Unassigned) => filter.push_str(" AND assignee IS NULL"),
        // The handler resolves `me`; unresolved, it matches nothing, as in the model.
        Some(AssigneeFilter::Me) => filter.push_str(" AND 0"),
    }
    if let Some(text) = search.clone() {
        // SQLite's built-in lower() folds ASCII only, exactly like to_ascii_lowercase, and
        // instr() takes the text literally (no LIKE wildcards).
        values.push(Value::Text(text));
        let n = values.len();
        filter.push_str(&format!(
            " AND (instr(lower(title), ?{n}) > 0 OR instr(lower(description), ?{n}) > 0)"
        ));
    }
    let count_sql = format!("SELECT count(*) FROM cases WHERE {filter}");
    let count = |values: &[Value]| -> rusqlite::Result<u64> {
        let total: i64 = conn
            .prepare_cached(&count_sql)?
            .query_row(rusqlite::params_from_iter(values.iter()), |row| row.get(0))?;
        Ok(u64::try_from(total).unwrap_or(0))
    };

    let mut page_values = values.clone();
    page_values.push(Value::Integer(i64::from(query.per_page)));
    page_values.push(Value::Integer(
        i64::try_from(query.offset()).unwrap_or(i64::MAX),
    ));
    let n = page_values.len();
    let window = if search.is_some() {
        ", count(*) OVER ()"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {CASE_COLUMNS}{window} FROM cases WHERE {filter} ORDER BY {} LIMIT ?{} OFFSET ?{n}",
        order_by(query.sort),
        n - 1
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut counted = None;
    let items = statement
        .query_map(rusqlite::params_from_iter(page_values.iter()), |row| {
            if search.is_some() && counted.is_none() {
                counted = Some(row.get::<_, i64>(AFTER_CASE)?);
            }
            case_from_row(row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let total = match counted {
        Some(total) => u64::try_from(total).unwrap_or(0),
        // No search, or a page past the last match: count on their own.
        None => count(&values)?,
    };
    Ok(CaseList {
        items,
        total,
        page: query.page,
        per_page: query.per_page,
    })
}

fn note_from_row(row: &Row<'_>) -> rusqlite::Result<Note> {
    Ok(Note {
        author_id: optional_uuid(row, 5)?,
        id: uuid(row, 0)?,
        case_id: uuid(row, 1)?,
        body: row.get(2)?,
        author: row.get(3)?,
        created_at: timestamp(row, 4)?,
    })
}

/// The notes of a case, oldest first (arrival order breaks ties).
pub(crate) fn notes(conn: &Connection, case_id: Uuid) -> rusqlite::Result<Vec<Note>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, case_id, body, author, created_at, author_id FROM notes
         WHERE case_id = ?1 ORDER BY created_at, seq",
    )?;
    let notes = statement
        .query_map([case_id.as_bytes()], note_from_row)?
        .collect();
    notes
}

pub(crate) fn note_exists(conn: &Connection, id: Uuid) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM notes WHERE id = ?1)",
        [id.as_bytes()],
        |row| row.get(0),
    )
}

pub(crate) fn insert_note(conn: &Connection, note: &Note) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO notes (id, case_id, body, author, created_at, author_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            note.id.as_bytes(),
            note.case_id.as_bytes(),
            note.body,
            note.author,
            note.created_at.unix_millis(),
            note.author_id.as_ref().map(Uuid::as_bytes),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn case(n: u128, title: &str, description: &str, priority: Priority, updated: i64) -> Case {
        Case {
            created_by: None,
            updated_by: None,
            id: Uuid::from_u128(n),
            title: title.into(),
            description: description.into(),
            status: CaseStatus::Open,
            priority,
            assignee: None,
            tags: vec!["t".into()],
            created_at: Timestamp::from_unix_millis(1_000 + n as i64 % 3).unwrap(),
            updated_at: Timestamp::from_unix_millis(updated).unwrap(),
            version: 1,
        }
    }

    fn sample() -> Vec<Case> {
        let texts = [
            ("Printer jams", "floor 3"),
            ("VPN down", "100% packet loss"),
            ("Badge reader", "under_score and PRINTER"),
            ("printer toner", ""),
            ("Ünïcode PRINTER", "Ä"),
            ("Wildcard", "50%_off"),
        ];
        let mut cases = Vec::new();
        for n in 0..60u128 {
            let (title, description) = texts[(n % 6) as usize];
            // Ids out of insertion order and in both halves of the byte range.
            let id = n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834) ^ (n << 120);
            let priority = Priority::ALL[(n % 4) as usize];
            cases.push(case(id, title, description, priority, (n % 7) as i64));
        }
        cases
    }

    #[tokio::test]
    async fn sql_filters_and_order_equal_the_models() {
        let (db, _) = Db::open(":memory:").unwrap();
        let all = sample();
        let rows = all.clone();
        db.with_writer(move |conn| {
            for c in &rows {
                insert(conn, &CaseRecord::new(c.clone()))?;
            }
            Ok(())
        })
        .await
        .unwrap();
        for sort in CaseSort::ALL {
            for q in [
                None,
                Some("printer"),
                Some("%"),
                Some("_"),
                Some("0%_"),
                Some("ä"),
            ] {
                for status in [None, Some(CaseStatus::Open), Some(CaseStatus::Closed)] {
                    let query = CaseListQuery {
                        status,
                        q: q.map(str::to_owned),
                        sort,
                        per_page: 7,
                        page: 2,
                        ..CaseListQuery::default()
                    };
                    let mut expected: Vec<Case> =
                        all.iter().filter(|c| query.matches(c)).cloned().collect();
                    expected.sort_by(|a, b| sort.compare(a, b));
                    let page: Vec<Case> = expected.iter().skip(7).take(7).cloned().collect();
                    let q2 = query.clone();
                    let got = db
                        .read(move |tx| list(tx, &q2).map_err(crate::db::DbError::from))
                        .await
                        .unwrap();
                    assert_eq!(got.total, expected.len() as u64, "{query:?}");
                    assert_eq!(got.items, page, "{query:?}");
                    // Past the last page: no items, the same total.
                    let beyond = query.with_page(50);
                    let got = db
                        .read(move |tx| list(tx, &beyond).map_err(crate::db::DbError::from))
                        .await
                        .unwrap();
                    assert!(got.items.is_empty());
                    assert_eq!(got.total, expected.len() as u64, "{query:?}");
                }
            }
        }
    }

    #[test]
    fn status_times_follow_the_lifecycle() {
        let mut record = CaseRecord::new(case(1, "t", "", Priority::Low, 0));
        assert_eq!((record.resolved_at, record.closed_at), (None, None));
        record.case.status = CaseStatus::Resolved;
        record.track_status(Some(CaseStatus::Open), 10);
        assert_eq!(record.resolved_at, Some(10));
        record.case.status = CaseStatus::Closed;
        record.track_status(Some(CaseStatus::Resolved), 20);
        assert_eq!((record.resolved_at, record.closed_at), (Some(10), Some(20)));
        record.case.status = CaseStatus::Open;
        record.track_status(Some(CaseStatus::Closed), 30);
        assert_eq!((record.resolved_at, record.closed_at), (None, None));

        let mut created_resolved = case(2, "t", "", Priority::Low, 0);
        created_resolved.status = CaseStatus::Resolved;
        let record = CaseRecord::new(created_resolved);
        assert_eq!(
            record.resolved_at,
            Some(record.case.created_at.unix_millis())
        );
    }
}
