//! What a suite found: each check's outcome, and for a failure what was expected, what was seen,
//! and how to see it again.

use std::collections::BTreeMap;

use serde::Serialize;

/// A request as it was sent, to be reproduced.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Whether the `Authorization` header holds a real secret, which a report must not show.
    pub secret_authorization: bool,
}

impl Sent {
    /// A `curl` command that sends it again (a real token as `$HOVERBOT_API_KEY`, not in clear).
    pub fn curl(&self) -> String {
        let mut command = format!("curl -sS -X {} {}", self.method, quote(&self.url));
        for (name, value) in &self.headers {
            let masked = self.secret_authorization && name.eq_ignore_ascii_case("authorization");
            let value = if masked {
                "Bearer $HOVERBOT_API_KEY".to_string()
            } else {
                value.clone()
            };
            let header = format!("{name}: {value}");
            // The token stays a variable for the shell to expand.
            if masked {
                command.push_str(&format!(" -H \"{header}\""));
            } else {
                command.push_str(&format!(" -H {}", quote(&header)));
            }
        }
        if let Some(body) = &self.body {
            command.push_str(&format!(" --data-raw {}", quote(body)));
        }
        command
    }
}

/// Single-quoted for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A check that did not hold.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub suite: &'static str,
    pub check: &'static str,
    pub operation: String,
    pub expected: String,
    pub seen: String,
    pub curl: String,
    pub seed: u64,
}

/// Everything a run found, in the order it was found.
#[derive(Debug, Default, Serialize)]
pub struct Findings {
    /// Per suite and check: how many times it held and failed.
    pub counts: BTreeMap<String, BTreeMap<String, (u64, u64)>>,
    pub failures: Vec<Failure>,
    /// Requests sent, per suite.
    pub requests: BTreeMap<String, u64>,
}

impl Findings {
    pub fn passed(&mut self, suite: &str, check: &str) {
        self.count(suite, check).0 += 1;
    }

    pub fn failed(&mut self, failure: Failure) {
        self.count(failure.suite, failure.check).1 += 1;
        self.failures.push(failure);
    }

    pub fn sent(&mut self, suite: &str) {
        *self.requests.entry(suite.to_string()).or_default() += 1;
    }

    fn count(&mut self, suite: &str, check: &str) -> &mut (u64, u64) {
        self.counts
            .entry(suite.to_string())
            .or_default()
            .entry(check.to_string())
            .or_default()
    }

    /// Adds what another run found.
    pub fn merge(&mut self, other: Findings) {
        for (suite, checks) in other.counts {
            for (check, (passed, failed)) in checks {
                let count = self.count(&suite, &check);
                count.0 += passed;
                count.1 += failed;
            }
        }
        self.failures.extend(other.failures);
        for (suite, sent) in other.requests {
            *self.requests.entry(suite).or_default() += sent;
        }
    }

    pub fn failed_any(&self) -> bool {
        !self.failures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_reproduces_the_request_without_the_token() {
        let sent = Sent {
            method: "POST".into(),
            url: "http://127.0.0.1:8080/v1/conversations".into(),
            headers: vec![
                ("authorization".into(), "Bearer hb_live_secret".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(r#"{"name":"it's"}"#.into()),
            secret_authorization: true,
        };
        let curl = sent.curl();
        assert!(!curl.contains("hb_live_secret"), "{curl}");
        assert_eq!(
            curl,
            r#"curl -sS -X POST 'http://127.0.0.1:8080/v1/conversations' -H "authorization: Bearer $HOVERBOT_API_KEY" -H 'content-type: application/json' --data-raw '{"name":"it'\''s"}'"#
        );
    }
}
