//! `webhooks`: the suite subscribes an endpoint of its own receiver, causes every event type the
//! spec's `webhooks` section lists through the API (`webhook_endpoint.disabled` with a second
//! endpoint whose receiver answers `410 Gone`), and checks each delivery: its payload against
//! the spec's schema for its type, what its fields mean (ids of resources that exist, a
//! `transcriptUrl` that opens the transcript without a key), the Standard Webhooks signature and
//! timestamp, `webhook-id` equal to the envelope's id and to `Idempotency-Key`, one event for a
//! request replayed with its idempotency key, and both signatures while a secret is rotated.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::scenario::{Call, Scenario};
use super::{Check, Context, Runner, Suite};
use crate::receiver::{Answer, Delivery, Receiver};

pub const SUITE: Suite = Suite {
    name: "webhooks",
    summary: "every event delivered to a receiver: payload schemas, signatures, webhook-id",
    checks: CHECKS,
    opt_in: false,
    needs_receiver: true,
    runner: Runner::Scenario { budget, start },
};

const CHECKS: &[Check] = &[
    Check {
        name: "setup",
        what: "the settings read, the endpoint subscribed and the events caused through the API",
        proves: &["responses.documented"],
    },
    Check {
        name: "every_event_delivered",
        what: "each event type the spec lists reaches the receiver",
        proves: &["webhooks.delivered"],
    },
    Check {
        name: "burst_delivered",
        what: "twenty events for one endpoint, caused one after another, are all delivered",
        proves: &["webhooks.delivered"],
    },
    Check {
        name: "payload_schema",
        what: "each payload is valid against the spec's schema for its type",
        proves: &["webhooks.delivered"],
    },
    Check {
        name: "signature",
        what: "a Standard Webhooks v1 signature under the endpoint's secret, a recent timestamp",
        proves: &["webhooks.signed"],
    },
    Check {
        name: "webhook_id",
        what: "webhook-id is the envelope's id and the Idempotency-Key",
        proves: &["webhooks.id-stable"],
    },
    Check {
        name: "references_resolve",
        what: "the ids in a payload are the resources the API made, in the same workspace",
        proves: &["webhooks.delivered"],
    },
    Check {
        name: "deleted_disappears",
        what: "the conversation a conversation.deleted event names reads as 404",
        proves: &["webhooks.deleted-reads-404"],
    },
    Check {
        name: "transcript_url",
        what: "a lead's transcriptUrl opens that conversation's transcript without a key",
        proves: &["webhooks.transcript-url"],
    },
    Check {
        name: "one_event_per_request",
        what: "a create replayed with its Idempotency-Key makes one resource and one event",
        proves: &["webhooks.once-per-change"],
    },
    Check {
        name: "rotation_signatures",
        what: "while a secret rotates, deliveries carry a signature under each secret",
        proves: &["webhooks.signed"],
    },
    Check {
        name: "response_matches_spec",
        what: "every response the suite gets is one the spec documents",
        proves: &["responses.documented"],
    },
];

/// How long events may take to arrive after their first attempt is due.
const ARRIVAL: Duration = Duration::from_secs(30);
/// A message that makes a lead: intent, name, company and email.
const LEAD_MESSAGE: &str = "Could we book a demo for our team? I am Jane Doe from Northwind \
     Traders, jane@northwind.example, +1 415 555 0123";

/// The budget printed before the suite starts.
fn budget() -> String {
    "at most 60 requests, and the events they cause".to_string()
}

/// Starts the suite with the run's webhook receiver (`needs_receiver` has it started).
fn start<'s>(
    scenario: &'s mut Scenario<'_, '_>,
    context: &'s Context<'_>,
) -> BoxFuture<'s, Result<()>> {
    Box::pin(async move { run(scenario, context.receiver()?).await })
}

async fn run(scenario: &mut Scenario<'_, '_>, receiver: &Receiver) -> Result<()> {
    let Some(settings) = scenario
        .expect("setup", "getWebhookSettings", &[], None, 200)
        .await?
    else {
        return Ok(());
    };
    let first_due = settings.json()["attemptOffsetsSeconds"][0]
        .as_u64()
        .unwrap_or(0);

    // Lead qualification depends on the workspace's threshold, which the suite reads and leaves
    // alone: a run that lowered it and put it back would change it for every other client of the
    // workspace meanwhile, and two runs at once would put back each other's value. The suite's
    // lead asks for a demo and gives every contact detail, which scores the full 100.
    let Some(assistant) = scenario
        .expect("setup", "getAssistantSettings", &[], None, 200)
        .await?
    else {
        return Ok(());
    };
    let threshold = assistant.json()["leadQualificationThreshold"]
        .as_i64()
        .unwrap_or(100);

    let hook = format!("events-{}", scenario.run.nonce);
    let url = receiver.hook(&hook, Vec::new(), Answer::Accept);
    deliver_every_event(scenario, receiver, &hook, &url, first_due, threshold).await
}

/// What the suite caused, to recognise its events by.
#[derive(Default)]
struct Caused {
    endpoint: String,
    conversations: BTreeSet<String>,
    lead: String,
    escalations: BTreeSet<String>,
    /// Conversations the suite deleted: their other events may have been delivered before.
    deleted: BTreeSet<String>,
    /// An endpoint whose receiver answers `410 Gone`, which the deployment disables.
    gone: String,
}

async fn deliver_every_event(
    scenario: &mut Scenario<'_, '_>,
    receiver: &Receiver,
    hook: &str,
    url: &str,
    first_due: u64,
    threshold: i64,
) -> Result<()> {
    let Some(endpoint) = scenario
        .expect(
            "setup",
            "createWebhookEndpoint",
            &[],
            Some(json!({"url": url, "description": "hoverbot-conformance webhooks suite"})),
            201,
        )
        .await?
    else {
        return Ok(());
    };
    let (Some(endpoint_id), Some(secret)) = (endpoint.field("id"), endpoint.field("secret")) else {
        scenario.fail(
            "setup",
            &endpoint,
            "the endpoint's id and secret".into(),
            "a body without them".into(),
        );
        return Ok(());
    };
    let outcome = cause_and_check(
        scenario,
        receiver,
        hook,
        (&endpoint_id, &secret),
        first_due,
        threshold,
    )
    .await;
    scenario
        .call(
            "deleteWebhookEndpoint",
            &[("webhookEndpointId", &endpoint_id)],
            None,
        )
        .await?;
    outcome
}

async fn cause_and_check(
    scenario: &mut Scenario<'_, '_>,
    receiver: &Receiver,
    hook: &str,
    (endpoint_id, secret): (&str, &str),
    first_due: u64,
    threshold: i64,
) -> Result<()> {
    let mut caused = Caused {
        endpoint: endpoint_id.to_string(),
        ..Caused::default()
    };
    let path = [("webhookEndpointId", endpoint_id)];
    scenario
        .expect("setup", "testWebhookEndpoint", &path, None, 200)
        .await?;

    // A conversation created twice with one idempotency key: one conversation, one event.
    let lead_user = format!("conformance-{}-lead", scenario.run.nonce);
    let mut create = scenario.request(
        "createConversation",
        &[],
        &[],
        Some(json!({"channel": "web", "externalUserId": lead_user})),
    )?;
    let key = format!("conformance-{}-webhooks-create", scenario.run.nonce);
    create
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("idempotency-key"));
    create.headers.push(("idempotency-key".into(), key));
    let created = scenario.send("createConversation", create.clone()).await?;
    let replayed = scenario.send("createConversation", create).await?;
    let Some(lead) = created.field("id").filter(|_| created.status() == 201) else {
        scenario.fail(
            "setup",
            &created,
            "201 with the conversation".into(),
            created.status().to_string(),
        );
        return Ok(());
    };
    let same = replayed.status() == 201 && replayed.field("id").as_deref() == Some(lead.as_str());
    scenario.check(
        "one_event_per_request",
        &replayed,
        (!same).then(|| {
            (
                format!("the replay answers with conversation {lead}"),
                format!("{} {:?}", replayed.status(), replayed.field("id")),
            )
        }),
    );
    caused.conversations.insert(lead.clone());
    caused.lead = lead.clone();

    // A lead: message.responded and lead.qualified.
    if let Some(sent) = scenario
        .expect(
            "setup",
            "sendMessage",
            &[("conversationId", &lead)],
            Some(json!({"text": LEAD_MESSAGE})),
            201,
        )
        .await?
    {
        let score = sent.json()["trace"]["leadScore"].as_i64().unwrap_or(0);
        scenario.check(
            "setup",
            &sent,
            (score < threshold).then(|| {
                (
                    format!("a lead that reaches the workspace's threshold, {threshold}"),
                    format!(
                        "a lead score of {score} for a demo request with an email, a phone, a name \
                         and a company"
                    ),
                )
            }),
        );
    }

    // Another conversation, escalated by hand: escalation.created.
    if let Some(other) = scenario
        .expect(
            "setup",
            "createConversation",
            &[],
            Some(json!({"channel": "email"})),
            201,
        )
        .await?
        .and_then(|call| call.field("id"))
    {
        caused.conversations.insert(other.clone());
        if let Some(id) = scenario
            .expect(
                "setup",
                "createEscalation",
                &[],
                Some(json!({
                    "conversationId": other,
                    "reasonCode": "user_requested",
                    "destination": "conformance",
                })),
                201,
            )
            .await?
            .and_then(|call| call.field("id"))
        {
            // A human takes it, then is done: escalation.updated twice.
            let path = [("escalationId", id.as_str())];
            for change in [
                json!({"owner": "conformance-agent"}),
                json!({"status": "resolved"}),
            ] {
                scenario
                    .expect("setup", "updateEscalation", &path, Some(change), 200)
                    .await?;
            }
            caused.escalations.insert(id);
        }
    }

    // A conversation deleted at once: conversation.deleted, and nothing else of it.
    if let Some(doomed) = scenario
        .expect(
            "setup",
            "createConversation",
            &[],
            Some(json!({"channel": "sms", "externalUserId": "conformance-erased"})),
            201,
        )
        .await?
        .and_then(|call| call.field("id"))
    {
        caused.conversations.insert(doomed.clone());
        caused.deleted.insert(doomed.clone());
        scenario
            .expect(
                "setup",
                "deleteConversation",
                &[("conversationId", &doomed)],
                None,
                204,
            )
            .await?;
    }

    // An endpoint whose receiver answers `410 Gone` to the next conversation: it is disabled, and
    // the suite's endpoint hears of it with webhook_endpoint.disabled.
    // Only to the suite's conversation: on a busy workspace another's would disable it first.
    let gone_user = format!("conformance-gone-{}", scenario.run.nonce);
    let gone_url = receiver.hook_for(
        &format!("{hook}-gone"),
        &gone_user,
        Vec::new(),
        Answer::Status(410),
    );
    if let Some(gone) = scenario
        .expect(
            "setup",
            "createWebhookEndpoint",
            &[],
            Some(json!({
                "url": gone_url,
                "enabledEvents": ["conversation.created"],
                "description": "hoverbot-conformance webhooks suite: a receiver that is gone",
            })),
            201,
        )
        .await?
        .and_then(|call| call.field("id"))
    {
        caused.gone = gone;
        if let Some(id) = scenario
            .expect(
                "setup",
                "createConversation",
                &[],
                Some(json!({"channel": "web", "externalUserId": gone_user})),
                201,
            )
            .await?
            .and_then(|call| call.field("id"))
        {
            caused.conversations.insert(id);
        }
    }

    // A burst of events for the one endpoint, more than a deployment would attempt at once.
    let mut burst = BTreeSet::new();
    let burst_user = format!("conformance-{}-burst", scenario.run.nonce);
    for _ in 0..BURST {
        if let Some(id) = scenario
            .expect(
                "setup",
                "createConversation",
                &[],
                Some(json!({"channel": "web", "externalUserId": burst_user})),
                201,
            )
            .await?
            .and_then(|call| call.field("id"))
        {
            caused.conversations.insert(id.clone());
            burst.insert(id);
        }
    }

    // Every event type the spec lists, from what the suite caused.
    let schemas = event_schemas(scenario);
    let deadline = Instant::now() + Duration::from_secs(first_due) + ARRIVAL;
    let wanted: BTreeSet<String> = schemas.keys().cloned().collect();
    let created_of = |deliveries: &[Delivery]| -> BTreeSet<String> {
        deliveries
            .iter()
            .filter_map(|delivery| {
                let body: Value = delivery.json()?;
                (body["type"] == "conversation.created")
                    .then(|| body["data"]["conversationId"].as_str().map(str::to_string))?
            })
            .collect()
    };
    receiver
        .wait_for(hook, deadline, |deliveries| {
            let seen: BTreeSet<String> = ours(deliveries, &caused).map(|(kind, _)| kind).collect();
            wanted.is_subset(&seen) && burst.is_subset(&created_of(deliveries))
        })
        .await;
    let deliveries = receiver.deliveries(hook);
    let anchor = &created;
    let delivered = created_of(&deliveries);
    let missing: Vec<&String> = burst.difference(&delivered).collect();
    scenario.check(
        "burst_delivered",
        anchor,
        (!missing.is_empty()).then(|| {
            (
                format!(
                    "conversation.created for each of {BURST} conversations made one after another"
                ),
                format!("none for {} of them: {missing:?}", missing.len()),
            )
        }),
    );
    for kind in &wanted {
        let arrived = ours(&deliveries, &caused).any(|(seen, _)| seen == *kind);
        scenario.check(
            "every_event_delivered",
            anchor,
            (!arrived).then(|| {
                (
                    format!("a {kind} event for what the suite caused"),
                    format!(
                        "none within {} s ({} deliveries to the hook)",
                        (first_due + ARRIVAL.as_secs()),
                        deliveries.len()
                    ),
                )
            }),
        );
    }

    let mut tenants = BTreeSet::new();
    let mut events_of_lead_creation = BTreeSet::new();
    for delivery in deliveries.iter() {
        let body = delivery.json().unwrap_or_default();
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        check_envelope(scenario, anchor, delivery, &body, &schemas, secret);
        if let Some(tenant) = body["tenantId"].as_str() {
            tenants.insert(tenant.to_string());
        }
        if kind == "conversation.created" && body["data"]["conversationId"] == json!(lead) {
            events_of_lead_creation.insert(body["id"].as_str().unwrap_or_default().to_string());
        }
    }
    // Other activity in the workspace reaches the hook too; the suite looks up what it caused.
    for (kind, delivery) in ours(&deliveries, &caused) {
        let body = delivery.json().unwrap_or_default();
        check_references(scenario, &caused, &kind, &body).await?;
    }
    scenario.check(
        "references_resolve",
        anchor,
        (tenants.len() > 1).then(|| {
            (
                "every event in the key's workspace".to_string(),
                format!("tenantIds {tenants:?}"),
            )
        }),
    );
    scenario.check(
        "one_event_per_request",
        anchor,
        (events_of_lead_creation.len() != 1).then(|| {
            (
                "one conversation.created for a create sent twice with one key".to_string(),
                format!("{} events", events_of_lead_creation.len()),
            )
        }),
    );
    // Only the suite's own lead's conversations: others' may be many, and newer.
    let list = scenario.request(
        "listConversations",
        &[],
        &[("externalUserId", &lead_user), ("limit", "100")],
        None,
    )?;
    let listed = scenario.send("listConversations", list).await?.json()["data"]
        .as_array()
        .map_or(0, |data| {
            data.iter()
                .filter(|conversation| conversation["id"] == json!(lead))
                .count()
        });
    scenario.check(
        "one_event_per_request",
        anchor,
        (listed != 1).then(|| {
            (
                "the conversation listed once".to_string(),
                format!("listed {listed} times"),
            )
        }),
    );

    if !caused.gone.is_empty() {
        scenario
            .call(
                "deleteWebhookEndpoint",
                &[("webhookEndpointId", &caused.gone)],
                None,
            )
            .await?;
    }
    rotation(scenario, receiver, hook, endpoint_id, secret).await
}

/// The deliveries of events the suite caused, with their types.
fn ours<'d>(
    deliveries: &'d [Delivery],
    caused: &'d Caused,
) -> impl Iterator<Item = (String, &'d Delivery)> + 'd {
    deliveries.iter().filter_map(move |delivery| {
        let body: Value = delivery.json()?;
        let data = &body["data"];
        let mine = data["conversationId"]
            .as_str()
            .is_some_and(|id| caused.conversations.contains(id))
            || data["webhookEndpointId"]
                .as_str()
                .is_some_and(|id| id == caused.endpoint || id == caused.gone);
        mine.then(|| {
            (
                body["type"].as_str().unwrap_or_default().to_string(),
                delivery,
            )
        })
    })
}

/// Conversations made one after another for the burst: more events for one endpoint than a
/// deployment attempts at once (16 by default), so that a slot an attempt never gives back shows.
const BURST: usize = 20;

/// The event types the suite causes through the API and whose references it checks (see
/// `check_references`); a type the spec gains is a gap in the promise catalogue until it is here.
pub const CAUSES: &[&str] = &[
    "conversation.created",
    "message.responded",
    "lead.qualified",
    "escalation.created",
    "escalation.updated",
    "conversation.deleted",
    "webhook.test",
    "webhook_endpoint.disabled",
];

/// Each event type of the spec's `webhooks` section, with the schema of its payload.
fn event_schemas(scenario: &Scenario) -> BTreeMap<String, Value> {
    let spec = scenario.run.spec;
    spec.doc["webhooks"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(kind, item)| {
            let schema = item.pointer("/post/requestBody/content/application~1json/schema")?;
            Some((kind.clone(), spec.resolve(schema).clone()))
        })
        .collect()
}

/// The checks of one delivery that need no request: schema, signature and webhook-id.
fn check_envelope(
    scenario: &mut Scenario,
    anchor: &Call,
    delivery: &Delivery,
    body: &Value,
    schemas: &BTreeMap<String, Value>,
    secret: &str,
) {
    let kind = body["type"].as_str().unwrap_or("(no type)");
    let schema_errors = match schemas.get(kind) {
        Some(schema) => scenario.run.schema_errors(schema, body),
        None => vec![format!("`{kind}` is not an event type of the spec")],
    };
    scenario.check(
        "payload_schema",
        anchor,
        (!schema_errors.is_empty()).then(|| {
            (
                format!("a {kind} payload valid against the spec"),
                schema_errors.join("; "),
            )
        }),
    );

    let id = delivery.header("webhook-id").unwrap_or_default();
    scenario.check(
        "signature",
        anchor,
        delivery
            .verify(secret)
            .err()
            .map(|why| (format!("a valid signature on the {kind} delivery"), why)),
    );

    let idempotency_key = delivery.header("idempotency-key").unwrap_or_default();
    let same = !id.is_empty() && body["id"].as_str() == Some(id) && idempotency_key == id;
    scenario.check(
        "webhook_id",
        anchor,
        (!same).then(|| {
            (
                "webhook-id = envelope id = Idempotency-Key".to_string(),
                format!(
                    "webhook-id `{id}`, envelope id {}, Idempotency-Key `{idempotency_key}`",
                    body["id"]
                ),
            )
        }),
    );
}

/// The ids an event names are the resources the suite made.
async fn check_references(
    scenario: &mut Scenario<'_, '_>,
    caused: &Caused,
    kind: &str,
    body: &Value,
) -> Result<()> {
    let data = &body["data"];
    let tenant_matches = data
        .get("tenantId")
        .is_none_or(|tenant| *tenant == body["tenantId"]);
    match kind {
        "webhook.test" => {
            let endpoint = data["webhookEndpointId"].as_str().unwrap_or_default();
            let call = scenario
                .call(
                    "getWebhookEndpoint",
                    &[("webhookEndpointId", endpoint)],
                    None,
                )
                .await?;
            scenario.check(
                "references_resolve",
                &call,
                (endpoint != caused.endpoint || call.status() != 200).then(|| {
                    (
                        format!("webhookEndpointId {} (200)", caused.endpoint),
                        format!("{endpoint} ({})", call.status()),
                    )
                }),
            );
        }
        "webhook_endpoint.disabled" => {
            let endpoint = data["webhookEndpointId"].as_str().unwrap_or_default();
            let call = scenario
                .call(
                    "getWebhookEndpoint",
                    &[("webhookEndpointId", endpoint)],
                    None,
                )
                .await?;
            let shown = call.json();
            let disabled = call.status() == 200
                && shown["enabled"] == json!(false)
                && shown["disabledReason"] == data["reason"];
            scenario.check(
                "references_resolve",
                &call,
                (endpoint != caused.gone || data["reason"] != json!("gone") || !disabled).then(
                    || {
                        (
                            format!(
                                "endpoint {} disabled with reason gone, as the event says",
                                caused.gone
                            ),
                            format!(
                                "{endpoint} ({}): enabled {}, disabledReason {}; the event's reason {}",
                                call.status(),
                                shown["enabled"],
                                shown["disabledReason"],
                                data["reason"]
                            ),
                        )
                    },
                ),
            );
        }
        "conversation.deleted" => {
            let conversation = data["conversationId"].as_str().unwrap_or_default();
            let call = scenario
                .call("getConversation", &[("conversationId", conversation)], None)
                .await?;
            scenario.check(
                "deleted_disappears",
                &call,
                (call.status() != 404).then(|| {
                    (
                        format!("404 for conversation {conversation}, deleted"),
                        call.status().to_string(),
                    )
                }),
            );
        }
        "conversation.created"
        | "message.responded"
        | "lead.qualified"
        | "escalation.created"
        | "escalation.updated" => {
            let conversation = data["conversationId"].as_str().unwrap_or_default();
            if caused.deleted.contains(conversation) {
                return Ok(());
            }
            let call = scenario
                .call("getConversation", &[("conversationId", conversation)], None)
                .await?;
            let transcript = call.json();
            let mut problems = Vec::new();
            if call.status() != 200 {
                problems.push(format!("conversation {conversation}: {}", call.status()));
            }
            if !tenant_matches {
                problems.push("data.tenantId differs from the envelope's".to_string());
            }
            let messages: BTreeSet<&str> = transcript["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|message| message["id"].as_str())
                .collect();
            for field in ["messageId", "replyToMessageId"] {
                if let Some(id) = data[field].as_str()
                    && !messages.contains(id)
                {
                    problems.push(format!("{field} {id} is not in the transcript"));
                }
            }
            if kind.starts_with("escalation.") {
                let escalation = data["escalationId"].as_str().unwrap_or_default();
                let found = scenario
                    .call("getEscalation", &[("escalationId", escalation)], None)
                    .await?;
                if found.status() != 200
                    || found.json()["conversationId"].as_str() != Some(conversation)
                {
                    problems.push(format!(
                        "escalation {escalation}: {} for conversation {}",
                        found.status(),
                        found.json()["conversationId"]
                    ));
                }
            }
            if kind == "lead.qualified" && caused.lead == conversation {
                transcript_url(scenario, data, conversation).await?;
            }
            scenario.check(
                "references_resolve",
                &call,
                (!problems.is_empty()).then(|| {
                    (
                        format!("the {kind} event's ids name existing resources"),
                        problems.join("; "),
                    )
                }),
            );
        }
        _ => {}
    }
    Ok(())
}

/// `transcriptUrl` opens the transcript of the lead's conversation, without a key.
async fn transcript_url(
    scenario: &mut Scenario<'_, '_>,
    data: &Value,
    conversation: &str,
) -> Result<()> {
    let url = data["transcriptUrl"].as_str().unwrap_or_default();
    let sent = crate::check::Sent {
        method: "GET".into(),
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
        secret_authorization: false,
    };
    let call = scenario.send("getSharedTranscript", sent).await?;
    let shown = call.json()["conversation"]["id"].clone();
    scenario.check(
        "transcript_url",
        &call,
        (call.status() != 200 || shown != json!(conversation)).then(|| {
            (
                format!("200 with the transcript of {conversation}"),
                format!("{} with conversation {shown}", call.status()),
            )
        }),
    );
    Ok(())
}

/// After a rotation, a test delivery verifies under the new secret and under the old one.
async fn rotation(
    scenario: &mut Scenario<'_, '_>,
    receiver: &Receiver,
    hook: &str,
    endpoint_id: &str,
    old_secret: &str,
) -> Result<()> {
    let path = [("webhookEndpointId", endpoint_id)];
    let Some(rotated) = scenario
        .expect("setup", "rotateWebhookEndpointSecret", &path, None, 200)
        .await?
    else {
        return Ok(());
    };
    let Some(new_secret) = rotated.field("secret") else {
        scenario.fail(
            "setup",
            &rotated,
            "the new secret in the body".into(),
            "none".into(),
        );
        return Ok(());
    };
    let before = receiver.deliveries(hook).len();
    let Some(test) = scenario
        .expect("setup", "testWebhookEndpoint", &path, None, 200)
        .await?
    else {
        return Ok(());
    };
    let arrived = receiver
        .wait_for(hook, Instant::now() + ARRIVAL, |deliveries| {
            deliveries.len() > before
        })
        .await;
    let deliveries = receiver.deliveries(hook);
    let failed = match deliveries.get(before).filter(|_| arrived) {
        None => Some("no test delivery arrived".to_string()),
        Some(delivery) => match (delivery.verify(&new_secret), delivery.verify(old_secret)) {
            (Ok(()), Ok(())) => None,
            (new, old) => Some(format!(
                "new secret: {}; old secret: {}",
                new.err().unwrap_or_else(|| "verified".into()),
                old.err().unwrap_or_else(|| "verified".into())
            )),
        },
    };
    scenario.check(
        "rotation_signatures",
        &test,
        failed.map(|seen| {
            (
                "a test delivery signed under the new and the old secret".to_string(),
                seen,
            )
        }),
    );
    Ok(())
}
