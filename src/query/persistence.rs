//! Persistence: the stored cache read at start-up (behind the fetch gate and before the
//! person's pages mount, at most `RESTORE_GATE_MS`), and the cache's changes written as
//! throttled deltas. `storage` owns the IndexedDB records; this file decides when they are
//! read and written.

use super::state::{QueryClient, Storage};
use super::storage;
use casedesk_core::{CacheEvent, DurationMs};
use indexed_db_futures::database::Database;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// How long the first fetches and the first page wait for the stored cache: fetches so they
/// can revalidate it (a cheap 304) instead of downloading everything again, the page so its
/// first frame shows the cached data instead of skeletons. Past this, storage is slow (a cold
/// disk, a huge store): the page mounts, the network goes ahead, and the restore still lands
/// when it can.
const RESTORE_GATE_MS: DurationMs = DurationMs(300);

/// How long changes gather before they are written: one transaction per second at most,
/// however busy the cache, and a crash loses at most a second of (re-fetchable) answers.
const PERSIST_THROTTLE_MS: DurationMs = DurationMs(1_000);

impl QueryClient {
    pub(super) fn start_restore(&self, namespace: String) {
        let client = *self;
        self.with_inner(|inner| {
            inner.restore_gate = Some(inner.env.timeout(RESTORE_GATE_MS, move || {
                client.restore_overdue.try_set(true);
                client.open_fetch_gate();
            }))
        });
        spawn_local(async move {
            let outcome = match storage::open(&namespace).await {
                Ok(db) => match storage::read_all(&db).await {
                    Ok(restored) => Ok((db, restored)),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            client.finish_restore(outcome);
        });
    }

    fn finish_restore(
        &self,
        outcome: Result<(Database, storage::Restored), storage::CacheStoreError>,
    ) {
        let still_here = self.read_inner(|inner| !inner.shut_down).unwrap_or(false);
        if !still_here {
            if let Ok((db, _)) = outcome {
                db.close();
            }
            return;
        }
        match outcome {
            Ok((db, restored)) => {
                if !restored.dropped.is_empty() {
                    // Unreadable or outdated records cost one fetch each; remove them so they
                    // are not read again at every start.
                    let writes = storage::Writes {
                        puts: Vec::new(),
                        deletes: restored.dropped,
                    };
                    let db = db.clone();
                    spawn_local(async move {
                        let _ = storage::write(&db, writes).await;
                    });
                }
                self.with_inner(|inner| inner.storage = Storage::Ready(db));
                self.dispatch(CacheEvent::Restore {
                    entries: restored.entries,
                });
            }
            Err(error) => {
                self.with_inner(|inner| inner.storage = Storage::Unavailable);
                self.storage_error.set(Some(error.to_string()));
            }
        }
        self.restored.set(true);
        self.open_fetch_gate();
    }

    pub(super) fn persist_soon(&self) {
        let client = *self;
        self.with_inner(|inner| {
            if inner.persist_timer.is_none() && !inner.shut_down {
                inner.persist_timer = Some(
                    inner
                        .env
                        .timeout(PERSIST_THROTTLE_MS, move || client.flush()),
                );
            }
        });
    }

    /// Writes the changes now rather than at the end of the throttle (the page is hidden).
    pub(super) fn flush_now(&self) {
        self.with_inner(|inner| inner.persist_timer = None);
        self.flush();
    }

    /// Writes the changes since the last flush. While the store is still opening, waits.
    fn flush(&self) {
        enum Step {
            Later,
            Write(Database, storage::Writes),
            Nothing,
        }
        let step = self.with_inner(|inner| {
            inner.persist_timer = None;
            match &inner.storage {
                Storage::Opening => Step::Later,
                // Taken anyway, so the cache does not keep a growing list of changes nobody
                // will write.
                Storage::Unavailable => {
                    inner.cache.take_dirty();
                    Step::Nothing
                }
                Storage::Ready(db) => {
                    Step::Write(db.clone(), storage::Writes::of(inner.cache.take_dirty()))
                }
            }
        });
        match step {
            Some(Step::Later) => self.persist_soon(),
            Some(Step::Write(db, writes)) if !writes.is_empty() => {
                let client = *self;
                spawn_local(async move {
                    if let Err(error) = storage::write(&db, writes).await {
                        client.storage_error.try_set(Some(error.to_string()));
                    }
                });
            }
            _ => {}
        }
    }

    /// Whether the stored cache has been read (or found unavailable). Fetches wait for it
    /// at most `RESTORE_GATE_MS`; views may use it to hold a skeleton instead of "no data".
    pub fn restored(&self) -> Signal<bool> {
        self.restored.into()
    }

    /// Whether the person's pages may mount: the stored cache has been read (or found
    /// unavailable), or reading it has taken longer than `RESTORE_GATE_MS`. Until then a page
    /// would paint skeletons for data the device holds.
    pub fn ready_to_show(&self) -> Signal<bool> {
        let (restored, overdue) = (self.restored, self.restore_overdue);
        Signal::derive(move || restored.get() || overdue.get())
    }

    /// Why the cache cannot be stored, when it cannot (private mode, quota, a blocked
    /// database): the app keeps working from memory and says so.
    pub fn storage_error(&self) -> Signal<Option<String>> {
        self.storage_error.into()
    }

    /// At shut-down: writes the last changes, then closes the database (a reload, a test
    /// mounting the next app on the same store, must find them).
    pub(super) fn persist_and_close(&self) {
        let db = self.with_inner(|inner| {
            inner.persist_timer = None;
            inner.restore_gate = None;
            match std::mem::replace(&mut inner.storage, Storage::Unavailable) {
                Storage::Ready(db) => Some((db, storage::Writes::of(inner.cache.take_dirty()))),
                _ => None,
            }
        });
        if let Some(Some((db, writes))) = db {
            spawn_local(async move {
                if !writes.is_empty() {
                    let _ = storage::write(&db, writes).await;
                }
                db.close();
            });
        }
    }
}
