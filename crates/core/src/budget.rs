//! The client-side request budget: one token bucket shared by query fetches and the action
//! queue, so a burst of mounting views or revalidations never floods the server, the client
//! stays under the server's per-client limit, the queue's drain leaves tokens for the person's
//! own reads, and a 429 silences the client for as long as `Retry-After` says.

use crate::clock::{DurationMs, Millis};
use serde::{Deserialize, Serialize};

/// Token amounts are kept in thousandths of a token so refill is exact integer arithmetic.
const MILLI: u64 = 1_000;

/// The bucket's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetConfig {
    /// Tokens a full bucket holds: the largest burst sent at once.
    pub capacity: u32,
    /// Tokens added per second: the sustained request rate.
    pub refill_per_sec: u32,
    /// How long to hold off after a 429 that named no `Retry-After`.
    pub default_backoff: DurationMs,
    /// Tokens background work (the queue's drain) leaves in the bucket for the person's own
    /// reads: a drain never makes a page wait for the budget.
    #[serde(default)]
    pub reserve_for_reads: u32,
}

impl BudgetConfig {
    /// 40 tokens, 400 per second, 10 kept for reads.
    ///
    /// The heaviest page (the dashboard plus a list page plus a few case prefetches) needs
    /// well under 40 requests at once, so people never wait on the budget. The rate is the
    /// queue's: its drain is closed-loop (at most `QueueConfig::max_in_flight` requests
    /// outstanding, so a slow server slows it by itself) and reaches ~400 actions/s on
    /// loopback; at 30 per second (before) a backlog of 1,000 offline changes took 33 s
    /// whatever the server could do. What keeps a failing server from a retry storm is the
    /// queue's backoff and its queue-wide hold (`queue::health`), not this bucket. 400/s
    /// with a burst of 40 stays under the reference server's per-client limit (500/s, burst
    /// 1,000), so the app never earns a 429 from its own pace: a 429 silences every request,
    /// reads included, for at least a second. The drain leaves 10 tokens for the person's
    /// reads (at 400/s they come back in 25 ms). 1 s after a bare 429 matches the server's
    /// own hint.
    pub const DEFAULT: BudgetConfig = BudgetConfig {
        capacity: 40,
        refill_per_sec: 400,
        default_backoff: DurationMs(1_000),
        reserve_for_reads: 10,
    };
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A token bucket. Every request takes one token; tokens come back at a steady rate.
#[derive(Clone, Debug)]
pub struct RequestBudget {
    config: BudgetConfig,
    /// Thousandths of a token.
    tokens: u64,
    /// The time up to which refill has been accounted.
    refilled_at: Millis,
    /// No token is handed out before this (a 429's `Retry-After`).
    blocked_until: Millis,
}

impl RequestBudget {
    /// A full bucket at `now`.
    pub fn new(config: BudgetConfig, now: Millis) -> Self {
        Self {
            config,
            tokens: u64::from(config.capacity) * MILLI,
            refilled_at: now,
            blocked_until: Millis(0),
        }
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }

    /// Whole tokens available at `now` (for the Sync page).
    pub fn available(&mut self, now: Millis) -> u32 {
        self.refill(now);
        if now < self.blocked_until {
            return 0;
        }
        u32::try_from(self.tokens / MILLI).unwrap_or(u32::MAX)
    }

    /// Takes one token for a request at `now`, or says when to ask again.
    pub fn try_acquire(&mut self, now: Millis) -> Result<(), Millis> {
        if now < self.blocked_until {
            return Err(self.blocked_until);
        }
        self.refill(now);
        if self.tokens >= MILLI {
            self.tokens -= MILLI;
            return Ok(());
        }
        let rate = u64::from(self.config.refill_per_sec.max(1)); // milli-tokens per ms
        let missing = MILLI - self.tokens;
        Err(now + DurationMs(missing.div_ceil(rate)))
    }

    /// Takes one token for background work at `now` (the queue's drain) only while the
    /// bucket still holds the reads' reserve after it; otherwise says when it will.
    pub fn try_acquire_background(&mut self, now: Millis) -> Result<(), Millis> {
        if now < self.blocked_until {
            return Err(self.blocked_until);
        }
        self.refill(now);
        let needed = (u64::from(self.config.reserve_for_reads) + 1) * MILLI;
        if self.tokens >= needed {
            self.tokens -= MILLI;
            return Ok(());
        }
        let rate = u64::from(self.config.refill_per_sec.max(1)); // milli-tokens per ms
        Err(now + DurationMs((needed - self.tokens).div_ceil(rate)))
    }

    /// The server said 429: hand out nothing until `retry_after` has passed (the config's
    /// default when it named none), then start again from an empty bucket, so the client
    /// comes back at the steady rate rather than with a burst that would earn another 429.
    pub fn on_rate_limited(&mut self, retry_after: Option<DurationMs>, now: Millis) {
        let until = now + retry_after.unwrap_or(self.config.default_backoff);
        self.blocked_until = self.blocked_until.max(until);
        self.tokens = 0;
        self.refilled_at = self.refilled_at.max(self.blocked_until);
    }

    /// Until when a 429 silences the client, if it still does at `now`.
    pub fn blocked_until(&self, now: Millis) -> Option<Millis> {
        (now < self.blocked_until).then_some(self.blocked_until)
    }

    fn refill(&mut self, now: Millis) {
        if now <= self.refilled_at {
            return;
        }
        let elapsed = now.since(self.refilled_at).0;
        let added = elapsed.saturating_mul(u64::from(self.config.refill_per_sec));
        let capacity = u64::from(self.config.capacity) * MILLI;
        self.tokens = self.tokens.saturating_add(added).min(capacity);
        self.refilled_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape the arithmetic below is written for, independent of the default.
    const TEST_BUDGET: BudgetConfig = BudgetConfig {
        capacity: 20,
        refill_per_sec: 10,
        default_backoff: DurationMs(1_000),
        reserve_for_reads: 5,
    };

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let mut b = RequestBudget::new(TEST_BUDGET, Millis(1_000));
        for _ in 0..20 {
            assert_eq!(b.try_acquire(Millis(1_000)), Ok(()));
        }
        // Empty: the next token is 100 ms away at 10 per second.
        assert_eq!(b.try_acquire(Millis(1_000)), Err(Millis(1_100)));
        assert_eq!(b.try_acquire(Millis(1_050)), Err(Millis(1_100)));
        assert_eq!(b.try_acquire(Millis(1_100)), Ok(()));
        // One second refills ten, never more than the capacity.
        assert_eq!(b.available(Millis(2_100)), 10);
        assert_eq!(b.available(Millis(60_000)), 20);
    }

    #[test]
    fn a_429_empties_and_blocks_for_retry_after() {
        let mut b = RequestBudget::new(TEST_BUDGET, Millis(0));
        b.on_rate_limited(Some(DurationMs::from_secs(5)), Millis(1_000));
        assert_eq!(b.try_acquire(Millis(1_000)), Err(Millis(6_000)));
        assert_eq!(b.try_acquire(Millis(5_999)), Err(Millis(6_000)));
        assert_eq!(b.blocked_until(Millis(2_000)), Some(Millis(6_000)));
        assert_eq!(b.available(Millis(3_000)), 0);
        // After the block, refill starts from empty: no burst.
        assert_eq!(b.try_acquire(Millis(6_000)), Err(Millis(6_100)));
        assert_eq!(b.try_acquire(Millis(6_100)), Ok(()));
        assert_eq!(b.available(Millis(6_500)), 4);
        assert_eq!(b.blocked_until(Millis(6_500)), None);
    }

    #[test]
    fn a_shorter_429_does_not_shorten_a_longer_block() {
        let mut b = RequestBudget::new(TEST_BUDGET, Millis(0));
        b.on_rate_limited(Some(DurationMs::from_secs(10)), Millis(0));
        b.on_rate_limited(None, Millis(1_000));
        assert_eq!(b.try_acquire(Millis(2_000)), Err(Millis(10_000)));
    }

    #[test]
    fn a_drain_leaves_the_reads_reserve_so_a_read_never_waits_behind_it() {
        let mut b = RequestBudget::new(TEST_BUDGET, Millis(0));
        for _ in 0..15 {
            assert_eq!(b.try_acquire_background(Millis(0)), Ok(()));
        }
        // Five tokens left: the drain waits for a sixth (100 ms at 10 per second)…
        assert_eq!(b.try_acquire_background(Millis(0)), Err(Millis(100)));
        // …while the person's reads take all five at once.
        for _ in 0..5 {
            assert_eq!(b.try_acquire(Millis(0)), Ok(()));
        }
        assert_eq!(b.try_acquire_background(Millis(0)), Err(Millis(600)));
        assert_eq!(b.try_acquire_background(Millis(600)), Ok(()));
        // A 429 holds background work as long as everything else.
        b.on_rate_limited(Some(DurationMs::from_secs(2)), Millis(1_000));
        assert_eq!(b.try_acquire_background(Millis(1_500)), Err(Millis(3_000)));
    }

    #[test]
    fn the_default_drains_a_thousand_actions_in_under_three_seconds_and_keeps_a_reserve() {
        let mut b = RequestBudget::new(BudgetConfig::DEFAULT, Millis(0));
        let mut now = Millis(0);
        let mut taken = 0;
        while taken < 1_000 {
            match b.try_acquire_background(now) {
                Ok(()) => taken += 1,
                Err(at) => now = at,
            }
            assert!(b.available(now) >= BudgetConfig::DEFAULT.reserve_for_reads);
        }
        assert!(now < Millis(3_000), "{now:?}");
    }

    #[test]
    fn time_going_backwards_neither_panics_nor_refills() {
        let mut b = RequestBudget::new(TEST_BUDGET, Millis(10_000));
        for _ in 0..20 {
            assert!(b.try_acquire(Millis(10_000)).is_ok());
        }
        assert!(b.try_acquire(Millis(5_000)).is_err());
    }
}
