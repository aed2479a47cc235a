//! `GET /changes?since=&limit=` (docs/api.md §6): a page of the change log after a cursor;
//! without a cursor, the person's working set as it is now, then the log after it.
//!
//! A working set is read page by page, in case-id order, each page in one read transaction.
//! It is taken "at" the log position its first page saw, and ends on that position: every
//! change after it follows as log pages. A later page reads cases in a newer state than that
//! position, which is harmless: the changes in between come again from the log, and a device
//! applies a case only over an older version.

use crate::auth::Actor;
use crate::change_log::{self, Head};
use crate::clock::{self, DAY_MS};
use crate::conditional;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{api, cases};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use casedesk_model::change::{DEFAULT_CHANGES_LIMIT, MAX_CHANGES_LIMIT};
use casedesk_model::{Change, ChangeBody, ChangeSeq, Cursor, FieldErrors, LogPosition, Timestamp};
use std::collections::HashMap;
use uuid::Uuid;

/// The most JSON a page carries (unless its first change alone is larger): a page is
/// bounded by bytes as well as by count, so that a page of long cases stays small.
pub(crate) const MAX_PAGE_BYTES: usize = 1 << 20;

/// How far back "updated recently" reaches for a working set.
const WORKING_SET_DAYS: i64 = 90;

/// Where a reader is, as its cursor says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeedCursor {
    /// Everything up to this log position is held; the log continues after it.
    Log(LogPosition),
    /// Part-way through a working set.
    WorkingSet(WorkingSetCursor),
}

/// How far a working set has been read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WorkingSetCursor {
    /// The log position the working set is consistent with; the log continues after it.
    at: LogPosition,
    /// Cases updated at or after this time (Unix ms) are in it: 90 days before its start,
    /// kept so that every page draws the same line.
    updated_since_ms: i64,
    /// The last case sent (by id); the next page starts after it.
    after_case: Option<Uuid>,
    /// While that case's notes are being sent: the arrival number of the last one sent.
    notes_after: Option<i64>,
}

/// The first token of a working-set cursor (a log position never starts with it).
const WORKING_SET_TAG: &str = "w1";

impl FeedCursor {
    fn encode(&self) -> Cursor {
        match self {
            Self::Log(position) => Cursor::from(*position),
            Self::WorkingSet(w) => {
                let case = w
                    .after_case
                    .map_or_else(|| "-".to_owned(), |id| id.simple().to_string());
                let notes = w
                    .notes_after
                    .map_or_else(|| "-".to_owned(), |n| n.to_string());
                Cursor(format!(
                    "{WORKING_SET_TAG}.{:016x}.{}.{}.{case}.{notes}",
                    w.at.log, w.at.number, w.updated_since_ms
                ))
            }
        }
    }

    /// Reads a cursor this server wrote; `None` for anything else.
    fn parse(text: &str) -> Option<Self> {
        if let Some(position) = LogPosition::parse(text) {
            return Some(Self::Log(position));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let [tag, log, number, since, case, notes] = parts.as_slice() else {
            return None;
        };
        if *tag != WORKING_SET_TAG {
            return None;
        }
        let at = LogPosition::parse(&format!("{log}.{number}"))?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let updated_since_ms = if digits(since) {
            since.parse().ok()?
        } else {
            return None;
        };
        let after_case = match *case {
            "-" => None,
            hex if hex.len() == 32 => Some(Uuid::try_parse(hex).ok()?),
            _ => return None,
        };
        let notes_after = match *notes {
            "-" => None,
            n if digits(n) => Some(n.parse().ok()?),
            _ => return None,
        };
        if notes_after.is_some() && after_case.is_none() {
            return None;
        }
        Some(Self::WorkingSet(WorkingSetCursor {
            at,
            updated_since_ms,
            after_case,
            notes_after,
        }))
    }
}

/// The query of one request.
#[derive(Debug)]
struct FeedQuery {
    since: Option<FeedCursor>,
    limit: usize,
}

impl FeedQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut fields = FieldErrors::new();
        let mut since = None;
        let mut limit = DEFAULT_CHANGES_LIMIT as usize;
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                // An empty `since` is no cursor: the start.
                "since" if value.is_empty() => {}
                "since" => match FeedCursor::parse(&value) {
                    Some(cursor) => since = Some(cursor),
                    None => fields.insert(
                        "since",
                        "Not a cursor this server gave out: start again without `since`.".into(),
                    ),
                },
                "limit" => match value.parse::<u32>() {
                    Ok(n) if (1..=MAX_CHANGES_LIMIT).contains(&n) => limit = n as usize,
                    _ => fields.insert(
                        "limit",
                        format!("A whole number from 1 to {MAX_CHANGES_LIMIT}."),
                    ),
                },
                _ => {}
            }
        }
        if fields.is_empty() {
            Ok(Self { since, limit })
        } else {
            let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
            Err(ApiError::BadParameters {
                message: format!("Bad query parameters: {}.", names.join(", ")),
                fields,
            })
        }
    }
}

/// `GET /api/v1/changes`.
pub(crate) async fn changes(
    State(state): State<AppState>,
    actor: Actor,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = FeedQuery::parse(raw.as_deref())?;
    let now = clock::shifted(state.chaos.clock_offset_ms());
    let me = actor.id().to_string();
    let page = state
        .db
        .read(move |tx| read_page(tx, &query, now, &me))
        .await?;
    let body = page.into_json()?;
    Ok(conditional::respond(
        &headers,
        conditional::hash_etag(&body),
        body,
    ))
}

/// One page on its way out: the changes' JSON texts, within the count and byte budget.
struct Page {
    changes: Vec<String>,
    bytes: usize,
    limit: usize,
    cursor: FeedCursor,
    more: bool,
}

impl Page {
    fn new(limit: usize, cursor: FeedCursor) -> Self {
        Self {
            changes: Vec::new(),
            bytes: 0,
            limit,
            cursor,
            more: true,
        }
    }

    /// How many more changes fit by count.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.changes.len())
    }

    /// Adds a change unless the page is full by count, or by bytes (a first change always
    /// fits, so that every page moves on).
    fn push(&mut self, json: String) -> bool {
        let over_bytes = !self.changes.is_empty() && self.bytes + json.len() > MAX_PAGE_BYTES;
        if self.room() == 0 || over_bytes {
            return false;
        }
        self.bytes += json.len();
        self.changes.push(json);
        true
    }

    /// Adds a change made here (a working set's case or note).
    fn push_change(&mut self, seq: &ChangeSeq, body: ChangeBody) -> Result<bool, ApiError> {
        let change = Change {
            seq: seq.clone(),
            body,
        };
        let json = serde_json::to_string(&change)
            .map_err(|e| ApiError::Internal(format!("cannot encode a change: {e}")))?;
        Ok(self.push(json))
    }

    fn into_json(self) -> Result<Vec<u8>, ApiError> {
        let cursor = api::encode(&self.cursor.encode())?;
        let mut out = Vec::with_capacity(self.bytes + self.changes.len() + cursor.len() + 48);
        out.extend_from_slice(b"{\"changes\":[");
        for (n, change) in self.changes.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(change.as_bytes());
        }
        out.extend_from_slice(b"],\"cursor\":");
        out.extend_from_slice(&cursor);
        let more: &[u8] = if self.more {
            b",\"more\":true}"
        } else {
            b",\"more\":false}"
        };
        out.extend_from_slice(more);
        Ok(out)
    }
}

/// Refuses a log position this database cannot continue from: another database's (a restored
/// copy, another deployment), one already pruned, or one it never reached.
fn check_position(position: LogPosition, head: Head) -> Result<(), ApiError> {
    let message = if position.log != head.log {
        "This cursor is from another database: start again without `since`."
    } else if position.number < head.pruned {
        "This cursor is older than the changes kept: start again without `since`."
    } else if position.number > head.last {
        "This cursor is ahead of this database: start again without `since`."
    } else {
        return Ok(());
    };
    Err(ApiError::CursorExpired(message.into()))
}

/// Reads one page in the caller's read transaction.
fn read_page(
    tx: &dyn crate::db::Sql,
    query: &FeedQuery,
    now: Timestamp,
    me: &str,
) -> Result<Page, ApiError> {
    let head = change_log::head(tx)?;
    match query.since {
        Some(FeedCursor::Log(position)) => {
            check_position(position, head)?;
            let mut page = Page::new(query.limit, FeedCursor::Log(position));
            read_log(tx, head, position, &mut page)?;
            Ok(page)
        }
        Some(FeedCursor::WorkingSet(cursor)) => {
            check_position(cursor.at, head)?;
            read_working_set(tx, head, cursor, query.limit, me)
        }
        None => {
            let cursor = WorkingSetCursor {
                at: head.position(),
                updated_since_ms: now.unix_millis().saturating_sub(WORKING_SET_DAYS * DAY_MS),
                after_case: None,
                notes_after: None,
            };
            read_working_set(tx, head, cursor, query.limit, me)
        }
    }
}

/// Fills `page` with the log after `from` and ends it there.
fn read_log(
    tx: &dyn crate::db::Sql,
    head: Head,
    from: LogPosition,
    page: &mut Page,
) -> Result<(), ApiError> {
    let mut last = from.number;
    let budget = MAX_PAGE_BYTES.saturating_sub(page.bytes);
    for logged in change_log::after(tx, from.number, page.room(), budget)? {
        if !page.push(logged.json) {
            break;
        }
        last = logged.number;
    }
    page.cursor = FeedCursor::Log(LogPosition {
        log: from.log,
        number: last,
    });
    page.more = last < head.last;
    Ok(())
}

/// Continues a working set from `cursor`; once it is all sent, the log after its position
/// fills what room is left.
fn read_working_set(
    tx: &dyn crate::db::Sql,
    head: Head,
    mut cursor: WorkingSetCursor,
    limit: usize,
    me: &str,
) -> Result<Page, ApiError> {
    let seq = cursor.at.seq();
    let mut page = Page::new(limit, FeedCursor::WorkingSet(cursor));
    loop {
        page.cursor = FeedCursor::WorkingSet(cursor);
        if page.room() == 0 {
            return Ok(page);
        }
        if let (Some(case_id), Some(after)) = (cursor.after_case, cursor.notes_after) {
            // The rest of a case's notes, which the last page had no room for.
            let want = page.room();
            let notes = cases::notes_after(tx, case_id, after, want)?;
            let all_sent = notes.len() < want;
            for (arrival, note) in notes {
                if !page.push_change(&seq, ChangeBody::Note { note })? {
                    return Ok(page);
                }
                cursor.notes_after = Some(arrival);
                page.cursor = FeedCursor::WorkingSet(cursor);
            }
            if all_sent {
                cursor.notes_after = None;
            }
            continue;
        }
        let batch = cases::working_set(
            tx,
            cursor.after_case,
            cursor.updated_since_ms,
            me,
            page.room(),
        )?;
        if batch.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = batch.iter().map(|case| case.id).collect();
        let mut notes: HashMap<Uuid, Vec<(i64, casedesk_model::Note)>> = HashMap::new();
        for (arrival, note) in cases::notes_of_cases(tx, &ids)? {
            notes.entry(note.case_id).or_default().push((arrival, note));
        }
        for case in batch {
            let id = case.id;
            if !page.push_change(&seq, ChangeBody::Case { case })? {
                return Ok(page);
            }
            // The case is sent; its notes (if any) come next, from the first.
            cursor.after_case = Some(id);
            cursor.notes_after = Some(0);
            page.cursor = FeedCursor::WorkingSet(cursor);
            for (arrival, note) in notes.remove(&id).unwrap_or_default() {
                if !page.push_change(&seq, ChangeBody::Note { note })? {
                    return Ok(page);
                }
                cursor.notes_after = Some(arrival);
                page.cursor = FeedCursor::WorkingSet(cursor);
            }
            cursor.notes_after = None;
            page.cursor = FeedCursor::WorkingSet(cursor);
        }
    }
    // The whole working set is sent: the log after its position follows.
    read_log(tx, head, cursor.at, &mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = LogPosition {
            log: 0x1234,
            number: 77,
        };
        let cursors = [
            FeedCursor::Log(at),
            FeedCursor::WorkingSet(WorkingSetCursor {
                at,
                updated_since_ms: 1_700_000_000_000,
                after_case: None,
                notes_after: None,
            }),
            FeedCursor::WorkingSet(WorkingSetCursor {
                at,
                updated_since_ms: 0,
                after_case: Some(Uuid::from_u128(0xabc)),
                notes_after: Some(12),
            }),
        ];
        for cursor in cursors {
            assert_eq!(FeedCursor::parse(&cursor.encode().0), Some(cursor));
        }
        for garbage in [
            "",
            "w1",
            "w1.0000000000001234.77.0.-",
            "w2.0000000000001234.77.0.-.-",
            "w1.0000000000001234.77.-5.-.-",
            "w1.0000000000001234.77.0.xyz.-",
            "w1.0000000000001234.77.0.-.3",
            "w1.0000000000001234.77.0.00000000000000000000000000000abc.-3",
            "0000000000001234.77.1",
        ] {
            assert_eq!(FeedCursor::parse(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn a_page_stops_at_its_count_or_its_bytes_but_always_takes_one() {
        let cursor = FeedCursor::Log(LogPosition { log: 1, number: 0 });
        let mut page = Page::new(2, cursor);
        assert!(page.push("a".into()));
        assert!(page.push("b".into()));
        assert!(!page.push("c".into()), "full by count");

        let mut page = Page::new(10, cursor);
        assert!(
            page.push("x".repeat(MAX_PAGE_BYTES + 1)),
            "a first change always fits"
        );
        assert!(!page.push("y".into()), "full by bytes");

        let mut page = Page::new(10, cursor);
        assert!(page.push("x".repeat(MAX_PAGE_BYTES - 1)));
        assert!(page.push("y".into()));
        assert!(!page.push("z".into()));
    }
}
