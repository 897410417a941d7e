//! What a run tells: a line per operation as it goes, a summary table at the end, and the JSON and
//! JUnit XML reports.

use std::fmt::Write;

use serde_json::json;

use crate::check::Findings;

/// The summary table: per suite and check, how often it held and failed; then each failure.
pub fn summary(findings: &Findings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<12} {:<22} {:>8} {:>8}",
        "suite", "check", "passed", "failed"
    );
    for (suite, checks) in &findings.counts {
        for (check, (passed, failed)) in checks {
            let _ = writeln!(out, "{suite:<12} {check:<22} {passed:>8} {failed:>8}");
        }
    }
    for (suite, requests) in &findings.requests {
        let _ = writeln!(out, "{suite}: {requests} requests");
    }
    for (i, failure) in findings.failures.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nFailure {}: {} / {} on {}\n  expected: {}\n  seen:     {}\n  reproduce: {}\n  seed: {} (hoverbot-conformance run ... --seed {})",
            i + 1,
            failure.suite,
            failure.check,
            failure.operation,
            failure.expected,
            failure.seen,
            shortened(&failure.curl),
            failure.seed,
            failure.seed
        );
    }
    out
}

/// The longest reproduction shown whole in the summary.
const SHOWN_CHARS: usize = 2000;

/// A reproduction as the summary shows it: a command of a megabyte helps no one on a terminal
/// (or in a CI log), where its first part, the reports and the seed do.
fn shortened(curl: &str) -> String {
    if curl.is_empty() {
        return "the run again with its seed (the suite stopped before a single request it could show)"
            .to_string();
    }
    match curl.char_indices().nth(SHOWN_CHARS) {
        None => curl.to_string(),
        Some((end, _)) => format!(
            "{}… ({} more characters: the whole command is in the JSON and JUnit reports)",
            &curl[..end],
            curl[end..].chars().count()
        ),
    }
}

/// The JSON report.
pub fn json(findings: &Findings, base_url: &str, seed: u64) -> serde_json::Value {
    json!({
        "baseUrl": base_url,
        "seed": seed,
        "passed": !findings.failed_any(),
        "requests": findings.requests,
        "checks": findings.counts.iter().map(|(suite, checks)| {
            (suite.clone(), serde_json::Value::Object(checks.iter().map(|(check, (passed, failed))| {
                (check.clone(), json!({"passed": passed, "failed": failed}))
            }).collect()))
        }).collect::<serde_json::Map<_, _>>(),
        "failures": findings.failures,
    })
}

/// The JUnit XML report: a test suite per suite, a test case per check, a failure per failure.
pub fn junit(findings: &Findings) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hoverbot-conformance\">\n",
    );
    for (suite, checks) in &findings.counts {
        let failures = checks.values().filter(|(_, failed)| *failed > 0).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">",
            escape(suite),
            checks.len()
        );
        for (check, (passed, failed)) in checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\">",
                escape(suite),
                escape(check)
            );
            if *failed > 0 {
                let details: Vec<String> = findings
                    .failures
                    .iter()
                    .filter(|failure| failure.suite == suite && failure.check == check)
                    .map(|failure| {
                        format!(
                            "{}: expected {}; seen {}\n{}",
                            failure.operation, failure.expected, failure.seen, failure.curl
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<failure message=\"{failed} of {} failed\">{}</failure>",
                    passed + failed,
                    escape(&details.join("\n\n"))
                );
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Failure;

    #[test]
    fn a_long_reproduction_is_shortened_in_the_summary_only() {
        let mut findings = Findings::default();
        let curl = format!("curl -sS --data-raw {}", "é".repeat(10_000));
        findings.failed(Failure {
            suite: "auth",
            check: "missing_token",
            operation: "upsertKnowledgeSource".into(),
            expected: "401".into(),
            seen: "413".into(),
            curl: curl.clone(),
            seed: 7,
        });
        let summary = summary(&findings);
        assert!(summary.len() < 5000, "{} bytes", summary.len());
        // 20 characters before the body, so 1,980 of its 10,000 are shown.
        assert!(summary.contains("é… (8020 more characters: the whole command is in the JSON"));
        assert_eq!(json(&findings, "http://x", 7)["failures"][0]["curl"], curl);
        assert!(junit(&findings).contains(&curl));
    }
}
