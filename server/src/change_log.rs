//! The change log behind `GET /changes` (docs/api.md §6): one row per accepted change (a
//! case's whole state, a tombstone or a note), written by the change's own transaction,
//! numbered densely in commit order, kept at least [`RETENTION_MS`].
//!
//! Numbers come from one counter row, `change_log_head`, raised as the last step of each
//! writing transaction. On PostgreSQL the raise locks that row until commit, so the next
//! writer gets its number only once this one has committed and is visible: numbers are
//! handed out in commit order, without holes (a rolled-back raise is undone), and a reader
//! that sees number n sees every number below it. A sequence would hand numbers out at
//! insert time, before commit, and two writers could commit in the reverse order of their
//! numbers: a reader passing the later one would skip the earlier for ever. Writers take
//! turns only for the last moments of their transactions (the raise, the event, the
//! idempotency record, the commit). SQLite's writers take turns anyway.
//!
//! Each row stores its change as the JSON the feed sends, so a page is those texts joined.

use crate::db::{DbError, Sql};
use casedesk_model::{Change, ChangeBody, LogPosition, Timestamp};

/// How long a change stays in the log: a cursor older than this may be refused (410).
pub(crate) const RETENTION_MS: i64 = 30 * crate::clock::DAY_MS;

/// Where the log stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// This database's log id, in every cursor and seq, so a position from another
    /// database is told apart.
    pub(crate) log: u64,
    /// The number of the last change written (0: none yet).
    pub(crate) last: u64,
    /// Every change numbered up to here has been pruned: a cursor below it is expired.
    pub(crate) pruned: u64,
}

impl Head {
    /// The position after the last change.
    pub(crate) fn position(self) -> LogPosition {
        LogPosition {
            log: self.log,
            number: self.last,
        }
    }
}

/// One logged change as stored: its number and its JSON (a [`Change`], `seq` included).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Logged {
    pub(crate) number: u64,
    pub(crate) json: String,
}

fn number_value(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

fn number_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The log's head, as the transaction sees it.
pub(crate) fn head(tx: &dyn Sql) -> Result<Head, DbError> {
    let row = tx.query_one(
        "SELECT log, last, pruned FROM change_log_head WHERE id = 0",
        &[],
    )?;
    Ok(Head {
        // Stored as a non-negative BIGINT (see the migrations).
        log: number_of(row.int(0)?),
        last: number_of(row.int(1)?),
        pruned: number_of(row.int(2)?),
    })
}

/// Appends `bodies` in order, as of `at`, and returns them as numbered changes. Call it as
/// the last statement of the change itself: on PostgreSQL it holds the counter row until
/// commit (see the module doc).
pub(crate) fn append(
    tx: &dyn Sql,
    at: Timestamp,
    bodies: Vec<ChangeBody>,
) -> Result<Vec<Change>, DbError> {
    let count = bodies.len() as u64;
    if count == 0 {
        return Ok(Vec::new());
    }
    let row = tx.query_one(
        "UPDATE change_log_head SET last = last + ?1 WHERE id = 0 RETURNING log, last",
        &[number_value(count).into()],
    )?;
    let log = number_of(row.int(0)?);
    let last = number_of(row.int(1)?);
    // `last` was just raised by `count`, so this is the first number taken.
    let first = last.saturating_add(1).saturating_sub(count);
    let mut changes = Vec::with_capacity(bodies.len());
    for (number, body) in (first..).zip(bodies) {
        let change = Change {
            seq: LogPosition { log, number }.seq(),
            body,
        };
        let json = serde_json::to_string(&change)
            .map_err(|e| DbError::Task(format!("cannot encode a change: {e}")))?;
        tx.execute(
            "INSERT INTO change_log (seq, at, change) VALUES (?1, ?2, ?3)",
            &[
                number_value(number).into(),
                at.unix_millis().into(),
                json.into(),
            ],
        )?;
        changes.push(change);
    }
    Ok(changes)
}

/// The changes after number `after`, oldest first: at most `limit`, and no more than
/// `max_bytes` of JSON unless the first alone is larger (a page always moves on). A walk of
/// the primary key from `after`: the cost is the rows returned.
pub(crate) fn after(
    tx: &dyn Sql,
    after: u64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<Logged>, DbError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = tx.query(
        "SELECT seq, change FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &[
            number_value(after).into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0usize;
    for row in &rows {
        let json = row.text(1)?;
        bytes += json.len();
        if bytes > max_bytes && !out.is_empty() {
            break;
        }
        out.push(Logged {
            number: number_of(row.int(0)?),
            json,
        });
    }
    Ok(out)
}

/// Prunes the changes older than [`RETENTION_MS`] at `now_ms`: the longest run from the
/// oldest whose every change is that old (the log stays a suffix, even if clocks stepped
/// back), and moves `pruned` past it. Returns how many went.
pub(crate) fn prune(tx: &dyn Sql, now_ms: i64) -> Result<u64, DbError> {
    let cutoff = now_ms.saturating_sub(RETENTION_MS);
    let head = head(tx)?;
    // Walks the primary key from the oldest to the first change young enough to keep.
    let kept = tx.query_opt(
        "SELECT seq FROM change_log WHERE at >= ?1 ORDER BY seq LIMIT 1",
        &[cutoff.into()],
    )?;
    let through = match kept {
        Some(row) => number_of(row.int(0)?).saturating_sub(1),
        None => head.last,
    };
    if through <= head.pruned {
        return Ok(0);
    }
    let gone = tx.execute(
        "DELETE FROM change_log WHERE seq <= ?1",
        &[number_value(through).into()],
    )?;
    tx.execute(
        "UPDATE change_log_head SET pruned = ?1 WHERE id = 0 AND pruned < ?1",
        &[number_value(through).into()],
    )?;
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use uuid::Uuid;

    fn tombstone(n: u128) -> ChangeBody {
        ChangeBody::CaseDeleted {
            id: Uuid::from_u128(n),
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[tokio::test]
    async fn numbers_are_dense_and_pages_stop_at_count_or_bytes() {
        let (db, _) = Db::memory();
        let changes = db
            .with_writer(|tx| {
                let mut all = append(tx, at(1), vec![tombstone(1), tombstone(2)])?;
                all.extend(append(tx, at(2), vec![tombstone(3)])?);
                Ok(all)
            })
            .await
            .unwrap();
        let numbers: Vec<u64> = changes
            .iter()
            .map(|c| c.seq.position().unwrap().number)
            .collect();
        assert_eq!(numbers, [1, 2, 3]);
        let log = changes[0].seq.position().unwrap().log;
        assert!(changes.iter().all(|c| c.seq.position().unwrap().log == log));

        let (all, two, small, rest) = db
            .read(|tx| {
                Ok::<_, DbError>((
                    after(tx, 0, 10, usize::MAX)?,
                    after(tx, 0, 2, usize::MAX)?,
                    after(tx, 0, 10, 1)?,
                    after(tx, 2, 10, usize::MAX)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        let decoded: Change = serde_json::from_str(&all[2].json).unwrap();
        assert_eq!(decoded, changes[2]);
        assert_eq!(two.len(), 2);
        assert_eq!(
            small.len(),
            1,
            "over the byte budget, one change still goes"
        );
        assert_eq!(rest.iter().map(|l| l.number).collect::<Vec<_>>(), [3]);
    }

    #[tokio::test]
    async fn pruning_keeps_the_recent_suffix_and_moves_the_floor() {
        let (db, _) = Db::memory();
        let now = 100 * crate::clock::DAY_MS;
        let old = now - RETENTION_MS - 1;
        let (gone, head, left) = db
            .with_writer(move |tx| {
                append(tx, at(old), vec![tombstone(1), tombstone(2)])?;
                append(tx, at(now), vec![tombstone(3)])?;
                // An old time after a young one (a clock stepped back) stays: the log is
                // pruned as a prefix only.
                append(tx, at(old), vec![tombstone(4)])?;
                let gone = prune(tx, now)?;
                Ok((gone, head(tx)?, after(tx, 0, 10, usize::MAX)?))
            })
            .await
            .unwrap();
        assert_eq!(gone, 2);
        assert_eq!((head.last, head.pruned), (4, 2));
        assert_eq!(left.iter().map(|l| l.number).collect::<Vec<_>>(), [3, 4]);
        let again = db.with_writer(move |tx| prune(tx, now)).await.unwrap();
        assert_eq!(again, 0);
    }
}
