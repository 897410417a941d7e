//! The generic cell rate algorithm (GCRA), over an abstract clock in nanoseconds.
//!
//! A key's whole state is its theoretical arrival time (TAT). With emission interval `T` and burst
//! capacity `B`, a request at `now` is admitted when `max(TAT, now) - now <= (B - 1) * T`, and then
//! moves TAT on by `T`. From idle that admits `B` requests at once and one more every `T`: with the
//! published numbers (T = 100 ms, B = 600), 1,200 in the first minute and 600 a minute after.
//!
//! Written here rather than taken from `governor` because the headers need what governor does not
//! expose exactly: the remaining burst, the time to a full quota, and the exact time to wait, all
//! from one state that can also live in a database row.

/// The limit: one request per `interval_ns` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub interval_ns: u64,
    pub burst: u64,
}

impl Quota {
    /// `per_minute` requests a minute sustained, `burst` at once.
    pub fn per_minute(per_minute: u32, burst: u32) -> Self {
        Self {
            interval_ns: 60_000_000_000 / u64::from(per_minute.max(1)),
            burst: u64::from(burst.max(1)),
        }
    }

    /// How far ahead of `now` the TAT may run: `(burst - 1) * interval`.
    fn tolerance_ns(self) -> u64 {
        (self.burst - 1) * self.interval_ns
    }
}

/// What the limiter decided, and what the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub admitted: bool,
    /// Requests that would be admitted right now, after this one.
    pub remaining: u64,
    /// Nanoseconds until the full burst is available again.
    pub reset_ns: u64,
    /// When refused: nanoseconds until a request would be admitted.
    pub retry_after_ns: u64,
}

/// Decides a request at `now` for a key whose TAT is `tat` (0 for a key never seen); returns the
/// decision and the new TAT.
pub fn check(quota: Quota, tat: u64, now: u64) -> (Decision, u64) {
    let start = tat.max(now);
    if start - now > quota.tolerance_ns() {
        return (describe(quota, tat, now, false), tat);
    }
    let new_tat = start + quota.interval_ns;
    (describe(quota, new_tat, now, true), new_tat)
}

/// The decision, given the TAT after it (where a shared store made it).
pub fn describe(quota: Quota, tat: u64, now: u64, admitted: bool) -> Decision {
    let tolerance = quota.tolerance_ns();
    let ahead = tat.saturating_sub(now);
    if !admitted {
        return Decision {
            admitted,
            remaining: 0,
            reset_ns: ahead,
            retry_after_ns: ahead.saturating_sub(tolerance).max(1),
        };
    }
    let remaining = if ahead > tolerance {
        0
    } else {
        (tolerance - ahead) / quota.interval_ns + 1
    };
    Decision {
        admitted,
        remaining,
        reset_ns: ahead,
        retry_after_ns: 0,
    }
}

/// How far ahead of `now` the TAT may run, for stores that decide themselves.
pub fn tolerance_ns(quota: Quota) -> u64 {
    quota.tolerance_ns()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn from_idle_the_published_quota_admits_1200_in_a_minute() {
        let quota = Quota::per_minute(600, 600);
        let (mut tat, mut admitted) = (0, 0);
        let start = 1_000 * SECOND;
        // One attempt every millisecond for 60 s.
        for ms in 0..60_000 {
            let (decision, next) = check(quota, tat, start + ms * 1_000_000);
            tat = next;
            admitted += u64::from(decision.admitted);
        }
        // 600 at once, then one every 100 ms: 599 more before the minute is over...
        assert_eq!(admitted, 1_199);
        let (decision, _) = check(quota, tat, start + 60 * SECOND);
        assert!(decision.admitted, "the 1,200th arrives exactly at 60 s");
    }

    #[test]
    fn the_first_request_leaves_burst_minus_one() {
        let (decision, _) = check(Quota::per_minute(600, 600), 0, 5 * SECOND);
        assert_eq!(decision.remaining, 599);
        assert_eq!(decision.reset_ns, SECOND / 10);
    }

    proptest! {
        /// For any arrival pattern: within any window of length `w`, at most `burst + w / interval`
        /// requests are admitted; a refusal's retry-after is exact (a request then is admitted,
        /// one nanosecond earlier is not); `remaining` counts exactly the requests admitted next.
        #[test]
        fn admitted_requests_never_exceed_the_gcra_bound(
            per_minute in 1u32..1200,
            burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..(2 * SECOND), 1..300),
        ) {
            let quota = Quota::per_minute(per_minute, burst);
            let mut tat = 0;
            let mut now = 10 * SECOND;
            let mut admitted_at = Vec::new();
            for gap in gaps {
                now += gap;
                let (decision, next) = check(quota, tat, now);
                if decision.admitted {
                    admitted_at.push(now);
                    // `remaining` more are admitted at this instant, and not one more.
                    let mut probe = next;
                    for _ in 0..decision.remaining {
                        let (extra, after) = check(quota, probe, now);
                        prop_assert!(extra.admitted);
                        probe = after;
                    }
                    prop_assert!(!check(quota, probe, now).0.admitted);
                } else {
                    prop_assert!(decision.retry_after_ns > 0);
                    prop_assert!(check(quota, tat, now + decision.retry_after_ns).0.admitted);
                    prop_assert!(!check(quota, tat, now + decision.retry_after_ns - 1).0.admitted);
                }
                tat = next;
            }
            for (i, first) in admitted_at.iter().enumerate() {
                for (j, last) in admitted_at.iter().enumerate().skip(i) {
                    let window = last - first;
                    let bound = quota.burst + window / quota.interval_ns;
                    prop_assert!((j - i + 1) as u64 <= bound, "{} admitted in {} ns", j - i + 1, window);
                }
            }
        }
    }
}
