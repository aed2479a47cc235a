//! The PostgreSQL engine (`--db postgres://…`): a small pool of blocking clients, each
//! with its prepared statements, used on tokio's blocking pool like SQLite's connections;
//! its schema, migrated at start-up under an advisory lock so that servers starting
//! together take turns. Races between servers are the database's: writers lock the case
//! row they change (`FOR UPDATE`) and the idempotency key they answer
//! (`pg_advisory_xact_lock`). `tls`: how it connects (the URL's `sslmode`).

mod tls;

pub(crate) use tls::PgConnect;

use super::sql::{Engine, Sql, SqlRow, SqlValue};
use super::{DbError, PoolWaits};
use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, IsolationLevel, Statement, Transaction};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// How many connections one server keeps open.
const POOL_SIZE: usize = 8;
/// The advisory lock held while the schema is migrated (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6361_7365_6465_736b; // "casedesk"

/// The schema, one step per version; `casedesk_schema.version` records how many have run.
/// Step 1 is the whole schema SQLite reached in three (people, sessions and history
/// included). Ids are 16-byte `BYTEA` (byte order equals `Uuid`'s `Ord`, like SQLite's
/// BLOBs), times `BIGINT` Unix milliseconds.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE cases (
        id          BYTEA PRIMARY KEY,
        title       TEXT NOT NULL,
        description TEXT NOT NULL,
        status      TEXT NOT NULL,
        priority    BIGINT NOT NULL,
        assignee    TEXT,
        tags        TEXT NOT NULL,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        version     BIGINT NOT NULL,
        resolved_at BIGINT,
        closed_at   BIGINT,
        deleted_at  BIGINT,
        created_by  BYTEA,
        updated_by  BYTEA
    );
    CREATE INDEX cases_live ON cases (status, priority)
        INCLUDE (created_at, resolved_at, closed_at) WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_updated_asc   ON cases (updated_at, id)       WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_updated_desc  ON cases (updated_at DESC, id)  WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_created_asc   ON cases (created_at, id)       WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_created_desc  ON cases (created_at DESC, id)  WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_priority_asc  ON cases (priority, id)         WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_priority_desc ON cases (priority DESC, id)    WHERE deleted_at IS NULL;
    CREATE INDEX cases_by_assignee      ON cases (assignee)             WHERE deleted_at IS NULL;

    CREATE TABLE notes (
        seq        BIGSERIAL PRIMARY KEY,
        id         BYTEA NOT NULL UNIQUE,
        case_id    BYTEA NOT NULL REFERENCES cases(id),
        body       TEXT NOT NULL,
        author     TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        author_id  BYTEA
    );
    CREATE INDEX notes_by_case ON notes (case_id, created_at, seq);

    CREATE TABLE idempotency_keys (
        key          BYTEA PRIMARY KEY,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        body_hash    BYTEA NOT NULL,
        status       BIGINT NOT NULL,
        etag         TEXT,
        content_type TEXT,
        body         BYTEA NOT NULL,
        created_at   BIGINT NOT NULL
    );
    CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

    CREATE TABLE people (
        id            BYTEA PRIMARY KEY,
        name          TEXT NOT NULL,
        email         TEXT NOT NULL,
        role          TEXT NOT NULL,
        password_hash TEXT,
        created_at    BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX people_email ON people (lower(email));

    CREATE TABLE sessions (
        token_hash BYTEA PRIMARY KEY,
        person_id  BYTEA NOT NULL REFERENCES people(id),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    CREATE INDEX sessions_expiry ON sessions (expires_at);

    CREATE TABLE history (
        seq      BIGSERIAL PRIMARY KEY,
        id       BYTEA NOT NULL UNIQUE,
        case_id  BYTEA NOT NULL,
        at       BIGINT NOT NULL,
        actor_id BYTEA,
        kind     TEXT NOT NULL,
        changes  TEXT NOT NULL
    );
    CREATE INDEX history_by_case ON history (case_id, seq);
    "#,
    // 2: change events too long for NOTIFY's payload, fetched by id (`pg_events`).
    r#"
    CREATE TABLE event_overflow (
        seq     BIGSERIAL PRIMARY KEY,
        payload TEXT NOT NULL,
        at      BIGINT NOT NULL
    );
    "#,
    // 3: search served by an index: pg_trgm GIN indexes on the lower-cased ("C" collation,
    // ASCII folding like the model's) title and description, used by `LIKE '%…%'`.
    r#"
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX cases_title_trgm ON cases
        USING gin (lower(title COLLATE "C") gin_trgm_ops) WHERE deleted_at IS NULL;
    CREATE INDEX cases_description_trgm ON cases
        USING gin (lower(description COLLATE "C") gin_trgm_ops) WHERE deleted_at IS NULL;
    "#,
    // 4: the dashboard's "resolved per day" reads a range of `resolved_at` (SQLite's
    // `cases_live` covers it; `created_at` has `cases_by_created_asc`).
    r#"
    CREATE INDEX cases_resolved ON cases (resolved_at) WHERE deleted_at IS NULL;
    "#,
    // 5: how many live cases each (status, priority, assignee) has, kept by a trigger in
    // every write's transaction (SQLite's step 6, same columns): a list's total and the
    // dashboard's counts sum a few hundred rows whatever the number of cases. A server of
    // the previous release may still be writing: the share lock keeps its writes out
    // between the count and the trigger. The trigger changes two rows in key order, so
    // two writers moving cases both ways between two keys cannot deadlock.
    r#"
    LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE case_counts (
        status   TEXT NOT NULL,
        priority BIGINT NOT NULL,
        assignee TEXT NOT NULL,
        n        BIGINT NOT NULL,
        timed    BIGINT NOT NULL,
        timed_ms BIGINT NOT NULL,
        PRIMARY KEY (status, priority, assignee)
    );
    INSERT INTO case_counts (status, priority, assignee, n, timed, timed_ms)
        SELECT status, priority, coalesce(assignee, ''), count(*),
               count(coalesce(resolved_at, closed_at)),
               coalesce(sum(coalesce(resolved_at, closed_at) - created_at), 0)
        FROM cases WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
    CREATE FUNCTION case_counts_add(c cases, sign BIGINT) RETURNS void LANGUAGE sql AS $$
        INSERT INTO case_counts AS k (status, priority, assignee, n, timed, timed_ms)
            VALUES (c.status, c.priority, coalesce(c.assignee, ''), sign,
                    sign * (coalesce(c.resolved_at, c.closed_at) IS NOT NULL)::int,
                    sign * coalesce(coalesce(c.resolved_at, c.closed_at) - c.created_at, 0))
            ON CONFLICT (status, priority, assignee) DO UPDATE SET
                n = k.n + excluded.n, timed = k.timed + excluded.timed,
                timed_ms = k.timed_ms + excluded.timed_ms;
    $$;
    CREATE FUNCTION case_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.deleted_at IS NULL THEN PERFORM case_counts_add(NEW, 1); END IF;
        ELSIF TG_OP = 'DELETE' THEN
            IF OLD.deleted_at IS NULL THEN PERFORM case_counts_add(OLD, -1); END IF;
        ELSIF (OLD.status, OLD.priority, OLD.assignee, OLD.deleted_at, OLD.resolved_at,
               OLD.closed_at, OLD.created_at)
              IS DISTINCT FROM (NEW.status, NEW.priority, NEW.assignee, NEW.deleted_at,
                                NEW.resolved_at, NEW.closed_at, NEW.created_at) THEN
            IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NULL
               AND (NEW.status, NEW.priority, coalesce(NEW.assignee, ''))
                   < (OLD.status, OLD.priority, coalesce(OLD.assignee, '')) THEN
                PERFORM case_counts_add(NEW, 1);
                PERFORM case_counts_add(OLD, -1);
            ELSE
                IF OLD.deleted_at IS NULL THEN PERFORM case_counts_add(OLD, -1); END IF;
                IF NEW.deleted_at IS NULL THEN PERFORM case_counts_add(NEW, 1); END IF;
            END IF;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER case_counts_keep AFTER INSERT OR UPDATE OR DELETE ON cases
        FOR EACH ROW EXECUTE FUNCTION case_counts_keep();
    "#,
    // 6: the change log behind `GET /changes` (SQLite's step 7, same columns): each change's
    // JSON, numbered densely in commit order by the one-row counter `change_log_head`, whose
    // row lock writers hold from taking a number to their commit (`change_log`). The log id
    // is random, so cursors from another database are told apart.
    r#"
    CREATE TABLE change_log (
        seq    BIGINT PRIMARY KEY,
        at     BIGINT NOT NULL,
        change TEXT NOT NULL
    );
    CREATE TABLE change_log_head (
        id     BIGINT PRIMARY KEY CHECK (id = 0),
        log    BIGINT NOT NULL,
        last   BIGINT NOT NULL,
        pruned BIGINT NOT NULL
    );
    INSERT INTO change_log_head (id, log, last, pruned)
        VALUES (0, floor(random() * 9007199254740991)::bigint, 0, 0);
    "#,
    // 7: roles and people managed in the app (SQLite's step 8): whether a person is
    // active, their one live setup code (its SHA-256), and one person's sessions at once.
    r#"
    ALTER TABLE people ADD COLUMN active BOOLEAN NOT NULL DEFAULT true;
    CREATE TABLE setup_codes (
        person_id  BYTEA PRIMARY KEY REFERENCES people(id),
        code_hash  BYTEA NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_person ON sessions (person_id);
    "#,
];

/// The schema version this engine writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One pooled connection and the statements prepared on it.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// The `statement_timeout` set on this session, in milliseconds (0: none).
    statement_timeout_ms: u64,
}

impl PgConn {
    fn new(client: Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
            statement_timeout_ms: 0,
        }
    }

    fn set_statement_timeout(&mut self, ms: u64) -> Result<(), DbError> {
        if self.statement_timeout_ms != ms {
            self.client
                .batch_execute(&format!("SET statement_timeout = {ms}"))?;
            self.statement_timeout_ms = ms;
        }
        Ok(())
    }
}

pub(crate) struct PgDb {
    connect: PgConnect,
    /// `None` until first used, and again after the connection was lost.
    pool: Vec<Mutex<Option<PgConn>>>,
    next: AtomicUsize,
    /// The longest any statement may run, in milliseconds (0: no limit); each connection
    /// is given it before its next use.
    statement_timeout_ms: AtomicU64,
    waits: PoolWaits,
}

impl PgDb {
    /// Connects to `url`, migrates the schema, and returns whether it was new. Blocking.
    pub(crate) fn open(url: &str) -> Result<(Self, bool), DbError> {
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let was_new = migrate(&mut client)?;
        let mut pool: Vec<Mutex<Option<PgConn>>> = Vec::with_capacity(POOL_SIZE);
        pool.push(Mutex::new(Some(PgConn::new(client))));
        pool.resize_with(POOL_SIZE, || Mutex::new(None));
        let db = Self {
            connect,
            pool,
            next: AtomicUsize::new(0),
            statement_timeout_ms: AtomicU64::new(0),
            waits: PoolWaits::default(),
        };
        Ok((db, was_new))
    }

    /// Bounds every statement of every connection by `timeout` (PostgreSQL cancels it:
    /// `query_canceled`), lock waits included.
    pub(crate) fn set_statement_timeout(&self, timeout: std::time::Duration) {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.statement_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The connection settings, for the change-event listener's own connection.
    pub(crate) fn connector(&self) -> &PgConnect {
        &self.connect
    }

    /// Runs `read` in a read-only repeatable-read transaction (one consistent snapshot).
    pub(crate) fn read<T, E, F>(&self, read: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>,
    {
        self.with_conn(|conn| {
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(DbError::from)?;
            let pg = PgTx::new(tx, &mut conn.statements, false);
            let value = read(&pg)?;
            pg.commit()?;
            Ok(value)
        })
    }

    /// Runs `write` in one read-committed transaction, commits, then calls `after_commit`.
    pub(crate) fn write<T, E, F, A>(&self, write: F, after_commit: A) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>,
        A: FnOnce(&T),
    {
        self.with_conn(|conn| {
            let tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()
                .map_err(DbError::from)?;
            let pg = PgTx::new(tx, &mut conn.statements, true);
            let value = write(&pg)?;
            pg.commit()?;
            after_commit(&value);
            Ok(value)
        })
    }

    /// `VACUUM (ANALYZE)` the database, outside any transaction (VACUUM refuses one):
    /// after a bulk load, the planner's statistics and the visibility map that lets
    /// counts and deep pages read an index alone instead of every row it names.
    pub(crate) fn vacuum_analyze(&self) -> Result<(), DbError> {
        // However long it takes: the next use of the connection sets the limit again.
        self.with_conn(|conn| {
            conn.set_statement_timeout(0)?;
            Ok(conn.client.batch_execute("VACUUM (ANALYZE)")?)
        })
    }

    /// Runs `job` on a pooled connection, connecting it first if needed; a connection
    /// found closed afterwards is dropped, to be made anew by its next user.
    fn with_conn<T, E, F>(&self, job: F) -> Result<T, E>
    where
        E: From<DbError>,
        F: FnOnce(&mut PgConn) -> Result<T, E>,
    {
        let mut slot = self.slot();
        if slot.as_ref().is_none_or(|conn| conn.client.is_closed()) {
            *slot = None;
            let client = self.connect.connect()?;
            *slot = Some(PgConn::new(client));
        }
        let Some(conn) = slot.as_mut() else {
            return Err(E::from(DbError::Task("no database connection".into())));
        };
        if let Err(error) =
            conn.set_statement_timeout(self.statement_timeout_ms.load(Ordering::Relaxed))
        {
            if conn.client.is_closed() {
                *slot = None;
            }
            return Err(E::from(error));
        }
        let result = job(conn);
        if conn.client.is_closed() {
            *slot = None;
        }
        result
    }

    fn slot(&self) -> MutexGuard<'_, Option<PgConn>> {
        for slot in &self.pool {
            if let Ok(guard) = slot.try_lock() {
                return guard;
            }
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // A poisoned slot only means a thread panicked holding it; the connection is
        // checked (`is_closed`) before its next use and a failed transaction rolled back.
        self.waits.lock(&self.pool[start % self.pool.len()])
    }

    /// Waits for a pooled connection so far.
    pub(crate) fn pool_waits(&self) -> &PoolWaits {
        &self.waits
    }
}

impl Drop for PgDb {
    /// A blocking client owns a small runtime of its own, which may not be dropped on one
    /// of tokio's async threads (the last `Db` often goes there): drop them on a plain one.
    fn drop(&mut self) {
        let conns: Vec<PgConn> = self
            .pool
            .iter_mut()
            .filter_map(|slot| {
                slot.get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
            })
            .collect();
        if !conns.is_empty() {
            let _ = std::thread::spawn(move || drop(conns)).join();
        }
    }
}

/// A transaction seen through [`Sql`]. `RefCell`s because the client's calls take
/// `&mut self` while [`Sql`] hands out `&self` (one thread uses it at a time).
struct PgTx<'a> {
    tx: RefCell<Transaction<'a>>,
    statements: RefCell<&'a mut HashMap<String, Statement>>,
    write: bool,
}

impl<'a> PgTx<'a> {
    fn new(
        tx: Transaction<'a>,
        statements: &'a mut HashMap<String, Statement>,
        write: bool,
    ) -> Self {
        Self {
            tx: RefCell::new(tx),
            statements: RefCell::new(statements),
            write,
        }
    }

    fn commit(self) -> Result<(), DbError> {
        Ok(self.tx.into_inner().commit()?)
    }

    fn statement(&self, sql: &str) -> Result<Statement, DbError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.borrow_mut().prepare(&dollar_params(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Sql for PgTx<'_> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.tx.borrow_mut().execute(&statement, &params)?)
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, DbError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self.tx.borrow_mut().query(&statement, &params)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|column| row.try_get::<_, SqlValue>(column).map_err(DbError::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map(SqlRow)
            })
            .collect()
    }

    fn lock_clause(&self) -> &'static str {
        if self.write {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    fn lock_key(&self, key: i64) -> Result<(), DbError> {
        self.query(
            "SELECT pg_advisory_xact_lock(?1)::text",
            &[SqlValue::Int(key)],
        )?;
        Ok(())
    }
}

/// `?N` placeholders as PostgreSQL's `$N`, outside quoted text.
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for SqlValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                // Flags (`people.active`) are 0/1 integers on SQLite, booleans here.
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            SqlValue::Real(x) => x.to_sql(ty, out),
            SqlValue::Text(text) => text.as_str().to_sql(ty, out),
            SqlValue::Bytes(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`: one enum stands for every column type we use.
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for SqlValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => SqlValue::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => SqlValue::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => SqlValue::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => SqlValue::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => SqlValue::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BYTEA => SqlValue::Bytes(<Vec<u8>>::from_sql(ty, raw)?),
            _ => SqlValue::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(SqlValue::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::INT4
                | Type::INT2
                | Type::BOOL
                | Type::FLOAT8
                | Type::FLOAT4
                | Type::BYTEA
                | Type::TEXT
                | Type::VARCHAR
                | Type::NAME
                | Type::BPCHAR
                | Type::UNKNOWN
        )
    }
}

/// Brings the schema up to [`SCHEMA_VERSION`] inside one transaction holding
/// [`MIGRATION_LOCK`]: a second server starting at the same time waits, then finds the
/// work done. True when the database had no schema.
fn migrate(client: &mut Client) -> Result<bool, DbError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // `IF NOT EXISTS` says "already exists, skipping" as a NOTICE on every start but the
    // first: nothing anyone should read in the server's log.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS casedesk_schema (version BIGINT NOT NULL)",
    )?;
    let found: i64 = match tx.query_opt("SELECT version FROM casedesk_schema", &[])? {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO casedesk_schema (version) VALUES (0)", &[])?;
            0
        }
    };
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let done = usize::try_from(found).map_err(|_| DbError::TooNew {
        found,
        known: SCHEMA_VERSION,
    })?;
    for step in MIGRATIONS.get(done..).unwrap_or_default() {
        tx.batch_execute(step)?;
    }
    tx.execute(
        "UPDATE casedesk_schema SET version = $1",
        &[&SCHEMA_VERSION],
    )?;
    let mut statements = HashMap::new();
    let pg = PgTx::new(tx, &mut statements, true);
    if found == 0 {
        // The built-in people (Service, Guest) every database has.
        crate::people::migrate_legacy(&pg)?;
    }
    pg.commit()?;
    Ok(found == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(
            dollar_params("SELECT ?1, '?' WHERE a = ?12"),
            "SELECT $1, '?' WHERE a = $12"
        );
    }
}
