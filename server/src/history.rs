//! A case's history in SQL: one entry per accepted change, written by the change's own
//! transaction (so a change and its entry commit together or not at all), read oldest
//! first. A deleted case's history stays readable: it is the record of who deleted it.

use crate::db::{DbError, Sql};
use casedesk_model::{Case, FieldChange, HistoryEntry, HistoryKind, Timestamp};
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
    conn: &dyn Sql,
    case_id: Uuid,
    at: Timestamp,
    actor_id: Option<Uuid>,
    kind: HistoryKind,
    changes: &[FieldChange],
) -> Result<(), DbError> {
    let changes = serde_json::to_string(changes).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO history (id, case_id, at, actor_id, kind, changes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            Uuid::now_v7().into(),
            case_id.into(),
            at.unix_millis().into(),
            actor_id.into(),
            kind.as_str().into(),
            changes.into(),
        ],
    )?;
    Ok(())
}

/// A case's history, oldest first (commit order).
pub(crate) fn of_case(conn: &dyn Sql, case_id: Uuid) -> Result<Vec<HistoryEntry>, DbError> {
    conn.query(
        "SELECT id, at, actor_id, kind, changes FROM history WHERE case_id = ?1 ORDER BY seq",
        &[case_id.into()],
    )?
    .iter()
    .map(|row| {
        let kind = row.text(3)?;
        Ok(HistoryEntry {
            id: row.uuid(0)?,
            at: row.time(1)?,
            actor_id: row.opt_uuid(2)?,
            kind: HistoryKind::parse(&kind).ok_or_else(|| DbError::Decode {
                column: 3,
                message: format!("`{kind}` is not a history kind"),
            })?,
            changes: serde_json::from_str(&row.text(4)?).map_err(|e| DbError::Decode {
                column: 4,
                message: format!("changes are not JSON: {e}"),
            })?,
        })
    })
    .collect()
}
