//! The one interface both engines' transactions offer the SQL modules: statements with
//! numbered `?N` parameters, owned rows of [`SqlValue`]s, and the few places where the two
//! dialects differ ([`Engine`], [`Sql::lock_clause`], [`Sql::lock_key`]).

use super::DbError;
use casedesk_model::Timestamp;
use std::sync::Arc;
use uuid::Uuid;

/// Which database a transaction runs on, for the few statements written twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// A parameter or a column value. Ids are 16 bytes, times Unix milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<i64> for SqlValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<&str> for SqlValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<&String> for SqlValue {
    fn from(value: &String) -> Self {
        Self::Text(value.clone())
    }
}

impl From<Uuid> for SqlValue {
    fn from(value: Uuid) -> Self {
        Self::Bytes(value.as_bytes().to_vec())
    }
}

impl From<&[u8]> for SqlValue {
    fn from(value: &[u8]) -> Self {
        Self::Bytes(value.to_vec())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(value: Vec<u8>) -> Self {
        Self::Bytes(value)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

/// One result row, owned.
#[derive(Clone, Debug)]
pub(crate) struct SqlRow(pub(crate) Vec<SqlValue>);

fn decode(column: usize, message: impl Into<String>) -> DbError {
    DbError::Decode {
        column,
        message: message.into(),
    }
}

impl SqlRow {
    fn value(&self, column: usize) -> Result<&SqlValue, DbError> {
        self.0
            .get(column)
            .ok_or_else(|| decode(column, "no such column"))
    }

    pub(crate) fn opt_int(&self, column: usize) -> Result<Option<i64>, DbError> {
        match self.value(column)? {
            SqlValue::Null => Ok(None),
            SqlValue::Int(n) => Ok(Some(*n)),
            other => Err(decode(column, format!("{other:?} is not an integer"))),
        }
    }

    pub(crate) fn int(&self, column: usize) -> Result<i64, DbError> {
        self.opt_int(column)?
            .ok_or_else(|| decode(column, "an integer is null"))
    }

    /// A count, never negative.
    pub(crate) fn count(&self, column: usize) -> Result<u64, DbError> {
        Ok(u64::try_from(self.int(column)?).unwrap_or(0))
    }

    pub(crate) fn bool(&self, column: usize) -> Result<bool, DbError> {
        Ok(self.int(column)? != 0)
    }

    /// A number, integer or not; null is 0 (an empty sum).
    pub(crate) fn real(&self, column: usize) -> Result<f64, DbError> {
        match self.value(column)? {
            SqlValue::Null => Ok(0.0),
            SqlValue::Int(n) => Ok(*n as f64),
            SqlValue::Real(x) => Ok(*x),
            other => Err(decode(column, format!("{other:?} is not a number"))),
        }
    }

    pub(crate) fn opt_text(&self, column: usize) -> Result<Option<String>, DbError> {
        match self.value(column)? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(text) => Ok(Some(text.clone())),
            other => Err(decode(column, format!("{other:?} is not text"))),
        }
    }

    pub(crate) fn text(&self, column: usize) -> Result<String, DbError> {
        self.opt_text(column)?
            .ok_or_else(|| decode(column, "a text is null"))
    }

    pub(crate) fn opt_bytes(&self, column: usize) -> Result<Option<Vec<u8>>, DbError> {
        match self.value(column)? {
            SqlValue::Null => Ok(None),
            SqlValue::Bytes(bytes) => Ok(Some(bytes.clone())),
            other => Err(decode(column, format!("{other:?} is not bytes"))),
        }
    }

    pub(crate) fn bytes(&self, column: usize) -> Result<Vec<u8>, DbError> {
        self.opt_bytes(column)?
            .ok_or_else(|| decode(column, "bytes are null"))
    }

    pub(crate) fn opt_uuid(&self, column: usize) -> Result<Option<Uuid>, DbError> {
        self.opt_bytes(column)?
            .map(|bytes| {
                Uuid::from_slice(&bytes).map_err(|_| decode(column, "an id is not 16 bytes"))
            })
            .transpose()
    }

    pub(crate) fn uuid(&self, column: usize) -> Result<Uuid, DbError> {
        self.opt_uuid(column)?
            .ok_or_else(|| decode(column, "an id is null"))
    }

    pub(crate) fn time(&self, column: usize) -> Result<Timestamp, DbError> {
        let millis = self.int(column)?;
        Timestamp::from_unix_millis(millis)
            .ok_or_else(|| decode(column, format!("{millis} ms is not a time")))
    }
}

/// An open transaction of either engine. Statements number their parameters `?1`, `?2`…
/// (PostgreSQL's `$N` is written for it).
pub(crate) trait Sql {
    fn engine(&self) -> Engine;

    /// Runs a statement; returns how many rows it changed.
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError>;

    /// Runs a query; returns every row.
    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, DbError>;

    /// What a write transaction appends to a `SELECT` of the row it is about to change, so
    /// that a concurrent writer on another server waits and then sees the new version
    /// (` FOR UPDATE` on PostgreSQL; nothing on SQLite, whose write transactions are
    /// already one at a time for the whole file).
    fn lock_clause(&self) -> &'static str;

    /// Holds `key` until the transaction ends, so that writers of the same key (an
    /// idempotency key) on any server take turns. SQLite's writers already do.
    fn lock_key(&self, key: i64) -> Result<(), DbError>;

    /// Like [`Sql::query`], but in a read the rows may be those of an earlier read that saw
    /// the same cases (see `read_cache`). Only for queries that read `cases` alone.
    fn query_shared(&self, sql: &str, params: &[SqlValue]) -> Result<Arc<Vec<SqlRow>>, DbError> {
        Ok(Arc::new(self.query(sql, params)?))
    }

    /// The first row, if any.
    fn query_opt(&self, sql: &str, params: &[SqlValue]) -> Result<Option<SqlRow>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one row a query always returns (an aggregate, `EXISTS`).
    fn query_one(&self, sql: &str, params: &[SqlValue]) -> Result<SqlRow, DbError> {
        self.query_opt(sql, params)?
            .ok_or_else(|| decode(0, "a query that always has a row had none"))
    }
}

/// The first 8 bytes of `bytes` as a lock key for [`Sql::lock_key`].
pub(crate) fn lock_key_of(bytes: &[u8]) -> i64 {
    let mut first = [0u8; 8];
    for (slot, byte) in first.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    i64::from_be_bytes(first)
}
