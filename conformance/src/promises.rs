//! The promise catalogue: every promise a deployment makes (`promises.yaml`), joined with the
//! checks that prove it (each check's `proves`) and, for a promise made for a family of the spec's
//! operations or events, which members the suites cover. What no check proves says why; what the
//! catalogue cannot account for is a gap, which `list --promises` and `cargo xtask check` report.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::http::Target;
use crate::spec::{Access, Operation, Spec};
use crate::suites::resources::{self, Made};
use crate::suites::{Check, Run, Runner, SUITES, Suite, auth, webhooks};

/// The catalogue this binary was built with.
pub const BUILTIN: &str = include_str!("../promises.yaml");

/// A promise as the catalogue writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Promise {
    id: String,
    /// The family it is made for, each member on its own.
    #[serde(rename = "for")]
    family: Option<Family>,
    source: String,
    promise: String,
    /// Why no check proves it.
    unchecked: Option<String>,
    /// Members of its family no check covers, and why.
    #[serde(default)]
    except: BTreeMap<String, String>,
}

/// What a promise made "for each" is made for.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Family {
    /// Every operation a workspace token, or nobody's, may call.
    Operation,
    /// Those that take a workspace token.
    Secured,
    /// Those that require a scope (the same operations: each names one).
    Scoped,
    /// Those with a request body.
    WithBody,
    /// Those that take a resource's id, in the path or the body.
    Resource,
    PagedList,
    /// `POST`s that take an `Idempotency-Key`.
    KeyedPost,
    /// The deletion of each kind of resource.
    Deletable,
    /// Each event type of the spec's `webhooks` section.
    Event,
}

impl Family {
    fn describe(self) -> &'static str {
        match self {
            Self::Operation => "every operation",
            Self::Secured => "every operation that takes a workspace token",
            Self::Scoped => "every operation that requires a scope",
            Self::WithBody => "every operation with a request body",
            Self::Resource => "every operation that takes a resource's id",
            Self::PagedList => "every paged list",
            Self::KeyedPost => "every POST that takes an Idempotency-Key",
            Self::Deletable => "every kind of resource that can be deleted",
            Self::Event => "every event type",
        }
    }
}

/// The catalogue, read against a spec and the suites.
pub struct Catalogue {
    promises: Vec<Promise>,
    spec: Spec,
}

/// One promise as it stands: the checks that prove it and, for a family, each member's.
struct Standing<'c> {
    promise: &'c Promise,
    /// `suite.check`.
    checks: Vec<String>,
    /// Each member of its family, with the checks that cover it.
    members: Vec<(String, Vec<String>)>,
}

impl Catalogue {
    /// The built-in catalogue against the built-in spec.
    pub fn builtin() -> Result<Self> {
        Self::parse(BUILTIN, Spec::builtin())
    }

    pub fn parse(text: &str, spec: Spec) -> Result<Self> {
        let promises =
            serde_yaml_ng::from_str(text).context("the promise catalogue does not read")?;
        Ok(Self { promises, spec })
    }

    /// Every check, as `suite.check`, with the suite and check.
    fn checks() -> Vec<(String, &'static Suite, &'static Check)> {
        SUITES
            .iter()
            .flat_map(|suite| {
                suite
                    .all_checks()
                    .map(move |check| (format!("{}.{}", suite.name, check.name), suite, check))
            })
            .collect()
    }

    fn standings(&self) -> Vec<Standing<'_>> {
        let operations = self.spec.operations().unwrap_or_default();
        let all: Vec<&Operation> = operations.iter().collect();
        let target = Target::new("http://127.0.0.1:9/", "unused").expect("a fixed URL parses");
        let run = Run::new(&self.spec, &target, 1, 0, 0);
        let kinds = resources::kinds(&self.spec, &all);
        let isolated: BTreeSet<String> = auth::isolated(&self.spec, &all)
            .iter()
            .map(|op| op.id.clone())
            .collect();
        let made = |kind: &resources::Kind| !matches!(kind.made, Made::Unmade);
        let walked: BTreeSet<String> = kinds
            .iter()
            .filter(|kind| made(kind))
            .filter_map(|kind| kind.list.map(|list| list.id.clone()))
            .collect();
        let deleted: BTreeSet<String> = kinds
            .iter()
            .filter(|kind| made(kind))
            .filter_map(|kind| kind.delete.map(|delete| delete.id.clone()))
            .collect();
        let checks = Self::checks();
        self.promises
            .iter()
            .map(|promise| {
                let proving: Vec<&(String, &Suite, &Check)> = checks
                    .iter()
                    .filter(|(_, _, check)| check.proves.contains(&promise.id.as_str()))
                    .collect();
                let members = promise.family.map_or_else(Vec::new, |family| {
                    self.members(family, &operations, &kinds)
                        .into_iter()
                        .map(|member| {
                            let operation = operations.iter().find(|op| op.id == member);
                            let covering = proving
                                .iter()
                                .filter(|(_, suite, check)| {
                                    let special = match (suite.name, check.name) {
                                        ("auth", "other_workspace") => Some(&isolated),
                                        ("stateful", "pages_complete") => Some(&walked),
                                        ("stateful", "deleted_is_gone") => Some(&deleted),
                                        _ => None,
                                    };
                                    match (family, special, operation) {
                                        (Family::Event, _, _) => {
                                            suite.name == webhooks::SUITE.name
                                                && webhooks::CAUSES.contains(&member.as_str())
                                        }
                                        (_, Some(covered), _) => covered.contains(&member),
                                        (_, None, Some(operation)) => match &suite.runner {
                                            Runner::Generated { tests, .. }
                                            | Runner::Operations { tests, .. } => {
                                                tests(&run, operation)
                                            }
                                            Runner::Scenario { .. } => false,
                                        },
                                        (_, None, None) => false,
                                    }
                                })
                                .map(|(name, _, _)| name.clone())
                                .collect();
                            (member, covering)
                        })
                        .collect()
                });
                Standing {
                    promise,
                    checks: proving.iter().map(|(name, _, _)| name.clone()).collect(),
                    members,
                }
            })
            .collect()
    }

    /// The members of `family` in the spec, in document order.
    fn members(
        &self,
        family: Family,
        operations: &[Operation],
        kinds: &[resources::Kind],
    ) -> Vec<String> {
        let secured = |op: &&Operation| matches!(op.access, Access::Scope(_));
        let ids = |ops: Vec<&Operation>| ops.iter().map(|op| op.id.clone()).collect();
        match family {
            Family::Operation => ids(operations
                .iter()
                .filter(|op| !matches!(op.access, Access::Other(_)))
                .collect()),
            Family::Secured | Family::Scoped => ids(operations.iter().filter(secured).collect()),
            Family::WithBody => ids(operations
                .iter()
                .filter(|op| !matches!(op.access, Access::Other(_)) && op.body.is_some())
                .collect()),
            Family::Resource => ids(operations
                .iter()
                .filter(secured)
                .filter(|op| !resources::ids_taken(&self.spec, op).is_empty())
                .collect()),
            Family::PagedList => ids(operations
                .iter()
                .filter(secured)
                .filter(|op| resources::is_paged_list(op))
                .collect()),
            Family::KeyedPost => ids(operations
                .iter()
                .filter(secured)
                .filter(|op| {
                    op.method == "POST"
                        && op
                            .params
                            .iter()
                            .any(|param| crate::suites::is_idempotency_key(&param.name))
                })
                .collect()),
            Family::Deletable => kinds
                .iter()
                .filter_map(|kind| kind.delete.map(|delete| delete.id.clone()))
                .collect(),
            Family::Event => self.spec.doc["webhooks"]
                .as_object()
                .map(|events| events.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// What the catalogue cannot account for, one line each; empty when it is complete.
    pub fn gaps(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        let mut ids = BTreeSet::new();
        for promise in &self.promises {
            if !ids.insert(promise.id.as_str()) {
                gaps.push(format!("`{}` is in the catalogue twice", promise.id));
            }
        }
        for (name, _, check) in Self::checks() {
            if check.proves.is_empty() {
                gaps.push(format!("check `{name}` proves no promise"));
            }
            for promise in check.proves {
                if !ids.contains(promise) {
                    gaps.push(format!(
                        "check `{name}` names the promise `{promise}`, which the catalogue does not have"
                    ));
                }
            }
        }
        for standing in self.standings() {
            let promise = standing.promise;
            let id = &promise.id;
            match (standing.checks.is_empty(), &promise.unchecked) {
                (true, None) => gaps.push(format!(
                    "`{id}`: no check proves it, and it does not say why (`unchecked`)"
                )),
                (false, Some(_)) => gaps.push(format!(
                    "`{id}` says it is unchecked, but {} prove it",
                    standing.checks.join(", ")
                )),
                _ => {}
            }
            if promise.family.is_none() && !promise.except.is_empty() {
                gaps.push(format!("`{id}` has exceptions but no family (`for`)"));
            }
            for (member, covering) in &standing.members {
                let excepted = promise.except.contains_key(member);
                if covering.is_empty() && !excepted && promise.unchecked.is_none() {
                    gaps.push(format!(
                        "`{id}`: `{member}` has no check; add one, or an `except` saying why not"
                    ));
                }
                if !covering.is_empty() && excepted {
                    gaps.push(format!(
                        "`{id}`: `{member}` is excepted, but {} cover it",
                        covering.join(", ")
                    ));
                }
            }
            for member in promise.except.keys() {
                if !standing.members.iter().any(|(known, _)| known == member) {
                    gaps.push(format!(
                        "`{id}` excepts `{member}`, which is not one of its family's"
                    ));
                }
            }
        }
        gaps
    }

    /// The catalogue as Markdown: each promise, its source, and what proves it.
    pub fn render(&self) -> String {
        let standings = self.standings();
        let checked = standings.iter().filter(|s| !s.checks.is_empty()).count();
        let mut out = String::from(
            "# Promise catalogue\n\n\
             Generated by `cargo xtask codegen` from `conformance/promises.yaml`, the spec and the \
             suites' checks; `hoverbot-conformance list --promises` prints it. Do not edit by hand.\n\n",
        );
        out.push_str(&format!(
            "{} promises: {checked} proved by checks, {} not checked (each says why).\n",
            standings.len(),
            standings.len() - checked
        ));
        for standing in &standings {
            let promise = standing.promise;
            out.push_str(&format!("\n## `{}`\n\n{}\n\n", promise.id, promise.promise));
            out.push_str(&format!("- Source: {}\n", promise.source));
            if let Some(why) = &promise.unchecked {
                out.push_str(&format!("- Not checked: {why}\n"));
            }
            if !standing.checks.is_empty() {
                out.push_str(&format!("- Checked by: {}\n", code_list(&standing.checks)));
            }
            if let Some(family) = promise.family {
                let covered: Vec<String> = standing
                    .members
                    .iter()
                    .filter(|(_, covering)| !covering.is_empty())
                    .map(|(member, _)| member.clone())
                    .collect();
                out.push_str(&format!(
                    "- For {} ({}): checked for {}\n",
                    family.describe(),
                    standing.members.len(),
                    if covered.is_empty() {
                        "none".to_string()
                    } else {
                        code_list(&covered)
                    }
                ));
                for (member, why) in &promise.except {
                    out.push_str(&format!("- Not checked for `{member}`: {why}\n"));
                }
            }
        }
        out
    }
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{BUILTIN, Catalogue};
    use crate::spec::Spec;

    /// The built-in catalogue accounts for every check, promise and member of a family.
    #[test]
    fn the_catalogue_has_no_gap() {
        let catalogue = Catalogue::builtin().unwrap();
        assert_eq!(catalogue.gaps(), Vec::<String>::new());
    }

    /// A spec that gains an operation taking a resource id, which no check covers, is a gap: the
    /// catalogue names the operation and the promise.
    #[test]
    fn a_new_operation_without_an_isolation_check_is_a_gap() {
        let mut spec = Spec::builtin();
        let mut archive = spec.doc["paths"]["/v1/conversations/{conversationId}"]["delete"].clone();
        archive["operationId"] = "archiveInstallation".into();
        archive["parameters"] = serde_json::json!([{
            "name": "installationId", "in": "path", "required": true, "schema": {"type": "string"}
        }]);
        spec.doc["paths"]["/v1/installations/{installationId}/archive"] =
            serde_json::json!({ "post": archive });
        let gaps = Catalogue::parse(BUILTIN, spec).unwrap().gaps();
        assert!(
            gaps.iter()
                .any(|gap| gap.contains("`tenancy.isolated`: `archiveInstallation` has no check")),
            "{gaps:?}"
        );
    }

    /// A check that names a promise the catalogue does not have is a gap.
    #[test]
    fn a_check_naming_an_unknown_promise_is_a_gap() {
        let text = BUILTIN.replace("- id: tenancy.isolated", "- id: tenancy.renamed");
        let gaps = Catalogue::parse(&text, Spec::builtin()).unwrap().gaps();
        assert!(
            gaps.iter().any(|gap| gap.contains(
                "check `auth.other_workspace` names the promise `tenancy.isolated`, which the catalogue does not have"
            )),
            "{gaps:?}"
        );
    }

    /// A promise no check proves must say why.
    #[test]
    fn an_unproved_promise_without_a_reason_is_a_gap() {
        let text =
            format!("{BUILTIN}\n- id: example.new\n  source: a test\n  promise: Something new.\n");
        let gaps = Catalogue::parse(&text, Spec::builtin()).unwrap().gaps();
        assert!(
            gaps.iter()
                .any(|gap| gap.contains("`example.new`: no check proves it")),
            "{gaps:?}"
        );
    }
}
