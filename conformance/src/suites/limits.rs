//! `limits` (opt-in: it spends a token's whole quota and takes one window of the policy, 60 s):
//! from idle, a token gets exactly what its headers advertise. The suite makes a key of its own
//! (idle by construction), reads the burst capacity `B` from its first response (`r` = `B - 1`) and
//! the quota `q` per `w` seconds from `RateLimit-Policy`, then sends requests for `w` seconds, ever
//! faster than the quota refills. A GCRA limiter with those numbers admits
//! `B + floor(elapsed / (w / q))` requests: with the published numbers, 1,200 in 60 s. The count
//! must fall within the bounds the client's own clock allows, not one more and not one fewer.
//! Then: every `429` carries a `Retry-After` after which a request is accepted (and before which,
//! when it is 2 s or more, one is still refused), another token is not limited by this one's use,
//! and the headers agree with each other on every response.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::BoxFuture;
use serde_json::json;

use super::scenario::{Call, Scenario};
use super::{Check, Context, Runner, Suite};
use crate::check::Sent;
use crate::http::Received;

pub const SUITE: Suite = Suite {
    name: "limits",
    summary: "quota and burst as advertised, honest Retry-After, per-token isolation (opt-in)",
    checks: CHECKS,
    opt_in: true,
    needs_receiver: false,
    runner: Runner::Scenario { budget, start },
};

const CHECKS: &[Check] = &[
    Check {
        name: "policy_advertised",
        what: "RateLimit-Policy states q and w, and an idle token's first RateLimit states its burst",
        proves: &["limits.headers"],
    },
    Check {
        name: "quota_from_idle",
        what: "from idle, exactly B + elapsed/(w/q) requests are admitted in one window (1,200 in 60 s at the published numbers)",
        proves: &["limits.quota"],
    },
    Check {
        name: "headers_consistent",
        what: "r falls by one per request and refills no faster than the quota; X-RateLimit-* agree with RateLimit; 429s say r=0",
        proves: &["limits.headers"],
    },
    Check {
        name: "retry_after_honest",
        what: "a request sent Retry-After seconds after a 429 is accepted; one sent a second before is not",
        proves: &["limits.retry-after"],
    },
    Check {
        name: "per_token_isolation",
        what: "another token is admitted while this one is limited",
        proves: &["limits.per-token"],
    },
    Check {
        name: "response_matches_spec",
        what: "every response the suite checks is one the spec documents",
        proves: &["responses.documented"],
    },
];

const SUITE_KEY_NAME: &str = "hoverbot-conformance limits";
/// How many times `Retry-After` is put to the test.
const RETRY_ROUNDS: usize = 3;
/// How much earlier than `Retry-After - 1 s` the "still limited" request is sent, for the time the
/// 429 took to reach the suite.
const EARLY_MARGIN: Duration = Duration::from_millis(100);
/// How much later than `Retry-After` the "accepted" request is sent, for the same reason.
const LATE_MARGIN: Duration = Duration::from_millis(50);

/// The most requests the suite sends: the burst, each refill and five probes for it during one
/// window, and the rounds of `Retry-After`.
fn most_requests(burst: u64, per_window: u64) -> u64 {
    burst + 6 * per_window + 10 * RETRY_ROUNDS as u64
}

/// What the suite spends, said before it knows the deployment's burst and quota: the formula of
/// `most_requests`, with the part that depends on neither worked out.
fn budget() -> String {
    format!(
        "spends one new key's whole quota for one window of its policy (60 s), at most burst + 6 x quota + {} requests",
        most_requests(0, 0)
    )
}

/// Starts the suite with the other workspace's key, when one is given.
fn start<'s>(
    scenario: &'s mut Scenario<'_, '_>,
    context: &'s Context<'_>,
) -> BoxFuture<'s, Result<()>> {
    Box::pin(run(scenario, context.second_api_key))
}

/// The numbers a response states.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stated {
    q: u64,
    w: u64,
    r: u64,
    t: u64,
}

fn parameter(header: &str, name: &str) -> Option<u64> {
    header
        .split(';')
        .skip(1)
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

fn stated(received: &Received) -> Option<Stated> {
    let policy = received.header("ratelimit-policy")?;
    let state = received.header("ratelimit")?;
    Some(Stated {
        q: parameter(policy, "q")?,
        w: parameter(policy, "w")?,
        r: parameter(state, "r")?,
        t: parameter(state, "t")?,
    })
}

/// One request of the window.
struct Probe {
    sent: Instant,
    received: Instant,
    response: Received,
}

async fn run(scenario: &mut Scenario<'_, '_>, second_key: Option<&str>) -> Result<()> {
    let Some(created) = scenario
        .expect(
            "policy_advertised",
            "createApiKey",
            &[],
            Some(json!({"name": SUITE_KEY_NAME, "scopes": ["conversations:read"]})),
            201,
        )
        .await?
    else {
        return Ok(());
    };
    let (Some(id), Some(key)) = (created.field("id"), created.field("secret")) else {
        scenario.fail(
            "policy_advertised",
            &created,
            "the key's id and secret".into(),
            "a body without them".into(),
        );
        return Ok(());
    };
    let main_had_room = stated(&created.received).is_some_and(|stated| stated.r > 0);
    let outcome = exercise(scenario, &key, main_had_room, second_key).await;
    scenario
        .call("revokeApiKey", &[("apiKeyId", &id)], None)
        .await?;
    outcome
}

async fn exercise(
    scenario: &mut Scenario<'_, '_>,
    key: &str,
    main_had_room: bool,
    second_key: Option<&str>,
) -> Result<()> {
    let probe = with_key(
        scenario.request("listConversations", &[], &[("limit", "1")], None)?,
        key,
    );
    let first = send(scenario, &probe).await?;
    let first_call = Call {
        operation: "listConversations".into(),
        sent: probe.clone(),
        received: first.response.clone(),
    };
    scenario.conforms(&first_call)?;
    let Some(idle) = stated(&first.response).filter(|stated| stated.q > 0 && stated.w > 0) else {
        scenario.fail(
            "policy_advertised",
            &first_call,
            "RateLimit-Policy with q and w, RateLimit with r and t".into(),
            format!(
                "RateLimit-Policy {:?}, RateLimit {:?} ({})",
                first.response.header("ratelimit-policy"),
                first.response.header("ratelimit"),
                first.response.status
            ),
        );
        return Ok(());
    };
    scenario.check("policy_advertised", &first_call, None);
    let burst = idle.r + 1;
    let interval = Duration::from_secs(idle.w).div_f64(idle.q as f64);
    let pace = (interval / 5).clamp(Duration::from_millis(2), Duration::from_secs(1));
    let window = Duration::from_secs(idle.w);
    eprintln!(
        "  limits: burst {burst}, {} per {} s: sending for {} s (at most {} requests)",
        idle.q,
        idle.w,
        idle.w,
        most_requests(burst, idle.q)
    );

    // A deployment that admits more than the whole window allows has failed already: the suite
    // stops there rather than spend its budget.
    let ceiling = burst + idle.q + 1;
    let mut probes = vec![first];
    let mut admitted_so_far = 1;
    let mut isolation_checked = false;
    while probes
        .last()
        .is_some_and(|last| last.sent - probes[0].sent < window)
        && admitted_so_far <= ceiling
    {
        let next = send(scenario, &probe).await?;
        let refused = next.response.status == 429;
        if (200..300).contains(&next.response.status) {
            admitted_so_far += 1;
        }
        probes.push(next);
        if refused {
            if !isolation_checked {
                isolation_checked = true;
                isolation(scenario, &probe, main_had_room, second_key).await?;
            }
            tokio::time::sleep(pace).await;
        }
    }

    let admitted: Vec<&Probe> = probes
        .iter()
        .filter(|probe| (200..300).contains(&probe.response.status))
        .collect();
    let others: Vec<u16> = probes
        .iter()
        .map(|probe| probe.response.status)
        .filter(|status| !(200..300).contains(status) && *status != 429)
        .collect();
    let start = &probes[0];
    let last = probes.last().expect("the window has its first probe");
    let slots = |span: Duration| (span.as_secs_f64() / interval.as_secs_f64()).floor() as u64;
    let least = burst + slots(last.sent.saturating_duration_since(start.received));
    let most = burst
        + admitted
            .last()
            .map_or(0, |probe| slots(probe.received - start.sent));
    let count = admitted.len() as u64;
    let failed = (count < least || count > most || !others.is_empty()).then(|| {
        (
            format!(
                "{least} to {most} of {} requests admitted in {:.1} s (burst {burst}, one per {:.0} ms), the rest 429",
                probes.len(),
                (last.received - start.sent).as_secs_f64(),
                interval.as_secs_f64() * 1000.0
            ),
            format!("{count} admitted, other statuses {others:?}"),
        )
    });
    scenario.record("quota_from_idle", "listConversations", &probe, failed);
    eprintln!(
        "  limits: {count} of {} requests admitted in {:.1} s (bounds {least} to {most})",
        probes.len(),
        (last.received - start.sent).as_secs_f64()
    );

    let inconsistency = consistency(&probes, idle, burst, interval);
    if let Some(refused) = probes.iter().find(|probe| probe.response.status == 429) {
        scenario.conforms(&Call {
            operation: "listConversations".into(),
            sent: probe.clone(),
            received: refused.response.clone(),
        })?;
    }
    scenario.record(
        "headers_consistent",
        "listConversations",
        &probe,
        inconsistency.map(|seen| ("rate-limit headers that agree".to_string(), seen)),
    );

    retry_after(scenario, &probe).await
}

/// `sent` with `key` as its bearer token.
fn with_key(mut sent: Sent, key: &str) -> Sent {
    for (name, value) in &mut sent.headers {
        if name == "authorization" {
            *value = format!("Bearer {key}");
        }
    }
    sent
}

async fn send(scenario: &mut Scenario<'_, '_>, sent: &Sent) -> Result<Probe> {
    let started = Instant::now();
    let response = scenario.run.target.send_once(sent).await?;
    scenario.findings.sent(scenario.suite);
    Ok(Probe {
        sent: started,
        received: Instant::now(),
        response,
    })
}

/// The first way the window's headers disagree, if any.
fn consistency(probes: &[Probe], idle: Stated, burst: u64, interval: Duration) -> Option<String> {
    let full = (interval.as_secs_f64() * burst as f64).ceil() as u64;
    let mut previous: Option<(&Probe, Stated)> = None;
    for (index, probe) in probes.iter().enumerate() {
        let response = &probe.response;
        let Some(now) = stated(response) else {
            return Some(format!("request {index}: no RateLimit or RateLimit-Policy"));
        };
        let number = |name: &str| response.header(name).and_then(|value| value.parse().ok());
        if (now.q, now.w) != (idle.q, idle.w) {
            return Some(format!(
                "request {index}: the policy changed to q={} w={}",
                now.q, now.w
            ));
        }
        if number("x-ratelimit-limit") != Some(now.q)
            || number("x-ratelimit-remaining") != Some(now.r)
            || number("x-ratelimit-reset") != Some(now.t)
        {
            return Some(format!(
                "request {index}: X-RateLimit-Limit/Remaining/Reset {:?}/{:?}/{:?} against q={} r={} t={}",
                response.header("x-ratelimit-limit"),
                response.header("x-ratelimit-remaining"),
                response.header("x-ratelimit-reset"),
                now.q,
                now.r,
                now.t
            ));
        }
        if now.t > full + 1 {
            return Some(format!(
                "request {index}: t={} s, but the full burst refills in {full} s",
                now.t
            ));
        }
        if response.status == 429 {
            let wait = response.retry_after();
            if now.r != 0 || wait.is_none_or(|wait| wait.is_zero()) {
                return Some(format!(
                    "request {index}: a 429 with r={} and Retry-After {:?}",
                    now.r,
                    response.header("retry-after")
                ));
            }
        } else if let Some((before, was)) = previous {
            // Each admitted request takes one; the quota gives back one per interval at most.
            let gap = probe.received.saturating_duration_since(before.sent);
            let refilled = (gap.as_secs_f64() / interval.as_secs_f64()).floor() as u64 + 1;
            if now.r + 1 < was.r || now.r > was.r + refilled {
                return Some(format!(
                    "request {index}: r went from {} to {} in {} ms",
                    was.r,
                    now.r,
                    gap.as_millis()
                ));
            }
        }
        if (200..300).contains(&response.status) {
            previous = Some((probe, now));
        } else {
            previous = None;
        }
    }
    None
}

/// Another token is admitted while this one is limited: the main key (when its last response
/// left it room) and the other workspace's key.
async fn isolation(
    scenario: &mut Scenario<'_, '_>,
    limited: &Sent,
    main_had_room: bool,
    second_key: Option<&str>,
) -> Result<()> {
    let mut others = Vec::new();
    if main_had_room {
        others.push(scenario.run.target.api_key.clone());
    }
    others.extend(second_key.map(str::to_string));
    for other in others {
        let sent = with_key(limited.clone(), &other);
        let received = send(scenario, &sent).await?.response;
        let failed = (received.status == 429).then(|| {
            (
                "another token admitted while this one is limited".to_string(),
                format!("429 ({:?})", received.header("ratelimit")),
            )
        });
        scenario.record("per_token_isolation", "listConversations", &sent, failed);
    }
    Ok(())
}

/// After a 429: a second before `Retry-After` (when it is 2 s or more) still 429; at it, accepted.
async fn retry_after(scenario: &mut Scenario<'_, '_>, probe: &Sent) -> Result<()> {
    for _ in 0..RETRY_ROUNDS {
        // The quota is spent: the next request is refused, or soon is.
        let mut refused = None;
        for _ in 0..1000 {
            let next = send(scenario, probe).await?;
            if next.response.status == 429 {
                refused = Some(next);
                break;
            }
        }
        let Some(refused) = refused else {
            scenario.record(
                "retry_after_honest",
                "listConversations",
                probe,
                Some((
                    "a 429 once the quota is spent".into(),
                    "1,000 requests admitted in a row".into(),
                )),
            );
            return Ok(());
        };
        let Some(wait) = refused.response.retry_after() else {
            // The headers check reports the missing header.
            continue;
        };
        if wait >= Duration::from_secs(2) {
            let early = (wait - Duration::from_secs(1)).saturating_sub(EARLY_MARGIN);
            tokio::time::sleep_until((refused.received + early).into()).await;
            let before = send(scenario, probe).await?;
            let failed = (before.response.status != 429).then(|| {
                (
                    format!(
                        "429 {:.1} s after a Retry-After of {} s",
                        early.as_secs_f64(),
                        wait.as_secs()
                    ),
                    before.response.status.to_string(),
                )
            });
            scenario.record("retry_after_honest", "listConversations", probe, failed);
        }
        tokio::time::sleep_until((refused.received + wait + LATE_MARGIN).into()).await;
        let after = send(scenario, probe).await?;
        let failed = (after.response.status == 429).then(|| {
            (
                format!(
                    "admitted {} s after a Retry-After of {} s",
                    wait.as_secs(),
                    wait.as_secs()
                ),
                format!(
                    "429 with Retry-After {:?}",
                    after.response.header("retry-after")
                ),
            )
        });
        scenario.record("retry_after_honest", "listConversations", probe, failed);
    }
    Ok(())
}
