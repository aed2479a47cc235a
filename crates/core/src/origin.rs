//! Which API origin the app talks to when it has several (contract.md §5): one at a time,
//! the next reachable one after a failure, and back to the preferred (first) one once a
//! health check finds it up again. Pure: the browser reports outcomes and runs the probes.

use crate::clock::{DurationMs, Millis};

/// How long an origin that failed is left alone: `base · 2^(failures-1)`, at most `cap`.
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
    fn after(&self, failures: u32) -> DurationMs {
        let doublings = failures.saturating_sub(1).min(20);
        DurationMs(
            self.base
                .0
                .saturating_mul(1u64 << doublings)
                .min(self.cap.0),
        )
    }
}

/// What the browser learnt about one origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginEvent {
    /// A request through `origin` got an answer that was not a server failure.
    Answered { origin: usize },
    /// A request through `origin` failed: no connection, a timeout, or a 5xx.
    Failed { origin: usize, now: Millis },
    /// `GET /health` on `origin` answered 200: it may be used again.
    Healthy { origin: usize },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OriginHealth {
    /// Failures in a row since its last good answer.
    failures: u32,
    /// Not chosen (nor probed) before this time.
    rest_until: Option<Millis>,
}

/// The origins in order of preference, the one in use, and each one's recent failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginChoice {
    origins: Vec<String>,
    health: Vec<OriginHealth>,
    current: usize,
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

    /// Applies what was learnt; returns whether the origin in use changed.
    pub fn apply(&mut self, event: OriginEvent) -> bool {
        let before = self.current;
        match event {
            OriginEvent::Answered { origin } => {
                if let Some(h) = self.health.get_mut(origin) {
                    *h = OriginHealth::default();
                }
            }
            OriginEvent::Healthy { origin } => {
                if let Some(h) = self.health.get_mut(origin) {
                    *h = OriginHealth::default();
                    // Back to a more preferred origin; never away from one that works to a
                    // less preferred one.
                    if origin < self.current {
                        self.current = origin;
                    }
                }
            }
            OriginEvent::Failed { origin, now } => {
                let backoff = self.backoff;
                if let Some(h) = self.health.get_mut(origin) {
                    h.failures = h.failures.saturating_add(1);
                    h.rest_until = Some(now + backoff.after(h.failures));
                }
                // A late failure of an origin already left behind moves nothing.
                if origin == self.current {
                    self.current = self.next_after(origin, now);
                }
            }
        }
        before != self.current
    }

    /// The next origin after `from` (in a circle) that is not resting; when all are, the one
    /// whose rest ends first (requests must go somewhere; the caller's retry backs off).
    fn next_after(&self, from: usize, now: Millis) -> usize {
        let n = self.origins.len();
        let candidates = (1..=n).map(|step| (from + step) % n);
        let resting = |i: usize| {
            self.health
                .get(i)
                .and_then(|h| h.rest_until)
                .is_some_and(|until| until > now)
        };
        if let Some(free) = candidates.clone().find(|&i| !resting(i)) {
            return free;
        }
        candidates
            .min_by_key(|&i| self.health.get(i).and_then(|h| h.rest_until))
            .unwrap_or(from)
    }

    /// The more preferred origin to health-check now, if any: the first one before the
    /// current whose rest is over.
    pub fn probe_due(&self, now: Millis) -> Option<usize> {
        (0..self.current).find(|&i| {
            self.health
                .get(i)
                .is_none_or(|h| h.rest_until.is_none_or(|until| until <= now))
        })
    }

    /// When [`Self::probe_due`] next has something to say, if it has not now: the earliest
    /// end of rest among the origins preferred over the current one.
    pub fn next_probe_at(&self) -> Option<Millis> {
        (0..self.current)
            .filter_map(|i| self.health.get(i).and_then(|h| h.rest_until))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> OriginChoice {
        OriginChoice::new(
            vec!["http://a/".to_owned(), "http://b".to_owned()],
            OriginBackoff::default(),
        )
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
    fn a_failure_moves_to_the_next_and_answers_move_nothing() {
        let mut c = two();
        assert!(!c.apply(OriginEvent::Answered { origin: 0 }));
        assert!(c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(0)
        }));
        assert_eq!(c.current(), (1, "http://b"));
        // A late failure of the origin left behind does not move us again.
        assert!(!c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(10)
        }));
        assert_eq!(c.current().0, 1);
    }

    #[test]
    fn skips_resting_origins_and_wraps_around() {
        let mut c = OriginChoice::new(
            vec!["a".into(), "b".into(), "c".into()],
            OriginBackoff::default(),
        );
        c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(0),
        });
        assert_eq!(c.current().0, 1);
        // b fails while a rests: c is next.
        c.apply(OriginEvent::Failed {
            origin: 1,
            now: Millis(100),
        });
        assert_eq!(c.current().0, 2);
        // c fails too, after a's rest (1 s) is over: a again, not the resting b.
        c.apply(OriginEvent::Failed {
            origin: 2,
            now: Millis(1_500),
        });
        assert_eq!(c.current().0, 0);
    }

    #[test]
    fn all_resting_picks_the_one_whose_rest_ends_first() {
        let mut c = two();
        c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(0),
        });
        c.apply(OriginEvent::Failed {
            origin: 1,
            now: Millis(100),
        });
        // a rests until 1,000, b until 1,100.
        assert_eq!(c.current().0, 0);
    }

    #[test]
    fn comes_back_to_the_preferred_once_its_health_check_passes() {
        let mut c = two();
        c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(0),
        });
        assert_eq!(c.probe_due(Millis(500)), None);
        assert_eq!(c.next_probe_at(), Some(Millis(1_000)));
        assert_eq!(c.probe_due(Millis(1_000)), Some(0));
        assert!(c.apply(OriginEvent::Healthy { origin: 0 }));
        assert_eq!(c.current().0, 0);
        assert_eq!(c.probe_due(Millis(1_000)), None);
    }

    #[test]
    fn failed_health_checks_back_off_doubling_up_to_the_cap() {
        let mut c = two();
        let mut now = Millis(0);
        c.apply(OriginEvent::Failed { origin: 0, now });
        let mut rests = Vec::new();
        for _ in 0..7 {
            let at = c.next_probe_at().unwrap();
            rests.push(at.since(now).0);
            now = at;
            assert_eq!(c.probe_due(now), Some(0));
            c.apply(OriginEvent::Failed { origin: 0, now });
            assert_eq!(c.current().0, 1, "a failed probe keeps the working origin");
        }
        assert_eq!(
            rests,
            vec![1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
        );
    }

    #[test]
    fn healthy_never_moves_away_to_a_less_preferred_origin() {
        let mut c = two();
        assert!(!c.apply(OriginEvent::Healthy { origin: 1 }));
        assert_eq!(c.current().0, 0);
    }

    #[test]
    fn an_answer_ends_an_origins_rest() {
        let mut c = two();
        c.apply(OriginEvent::Failed {
            origin: 0,
            now: Millis(0),
        });
        c.apply(OriginEvent::Answered { origin: 0 });
        assert_eq!(c.probe_due(Millis(1)), Some(0));
    }

    #[test]
    fn unknown_origins_are_ignored() {
        let mut c = two();
        assert!(!c.apply(OriginEvent::Failed {
            origin: 9,
            now: Millis(0)
        }));
        assert!(!c.apply(OriginEvent::Healthy { origin: 9 }));
        assert_eq!(c.current().0, 0);
    }
}
