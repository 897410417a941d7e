//! What the scenario suites (`limits`, `webhooks`, `retries`, `stateful`) share: calls to
//! operations named by their `operationId` and built from the spec, each response checked against
//! the spec as the `schema` suite checks it, and checks recorded against the call they concern.

use anyhow::{Context, Result};
use serde_json::Value;

use super::Run;
use crate::check::{Failure, Findings, Sent};
use crate::http::{Input, Received};
use crate::spec::Operation;

/// A request and its response.
pub struct Call {
    pub operation: String,
    pub sent: Sent,
    pub received: Received,
}

impl Call {
    pub fn status(&self) -> u16 {
        self.received.status
    }

    pub fn json(&self) -> Value {
        self.received.json().unwrap_or_default()
    }

    /// A string field of the body.
    pub fn field(&self, name: &str) -> Option<String> {
        self.json()[name].as_str().map(str::to_string)
    }
}

/// One scenario suite's run: its findings, and whether every check held.
pub struct Scenario<'s, 'a> {
    pub run: &'s Run<'a>,
    pub suite: &'static str,
    operations: &'s [Operation],
    pub findings: &'s mut Findings,
    pub ok: bool,
}

impl<'s, 'a> Scenario<'s, 'a> {
    pub fn new(
        run: &'s Run<'a>,
        suite: &'static str,
        operations: &'s [Operation],
        findings: &'s mut Findings,
    ) -> Self {
        Self {
            run,
            suite,
            operations,
            findings,
            ok: true,
        }
    }

    /// Every operation of the spec.
    pub fn operations(&self) -> &'s [Operation] {
        self.operations
    }

    pub fn operation(&self, id: &str) -> Result<&'s Operation> {
        self.operations
            .iter()
            .find(|operation| operation.id == id)
            .with_context(|| format!("the spec has no operation `{id}`"))
    }

    /// The request `operation_id` makes with these path parameters, query and body.
    pub fn request(
        &self,
        operation_id: &str,
        path: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Sent> {
        let operation = self.operation(operation_id)?;
        let input = Input {
            path: path
                .iter()
                .map(|(name, value)| (name.to_string(), Value::from(*value)))
                .collect(),
            query: query
                .iter()
                .map(|(name, value)| (name.to_string(), Value::from(*value)))
                .collect(),
            body,
            ..Input::default()
        };
        Ok(self.run.target.request(operation, &input))
    }

    /// Sends `sent` for `operation_id` and checks the response against the spec.
    pub async fn send(&mut self, operation_id: &str, sent: Sent) -> Result<Call> {
        let operation = self.operation(operation_id)?;
        let received = self.run.target.send(&sent).await?;
        self.findings.sent(self.suite);
        let call = Call {
            operation: operation_id.to_string(),
            sent,
            received,
        };
        self.check_response(operation, &call);
        Ok(call)
    }

    /// Calls `operation_id` with these path parameters and body.
    pub async fn call(
        &mut self,
        operation_id: &str,
        path: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Call> {
        let sent = self.request(operation_id, path, &[], body)?;
        self.send(operation_id, sent).await
    }

    /// Calls `operation_id`, expecting `status`: on another, `check` fails (the step the scenario
    /// needed did not work) and `None` comes back.
    pub async fn expect(
        &mut self,
        check: &'static str,
        operation_id: &str,
        path: &[(&str, &str)],
        body: Option<Value>,
        status: u16,
    ) -> Result<Option<Call>> {
        let call = self.call(operation_id, path, body).await?;
        if call.status() == status {
            return Ok(Some(call));
        }
        let body = String::from_utf8_lossy(&call.received.body);
        self.fail(
            check,
            &call,
            format!("{status} from {operation_id}"),
            format!("{} {}", call.status(), truncate(&body, 300)),
        );
        Ok(None)
    }

    /// Records `check` of `call`: held when `failed` is `None`.
    pub fn check(
        &mut self,
        check: &'static str,
        call: &Call,
        failed: Option<(String, String)>,
    ) -> bool {
        self.record(check, &call.operation, &call.sent, failed)
    }

    pub fn fail(&mut self, check: &'static str, call: &Call, expected: String, seen: String) {
        self.check(check, call, Some((expected, seen)));
    }

    /// Records `check` of `sent` for `operation`.
    pub fn record(
        &mut self,
        check: &'static str,
        operation: &str,
        sent: &Sent,
        failed: Option<(String, String)>,
    ) -> bool {
        match failed {
            None => {
                self.findings.passed(self.suite, check);
                true
            }
            Some((expected, seen)) => {
                self.ok = false;
                self.findings.failed(Failure {
                    suite: self.suite,
                    check,
                    operation: operation.to_string(),
                    expected,
                    seen,
                    curl: sent.curl(),
                    seed: self.run.seed,
                });
                false
            }
        }
    }

    /// `call`'s response is one the spec documents (`response_matches_spec`).
    pub fn conforms(&mut self, call: &Call) -> Result<()> {
        let operation = self.operation(&call.operation)?;
        self.check_response(operation, call);
        Ok(())
    }

    /// Every response of a scenario is one the spec documents (`response_matches_spec`).
    fn check_response(&mut self, operation: &Operation, call: &Call) {
        let failed: Vec<String> = super::schema::check(self.run, operation, &call.received)
            .into_iter()
            .filter_map(|(check, failed)| failed.map(|(_, seen)| format!("{check}: {seen}")))
            .collect();
        let failed = (!failed.is_empty()).then(|| {
            (
                "a response the spec documents".to_string(),
                failed.join("; "),
            )
        });
        self.check("response_matches_spec", call, failed);
    }
}

/// At most `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
