//! Diagnostics: the Sync page's numbers, the request log, the Devtools page's cache rows,
//! and the queue's requests recorded beside the queries'.

use super::state::QueryClient;
use casedesk_core::diagnostics::{ErrorRecord, RequestOutcome, RequestSample};
use casedesk_core::inspect::{self, CacheRow, KeyFilter};
use casedesk_core::{CacheConfig, DiagnosticsSnapshot, DurationMs, Failure, QueryCache};
use leptos::prelude::*;

impl QueryClient {
    /// The Sync page's numbers, recomputed whenever the cache or a request changes them.
    pub fn diagnostics(&self) -> Signal<DiagnosticsSnapshot> {
        let client = *self;
        Signal::derive(move || {
            client.diagnostics_changed.track();
            client.diagnostics_now()
        })
    }

    /// The recent requests (queries' and the queue's), oldest first: what the timings are
    /// computed over, for the Sync page's table and for tests.
    pub fn request_log(&self) -> Vec<RequestSample> {
        self.read_inner(|inner| inner.cache.diagnostics().requests().cloned().collect())
            .unwrap_or_default()
    }

    fn diagnostics_now(&self) -> DiagnosticsSnapshot {
        let now = self.now();
        self.read_inner(|inner| inner.cache.diagnostics_snapshot(now))
            .unwrap_or_else(|| {
                QueryCache::new(CacheConfig::default(), true).diagnostics_snapshot(now)
            })
    }

    /// The Devtools page's rows of the entries `filter` matches, recomputed whenever an
    /// entry changes (read them inside a reactive closure).
    pub fn cache_rows(&self, filter: &KeyFilter) -> Vec<CacheRow> {
        self.diagnostics_changed.track();
        let now = self.now();
        self.read_inner(|inner| inspect::cache_rows(&inner.cache, now, filter))
            .unwrap_or_default()
    }

    /// Records a request made elsewhere (the action queue) beside the queries', so the Sync
    /// page's timings and errors cover all traffic.
    pub fn record_request(
        &self,
        subject: &str,
        elapsed_ms: f64,
        failure: Option<&Failure>,
        request_id: &str,
    ) {
        let now = self.now();
        let duration = DurationMs(if elapsed_ms.is_finite() && elapsed_ms > 0.0 {
            elapsed_ms.round() as u64
        } else {
            0
        });
        self.with_inner(|inner| {
            let diagnostics = inner.cache.diagnostics_mut();
            diagnostics.record_request(RequestSample {
                at: now,
                subject: subject.to_owned(),
                duration,
                outcome: if failure.is_some() {
                    RequestOutcome::Failed
                } else {
                    RequestOutcome::Ok
                },
            });
            if let Some(failure) = failure {
                let mut record = ErrorRecord::of(now, subject.to_owned(), failure);
                // The answer's request id, when the failure itself does not carry one.
                if record.request_id.is_none() && !request_id.is_empty() {
                    record.request_id = Some(request_id.to_owned());
                }
                diagnostics.record_error(record);
            }
        });
        self.diagnostics_changed.notify();
    }
}
