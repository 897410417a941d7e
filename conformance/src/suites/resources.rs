//! Resources of every type a workspace key can make, found in the spec and made through the API,
//! for the checks that need one of each: isolation (`auth`), and paging and deletion
//! (`stateful`). Nothing here names an operation: a newer spec's resource types are found the same
//! way, and one no workspace key can make is reported as such (see `hoverbot-conformance list
//! --promises`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use super::Run;
use crate::check::{Failure, Findings, Sent};
use crate::http::{Input, Received};
use crate::spec::{Access, Location, Operation, Spec};

/// A type of resource: the path parameter that names one, and the operations on it.
pub struct Kind<'o> {
    /// `conversationId`.
    pub param: String,
    /// `GET …/{param}`, when one reads it.
    pub read: Option<&'o Operation>,
    /// `DELETE …/{param}`, when one deletes (or revokes) it.
    pub delete: Option<&'o Operation>,
    /// The paged list its items are in.
    pub list: Option<&'o Operation>,
    pub made: Made<'o>,
}

/// How a resource of a kind comes to be.
pub enum Made<'o> {
    /// A `POST` on its collection, with a body.
    Created(&'o Operation),
    /// As an entry in the log of a resource of another kind (a webhook endpoint's deliveries):
    /// made by what happens in the workspace while that resource exists.
    Logged { parent: String },
    /// No operation a workspace key may call makes one.
    Unmade,
}

/// Whether a path parameter names a resource (`conversationId`), rather than a token or a key.
fn names_resource(param: &str) -> bool {
    param.ends_with("Id")
}

/// Whether `operation` is a paged list.
pub fn is_paged_list(operation: &Operation) -> bool {
    operation.method == "GET"
        && operation
            .params
            .iter()
            .any(|param| param.location == Location::Query && param.name == "cursor")
}

/// The resource ids `operation` takes: its path parameters that name a resource, and the
/// properties of its body named like one (`createEscalation`'s `conversationId`).
pub fn ids_taken(spec: &Spec, operation: &Operation) -> Vec<String> {
    let mut taken: Vec<String> = operation
        .params
        .iter()
        .filter(|param| param.location == Location::Path && names_resource(&param.name))
        .map(|param| param.name.clone())
        .collect();
    if let Some(body) = &operation.body
        && let Some(properties) = spec
            .resolve(body)
            .get("properties")
            .and_then(Value::as_object)
    {
        // A body property is a resource's id when some path names a resource by it
        // (`conversationId`), not merely when it ends in `Id` (`externalUserId`).
        let paths = spec.doc["paths"].as_object();
        taken.extend(
            properties
                .keys()
                .filter(|name| {
                    names_resource(name)
                        && paths.is_some_and(|paths| {
                            paths
                                .keys()
                                .any(|path| path.contains(&format!("{{{name}}}")))
                        })
                })
                .cloned(),
        );
    }
    taken
}

/// The `$ref` of the schema `operation` answers `200` or `201` with.
fn answer_ref(operation: &Operation) -> Option<&str> {
    ["200", "201"]
        .iter()
        .find_map(|status| operation.responses.get(*status))
        .and_then(|response| response.content.as_ref())
        .and_then(|(_, schema)| schema.get("$ref"))
        .and_then(Value::as_str)
}

/// The `$ref` of the items of the page `list` answers with.
fn items_ref<'s>(spec: &'s Spec, list: &'s Operation) -> Option<&'s str> {
    let (_, schema) = list.responses.get("200")?.content.as_ref()?;
    spec.resolve(schema)
        .pointer("/properties/data/items/$ref")
        .and_then(Value::as_str)
}

/// Every kind of resource the operations a workspace key may call name, in the order they are
/// made: the parents of logs first (so what the others make is logged), then each kind after the
/// kinds its create body refers to.
pub fn kinds<'o>(spec: &Spec, operations: &[&'o Operation]) -> Vec<Kind<'o>> {
    let callable: Vec<&Operation> = operations
        .iter()
        .copied()
        .filter(|op| matches!(op.access, Access::Scope(_)))
        .collect();
    let mut params: Vec<String> = Vec::new();
    for op in &callable {
        for param in &op.params {
            if param.location == Location::Path
                && names_resource(&param.name)
                && !params.contains(&param.name)
            {
                params.push(param.name.clone());
            }
        }
    }
    let mut kinds: Vec<Kind<'o>> = params
        .into_iter()
        .map(|param| {
            let marker = format!("/{{{param}}}");
            let on_one = |method: &str| {
                callable
                    .iter()
                    .copied()
                    .find(|op| op.method == method && op.path.ends_with(&marker))
            };
            let (read, delete) = (on_one("GET"), on_one("DELETE"));
            let collection = callable
                .iter()
                .find_map(|op| op.path.find(&marker).map(|at| op.path[..at].to_string()))
                .unwrap_or_default();
            let create = callable
                .iter()
                .copied()
                .find(|op| op.method == "POST" && op.path == collection && op.body.is_some());
            let list = callable.iter().copied().find(|op| {
                is_paged_list(op)
                    && (op.path == collection
                        || read
                            .and_then(answer_ref)
                            .is_some_and(|item| items_ref(spec, op) == Some(item)))
            });
            let made = match (create, list) {
                (Some(create), _) => Made::Created(create),
                // A list under another resource (`/v1/webhook-endpoints/{id}/deliveries`) is
                // that resource's log.
                (None, Some(list)) if list.path != collection => {
                    match list
                        .params
                        .iter()
                        .find(|param| param.location == Location::Path)
                    {
                        Some(parent) => Made::Logged {
                            parent: parent.name.clone(),
                        },
                        None => Made::Unmade,
                    }
                }
                _ => Made::Unmade,
            };
            Kind {
                param,
                read,
                delete,
                list,
                made,
            }
        })
        .collect();
    let parents: Vec<String> = kinds
        .iter()
        .filter_map(|kind| match &kind.made {
            Made::Logged { parent } => Some(parent.clone()),
            _ => None,
        })
        .collect();
    let mut ordered: Vec<Kind<'o>> = Vec::new();
    while !kinds.is_empty() {
        let ready = |kind: &Kind| match &kind.made {
            Made::Created(create) => ids_taken(spec, create)
                .iter()
                .all(|taken| ordered.iter().any(|done| &done.param == taken)),
            Made::Logged { parent } => ordered.iter().any(|done| &done.param == parent),
            Made::Unmade => true,
        };
        let next = kinds
            .iter()
            .position(|kind| parents.contains(&kind.param) && ready(kind))
            .or_else(|| kinds.iter().position(ready))
            // A cycle of references: made in the spec's order, and refused if it must be.
            .unwrap_or(0);
        ordered.push(kinds.remove(next));
    }
    ordered
}

/// How long an entry may take to reach a log (an event's delivery is made by a worker).
const LOG_DEADLINE: Duration = Duration::from_secs(30);

/// Tries per resource: a valid body may still be refused (a URL the deployment will not call).
const TRIES: usize = 5;

/// The resources made, by kind (its parameter's name).
#[derive(Default)]
pub struct Resources {
    pub ids: BTreeMap<String, Vec<String>>,
}

impl Resources {
    /// Makes `count` resources of every kind that can be made, recording each that could not be
    /// as a failed `setup` of `suite`.
    pub async fn make(
        run: &Run<'_>,
        kinds: &[Kind<'_>],
        count: usize,
        suite: &'static str,
        findings: &mut Findings,
    ) -> Result<Self> {
        let mut made = Self::default();
        for kind in kinds {
            let ids = match &kind.made {
                Made::Created(create) => {
                    let log_parent = kinds.iter().any(
                        |other| matches!(&other.made, Made::Logged { parent } if *parent == kind.param),
                    );
                    made.create(run, create, count, log_parent, suite, findings)
                        .await?
                }
                Made::Logged { parent } => match kind.list {
                    Some(list) => made.logged(run, list, parent, suite, findings).await?,
                    None => Vec::new(),
                },
                Made::Unmade => Vec::new(),
            };
            made.ids.insert(kind.param.clone(), ids);
        }
        Ok(made)
    }

    /// The first resource of kind `param`.
    pub fn first(&self, param: &str) -> Option<&str> {
        self.ids.get(param)?.first().map(String::as_str)
    }

    /// `count` resources made by `create`. A log's parent is made with only the required
    /// fields, so that it takes the defaults (a webhook endpoint: every event type).
    async fn create(
        &self,
        run: &Run<'_>,
        create: &Operation,
        count: usize,
        log_parent: bool,
        suite: &'static str,
        findings: &mut Findings,
    ) -> Result<Vec<String>> {
        let required: Vec<String> = create
            .body
            .as_ref()
            .and_then(|body| run.spec.resolve(body).get("required"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|name| name.as_str().map(str::to_string))
            .collect();
        let mut ids = Vec::new();
        for i in 0..count {
            let mut last = None;
            for _ in 0..TRIES {
                let mut input = run.example(create);
                if let Some(Value::Object(body)) = &mut input.body {
                    if log_parent {
                        body.retain(|name, _| required.contains(name));
                    }
                    for (name, value) in body.iter_mut() {
                        if let Some(id) = self.ids.get(name).and_then(|ids| ids.get(i)) {
                            *value = Value::from(id.as_str());
                        }
                    }
                }
                let sent = run.target.request(create, &input);
                let received = run.target.send(&sent).await?;
                findings.sent(suite);
                if received.status == 201
                    && let Some(id) = received
                        .json()
                        .and_then(|body| body["id"].as_str().map(str::to_string))
                {
                    ids.push(id);
                    last = None;
                    break;
                }
                last = Some((sent, received));
            }
            if let Some((sent, received)) = last {
                refused(
                    run,
                    suite,
                    create,
                    &sent,
                    &received,
                    "201 with an id",
                    findings,
                );
                break;
            }
        }
        Ok(ids)
    }

    /// The entries of the log `list` of the first resource of kind `parent`, once it holds one
    /// (within `LOG_DEADLINE`).
    async fn logged(
        &self,
        run: &Run<'_>,
        list: &Operation,
        parent: &str,
        suite: &'static str,
        findings: &mut Findings,
    ) -> Result<Vec<String>> {
        let Some(parent_id) = self.first(parent) else {
            return Ok(Vec::new());
        };
        let input = Input {
            path: [(parent.to_string(), Value::from(parent_id))].into(),
            ..Input::default()
        };
        let sent = run.target.request(list, &input);
        let deadline = tokio::time::Instant::now() + LOG_DEADLINE;
        loop {
            let received = run.target.send(&sent).await?;
            findings.sent(suite);
            let ids = page_ids(&received);
            if received.status == 200 && !ids.is_empty() {
                return Ok(ids);
            }
            if tokio::time::Instant::now() >= deadline {
                let expected = format!(
                    "an entry within {} s of what the suite did",
                    LOG_DEADLINE.as_secs()
                );
                refused(run, suite, list, &sent, &received, &expected, findings);
                return Ok(Vec::new());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Deletes what was made that can be deleted, children first; with the calls, for the
    /// checks that want them.
    pub async fn remove(
        &self,
        run: &Run<'_>,
        kinds: &[Kind<'_>],
        suite: &'static str,
        findings: &mut Findings,
    ) -> Result<Vec<Removed>> {
        let mut removed = Vec::new();
        for kind in kinds.iter().rev() {
            let Some(delete) = kind.delete else {
                continue;
            };
            for id in self.ids.get(&kind.param).into_iter().flatten() {
                let input = Input {
                    path: [(kind.param.clone(), Value::from(id.as_str()))].into(),
                    ..Input::default()
                };
                let sent = run.target.request(delete, &input);
                let received = run.target.send(&sent).await?;
                findings.sent(suite);
                removed.push(Removed {
                    param: kind.param.clone(),
                    id: id.clone(),
                    sent,
                    received,
                });
            }
        }
        Ok(removed)
    }
}

/// A resource the suite deleted, and the deletion's answer.
pub struct Removed {
    pub param: String,
    pub id: String,
    pub sent: Sent,
    pub received: Received,
}

/// The ids of a page's `data`.
pub fn page_ids(received: &Received) -> Vec<String> {
    received
        .json()
        .and_then(|body| {
            body["data"].as_array().map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["id"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A call the suite needed did not answer as documented: a failed `setup`.
fn refused(
    run: &Run<'_>,
    suite: &'static str,
    operation: &Operation,
    sent: &Sent,
    received: &Received,
    expected: &str,
    findings: &mut Findings,
) {
    findings.failed(Failure {
        suite,
        check: super::SETUP.name,
        operation: operation.id.clone(),
        expected: expected.to_string(),
        seen: format!(
            "{} {}",
            received.status,
            super::scenario::truncate(&String::from_utf8_lossy(&received.body), 300)
        ),
        curl: sent.curl(),
        seed: run.seed,
    });
}

#[cfg(test)]
mod tests {
    use super::{Made, kinds};
    use crate::spec::Spec;

    /// Every resource a workspace key names in a path is found, with how it is made: the
    /// deliveries, which nothing creates, as the log of an endpoint made before the rest.
    #[test]
    fn the_specs_kinds_and_how_each_is_made() {
        let spec = Spec::builtin();
        let operations = spec.operations().unwrap();
        let all: Vec<_> = operations.iter().collect();
        let kinds = kinds(&spec, &all);
        let made: Vec<(&str, String)> = kinds
            .iter()
            .map(|kind| {
                let how = match &kind.made {
                    Made::Created(create) => create.id.clone(),
                    Made::Logged { parent } => format!("log of {parent}"),
                    Made::Unmade => "unmade".to_string(),
                };
                (kind.param.as_str(), how)
            })
            .collect();
        assert_eq!(
            made[0],
            ("webhookEndpointId", "createWebhookEndpoint".into())
        );
        let position = |param: &str| made.iter().position(|(p, _)| *p == param).unwrap();
        assert!(position("conversationId") < position("escalationId"));
        for expected in [
            ("conversationId", "createConversation"),
            ("knowledgeSourceId", "upsertKnowledgeSource"),
            ("escalationId", "createEscalation"),
            ("apiKeyId", "createApiKey"),
            ("webhookDeliveryId", "log of webhookEndpointId"),
            ("installationId", "unmade"),
        ] {
            assert!(
                made.contains(&(expected.0, expected.1.to_string())),
                "{expected:?} in {made:?}"
            );
        }
        // The operator's apps are not a workspace key's to name.
        assert!(!made.iter().any(|(param, _)| *param == "appId"), "{made:?}");
        let deliveries = kinds
            .iter()
            .find(|kind| kind.param == "webhookDeliveryId")
            .unwrap();
        assert_eq!(deliveries.list.unwrap().id, "listWebhookDeliveries");
        let keys = kinds.iter().find(|kind| kind.param == "apiKeyId").unwrap();
        assert_eq!(
            (
                keys.read.is_none(),
                keys.delete.unwrap().id.as_str(),
                keys.list.unwrap().id.as_str()
            ),
            (true, "revokeApiKey", "listApiKeys")
        );
    }
}
