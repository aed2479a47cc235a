//! The drainer lease: how tabs take turns draining the queue where the browser has no Web
//! Locks (a page served over plain HTTP from a LAN address is not a secure context, and
//! `navigator.locks` is missing there).
//!
//! One record, `{holder, expires_at}`, is kept in IndexedDB. A tab reads it and writes its
//! own in one readwrite transaction (IndexedDB runs those one at a time per store, so two
//! tabs can never both win); the holder renews it well before it expires and deletes it when
//! it closes. A tab that dies without deleting it holds it only until it expires. These are
//! the rules, decided on plain data; the browser side only runs the transaction and timers.

use crate::clock::{DurationMs, Millis};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The stored lease: who drains, and until when unless renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: Uuid,
    pub expires_at: Millis,
}

/// How long a lease lasts and how often its holder renews it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTerms {
    /// A lease not renewed for this long is free for another tab.
    pub ttl: DurationMs,
    /// The holder renews this often: a few renewals fit in one `ttl`, so one late timer
    /// (a busy or background tab) does not lose the lease.
    pub renew_every: DurationMs,
}

impl Default for LeaseTerms {
    fn default() -> Self {
        Self {
            ttl: DurationMs(6_000),
            renew_every: DurationMs(1_500),
        }
    }
}

/// What a tab's attempt to take or renew the lease decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// Write this lease: the tab holds it until `expires_at`.
    Take(Lease),
    /// Another tab holds it; look again at `retry_at` (when it would expire).
    Held { by: Uuid, retry_at: Millis },
}

impl LeaseTerms {
    /// Decides, from the stored lease (`None`: nobody holds one), whether tab `me` holds the
    /// lease from `now`. A lease that is free, expired, or already `me`'s is taken (renewed).
    pub fn decide(&self, stored: Option<&Lease>, me: Uuid, now: Millis) -> LeaseDecision {
        match stored {
            Some(lease) if lease.holder != me && lease.expires_at > now => LeaseDecision::Held {
                by: lease.holder,
                retry_at: lease.expires_at,
            },
            _ => LeaseDecision::Take(Lease {
                holder: me,
                expires_at: now + self.ttl,
            }),
        }
    }

    /// Whether tab `me`, closing, may delete the stored lease: only its own.
    pub fn may_release(stored: Option<&Lease>, me: Uuid) -> bool {
        stored.is_some_and(|lease| lease.holder == me)
    }

    /// Whether a tab that last took the lease as `held` may still send at `now`. It stops a
    /// little before the stored expiry (one renewal period), so its last request leaves
    /// before another tab could take over, even with the two clocks read a little apart.
    pub fn still_valid(&self, held: &Lease, now: Millis) -> bool {
        now + self.renew_every < held.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const TERMS: LeaseTerms = LeaseTerms {
        ttl: DurationMs(6_000),
        renew_every: DurationMs(1_500),
    };

    #[test]
    fn a_free_lease_is_taken_until_now_plus_ttl() {
        assert_eq!(
            TERMS.decide(None, id(1), Millis(1_000)),
            LeaseDecision::Take(Lease {
                holder: id(1),
                expires_at: Millis(7_000)
            })
        );
    }

    #[test]
    fn a_live_lease_of_another_tab_is_left_alone_until_it_expires() {
        let lease = Lease {
            holder: id(1),
            expires_at: Millis(7_000),
        };
        assert_eq!(
            TERMS.decide(Some(&lease), id(2), Millis(6_999)),
            LeaseDecision::Held {
                by: id(1),
                retry_at: Millis(7_000)
            }
        );
    }

    #[test]
    fn an_expired_lease_is_taken_over() {
        let lease = Lease {
            holder: id(1),
            expires_at: Millis(7_000),
        };
        assert_eq!(
            TERMS.decide(Some(&lease), id(2), Millis(7_000)),
            LeaseDecision::Take(Lease {
                holder: id(2),
                expires_at: Millis(13_000)
            })
        );
    }

    #[test]
    fn the_holder_renews_its_own_lease() {
        let lease = Lease {
            holder: id(1),
            expires_at: Millis(7_000),
        };
        assert_eq!(
            TERMS.decide(Some(&lease), id(1), Millis(2_500)),
            LeaseDecision::Take(Lease {
                holder: id(1),
                expires_at: Millis(8_500)
            })
        );
    }

    #[test]
    fn only_the_holder_releases() {
        let lease = Lease {
            holder: id(1),
            expires_at: Millis(7_000),
        };
        assert!(LeaseTerms::may_release(Some(&lease), id(1)));
        assert!(!LeaseTerms::may_release(Some(&lease), id(2)));
        assert!(!LeaseTerms::may_release(None, id(1)));
    }

    #[test]
    fn a_holder_stops_sending_a_renewal_period_before_expiry() {
        let lease = Lease {
            holder: id(1),
            expires_at: Millis(7_000),
        };
        assert!(TERMS.still_valid(&lease, Millis(5_499)));
        assert!(!TERMS.still_valid(&lease, Millis(5_500)));
    }

    #[test]
    fn two_tabs_deciding_in_turn_never_both_hold() {
        // The transactions run one after the other: whatever the second reads is what the
        // first wrote.
        let first = match TERMS.decide(None, id(1), Millis(0)) {
            LeaseDecision::Take(lease) => lease,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            TERMS.decide(Some(&first), id(2), Millis(1)),
            LeaseDecision::Held { .. }
        ));
    }
}
