//! Time and randomness as the core sees them: injected, never read from the system, so tests
//! drive time by hand and the same code runs natively and in the browser.

use serde::{Deserialize, Serialize};
use std::ops::{Add, Sub};

/// Milliseconds since the Unix epoch (the browser's `Date.now()`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub u64);

/// A length of time in milliseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct DurationMs(pub u64);

impl DurationMs {
    pub const ZERO: DurationMs = DurationMs(0);

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs * 1_000)
    }

    pub const fn from_mins(mins: u64) -> Self {
        Self(mins * 60_000)
    }
}

impl Millis {
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> DurationMs {
        DurationMs(self.0.saturating_sub(earlier.0))
    }
}

impl Add<DurationMs> for Millis {
    type Output = Millis;
    fn add(self, rhs: DurationMs) -> Millis {
        Millis(self.0.saturating_add(rhs.0))
    }
}

impl Sub<DurationMs> for Millis {
    type Output = Millis;
    fn sub(self, rhs: DurationMs) -> Millis {
        Millis(self.0.saturating_sub(rhs.0))
    }
}

/// A source of the current time.
pub trait Clock {
    fn now(&self) -> Millis;
}

/// A source of uniform random numbers in `[0, 1)`, for jitter.
pub trait Random {
    fn next_unit(&mut self) -> f64;
}

/// A small deterministic generator (SplitMix64) for tests and for seeding jitter where the
/// platform offers nothing better.
#[derive(Clone, Debug)]
pub struct SeededRandom(u64);

impl SeededRandom {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl Random for SeededRandom {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits fill an f64 mantissa exactly, so the result is in [0, 1).
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        assert_eq!(Millis(5).since(Millis(9)), DurationMs(0));
        assert_eq!(Millis(u64::MAX) + DurationMs(1), Millis(u64::MAX));
        assert_eq!(Millis(1) - DurationMs(5), Millis(0));
    }

    #[test]
    fn seeded_random_stays_in_the_unit_interval() {
        let mut rng = SeededRandom::new(42);
        for _ in 0..10_000 {
            let x = rng.next_unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
