//! `idempotency`: every `POST` that takes an `Idempotency-Key` keeps the promise of the spec's
//! Idempotency section. The same request with the same key is not run again: its stored response
//! comes back byte for byte with `Idempotent-Replayed: true`. The same key on another request is
//! `422 idempotency_key_reused`. The same request sent several times at once runs once: every
//! answer is that one response or `409 idempotency_in_progress`, so a create makes one resource.

use std::collections::BTreeSet;

use anyhow::Result;
use futures_util::future::BoxFuture;

use super::{Check, Context, Run, Runner, Suite, is_idempotency_key, progress};
use crate::check::{Failure, Findings, Sent};
use crate::http::Received;
use crate::spec::{Access, Location, Operation};

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

/// Two requests and a changed one, then the concurrent copies, per operation.
fn budget(operations: u64) -> u64 {
    operations * (3 + CONCURRENT as u64)
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
