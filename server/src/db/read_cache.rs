//! Rows of read queries over `cases`, shared by every read that sees the same cases
//! ([`ReadCache`]), and the read transaction that consults it ([`CachedRead`]): counts and
//! searches cost in proportion to their matches, and most reads see unchanged data.

use super::sql::{Engine, Sql, SqlRow, SqlValue};
use super::DbError;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many values (rows × columns) the cache holds at most; past it, it starts afresh.
/// 1,000,000 ids of 16 bytes is about 30 MB with their bookkeeping.
const MAX_VALUES: usize = 1_000_000;

/// Rows of read queries for one generation of the data.
///
/// The generation is read inside the reader's own snapshot, so a reader only ever gets
/// rows computed from exactly the data it sees:
/// - SQLite: `cases_generation.n`, which triggers on `cases` raise in every write
///   transaction that changes a case (by any process on the file);
/// - PostgreSQL: the transaction's snapshot (`pg_current_snapshot()`): two snapshots that
///   print alike see the same committed transactions, on every server of the database.
#[derive(Default)]
pub(crate) struct ReadCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The generation every entry was computed at; entries of any other are gone.
    generation: Option<String>,
    rows: HashMap<String, Arc<Vec<SqlRow>>>,
    values: usize,
}

impl ReadCache {
    fn get(&self, generation: &str, key: &str) -> Option<Arc<Vec<SqlRow>>> {
        let state = self.lock();
        if state.generation.as_deref() != Some(generation) {
            return None;
        }
        state.rows.get(key).cloned()
    }

    fn put(&self, generation: &str, key: String, rows: Arc<Vec<SqlRow>>) {
        let size: usize = rows.iter().map(|row| row.0.len().max(1)).sum();
        if size > MAX_VALUES {
            return;
        }
        let mut state = self.lock();
        // A newer generation replaces the entries (they can never be asked for again); a
        // reader still on an older snapshot replaces them too, and the next reader of the
        // newer data puts its own back: a miss, never a wrong answer.
        if state.generation.as_deref() != Some(generation) || state.values + size > MAX_VALUES {
            state.rows.clear();
            state.values = 0;
            state.generation = Some(generation.to_owned());
        }
        state.values += size;
        if let Some(old) = state.rows.insert(key, rows) {
            state.values -= old.iter().map(|row| row.0.len().max(1)).sum::<usize>();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state is a cache
        // whose every step leaves it consistent, so it is still sound.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A read transaction that answers [`Sql::query_shared`] from a [`ReadCache`].
pub(crate) struct CachedRead<'a> {
    tx: &'a dyn Sql,
    cache: &'a ReadCache,
    /// The generation of the data this transaction sees, read once when first needed.
    generation: OnceCell<String>,
}

impl<'a> CachedRead<'a> {
    pub(crate) fn new(tx: &'a dyn Sql, cache: &'a ReadCache) -> Self {
        Self {
            tx,
            cache,
            generation: OnceCell::new(),
        }
    }

    fn generation(&self) -> Result<&str, DbError> {
        if let Some(generation) = self.generation.get() {
            return Ok(generation);
        }
        let generation = match self.tx.engine() {
            Engine::Sqlite => {
                let row = self
                    .tx
                    .query_one("SELECT n FROM cases_generation WHERE id = 0", &[])?;
                row.int(0)?.to_string()
            }
            Engine::Postgres => {
                let row = self
                    .tx
                    .query_one("SELECT pg_current_snapshot()::text", &[])?;
                row.text(0)?
            }
        };
        Ok(self.generation.get_or_init(|| generation))
    }
}

impl Sql for CachedRead<'_> {
    fn engine(&self) -> Engine {
        self.tx.engine()
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        self.tx.execute(sql, params)
    }

    fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<SqlRow>, DbError> {
        self.tx.query(sql, params)
    }

    fn lock_clause(&self) -> &'static str {
        self.tx.lock_clause()
    }

    fn lock_key(&self, key: i64) -> Result<(), DbError> {
        self.tx.lock_key(key)
    }

    fn query_shared(&self, sql: &str, params: &[SqlValue]) -> Result<Arc<Vec<SqlRow>>, DbError> {
        let generation = self.generation()?;
        let key = format!("{sql}\u{0}{params:?}");
        if let Some(rows) = self.cache.get(generation, &key) {
            return Ok(rows);
        }
        let rows = Arc::new(self.tx.query(sql, params)?);
        self.cache.put(generation, key, Arc::clone(&rows));
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Arc<Vec<SqlRow>> {
        Arc::new(vec![SqlRow(vec![SqlValue::Int(1)]); n])
    }

    #[test]
    fn entries_of_another_generation_are_never_answered() {
        let cache = ReadCache::default();
        cache.put("1", "q".into(), rows(2));
        assert_eq!(cache.get("1", "q").map(|r| r.len()), Some(2));
        assert!(cache.get("2", "q").is_none());
        cache.put("2", "other".into(), rows(1));
        assert!(
            cache.get("1", "q").is_none(),
            "a new generation drops the old"
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = ReadCache::default();
        cache.put("1", "a".into(), rows(MAX_VALUES - 1));
        cache.put("1", "b".into(), rows(2));
        assert!(cache.get("1", "a").is_none());
        assert!(cache.get("1", "b").is_some());
        cache.put("1", "huge".into(), rows(MAX_VALUES + 1));
        assert!(cache.get("1", "huge").is_none());
        assert!(cache.lock().values <= MAX_VALUES);
    }
}
