//! A case's history in SQL: one entry per accepted change, written by the change's own
//! transaction (so a change and its entry commit together or not at all), read oldest
//! first. A deleted case's history stays readable: it is the record of who deleted it.

use casedesk_model::{Case, FieldChange, HistoryEntry, HistoryKind, Timestamp};
use rusqlite::types::FromSqlError;
use rusqlite::{params, Connection};
use serde_json::Value;
use uuid::Uuid;

fn value<T: serde::Serialize>(v: &T) -> Value {
    // Strings, enums and lists of strings always serialise.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The fields a case is created with, each from `null`.
pub(crate) fn created(case: &Case) -> Vec<FieldChange> {
    let change = |field: &str, to: Value| FieldChange {
        field: field.to_owned(),
        from: Value::Null,
        to,
    };
    vec![
        change("title", value(&case.title)),
        change("description", value(&case.description)),
        change("status", value(&case.status)),
        change("priority", value(&case.priority)),
        change("assignee", value(&case.assignee)),
        change("tags", value(&case.tags)),
    ]
}

/// The fields that differ from `before` to `after`, in a fixed order.
pub(crate) fn diff(before: &Case, after: &Case) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut compare = |field: &str, from: Value, to: Value| {
        if from != to {
            changes.push(FieldChange {
                field: field.to_owned(),
                from,
                to,
            });
        }
    };
    compare("title", value(&before.title), value(&after.title));
    compare(
        "description",
        value(&before.description),
        value(&after.description),
    );
    compare("status", value(&before.status), value(&after.status));
    compare("priority", value(&before.priority), value(&after.priority));
    compare("assignee", value(&before.assignee), value(&after.assignee));
    compare("tags", value(&before.tags), value(&after.tags));
    changes
}

/// Appends an entry to a case's history.
pub(crate) fn record(
    conn: &Connection,
    case_id: Uuid,
    at: Timestamp,
    actor_id: Option<Uuid>,
    kind: HistoryKind,
    changes: &[FieldChange],
) -> rusqlite::Result<()> {
    let changes = serde_json::to_string(changes).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO history (id, case_id, at, actor_id, kind, changes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        Uuid::now_v7().as_bytes(),
        case_id.as_bytes(),
        at.unix_millis(),
        actor_id.as_ref().map(Uuid::as_bytes),
        kind.as_str(),
        changes
    ])?;
    Ok(())
}

fn bad(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        Box::new(FromSqlError::Other(message.into())),
    )
}

/// A case's history, oldest first (commit order).
pub(crate) fn of_case(conn: &Connection, case_id: Uuid) -> rusqlite::Result<Vec<HistoryEntry>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, at, actor_id, kind, changes FROM history WHERE case_id = ?1 ORDER BY seq",
    )?;
    let entries = statement
        .query_map([case_id.as_bytes()], |row| {
            let id: [u8; 16] = row.get(0)?;
            let at: i64 = row.get(1)?;
            let actor: Option<[u8; 16]> = row.get(2)?;
            let kind: String = row.get(3)?;
            let changes: String = row.get(4)?;
            Ok(HistoryEntry {
                id: Uuid::from_bytes(id),
                at: Timestamp::from_unix_millis(at)
                    .ok_or_else(|| bad(1, format!("{at} ms is not a time")))?,
                actor_id: actor.map(Uuid::from_bytes),
                kind: HistoryKind::parse(&kind)
                    .ok_or_else(|| bad(3, format!("`{kind}` is not a history kind")))?,
                changes: serde_json::from_str(&changes)
                    .map_err(|e| bad(4, format!("changes are not JSON: {e}")))?,
            })
        })?
        .collect();
    entries
}
