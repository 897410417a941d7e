//! `stateful`: sequences of calls whose results depend on each other stay consistent. A created
//! conversation reads back as created and is listed; a message and its answer appear in the
//! transcript; an escalation silences the assistant until it is resolved; a deleted resource (a
//! conversation, an erased end user's conversation, a knowledge source) is `404` and gone from its
//! list; lists contain what was created. Then, for every kind of resource a workspace key can make,
//! a few are made: every paged list, read two items a page, holds each of them exactly once, newest
//! first; and every one that can be deleted (or revoked) is, and is then `404` and unlisted.

use anyhow::{Context as _, Result};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::resources::{self, Made, Resources};
use super::scenario::{Call, Scenario};
use super::{Check, Context, Runner, Suite};
use crate::spec::Operation;

pub const SUITE: Suite = Suite {
    name: "stateful",
    summary: "create, message, transcript, escalation and deletion stay consistent",
    checks: CHECKS,
    opt_in: false,
    needs_receiver: false,
    runner: Runner::Scenario { budget, start },
};

const CHECKS: &[Check] = &[
    Check {
        name: "setup",
        what: "the calls a sequence is made of answer with their documented success status",
        proves: &["responses.documented"],
    },
    Check {
        name: "created_reads_back",
        what: "a created resource reads back with what was sent",
        proves: &["resources.read-back"],
    },
    Check {
        name: "lists_contain_created",
        what: "a list holds the resource created just before",
        proves: &["lists.created-listed"],
    },
    Check {
        name: "transcript_consistent",
        what: "a message and its answer are in the transcript, counted and in order",
        proves: &["transcripts.ordered"],
    },
    Check {
        name: "escalation_silences",
        what: "while escalated the assistant does not answer; once resolved it does again",
        proves: &["assistant.escalation-silences"],
    },
    Check {
        name: "pages_complete",
        what: "a list read two items a page holds each item made once, and every item at most once, newest first",
        proves: &["lists.pages-complete"],
    },
    Check {
        name: "deleted_is_gone",
        what: "a deleted resource is 404 and no longer listed",
        proves: &["deletion.gone", "erasure.gone"],
    },
    Check {
        name: "response_matches_spec",
        what: "every response the suite gets is one the spec documents",
        proves: &["responses.documented"],
    },
];

/// The budget printed before the suite starts.
fn budget() -> String {
    "at most 40 requests, and for each kind of resource about 30".to_string()
}

/// Starts the suite: a conversation's sequence, then a knowledge source's.
fn start<'s>(scenario: &'s mut Scenario<'_, '_>, _: &'s Context<'_>) -> BoxFuture<'s, Result<()>> {
    Box::pin(async move {
        conversation(scenario).await?;
        deleted_conversations(scenario).await?;
        knowledge_source(scenario).await?;
        every_kind(scenario).await
    })
}

/// What the user asks in the suite's conversation.
const QUESTION: &str = "How do I change my shipping address?";

/// Sends `text` to `conversation`: the exchange, or `None` (and a failed `setup`).
async fn send_message(
    scenario: &mut Scenario<'_, '_>,
    conversation: &str,
    text: &str,
) -> Result<Option<Call>> {
    scenario
        .expect(
            "setup",
            "sendMessage",
            &[("conversationId", conversation)],
            Some(json!({ "text": text })),
            201,
        )
        .await
}

/// The ids of a list response's `data`.
fn listed(call: &Call) -> Vec<String> {
    resources::page_ids(&call.received)
}

/// Pages of a list the suite reads looking for one item, at most: 2,000 items, newest first. On a
/// busy workspace other clients' items come before the suite's own; a list that would need more
/// pages to reach an item made a moment ago is not newest first.
const MAX_PAGES: usize = 20;

/// Whether `list_operation`, read page by page (100 items each) from the newest, holds `id` within
/// `MAX_PAGES`; with the first page's call, for the report.
async fn find_listed(
    scenario: &mut Scenario<'_, '_>,
    list_operation: &str,
    id: &str,
) -> Result<(Call, bool)> {
    let mut first = None;
    let mut cursor: Option<String> = None;
    let mut found = false;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", "100")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let sent = scenario.request(list_operation, &[], &query, None)?;
        let page = scenario.send(list_operation, sent).await?;
        found = listed(&page).iter().any(|listed| listed == id);
        cursor = page.json()["nextCursor"].as_str().map(str::to_string);
        let status = page.status();
        first.get_or_insert(page);
        if found || cursor.is_none() || status != 200 {
            break;
        }
    }
    let first = first.context("no page was read")?;
    Ok((first, found))
}

/// `lists_contain_created`: `list_operation`, newest first, holds `id` (other clients' newer
/// items may come before it).
async fn check_listed(
    scenario: &mut Scenario<'_, '_>,
    list_operation: &str,
    id: &str,
) -> Result<()> {
    let (list, found) = find_listed(scenario, list_operation, id).await?;
    scenario.check(
        "lists_contain_created",
        &list,
        (!found).then(|| {
            (
                format!("{id} listed, newest first"),
                format!("not within the newest {} items", MAX_PAGES * 100),
            )
        }),
    );
    Ok(())
}

fn differs(expected: &Value, seen: &Value, fields: &[&str]) -> Vec<String> {
    fields
        .iter()
        .filter(|field| expected[**field] != seen[**field])
        .map(|field| format!("{field}: sent {}, read {}", expected[*field], seen[*field]))
        .collect()
}

async fn conversation(scenario: &mut Scenario<'_, '_>) -> Result<()> {
    let sent = json!({
        "channel": "sms",
        "externalUserId": format!("conformance-{}", scenario.run.nonce),
        "locale": "en-GB",
        "metadata": {"suite": "stateful"},
    });
    let Some(created) = scenario
        .expect("setup", "createConversation", &[], Some(sent.clone()), 201)
        .await?
    else {
        return Ok(());
    };
    let id = created.field("id").unwrap_or_default();
    let path = [("conversationId", id.as_str())];
    let Some(read) = scenario
        .expect("setup", "getConversation", &path, None, 200)
        .await?
    else {
        return Ok(());
    };
    let mut problems = differs(
        &sent,
        &read.json()["conversation"],
        &["channel", "externalUserId", "locale", "metadata"],
    );
    if read.json()["conversation"]["messageCount"] != json!(0) {
        problems.push(format!(
            "messageCount {}",
            read.json()["conversation"]["messageCount"]
        ));
    }
    scenario.check(
        "created_reads_back",
        &read,
        (!problems.is_empty()).then(|| ("the conversation as sent".into(), problems.join("; "))),
    );
    check_listed(scenario, "listConversations", &id).await?;

    // A message and its answer.
    let Some(exchange) = send_message(scenario, &id, QUESTION).await? else {
        return Ok(());
    };
    let user = exchange.json()["userMessage"]["id"].clone();
    let answer = exchange.json()["assistantMessage"]["id"].clone();
    let transcript = scenario.call("getConversation", &path, None).await?;
    let body = transcript.json();
    let ids: Vec<Value> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|message| message["id"].clone())
        .collect();
    let consistent = ids == [user.clone(), answer.clone()]
        && body["conversation"]["messageCount"] == json!(2)
        && !body["conversation"]["lastMessageAt"].is_null();
    scenario.check(
        "transcript_consistent",
        &transcript,
        (!consistent).then(|| {
            (
                format!("messages [{user}, {answer}], messageCount 2, lastMessageAt set"),
                format!(
                    "messages {ids:?}, messageCount {}, lastMessageAt {}",
                    body["conversation"]["messageCount"], body["conversation"]["lastMessageAt"]
                ),
            )
        }),
    );

    escalation(scenario, &id).await
}

/// An escalation silences the assistant until it is resolved.
async fn escalation(scenario: &mut Scenario<'_, '_>, conversation: &str) -> Result<()> {
    let path = [("conversationId", conversation)];
    let Some(escalated) = scenario
        .expect(
            "setup",
            "createEscalation",
            &[],
            Some(json!({
                "conversationId": conversation,
                "reasonCode": "user_requested",
                "destination": "conformance",
            })),
            201,
        )
        .await?
    else {
        return Ok(());
    };
    let escalation = escalated.field("id").unwrap_or_default();
    check_listed(scenario, "listEscalations", &escalation).await?;
    let state = scenario.call("getConversation", &path, None).await?;
    let status = state.json()["conversation"]["status"].clone();
    scenario.check(
        "escalation_silences",
        &state,
        (status != json!("escalated"))
            .then(|| ("status escalated".into(), format!("status {status}"))),
    );
    let Some(quiet) = send_message(scenario, conversation, "Is anyone there?").await? else {
        return Ok(());
    };
    let reply = quiet.json()["assistantMessage"].clone();
    scenario.check(
        "escalation_silences",
        &quiet,
        (!reply.is_null()).then(|| {
            (
                "no assistant answer while escalated".into(),
                format!("answered {reply}"),
            )
        }),
    );
    let Some(resolved) = scenario
        .expect(
            "setup",
            "updateEscalation",
            &[("escalationId", &escalation)],
            Some(json!({"status": "resolved"})),
            200,
        )
        .await?
    else {
        return Ok(());
    };
    let Some(again) = send_message(scenario, conversation, QUESTION).await? else {
        return Ok(());
    };
    let reply = again.json()["assistantMessage"].clone();
    scenario.check(
        "escalation_silences",
        &again,
        reply.is_null().then(|| {
            (
                format!(
                    "an answer once the escalation is {}",
                    resolved.json()["status"]
                ),
                "no answer".into(),
            )
        }),
    );
    let state = scenario.call("getConversation", &path, None).await?;
    let body = state.json();
    let count = body["messages"].as_array().map_or(0, Vec::len);
    scenario.check(
        "transcript_consistent",
        &state,
        (count != 5 || body["conversation"]["messageCount"] != json!(5)).then(|| {
            (
                "5 messages: 3 of the user's and 2 answers".into(),
                format!(
                    "{count} messages, messageCount {}",
                    body["conversation"]["messageCount"]
                ),
            )
        }),
    );
    Ok(())
}

/// A conversation deleted, and one of an end user erased, are gone from reads and lists.
async fn deleted_conversations(scenario: &mut Scenario<'_, '_>) -> Result<()> {
    let user = format!("conformance-erasure-{}", scenario.run.nonce);
    for erase in [false, true] {
        let Some(id) = scenario
            .expect(
                "setup",
                "createConversation",
                &[],
                Some(json!({"channel": "web", "externalUserId": user})),
                201,
            )
            .await?
            .and_then(|created| created.field("id"))
        else {
            return Ok(());
        };
        let path = [("conversationId", id.as_str())];
        let deleted = if erase {
            scenario
                .expect(
                    "setup",
                    "eraseEndUser",
                    &[],
                    Some(json!({"externalUserId": user})),
                    200,
                )
                .await?
        } else {
            scenario
                .expect("setup", "deleteConversation", &path, None, 204)
                .await?
        };
        let Some(deleted) = deleted else {
            return Ok(());
        };
        if erase {
            let count = deleted.json()["conversationsDeleted"].clone();
            scenario.check(
                "deleted_is_gone",
                &deleted,
                (count != json!(1)).then(|| {
                    (
                        "conversationsDeleted 1, the end user's one conversation".into(),
                        count.to_string(),
                    )
                }),
            );
        }
        check_gone(
            scenario,
            ("getConversation", &path),
            "listConversations",
            &id,
        )
        .await?;
    }
    Ok(())
}

/// `deleted_is_gone`: reading the resource (`get`, with its path) is `404`, and `list_operation`
/// no longer holds `id`.
async fn check_gone(
    scenario: &mut Scenario<'_, '_>,
    (get, path): (&str, &[(&str, &str)]),
    list_operation: &str,
    id: &str,
) -> Result<()> {
    let gone = scenario.call(get, path, None).await?;
    let (_, still_listed) = find_listed(scenario, list_operation, id).await?;
    scenario.check(
        "deleted_is_gone",
        &gone,
        (gone.status() != 404 || still_listed).then(|| {
            (
                "404, and not listed".into(),
                format!("{}, listed: {still_listed}", gone.status()),
            )
        }),
    );
    Ok(())
}

/// A knowledge source is listed once created, and gone once deleted.
async fn knowledge_source(scenario: &mut Scenario<'_, '_>) -> Result<()> {
    let sent = json!({
        "type": "text",
        "name": "hoverbot-conformance stateful suite",
        "externalId": format!("conformance-{}", scenario.run.nonce),
        "documents": [{"title": "Opening hours", "body": "We are open from nine to five."}],
    });
    let Some(created) = scenario
        .expect(
            "setup",
            "upsertKnowledgeSource",
            &[],
            Some(sent.clone()),
            201,
        )
        .await?
    else {
        return Ok(());
    };
    let id = created.field("id").unwrap_or_default();
    let path = [("knowledgeSourceId", id.as_str())];
    if let Some(read) = scenario
        .expect("setup", "getKnowledgeSource", &path, None, 200)
        .await?
    {
        let problems = differs(&sent, &read.json(), &["type", "name", "externalId"]);
        scenario.check(
            "created_reads_back",
            &read,
            (!problems.is_empty()).then(|| ("the source as sent".into(), problems.join("; "))),
        );
    }
    check_listed(scenario, "listKnowledgeSources", &id).await?;
    if scenario
        .expect("setup", "deleteKnowledgeSource", &path, None, 204)
        .await?
        .is_none()
    {
        return Ok(());
    }
    check_gone(
        scenario,
        ("getKnowledgeSource", &path),
        "listKnowledgeSources",
        &id,
    )
    .await
}

/// Resources of each kind the suite makes for the paging checks: enough for two pages of two.
const PER_KIND: usize = 3;

/// Pages the paging walk reads at most (two items each): past the suite's own items on a workspace
/// where others make as many while it reads.
const WALK_PAGES: usize = 30;

/// Every kind of resource: a few made, every paged list walked, everything deletable deleted and
/// gone.
async fn every_kind(scenario: &mut Scenario<'_, '_>) -> Result<()> {
    let run = scenario.run;
    let operations: Vec<&Operation> = scenario.operations().iter().collect();
    let kinds = resources::kinds(run.spec, &operations);
    let made = Resources::make(run, &kinds, PER_KIND, SUITE.name, scenario.findings).await?;
    for kind in &kinds {
        let Some(list) = kind.list else {
            continue;
        };
        let parent = list
            .params
            .iter()
            .find(|param| param.location == crate::spec::Location::Path)
            .map(|param| param.name.as_str());
        let path: Vec<(&str, &str)> = match parent {
            Some(parent) => match made.first(parent) {
                Some(id) => vec![(parent, id)],
                None => continue,
            },
            None => Vec::new(),
        };
        let own = made.ids.get(&kind.param).cloned().unwrap_or_default();
        check_pages(scenario, &list.id, &path, &own).await?;
    }
    for removed in made
        .remove(run, &kinds, SUITE.name, scenario.findings)
        .await?
    {
        let Some(kind) = kinds.iter().find(|kind| kind.param == removed.param) else {
            continue;
        };
        let call = Call {
            operation: kind.delete.map(|op| op.id.clone()).unwrap_or_default(),
            sent: removed.sent,
            received: removed.received,
        };
        if !(200..300).contains(&call.status()) {
            let seen = String::from_utf8_lossy(&call.received.body).to_string();
            scenario.fail(
                "setup",
                &call,
                "a 2xx deletion".into(),
                format!(
                    "{} {}",
                    call.status(),
                    super::scenario::truncate(&seen, 300)
                ),
            );
            continue;
        }
        let path = [(removed.param.as_str(), removed.id.as_str())];
        let read = match kind.read {
            Some(read) => Some(scenario.call(&read.id, &path, None).await?),
            None => None,
        };
        let listed = match kind.list {
            Some(list) if !list.path.contains('{') => {
                find_listed(scenario, &list.id, &removed.id).await?.1
            }
            _ => false,
        };
        let status = read.as_ref().map(Call::status);
        scenario.check(
            "deleted_is_gone",
            read.as_ref().unwrap_or(&call),
            (status.is_some_and(|status| status != 404) || listed).then(|| {
                (
                    format!(
                        "{} {} 404 and not listed once deleted",
                        removed.param, removed.id
                    ),
                    format!("read {status:?}, listed: {listed}"),
                )
            }),
        );
    }
    let unmade: Vec<&str> = kinds
        .iter()
        .filter(|kind| matches!(kind.made, Made::Unmade))
        .map(|kind| kind.param.as_str())
        .collect();
    if !unmade.is_empty() {
        eprintln!(
            "  stateful: no operation a workspace key may call makes {}: their lists are walked as they are",
            unmade.join(", ")
        );
    }
    Ok(())
}

/// `pages_complete`: `list` read two items a page from the newest holds each of `own` exactly
/// once, no item twice, and each item no newer than the one before it. Other clients' new items
/// come before the cursor and their deletions only take items away, so neither can break it.
async fn check_pages(
    scenario: &mut Scenario<'_, '_>,
    list: &str,
    path: &[(&str, &str)],
    own: &[String],
) -> Result<()> {
    let mut seen: Vec<(String, Option<chrono::DateTime<chrono::FixedOffset>>)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut last = None;
    let mut pages = 0;
    for _ in 0..WALK_PAGES {
        let mut query = vec![("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.as_str()));
        }
        let sent = scenario.request(list, path, &query, None)?;
        let page = scenario.send(list, sent).await?;
        pages += 1;
        if page.status() != 200 {
            let body = String::from_utf8_lossy(&page.received.body).to_string();
            scenario.fail(
                "pages_complete",
                &page,
                "200 for every page".into(),
                format!(
                    "{} {}",
                    page.status(),
                    super::scenario::truncate(&body, 300)
                ),
            );
            return Ok(());
        }
        let body = page.json();
        let items = body["data"].as_array().cloned().unwrap_or_default();
        seen.extend(items.iter().filter_map(|item| {
            let id = item["id"].as_str()?.to_string();
            let created = item["createdAt"]
                .as_str()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok());
            Some((id, created))
        }));
        cursor = body["nextCursor"].as_str().map(str::to_string);
        let more = body["hasMore"].as_bool().unwrap_or(false);
        last = Some(page);
        let found_own = own.iter().all(|id| seen.iter().any(|(seen, _)| seen == id));
        if cursor.is_none() || !more || found_own {
            break;
        }
    }
    let Some(last) = last else {
        return Ok(());
    };
    let mut problems = Vec::new();
    for id in own {
        let times = seen.iter().filter(|(seen, _)| seen == id).count();
        if times != 1 {
            problems.push(format!("{id} listed {times} times"));
        }
    }
    let mut ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    for pair in ids.windows(2).filter(|pair| pair[0] == pair[1]) {
        if !own.iter().any(|id| id == pair[0]) {
            problems.push(format!("{} listed twice", pair[0]));
        }
    }
    for pair in seen.windows(2) {
        if let ((before, Some(older)), (after, Some(newer))) = (&pair[0], &pair[1])
            && newer > older
        {
            problems.push(format!(
                "{after} ({newer}) after the older {before} ({older})"
            ));
        }
    }
    scenario.check(
        "pages_complete",
        &last,
        (!problems.is_empty()).then(|| {
            (
                format!(
                    "each of {} made item(s) once, newest first, over pages of 2",
                    own.len()
                ),
                format!("over {pages} pages: {}", problems.join("; ")),
            )
        }),
    );
    Ok(())
}
