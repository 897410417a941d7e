//! `/v1/knowledge-sources`: create, upsert by external id, list, read, delete.

use reqwest::{Method, StatusCode};
use serde_json::json;

use chrono::{TimeDelta, Utc};
use hoverbot_server::store::knowledge_sources::{self, Synced};
use hoverbot_server::store::workspaces;
use serde_json::Value;

use crate::support::{
    TestServer, assert_problem, assert_schema, cited_answer, eventually, say, workspace_of,
};

/// The source, once its sync is over.
async fn ready(server: &TestServer, id: &str) -> Value {
    eventually("the sync", || async {
        let (_, source) = server
            .send(Method::GET, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        (source["status"] == "ready" || source["status"] == "failed").then_some(source)
    })
    .await
}

#[tokio::test]
async fn sources_upsert_by_external_id_and_delete() {
    for server in TestServer::each().await {
        let text = json!({"type": "text", "name": "FAQ", "externalId": "faq", "documents": [{"title": "Shipping", "body": "We ship worldwide."}]});
        let (status, created) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(text.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_schema("KnowledgeSource", &created);
        assert_eq!(created["status"], "queued");
        assert_eq!(created["type"], "text");
        assert_eq!(created["documentCount"], 1);

        let mut renamed = text.clone();
        renamed["name"] = json!("Frequently asked");
        let (status, updated) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(renamed))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(updated["id"], created["id"]);
        assert_eq!(updated["name"], "Frequently asked");

        let crawl = json!({"type": "url-crawl", "name": "Help center", "externalId": "faq", "seedUrls": ["https://help.example.com/"]});
        let response = server
            .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
            .json(&crawl)
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::CONFLICT,
            "knowledge_source_type_mismatch",
        )
        .await;

        let crawl = json!({"type": "url-crawl", "name": "Help center", "seedUrls": ["https://help.example.com/"]});
        let (status, crawl) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(crawl))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(crawl["maxPages"], 500, "the spec's default");
        assert_eq!(crawl["seedUrls"], json!(["https://help.example.com/"]));

        // The text source syncs; the crawl fails, as its site's name does not resolve here.
        let id = created["id"].as_str().unwrap();
        assert_eq!(ready(&server, id).await["status"], "ready");
        let failed = ready(&server, crawl["id"].as_str().unwrap()).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["errors"][0]["url"], "https://help.example.com/");
        let (_, list) = server
            .send(Method::GET, "/v1/knowledge-sources?status=failed", None)
            .await;
        assert_schema("KnowledgeSourceList", &list);
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        assert_eq!(list["data"][0]["id"], crawl["id"]);

        let (status, _) = server
            .send(Method::DELETE, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let response = server
            .request(
                Method::GET,
                &format!("/v1/knowledge-sources/{id}"),
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_union_without_its_type_or_with_bad_urls_is_422() {
    for server in TestServer::each().await {
        for body in [
            json!({"name": "no type"}),
            json!({"type": "pdf", "name": "unknown type"}),
            json!({"type": "url-crawl", "name": "bad", "seedUrls": ["not a url"]}),
            json!({"type": "url-crawl", "name": "none", "seedUrls": []}),
        ] {
            let response = server
                .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        server.finish().await;
    }
}

#[tokio::test]
async fn a_text_source_syncs_into_chunks_that_keep_their_headings_and_replaces_them_whole() {
    for server in TestServer::each().await {
        let long_answer = (0..40)
            .map(|i| format!("Step {i} of changing an address is explained here."))
            .collect::<Vec<_>>()
            .join(" ");
        let body = format!(
            "# Shipping\n\nWe ship worldwide.\n\n## Changing your address\n\n{long_answer}\n\n# Returns\n\nReturns are free for 30 days."
        );
        let source = json!({"type": "text", "name": "Help", "externalId": "help", "documents": [
            {"title": "Shipping and returns", "body": body, "url": "https://help.example.com/shipping"},
            {"title": "Payments", "body": "We accept cards and bank transfers."},
        ]});
        let (status, created) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(source))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap();
        let synced = ready(&server, id).await;
        assert_schema("KnowledgeSource", &synced);
        assert_eq!(synced["status"], "ready", "{synced}");
        assert_eq!(synced["pagesIndexed"], 2);
        assert!(synced["lastSyncedAt"].is_string());

        let workspace = workspace_of(&server, "knowledge_sources", id).await;
        let workspace = workspaces::find(&server.db, &workspace)
            .await
            .unwrap()
            .unwrap();
        let chunks = knowledge_sources::chunks(&server.db, &workspace, id)
            .await
            .unwrap();
        assert_eq!(synced["chunks"], chunks.len());
        assert!(chunks.len() >= 4, "{}", chunks.len());
        let first = &chunks[0];
        assert_eq!(first.headings, r#"["Shipping"]"#);
        assert_eq!(
            first.url.as_deref(),
            Some("https://help.example.com/shipping")
        );
        assert_eq!(first.title, "Shipping and returns");
        let address: Vec<_> = chunks
            .iter()
            .filter(|chunk| chunk.headings == r#"["Shipping","Changing your address"]"#)
            .collect();
        assert!(
            address.len() >= 2,
            "a long section is cut in several chunks"
        );
        assert!(
            chunks
                .iter()
                .any(|chunk| chunk.text == "We accept cards and bank transfers.")
        );

        // An update replaces every chunk.
        let replaced = json!({"type": "text", "name": "Help", "externalId": "help", "documents": [
            {"title": "Payments", "body": "Only cards now."},
        ]});
        server
            .send(Method::POST, "/v1/knowledge-sources", Some(replaced))
            .await;
        let resynced = eventually("the new sync", || async {
            let chunks = knowledge_sources::chunks(&server.db, &workspace, id)
                .await
                .unwrap();
            (chunks.len() == 1).then_some(chunks)
        })
        .await;
        assert_eq!(resynced[0].text, "Only cards now.");

        // A sync on request reads the source again, under a new generation.
        let (status, queued) = server
            .send(
                Method::POST,
                &format!("/v1/knowledge-sources/{id}/sync"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert_schema("KnowledgeSource", &queued);
        assert_eq!(queued["status"], "queued");
        let again = ready(&server, id).await;
        assert_eq!(again["status"], "ready");
        assert_ne!(again["lastSyncedAt"], queued["lastSyncedAt"]);
        let response = server
            .request(
                Method::POST,
                "/v1/knowledge-sources/ks_missing/sync",
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;

        // Deleting the source deletes its chunks.
        server
            .send(Method::DELETE, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        let left = knowledge_sources::chunks(&server.db, &workspace, id)
            .await
            .unwrap();
        assert!(left.is_empty());
        server.finish().await;
    }
}

#[tokio::test]
async fn a_dead_syncers_claim_is_taken_over_and_a_stale_sync_is_not_recorded() {
    // This server runs no syncer: the test plays the syncers.
    for server in TestServer::each_configured(|config| config.knowledge_syncer = false).await {
        let (_, created) = server
            .send(
                Method::POST,
                "/v1/knowledge-sources",
                Some(json!({"type": "url-crawl", "name": "Site", "externalId": "site", "seedUrls": ["https://help.example.com/"]})),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let kinds = &["url-crawl"];
        let lease = TimeDelta::seconds(60);
        let now = Utc::now();
        let dead = knowledge_sources::claim_sync(&server.db, kinds, now, lease)
            .await
            .unwrap()
            .expect("the queued source is claimed");
        assert_eq!(dead.source.id, id);
        assert!(
            knowledge_sources::claim_sync(&server.db, kinds, now, lease)
                .await
                .unwrap()
                .is_none(),
            "a held claim is not given twice"
        );
        // Once the lease has run out, another syncer takes the source over…
        let later = now + lease + TimeDelta::seconds(1);
        let live = knowledge_sources::claim_sync(&server.db, kinds, later, lease)
            .await
            .unwrap()
            .expect("the expired claim is taken over");
        // …and the dead one, coming back, records nothing.
        assert!(
            !knowledge_sources::finish_sync(&server.db, &dead, empty(), later)
                .await
                .unwrap()
        );
        // A change to the source while it syncs makes that sync stale too.
        let changed = json!({"type": "url-crawl", "name": "Site, renamed", "externalId": "site", "seedUrls": ["https://help.example.com/"]});
        server
            .send(Method::POST, "/v1/knowledge-sources", Some(changed))
            .await;
        assert!(
            !knowledge_sources::finish_sync(&server.db, &live, empty(), later)
                .await
                .unwrap()
        );
        let (_, source) = server
            .send(Method::GET, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        assert_eq!(
            source["status"], "queued",
            "the newer definition waits for its sync"
        );
        let fresh = knowledge_sources::claim_sync(&server.db, kinds, later, lease)
            .await
            .unwrap()
            .expect("the changed source is claimed again");
        assert!(
            knowledge_sources::finish_sync(&server.db, &fresh, empty(), later)
                .await
                .unwrap()
        );
        // Ready once this server's index holds the recorded sync.
        assert_eq!(ready(&server, id).await["status"], "ready");
        server.finish().await;
    }
}

fn empty() -> Synced {
    Synced {
        pages_discovered: 0,
        pages_indexed: 0,
        chunks: Vec::new(),
        embedding_model: String::new(),
        errors: "[]".to_string(),
        failed: false,
    }
}

#[tokio::test]
async fn the_assistant_answers_from_a_synced_source_and_cites_it() {
    for server in TestServer::each().await {
        let source = json!({"type": "text", "name": "Help center", "documents": [
            {"title": "Changing your shipping address", "url": "https://help.example.com/address",
             "body": "# Shipping address\n\nYou can change the shipping address of an order until it ships. Open **Orders**, select the order and choose **Change shipping address**.\n\nOnce an order has shipped, contact the carrier."},
            {"title": "Returns", "url": "https://help.example.com/returns",
             "body": "Returns are free within 30 days of delivery. Print the label from your account."},
            {"title": "Payment methods", "url": "https://help.example.com/payments",
             "body": "We accept Visa, Mastercard and bank transfers."},
        ]});
        let (_, created) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(source))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(ready(&server, &id).await["status"], "ready");
        // Each question in a new conversation: they are independent, and two unsure replies in
        // one would hand it to a person.
        let ask = |text: &'static str| {
            let server = &server;
            async move {
                let conversation = server.create_conversation().await;
                let (status, exchange) = server
                    .send(
                        Method::POST,
                        &format!("/v1/conversations/{conversation}/messages"),
                        Some(json!({ "text": text })),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{exchange}");
                exchange
            }
        };

        // The index catches up with the sync.
        let exchange = cited_answer(&server, "Can I change my shipping address?").await;
        assert_schema("MessageExchange", &exchange);
        let answer = &exchange["assistantMessage"];
        assert!(
            answer["text"]
                .as_str()
                .unwrap()
                .contains("You can change the shipping address of an order until it ships."),
            "{answer}"
        );
        assert_eq!(
            answer["citations"][0]["url"],
            "https://help.example.com/address"
        );
        assert_eq!(answer["citations"][0]["sourceId"], id.as_str());
        let trace = &exchange["trace"];
        assert!(trace["confidence"].as_f64().unwrap() >= 0.45, "{trace}");
        assert_eq!(trace["policyFlags"], json!([]));
        assert_eq!(
            trace["retrieval"][0]["url"],
            "https://help.example.com/address"
        );

        // What the knowledge does not say, the assistant does not invent.
        let exchange = ask("What is the capital of Australia?").await;
        assert_eq!(exchange["trace"]["policyFlags"], json!(["no_knowledge"]));
        assert_eq!(exchange["assistantMessage"]["citations"], json!([]));
        assert!(
            exchange["assistantMessage"]["text"]
                .as_str()
                .unwrap()
                .contains("person from our team")
        );

        // Another workspace's assistant knows nothing of this source.
        let other = server
            .new_workspace_key("other", hoverbot_api::Scope::ALL)
            .await;
        let (_, theirs) = server
            .send_as(
                &other,
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web"})),
            )
            .await;
        let (_, exchange) = server
            .send_as(
                &other,
                Method::POST,
                &format!(
                    "/v1/conversations/{}/messages",
                    theirs["id"].as_str().unwrap()
                ),
                Some(json!({"text": "Can I change my shipping address?"})),
            )
            .await;
        assert_eq!(exchange["trace"]["retrieval"], json!([]), "{exchange}");
        assert_eq!(exchange["trace"]["policyFlags"], json!(["no_knowledge"]));

        // Deleting the source takes it out of answers at once.
        server
            .send(Method::DELETE, &format!("/v1/knowledge-sources/{id}"), None)
            .await;
        let exchange = ask("Can I change my shipping address?").await;
        assert_eq!(exchange["trace"]["retrieval"], json!([]), "{exchange}");
        assert_eq!(exchange["assistantMessage"]["citations"], json!([]));
        server.finish().await;
    }
}

#[tokio::test]
async fn hoverbot_index_rebuild_makes_running_servers_rebuild_from_the_database() {
    use hoverbot_server::store::entity::knowledge_chunk;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    for server in TestServer::each().await {
        let source = json!({"type": "text", "name": "Shipping", "documents": [
            {"title": "Shipping", "body": "Parcels to Norway take five days."}]});
        let (_, created) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(source))
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(ready(&server, &id).await["status"], "ready");
        // What the index finds for a word only the changed text holds (a new conversation each
        // time: two unsure replies in one would hand it to a person).
        let hits = || async {
            let conversation = server.create_conversation().await;
            let (status, exchange) = server
                .send(
                    Method::POST,
                    &format!("/v1/conversations/{conversation}/messages"),
                    Some(json!({"text": "Iceland"})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{exchange}");
            exchange["trace"]["retrieval"].as_array().unwrap().len()
        };
        // The chunks change in the database behind the index's back (a restore from a backup,
        // say): the index does not know the new words.
        knowledge_chunk::Entity::update_many()
            .col_expr(
                knowledge_chunk::Column::Text,
                Expr::value("Parcels to Iceland take nine days."),
            )
            .filter(knowledge_chunk::Column::SourceId.eq(id.as_str()))
            .exec(&server.db)
            .await
            .unwrap();
        assert_eq!(hits().await, 0);

        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
            .args(["index", "rebuild", "--database-url", server.database_url()])
            .env_remove("HOVERBOT_DATA_DIR")
            .output()
            .await
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{said}");
        assert!(said.contains("indexed 1 chunks of 1 sources"), "{said}");

        // The running server rebuilds within its catch-up bound.
        eventually("the rebuilt index", || async {
            (hits().await == 1).then_some(())
        })
        .await;
        server.finish().await;
    }
}

/// Creates a help center whose pages say what customers ask in other words than theirs; its id.
async fn create_paraphrased_help_center(server: &TestServer) -> String {
    let (status, created) = server
        .send(
            Method::POST,
            "/v1/knowledge-sources",
            Some(paraphrased_help_center()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn paraphrased_help_center() -> Value {
    let page = |slug: &str, title: &str, body: &str| json!({"title": title, "url": format!("https://help.example.com/{slug}"), "body": body});
    json!({"type": "text", "name": "Help center", "documents": [
        page("payment-failed", "When a payment fails",
            "If your bank refuses a transaction, check that the billing address matches the one \
             your bank has, that the expiry date is right, and that your bank allows online \
             purchases. You can retry the payment from Orders, or pay with another method."),
        page("loyalty-card", "Your loyalty card",
            "Keep your loyalty card with you: every purchase in our shops adds points to it. \
             Lost your card? We send a new card within a week."),
        page("gift-cards", "Gift cards",
            "Gift cards keep their value for two years. A card can be used online or in shops."),
        page("opening-hours", "Opening hours",
            "Our shops open from 9:00 to 19:00, Monday to Saturday."),
    ]})
}

#[tokio::test]
async fn a_question_in_other_words_finds_the_page_that_answers_it() {
    for server in TestServer::each().await {
        let id = create_paraphrased_help_center(&server).await;
        ready(&server, &id).await;
        // "card", "keeps" and "getting" are words of the loyalty and gift card pages; the page
        // that answers shares no word with the question: it speaks of a bank refusing a payment.
        // Words alone never retrieve it; meaning does.
        let conversation = server.create_conversation().await;
        let exchange = say(
            &server,
            &conversation,
            "my card keeps getting declined, what can I do?",
        )
        .await;
        let hits = &exchange["trace"]["retrieval"];
        assert!(
            hits.as_array()
                .unwrap()
                .iter()
                .any(|hit| hit["url"] == "https://help.example.com/payment-failed"),
            "{hits}"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn a_source_is_ready_on_a_replica_only_once_that_replica_answers_from_it() {
    for server in TestServer::each().await {
        // This replica syncs nothing: it learns of the sync from the database, and its index
        // catches up on its own schedule.
        let replica = server
            .replica_configured(|config| config.knowledge_syncer = false)
            .await;
        let base = format!("http://{}", replica.addr);
        let client = reqwest::Client::new();
        let id = create_paraphrased_help_center(&server).await;
        eventually("ready on the replica", || async {
            let source: Value = client
                .get(format!("{base}/v1/knowledge-sources/{id}"))
                .bearer_auth(&server.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_ne!(source["status"], "failed", "{source}");
            (source["status"] == "ready").then_some(())
        })
        .await;
        // Asked at once, without retrying: ready means the replica can answer from it.
        let conversation = server.create_conversation().await;
        let exchange: Value = client
            .post(format!("{base}/v1/conversations/{conversation}/messages"))
            .bearer_auth(&server.key)
            .json(&json!({"text": "What are your opening hours?"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            exchange["assistantMessage"]["citations"][0]["url"],
            "https://help.example.com/opening-hours",
            "{exchange}"
        );
        replica.stop().await.unwrap();
        server.finish().await;
    }
}
