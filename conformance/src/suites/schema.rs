//! `schema`: every operation the suite holds a credential for, with valid inputs generated from
//! its parameters' and body's schemas. Each response must be documented for its status, have the
//! documented content type and a body valid against the documented schema, carry the documented
//! required headers, and never be a server error.

use anyhow::Result;

use super::{Check, Run, Runner, Suite};
use crate::check::Findings;
use crate::generate;
use crate::http::Received;
use crate::spec::{Access, Operation};

pub const SUITE: Suite = Suite {
    name: "schema",
    summary: "every operation with generated valid inputs: documented status, content type, body and headers",
    checks: CHECKS,
    opt_in: false,
    needs_receiver: false,
    runner: Runner::Generated { tests, cases: run },
};

const CHECKS: &[Check] = &[
    Check {
        name: "not_a_server_error",
        what: "the response is not a 5xx",
        proves: &["responses.no-server-error"],
    },
    Check {
        name: "status_documented",
        what: "the status code is one the operation documents",
        proves: &["responses.documented"],
    },
    Check {
        name: "content_type",
        what: "the body has the documented media type",
        proves: &["responses.documented"],
    },
    Check {
        name: "body_schema",
        what: "the body is valid against the documented schema",
        proves: &["responses.documented"],
    },
    Check {
        name: "required_headers",
        what: "every header the response documents as required is there",
        proves: &["responses.documented", "limits.headers"],
    },
];

/// The operations this suite tests: those that need no credential or a workspace token.
fn tests(_: &Run, operation: &Operation) -> bool {
    !matches!(operation.access, Access::Other(_))
}

fn run(run: &Run, operation: &Operation, findings: &mut Findings) -> Result<bool> {
    let body = operation
        .body
        .as_ref()
        .map(|schema| generate::valid(run.spec, schema));
    let inputs = run.inputs(operation, body);
    run.cases(
        SUITE.name,
        operation,
        inputs,
        Clone::clone,
        |_, received| check(run, operation, received),
        findings,
    )
}

/// The response checks of an exchange; the negative suite reuses them.
pub fn check(
    run: &Run,
    operation: &Operation,
    received: &Received,
) -> Vec<(&'static str, Option<(String, String)>)> {
    let mut results = Vec::new();
    let status = received.status;
    results.push((
        "not_a_server_error",
        (status >= 500).then(|| ("a status below 500".to_string(), status.to_string())),
    ));
    let Some(documented) = operation.response_for(status) else {
        let known: Vec<&str> = operation.responses.keys().map(String::as_str).collect();
        results.push((
            "status_documented",
            Some((format!("one of {}", known.join(", ")), status.to_string())),
        ));
        return results;
    };
    results.push(("status_documented", None));
    if let Some((media_type, schema)) = &documented.content {
        let seen = received.content_type().unwrap_or_default();
        if seen != media_type.to_ascii_lowercase() {
            results.push(("content_type", Some((media_type.clone(), seen))));
        } else {
            results.push(("content_type", None));
            let errors = match received.json() {
                Some(body) => run.schema_errors(schema, &body),
                None => vec!["the body is not JSON".to_string()],
            };
            results.push((
                "body_schema",
                (!errors.is_empty()).then(|| {
                    (
                        "a body valid against the documented schema".to_string(),
                        errors.join("; "),
                    )
                }),
            ));
        }
    }
    let missing: Vec<&str> = documented
        .headers
        .iter()
        .filter(|(name, required)| *required && !received.headers.contains_key(name.as_str()))
        .map(|(name, _)| name.as_str())
        .collect();
    results.push((
        "required_headers",
        (!missing.is_empty()).then(|| {
            (
                "the documented required headers".to_string(),
                format!("missing {}", missing.join(", ")),
            )
        }),
    ));
    results
}
