//! An endpoint's circuit breaker: how its receiver has been answering, and whether its deliveries
//! are held back.
//!
//! Closed, every due delivery is attempted. After [`THRESHOLD`] failures in a row the breaker
//! opens: the endpoint's deliveries wait (their attempts keep their place in the schedule) until
//! the pause ends. Then one attempt goes out as a probe (half-open): a success closes the breaker,
//! a failure opens it again. Each pause lasts as long as the endpoint has been failing, between the
//! schedule's shortest retry delay and its longest, so that a receiver down for a moment is probed
//! again within seconds and one down for hours costs a few attempts an hour. An endpoint that has
//! failed for longer than a whole retry window (as long as the schedule retries one event), with
//! events queued since the failures began failing too, is disabled.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::schedule::RetrySchedule;

/// Failures in a row that open the breaker.
pub const THRESHOLD: i32 = 5;
/// The shortest pause, for a schedule without a retry delay.
const MIN_PAUSE: Duration = Duration::from_secs(1);

/// An endpoint's breaker, as stored with the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// Failed attempts since the last success.
    pub consecutive_failures: i32,
    /// When the first of those attempts was made.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when deliveries wait, once the breaker has opened.
    pub paused_until: Option<DateTime<Utc>>,
}

/// What the breaker lets through at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    /// Deliveries wait until `paused_until`.
    Open,
    /// One attempt at a time, to probe the receiver.
    HalfOpen,
}

impl Health {
    pub fn state(&self, now: DateTime<Utc>) -> State {
        match self.paused_until {
            Some(until) if until > now => State::Open,
            _ if self.consecutive_failures >= THRESHOLD => State::HalfOpen,
            _ => State::Closed,
        }
    }

    /// After a successful attempt: closed.
    pub fn succeeded(self) -> Self {
        Self::default()
    }

    /// After an attempt made at `attempted_at` failed, at `now`. Failures of attempts that were
    /// already under way when the breaker opened count, but do not lengthen the pause: only a
    /// failed probe does.
    pub fn failed(
        self,
        attempted_at: DateTime<Utc>,
        now: DateTime<Utc>,
        schedule: &RetrySchedule,
    ) -> Self {
        let consecutive_failures = self.consecutive_failures.saturating_add(1);
        let failing_since = self.failing_since.unwrap_or(attempted_at).min(attempted_at);
        let probed = self.paused_until.is_none_or(|until| attempted_at >= until);
        let paused_until = if consecutive_failures >= THRESHOLD && probed {
            let failing = (now - failing_since).to_std().unwrap_or_default();
            let pause = failing.clamp(shortest_pause(schedule), longest_pause(schedule));
            Some(now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::MAX))
        } else {
            self.paused_until
        };
        Self {
            consecutive_failures,
            failing_since: Some(failing_since),
            paused_until,
        }
    }

    /// Whether a failed attempt, made at `attempted_at` for an event queued at `queued_at`, shows
    /// the endpoint failing for longer than a whole retry window. Only an event queued after the
    /// failures began counts, so that the attempts of the events that were already waiting, which
    /// the schedule may spread over a whole window (and a little more, with jitter), are never
    /// enough.
    pub fn failed_for_window(
        &self,
        attempted_at: DateTime<Utc>,
        queued_at: DateTime<Utc>,
        schedule: &RetrySchedule,
    ) -> bool {
        self.failing_since.is_some_and(|since| {
            queued_at > since
                && (attempted_at - since).to_std().unwrap_or_default() > retry_window(schedule)
        })
    }
}

/// How long the schedule retries one event: from its first attempt to its last.
pub fn retry_window(schedule: &RetrySchedule) -> Duration {
    let offsets = schedule.offsets();
    offsets[offsets.len() - 1] - offsets[0]
}

fn shortest_pause(schedule: &RetrySchedule) -> Duration {
    schedule
        .delays()
        .iter()
        .skip(1)
        .copied()
        .filter(|delay| !delay.is_zero())
        .min()
        .unwrap_or(MIN_PAUSE)
        .max(MIN_PAUSE)
}

fn longest_pause(schedule: &RetrySchedule) -> Duration {
    schedule.max_delay().max(shortest_pause(schedule))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn schedule(text: &str) -> RetrySchedule {
        text.parse().unwrap()
    }

    /// Fails attempts made at each of `times` (each ends a second later), from `health`.
    fn fail_at(mut health: Health, times: &[i64], schedule: &RetrySchedule) -> Health {
        for &time in times {
            health = health.failed(at(time), at(time + 1), schedule);
        }
        health
    }

    #[test]
    fn opens_after_the_threshold_and_pauses_as_long_as_it_has_failed() {
        let schedule = schedule(super::super::schedule::DEFAULT);
        let health = fail_at(Health::default(), &[0, 10, 20, 30], &schedule);
        assert_eq!(health.state(at(31)), State::Closed);
        assert_eq!(health.consecutive_failures, 4);
        let health = fail_at(health, &[100], &schedule);
        // Failing since 0, the fifth failure ends at 101: paused for 101 s.
        assert_eq!(health.paused_until, Some(at(202)));
        assert_eq!(health.state(at(150)), State::Open);
        assert_eq!(health.state(at(202)), State::HalfOpen);
    }

    #[test]
    fn a_pause_is_at_least_the_shortest_retry_and_at_most_the_longest() {
        let schedule = schedule("0s,5s,5m,1h");
        let quick = fail_at(Health::default(), &[0, 0, 0, 0, 0], &schedule);
        assert_eq!(quick.paused_until, Some(at(1 + 5)));
        let long = fail_at(Health::default(), &[0, 0, 0, 0, 20_000], &schedule);
        assert_eq!(long.paused_until, Some(at(20_001 + 3600)));
    }

    #[test]
    fn only_a_failed_probe_lengthens_the_pause() {
        let schedule = schedule("0s,1s,1h");
        let open = fail_at(Health::default(), &[0, 1, 2, 3, 9], &schedule);
        assert_eq!(open.paused_until, Some(at(20)));
        // Attempts under way before the breaker opened fail afterwards: counted, pause unchanged.
        let stragglers = fail_at(open, &[5, 6], &schedule);
        assert_eq!(stragglers.consecutive_failures, 7);
        assert_eq!(stragglers.paused_until, Some(at(20)));
        // The probe at 20 fails: failing for 21 s, paused as long again.
        let probed = fail_at(stragglers, &[20], &schedule);
        assert_eq!(probed.paused_until, Some(at(42)));
    }

    #[test]
    fn a_success_closes_it() {
        let schedule = schedule("0s,1s");
        let open = fail_at(Health::default(), &[0, 1, 2, 3, 4], &schedule);
        assert_eq!(open.state(at(5)), State::Open);
        let closed = open.succeeded();
        assert_eq!(closed, Health::default());
        assert_eq!(closed.state(at(5)), State::Closed);
    }

    #[test]
    fn failing_for_longer_than_a_retry_window_is_told_apart() {
        let default = schedule(super::super::schedule::DEFAULT);
        assert_eq!(retry_window(&default), Duration::from_secs(24 * 3600));
        let short = schedule("0s,1s,2s,4s");
        assert_eq!(retry_window(&short), Duration::from_secs(7));
        // The first event's attempts, the last a little after the window's end: not enough.
        let health = fail_at(Health::default(), &[0, 1, 3, 7], &short);
        assert!(!health.failed_for_window(at(8), at(-1), &short));
        // An event queued after the failures began, failing after the window: disabled.
        assert!(health.failed_for_window(at(8), at(2), &short));
        assert!(!health.failed_for_window(at(7), at(2), &short));
        assert!(!Health::default().failed_for_window(at(100), at(50), &short));
    }
}
