//! The webhook retry schedule: the delay of each delivery attempt after the previous one, as the
//! deployment configures it (`webhook_retry_schedule`, `0s,5s,5m,30m,2h,5h,10h,10h` by default).
//! No attempt falls later than [`WINDOW`] after the first: an attempt that would is made at the
//! window's end and is the last. Each delay gets ±[`JITTER`] when deliveries are scheduled.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How long after its first attempt an event may still be delivered.
pub const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// The share of each delay by which an attempt may come earlier or later, so that receivers coming
/// back from an outage are not hit by every retry at once.
pub const JITTER: f64 = 0.2;
/// Most attempts a schedule may list.
const MAX_ATTEMPTS: usize = 20;

pub const DEFAULT: &str = "0s,5s,5m,30m,2h,5h,10h,10h";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl RetrySchedule {
    /// The delay of each attempt after the previous one (the first: after the event).
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// When each attempt is due, counted from the event, before jitter: the delays added up, and
    /// none later than [`WINDOW`] after the first attempt; the first to reach that is the last.
    pub fn offsets(&self) -> Vec<Duration> {
        let first = self.delays[0];
        let end = first + WINDOW;
        let mut offsets = vec![first];
        let mut at = first;
        for delay in &self.delays[1..] {
            at += *delay;
            if at >= end {
                offsets.push(end);
                break;
            }
            offsets.push(at);
        }
        offsets
    }
}

impl RetrySchedule {
    /// The longest delay of the schedule: a receiver's `Retry-After` is honoured up to this.
    pub fn max_delay(&self) -> Duration {
        self.delays.iter().copied().max().unwrap_or_default()
    }

    /// When the attempt after `made` attempts is due, or `None` when the one just made was the
    /// last: the schedule has no more delays, or it was due at the `deadline`. `due` is when the
    /// attempt just made was due, `now` when it ended, `retry_after` what the receiver asked for
    /// (honoured up to [`Self::max_delay`]) and `jitter` a number in [-1, 1] that scales
    /// [`JITTER`].
    pub fn next_attempt(
        &self,
        made: usize,
        due: DateTime<Utc>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        if made >= self.delays.len() || due >= deadline {
            return None;
        }
        let mut delay = jittered(self.delays[made], jitter);
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(self.max_delay()));
        }
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        Some(
            now.checked_add_signed(delay)
                .unwrap_or(deadline)
                .min(deadline),
        )
    }
}

/// `delay` moved by `jitter` (in [-1, 1]) times [`JITTER`] of itself.
pub fn jittered(delay: Duration, jitter: f64) -> Duration {
    delay.mul_f64(1.0 + JITTER * jitter.clamp(-1.0, 1.0))
}

impl Default for RetrySchedule {
    fn default() -> Self {
        DEFAULT.parse().expect("the default schedule is valid")
    }
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook retry schedule `{schedule}`: {reason}")]
pub struct InvalidSchedule {
    schedule: String,
    reason: String,
}

impl FromStr for RetrySchedule {
    type Err = InvalidSchedule;

    fn from_str(schedule: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| InvalidSchedule {
            schedule: schedule.to_string(),
            reason,
        };
        let delays = schedule
            .split(',')
            .map(|delay| parse_delay(delay.trim()).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        if delays.len() > MAX_ATTEMPTS {
            return Err(invalid(format!("at most {MAX_ATTEMPTS} attempts")));
        }
        Ok(Self { delays })
    }
}

/// `<whole number><s|m|h>`, at most the window.
fn parse_delay(delay: &str) -> Result<Duration, String> {
    let split = delay
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{delay}` has no unit (s, m or h)"))?;
    let (number, unit) = delay.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{delay}` does not start with a whole number"))?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        _ => return Err(format!("`{delay}` has the unit `{unit}`; use s, m or h")),
    };
    match seconds.map(Duration::from_secs) {
        Some(delay) if delay <= WINDOW => Ok(delay),
        _ => Err(format!("`{delay}` is longer than 24 h")),
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.delays.iter().map(|delay| human(*delay)).collect();
        f.write_str(&parts.join(","))
    }
}

/// A delay in the schedule's own notation: the largest unit that divides it.
pub fn human(delay: Duration) -> String {
    let seconds = delay.as_secs();
    if seconds > 0 && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds > 0 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_default_makes_its_eighth_attempt_at_24_hours() {
        let schedule = RetrySchedule::default();
        let offsets: Vec<u64> = schedule.offsets().iter().map(Duration::as_secs).collect();
        assert_eq!(offsets, [0, 5, 305, 2_105, 9_305, 27_305, 63_305, 86_400]);
        assert_eq!(schedule.to_string(), DEFAULT);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["", "5", "5x", "-5s", "25h", "1s,,2s", "s"] {
            assert!(
                bad.parse::<RetrySchedule>().is_err(),
                "`{bad}` was accepted"
            );
        }
        let compressed: RetrySchedule = "0s, 1s, 2s".parse().unwrap();
        assert_eq!(compressed.to_string(), "0s,1s,2s");
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn each_failure_waits_the_next_delay_until_the_schedule_or_the_window_ends() {
        let schedule: RetrySchedule = "0s,5s,5m".parse().unwrap();
        let deadline = at(86_400);
        // After the first attempt, the second delay; after the third, nothing.
        assert_eq!(
            schedule.next_attempt(1, at(0), deadline, at(1), None, 0.0),
            Some(at(6))
        );
        assert_eq!(
            schedule.next_attempt(2, at(6), deadline, at(6), None, 0.0),
            Some(at(306))
        );
        assert_eq!(
            schedule.next_attempt(3, at(306), deadline, at(306), None, 0.0),
            None
        );
        // Jitter moves a delay by at most a fifth of it.
        assert_eq!(
            schedule.next_attempt(2, at(6), deadline, at(6), None, 1.0),
            Some(at(366))
        );
        assert_eq!(
            schedule.next_attempt(2, at(6), deadline, at(6), None, -1.0),
            Some(at(246))
        );
        // An attempt that would come after the deadline comes at it, and is the last.
        assert_eq!(
            schedule.next_attempt(2, at(6), at(100), at(6), None, 0.0),
            Some(at(100))
        );
        assert_eq!(
            schedule.next_attempt(2, at(100), at(100), at(100), None, 0.0),
            None
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_longest_delay() {
        let schedule: RetrySchedule = "0s,1s,10s".parse().unwrap();
        let deadline = at(86_400);
        let asked = |seconds| Some(Duration::from_secs(seconds));
        assert_eq!(
            schedule.next_attempt(1, at(0), deadline, at(0), asked(4), 0.0),
            Some(at(4))
        );
        assert_eq!(
            schedule.next_attempt(1, at(0), deadline, at(0), asked(3_600), 0.0),
            Some(at(10))
        );
        // A shorter request does not make an attempt earlier than the schedule.
        assert_eq!(
            schedule.next_attempt(2, at(1), deadline, at(1), asked(0), 0.0),
            Some(at(11))
        );
    }

    proptest! {
        /// Any schedule: offsets start at the first delay, never decrease, never pass the window
        /// after the first attempt, and only the last may sit at its end.
        #[test]
        fn offsets_stay_within_the_window(delays in proptest::collection::vec(0u64..=86_400, 1..=20)) {
            let text = delays.iter().map(|s| format!("{s}s")).collect::<Vec<_>>().join(",");
            let schedule: RetrySchedule = text.parse().unwrap();
            let offsets = schedule.offsets();
            let end = offsets[0] + WINDOW;
            prop_assert_eq!(offsets[0], Duration::from_secs(delays[0]));
            prop_assert!(offsets.windows(2).all(|pair| pair[0] <= pair[1]));
            prop_assert!(offsets.iter().all(|offset| *offset <= end));
            let at_end = offsets.iter().filter(|offset| **offset == end).count();
            prop_assert!(at_end <= 1);
            if at_end == 1 {
                prop_assert_eq!(*offsets.last().unwrap(), end);
            }
            prop_assert_eq!(text.parse::<RetrySchedule>().unwrap().to_string().parse::<RetrySchedule>().unwrap(), schedule);
        }
    }
}
