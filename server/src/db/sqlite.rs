//! The SQLite engine: one writer connection behind a mutex (SQLite writes one transaction
//! at a time anyway) and a few read-only connections reading beside it (WAL mode); every
//! use runs on tokio's blocking pool. A read given a deadline is interrupted there (a
//! progress handler), so a slow search gives its reader back. Its schema and migrations
//! (`PRAGMA user_version`).

use super::sql::{Engine, Sql, SqlRow, SqlValue};
use super::{DbError, PoolWaits};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// How many read-only connections a file database gets.
pub(super) const READERS: usize = 4;
/// Prepared statements kept per connection. rusqlite keeps 16 by default, fewer than the
/// list query's forms (each filter combination, page and count), which were then prepared
/// again on most requests.
const STATEMENTS: usize = 256;

/// How many virtual-machine steps SQLite takes between two looks at a read's deadline (a
/// step is tens of nanoseconds: the deadline is seen within a millisecond or so).
const DEADLINE_CHECK_STEPS: std::ffi::c_int = 10_000;

/// Rust run after a step's SQL, in the same transaction.
type AfterStep = fn(&dyn Sql) -> Result<(), DbError>;

/// One schema step: SQL, then optionally Rust for what SQL says badly (data mapping).
struct Migration {
    sql: &'static str,
    then: Option<AfterStep>,
}

/// The schema, one step per version. `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[Migration] = &[
    // 1: cases, notes and idempotency keys.
    Migration {
        then: None,
        sql: r#"
    CREATE TABLE cases (
        id          BLOB PRIMARY KEY,   -- 16 bytes: memcmp order equals Uuid's Ord
        title       TEXT NOT NULL,
        description TEXT NOT NULL,
        status      TEXT NOT NULL,      -- open | in_progress | resolved | closed
        priority    INTEGER NOT NULL,   -- 0 low, 1 medium, 2 high, 3 critical
        assignee    TEXT,
        tags        TEXT NOT NULL,      -- JSON array of strings
        created_at  INTEGER NOT NULL,   -- Unix milliseconds, UTC
        updated_at  INTEGER NOT NULL,
        version     INTEGER NOT NULL,
        resolved_at INTEGER,            -- when it last entered `resolved` (kept when closed)
        closed_at   INTEGER,            -- when it last entered `closed`
        deleted_at  INTEGER             -- deleted cases stay, so their ids stay taken
    ) WITHOUT ROWID;
    CREATE INDEX cases_updated_asc   ON cases(updated_at, id)      WHERE deleted_at IS NULL;
    CREATE INDEX cases_updated_desc  ON cases(updated_at DESC, id) WHERE deleted_at IS NULL;
    CREATE INDEX cases_created_asc   ON cases(created_at, id)      WHERE deleted_at IS NULL;
    CREATE INDEX cases_created_desc  ON cases(created_at DESC, id) WHERE deleted_at IS NULL;
    CREATE INDEX cases_priority_asc  ON cases(priority, id)        WHERE deleted_at IS NULL;
    CREATE INDEX cases_priority_desc ON cases(priority DESC, id)   WHERE deleted_at IS NULL;
    CREATE INDEX cases_status        ON cases(status)              WHERE deleted_at IS NULL;
    CREATE INDEX cases_resolved      ON cases(resolved_at)         WHERE deleted_at IS NULL;

    CREATE TABLE notes (
        seq        INTEGER PRIMARY KEY,  -- arrival order, the tie-break of created_at
        id         BLOB NOT NULL UNIQUE,
        case_id    BLOB NOT NULL REFERENCES cases(id),
        body       TEXT NOT NULL,
        author     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX notes_by_case ON notes(case_id, created_at, seq);

    CREATE TABLE idempotency_keys (
        key          BLOB PRIMARY KEY,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        body_hash    BLOB NOT NULL,
        status       INTEGER NOT NULL,
        etag         TEXT,
        content_type TEXT,
        body         BLOB NOT NULL,
        created_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);
    "#,
    },
    // 2: covering indexes led by `deleted_at`. Partial indexes made SQLite fetch every row
    // to re-check `deleted_at IS NULL` (160 ms to count 100,000 cases); these answer the
    // counts, the metrics and each sort order (with the filter columns, so filtering while
    // walking a sort order needs no row lookups) from the index alone.
    Migration {
        then: None,
        sql: r#"
    DROP INDEX cases_updated_asc;
    DROP INDEX cases_updated_desc;
    DROP INDEX cases_created_asc;
    DROP INDEX cases_created_desc;
    DROP INDEX cases_priority_asc;
    DROP INDEX cases_priority_desc;
    DROP INDEX cases_status;
    DROP INDEX cases_resolved;
    CREATE INDEX cases_live ON cases(deleted_at, status, priority, created_at, resolved_at, closed_at);
    CREATE INDEX cases_by_updated_asc   ON cases(deleted_at, updated_at, id, status, priority);
    CREATE INDEX cases_by_updated_desc  ON cases(deleted_at, updated_at DESC, id, status, priority);
    CREATE INDEX cases_by_created_asc   ON cases(deleted_at, created_at, id, status, priority);
    CREATE INDEX cases_by_created_desc  ON cases(deleted_at, created_at DESC, id, status, priority);
    CREATE INDEX cases_by_priority_asc  ON cases(deleted_at, priority, id, status);
    CREATE INDEX cases_by_priority_desc ON cases(deleted_at, priority DESC, id, status);
    "#,
    },
    // 3: people, sessions and history (docs/api.md §4). Every case and note stays; a
    // free-text assignee becomes the id of the demo person it names, else null (see
    // `people::migrate_legacy`).
    Migration {
        then: Some(crate::people::migrate_legacy),
        sql: r#"
    CREATE TABLE people (
        id            BLOB PRIMARY KEY,
        name          TEXT NOT NULL,
        email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role          TEXT NOT NULL,      -- agent | admin
        password_hash TEXT,               -- Argon2id PHC string; NULL: cannot sign in
        created_at    INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,      -- SHA-256 of the token; the token is never stored
        person_id  BLOB NOT NULL REFERENCES people(id),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,      -- moved on as the session is used (sliding)
        revoked_at INTEGER                -- kept, so a revoked token answers session_expired
    ) WITHOUT ROWID;
    CREATE INDEX sessions_expiry ON sessions(expires_at);

    CREATE TABLE history (
        seq      INTEGER PRIMARY KEY,     -- commit order, the order of the history
        id       BLOB NOT NULL UNIQUE,
        case_id  BLOB NOT NULL,
        at       INTEGER NOT NULL,
        actor_id BLOB,
        kind     TEXT NOT NULL,           -- created | updated | deleted | note_added
        changes  TEXT NOT NULL            -- JSON [{field, from, to}]
    );
    CREATE INDEX history_by_case ON history(case_id, seq);

    ALTER TABLE cases ADD COLUMN created_by BLOB;
    ALTER TABLE cases ADD COLUMN updated_by BLOB;
    ALTER TABLE notes ADD COLUMN author_id BLOB;
    CREATE INDEX cases_by_assignee ON cases(deleted_at, assignee);
    "#,
    },
    // 4: search served by an index: FTS5 with the trigram tokenizer over titles and
    // descriptions, kept by triggers. FTS5 rows need an integer rowid and `cases` has none,
    // so `case_search_ids` numbers the cases. Deleted cases stay in it (their rows are
    // filtered out by `deleted_at` anyway, and deleting is rare).
    Migration {
        then: None,
        sql: r#"
    CREATE TABLE case_search_ids (
        seq     INTEGER PRIMARY KEY,
        case_id BLOB NOT NULL UNIQUE
    );
    CREATE VIRTUAL TABLE case_search USING fts5(title, description, tokenize = 'trigram');
    INSERT INTO case_search_ids (case_id) SELECT id FROM cases;
    INSERT INTO case_search (rowid, title, description)
        SELECT s.seq, c.title, c.description FROM case_search_ids s JOIN cases c ON c.id = s.case_id;
    CREATE TRIGGER case_search_insert AFTER INSERT ON cases BEGIN
        INSERT INTO case_search_ids (case_id) VALUES (new.id);
        INSERT INTO case_search (rowid, title, description)
            VALUES (last_insert_rowid(), new.title, new.description);
    END;
    CREATE TRIGGER case_search_update AFTER UPDATE OF title, description ON cases
    WHEN new.title IS NOT old.title OR new.description IS NOT old.description BEGIN
        UPDATE case_search SET title = new.title, description = new.description
            WHERE rowid = (SELECT seq FROM case_search_ids WHERE case_id = new.id);
    END;
    "#,
    },
    // 5: the generation of the cases, raised by every write that changes one, so that a
    // read can tell whether the counts and searches it shares with earlier reads are
    // still those of the data it sees (`db::read_cache`), also across processes.
    Migration {
        then: None,
        sql: r#"
    CREATE TABLE cases_generation (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        n  INTEGER NOT NULL
    );
    INSERT INTO cases_generation (id, n) VALUES (0, 0);
    CREATE TRIGGER cases_generation_insert AFTER INSERT ON cases BEGIN
        UPDATE cases_generation SET n = n + 1 WHERE id = 0;
    END;
    CREATE TRIGGER cases_generation_update AFTER UPDATE ON cases BEGIN
        UPDATE cases_generation SET n = n + 1 WHERE id = 0;
    END;
    CREATE TRIGGER cases_generation_delete AFTER DELETE ON cases BEGIN
        UPDATE cases_generation SET n = n + 1 WHERE id = 0;
    END;
    "#,
    },
    // 6: how many live cases each (status, priority, assignee) has, kept by triggers in
    // every write's transaction, so that a list's total and the dashboard's counts are a
    // sum over a few hundred rows whatever the number of cases. `assignee` is '' for
    // none (a primary key's NULLs would all differ); `timed` and `timed_ms` count and sum
    // the times to resolution (`metrics`). The cases there are now are counted once here.
    Migration {
        then: None,
        sql: r#"
    CREATE TABLE case_counts (
        status   TEXT NOT NULL,
        priority INTEGER NOT NULL,
        assignee TEXT NOT NULL,
        n        INTEGER NOT NULL,
        timed    INTEGER NOT NULL,  -- how many have coalesce(resolved_at, closed_at)
        timed_ms INTEGER NOT NULL,  -- their sum of coalesce(resolved_at, closed_at) - created_at
        PRIMARY KEY (status, priority, assignee)
    ) WITHOUT ROWID;
    INSERT INTO case_counts (status, priority, assignee, n, timed, timed_ms)
        SELECT status, priority, coalesce(assignee, ''), count(*),
               count(coalesce(resolved_at, closed_at)),
               coalesce(sum(coalesce(resolved_at, closed_at) - created_at), 0)
        FROM cases WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    CREATE TRIGGER case_counts_insert AFTER INSERT ON cases WHEN new.deleted_at IS NULL BEGIN
        INSERT INTO case_counts (status, priority, assignee, n, timed, timed_ms)
            VALUES (new.status, new.priority, coalesce(new.assignee, ''), 1,
                    coalesce(new.resolved_at, new.closed_at) IS NOT NULL,
                    coalesce(coalesce(new.resolved_at, new.closed_at) - new.created_at, 0))
            ON CONFLICT (status, priority, assignee) DO UPDATE SET
                n = n + 1, timed = timed + excluded.timed, timed_ms = timed_ms + excluded.timed_ms;
    END;
    CREATE TRIGGER case_counts_update AFTER UPDATE ON cases
    WHEN old.status IS NOT new.status OR old.priority IS NOT new.priority
      OR old.assignee IS NOT new.assignee OR old.deleted_at IS NOT new.deleted_at
      OR old.resolved_at IS NOT new.resolved_at OR old.closed_at IS NOT new.closed_at
      OR old.created_at IS NOT new.created_at BEGIN
        UPDATE case_counts SET
                n = n - 1,
                timed = timed - (coalesce(old.resolved_at, old.closed_at) IS NOT NULL),
                timed_ms = timed_ms
                    - coalesce(coalesce(old.resolved_at, old.closed_at) - old.created_at, 0)
            WHERE old.deleted_at IS NULL AND status = old.status AND priority = old.priority
              AND assignee = coalesce(old.assignee, '');
        INSERT INTO case_counts (status, priority, assignee, n, timed, timed_ms)
            SELECT new.status, new.priority, coalesce(new.assignee, ''), 1,
                   coalesce(new.resolved_at, new.closed_at) IS NOT NULL,
                   coalesce(coalesce(new.resolved_at, new.closed_at) - new.created_at, 0)
            WHERE new.deleted_at IS NULL
            ON CONFLICT (status, priority, assignee) DO UPDATE SET
                n = n + 1, timed = timed + excluded.timed, timed_ms = timed_ms + excluded.timed_ms;
    END;
    CREATE TRIGGER case_counts_delete AFTER DELETE ON cases WHEN old.deleted_at IS NULL BEGIN
        UPDATE case_counts SET
                n = n - 1,
                timed = timed - (coalesce(old.resolved_at, old.closed_at) IS NOT NULL),
                timed_ms = timed_ms
                    - coalesce(coalesce(old.resolved_at, old.closed_at) - old.created_at, 0)
            WHERE status = old.status AND priority = old.priority
              AND assignee = coalesce(old.assignee, '');
    END;
    "#,
    },
    // 7: the change log behind `GET /changes` (`change_log`): each change's JSON, numbered
    // densely in commit order by the one-row counter `change_log_head`, which also names this
    // database's log (a random id, so cursors from another database are told apart). A
    // database migrated here starts with an empty log: devices start from a working set.
    Migration {
        then: None,
        sql: r#"
    CREATE TABLE change_log (
        seq    INTEGER PRIMARY KEY,   -- dense, in commit order
        at     INTEGER NOT NULL,      -- when it was written (Unix ms), for retention
        change TEXT NOT NULL          -- the Change as the feed sends it, seq included
    );
    CREATE TABLE change_log_head (
        id     INTEGER PRIMARY KEY CHECK (id = 0),
        log    INTEGER NOT NULL,      -- 53 random bits, non-negative
        last   INTEGER NOT NULL,      -- the number of the last change written
        pruned INTEGER NOT NULL       -- every change up to this number is gone
    );
    INSERT INTO change_log_head (id, log, last, pruned)
        VALUES (0, random() & 9007199254740991, 0, 0);
    "#,
    },
    // 8: roles and people managed in the app (docs/api.md §4): whether a person is active,
    // their one live setup code (stored as its SHA-256, like session tokens), and the
    // sessions of one person found at once (revoking them all).
    Migration {
        then: None,
        sql: r#"
    ALTER TABLE people ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE setup_codes (
        person_id  BLOB PRIMARY KEY REFERENCES people(id),  -- a new code replaces the old
        code_hash  BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_person ON sessions(person_id);
    "#,
    },
];

/// The schema version this engine writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) struct SqliteDb {
    writer: Watched,
    /// Empty for `:memory:`, whose connections cannot share one database: reads then use
    /// the writer.
    readers: Vec<Watched>,
    next_reader: AtomicUsize,
    waits: PoolWaits,
}

/// A connection whose statements are interrupted once its [`Deadline`] has passed.
struct Watched {
    conn: Mutex<Connection>,
    deadline: Arc<Deadline>,
}

impl Watched {
    fn new(conn: Connection) -> Self {
        let deadline = Arc::new(Deadline::default());
        let watched = Arc::clone(&deadline);
        // Returning true interrupts the statement running (SQLITE_INTERRUPT).
        conn.progress_handler(DEADLINE_CHECK_STEPS, Some(move || watched.passed()));
        Self {
            conn: Mutex::new(conn),
            deadline,
        }
    }
}

/// When the statements of a connection must stop: nanoseconds after [`epoch`], 0 for
/// never. Set for the length of one read transaction.
#[derive(Debug, Default)]
struct Deadline(AtomicU64);

/// The instant deadlines are counted from (any fixed one will do).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Deadline {
    fn set(&self, at: Option<Instant>) {
        let nanos = at.map_or(0, |at| {
            let nanos = at.saturating_duration_since(epoch()).as_nanos();
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
        });
        self.0.store(nanos, Ordering::Relaxed);
    }

    fn passed(&self) -> bool {
        let at = self.0.load(Ordering::Relaxed);
        at != 0 && u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX) >= at
    }
}

/// Clears a connection's deadline when its read ends, however it ends.
struct DeadlineSet<'a>(&'a Deadline);

impl Drop for DeadlineSet<'_> {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

impl SqliteDb {
    /// Opens (creating if needed) and migrates the database at `path`, or an in-memory one
    /// for `:memory:`. Returns whether the database was new (had no schema).
    pub(crate) fn open(path: &str) -> Result<(Self, bool), DbError> {
        let memory = path == ":memory:";
        if !memory {
            if let Some(folder) = Path::new(path).parent() {
                if !folder.as_os_str().is_empty() {
                    std::fs::create_dir_all(folder).map_err(|source| DbError::Folder {
                        path: folder.display().to_string(),
                        source,
                    })?;
                }
            }
        }
        if !memory {
            create_owner_only(path)?;
        }
        let mut writer = if memory {
            Connection::open_in_memory()?
        } else {
            Connection::open(path)?
        };
        writer.busy_timeout(std::time::Duration::from_secs(5))?;
        writer.set_prepared_statement_cache_capacity(STATEMENTS);
        if !memory {
            // WAL: readers never wait for the writer. FULL sync: every commit reaches the
            // disk before the write returns, so a change the server has answered survives a
            // power failure (NORMAL, the usual WAL pairing, may lose the last commits, and the
            // app deletes an action from its queue once the server has said yes).
            writer.pragma_update(None, "journal_mode", "WAL")?;
            writer.pragma_update(None, "synchronous", "FULL")?;
        }
        writer.pragma_update(None, "foreign_keys", true)?;
        let was_new = migrate(&mut writer)?;

        let mut readers = Vec::new();
        if !memory {
            for _ in 0..READERS {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.busy_timeout(std::time::Duration::from_secs(5))?;
                reader.set_prepared_statement_cache_capacity(STATEMENTS);
                readers.push(Watched::new(reader));
            }
        }
        let db = Self {
            writer: Watched::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            waits: PoolWaits::default(),
        };
        Ok((db, was_new))
    }

    /// Runs `read` in one deferred transaction on a reader (a consistent snapshot); past
    /// `deadline`, its statements fail with SQLite's "interrupted".
    pub(crate) fn read<T, E, F>(&self, deadline: Option<Instant>, read: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>,
    {
        let (mut conn, watch) = self.reader();
        watch.set(deadline);
        let _clear = DeadlineSet(watch);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(DbError::from)?;
        let value = read(&*tx)?;
        // Ending a read transaction cannot lose anything; a failure here is harmless.
        let _ = tx.finish();
        Ok(value)
    }

    /// Runs `write` in one immediate transaction, commits, then calls `after_commit` while
    /// still holding the writer, so that what it does happens in commit order.
    pub(crate) fn write<T, E, F, A>(&self, write: F, after_commit: A) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>,
        A: FnOnce(&T),
    {
        let mut conn = self.waits.lock(&self.writer.conn);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(DbError::from)?;
        let value = write(&*tx)?;
        tx.commit().map_err(DbError::from)?;
        after_commit(&value);
        Ok(value)
    }

    #[cfg(test)]
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        self.waits.lock(&self.writer.conn)
    }

    /// Waits for the writer or a reader so far.
    pub(crate) fn pool_waits(&self) -> &PoolWaits {
        &self.waits
    }

    /// A connection to read on, and the deadline its statements watch.
    fn reader(&self) -> (MutexGuard<'_, Connection>, &Deadline) {
        if self.readers.is_empty() {
            return (self.waits.lock(&self.writer.conn), &self.writer.deadline);
        }
        // Take the first idle reader; if all are busy, wait on one in turn.
        for reader in &self.readers {
            if let Ok(guard) = reader.conn.try_lock() {
                return (guard, &reader.deadline);
            }
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let reader = &self.readers[start % self.readers.len()];
        (self.waits.lock(&reader.conn), &reader.deadline)
    }
}

/// Creates the database file, if there is none yet, readable and writable by its owner
/// only (0600): it holds people's password hashes and every case. SQLite gives the
/// WAL and shared-memory files it makes beside it the database file's permissions. An
/// existing file keeps the permissions its owner gave it.
fn create_owner_only(path: &str) -> Result<(), DbError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(DbError::File {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

impl rusqlite::ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            SqlValue::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            SqlValue::Int(n) => ToSqlOutput::from(*n),
            SqlValue::Real(x) => ToSqlOutput::from(*x),
            SqlValue::Text(text) => ToSqlOutput::from(text.as_str()),
            SqlValue::Bytes(bytes) => ToSqlOutput::from(bytes.as_slice()),
        })
    }
}

impl Sql for Connection {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let changed = self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, DbError> {
        let mut statement = self.prepare_cached(sql)?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for column in 0..columns {
                values.push(match row.get_ref(column)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(n) => SqlValue::Int(n),
                    ValueRef::Real(x) => SqlValue::Real(x),
                    ValueRef::Text(bytes) => {
                        SqlValue::Text(String::from_utf8(bytes.to_vec()).map_err(|_| {
                            DbError::Decode {
                                column,
                                message: "text is not UTF-8".into(),
                            }
                        })?)
                    }
                    ValueRef::Blob(bytes) => SqlValue::Bytes(bytes.to_vec()),
                });
            }
            out.push(SqlRow(values));
        }
        Ok(out)
    }

    fn lock_clause(&self) -> &'static str {
        ""
    }

    fn lock_key(&self, _key: i64) -> Result<(), DbError> {
        Ok(())
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`]; true when the database had no schema.
fn migrate(conn: &mut Connection) -> Result<bool, DbError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    // A negative version was not written by us; treat it like one from the future.
    let done = usize::try_from(found).map_err(|_| DbError::TooNew {
        found,
        known: SCHEMA_VERSION,
    })?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for step in MIGRATIONS.get(done..).unwrap_or_default() {
        tx.execute_batch(step.sql)?;
        if let Some(then) = step.then {
            then(&*tx)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(found == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        let path = path.to_str().unwrap();
        let (_, was_new) = SqliteDb::open(path).unwrap();
        assert!(was_new);
        let (_, was_new) = SqliteDb::open(path).unwrap();
        assert!(!was_new);
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(SqliteDb::open(path), Err(DbError::TooNew { .. })));
    }

    #[test]
    fn the_writer_syncs_every_commit_to_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("durable.db");
        let (db, _) = SqliteDb::open(path.to_str().unwrap()).unwrap();
        let conn = db.writer();
        let journal: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        let synchronous: i64 = conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(synchronous, 2, "synchronous=FULL (2), not NORMAL (1)");
    }

    #[test]
    fn a_version_1_database_is_migrated_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let path = path.to_str().unwrap();
        {
            let conn = Connection::open(path).unwrap();
            conn.execute_batch(MIGRATIONS[0].sql).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO cases VALUES (x'00112233445566778899aabbccddeeff', 't', '', 'open',
                 1, NULL, '[]', 0, 0, 1, NULL, NULL, NULL)",
                [],
            )
            .unwrap();
        }
        let (_, was_new) = SqliteDb::open(path).unwrap();
        assert!(!was_new);
        let conn = Connection::open(path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let (cases, live_index): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM cases),
                        (SELECT count(*) FROM sqlite_master WHERE name = 'cases_live')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((cases, live_index), (1, 1));
    }

    #[test]
    fn people_of_a_database_before_roles_stay_and_are_active() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("before-roles.db");
        let path = path.to_str().unwrap();
        let before_roles = MIGRATIONS
            .iter()
            .position(|step| step.sql.contains("ADD COLUMN active"))
            .unwrap();
        {
            let mut conn = Connection::open(path).unwrap();
            let tx = conn.transaction().unwrap();
            for step in &MIGRATIONS[..before_roles] {
                tx.execute_batch(step.sql).unwrap();
                if let Some(then) = step.then {
                    then(&*tx).unwrap();
                }
            }
            tx.execute(
                "INSERT INTO people (id, name, email, role, password_hash, created_at)
                 VALUES (x'0190000000007000800000000000a001', 'Ada', 'ada@example.com',
                         'admin', NULL, 0)",
                [],
            )
            .unwrap();
            tx.pragma_update(None, "user_version", before_roles as i64)
                .unwrap();
            tx.commit().unwrap();
        }
        let (db, was_new) = SqliteDb::open(path).unwrap();
        assert!(!was_new);
        let ada = db
            .read(None, |tx| {
                crate::people::by_email(tx, "ada@example.com").map(|r| r.map(|r| r.person))
            })
            .unwrap()
            .unwrap();
        assert!(
            ada.active && ada.role == casedesk_model::Role::Admin,
            "{ada:?}"
        );
        let codes: i64 = db
            .writer()
            .query_row("SELECT count(*) FROM setup_codes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(codes, 0);
    }
}
