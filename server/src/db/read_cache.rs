//! Rows of read queries over `cases`, shared by every read that sees the same cases
//! ([`ReadCache`]), and the read transaction that consults it ([`CachedRead`]): counts and
//! searches cost in proportion to their matches, and most reads see unchanged data.

use super::sql::{Engine, Sql, SqlRow, SqlValue};
use super::DbError;
use std::cell::OnceCell;
use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::{Arc, Mutex};

/// The most the cache holds, in bytes as [`entry_bytes`] counts them (keys, rows, values
/// and their text): a search's ids for 100,000 cases take about 5 MB.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// The most entries the cache holds, whatever their size: each distinct search is one,
/// and a client can make up searches without end.
const MAX_ENTRIES: usize = 4096;
/// What a map entry and its place in the eviction order cost besides the key and rows.
const ENTRY_OVERHEAD: usize = 128;

/// Rows of read queries for one generation of the data.
///
/// The generation is read inside the reader's own snapshot, so a reader only ever gets
/// rows computed from exactly the data it sees:
/// - SQLite: `cases_generation.n`, which triggers on `cases` raise in every write
///   transaction that changes a case (by any process on the file);
/// - PostgreSQL: the transaction's snapshot (`pg_current_snapshot()`): two snapshots that
///   print alike see the same committed transactions, on every server of the database.
///
/// Bounded by [`MAX_BYTES`] and [`MAX_ENTRIES`]; past either, the oldest entries go first.
/// Empty results are not kept: they cost nothing to compute again from an index, and a
/// client searching for made-up text would otherwise fill the cache with keys alone.
#[derive(Default)]
pub(crate) struct ReadCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The generation every entry was computed at; entries of any other are gone.
    generation: Option<String>,
    rows: HashMap<Arc<str>, Entry>,
    /// Keys oldest first, each with the number its entry got when put (a key put again
    /// has a newer number, and its older place in the queue is skipped).
    order: VecDeque<(Arc<str>, u64)>,
    next: u64,
    bytes: usize,
}

struct Entry {
    rows: Arc<Vec<SqlRow>>,
    bytes: usize,
    number: u64,
}

/// What an entry costs in memory, roughly but never less than its data.
fn entry_bytes(key: &str, rows: &[SqlRow]) -> usize {
    let values: usize = rows
        .iter()
        .flat_map(|row| &row.0)
        .map(|value| {
            size_of::<SqlValue>()
                + match value {
                    SqlValue::Text(text) => text.len(),
                    SqlValue::Bytes(bytes) => bytes.len(),
                    SqlValue::Null | SqlValue::Int(_) | SqlValue::Real(_) => 0,
                }
        })
        .sum();
    // The key is held twice (map and queue) but shared: one copy.
    ENTRY_OVERHEAD + key.len() + std::mem::size_of_val(rows) + values
}

/// What a [`ReadCache`] holds at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadCacheSize {
    /// Queries whose rows are held (at most [`MAX_ENTRIES`]).
    pub(crate) entries: usize,
    /// What they cost, as [`entry_bytes`] counts (at most [`MAX_BYTES`]).
    pub(crate) bytes: usize,
}

impl ReadCache {
    pub(crate) fn size(&self) -> ReadCacheSize {
        let state = self.lock();
        ReadCacheSize {
            entries: state.rows.len(),
            bytes: state.bytes,
        }
    }

    fn get(&self, generation: &str, key: &str) -> Option<Arc<Vec<SqlRow>>> {
        let state = self.lock();
        if state.generation.as_deref() != Some(generation) {
            return None;
        }
        state.rows.get(key).map(|entry| Arc::clone(&entry.rows))
    }

    fn put(&self, generation: &str, key: String, rows: Arc<Vec<SqlRow>>) {
        if rows.is_empty() {
            return;
        }
        let bytes = entry_bytes(&key, &rows);
        if bytes > MAX_BYTES {
            return;
        }
        let mut state = self.lock();
        // A newer generation replaces the entries (they can never be asked for again); a
        // reader still on an older snapshot replaces them too, and the next reader of the
        // newer data puts its own back: a miss, never a wrong answer.
        if state.generation.as_deref() != Some(generation) {
            *state = State {
                generation: Some(generation.to_owned()),
                ..State::default()
            };
        }
        let key: Arc<str> = Arc::from(key);
        state.remove(&key);
        while state.bytes + bytes > MAX_BYTES || state.rows.len() >= MAX_ENTRIES {
            if !state.evict_oldest() {
                break;
            }
        }
        if state.order.len() > 2 * MAX_ENTRIES {
            state.forget_stale_places();
        }
        let number = state.next;
        state.next += 1;
        state.bytes += bytes;
        state.order.push_back((Arc::clone(&key), number));
        state.rows.insert(
            key,
            Entry {
                rows,
                bytes,
                number,
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state is a cache
        // whose every step leaves it consistent, so it is still sound.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn remove(&mut self, key: &str) {
        if let Some(old) = self.rows.remove(key) {
            self.bytes -= old.bytes;
        }
    }

    /// Drops the queue's places of keys put again since (only two readers missing the same
    /// key at once put it twice, but nothing else would ever drop them).
    fn forget_stale_places(&mut self) {
        let rows = &self.rows;
        self.order
            .retain(|(key, number)| rows.get(key).is_some_and(|e| e.number == *number));
    }

    /// Forgets the oldest entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((key, number)) = self.order.pop_front() {
            if self.rows.get(&key).is_some_and(|e| e.number == number) {
                self.remove(&key);
                return true;
            }
        }
        false
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

    fn held(cache: &ReadCache) -> (usize, usize) {
        let state = cache.lock();
        (state.rows.len(), state.bytes)
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
    fn a_large_entry_pushes_out_the_oldest_and_a_huge_one_is_not_kept() {
        let cache = ReadCache::default();
        let per_row = size_of::<SqlRow>() + size_of::<SqlValue>();
        let most = (MAX_BYTES - ENTRY_OVERHEAD - 1) / per_row;
        cache.put("1", "a".into(), rows(most));
        cache.put("1", "b".into(), rows(2));
        assert!(cache.get("1", "a").is_none());
        assert!(cache.get("1", "b").is_some());
        cache.put("1", "huge".into(), rows(most + 1));
        assert!(cache.get("1", "huge").is_none());
        assert!(held(&cache).1 <= MAX_BYTES);
    }

    #[test]
    fn made_up_searches_cannot_grow_the_cache_past_its_bounds() {
        let cache = ReadCache::default();
        // Searches that match nothing, with long keys: none is kept.
        for n in 0..20_000 {
            let key = format!("{n:0>200}");
            cache.put("1", key, rows(0));
        }
        assert_eq!(held(&cache), (0, 0), "empty results are not kept");
        // Searches that match one case each, with 1 KiB keys: the keys are counted, and
        // the number of entries is bounded too.
        for n in 0..40_000 {
            let key = format!("{n:0>1024}");
            cache.put("1", key, rows(1));
            let (entries, bytes) = held(&cache);
            assert!(entries <= MAX_ENTRIES, "{entries} entries");
            assert!(bytes <= MAX_BYTES, "{bytes} bytes");
        }
        let (entries, bytes) = held(&cache);
        assert!(
            bytes >= entries * 1024,
            "keys are counted: {bytes} for {entries}"
        );
        // The newest are the ones kept.
        assert!(cache.get("1", &format!("{:0>1024}", 39_999)).is_some());
        assert!(cache.get("1", &format!("{:0>1024}", 0)).is_none());
    }

    #[test]
    fn a_key_put_again_is_counted_once() {
        let cache = ReadCache::default();
        cache.put("1", "a".into(), rows(3));
        let once = held(&cache);
        cache.put("1", "a".into(), rows(3));
        assert_eq!(held(&cache), once);
        cache.put("1", "b".into(), rows(1));
        assert_eq!(held(&cache).0, 2);
        assert_eq!(
            cache.lock().order.len(),
            3,
            "the stale place is still queued"
        );
        assert!(cache.lock().evict_oldest());
        assert!(cache.get("1", "a").is_none(), "the older entry went first");
        assert!(cache.get("1", "b").is_some());
    }
}
