//! Which API origin the app talks to when it has several (docs/api.md §5): one at a time;
//! a failure makes it doubt the origin in use and health-check it, and it moves only to an
//! origin whose own `GET /health` just answered; back to the preferred one the same way.
//! Pure: the browser reports outcomes, runs the checks [`OriginChoice::check_due`] asks for.

use crate::clock::{DurationMs, Millis, Random};

/// How long an origin that failed is left alone: `base · 2^(failures-1)`, at most `cap`,
/// of which a random share of up to half is taken off ("equal jitter": many clients that
/// lost one server do not all come back to it in the same instant, and none comes back
/// sooner than half the doubled rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginBackoff {
    pub base: DurationMs,
    pub cap: DurationMs,
}

impl Default for OriginBackoff {
    fn default() -> Self {
        Self {
            base: DurationMs(1_000),
            cap: DurationMs(30_000),
        }
    }
}

impl OriginBackoff {
    /// The rest after `failures` failures in a row, before jitter.
    pub fn ceiling(&self, failures: u32) -> DurationMs {
        let doublings = failures.saturating_sub(1).min(20);
        DurationMs(
            self.base
                .0
                .saturating_mul(1u64 << doublings)
                .min(self.cap.0),
        )
    }

    /// The rest after `failures` failures in a row: in `[ceiling/2, ceiling]`.
    fn rest(&self, failures: u32, rng: &mut dyn Random) -> DurationMs {
        let ceiling = self.ceiling(failures).0;
        let half = ceiling / 2;
        let spread = (rng.next_unit().clamp(0.0, 1.0) * (ceiling - half) as f64).round() as u64;
        DurationMs(half + spread.min(ceiling - half))
    }
}

/// Request failures in a row (no answer between) after which the origin in use is left even
/// though its health check passes: `/health` answering says the process is up, not that it
/// serves (its database may be gone). Three, so that random failures of a serving server
/// (30 % under the chaos runs: 2.7 % for three in a row) rarely move the app, while a
/// server failing everything is left after three requests.
pub const FAILURES_BEFORE_LEAVING: u32 = 3;

/// What the browser learnt about one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginEvent {
    /// A request through `origin` got an answer that was not a server failure.
    Answered { origin: usize },
    /// A request through `origin` failed: no connection, a timeout, or a 5xx.
    Failed { origin: usize, now: Millis },
    /// `GET /health` on `origin` answered 200.
    Healthy { origin: usize },
    /// `GET /health` on `origin` failed (no connection, a timeout, anything but 200).
    Unhealthy { origin: usize, now: Millis },
}

/// Where the choice stands with the origin in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stance {
    /// It works, as far as we know.
    #[default]
    Trusting,
    /// A request through it failed: its health check decides whether we stay.
    Doubting,
    /// It failed its health check (or failed too often): health-check the others, in order,
    /// and move to the first that passes. Until one does, requests still go to it.
    Leaving,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OriginHealth {
    /// Failures in a row (requests or health checks) since its last good answer: the rest.
    failures: u32,
    /// Request failures in a row since its last answer (a passing health check keeps them).
    streak: u32,
    /// Not chosen (nor checked to be chosen) before this time.
    rest_until: Option<Millis>,
}

impl OriginHealth {
    fn resting(&self, now: Millis) -> bool {
        self.rest_until.is_some_and(|until| until > now)
    }
}

/// The origins in order of preference, the one in use, and each one's recent failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginChoice {
    origins: Vec<String>,
    health: Vec<OriginHealth>,
    current: usize,
    stance: Stance,
    backoff: OriginBackoff,
}

impl OriginChoice {
    /// Origins in order of preference; an empty list means the app's own origin (`""`).
    pub fn new(origins: Vec<String>, backoff: OriginBackoff) -> Self {
        let mut origins: Vec<String> = origins
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .collect();
        if origins.is_empty() {
            origins.push(String::new());
        }
        let health = vec![OriginHealth::default(); origins.len()];
        Self {
            origins,
            health,
            current: 0,
            stance: Stance::Trusting,
            backoff,
        }
    }

    /// The origin in use and its index.
    pub fn current(&self) -> (usize, &str) {
        // `current` is always an index into `origins`, which is never empty (see `new`).
        (
            self.current,
            self.origins.get(self.current).map_or("", String::as_str),
        )
    }

    /// Every origin, in order of preference.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether there is anything to choose between.
    pub fn has_alternatives(&self) -> bool {
        self.origins.len() > 1
    }

    /// Applies what was learnt (`rng` jitters the rest of an origin that failed); returns
    /// whether the origin in use changed. It changes only on a passing health check.
    pub fn apply(&mut self, event: OriginEvent, rng: &mut dyn Random) -> bool {
        let before = self.current;
        let was_leaving = self.stance == Stance::Leaving;
        let alternatives = self.has_alternatives();
        match event {
            OriginEvent::Answered { origin } => {
                if let Some(h) = self.health.get_mut(origin) {
                    *h = OriginHealth::default();
                }
                // It serves after all: whatever made us doubt it was passing.
                if origin == self.current {
                    self.stance = Stance::Trusting;
                }
            }
            OriginEvent::Failed { origin, now } => {
                let backoff = self.backoff;
                let Some(h) = self.health.get_mut(origin) else {
                    return false;
                };
                h.failures = h.failures.saturating_add(1);
                h.streak = h.streak.saturating_add(1);
                h.rest_until = Some(now + backoff.rest(h.failures, rng));
                let streak = h.streak;
                // A late failure of an origin already left behind moves nothing.
                if origin == self.current && alternatives {
                    self.stance = if streak >= FAILURES_BEFORE_LEAVING {
                        Stance::Leaving
                    } else {
                        self.stance.max_with(Stance::Doubting)
                    };
                }
            }
            OriginEvent::Unhealthy { origin, now } => {
                let backoff = self.backoff;
                let Some(h) = self.health.get_mut(origin) else {
                    return false;
                };
                h.failures = h.failures.saturating_add(1);
                h.rest_until = Some(now + backoff.rest(h.failures, rng));
                if origin == self.current && alternatives {
                    self.stance = Stance::Leaving;
                }
            }
            OriginEvent::Healthy { origin } => {
                let Some(h) = self.health.get_mut(origin) else {
                    return false;
                };
                h.failures = 0;
                h.rest_until = None;
                if origin == self.current {
                    // Up: a failure or two of a serving server is no reason to move.
                    if self.stance == Stance::Doubting {
                        self.stance = Stance::Trusting;
                    }
                } else if origin < self.current || self.stance == Stance::Leaving {
                    // Back to a more preferred origin, or away from a failing one; never
                    // away from one that works to a less preferred one.
                    self.current = origin;
                    self.stance = Stance::Trusting;
                }
            }
        }
        if self.stance == Stance::Leaving && !was_leaving {
            // The origin in use just proved down: the others' rests were earned while it
            // served, and waiting them out would leave the app on a dead server. Each is
            // checked once now; one that fails again rests twice as long as before.
            let current = self.current;
            for (i, h) in self.health.iter_mut().enumerate() {
                if i != current {
                    h.rest_until = None;
                }
            }
        }
        before != self.current
    }

    /// The origin to health-check now, if any: the one in use when a failure made us doubt
    /// it; when leaving it, the next one after it (in a circle) that is not resting; else
    /// the first more preferred one whose rest is over (the way back).
    pub fn check_due(&self, now: Millis) -> Option<usize> {
        match self.stance {
            Stance::Doubting => Some(self.current),
            Stance::Leaving => self
                .others()
                .find(|&i| !self.health.get(i).is_some_and(|h| h.resting(now))),
            Stance::Trusting => {
                (0..self.current).find(|&i| !self.health.get(i).is_some_and(|h| h.resting(now)))
            }
        }
    }

    /// When [`Self::check_due`] next has something to say, if it has not now: the earliest
    /// end of rest among the origins it would check.
    pub fn next_check_at(&self) -> Option<Millis> {
        let rest_of = |i: usize| self.health.get(i).and_then(|h| h.rest_until);
        match self.stance {
            Stance::Doubting => None,
            Stance::Leaving => self.others().filter_map(rest_of).min(),
            Stance::Trusting => (0..self.current).filter_map(rest_of).min(),
        }
    }

    /// Every origin but the one in use, starting after it and wrapping around.
    fn others(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        let n = self.origins.len();
        (1..n).map(move |step| (self.current + step) % n)
    }
}

impl Stance {
    /// The further along of two stances (doubting never calms a leaving).
    fn max_with(self, other: Stance) -> Stance {
        let rank = |s: Stance| match s {
            Stance::Trusting => 0,
            Stance::Doubting => 1,
            Stance::Leaving => 2,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;
    use proptest::prelude::*;

    /// A "random" source that always says the same: 1.0 is the full rest, 0.0 half of it.
    struct Fixed(f64);
    impl Random for Fixed {
        fn next_unit(&mut self) -> f64 {
            self.0
        }
    }

    fn choice(names: &[&str]) -> OriginChoice {
        OriginChoice::new(
            names.iter().map(|n| (*n).to_owned()).collect(),
            OriginBackoff::default(),
        )
    }

    fn two() -> OriginChoice {
        choice(&["http://a/", "http://b"])
    }

    fn failed(origin: usize, now: u64) -> OriginEvent {
        OriginEvent::Failed {
            origin,
            now: Millis(now),
        }
    }

    fn unhealthy(origin: usize, now: u64) -> OriginEvent {
        OriginEvent::Unhealthy {
            origin,
            now: Millis(now),
        }
    }

    fn full() -> Fixed {
        Fixed(1.0)
    }

    #[test]
    fn no_origins_means_the_apps_own() {
        let choice = OriginChoice::new(Vec::new(), OriginBackoff::default());
        assert_eq!(choice.current(), (0, ""));
        assert!(!choice.has_alternatives());
    }

    #[test]
    fn starts_on_the_first_without_its_trailing_slash() {
        assert_eq!(two().current(), (0, "http://a"));
    }

    #[test]
    fn one_injected_503_with_a_passing_health_check_moves_nothing() {
        let mut c = two();
        assert!(!c.apply(failed(0, 0), &mut full()));
        // The failure is not a move: the origin in use is checked first.
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(0)), Some(0));
        assert!(!c.apply(OriginEvent::Healthy { origin: 0 }, &mut full()));
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(0)), None, "nothing more to check");
    }

    #[test]
    fn a_failed_health_check_of_the_origin_in_use_moves_to_the_next_that_passes_its_own() {
        let mut c = two();
        c.apply(failed(0, 0), &mut full());
        assert!(!c.apply(unhealthy(0, 10), &mut full()));
        // Not yet moved: b must answer its own health check first.
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(10)), Some(1));
        assert!(c.apply(OriginEvent::Healthy { origin: 1 }, &mut full()));
        assert_eq!(c.current(), (1, "http://b"));
    }

    #[test]
    fn a_next_origin_that_fails_its_health_check_is_passed_over_for_the_one_after() {
        let mut c = choice(&["a", "b", "c"]);
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        assert_eq!(c.check_due(Millis(0)), Some(1));
        assert!(!c.apply(unhealthy(1, 5), &mut full()));
        assert_eq!(c.current().0, 0, "never moved to the dead b");
        assert_eq!(c.check_due(Millis(5)), Some(2));
        assert!(c.apply(OriginEvent::Healthy { origin: 2 }, &mut full()));
        assert_eq!(c.current().0, 2);
    }

    #[test]
    fn when_no_other_origin_passes_requests_stay_on_the_one_in_use_until_one_does() {
        let mut c = two();
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(unhealthy(1, 0), &mut full());
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(500)), None, "b rests");
        assert_eq!(c.next_check_at(), Some(Millis(1_000)));
        assert_eq!(c.check_due(Millis(1_000)), Some(1));
        assert!(c.apply(OriginEvent::Healthy { origin: 1 }, &mut full()));
    }

    #[test]
    fn leaving_a_dead_origin_checks_a_resting_one_at_once_and_its_rest_keeps_doubling_after() {
        let mut c = two();
        // The app moved off a to b; a failed its next check too and now rests 4 s.
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(OriginEvent::Healthy { origin: 1 }, &mut full());
        c.apply(unhealthy(0, 2_000), &mut full());
        assert_eq!(c.next_check_at(), Some(Millis(6_000)));
        // b dies at 3 s: a is checked now, not when its rest ends.
        c.apply(failed(1, 3_000), &mut full());
        assert!(!c.apply(unhealthy(1, 3_000), &mut full()));
        assert_eq!(c.check_due(Millis(3_000)), Some(0));
        // Still down: a rests twice its last rest, and stays on that schedule.
        c.apply(unhealthy(0, 3_000), &mut full());
        assert_eq!(c.check_due(Millis(3_000)), None);
        assert_eq!(c.next_check_at(), Some(Millis(3_000 + 8_000)));
        assert_eq!(c.current().0, 1);
        // Up again: the app moves to it.
        assert!(c.apply(OriginEvent::Healthy { origin: 0 }, &mut full()));
        assert_eq!(c.current().0, 0);
    }

    #[test]
    fn three_failures_in_a_row_leave_even_an_origin_whose_health_check_passes() {
        let mut c = two();
        for now in 0..FAILURES_BEFORE_LEAVING {
            c.apply(failed(0, u64::from(now)), &mut full());
            // Its /health answers, but its requests keep failing.
            c.apply(OriginEvent::Healthy { origin: 0 }, &mut full());
        }
        assert_eq!(c.check_due(Millis(10)), Some(1));
        assert!(c.apply(OriginEvent::Healthy { origin: 1 }, &mut full()));
        assert_eq!(c.current().0, 1);
    }

    #[test]
    fn failures_between_answers_never_leave_a_serving_origin() {
        let mut c = two();
        for now in 0..100 {
            c.apply(failed(0, now), &mut full());
            c.apply(OriginEvent::Answered { origin: 0 }, &mut full());
            c.apply(failed(0, now), &mut full());
            c.apply(OriginEvent::Answered { origin: 0 }, &mut full());
        }
        assert_eq!(c.current().0, 0);
        assert_eq!(
            c.check_due(Millis(1_000)),
            None,
            "an answer ended the doubt"
        );
    }

    #[test]
    fn a_late_failure_of_an_origin_left_behind_moves_nothing() {
        let mut c = two();
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(OriginEvent::Healthy { origin: 1 }, &mut full());
        assert_eq!(c.current().0, 1);
        for now in 1..5 {
            assert!(!c.apply(failed(0, now), &mut full()));
        }
        assert_eq!(c.current().0, 1);
        assert_eq!(c.check_due(Millis(4)), None, "a rests");
    }

    #[test]
    fn comes_back_to_the_preferred_once_its_health_check_passes() {
        let mut c = two();
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(OriginEvent::Healthy { origin: 1 }, &mut full());
        // a rests 2 s (two failures in a row at full jitter) before it is checked again.
        assert_eq!(c.check_due(Millis(500)), None);
        assert_eq!(c.next_check_at(), Some(Millis(2_000)));
        assert_eq!(c.check_due(Millis(2_000)), Some(0));
        assert!(c.apply(OriginEvent::Healthy { origin: 0 }, &mut full()));
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(2_000)), None);
    }

    #[test]
    fn failed_health_checks_back_off_doubling_up_to_the_cap() {
        let mut c = two();
        let mut now = Millis(0);
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(OriginEvent::Healthy { origin: 1 }, &mut full());
        let mut rests = Vec::new();
        for _ in 0..7 {
            let at = c.next_check_at().unwrap();
            rests.push(at.since(now).0);
            now = at;
            assert_eq!(c.check_due(now), Some(0));
            c.apply(unhealthy(0, now.0), &mut full());
            assert_eq!(c.current().0, 1, "a failed check keeps the working origin");
        }
        assert_eq!(
            rests,
            vec![2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
    }

    #[test]
    fn the_rest_is_jittered_between_half_and_all_of_the_doubled_rest() {
        let backoff = OriginBackoff::default();
        assert_eq!(backoff.rest(1, &mut Fixed(0.0)), DurationMs(500));
        assert_eq!(backoff.rest(1, &mut Fixed(1.0)), DurationMs(1_000));
        assert_eq!(backoff.rest(9, &mut Fixed(0.0)), DurationMs(15_000));
        let mut rng = SeededRandom::new(7);
        let rests: Vec<u64> = (0..200).map(|_| backoff.rest(3, &mut rng).0).collect();
        assert!(rests.iter().all(|r| (2_000..=4_000).contains(r)));
        // Spread out: clients that lost one server do not come back to it together.
        let distinct: std::collections::BTreeSet<_> = rests.iter().collect();
        assert!(distinct.len() > 100, "{} distinct rests", distinct.len());
    }

    #[test]
    fn healthy_never_moves_away_to_a_less_preferred_origin() {
        let mut c = two();
        assert!(!c.apply(OriginEvent::Healthy { origin: 1 }, &mut full()));
        assert_eq!(c.current().0, 0);
    }

    #[test]
    fn an_answer_ends_an_origins_rest() {
        let mut c = two();
        c.apply(failed(0, 0), &mut full());
        c.apply(unhealthy(0, 0), &mut full());
        c.apply(OriginEvent::Healthy { origin: 1 }, &mut full());
        c.apply(OriginEvent::Answered { origin: 0 }, &mut full());
        assert_eq!(c.check_due(Millis(1)), Some(0));
    }

    #[test]
    fn a_single_origin_is_never_doubted_or_checked() {
        let mut c = choice(&["a"]);
        for now in 0..5 {
            c.apply(failed(0, now), &mut full());
        }
        assert_eq!(c.check_due(Millis(0)), None);
        assert_eq!(c.next_check_at(), None);
    }

    #[test]
    fn unknown_origins_are_ignored() {
        let mut c = two();
        assert!(!c.apply(failed(9, 0), &mut full()));
        assert!(!c.apply(unhealthy(9, 0), &mut full()));
        assert!(!c.apply(OriginEvent::Healthy { origin: 9 }, &mut full()));
        assert_eq!(c.current().0, 0);
        assert_eq!(c.check_due(Millis(0)), None);
    }

    fn event() -> impl Strategy<Value = OriginEvent> {
        let origin = 0usize..4;
        let now = 0u64..120_000;
        prop_oneof![
            origin
                .clone()
                .prop_map(|origin| OriginEvent::Answered { origin }),
            (origin.clone(), now.clone()).prop_map(|(origin, now)| OriginEvent::Failed {
                origin,
                now: Millis(now)
            }),
            origin
                .clone()
                .prop_map(|origin| OriginEvent::Healthy { origin }),
            (origin, now).prop_map(|(origin, now)| OriginEvent::Unhealthy {
                origin,
                now: Millis(now)
            }),
        ]
    }

    proptest! {
        /// Whatever happens, the app moves only to an origin whose health check just
        /// passed, never to one that failed its check since, and always names a listed one.
        #[test]
        fn moves_only_to_an_origin_that_just_passed_its_health_check(
            events in prop::collection::vec(event(), 0..200),
            seed in any::<u64>(),
        ) {
            let mut c = choice(&["a", "b", "c"]);
            let mut rng = SeededRandom::new(seed);
            for event in events {
                let before = c.current().0;
                let moved = c.apply(event, &mut rng);
                let after = c.current().0;
                prop_assert!(after < c.origins().len());
                prop_assert_eq!(moved, before != after);
                if moved {
                    prop_assert_eq!(event, OriginEvent::Healthy { origin: after });
                }
                if let Some(i) = c.check_due(Millis(0)) {
                    prop_assert!(i < c.origins().len());
                }
            }
        }

        /// A serving origin (every failure followed by an answer) is never left.
        #[test]
        fn a_serving_origin_is_never_left(
            failures in prop::collection::vec((1u32..FAILURES_BEFORE_LEAVING, any::<bool>()), 0..50),
            seed in any::<u64>(),
        ) {
            let mut c = choice(&["a", "b"]);
            let mut rng = SeededRandom::new(seed);
            for (n, health_answers) in failures {
                for now in 0..n {
                    c.apply(OriginEvent::Failed { origin: 0, now: Millis(u64::from(now)) }, &mut rng);
                }
                if health_answers {
                    c.apply(OriginEvent::Healthy { origin: 0 }, &mut rng);
                }
                // Other origins answer their checks all along: still no reason to move.
                c.apply(OriginEvent::Healthy { origin: 1 }, &mut rng);
                c.apply(OriginEvent::Answered { origin: 0 }, &mut rng);
                prop_assert_eq!(c.current().0, 0);
            }
        }
    }
}
