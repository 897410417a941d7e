//! `idempotency`: every `POST` that takes an `Idempotency-Key` keeps the promise of the spec's
//! Idempotency section. The same request with the same key is not run again: its stored response
//! comes back byte for byte with `Idempotent-Replayed: true`. The same key on another request is
//! `422 idempotency_key_reused`. The same request sent several times at once runs once: every
//! answer is that one response or `409 idempotency_in_progress`, so a create makes one resource.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::resources::{self, Made};
use super::{Check, Context, Run, Runner, Suite, fnv, is_idempotency_key, progress};
use crate::check::{Failure, Findings, Sent};
use crate::http::{Cut, Input, Received};
use crate::spec::{Access, Location, Operation, Spec};

pub const SUITE: Suite = Suite {
    name: "idempotency",
    summary: "byte-identical replays, 422 on a reused key, a request sent at once several times runs once",
    checks: CHECKS,
    opt_in: false,
    needs_receiver: false,
    runner: Runner::Operations {
        tests,
        budget,
        start,
    },
};

const CHECKS: &[Check] = &[
    Check {
        name: "replay_identical",
        what: "a retry gets the stored response byte for byte, with Idempotent-Replayed: true",
        proves: &["idempotency.replayed"],
    },
    Check {
        name: "first_not_marked",
        what: "the response of a request that ran, not a replay, has no Idempotent-Replayed header",
        proves: &["idempotency.first-unmarked"],
    },
    Check {
        name: "mismatch_refused",
        what: "the key on another request: 422 idempotency_key_reused",
        proves: &["idempotency.reuse-refused"],
    },
    Check {
        name: "concurrent_once",
        what: "the request sent five times at once runs once: one response, the rest replays or 409",
        proves: &["idempotency.once"],
    },
    Check {
        name: "dropped_connection",
        what: "a keyed create whose connection drops (mid-body, while the server works, before the response is read), retried with its key: answered at once, one resource",
        proves: &["idempotency.dropped-connection"],
    },
];

/// How many copies of a request are sent at once.
const CONCURRENT: usize = 5;
/// Statuses whose responses the spec does not promise to store: the request did not run (the
/// caller could not send it then, or it was too large to read), so it was not its outcome.
const NOT_STORED: [u16; 4] = [401, 403, 413, 429];

/// The operations this suite tests: workspace `POST`s that document the header.
fn tests(_: &Run, operation: &Operation) -> bool {
    operation.method == "POST"
        && matches!(operation.access, Access::Scope(_))
        && operation
            .params
            .iter()
            .any(|param| param.location == Location::Header && is_idempotency_key(&param.name))
}

/// Two requests and a changed one, then the concurrent copies, per operation; and the dropped
/// connections, each with its retries and a list.
fn budget(operations: u64) -> u64 {
    operations * (3 + CONCURRENT as u64) + CUTS as u64 * (2 + RETRY_TRIES as u64)
}

/// Checks each operation in turn.
fn start<'s>(
    run: &'s Run<'_>,
    operations: &'s [&'s Operation],
    _: &'s Context<'_>,
    findings: &'s mut Findings,
) -> BoxFuture<'s, Result<()>> {
    Box::pin(async move {
        for operation in operations {
            let ok = promises(run, operation, findings).await?;
            progress(SUITE.name, &operation.id, ok, findings.failures.len());
        }
        let ok = dropped(run, findings).await?;
        progress(
            SUITE.name,
            "dropped connections",
            ok,
            findings.failures.len(),
        );
        Ok(())
    })
}

/// `sent` with the idempotency key `key`.
fn keyed(sent: &Sent, key: &str) -> Sent {
    let mut sent = sent.clone();
    sent.headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("idempotency-key"));
    sent.headers
        .push(("idempotency-key".into(), key.to_string()));
    sent
}

fn replayed(received: &Received) -> bool {
    received
        .headers
        .get("idempotent-replayed")
        .and_then(|value| value.to_str().ok())
        == Some("true")
}

fn code_of(received: &Received) -> String {
    received
        .json()
        .and_then(|body| body["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The promises of the Idempotency section, kept by `operation`.
async fn promises(run: &Run<'_>, operation: &Operation, findings: &mut Findings) -> Result<bool> {
    let mut ok = true;
    let mut record =
        |check: &'static str, failed: Option<(String, String)>, sent: &Sent| match failed {
            None => findings.passed(SUITE.name, check),
            Some((expected, seen)) => {
                ok = false;
                findings.failed(Failure {
                    suite: SUITE.name,
                    check,
                    operation: operation.id.clone(),
                    expected,
                    seen,
                    curl: sent.curl(),
                    seed: run.seed,
                });
            }
        };
    // Unique to this run: a later run with the same seed must not meet these keys again.
    let key = |suffix: &str| format!("conformance-{}-{}-{suffix}", run.nonce, operation.id);

    // A retry is a replay.
    let first = keyed(
        &run.target.request(operation, &run.example(operation)),
        &key("replay"),
    );
    let original = run.target.send(&first).await?;
    let again = run.target.send(&first).await?;
    let mut requests = 2;
    // The first request ran: the spec says `Idempotent-Replayed` is absent then, not `false`.
    record(
        "first_not_marked",
        original.headers.get("idempotent-replayed").map(|value| {
            (
                "no Idempotent-Replayed header on the response of a request that ran".to_string(),
                format!(
                    "Idempotent-Replayed: {}",
                    value.to_str().unwrap_or("(not text)")
                ),
            )
        }),
        &first,
    );
    if original.status < 500 && !NOT_STORED.contains(&original.status) {
        let same = again.status == original.status
            && again.body == original.body
            && again.headers.get("content-type") == original.headers.get("content-type");
        record(
            "replay_identical",
            (!same || !replayed(&again)).then(|| {
                (
                    format!(
                        "{} again, the same {} bytes, with Idempotent-Replayed: true",
                        original.status,
                        original.body.len()
                    ),
                    format!(
                        "{} with {} bytes ({}), Idempotent-Replayed: {}",
                        again.status,
                        again.body.len(),
                        if again.body == original.body {
                            "the same"
                        } else {
                            "different"
                        },
                        replayed(&again)
                    ),
                )
            }),
            &first,
        );

        // The key on another request (when a different one can be drawn).
        let mut changed = keyed(
            &run.target.request(operation, &run.example(operation)),
            &key("replay"),
        );
        if changed.body == first.body && changed.url == first.url {
            // The same request was drawn: trailing whitespace makes the body another one.
            changed.body = first.body.as_ref().map(|body| format!("{body} "));
        }
        if changed.body != first.body || changed.url != first.url {
            let refused = run.target.send(&changed).await?;
            requests += 1;
            // A request that did not run (too large, say) says nothing of the key.
            if !NOT_STORED.contains(&refused.status) {
                record(
                    "mismatch_refused",
                    (refused.status != 422 || code_of(&refused) != "idempotency_key_reused").then(
                        || {
                            (
                                "422 idempotency_key_reused".to_string(),
                                format!("{} {}", refused.status, code_of(&refused)),
                            )
                        },
                    ),
                    &changed,
                );
            }
        }
    }

    // The same request, five times at once.
    let copy = keyed(
        &run.target.request(operation, &run.example(operation)),
        &key("concurrent"),
    );
    let answers = futures_util::future::join_all((0..CONCURRENT).map(|_| run.target.send(&copy)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    requests += CONCURRENT;
    let outcomes: Vec<&Received> = answers
        .iter()
        .filter(|answer| !(answer.status == 409 && code_of(answer) == "idempotency_in_progress"))
        .filter(|answer| !NOT_STORED.contains(&answer.status))
        .collect();
    let distinct: BTreeSet<(u16, &[u8])> = outcomes
        .iter()
        .map(|answer| (answer.status, answer.body.as_slice()))
        .collect();
    record(
        "concurrent_once",
        (distinct.len() > 1).then(|| {
            (
                "one response (and replays of it, or 409 idempotency_in_progress)".to_string(),
                format!(
                    "{} different responses: statuses {:?}",
                    distinct.len(),
                    answers
                        .iter()
                        .map(|answer| answer.status)
                        .collect::<Vec<_>>()
                ),
            )
        }),
        &copy,
    );
    for _ in 0..requests {
        findings.sent(SUITE.name);
    }
    Ok(ok)
}

/// Dropped connections: one per kind of cut.
const CUTS: usize = 3;
/// How long a retry after a dropped connection may be refused as still in progress (`409`).
const RETRY_DEADLINE: Duration = Duration::from_secs(10);
/// The most retries sent within it.
const RETRY_TRIES: u32 = 20;

/// A keyed create whose items its list filters by a property of the create's body
/// (`createConversation` and `externalUserId`): a value of the suite's own in that property finds
/// exactly what its requests made.
fn countable<'o>(
    spec: &Spec,
    operations: &[&'o Operation],
) -> Option<(&'o Operation, &'o Operation, String)> {
    resources::kinds(spec, operations)
        .into_iter()
        .find_map(|kind| {
            let (Made::Created(create), Some(list)) = (kind.made, kind.list) else {
                return None;
            };
            let keyed = create
                .params
                .iter()
                .any(|param| param.location == Location::Header && is_idempotency_key(&param.name));
            let properties = spec
                .resolve(create.body.as_ref()?)
                .get("properties")?
                .as_object()?;
            let filter = list.params.iter().find(|param| {
                param.location == Location::Query
                    && properties
                        .get(&param.name)
                        .is_some_and(|schema| spec.resolve(schema)["type"] == "string")
            })?;
            keyed.then(|| (create, list, filter.name.clone()))
        })
}

/// Drops the connection of a keyed create at each kind of point, retries it with the same key,
/// and checks that the retry is answered at once (a `201`, fresh or replayed, after at most
/// `RETRY_DEADLINE` of `409`s) and that exactly one resource was made. The cut's byte and delay
/// come from the seed.
async fn dropped(run: &Run<'_>, findings: &mut Findings) -> Result<bool> {
    let operations = run.spec.operations()?;
    let all: Vec<&Operation> = operations.iter().collect();
    let Some((create, list, filter)) = countable(run.spec, &all) else {
        eprintln!(
            "  idempotency: no keyed create whose list filters by its body, so no dropped connections"
        );
        return Ok(true);
    };
    let mut ok = true;
    for (i, name) in ["mid-body", "while-working", "before-reading"]
        .iter()
        .enumerate()
    {
        let marker = format!("conformance-{}-dropped-{name}", run.nonce);
        let mut input = run.example(create);
        if let Some(Value::Object(body)) = &mut input.body {
            body.insert(filter.clone(), Value::from(marker.as_str()));
        }
        let sent = keyed(
            &run.target.request(create, &input),
            &format!("conformance-{}-dropped-{name}", run.nonce),
        );
        let draw = fnv(&format!("{}-{name}", run.seed));
        let length = sent.body.as_ref().map_or(0, String::len);
        let cut = match i {
            0 => Cut::MidBody(1 + (draw as usize) % length.saturating_sub(1).max(1)),
            1 => Cut::AfterBody(Duration::from_millis(draw % 20)),
            _ => Cut::BeforeBody,
        };
        run.target.send_cut(&sent, cut).await?;
        findings.sent(SUITE.name);

        // The retry, waiting out `409 idempotency_in_progress` up to the deadline.
        let deadline = Instant::now() + RETRY_DEADLINE;
        let mut retry = run.target.send(&sent).await?;
        findings.sent(SUITE.name);
        let mut tries = 1;
        while retry.status == 409
            && code_of(&retry) == "idempotency_in_progress"
            && Instant::now() < deadline
            && tries < RETRY_TRIES
        {
            let wait = retry
                .retry_after()
                .unwrap_or(Duration::from_millis(250))
                .min(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
            retry = run.target.send(&sent).await?;
            findings.sent(SUITE.name);
            tries += 1;
        }
        let made = retry
            .json()
            .and_then(|body| body["id"].as_str().map(str::to_string));
        let listing = run.target.request(
            list,
            &Input {
                query: [(filter.clone(), Value::from(marker.as_str()))].into(),
                ..Input::default()
            },
        );
        let listed = run.target.send(&listing).await?;
        findings.sent(SUITE.name);
        let ids = resources::page_ids(&listed);
        let failed = if retry.status != 201 || made.is_none() {
            Some((
                format!(
                    "201 for the retry within {} s of the drop ({cut:?})",
                    RETRY_DEADLINE.as_secs()
                ),
                format!(
                    "{} {} after {tries} tries",
                    retry.status,
                    super::scenario::truncate(&String::from_utf8_lossy(&retry.body), 200)
                ),
            ))
        } else if listed.status != 200 || ids.len() != 1 || ids.first() != made.as_ref() {
            Some((
                format!(
                    "one resource, {}, listed with {filter} {marker}",
                    made.unwrap_or_default()
                ),
                format!("{} listing {ids:?}", listed.status),
            ))
        } else {
            None
        };
        match failed {
            None => findings.passed(SUITE.name, "dropped_connection"),
            Some((expected, seen)) => {
                ok = false;
                findings.failed(Failure {
                    suite: SUITE.name,
                    check: "dropped_connection",
                    operation: create.id.clone(),
                    expected,
                    seen,
                    curl: sent.curl(),
                    seed: run.seed,
                });
            }
        }
    }
    Ok(ok)
}
