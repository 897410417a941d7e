//! `negative`: request bodies that break exactly one constraint of their schema (a required field
//! missing, an unknown field, a wrong type, a string too long, a value outside its enum or range,
//! too many items). Each must be refused with a 4xx `application/problem+json`, a 422 must point
//! at the broken field, and none may be a server error.

use anyhow::Result;
use proptest::strategy::Strategy;

use super::{Check, Run, Runner, Suite};
use crate::check::Findings;
use crate::generate::{self, Broken};
use crate::http::{Input, Received};
use crate::spec::{Access, Operation};

pub const SUITE: Suite = Suite {
    name: "negative",
    summary: "request bodies that break one constraint: a 4xx problem+json pointing at it, never a 5xx",
    checks: CHECKS,
    opt_in: false,
    needs_receiver: false,
    runner: Runner::Generated { tests, cases: run },
};

const CHECKS: &[Check] = &[
    Check {
        name: "not_a_server_error",
        what: "the response is not a 5xx",
        proves: &["errors.client-mistakes-4xx"],
    },
    Check {
        name: "refused",
        what: "the request is refused with a 4xx",
        proves: &["errors.client-mistakes-4xx"],
    },
    Check {
        name: "problem_json",
        what: "the refusal is application/problem+json",
        proves: &["errors.client-mistakes-4xx"],
    },
    Check {
        name: "points_at_the_field",
        what: "a 422 names the broken field with a JSON pointer",
        proves: &["errors.client-mistakes-4xx"],
    },
];

/// The operations this suite tests: those with a JSON body it can break, and a credential.
fn tests(run: &Run, operation: &Operation) -> bool {
    !matches!(operation.access, Access::Other(_))
        && operation
            .body
            .as_ref()
            .is_some_and(|schema| generate::broken(run.spec, schema).is_some())
}

fn run(run: &Run, operation: &Operation, findings: &mut Findings) -> Result<bool> {
    let Some(broken) = operation
        .body
        .as_ref()
        .and_then(|schema| generate::broken(run.spec, schema))
    else {
        return Ok(true);
    };
    let params = run.inputs(operation, None);
    let cases = (params, broken).boxed();
    run.cases(
        SUITE.name,
        operation,
        cases,
        |(input, broken): &(Input, Broken)| Input {
            body: Some(broken.value.clone()),
            ..input.clone()
        },
        |(_, broken), received| check(broken, received),
        findings,
    )
}

fn check(broken: &Broken, received: &Received) -> Vec<(&'static str, Option<(String, String)>)> {
    let status = received.status;
    let what = format!(
        "a body breaking {} at `{}`",
        broken.constraint, broken.pointer
    );
    let mut results = vec![
        (
            "not_a_server_error",
            (status >= 500).then(|| (format!("a 4xx for {what}"), status.to_string())),
        ),
        (
            "refused",
            (!(400..500).contains(&status))
                .then(|| (format!("a 4xx for {what}"), status.to_string())),
        ),
    ];
    if !(400..500).contains(&status) {
        return results;
    }
    let content_type = received.content_type().unwrap_or_default();
    results.push((
        "problem_json",
        (content_type != "application/problem+json")
            .then(|| ("application/problem+json".to_string(), content_type)),
    ));
    if status == 422 && !broken.pointer.is_empty() {
        let pointers: Vec<String> = received
            .json()
            .and_then(|body| body.get("errors").cloned())
            .and_then(|errors| errors.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|error| {
                error
                    .get("pointer")
                    .and_then(|p| p.as_str())
                    .map(str::to_string)
            })
            .collect();
        let named = pointers.iter().any(|pointer| {
            pointer.starts_with(&broken.pointer)
                || broken.pointer.starts_with(pointer.as_str()) && !pointer.is_empty()
        });
        results.push((
            "points_at_the_field",
            (!named).then(|| {
                (
                    format!("an error at `{}` ({what})", broken.pointer),
                    format!("pointers {pointers:?}"),
                )
            }),
        ));
    }
    results
}
