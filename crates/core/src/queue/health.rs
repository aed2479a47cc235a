//! How the server looks to the queue as a whole: the outcomes of its last answers, and the
//! queue-wide hold that keeps a drain from hammering a server that fails nearly everything.
//! Each action's own backoff is the queue's; this only decides when no action may go at all.

use crate::clock::{DurationMs, Millis, Random};
use crate::retry::RetryPolicy;

/// How many of the latest answers are looked at.
const WINDOW: u32 = 32;

/// Transient failures among the last [`WINDOW`] answers from which the server counts as
/// troubled. A server that fails everything gets there after 24 answers; one failing 30 % of
/// requests at random practically never does (24 or more of 32 at p = 0.3: 2 in 10 million
/// windows; 16 of 24 would be 1 in 1,000, about once a drain of 1,000 actions), so a drain on a
/// serving server is not held, while a down server sees two dozen requests before the queue
/// slows to one probe at a time.
const TROUBLED_AT: u32 = 24;

/// Answers needed before the share of failures says anything: three failures among the first
/// four answers happen at random to one drain in twelve at a 30 % failure rate.
const MIN_EVIDENCE: u32 = 8;

/// The queue's view of the server, from the answers it got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerHealth {
    /// One bit per recent answer, newest in bit 0: set for a transient failure.
    failures: u64,
    /// How many answers `failures` holds (up to [`WINDOW`]).
    answers: u32,
    /// No action is sent before this while the server is troubled.
    held_until: Millis,
    /// Holds in a row without a success: the step of the hold's backoff.
    holds: u32,
}

impl ServerHealth {
    /// A success: the server serves; any hold ends.
    pub(crate) fn on_success(&mut self) {
        self.push(false);
        self.held_until = Millis(0);
        self.holds = 0;
    }

    /// A transient failure while online at `now`: when the server now looks troubled, the
    /// whole queue waits a full-jitter backoff that grows with each hold in a row (never
    /// less than the server's `Retry-After`).
    pub(crate) fn on_transient_failure(
        &mut self,
        now: Millis,
        retry_after: Option<DurationMs>,
        policy: &RetryPolicy,
        rng: &mut dyn Random,
    ) {
        self.push(true);
        if !self.is_troubled() {
            return;
        }
        self.holds = self.holds.saturating_add(1);
        let until = now + policy.delay(self.holds, retry_after, rng);
        self.held_until = self.held_until.max(until);
    }

    /// "Sync now": the person asks to try at once.
    pub(crate) fn lift_hold(&mut self) {
        self.held_until = Millis(0);
    }

    /// Whether nearly all recent answers, the latest included, were transient failures (a
    /// success ends the trouble at once; the next failure brings it back while the window
    /// still holds mostly failures).
    pub(crate) fn is_troubled(&self) -> bool {
        self.failures & 1 == 1
            && self.answers >= TROUBLED_AT
            && self.failures.count_ones() >= TROUBLED_AT
    }

    /// Whether at most half of the recent answers were transient failures (or too few
    /// answers came to tell): failures then are the server's bad luck, not its state.
    pub(crate) fn is_serving(&self) -> bool {
        self.answers < MIN_EVIDENCE || self.failures.count_ones() * 2 <= self.answers
    }

    /// Until when nothing may be sent, if that is still ahead of `now`.
    pub(crate) fn held_until(&self, now: Millis) -> Option<Millis> {
        (now < self.held_until).then_some(self.held_until)
    }

    /// When the hold ends (long past when there is none).
    pub(crate) fn hold_end(&self) -> Millis {
        self.held_until
    }

    /// How many requests may be in flight at once: one probe at a time while troubled.
    pub(crate) fn in_flight_limit(&self, configured: usize) -> usize {
        if self.is_troubled() {
            configured.min(1)
        } else {
            configured
        }
    }

    fn push(&mut self, failed: bool) {
        let mask = (1u64 << WINDOW) - 1;
        self.failures = ((self.failures << 1) | u64::from(failed)) & mask;
        self.answers = (self.answers + 1).min(WINDOW);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    #[test]
    fn a_server_failing_everything_is_troubled_after_two_dozen_answers_and_one_success_ends_it() {
        let mut h = ServerHealth::default();
        let mut rng = SeededRandom::new(1);
        for n in 1..TROUBLED_AT {
            h.on_transient_failure(Millis(0), None, &RetryPolicy::ACTION, &mut rng);
            assert!(!h.is_troubled(), "after {n}");
            assert_eq!(h.held_until(Millis(0)), None);
        }
        h.on_transient_failure(
            Millis(0),
            Some(DurationMs(1_000)),
            &RetryPolicy::ACTION,
            &mut rng,
        );
        assert!(h.is_troubled());
        assert!(h.held_until(Millis(0)).is_some_and(|t| t >= Millis(1_000)));
        assert_eq!(h.in_flight_limit(4), 1);
        h.on_success();
        assert_eq!(h.held_until(Millis(0)), None);
        assert!(!h.is_troubled());
        assert_eq!(h.in_flight_limit(4), 4);
    }

    #[test]
    fn thirty_percent_of_failures_at_random_never_troubles_the_queue() {
        let mut h = ServerHealth::default();
        let mut rng = SeededRandom::new(42);
        let mut draw = SeededRandom::new(7);
        for _ in 0..20_000 {
            if draw.next_unit() < 0.3 {
                h.on_transient_failure(Millis(0), None, &RetryPolicy::ACTION, &mut rng);
            } else {
                h.on_success();
            }
            assert!(!h.is_troubled());
        }
    }
}
