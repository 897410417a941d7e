//! `auth`: every secured operation refuses what it must, as the spec's Authentication section
//! says: no token, a malformed one, an unknown one and a revoked one get `401` with a
//! `WWW-Authenticate: Bearer` challenge; a token without the operation's scope gets `403` with
//! `error="insufficient_scope"`; and with `--second-api-key` (a key of another workspace), every
//! operation that takes the id of a resource of the first workspace (of every kind it can make) is
//! `404` to the second, exactly as if it did not exist, and changes nothing.
//!
//! The keys it needs (one per scope it lacks, one it revokes) it makes through the API with the
//! main key, which therefore needs `keys:manage`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::resources::{self, Resources};
use super::{Check, Context, Run, Runner, Suite, progress, scenario};
use crate::UsageError;
use crate::check::{Failure, Findings, Sent};
use crate::http::{Input, Received};
use crate::spec::{Access, Operation, Spec};

pub const SUITE: Suite = Suite {
    name: "auth",
    summary: "no token, malformed, unknown, revoked, wrong scope: 401/403 with challenges; another workspace's resources: 404",
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
        name: "missing_token",
        what: "no Authorization header: 401 with a Bearer challenge",
        proves: &["auth.token-required"],
    },
    Check {
        name: "malformed_token",
        what: "an Authorization header that is not a bearer token: 401 with a challenge",
        proves: &["auth.token-required"],
    },
    Check {
        name: "unknown_token",
        what: "a well-formed token nobody issued: 401 with a challenge",
        proves: &["auth.token-required"],
    },
    Check {
        name: "revoked_token",
        what: "a revoked key: 401 with a challenge",
        proves: &["auth.revoked-refused"],
    },
    Check {
        name: "expired_token",
        what: "a key whose expiresAt has passed: 401 with a challenge",
        proves: &["auth.expiry"],
    },
    Check {
        name: "refused_before_body",
        what: "no token and a body that is not even JSON: 401, decided before the body is read",
        proves: &["auth.token-required"],
    },
    Check {
        name: "wrong_scope",
        what: "a key without the operation's scope, due to expire in an hour: 403 with insufficient_scope (so a key works until it expires)",
        proves: &["auth.scope-required", "auth.expiry"],
    },
    Check {
        name: "other_workspace",
        what: "another workspace's key on any operation taking one of this workspace's resource ids: 404, as if it did not exist, and the resource unchanged",
        proves: &["tenancy.isolated"],
    },
];

/// How long a revocation may take to reach every replica (their caches hold a key for 10 s).
const REVOCATION_DEADLINE: Duration = Duration::from_secs(20);

/// How long the keys the suite checks scopes with live: long enough for any run and any clock
/// skew between this machine and the deployment's, short enough that a shared workspace is not
/// left with working keys from every run.
const KEY_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The `expiresAt` of the key made already expired, as the spec allows ("a time in the past
/// makes a key that is already expired").
const EXPIRED: &str = "2000-01-01T00:00:00Z";

/// The operations this suite tests: those that take a workspace token.
fn tests(_: &Run, operation: &Operation) -> bool {
    matches!(operation.access, Access::Scope(_))
}

/// Six credentials per operation and a body sent without one, the keys it makes, and with a
/// second key a call per operation that takes a resource id, the resources made, read and deleted.
fn budget(operations: u64) -> u64 {
    operations * 9 + 60
}

/// Makes the suite's keys, checks every operation with each credential, then (with a second
/// workspace's key) that one workspace cannot see another's resources.
fn start<'s>(
    run: &'s Run<'_>,
    operations: &'s [&'s Operation],
    context: &'s Context<'_>,
    findings: &'s mut Findings,
) -> BoxFuture<'s, Result<()>> {
    Box::pin(async move {
        let keys = Keys::make(run, operations, findings).await?;
        for operation in operations {
            let ok = credentials(run, operation, &keys, findings).await?;
            progress(SUITE.name, &operation.id, ok, findings.failures.len());
        }
        match context.second_api_key {
            Some(second) => {
                let ok = isolation(run, operations, second, findings).await?;
                progress(SUITE.name, "isolation", ok, findings.failures.len());
            }
            None => eprintln!("  auth: no --second-api-key, so no isolation checks"),
        }
        Ok(())
    })
}

/// The keys the suite makes before it starts.
struct Keys {
    /// By scope: a key that has every scope but that one.
    without: Vec<(String, String)>,
    /// A key the deployment refuses since it was revoked; `None` when it did not refuse it (a
    /// failed check already), so no operation is checked with it.
    revoked: Option<String>,
    /// A key made with an `expiresAt` in the past; `None` when the deployment would not make it
    /// (a failed check already).
    expired: Option<String>,
}

impl Keys {
    /// Makes the keys through the API: one without each scope in use (each expiring in an hour),
    /// one already expired, and one it revokes (then waits, up to a deadline, until the deployment
    /// refuses it: a revocation that does not take is a failed `revoked_token`).
    async fn make(
        run: &Run<'_>,
        operations: &[&Operation],
        findings: &mut Findings,
    ) -> Result<Self> {
        let scopes = all_scopes(run);
        let expires =
            (chrono::Utc::now() + KEY_LIFETIME).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut without = Vec::new();
        for operation in operations {
            let Access::Scope(scope) = &operation.access else {
                continue;
            };
            if without.iter().any(|(known, _)| known == scope) {
                continue;
            }
            let others: Vec<&String> = scopes.iter().filter(|other| *other != scope).collect();
            let name = format!("conformance without {scope}");
            let (_, secret) = made(create_key(run, &name, &others, Some(&expires)).await?)?;
            without.push((scope.clone(), secret));
        }
        let all: Vec<&String> = scopes.iter().collect();
        let expired = match create_key(run, "conformance expired", &all, Some(EXPIRED)).await? {
            Ok((_, secret)) => Some(secret),
            Err(refused) => {
                let body =
                    json!({"name": "conformance expired", "scopes": all, "expiresAt": EXPIRED});
                let sent = request(run, "POST", "v1/api-keys", Some(body), None)?;
                findings.failed(Failure {
                    suite: SUITE.name,
                    check: "expired_token",
                    operation: "createApiKey".to_string(),
                    expected: "201: an expiresAt in the past makes a key that is already expired"
                        .to_string(),
                    seen: refused,
                    curl: sent.curl(),
                    seed: run.seed,
                });
                None
            }
        };
        let (id, secret) = made(create_key(run, "conformance revoked", &all, None).await?)?;
        let revocation = request(run, "DELETE", &format!("v1/api-keys/{id}"), None, None)?;
        let answer = run.target.send(&revocation).await?;
        findings.sent(SUITE.name);
        if answer.status != 204 {
            findings.failed(Failure {
                suite: SUITE.name,
                check: "revoked_token",
                operation: "deleteApiKey".to_string(),
                expected: "204: the key the suite made is revoked".to_string(),
                seen: answer.status.to_string(),
                curl: revocation.curl(),
                seed: run.seed,
            });
            return Ok(Self {
                without,
                revoked: None,
                expired,
            });
        }
        let probe = request(run, "GET", "v1/api-keys", None, Some(&secret))?;
        let deadline = Instant::now() + REVOCATION_DEADLINE;
        loop {
            let answer = run.target.send(&probe).await?;
            findings.sent(SUITE.name);
            if answer.status == 401 {
                break;
            }
            if Instant::now() > deadline {
                findings.failed(Failure {
                    suite: SUITE.name,
                    check: "revoked_token",
                    operation: "listApiKeys".to_string(),
                    expected: format!(
                        "401 within {} s of the key's revocation",
                        REVOCATION_DEADLINE.as_secs()
                    ),
                    seen: format!(
                        "{} after {} s: the revoked key still works",
                        answer.status,
                        REVOCATION_DEADLINE.as_secs()
                    ),
                    curl: probe.curl(),
                    seed: run.seed,
                });
                return Ok(Self {
                    without,
                    revoked: None,
                    expired,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(Self {
            without,
            revoked: Some(secret),
            expired,
        })
    }
}

/// Every scope the spec's `Scope` schema lists.
fn all_scopes(run: &Run) -> Vec<String> {
    run.spec
        .doc
        .pointer("/components/schemas/Scope/enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Makes a key with the main key: its id and secret, or what the deployment answered instead.
async fn create_key(
    run: &Run<'_>,
    name: &str,
    scopes: &[&String],
    expires_at: Option<&str>,
) -> Result<Result<(String, String), String>> {
    let mut body = json!({"name": name, "scopes": scopes});
    if let Some(at) = expires_at {
        body["expiresAt"] = json!(at);
    }
    let created = send_json(run, "POST", "v1/api-keys", Some(body), None).await?;
    let body = created.json().unwrap_or_default();
    if created.status == 403 {
        return Err(UsageError(
            "the auth suite makes keys through the API, so --api-key needs keys:manage".to_string(),
        )
        .into());
    }
    if created.status != 201 {
        return Ok(Err(format!("{} {body}", created.status)));
    }
    Ok(Ok((
        body["id"]
            .as_str()
            .context("a created key has an id")?
            .to_string(),
        body["secret"]
            .as_str()
            .context("a created key has its secret")?
            .to_string(),
    )))
}

/// A key the suite cannot do without: one the deployment would not make stops the suite's setup.
fn made(created: Result<(String, String), String>) -> Result<(String, String)> {
    created.map_err(|refused| anyhow::anyhow!("creating an API key for the auth suite: {refused}"))
}

/// A JSON request with the main key, or with `key`.
fn request(
    run: &Run<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Result<Sent> {
    let mut headers = vec![(
        "authorization".to_string(),
        format!("Bearer {}", key.unwrap_or(&run.target.api_key)),
    )];
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    Ok(Sent {
        method: method.to_string(),
        url: run.target.base_url.join(path)?.to_string(),
        headers,
        body: body.map(|body| body.to_string()),
        secret_authorization: true,
    })
}

/// Sends [`request`].
async fn send_json(
    run: &Run<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Result<Received> {
    run.target
        .send(&request(run, method, path, body, key)?)
        .await
}

/// The `WWW-Authenticate` challenge of a response, or nothing.
fn challenge(received: &Received) -> String {
    received
        .headers
        .get("www-authenticate")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// `operation` with each credential it must refuse.
async fn credentials(
    run: &Run<'_>,
    operation: &Operation,
    keys: &Keys,
    findings: &mut Findings,
) -> Result<bool> {
    let Access::Scope(scope) = &operation.access else {
        return Ok(true);
    };
    let input = run.example(operation);
    let sent = run.target.request(operation, &input);
    let without = keys
        .without
        .iter()
        .find(|(known, _)| known == scope)
        .map(|(_, key)| key.clone());
    // Each check: its credential (`None`: no Authorization header), the status it must get, and
    // a body to send instead of the example's. Without a token a request is refused whatever its
    // body: a 400 or 422 would mean the deployment read and judged the body of a stranger.
    let mut variants: Vec<(&'static str, Option<String>, u16, Option<&str>)> = vec![
        ("missing_token", None, 401, None),
        (
            "malformed_token",
            Some("Basic bm90OmEtYmVhcmVy".into()),
            401,
            None,
        ),
        (
            "unknown_token",
            Some("Bearer hb_live_conformanceUnknownTokenAAAAAAAAAAAAAAAAAAAAAAAA".into()),
            401,
            None,
        ),
    ];
    if let Some(key) = &keys.revoked {
        variants.push(("revoked_token", Some(format!("Bearer {key}")), 401, None));
    }
    if let Some(key) = &keys.expired {
        variants.push(("expired_token", Some(format!("Bearer {key}")), 401, None));
    }
    if let Some(key) = without {
        variants.push(("wrong_scope", Some(format!("Bearer {key}")), 403, None));
    }
    if sent.body.is_some() {
        variants.push(("refused_before_body", None, 401, Some("{\"not json")));
    }
    let mut ok = true;
    for (check, authorization, status, body) in variants {
        let mut attempt = sent.clone();
        attempt
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        // The made-up credentials are shown as they are; real keys are not.
        attempt.secret_authorization =
            matches!(check, "revoked_token" | "expired_token" | "wrong_scope");
        if let Some(value) = authorization {
            attempt.headers.push(("authorization".into(), value));
        }
        if let Some(body) = body {
            attempt.body = Some(body.to_string());
        }
        let received = run.target.send(&attempt).await?;
        findings.sent(SUITE.name);
        let challenge = challenge(&received);
        let expected = if status == 401 {
            "401 with WWW-Authenticate: Bearer …".to_string()
        } else {
            "403 with WWW-Authenticate: Bearer error=\"insufficient_scope\"".to_string()
        };
        let held = received.status == status
            && challenge.starts_with("Bearer")
            && (status == 401 || challenge.contains("insufficient_scope"));
        if held {
            findings.passed(SUITE.name, check);
        } else {
            ok = false;
            findings.failed(Failure {
                suite: SUITE.name,
                check,
                operation: operation.id.clone(),
                expected,
                seen: format!("{} with WWW-Authenticate `{challenge}`", received.status),
                curl: attempt.curl(),
                seed: run.seed,
            });
        }
    }
    Ok(ok)
}

/// The operations `isolation` checks: every one that takes the id of a resource of a kind the
/// suite can make (in its path or its body). The others are in the catalogue as not checked.
pub fn isolated<'o>(spec: &Spec, operations: &[&'o Operation]) -> Vec<&'o Operation> {
    let kinds = resources::kinds(spec, operations);
    let makeable = |param: &String| {
        kinds
            .iter()
            .any(|kind| &kind.param == param && !matches!(kind.made, resources::Made::Unmade))
    };
    let mut isolated: Vec<&Operation> = operations
        .iter()
        .copied()
        .filter(|op| matches!(op.access, Access::Scope(_)))
        .filter(|op| {
            let taken = resources::ids_taken(spec, op);
            !taken.is_empty() && taken.iter().all(makeable)
        })
        .collect();
    // Deletions last: one that wrongly succeeded would make the rest 404 for the wrong reason.
    isolated.sort_by_key(|op| op.method == "DELETE");
    isolated
}

/// With a second workspace's key: one resource of every kind is made with the main key, then
/// every operation that takes the id of one is `404` to the other workspace (reads, changes,
/// deletions, and creates that refer to one), and afterwards every resource is still there for
/// its own workspace. What was made is deleted at the end.
async fn isolation(
    run: &Run<'_>,
    operations: &[&Operation],
    second_key: &str,
    findings: &mut Findings,
) -> Result<bool> {
    let kinds = resources::kinds(run.spec, operations);
    let made = Resources::make(run, &kinds, 1, SUITE.name, findings).await?;
    let mut ok = true;
    for operation in isolated(run.spec, operations) {
        let taken = resources::ids_taken(run.spec, operation);
        let ids: Vec<(String, &str)> = taken
            .iter()
            .filter_map(|param| made.first(param).map(|id| (param.clone(), id)))
            .collect();
        if ids.len() < taken.len() {
            // A kind that could not be made: its `setup` failure says so.
            continue;
        }
        let mut input = run.example(operation);
        for (param, id) in &ids {
            if operation.params.iter().any(|p| &p.name == param) {
                input.path.insert(param.clone(), Value::from(*id));
            } else if let Some(Value::Object(body)) = &mut input.body {
                body.insert(param.clone(), Value::from(*id));
            }
        }
        let mut other = run.target.request(operation, &input);
        for (header, value) in &mut other.headers {
            if header == "authorization" {
                *value = format!("Bearer {second_key}");
            }
        }
        let theirs = run.target.send(&other).await?;
        findings.sent(SUITE.name);
        let named: Vec<String> = ids
            .iter()
            .map(|(param, id)| format!("{param} {id}"))
            .collect();
        ok &= record_isolation(
            run,
            operation,
            &other,
            (theirs.status != 404).then(|| {
                (
                    format!("404 to another workspace for {}", named.join(", ")),
                    format!(
                        "{} {}",
                        theirs.status,
                        String::from_utf8_lossy(&theirs.body)
                    ),
                )
            }),
            findings,
        );
    }
    // Nothing another workspace sent changed what this one sees.
    for kind in &kinds {
        let (Some(read), Some(id)) = (kind.read, made.first(&kind.param)) else {
            continue;
        };
        let input = Input {
            path: [(kind.param.clone(), Value::from(id))].into(),
            ..Input::default()
        };
        let own = run.target.request(read, &input);
        let mine = run.target.send(&own).await?;
        findings.sent(SUITE.name);
        ok &= record_isolation(
            run,
            read,
            &own,
            (mine.status != 200).then(|| {
                (
                    format!("{} {id} still 200 to its own workspace", kind.param),
                    format!("{} after another workspace's calls on it", mine.status),
                )
            }),
            findings,
        );
    }
    made.remove(run, &kinds, SUITE.name, findings).await?;
    Ok(ok)
}

/// Records one `other_workspace` check: held when `failed` is `None`.
fn record_isolation(
    run: &Run<'_>,
    operation: &Operation,
    sent: &Sent,
    failed: Option<(String, String)>,
    findings: &mut Findings,
) -> bool {
    match failed {
        None => {
            findings.passed(SUITE.name, "other_workspace");
            true
        }
        Some((expected, seen)) => {
            findings.failed(Failure {
                suite: SUITE.name,
                check: "other_workspace",
                operation: operation.id.clone(),
                expected,
                seen: scenario::truncate(&seen, 300),
                curl: sent.curl(),
                seed: run.seed,
            });
            false
        }
    }
}
