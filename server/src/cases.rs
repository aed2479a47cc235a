//! Cases and notes in SQL: row mapping, the list query (filters, search and order equal to
//! `CaseListQuery::matches` and `CaseSort::compare`), and the status bookkeeping behind
//! the dashboard (`resolved_at`, `closed_at`).
//!
//! Ids are stored as 16-byte BLOBs, whose memcmp order is `Uuid`'s `Ord`, so the SQL
//! tie-break `id ASC` equals the model's. Times are Unix milliseconds, the model's
//! precision. Deleted cases keep their row (`deleted_at` set) so their ids stay taken.

use crate::db::{DbError, Engine, Sql, SqlRow, SqlValue};
use casedesk_model::{
    AssigneeFilter, Case, CaseList, CaseListQuery, CaseSort, CaseStatus, Note, Priority, Timestamp,
};
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

/// Reads the columns of [`CASE_COLUMNS`], starting at column 0.
fn case_from_row(row: &SqlRow) -> Result<Case, DbError> {
    let status = row.text(3)?;
    let status = CaseStatus::parse(&status).ok_or_else(|| DbError::Decode {
        column: 3,
        message: format!("`{status}` is not a status"),
    })?;
    let priority = priority_from_rank(row.int(4)?).ok_or_else(|| DbError::Decode {
        column: 4,
        message: "bad priority rank".into(),
    })?;
    let tags: Vec<String> = serde_json::from_str(&row.text(6)?).map_err(|e| DbError::Decode {
        column: 6,
        message: format!("tags are not a JSON list: {e}"),
    })?;
    Ok(Case {
        created_by: row.opt_uuid(10)?,
        updated_by: row.opt_uuid(11)?,
        id: row.uuid(0)?,
        title: row.text(1)?,
        description: row.text(2)?,
        status,
        priority,
        assignee: row.opt_text(5)?,
        tags,
        created_at: row.time(7)?,
        updated_at: row.time(8)?,
        version: u64::try_from(row.int(9)?).unwrap_or(0),
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

/// The case with `id`, deleted or not. In a write transaction on PostgreSQL the row stays
/// locked until commit, so a concurrent change of the same case (on any server) waits and
/// then checks its `If-Match` against this one's result.
pub(crate) fn find(conn: &dyn Sql, id: Uuid) -> Result<Option<CaseRecord>, DbError> {
    let sql = format!(
        "SELECT {CASE_COLUMNS}, resolved_at, closed_at, deleted_at FROM cases WHERE id = ?1{}",
        conn.lock_clause()
    );
    conn.query_opt(&sql, &[id.into()])?
        .map(|row| {
            Ok(CaseRecord {
                case: case_from_row(&row)?,
                resolved_at: row.opt_int(AFTER_CASE)?,
                closed_at: row.opt_int(AFTER_CASE + 1)?,
                deleted: row.opt_int(AFTER_CASE + 2)?.is_some(),
            })
        })
        .transpose()
}

/// The case with `id` unless it is unknown or deleted.
pub(crate) fn find_live(conn: &dyn Sql, id: Uuid) -> Result<Option<CaseRecord>, DbError> {
    Ok(find(conn, id)?.filter(|record| !record.deleted))
}

/// Inserts a new case; false (and nothing changed) when its id is taken, also by a
/// creation another server committed meanwhile.
pub(crate) fn insert(conn: &dyn Sql, record: &CaseRecord) -> Result<bool, DbError> {
    let case = &record.case;
    let added = conn.execute(
        "INSERT INTO cases (id, title, description, status, priority, assignee, tags,
             created_at, updated_at, version, resolved_at, closed_at, deleted_at, created_by,
             updated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, ?13, ?14)
         ON CONFLICT (id) DO NOTHING",
        &[
            case.id.into(),
            case.title.as_str().into(),
            case.description.as_str().into(),
            case.status.as_str().into(),
            priority_rank(case.priority).into(),
            case.assignee.as_deref().into(),
            tags_json(&case.tags).into(),
            case.created_at.unix_millis().into(),
            case.updated_at.unix_millis().into(),
            version_value(case.version).into(),
            record.resolved_at.into(),
            record.closed_at.into(),
            case.created_by.into(),
            case.updated_by.into(),
        ],
    )?;
    Ok(added > 0)
}

pub(crate) fn update(conn: &dyn Sql, record: &CaseRecord) -> Result<(), DbError> {
    let case = &record.case;
    conn.execute(
        "UPDATE cases SET title = ?2, description = ?3, status = ?4, priority = ?5,
             assignee = ?6, tags = ?7, updated_at = ?8, version = ?9, resolved_at = ?10,
             closed_at = ?11, updated_by = ?12
         WHERE id = ?1",
        &[
            case.id.into(),
            case.title.as_str().into(),
            case.description.as_str().into(),
            case.status.as_str().into(),
            priority_rank(case.priority).into(),
            case.assignee.as_deref().into(),
            tags_json(&case.tags).into(),
            case.updated_at.unix_millis().into(),
            version_value(case.version).into(),
            record.resolved_at.into(),
            record.closed_at.into(),
            case.updated_by.into(),
        ],
    )?;
    Ok(())
}

/// Marks a case deleted at `at`, at `version`, by `by`.
pub(crate) fn mark_deleted(
    conn: &dyn Sql,
    id: Uuid,
    version: u64,
    at: Timestamp,
    by: Uuid,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE cases SET deleted_at = ?2, updated_at = ?2, version = ?3, updated_by = ?4
         WHERE id = ?1",
        &[
            id.into(),
            at.unix_millis().into(),
            version_value(version).into(),
            by.into(),
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

/// The fewest characters an index search can look up (one trigram).
const INDEXED_SEARCH_CHARS: usize = 3;

/// The search condition for `text` (already lower-cased ASCII), its parameters appended
/// to `values`: a substring of the title or the description, ignoring ASCII case, with no
/// wildcards (the model's `CaseListQuery::matches`).
///
/// - SQLite: with 3 characters or more, the FTS5 trigram index (`case_search`) finds the
///   candidates; FTS5 folds case more widely than ASCII, so `instr` over lower() (which
///   folds ASCII only) then keeps exactly the model's matches. Shorter text is a scan.
/// - PostgreSQL: `LIKE` over lower() in the "C" collation (ASCII folding), which the
///   pg_trgm GIN indexes serve from 3 characters on; shorter text is a scan.
fn search_condition(engine: Engine, text: &str, values: &mut Vec<SqlValue>) -> String {
    match engine {
        Engine::Sqlite => {
            values.push(text.into());
            let n = values.len();
            let exact =
                format!("(instr(lower(title), ?{n}) > 0 OR instr(lower(description), ?{n}) > 0)");
            if text.chars().count() < INDEXED_SEARCH_CHARS {
                return format!(" AND {exact}");
            }
            // One FTS5 phrase: the text's trigrams, consecutive, in one column.
            values.push(format!("\"{}\"", text.replace('"', "\"\"")).into());
            let m = values.len();
            format!(
                " AND id IN (SELECT i.case_id FROM case_search s \
                   JOIN case_search_ids i ON i.seq = s.rowid WHERE case_search MATCH ?{m}) \
                 AND {exact}"
            )
        }
        Engine::Postgres => {
            let mut pattern = String::from("%");
            for c in text.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            values.push(pattern.into());
            let n = values.len();
            format!(
                " AND (lower(title COLLATE \"C\") LIKE ?{n} \
                   OR lower(description COLLATE \"C\") LIKE ?{n})"
            )
        }
    }
}

/// One page of live cases matching `query`, and how many match in all (exactly).
///
/// Without a search, the page comes from the sort order's covering index and the total
/// from `case_counts`, which triggers keep in every write's transaction. A search is served by the engine's trigram index (see
/// [`search_condition`]): it lists the ids of every match in order, whose length is the
/// total and whose slice is the page. A search's ids are read through
/// [`Sql::query_shared`], so reads of unchanged data share them: the cost in proportion
/// to the matches is paid once per change of the cases, not once per request.
pub(crate) fn list(conn: &dyn Sql, query: &CaseListQuery) -> Result<CaseList, DbError> {
    let search = query.search_text().map(str::to_ascii_lowercase);
    // On SQLite a search starts from the matching rows (the FTS5 candidates, looked up by
    // id, or one table scan): `+deleted_at` keeps SQLite from walking a `deleted_at` index
    // instead and testing every live row.
    let sqlite_search = conn.engine() == Engine::Sqlite && search.is_some();
    let mut filter = String::from(if sqlite_search {
        "+deleted_at IS NULL"
    } else {
        "deleted_at IS NULL"
    });
    let mut values: Vec<SqlValue> = Vec::new();
    // The same filter over `case_counts` (same parameters), whose unassigned key is ''.
    let mut counted = String::from("1 = 1");
    if let Some(status) = query.status {
        values.push(status.as_str().into());
        let condition = format!(" AND status = ?{}", values.len());
        filter.push_str(&condition);
        counted.push_str(&condition);
    }
    if let Some(priority) = query.priority {
        values.push(priority_rank(priority).into());
        let condition = format!(" AND priority = ?{}", values.len());
        filter.push_str(&condition);
        counted.push_str(&condition);
    }
    match &query.assignee {
        None => {}
        Some(AssigneeFilter::Person(id)) => {
            values.push(id.as_str().into());
            let condition = format!(" AND assignee = ?{}", values.len());
            filter.push_str(&condition);
            counted.push_str(&condition);
        }
        Some(AssigneeFilter::Unassigned) => {
            filter.push_str(" AND assignee IS NULL");
            counted.push_str(" AND assignee = ''");
        }
        // The handler resolves `me`; unresolved, it matches nothing, as in the model.
        Some(AssigneeFilter::Me) => {
            filter.push_str(" AND 1 = 0");
            counted.push_str(" AND 1 = 0");
        }
    }
    let order = order_by(query.sort);
    let offset = usize::try_from(query.offset()).unwrap_or(usize::MAX);
    let per_page = usize::try_from(query.per_page).unwrap_or(usize::MAX);

    let (items, total) = if let Some(text) = &search {
        filter.push_str(&search_condition(conn.engine(), text, &mut values));
        let matches = conn.query_shared(
            &format!("SELECT id FROM cases WHERE {filter} ORDER BY {order}"),
            &values,
        )?;
        let page: Vec<SqlValue> = matches
            .iter()
            .skip(offset)
            .take(per_page)
            .map(|row| row.bytes(0).map(SqlValue::Bytes))
            .collect::<Result<_, _>>()?;
        (rows_by_id(conn, &page, order)?, matches.len() as u64)
    } else {
        let mut page_values = values.clone();
        page_values.push(i64::from(query.per_page).into());
        page_values.push(i64::try_from(query.offset()).unwrap_or(i64::MAX).into());
        let n = page_values.len();
        // The page's ids first, from the sort order's covering index alone, then only those
        // rows: the rows an OFFSET skips cost an index entry each, not a row lookup, so
        // page 200 costs about what page 1 does.
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE id IN \
               (SELECT id FROM cases WHERE {filter} ORDER BY {order} LIMIT ?{} OFFSET ?{n}) \
             ORDER BY {order}",
            n - 1
        );
        let items = conn
            .query(&sql, &page_values)?
            .iter()
            .map(case_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // The triggers' counts, read in the page's snapshot: a sum over a few hundred
        // rows, as cheap after a write as before it (a count of the cases was 92 ms at
        // 100,000 on SQLite). CAST: PostgreSQL's sum of BIGINT is NUMERIC.
        let total = conn
            .query(
                &format!(
                    "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM case_counts WHERE {counted}"
                ),
                &values,
            )?
            .first()
            .map(|row| row.count(0))
            .transpose()?
            .unwrap_or(0);
        (items, total)
    };
    Ok(CaseList {
        items,
        total,
        page: query.page,
        per_page: query.per_page,
    })
}

/// The cases with the ids in `ids` (one page, read in the same snapshot as the ids), in
/// the list's `order`.
fn rows_by_id(conn: &dyn Sql, ids: &[SqlValue], order: &str) -> Result<Vec<Case>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("?{n}")).collect();
    conn.query(
        &format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE id IN ({}) ORDER BY {order}",
            placeholders.join(", ")
        ),
        ids,
    )?
    .iter()
    .map(case_from_row)
    .collect()
}

fn note_from_row(row: &SqlRow) -> Result<Note, DbError> {
    Ok(Note {
        author_id: row.opt_uuid(5)?,
        id: row.uuid(0)?,
        case_id: row.uuid(1)?,
        body: row.text(2)?,
        author: row.text(3)?,
        created_at: row.time(4)?,
    })
}

/// The notes of a case, oldest first (arrival order breaks ties).
pub(crate) fn notes(conn: &dyn Sql, case_id: Uuid) -> Result<Vec<Note>, DbError> {
    conn.query(
        "SELECT id, case_id, body, author, created_at, author_id FROM notes
         WHERE case_id = ?1 ORDER BY created_at, seq",
        &[case_id.into()],
    )?
    .iter()
    .map(note_from_row)
    .collect()
}

/// Inserts a note; false (and nothing changed) when its id is taken.
pub(crate) fn insert_note(conn: &dyn Sql, note: &Note) -> Result<bool, DbError> {
    let added = conn.execute(
        "INSERT INTO notes (id, case_id, body, author, created_at, author_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO NOTHING",
        &[
            note.id.into(),
            note.case_id.into(),
            note.body.as_str().into(),
            note.author.as_str().into(),
            note.created_at.unix_millis().into(),
            note.author_id.into(),
        ],
    )?;
    Ok(added > 0)
}

/// Up to `limit` live cases of a person's working set (docs/api.md §6), by id after
/// `after`: every case that is open or in progress, updated at or after `updated_since_ms`,
/// or assigned to `assignee`. A walk of the primary key in id order, so a working set read
/// page by page never repeats or misses a case that stays in it. `+deleted_at` keeps SQLite
/// from taking an index led by `deleted_at` and sorting every live case by id (800 ms for a
/// first page at 100,000 cases).
pub(crate) fn working_set(
    conn: &dyn Sql,
    after: Option<Uuid>,
    updated_since_ms: i64,
    assignee: &str,
    limit: usize,
) -> Result<Vec<Case>, DbError> {
    let mut values: Vec<SqlValue> = vec![
        updated_since_ms.into(),
        assignee.into(),
        i64::try_from(limit).unwrap_or(i64::MAX).into(),
    ];
    let after_condition = match after {
        Some(id) => {
            values.push(id.into());
            " AND id > ?4"
        }
        None => "",
    };
    conn.query(
        &format!(
            "SELECT {CASE_COLUMNS} FROM cases
             WHERE +deleted_at IS NULL{after_condition}
               AND (status IN ('open', 'in_progress') OR updated_at >= ?1 OR assignee = ?2)
             ORDER BY id LIMIT ?3"
        ),
        &values,
    )?
    .iter()
    .map(case_from_row)
    .collect()
}

/// The notes of the cases in `ids`, each with its arrival number, by case then arrival.
pub(crate) fn notes_of_cases(conn: &dyn Sql, ids: &[Uuid]) -> Result<Vec<(i64, Note)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("?{n}")).collect();
    let values: Vec<SqlValue> = ids.iter().map(|id| (*id).into()).collect();
    conn.query(
        &format!(
            "SELECT id, case_id, body, author, created_at, author_id, seq FROM notes
             WHERE case_id IN ({}) ORDER BY case_id, seq",
            placeholders.join(", ")
        ),
        &values,
    )?
    .iter()
    .map(|row| Ok((row.int(6)?, note_from_row(row)?)))
    .collect()
}

/// The notes of `case_id` that arrived after arrival number `after`, at most `limit`, each
/// with its arrival number.
pub(crate) fn notes_after(
    conn: &dyn Sql,
    case_id: Uuid,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, Note)>, DbError> {
    conn.query(
        "SELECT id, case_id, body, author, created_at, author_id, seq FROM notes
         WHERE case_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        &[
            case_id.into(),
            after.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )?
    .iter()
    .map(|row| Ok((row.int(6)?, note_from_row(row)?)))
    .collect()
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
        let (db, _) = Db::memory();
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
                    let got = db.read(move |tx| list(tx, &q2)).await.unwrap();
                    assert_eq!(got.total, expected.len() as u64, "{query:?}");
                    assert_eq!(got.items, page, "{query:?}");
                    // Past the last page: no items, the same total.
                    let beyond = query.with_page(50);
                    let got = db.read(move |tx| list(tx, &beyond)).await.unwrap();
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
