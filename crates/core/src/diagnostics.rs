//! The numbers the Sync page shows: cache hit ratio, request timings (p50/p95 over a bounded
//! recent window), recent errors with their request ids, and threshold alerts. Everything is
//! bounded in memory and serializable for "Export as JSON".

use crate::clock::{DurationMs, Millis};
use crate::failure::Failure;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How many recent requests the timings and error rate are computed over. 200 is enough for
/// a stable p95 (ten samples above it) and small enough to be "recent" in a busy session.
pub const TIMING_WINDOW: usize = 200;

/// How many recent errors are kept for display and export.
pub const ERROR_LOG_LEN: usize = 50;

/// What a view found when it mounted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupOutcome {
    /// Fresh data: shown, no request.
    Hit,
    /// Data present but stale: shown at once, revalidated in the background.
    StaleHit,
    /// Nothing to show: the view waits for the network.
    Miss,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOutcome {
    /// 2xx with a body.
    Ok,
    /// 304: the cached data was still current.
    NotModified,
    Failed,
}

/// Counts of view lookups by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupCounts {
    pub hits: u64,
    pub stale_hits: u64,
    pub misses: u64,
}

impl LookupCounts {
    pub fn total(&self) -> u64 {
        self.hits + self.stale_hits + self.misses
    }

    /// Share of lookups that painted data at once (fresh or stale); `None` before any.
    pub fn hit_ratio(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| (self.hits + self.stale_hits) as f64 / total as f64)
    }

    /// Share of lookups that needed no request at all; `None` before any.
    pub fn fresh_hit_ratio(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

/// One finished request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSample {
    pub at: Millis,
    /// What was asked for: a query key (`cases/…`) or an action's description.
    pub subject: String,
    pub duration: DurationMs,
    pub outcome: RequestOutcome,
}

/// One recent error, with what is needed to find it in the server's logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub at: Millis,
    pub subject: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    /// What went wrong (the app words it).
    pub failure: Failure,
}

impl ErrorRecord {
    /// The record of `failure` of a request about `subject`, at `at`.
    pub fn of(at: Millis, subject: String, failure: &Failure) -> Self {
        Self {
            at,
            subject,
            status: match failure {
                Failure::Http { status, .. } => Some(*status),
                _ => None,
            },
            request_id: failure.request_id().map(str::to_owned),
            failure: failure.clone(),
        }
    }
}

/// When the Sync page raises a warning.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertThresholds {
    /// p95 request time above this is "slow". 2 s: past it a person notices the wait even
    /// behind stale data, and it is well above a healthy API's few hundred milliseconds.
    pub p95_limit: DurationMs,
    /// Share of failed requests in the window above this is "failing". 20 %: the chaos
    /// demos run at 10–30 %; a real deployment should sit near zero.
    pub error_rate_limit: f64,
    /// No alert on fewer samples than this: three slow requests at start-up are not a trend.
    pub min_samples: usize,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            p95_limit: DurationMs(2_000),
            error_rate_limit: 0.2,
            min_samples: 10,
        }
    }
}

/// A warning for the Sync page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Alert {
    SlowRequests { p95: DurationMs, limit: DurationMs },
    HighErrorRate { rate: f64, limit: f64 },
}

/// The cache's size, as the snapshot reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheFootprint {
    pub entries: usize,
    pub observed: usize,
    pub bytes: u64,
}

/// Everything the Sync page shows, at one moment; serialized for "Export as JSON".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticsSnapshot {
    pub taken_at: Millis,
    pub lookups: LookupCounts,
    pub hit_ratio: Option<f64>,
    /// Requests in the window.
    pub requests: usize,
    pub p50: Option<DurationMs>,
    pub p95: Option<DurationMs>,
    /// Failed share of the requests in the window.
    pub error_rate: Option<f64>,
    /// Newest first.
    pub recent_errors: Vec<ErrorRecord>,
    pub cache: CacheFootprint,
}

/// The running record. The query cache feeds it; the glue may feed the action queue's
/// requests and errors through the same methods.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    lookups: LookupCounts,
    requests: VecDeque<RequestSample>,
    errors: VecDeque<ErrorRecord>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_lookup(&mut self, outcome: LookupOutcome) {
        match outcome {
            LookupOutcome::Hit => self.lookups.hits += 1,
            LookupOutcome::StaleHit => self.lookups.stale_hits += 1,
            LookupOutcome::Miss => self.lookups.misses += 1,
        }
    }

    pub fn record_request(&mut self, sample: RequestSample) {
        push_bounded(&mut self.requests, sample, TIMING_WINDOW);
    }

    pub fn record_error(&mut self, error: ErrorRecord) {
        push_bounded(&mut self.errors, error, ERROR_LOG_LEN);
    }

    pub fn lookups(&self) -> LookupCounts {
        self.lookups
    }

    /// The recent requests, oldest first.
    pub fn requests(&self) -> impl Iterator<Item = &RequestSample> {
        self.requests.iter()
    }

    /// The recent errors, oldest first.
    pub fn errors(&self) -> impl Iterator<Item = &ErrorRecord> {
        self.errors.iter()
    }

    /// The numbers as of `now`, with the cache's footprint supplied by the caller.
    pub fn snapshot(&self, now: Millis, cache: CacheFootprint) -> DiagnosticsSnapshot {
        let mut durations: Vec<u64> = self.requests.iter().map(|s| s.duration.0).collect();
        crate::sort::sort_by_key(&mut durations, |d| *d);
        let failed = self
            .requests
            .iter()
            .filter(|s| s.outcome == RequestOutcome::Failed)
            .count();
        let requests = self.requests.len();
        DiagnosticsSnapshot {
            taken_at: now,
            lookups: self.lookups,
            hit_ratio: self.lookups.hit_ratio(),
            requests,
            p50: percentile(&durations, 50.0).map(DurationMs),
            p95: percentile(&durations, 95.0).map(DurationMs),
            error_rate: (requests > 0).then(|| failed as f64 / requests as f64),
            recent_errors: self.errors.iter().rev().cloned().collect(),
            cache,
        }
    }
}

fn push_bounded<T>(log: &mut VecDeque<T>, item: T, cap: usize) {
    while log.len() >= cap {
        log.pop_front();
    }
    log.push_back(item);
}

/// The nearest-rank percentile `p` (0–100) of `sorted` (ascending); `None` when empty.
/// Nearest-rank returns an observed value, never an interpolation, which is what a person
/// expects of "p95 = 840 ms".
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    // rank is in 0..=len; index rank-1 (or 0) is therefore within bounds.
    sorted.get(rank.saturating_sub(1)).copied()
}

/// The warnings a snapshot deserves under `thresholds`.
pub fn alerts(snapshot: &DiagnosticsSnapshot, thresholds: &AlertThresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    if snapshot.requests < thresholds.min_samples {
        return alerts;
    }
    if let Some(p95) = snapshot.p95.filter(|p95| *p95 > thresholds.p95_limit) {
        alerts.push(Alert::SlowRequests {
            p95,
            limit: thresholds.p95_limit,
        });
    }
    if let Some(rate) = snapshot
        .error_rate
        .filter(|rate| *rate > thresholds.error_rate_limit)
    {
        alerts.push(Alert::HighErrorRate {
            rate,
            limit: thresholds.error_rate_limit,
        });
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, outcome: RequestOutcome) -> RequestSample {
        RequestSample {
            at: Millis(0),
            subject: "cases".into(),
            duration: DurationMs(ms),
            outcome,
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
    }

    #[test]
    fn snapshot_counts_and_bounds() {
        let mut d = Diagnostics::new();
        d.record_lookup(LookupOutcome::Hit);
        d.record_lookup(LookupOutcome::StaleHit);
        d.record_lookup(LookupOutcome::Miss);
        d.record_lookup(LookupOutcome::Miss);
        for ms in 1..=(TIMING_WINDOW as u64 + 50) {
            d.record_request(sample(ms, RequestOutcome::Ok));
        }
        let s = d.snapshot(Millis(9), CacheFootprint::default());
        assert_eq!(s.hit_ratio, Some(0.5));
        assert_eq!(d.lookups().fresh_hit_ratio(), Some(0.25));
        assert_eq!(s.requests, TIMING_WINDOW);
        // The window holds 51..=250.
        assert_eq!(s.p50, Some(DurationMs(150)));
        assert_eq!(s.p95, Some(DurationMs(240)));
        assert_eq!(s.error_rate, Some(0.0));
        for i in 0..(ERROR_LOG_LEN as u64 + 5) {
            d.record_error(ErrorRecord {
                at: Millis(i),
                subject: "x".into(),
                status: Some(503),
                request_id: Some(format!("r{i}")),
                failure: Failure::Timeout,
            });
        }
        let s = d.snapshot(Millis(9), CacheFootprint::default());
        assert_eq!(s.recent_errors.len(), ERROR_LOG_LEN);
        assert_eq!(
            s.recent_errors[0].request_id.as_deref(),
            Some(format!("r{}", ERROR_LOG_LEN as u64 + 4).as_str())
        );
    }

    #[test]
    fn alerts_fire_over_thresholds_only_with_enough_samples() {
        let t = AlertThresholds::default();
        let mut d = Diagnostics::new();
        for _ in 0..5 {
            d.record_request(sample(5_000, RequestOutcome::Failed));
        }
        assert!(alerts(&d.snapshot(Millis(0), CacheFootprint::default()), &t).is_empty());
        for _ in 0..10 {
            d.record_request(sample(100, RequestOutcome::Ok));
        }
        let snap = d.snapshot(Millis(0), CacheFootprint::default());
        let found = alerts(&snap, &t);
        assert!(found.contains(&Alert::SlowRequests {
            p95: DurationMs(5_000),
            limit: DurationMs(2_000)
        }));
        assert!(found.iter().any(
            |a| matches!(a, Alert::HighErrorRate { rate, .. } if (*rate - 1.0 / 3.0).abs() < 1e-9)
        ));
        for _ in 0..200 {
            d.record_request(sample(100, RequestOutcome::NotModified));
        }
        assert!(alerts(&d.snapshot(Millis(0), CacheFootprint::default()), &t).is_empty());
    }

    #[test]
    fn snapshot_serializes() {
        let d = Diagnostics::new();
        let json = serde_json::to_string(&d.snapshot(Millis(1), CacheFootprint::default()));
        assert!(json.is_ok_and(|j| j.contains("\"hit_ratio\":null")));
    }
}
