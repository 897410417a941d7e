//! `retries` (opt-in: it waits for the deployment's retry schedule): endpoints of the suite's
//! receiver fail on purpose, each in its own way (`500`, a hang past the attempt timeout, a
//! dropped connection, `429` with `Retry-After`, `410 Gone`, the delivery controls
//! `webhook-delivery: abort-message` and `disable`, and a receiver that recovers), and one event
//! goes to all of them. Against the schedule the deployment advertises
//! (`GET /v1/webhook-settings`): every attempt keeps the event's `webhook-id` and is signed anew,
//! the spacing follows the schedule within its jitter (and a receiver's `Retry-After`), nothing
//! comes after the last attempt or later than the retry window, `410` and `disable` disable the
//! endpoint, `abort-message` ends the delivery at once, a recovered receiver gets nothing more,
//! and the delivery log tells exactly what happened.
//! Attempts due within [`OBSERVE`] are watched as they come; later ones are checked through the
//! delivery log's `nextAttemptAt`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::scenario::{Call, Scenario};
use super::{Check, Context, Runner, Suite};
use crate::receiver::{Answer, Delivery, Receiver};

pub const SUITE: Suite = Suite {
    name: "retries",
    summary: "a failing receiver sees the advertised schedule, then the delivery log (opt-in)",
    checks: CHECKS,
    opt_in: true,
    needs_receiver: true,
    runner: Runner::Scenario { budget, start },
};

const CHECKS: &[Check] = &[
    Check {
        name: "setup",
        what: "the settings read, the endpoints subscribed and the event caused through the API",
        proves: &["responses.documented"],
    },
    Check {
        name: "schedule_advertised",
        what: "the settings' offsets follow from the schedule, and none is later than the retry window (24 h at most)",
        proves: &["webhooks.schedule"],
    },
    Check {
        name: "same_webhook_id",
        what: "every attempt of an event carries its webhook-id, and a fresh valid signature",
        proves: &["webhooks.id-stable", "webhooks.signed"],
    },
    Check {
        name: "spacing",
        what: "each attempt comes after the previous one by the schedule's delay, within its jitter, or after Retry-After",
        proves: &["webhooks.schedule"],
    },
    Check {
        name: "attempts_as_scheduled",
        what: "the attempts the schedule makes within the watch, and none after its last, a 2xx or a 410",
        proves: &["webhooks.schedule"],
    },
    Check {
        name: "gone_disables",
        what: "410 Gone disables the endpoint (disabledReason gone) and ends the delivery",
        proves: &["webhooks.gone-disables"],
    },
    Check {
        name: "delivery_control",
        what: "webhook-delivery: abort-message fails the delivery at once; webhook-delivery: disable also disables the endpoint (disabledReason requested)",
        proves: &["webhooks.delivery-control"],
    },
    Check {
        name: "delivery_log",
        what: "the log lists each attempt with the receiver's status, its state, and the next attempt's time",
        proves: &["webhooks.delivery-log"],
    },
    Check {
        name: "response_matches_spec",
        what: "every response the suite gets is one the spec documents",
        proves: &["responses.documented"],
    },
];

/// How long after the event attempts are watched as they come.
pub const OBSERVE: Duration = Duration::from_secs(90);
/// How late an attempt may come beyond its jittered delay: the deployment's time to notice it is
/// due and to connect.
const LATENESS: Duration = Duration::from_secs(2);
/// Pages of an endpoint's delivery log read looking for the suite's event, 100 deliveries each.
const LOG_PAGES: usize = 20;
/// How early an attempt may come before its jittered delay, for whole-second clocks.
const EARLINESS: Duration = Duration::from_millis(250);
/// The longest the suite waits to see that no attempt comes after the last one.
const QUIET: Duration = Duration::from_secs(30);
/// How far a log's times may be from the receiver's clock.
const CLOCK_SKEW_SECS: i64 = 5;

/// The budget printed before the suite starts.
fn budget() -> String {
    format!(
        "about 50 requests; watches failing receivers for up to {} s",
        OBSERVE.as_secs() + 60
    )
}

/// Starts the suite with the run's webhook receiver (`needs_receiver` has it started).
fn start<'s>(
    scenario: &'s mut Scenario<'_, '_>,
    context: &'s Context<'_>,
) -> BoxFuture<'s, Result<()>> {
    Box::pin(async move { run(scenario, context.receiver()?).await })
}

/// A failing receiver, and how its deliveries should go.
struct Mode {
    name: &'static str,
    /// The receiver's answers in order, then `then` forever.
    answers: Vec<Answer>,
    then: Answer,
}

impl Mode {
    fn answer(&self, attempt: usize) -> &Answer {
        self.answers.get(attempt).unwrap_or(&self.then)
    }

    /// Whether the delivery ends at this answer: acknowledged, gone, or stopped by the receiver.
    fn ends_at(&self, attempt: usize) -> bool {
        matches!(
            self.answer(attempt),
            Answer::Accept | Answer::Status(410) | Answer::Control { .. }
        )
    }

    /// The check and the `disabledReason` for a mode whose receiver disables its endpoint.
    fn disables(&self) -> Option<(&'static str, &'static str)> {
        match self.then {
            Answer::Status(410) => Some(("gone_disables", "gone")),
            Answer::Control {
                value: "disable", ..
            } => Some(("delivery_control", "requested")),
            _ => None,
        }
    }
}

/// What the deployment advertises.
struct Settings {
    delays: Vec<Duration>,
    offsets: Vec<u64>,
    jitter: f64,
    window: u64,
    timeout: Duration,
}

impl Settings {
    fn max_delay(&self) -> Duration {
        self.delays.iter().copied().max().unwrap_or_default()
    }

    /// Attempts the schedule makes in all.
    fn attempts(&self) -> usize {
        self.offsets.len()
    }

    /// The bounds of the gap between attempt `k - 1`'s arrival and attempt `k`'s, when the
    /// receiver answered the first with `answer`.
    fn gap(&self, k: usize, answer: &Answer) -> (Duration, Duration) {
        let delay = self.delays[k];
        let mut least = delay.mul_f64(1.0 - self.jitter);
        let mut most = delay.mul_f64(1.0 + self.jitter);
        let answering = match answer {
            Answer::Hang(_) => self.timeout,
            _ => Duration::ZERO,
        };
        if let Answer::RetryAfter { seconds, .. } = answer {
            let asked = Duration::from_secs(*seconds).min(self.max_delay());
            least = least.max(asked);
            most = most.max(asked);
        }
        (
            (least + answering).saturating_sub(EARLINESS),
            most + answering + LATENESS,
        )
    }
}

fn parse_delay(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let number: u64 = number.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "s" => number,
        "m" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    }))
}

fn read_settings(body: &Value) -> Option<Settings> {
    let delays = body["retrySchedule"]
        .as_array()?
        .iter()
        .map(|delay| parse_delay(delay.as_str()?))
        .collect::<Option<Vec<_>>>()?;
    let offsets = body["attemptOffsetsSeconds"]
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<_>>>()?;
    // A schedule that makes more attempts than it has delays contradicts itself: nothing can be
    // planned from it (and `schedule_advertised` says so).
    (!delays.is_empty() && !offsets.is_empty() && offsets.len() <= delays.len()).then_some(())?;
    Some(Settings {
        delays,
        offsets,
        // A share of a delay: outside [0, 1) it would make a negative or unbounded delay.
        jitter: body["jitter"]
            .as_f64()
            .filter(|jitter| (0.0..1.0).contains(jitter))?,
        window: body["retryWindowSeconds"].as_u64()?,
        timeout: Duration::from_secs(body["timeoutSeconds"].as_u64()?),
    })
}

/// The offsets the schedule gives: the delays added up, the first to reach the window the last.
fn offsets_of(delays: &[Duration], window: u64) -> Vec<u64> {
    let first = delays[0].as_secs();
    let mut at = first;
    let mut offsets = vec![first];
    for delay in &delays[1..] {
        at += delay.as_secs();
        if at >= first + window {
            offsets.push(first + window);
            break;
        }
        offsets.push(at);
    }
    offsets
}

async fn run(scenario: &mut Scenario<'_, '_>, receiver: &Receiver) -> Result<()> {
    let Some(call) = scenario
        .expect("setup", "getWebhookSettings", &[], None, 200)
        .await?
    else {
        return Ok(());
    };
    let Some(settings) = read_settings(&call.json()) else {
        scenario.fail(
            "schedule_advertised",
            &call,
            "a schedule the suite can read".into(),
            call.json().to_string(),
        );
        return Ok(());
    };
    let expected = offsets_of(&settings.delays, settings.window);
    let failed = (expected != settings.offsets || settings.window > 86_400).then(|| {
        (
            format!("offsets {expected:?} and a window of at most 86400 s"),
            format!(
                "offsets {:?}, window {} s",
                settings.offsets, settings.window
            ),
        )
    });
    scenario.check("schedule_advertised", &call, failed);

    // A Retry-After that a plain delay would not explain, where the schedule lets one show.
    let retry_after = settings
        .delays
        .get(1)
        .map_or(1, |delay| {
            delay.mul_f64(1.0 + settings.jitter).as_secs() + 1
        })
        .min(settings.max_delay().as_secs().max(1));
    let hang = settings.timeout + Duration::from_secs(2);
    let recover_after = settings.attempts().saturating_sub(1).min(2);
    let modes = [
        Mode {
            name: "status-500",
            answers: Vec::new(),
            then: Answer::Status(500),
        },
        Mode {
            name: "timeout",
            answers: vec![Answer::Hang(hang)],
            then: Answer::Status(503),
        },
        Mode {
            name: "reset",
            answers: Vec::new(),
            then: Answer::Reset,
        },
        Mode {
            name: "retry-after",
            answers: vec![Answer::RetryAfter {
                status: 429,
                seconds: retry_after,
            }],
            then: Answer::Status(500),
        },
        Mode {
            name: "gone",
            answers: Vec::new(),
            then: Answer::Status(410),
        },
        Mode {
            name: "recovers",
            answers: vec![Answer::Status(500); recover_after],
            then: Answer::Accept,
        },
        // A failing status with the control header: the header, not the status, decides.
        Mode {
            name: "abort-message",
            answers: Vec::new(),
            then: Answer::Control {
                status: 500,
                value: "abort-message",
            },
        },
        Mode {
            name: "disable",
            answers: Vec::new(),
            then: Answer::Control {
                status: 500,
                value: "disable",
            },
        },
    ];

    // The suite's event names its end user; other events the workspace sends meanwhile are
    // accepted and ignored.
    let user = format!("conformance-retries-{}", scenario.run.nonce);
    let mut endpoints = Vec::new();
    for mode in &modes {
        let hook = format!("retries-{}-{}", mode.name, scenario.run.nonce);
        let url = receiver.hook_for(&hook, &user, mode.answers.clone(), mode.then.clone());
        let Some(created) = scenario
            .expect(
                "setup",
                "createWebhookEndpoint",
                &[],
                Some(json!({
                    "url": url,
                    "enabledEvents": ["conversation.created"],
                    "description": format!("hoverbot-conformance retries suite: {}", mode.name),
                })),
                201,
            )
            .await?
        else {
            break;
        };
        endpoints.push((
            hook,
            created.field("id").unwrap_or_default(),
            created.field("secret").unwrap_or_default(),
        ));
    }
    if endpoints.len() == modes.len() {
        watch(scenario, receiver, &settings, &modes, &endpoints, &user).await?;
    }
    for (_, id, _) in &endpoints {
        scenario
            .call("deleteWebhookEndpoint", &[("webhookEndpointId", id)], None)
            .await?;
    }
    Ok(())
}

/// Causes the event, then follows each mode's attempts and its log.
async fn watch(
    scenario: &mut Scenario<'_, '_>,
    receiver: &Receiver,
    settings: &Settings,
    modes: &[Mode],
    endpoints: &[(String, String, String)],
    user: &str,
) -> Result<()> {
    let Some(created) = scenario
        .expect(
            "setup",
            "createConversation",
            &[],
            Some(json!({"channel": "web", "externalUserId": user})),
            201,
        )
        .await?
    else {
        return Ok(());
    };
    let conversation = created.field("id").unwrap_or_default();
    let caused = Instant::now();
    let first_due = Duration::from_secs(settings.offsets[0]);

    // How many attempts each mode shows within the watch, and when the last of them is due.
    let plans: Vec<(usize, Duration)> = modes
        .iter()
        .map(|mode| {
            let mut latest = first_due + LATENESS;
            let mut seen = 1;
            while seen < settings.attempts() && !mode.ends_at(seen - 1) {
                let (_, most) = settings.gap(seen, mode.answer(seen - 1));
                if latest + most > OBSERVE {
                    break;
                }
                latest += most;
                seen += 1;
            }
            (seen, latest)
        })
        .collect();
    let until = plans
        .iter()
        .map(|(_, latest)| *latest)
        .max()
        .unwrap_or_default();
    eprintln!(
        "  retries: watching {} receivers for up to {} s",
        modes.len(),
        until.as_secs() + 1
    );
    let mine = |deliveries: &[Delivery]| -> Vec<Delivery> {
        deliveries
            .iter()
            .filter(|delivery| {
                delivery.json().is_some_and(|body| {
                    body["data"]["conversationId"].as_str() == Some(conversation.as_str())
                })
            })
            .cloned()
            .collect()
    };
    for ((hook, _, _), (seen, latest)) in endpoints.iter().zip(&plans) {
        receiver
            .wait_for(hook, caused + *latest, |deliveries| {
                mine(deliveries).len() >= *seen
            })
            .await;
    }
    // An attempt that should not come has had its chance: the next one the schedule would have
    // made after each receiver's last, up to a bound.
    let quiet = modes
        .iter()
        .zip(&plans)
        .filter_map(|(mode, (seen, _))| {
            let last = seen - 1;
            if mode.ends_at(last) && *seen < settings.delays.len() {
                Some(settings.gap(*seen, mode.answer(last)).1)
            } else if *seen == settings.attempts() {
                Some(settings.max_delay().mul_f64(1.0 + settings.jitter) + LATENESS)
            } else {
                None
            }
        })
        .max()
        .unwrap_or(LATENESS);
    // A receiver that hung on its last attempt is judged by the deployment only when the
    // attempt's timeout ends: until then its log rightly says the delivery is under way.
    let judged = modes
        .iter()
        .zip(&plans)
        .filter(|(mode, (seen, _))| matches!(mode.answer(seen - 1), Answer::Hang(_)))
        .map(|_| settings.timeout + LATENESS)
        .max()
        .unwrap_or_default();
    tokio::time::sleep(quiet.min(QUIET).max(judged)).await;

    for ((mode, (hook, id, secret)), (seen, _)) in modes.iter().zip(endpoints).zip(&plans) {
        let attempts = mine(&receiver.deliveries(hook));
        check_attempts(scenario, &created, settings, mode, &attempts, *seen, secret);
        // Without an attempt there is no event id to look the delivery up by.
        if !attempts.is_empty() {
            check_log(scenario, settings, mode, id, &attempts, *seen).await?;
        }
    }
    Ok(())
}

/// What the receiver saw of one mode: the number of attempts, one webhook-id, the spacing.
fn check_attempts(
    scenario: &mut Scenario<'_, '_>,
    anchor: &Call,
    settings: &Settings,
    mode: &Mode,
    attempts: &[Delivery],
    expected: usize,
    secret: &str,
) {
    let name = mode.name;
    let ended = (0..attempts.len()).find(|&index| mode.ends_at(index));
    let count_ok = match ended {
        // Nothing after the attempt that ended the delivery.
        Some(index) => attempts.len() == index + 1,
        None => attempts.len() == expected,
    };
    scenario.check(
        "attempts_as_scheduled",
        anchor,
        (!count_ok).then(|| {
            (
                format!(
                    "{name}: {} attempts",
                    ended.map_or(expected, |index| index + 1)
                ),
                format!("{} attempts", attempts.len()),
            )
        }),
    );
    if attempts.is_empty() {
        return;
    }
    let ids: Vec<&str> = attempts
        .iter()
        .map(|attempt| attempt.header("webhook-id").unwrap_or_default())
        .collect();
    let unsigned: Vec<String> = attempts
        .iter()
        .enumerate()
        .filter_map(|(index, attempt)| {
            attempt
                .verify(secret)
                .err()
                .map(|why| format!("attempt {}: {why}", index + 1))
        })
        .collect();
    let same = ids.windows(2).all(|pair| pair[0] == pair[1]);
    scenario.check(
        "same_webhook_id",
        anchor,
        (!same || !unsigned.is_empty()).then(|| {
            (
                format!("{name}: one webhook-id on every attempt, each validly signed"),
                format!("webhook-ids {ids:?}; {}", unsigned.join("; ")),
            )
        }),
    );

    let mut spacing = Vec::new();
    // Attempts beyond the schedule are `attempts_as_scheduled`'s to report.
    for (k, pair) in attempts
        .windows(2)
        .enumerate()
        .take(settings.delays.len().saturating_sub(1))
    {
        let (least, most) = settings.gap(k + 1, mode.answer(k));
        let gap = pair[1].arrived - pair[0].arrived;
        if gap < least || gap > most {
            spacing.push(format!(
                "attempt {} came {:.2} s after attempt {} ({:.2} to {:.2} s)",
                k + 2,
                gap.as_secs_f64(),
                k + 1,
                least.as_secs_f64(),
                most.as_secs_f64()
            ));
        }
    }
    scenario.check(
        "spacing",
        anchor,
        (!spacing.is_empty()).then(|| {
            (
                format!("{name}: attempts spaced by the schedule"),
                spacing.join("; "),
            )
        }),
    );
}

/// The delivery log agrees with what the receiver saw.
async fn check_log(
    scenario: &mut Scenario<'_, '_>,
    settings: &Settings,
    mode: &Mode,
    endpoint: &str,
    attempts: &[Delivery],
    watched: usize,
) -> Result<()> {
    let name = mode.name;
    let event = attempts
        .first()
        .and_then(|attempt| attempt.header("webhook-id"))
        .unwrap_or_default()
        .to_string();
    // Page by page, newest first: on a busy workspace other clients' events to every endpoint
    // come after the suite's, and before it in the log.
    let mut cursor: Option<String> = None;
    let mut delivery = None;
    let mut first = None;
    for _ in 0..LOG_PAGES {
        let mut query = vec![("limit", "100")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let sent = scenario.request(
            "listWebhookDeliveries",
            &[("webhookEndpointId", endpoint)],
            &query,
            None,
        )?;
        let page = scenario.send("listWebhookDeliveries", sent).await?;
        if page.status() != 200 {
            let seen = page.status().to_string();
            scenario.fail(
                "delivery_log",
                &page,
                "200 from listWebhookDeliveries".into(),
                seen,
            );
            return Ok(());
        }
        delivery = page.json()["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|delivery| delivery["eventId"].as_str() == Some(event.as_str()))
            .cloned();
        cursor = page.json()["nextCursor"].as_str().map(str::to_string);
        first.get_or_insert(page);
        if delivery.is_some() || cursor.is_none() {
            break;
        }
    }
    let listed = first.context("no page of the delivery log was read")?;
    let Some(delivery) = delivery else {
        scenario.fail(
            "delivery_log",
            &listed,
            format!("{name}: a delivery of event {event}"),
            "none listed".into(),
        );
        return Ok(());
    };
    let id = delivery["id"].as_str().unwrap_or_default().to_string();
    let Some(one) = scenario
        .expect(
            "delivery_log",
            "getWebhookDelivery",
            &[("webhookDeliveryId", &id)],
            None,
            200,
        )
        .await?
    else {
        return Ok(());
    };
    let log = one.json();
    let mut problems = Vec::new();
    let logged = log["attempts"].as_array().cloned().unwrap_or_default();
    let finished = attempts.len() == settings.attempts()
        || (0..attempts.len()).any(|index| mode.ends_at(index));
    // While attempts remain, one may be under way as the log is read.
    if logged.len() != attempts.len() && (finished || logged.len() + 1 != attempts.len()) {
        problems.push(format!(
            "{} attempts logged, {} received",
            logged.len(),
            attempts.len()
        ));
    }
    for (index, (entry, seen)) in logged.iter().zip(attempts).enumerate() {
        let status = entry["statusCode"].as_u64();
        let expected = match &seen.answer {
            Answer::Accept => Some(204),
            Answer::Status(status)
            | Answer::RetryAfter { status, .. }
            | Answer::Control { status, .. } => Some(u64::from(*status)),
            Answer::Hang(_) | Answer::Reset => None,
        };
        if status != expected || (expected.is_none() && entry["error"].is_null()) {
            problems.push(format!(
                "attempt {}: statusCode {} error {} for a receiver that answered {:?}",
                index + 1,
                entry["statusCode"],
                entry["error"],
                seen.answer
            ));
        }
        let at = entry["attemptedAt"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
        if at
            .is_none_or(|at| (at.timestamp() - seen.arrived_at.timestamp()).abs() > CLOCK_SKEW_SECS)
        {
            problems.push(format!(
                "attempt {}: attemptedAt {} but it arrived at {}",
                index + 1,
                entry["attemptedAt"],
                seen.arrived_at.to_rfc3339()
            ));
        }
    }
    let status = log["status"].as_str().unwrap_or_default();
    let next = log["nextAttemptAt"].as_str();
    let want = if (0..attempts.len()).any(|index| matches!(mode.answer(index), Answer::Accept)) {
        "succeeded"
    } else if finished {
        "failed"
    } else {
        "pending"
    };
    if status != want || (want != "pending") != next.is_none() {
        problems.push(format!(
            "status {status} with nextAttemptAt {next:?}; expected {want}"
        ));
    }
    if want == "pending"
        && let (Some(next), Some(last)) = (next, attempts.last())
        && attempts.len() == watched
    {
        // The next attempt the watch did not wait for is due by the schedule, within the window.
        let (least, most) = settings.gap(attempts.len(), mode.answer(attempts.len() - 1));
        let due = chrono::DateTime::parse_from_rfc3339(next)
            .map(|due| due.with_timezone(&chrono::Utc))
            .ok();
        let first = attempts[0].arrived_at;
        let window_end =
            first + chrono::Duration::seconds(settings.window as i64 + CLOCK_SKEW_SECS);
        let lo = last.arrived_at + chrono::Duration::from_std(least).unwrap_or_default()
            - chrono::Duration::seconds(CLOCK_SKEW_SECS);
        let hi = (last.arrived_at
            + chrono::Duration::from_std(most).unwrap_or_default()
            + chrono::Duration::seconds(CLOCK_SKEW_SECS))
        .min(window_end);
        if due.is_none_or(|due| due < lo || due > hi) {
            problems.push(format!(
                "nextAttemptAt {next}, expected between {} and {}",
                lo.to_rfc3339(),
                hi.to_rfc3339()
            ));
        }
    }
    if log["eventId"].as_str() != Some(event.as_str()) {
        problems.push(format!("eventId {} for webhook-id {event}", log["eventId"]));
    }
    scenario.check(
        "delivery_log",
        &one,
        (!problems.is_empty()).then(|| {
            (
                format!("{name}: the log of what happened"),
                problems.join("; "),
            )
        }),
    );

    if let Answer::Control {
        value: "abort-message",
        ..
    } = mode.then
    {
        scenario.check(
            "delivery_control",
            &one,
            (attempts.len() != 1 || status != "failed").then(|| {
                (
                    "webhook-delivery: abort-message: one attempt, the delivery failed".into(),
                    format!("{} attempts, delivery {status}", attempts.len()),
                )
            }),
        );
    }
    if let Some((check, reason)) = mode.disables() {
        let endpoint_now = scenario
            .call(
                "getWebhookEndpoint",
                &[("webhookEndpointId", endpoint)],
                None,
            )
            .await?;
        let body = endpoint_now.json();
        let disabled = body["enabled"] == json!(false) && body["disabledReason"] == json!(reason);
        scenario.check(
            check,
            &endpoint_now,
            (!disabled || status != "failed").then(|| {
                (
                    format!(
                        "the endpoint disabled with disabledReason {reason}, the delivery failed"
                    ),
                    format!(
                        "enabled {} disabledReason {}, delivery {status}",
                        body["enabled"], body["disabledReason"]
                    ),
                )
            }),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::read_settings;

    /// Settings that contradict themselves are unreadable (a failed `schedule_advertised`), never
    /// a panic of the suite: more attempts than delays, a jitter of a whole delay or more, a
    /// delay too long to count.
    #[test]
    fn settings_that_contradict_themselves_are_refused() {
        let settings = |delays: &[&str], offsets: &[u64], jitter: f64| {
            read_settings(&json!({
                "retrySchedule": delays,
                "attemptOffsetsSeconds": offsets,
                "jitter": jitter,
                "retryWindowSeconds": 86_400,
                "timeoutSeconds": 15,
            }))
        };
        assert!(settings(&["0s", "5s"], &[0, 5], 0.2).is_some());
        assert!(settings(&["0s"], &[0, 5, 10], 0.2).is_none());
        assert!(settings(&["0s", "5s"], &[0, 5], 1.5).is_none());
        assert!(settings(&["0s", "5s"], &[0, 5], -0.5).is_none());
        assert!(settings(&["0s", "99999999999999999h"], &[0, 5], 0.2).is_none());
    }
}
