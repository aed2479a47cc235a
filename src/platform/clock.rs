//! The browser's clock and random numbers in the core's terms (`Millis`, `Random`): what
//! `env::Environment::browser` is made of. The glue reads them through its environment.

use casedesk_core::{Millis, Random};

/// `Date.now()` as the core's `Millis` (negative or absurd readings clamp to zero).
pub fn now() -> Millis {
    let ms = js_sys::Date::now();
    // A clock before 1970 or a NaN only happens on a broken device; zero keeps arithmetic sane.
    Millis(if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    })
}

/// Jitter from `Math.random()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserRandom;

impl Random for BrowserRandom {
    fn next_unit(&mut self) -> f64 {
        let x = js_sys::Math::random();
        // Math.random is specified to be in [0, 1); the clamp only keeps the contract total.
        if (0.0..1.0).contains(&x) {
            x
        } else {
            0.0
        }
    }
}
