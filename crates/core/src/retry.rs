//! The backoff schedule: exponential with full jitter, capped, and never sooner than the
//! server's `Retry-After`. It knows nothing about queries or actions; both use it.

use crate::clock::{DurationMs, Random};
use serde::{Deserialize, Serialize};

/// How a failed operation is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// The ceiling of the first delay.
    pub base: DurationMs,
    /// No delay is longer than this (before `Retry-After`, which always wins).
    pub cap: DurationMs,
    /// Counted attempts after which a transient failure is given up; `None` retries for ever.
    pub max_attempts: Option<u32>,
}

impl RetryPolicy {
    /// Queries: a person is looking at a spinner, so retry soon and give up after 3 tries.
    pub const QUERY: RetryPolicy = RetryPolicy {
        base: DurationMs(1_000),
        cap: DurationMs(30_000),
        max_attempts: Some(3),
    };

    /// The action queue: from 0.5 s to 5 min, for as long as retention allows. The first
    /// steps are short because a drain on a server that answers most requests waits them out
    /// once per failure (a `Retry-After`, 1 s on the reference server's 503, is the floor); a
    /// server that fails nearly everything is held off queue-wide (`queue::health`), so short
    /// first steps never turn into a storm.
    pub const ACTION: RetryPolicy = RetryPolicy {
        base: DurationMs(500),
        cap: DurationMs(300_000),
        max_attempts: None,
    };

    /// The ceiling of the delay before attempt `attempt + 1`, after `attempt` failures
    /// (1-based): `min(cap, base * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> DurationMs {
        let doublings = attempt.saturating_sub(1).min(62);
        let grown = self.base.0.saturating_mul(1u64 << doublings);
        DurationMs(grown.min(self.cap.0))
    }

    /// The delay after `attempt` counted failures: uniform in `[0, ceiling]` ("full jitter",
    /// which spreads a crowd of clients best), but at least `retry_after` when the server
    /// named one.
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<DurationMs>,
        rng: &mut dyn Random,
    ) -> DurationMs {
        let ceiling = self.ceiling(attempt).0 as f64;
        let jittered = DurationMs((rng.next_unit() * ceiling).round() as u64);
        match retry_after {
            Some(wait) => jittered.max(wait),
            None => jittered,
        }
    }

    /// Whether a transient failure after `attempt` counted attempts may still be retried.
    pub fn allows(&self, attempt: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempt < max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    struct Fixed(f64);
    impl Random for Fixed {
        fn next_unit(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn ceilings_double_from_the_base_and_stop_at_the_cap() {
        let p = RetryPolicy::ACTION;
        let ceilings: Vec<u64> = (1..=11).map(|a| p.ceiling(a).0).collect();
        assert_eq!(
            ceilings,
            vec![
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000
            ]
        );
        assert_eq!(p.ceiling(u32::MAX), DurationMs(300_000));
    }

    #[test]
    fn jitter_spans_zero_to_the_ceiling() {
        let p = RetryPolicy::ACTION;
        assert_eq!(p.delay(3, None, &mut Fixed(0.0)), DurationMs(0));
        assert_eq!(p.delay(3, None, &mut Fixed(0.5)), DurationMs(1_000));
        let mut rng = SeededRandom::new(7);
        for attempt in 1..20 {
            let d = p.delay(attempt, None, &mut rng);
            assert!(d <= p.ceiling(attempt));
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::ACTION;
        assert_eq!(
            p.delay(1, Some(DurationMs(5_000)), &mut Fixed(0.9)),
            DurationMs(5_000)
        );
        assert_eq!(
            p.delay(9, Some(DurationMs(5_000)), &mut Fixed(0.5)),
            DurationMs(64_000)
        );
    }

    #[test]
    fn query_policy_gives_up_after_three() {
        assert!(RetryPolicy::QUERY.allows(2));
        assert!(!RetryPolicy::QUERY.allows(3));
        assert!(RetryPolicy::ACTION.allows(10_000));
    }
}
