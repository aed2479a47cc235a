//! The database behind one interface with two engines: SQLite (`sqlite`, the embedded
//! default) and PostgreSQL (`postgres`, any number of servers on one database). Every
//! use is a closure run in one transaction on tokio's blocking pool and given the
//! transaction as [`Sql`]; the SQL modules are written once against it.
//!
//! A query must not outlive the request that asked for it, or a few slow searches would
//! hold every connection long after their 408: reads made while serving a request (see
//! [`serve_until`]) stop at its deadline, others after the query timeout
//! ([`Db::with_query_timeout`]); PostgreSQL bounds every statement by the query timeout.

mod postgres;
mod read_cache;
mod sql;
mod sqlite;

pub(crate) use postgres::PgConnect;
pub(crate) use sql::{lock_key_of, Engine, Sql, SqlRow, SqlValue};

pub(crate) use read_cache::ReadCacheSize;

use read_cache::{CachedRead, ReadCache};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

tokio::task_local! {
    /// When the answer to the request being served is due.
    static REQUEST_DEADLINE: Instant;
}

/// Serves a request (`serve`) whose answer is due at `deadline`: the reads it makes stop
/// then.
pub(crate) async fn serve_until<F: Future>(deadline: Instant, serve: F) -> F::Output {
    REQUEST_DEADLINE.scope(deadline, serve).await
}

/// A failure of the database layer itself (not of a request).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("`{0}` is not a PostgreSQL address such as postgres://user@host:5432/db")]
    Url(String),
    #[error("PostgreSQL over TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Certificate(String),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create the database file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("a database task failed: {0}")]
    Task(String),
    #[error("the database is at schema version {found}, newer than this server's {known}")]
    TooNew { found: i64, known: i64 },
    #[error("a stored value cannot be read (column {column}): {message}")]
    Decode { column: usize, message: String },
}

impl DbError {
    /// Whether a query was stopped at its deadline (SQLite interrupted it, PostgreSQL
    /// cancelled it at `statement_timeout`).
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => {
                error.code == rusqlite::ErrorCode::OperationInterrupted
            }
            Self::Postgres(error) => {
                error.code() == Some(&::postgres::error::SqlState::QUERY_CANCELED)
            }
            _ => false,
        }
    }
}

/// The database: cheap to clone, shared by every request.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<Store>,
    /// Counts, searches and metrics of data no write has changed since they were read.
    reads: Arc<ReadCache>,
    /// How long a read outside a request may run; `None`: as long as it takes.
    query_timeout: Option<Duration>,
}

enum Store {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
pub(crate) fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl Db {
    /// Opens (creating if needed) and migrates the database `--db` names: a
    /// `postgres://…` URL, a SQLite file, or `:memory:`. Returns whether it was new.
    pub(crate) async fn open(db: &str) -> Result<(Self, bool), DbError> {
        let db = db.to_owned();
        run_blocking(move || {
            let (store, was_new) = if is_postgres_url(&db) {
                let (pg, was_new) = postgres::PgDb::open(&db)?;
                (Store::Postgres(pg), was_new)
            } else {
                let (lite, was_new) = sqlite::SqliteDb::open(&db)?;
                (Store::Sqlite(lite), was_new)
            };
            Ok((
                Self {
                    inner: Arc::new(store),
                    reads: Arc::default(),
                    query_timeout: None,
                },
                was_new,
            ))
        })
        .await
    }

    /// A throwaway in-memory SQLite database, opened on the calling thread (unit tests).
    #[cfg(test)]
    pub(crate) fn memory() -> (Self, bool) {
        let (lite, was_new) = sqlite::SqliteDb::open(":memory:").unwrap_or_else(|e| {
            panic!("an in-memory database always opens: {e}");
        });
        (
            Self {
                inner: Arc::new(Store::Sqlite(lite)),
                reads: Arc::default(),
                query_timeout: None,
            },
            was_new,
        )
    }

    /// Bounds every query by `timeout` (the request timeout): on SQLite, each read outside a
    /// request; on PostgreSQL, each statement (`statement_timeout`).
    pub(crate) fn with_query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = Some(timeout);
        if let Store::Postgres(pg) = &*self.inner {
            pg.set_statement_timeout(timeout);
        }
        self
    }

    pub(crate) fn engine(&self) -> Engine {
        match &*self.inner {
            Store::Sqlite(_) => Engine::Sqlite,
            Store::Postgres(_) => Engine::Postgres,
        }
    }

    /// The schema version this server writes on this engine.
    pub(crate) fn schema_version(&self) -> i64 {
        match &*self.inner {
            Store::Sqlite(_) => sqlite::SCHEMA_VERSION,
            Store::Postgres(_) => postgres::SCHEMA_VERSION,
        }
    }

    /// What the read cache holds now (the operator's metrics).
    pub(crate) fn read_cache_size(&self) -> ReadCacheSize {
        self.reads.size()
    }

    /// How often, and how long, uses of the database waited for a connection.
    pub(crate) fn pool_waits(&self) -> PoolWaitTotals {
        match &*self.inner {
            Store::Sqlite(db) => db.pool_waits().totals(),
            Store::Postgres(db) => db.pool_waits().totals(),
        }
    }

    /// How to connect to PostgreSQL (for the change-event listener), if on PostgreSQL.
    pub(crate) fn postgres_connector(&self) -> Option<PgConnect> {
        match &*self.inner {
            Store::Sqlite(_) => None,
            Store::Postgres(pg) => Some(pg.connector().clone()),
        }
    }

    /// Runs `read` inside one read transaction (a consistent snapshot), whose
    /// [`Sql::query_shared`] answers from the rows of earlier reads of the same data.
    pub(crate) async fn read<T, E, F>(&self, read: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, E> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let reads = Arc::clone(&self.reads);
        let deadline = REQUEST_DEADLINE
            .try_with(|deadline| *deadline)
            .ok()
            .or_else(|| self.query_timeout.map(|timeout| Instant::now() + timeout));
        let read = move |tx: &dyn Sql| read(&CachedRead::new(tx, &reads));
        run_blocking(move || match &*inner {
            Store::Sqlite(db) => db.read(deadline, read),
            Store::Postgres(db) => db.read(read),
        })
        .await
    }

    /// Runs `write` in one write transaction and commits it if `write` succeeds; then calls
    /// `after_commit` (on SQLite while still holding the writer, so in commit order).
    pub(crate) async fn write<T, E, F, A>(&self, write: F, after_commit: A) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, E> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || match &*inner {
            Store::Sqlite(db) => db.write(write, after_commit),
            Store::Postgres(db) => db.write(write, after_commit),
        })
        .await
    }

    /// Brings the engine's bookkeeping up to date after a bulk load (the demo seed). On
    /// PostgreSQL, `VACUUM (ANALYZE)`: autovacuum would do it only later, and until then
    /// the planner may think `cases` empty and every count or deep page reads each row
    /// (a count of 100,000 cases: 277 ms instead of a scan of one index). SQLite needs
    /// nothing: its plans do not depend on statistics and its indexes cover the reads.
    pub(crate) async fn settle_after_bulk_load(&self) -> Result<(), DbError> {
        let inner = Arc::clone(&self.inner);
        run_blocking(move || match &*inner {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(db) => db.vacuum_analyze(),
        })
        .await
    }

    /// Runs `job` in one write transaction (start-up work: seeding, pruning).
    pub(crate) async fn with_writer<T, F>(&self, job: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Sql) -> Result<T, DbError> + Send + 'static,
    {
        self.write(job, |_| {}).await
    }
}

async fn run_blocking<T, E, F>(job: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    match tokio::task::spawn_blocking(job).await {
        Ok(result) => result,
        Err(join) => Err(E::from(DbError::Task(join.to_string()))),
    }
}

/// Waits for a connection of an engine's pool (SQLite's writer or readers, PostgreSQL's
/// pool): a use that finds its connection busy counts once, with the time it waited.
#[derive(Debug, Default)]
pub(crate) struct PoolWaits {
    count: AtomicU64,
    micros: AtomicU64,
}

/// [`PoolWaits`] read at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PoolWaitTotals {
    pub(crate) count: u64,
    pub(crate) seconds: f64,
}

impl PoolWaits {
    /// Locks `slot`, counting the wait if another use holds it. A poisoned lock only means
    /// a thread panicked holding it: SQLite rolls back a transaction left open, and a
    /// PostgreSQL connection is checked (`is_closed`) before its next use.
    pub(crate) fn lock<'a, T>(&self, slot: &'a Mutex<T>) -> MutexGuard<'a, T> {
        match slot.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let started = Instant::now();
                let guard = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.count.fetch_add(1, Ordering::Relaxed);
                self.micros.fetch_add(waited, Ordering::Relaxed);
                guard
            }
        }
    }

    fn totals(&self) -> PoolWaitTotals {
        PoolWaitTotals {
            count: self.count.load(Ordering::Relaxed),
            seconds: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that never ends by itself: counting for ever.
    const ENDLESS: &str =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endless_reads_stop_at_their_deadline_and_their_readers_serve_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.db");
        let (db, _) = Db::open(path.to_str().unwrap()).await.unwrap();
        let db = db.with_query_timeout(Duration::from_millis(50));
        // More endless reads than there are readers, half inside a request (stopped at its
        // deadline), half outside (stopped after the query timeout).
        let mut reads = tokio::task::JoinSet::new();
        for n in 0..sqlite::READERS + 2 {
            let db = db.clone();
            reads.spawn(async move {
                let read = db.read(|tx| tx.query(ENDLESS, &[]));
                if n % 2 == 0 {
                    serve_until(Instant::now() + Duration::from_millis(50), read).await
                } else {
                    read.await
                }
            });
        }
        // Only against hanging for ever: a stopped read ends within milliseconds.
        let ended = tokio::time::timeout(Duration::from_secs(60), reads.join_all())
            .await
            .expect("every endless read is stopped");
        for result in ended {
            assert!(result.is_err_and(|e| e.is_timeout()), "stopped as too long");
        }
        let rows = db
            .read(|tx| tx.query("SELECT count(*) FROM cases", &[]))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "a reader answers the next read");
    }
}
